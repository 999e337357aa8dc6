"""Idempotent bulk import of the billing system's CSV exports (formats in ARCHITECTURE.md).

`import_csv` streams a file in batches. Each batch is parsed and validated row by row (pure
functions, no I/O), then written in one transaction with a handful of set-based statements:

- consumers: upsert on `consumer_no`;
- meters: upsert on `meter_id`; a relay state change stamps `relay_changed_at` and clears
  `relay_reason` (an import does not know why a relay moved);
- bills: the ledger is append-only, so a new (consumer, month) becomes a `bill` entry and a
  re-imported month with a different amount becomes an `adjustment` entry for the difference.

A row is refused (reported with its 1-based file line and skipped) only when an identifying or
money field is bad; the rest are imported. A bad field that neither identifies nor bills — a
mobile that is a landline, "NA" or 9999999999, a malformed Samagra ID — is a warning: the row is
imported without it (the raw mobile is kept in `consumers.mobile_raw` for staff). A batch
is all or nothing, so a crash leaves whole rows only, and running the same file again writes
nothing new. Rows that already match the database are counted as unchanged, not rewritten.

Duplicate keys within one file (the same consumer, meter, or consumer and month twice): the
first row wins and every later one is reported. "Last wins" would make a re-run flip the row
back and forth — a meter's `relay_changed_at` moving, a bill gaining two adjustments per run.

Bill revisions. The amount to compare against is the import's own history of that month: the
`bill` entry plus the earlier revision adjustments (idempotency key `bill/{no}/{month}/{n}`).
Adjustments posted by anyone else against that month (a waiver, a correction at the counter)
are separate facts and are left standing, so re-importing an unchanged bill writes nothing.
A zero amount for a month that has no bill yet is rejected: the ledger has no zero bills
(CHECK amount > 0) and there is nothing to record; a zero amount for an existing month is a
revision to zero, i.e. an adjustment of minus the billed amount. A re-import with the same
amount and a new due date writes nothing (the ledger cannot hold a zero-amount entry).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TextIO, get_args

from sqlalchemy import any_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from discom.clock import utcnow
from discom.db import Database
from discom.identifiers import (
    InvalidIdentifier,
    ascii_digits,
    normalise_consumer_no,
    normalise_mobile,
    normalise_samagra_id,
)
from discom.kyc.records import SAMAGRA
from discom.kyc.vault import PiiVault
from discom.models import RELAY_STATES, Consumer, LedgerEntry, Meter, MobileChange
from discom.money import InvalidAmount, rupees_to_paise
from discom.sql import dialect_insert

ImportKind = Literal["consumers", "meters", "bills"]

COLUMNS: dict[str, tuple[str, ...]] = {
    "consumers": ("consumer_no", "name", "mobile", "tariff_category", "division"),
    "meters": ("meter_id", "consumer_no", "remote_switch", "relay_state"),
    "bills": ("consumer_no", "bill_month", "amount", "due_date"),
}
# Columns a file may add after the required ones, in any order; files without them import as
# before. `reason` is the column `write_rejects` adds, so a fixed rejects file imports as is.
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "consumers": ("samagra_id", "feeder_code"),
    "meters": (),
    "bills": (),
}
IGNORED_COLUMNS = ("reason",)

# Keeps every `IN (...)` list well below the bind-parameter limits (SQLite 32766, asyncpg 32767)
# whatever the batch size.
LOOKUP_CHUNK = 10_000
BILL_REVISION_DETAIL = "bill_revision"


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable, empty, wrong header, broken CSV)."""


class RowInvalid(ValueError):
    """One row cannot be imported; the message says why, for the operator."""


@dataclass(slots=True)
class RowError:
    """A refused row; `fields` are the record as read, for the rejects file."""

    line: int
    message: str
    fields: list[str] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RowWarning:
    """A row imported without one of its fields; the message says which and why."""

    line: int
    message: str


@dataclass(slots=True)
class ImportReport:
    kind: ImportKind
    rows_read: int = 0
    rows_written: int = 0
    rows_unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowWarning] = field(default_factory=list)
    # Lines whose mobile differs from the one the consumer changed and verified in a chat,
    # which the import keeps.
    kept_verified_mobiles: list[int] = field(default_factory=list)
    # The file's header row, as read: the columns of the rejects file.
    header: list[str] = field(default_factory=list, compare=False)


# --- parsed rows -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsumerRow:
    line: int
    consumer_no: str
    name: str
    mobile: str | None
    tariff_category: str
    division: str
    mobile_raw: str | None = None  # the export's value when it is no usable mobile
    feeder_code: str | None = None
    samagra_id: str | None = None  # stored encrypted (`write_samagra_ids`), never in plain
    warnings: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.consumer_no


@dataclass(frozen=True, slots=True)
class MeterRow:
    line: int
    meter_id: str
    consumer_no: str
    remote_switch: bool
    relay_state: str

    @property
    def key(self) -> str:
        return self.meter_id


@dataclass(frozen=True, slots=True)
class BillRow:
    line: int
    consumer_no: str
    bill_month: str
    amount_paise: int
    due_date: date

    @property
    def key(self) -> str:
        return f"{self.consumer_no}/{self.bill_month}"


Row = ConsumerRow | MeterRow | BillRow


# --- parsing and validation (pure) -------------------------------------------------------------

# Undecodable bytes (which `surrogateescape` turns into U+DC80-U+DCFF) and control characters
# (PostgreSQL refuses NUL; the others are junk in a name).
_BAD_CHARACTER = re.compile("[\x00-\x1f\x7f\udc80-\udcff]")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
# Already in the form `normalise_consumer_no` returns, so it would hand it back unchanged.
_CANONICAL_CONSUMER_NO = re.compile(r"[A-Z0-9]{6,20}")
_BILL_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_BOOLEANS = {"true": True, "false": False}
_MAX_LENGTH = {
    column.name: column.type.length
    for table in (Consumer.__table__, Meter.__table__)
    for column in table.columns
    if getattr(column.type, "length", None)
}


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each column sits in a file: the required ones in `COLUMNS` order, the optional
    ones present by name, and how many fields a record must have."""

    required: tuple[int, ...]
    optional: tuple[tuple[str, int], ...]
    width: int


def column_order(kind: ImportKind, header: Sequence[str]) -> Layout:
    """The file's layout from its header; columns may come in any order."""
    expected = COLUMNS[kind]
    names = [name.strip().lower() for name in header]
    known = (*expected, *OPTIONAL_COLUMNS[kind], *IGNORED_COLUMNS)
    missing = [name for name in expected if name not in names]
    unexpected = [name for name in names if name not in known]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if missing or unexpected or duplicated:
        raise ImportFileError(_header_problem(kind, names, missing, unexpected, duplicated))
    optional = tuple((name, names.index(name)) for name in OPTIONAL_COLUMNS[kind]
                     if name in names)
    return Layout(tuple(names.index(name) for name in expected), optional, len(names))


def _header_problem(kind: ImportKind, names: list[str], missing: list[str],
                    unexpected: list[str], duplicated: list[str]) -> str:
    parts = [f"not a {kind} file: the header must be {','.join(COLUMNS[kind])}"
             + _optional_note(kind)]
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if unexpected:
        parts.append(f"unexpected {', '.join(repr(name[:40]) for name in unexpected)}")
    if duplicated:
        parts.append(f"repeated {', '.join(duplicated)}")
    other = [k for k, columns in COLUMNS.items()
             if k != kind
             and set(columns) <= set(names) <= {*columns, *OPTIONAL_COLUMNS[k], *IGNORED_COLUMNS}]
    if other:
        parts.append(f"it looks like a {other[0]} file")
    return "; ".join(parts)


def _optional_note(kind: ImportKind) -> str:
    optional = OPTIONAL_COLUMNS[kind]
    return f" (optional after them: {','.join(optional)})" if optional else ""


def parse_record(kind: ImportKind, layout: Layout, line: int,
                 fields: Sequence[str]) -> Row:
    """One CSV record (fields in file order) → a validated row, or `RowInvalid`."""
    if len(fields) != layout.width:
        raise RowInvalid(f"expected {layout.width} columns, found {len(fields)}")
    joined = "".join(fields)
    if _BAD_CHARACTER.search(joined):
        if _NOT_UTF8.search(joined):
            raise RowInvalid("not valid UTF-8")
        raise RowInvalid("a field holds a control character (tab, line break, NUL...)")
    values = [fields[index].strip() for index in layout.required]
    if not layout.optional:
        return PARSERS[kind](line, values)
    optional = {name: fields[index].strip() for name, index in layout.optional}
    return PARSERS[kind](line, values, optional)


def parse_consumer(line: int, values: Sequence[str],
                   optional: Mapping[str, str] | None = None) -> ConsumerRow:
    """A consumer row; a bad mobile or Samagra ID is a warning, the row imported without it."""
    consumer_no, name, mobile, tariff_category, division = values
    warnings: list[str] = []
    usable_mobile, mobile_raw = _mobile(mobile, warnings)
    feeder_code = samagra_id = None
    if optional:
        feeder_code = _optional_text("feeder_code", optional.get("feeder_code", ""), warnings)
        samagra_id = _samagra_id(optional.get("samagra_id", ""), warnings)
    return ConsumerRow(
        line=line,
        consumer_no=_consumer_no(consumer_no),
        name=_text("name", name),
        mobile=usable_mobile,
        tariff_category=_text("tariff_category", tariff_category),
        division=_text("division", division),
        mobile_raw=mobile_raw,
        feeder_code=feeder_code,
        samagra_id=samagra_id,
        warnings=tuple(warnings),
    )


def parse_meter(line: int, values: Sequence[str],
                optional: Mapping[str, str] | None = None) -> MeterRow:
    meter_id, consumer_no, remote_switch, relay_state = values
    return MeterRow(
        line=line,
        meter_id=_text("meter_id", meter_id),
        consumer_no=_consumer_no(consumer_no),
        remote_switch=_boolean("remote_switch", remote_switch),
        relay_state=_relay_state(relay_state),
    )


def parse_bill(line: int, values: Sequence[str],
               optional: Mapping[str, str] | None = None) -> BillRow:
    consumer_no, bill_month, amount, due_date = values
    return BillRow(
        line=line,
        consumer_no=_consumer_no(consumer_no),
        bill_month=_bill_month(bill_month),
        amount_paise=_amount(amount),
        due_date=_due_date(due_date),
    )


PARSERS: dict[str, Callable[..., Row]] = {
    "consumers": parse_consumer,
    "meters": parse_meter,
    "bills": parse_bill,
}


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _digits(value: str) -> str:
    return value if value.isascii() else ascii_digits(value)


def _consumer_no(value: str) -> str:
    if _CANONICAL_CONSUMER_NO.fullmatch(value):
        return value  # the common case, without the Unicode normalisation
    try:
        return normalise_consumer_no(value)
    except InvalidIdentifier as exc:
        raise RowInvalid(f"consumer_no {_shown(value)}: {exc}") from None


def _mobile(value: str, warnings: list[str]) -> tuple[str | None, str | None]:
    """(the E.164 mobile, None), or (None, the raw value) and a warning when it is unusable."""
    if not value:
        return None, None
    try:
        return normalise_mobile(value), None
    except InvalidIdentifier as exc:
        # The number itself is personal data: the line number is enough to find it.
        warnings.append(f"mobile is {exc}; imported without a mobile for SMS/OTP")
        return None, value[:_MAX_LENGTH["mobile_raw"]]


def _samagra_id(value: str, warnings: list[str]) -> str | None:
    if not value:
        return None
    try:
        return normalise_samagra_id(value)[1]
    except InvalidIdentifier as exc:
        warnings.append(f"samagra_id: {exc}; imported without it")
        return None


def _optional_text(column: str, value: str, warnings: list[str]) -> str | None:
    if not value:
        return None
    try:
        return _text(column, value)
    except RowInvalid as exc:
        warnings.append(f"{exc}; imported without it")
        return None


def _text(column: str, value: str) -> str:
    if not value:
        raise RowInvalid(f"{column} is empty")
    limit = _MAX_LENGTH[column]
    if len(value) > limit:
        raise RowInvalid(f"{column} is {len(value)} characters long, at most {limit} allowed")
    return value


def _boolean(column: str, value: str) -> bool:
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise RowInvalid(f"{column} {_shown(value)}: must be true or false") from None


def _relay_state(value: str) -> str:
    state = value.lower()
    if state not in RELAY_STATES:
        raise RowInvalid(f"relay_state {_shown(value)}: must be one of {', '.join(RELAY_STATES)}")
    return state


def _bill_month(value: str) -> str:
    match = _BILL_MONTH.fullmatch(_digits(value))
    if match is None or not 1 <= int(match[2]) <= 12:
        raise RowInvalid(f"bill_month {_shown(value)}: must be YYYY-MM")
    return match[0]


def _amount(value: str) -> int:
    try:
        return rupees_to_paise(value)
    except InvalidAmount:
        raise RowInvalid(
            f"amount {_shown(value)}: must be rupees with at most two decimals"
        ) from None


def _due_date(value: str) -> date:
    text = _digits(value)
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise RowInvalid(f"due_date {_shown(value)}: must be a date YYYY-MM-DD")


# --- planning writes (pure) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthState:
    """What the import has already put in the ledger for one consumer and month."""

    net_paise: int  # the bill plus its revisions
    entries: int  # how many import entries (the bill is the first)
    has_bill: bool


CONSUMER_FIELDS = ("name", "mobile", "tariff_category", "division", "mobile_raw", "feeder_code")


@dataclass(frozen=True, slots=True)
class StoredConsumer:
    values: tuple[Any, ...]  # CONSUMER_FIELDS as stored
    mobile_verified_in_chat: bool


def plan_consumers(
    rows: Sequence[ConsumerRow], existing: dict[str, StoredConsumer], now: datetime
) -> tuple[list[dict[str, Any]], list[int]]:
    """The rows that are new or differ from what is stored, as statement parameters; and the
    lines whose mobile is not taken because the consumer changed and verified it in a chat
    (the billing export is older news than the consumer's own verified number)."""
    params: list[dict[str, Any]] = []
    kept: list[int] = []
    for row in rows:
        stored = existing.get(row.consumer_no)
        mobile = row.mobile
        if stored is not None and stored.mobile_verified_in_chat and mobile != stored.values[1]:
            mobile = stored.values[1]
            kept.append(row.line)
        values = (row.name, mobile, row.tariff_category, row.division, row.mobile_raw,
                  row.feeder_code)
        if stored is None or stored.values != values:
            params.append({  # CONSUMER_FIELDS, spelt out: this runs for every row
                "consumer_no": row.consumer_no, "name": row.name, "mobile": mobile,
                "tariff_category": row.tariff_category, "division": row.division,
                "mobile_raw": row.mobile_raw, "feeder_code": row.feeder_code,
                "created_at": now, "updated_at": now,
            })
    return params, kept


def plan_meters(
    rows: Sequence[MeterRow],
    consumer_ids: dict[str, int],
    existing: dict[str, tuple[Any, ...]],
) -> tuple[list[dict[str, Any]], list[RowError]]:
    params: list[dict[str, Any]] = []
    errors: list[RowError] = []
    for row in rows:
        consumer_id = consumer_ids.get(row.consumer_no)
        if consumer_id is None:
            errors.append(RowError(row.line, _unknown_consumer(row.consumer_no)))
        elif row.meter_id not in existing or existing[row.meter_id][:2] != (
                consumer_id, row.remote_switch):
            params.append({
                "meter_id": row.meter_id,
                "consumer_id": consumer_id,
                "remote_switch": row.remote_switch,
                "relay_state": row.relay_state,
            })
    return params, errors


def plan_bills(
    rows: Sequence[BillRow],
    consumer_ids: dict[str, int],
    months: dict[tuple[int, str], MonthState],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[RowError]]:
    """Ledger entries to append: a bill for a new month, an adjustment for a changed one."""
    entries: list[dict[str, Any]] = []
    errors: list[RowError] = []
    for row in rows:
        consumer_id = consumer_ids.get(row.consumer_no)
        if consumer_id is None:
            errors.append(RowError(row.line, _unknown_consumer(row.consumer_no)))
            continue
        try:
            entry = plan_bill(row, consumer_id, months.get((consumer_id, row.bill_month)), now)
        except RowInvalid as exc:
            errors.append(RowError(row.line, str(exc)))
            continue
        if entry is not None:
            entries.append(entry)
    return entries, errors


def plan_bill(
    row: BillRow, consumer_id: int, state: MonthState | None, now: datetime
) -> dict[str, Any] | None:
    """The ledger entry that brings this month to `row.amount_paise`; None if it is there."""
    key = f"bill/{row.consumer_no}/{row.bill_month}"
    entry = {
        "consumer_id": consumer_id,
        "bill_month": row.bill_month,
        "due_date": row.due_date,
        "posted_at": now,
    }
    if state is None or not state.has_bill:
        if row.amount_paise == 0:
            raise RowInvalid(
                f"amount is zero and {row.bill_month} has no bill yet: nothing to record"
            )
        return entry | {"kind": "bill", "amount_paise": row.amount_paise,
                        "idempotency_key": key, "detail": None}
    delta = row.amount_paise - state.net_paise
    if delta == 0:
        return None
    return entry | {"kind": "adjustment", "amount_paise": delta,
                    "idempotency_key": f"{key}/{state.entries}",
                    "detail": BILL_REVISION_DETAIL}


def _unknown_consumer(consumer_no: str) -> str:
    return f"unknown consumer_no {consumer_no!r} (import consumers first)"


# --- writing -----------------------------------------------------------------------------------


@dataclass(slots=True)
class BatchResult:
    written: int
    unchanged: int
    errors: list[RowError]
    kept_verified_mobiles: list[int] = field(default_factory=list)


def _chunks(items: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def _write(session: AsyncSession, statement: Any, params: list[dict[str, Any]]) -> int:
    """Execute an upsert for many rows; how many rows the database actually wrote.

    RETURNING makes SQLAlchemy send multi-row `VALUES` pages ("insertmanyvalues") instead of
    one statement per row — twice as fast on PostgreSQL — and counts exactly: a row skipped by
    ON CONFLICT DO NOTHING or by the DO UPDATE ... WHERE returns nothing.
    """
    if not params:
        return 0
    table = statement.table
    result = await session.execute(statement.returning(table.c.id), params)
    return len(result.all())


async def _lookup(session: AsyncSession, statement: Any, column: Any,
                  keys: Iterable[Any]) -> list[Any]:
    """Rows of `statement` whose `column` is one of `keys`: one query per `LOOKUP_CHUNK` keys."""
    rows: list[Any] = []
    for chunk in _chunks(sorted(set(keys))):
        rows.extend(await session.execute(statement.where(_one_of(session, column, chunk))))
    return rows


def _one_of(session: AsyncSession, column: Any, keys: Sequence[Any]) -> Any:
    """`column IN (...)`; on PostgreSQL `column = ANY(:array)`, one parameter instead of
    thousands — 2-4x faster to send and plan for a batch of 5000 keys."""
    if session.bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(keys), type_=postgresql.ARRAY(column.type)))
    return column.in_(keys)


async def find_consumer_ids(session: AsyncSession, consumer_nos: Iterable[str]) -> dict[str, int]:
    statement = select(Consumer.consumer_no, Consumer.id)
    rows = await _lookup(session, statement, Consumer.consumer_no, consumer_nos)
    return {consumer_no: consumer_id for consumer_no, consumer_id in rows}


async def write_consumers(session: AsyncSession, rows: Sequence[ConsumerRow],
                          now: datetime) -> BatchResult:
    verified = exists().where(MobileChange.consumer_id == Consumer.id)
    statement = select(Consumer.consumer_no, verified,
                       *(Consumer.__table__.c[name] for name in CONSUMER_FIELDS))
    existing = {
        row[0]: StoredConsumer(tuple(row[2:]), bool(row[1]))
        for row in await _lookup(session, statement, Consumer.consumer_no,
                                 (row.consumer_no for row in rows))
    }
    params, kept = plan_consumers(rows, existing, now)
    written = await _write(session, _upsert_consumers(session), params)
    return BatchResult(written, len(rows) - written, [], kept)


def _upsert_consumers(session: AsyncSession) -> Any:
    """Upsert, except that a mobile the consumer changed and verified by OTP in a chat is
    kept (the planner already did so; this covers a change committed since it looked)."""
    table = Consumer.__table__
    statement = dialect_insert(session, table)
    fields = CONSUMER_FIELDS
    verified_in_chat = exists().where(MobileChange.consumer_id == table.c.id)
    changes = {name: statement.excluded[name] for name in (*fields, "updated_at")}
    changes["mobile"] = case((verified_in_chat, table.c.mobile),
                             else_=statement.excluded.mobile)
    return statement.on_conflict_do_update(
        index_elements=[table.c.consumer_no],
        set_=changes,
        # Repeats the planner's check inside the statement, so a concurrent writer's
        # identical row is not touched either.
        where=or_(*(table.c[name].is_distinct_from(statement.excluded[name]) for name in fields)),
    )


async def write_meters(session: AsyncSession, rows: Sequence[MeterRow],
                       now: datetime) -> BatchResult:
    ids = await find_consumer_ids(session, (row.consumer_no for row in rows))
    statement = select(Meter.meter_id, Meter.consumer_id, Meter.remote_switch, Meter.relay_state)
    existing = {
        row[0]: tuple(row[1:])
        for row in await _lookup(session, statement, Meter.meter_id,
                                 (row.meter_id for row in rows))
    }
    params, errors = plan_meters(rows, ids, existing)
    written = await _write(session, _upsert_meters(session, now), params)
    return BatchResult(written, len(rows) - written - len(errors), errors)


def _upsert_meters(session: AsyncSession, now: datetime) -> Any:
    """New meters take the export's relay state; for a known meter the HES owns the relay
    (its reports are newer than any export), so a re-import changes only the rest."""
    table = Meter.__table__
    statement = dialect_insert(session, table)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[table.c.meter_id],
        set_={"consumer_id": new.consumer_id, "remote_switch": new.remote_switch},
        where=or_(
            table.c.consumer_id.is_distinct_from(new.consumer_id),
            table.c.remote_switch.is_distinct_from(new.remote_switch),
        ),
    )


async def write_bills(session: AsyncSession, rows: Sequence[BillRow],
                      now: datetime) -> BatchResult:
    ids = await find_consumer_ids(session, (row.consumer_no for row in rows))
    months = await month_states(session, ids.values(), {row.bill_month for row in rows})
    entries, errors = plan_bills(rows, ids, months, now)
    statement = dialect_insert(session, LedgerEntry.__table__).on_conflict_do_nothing(
        index_elements=[LedgerEntry.idempotency_key]
    )
    written = await _write(session, statement, entries)
    return BatchResult(written, len(rows) - written - len(errors), errors)


async def month_states(session: AsyncSession, consumer_ids: Iterable[int],
                       months: Iterable[str]) -> dict[tuple[int, str], MonthState]:
    """Net billed amount per (consumer, month) from the import's own entries, grouped."""
    is_bill = LedgerEntry.kind == "bill"
    by_import = or_(
        is_bill,
        (LedgerEntry.kind == "adjustment") & LedgerEntry.idempotency_key.startswith("bill/"),
    )
    statement = (
        select(
            LedgerEntry.consumer_id,
            LedgerEntry.bill_month,
            func.sum(LedgerEntry.amount_paise),
            func.count(),
            func.max(case((is_bill, 1), else_=0)),
        )
        .where(_one_of(session, LedgerEntry.bill_month, sorted(set(months))), by_import)
        .group_by(LedgerEntry.consumer_id, LedgerEntry.bill_month)
    )
    rows = await _lookup(session, statement, LedgerEntry.consumer_id, consumer_ids)
    return {
        (consumer_id, month): MonthState(int(net), int(count), bool(has_bill))
        for consumer_id, month, net, count, has_bill in rows
    }


WRITERS: dict[str, Callable[[AsyncSession, Any, datetime], Any]] = {
    "consumers": write_consumers,
    "meters": write_meters,
    "bills": write_bills,
}


# --- reading the file --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BrokenRecord:
    """A record the CSV parser could not read (a stray quote, say); the reader goes on after it."""

    message: str


Record = tuple[int, list[str] | BrokenRecord]  # the 1-based line the record starts on, fields


def read_records(handle: TextIO) -> Iterator[Record]:
    """CSV records with the line each starts on (a quoted field may span lines)."""
    reader = csv.reader(handle, strict=True)
    previous_end = 0
    while True:
        try:
            fields: list[str] | BrokenRecord = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            fields = BrokenRecord(f"broken CSV: {exc}")
        yield previous_end + 1, fields
        previous_end = reader.line_num


def _is_blank(fields: list[str] | BrokenRecord) -> bool:
    if isinstance(fields, BrokenRecord):
        return False
    return not fields or (len(fields) == 1 and not fields[0].strip())


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _open(path: Path) -> TextIO:
    try:
        # utf-8-sig drops a byte order mark (spreadsheet exports); surrogateescape turns bad
        # bytes into a row error instead of aborting the file half way.
        return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise ImportFileError(f"cannot read the file: {exc.strerror or exc}") from None


def _header(records: Iterator[Record], kind: ImportKind) -> list[str]:
    """The first line, which must be the header."""
    _line, fields = next(records, (1, []))
    if isinstance(fields, BrokenRecord):
        raise ImportFileError(f"unreadable header row: {fields.message}")
    if _is_blank(fields):
        raise ImportFileError(f"no header row: the first line must be {','.join(COLUMNS[kind])}"
                              + _optional_note(kind))
    return fields


PERSONAL_COLUMNS = ("samagra_id",)


def _vault_for(layout: Layout, pii_vault: Callable[[], PiiVault] | None) -> PiiVault | None:
    """The vault, when the file has a personal column; refused before anything is written
    when there is none to encrypt it with."""
    if not any(name in PERSONAL_COLUMNS for name, _ in layout.optional):
        return None
    if pii_vault is None:
        raise ImportFileError("the samagra_id column needs the encryption key "
                              "(DATA_ENCRYPTION_KEY): nothing was imported")
    return pii_vault()


# --- the import --------------------------------------------------------------------------------


class _Batcher:
    """Parses a batch of records, keeping the first row of every key seen in the file."""

    def __init__(self, kind: ImportKind, layout: Layout) -> None:
        self.kind = kind
        self.layout = layout
        self.first_line: dict[str, int] = {}

    def parse(self, records: list[Record]
              ) -> tuple[list[Row], list[RowError], list[RowWarning]]:
        rows: list[Row] = []
        errors: list[RowError] = []
        warnings: list[RowWarning] = []
        for line, fields in records:
            if _is_blank(fields):
                continue
            if isinstance(fields, BrokenRecord):
                errors.append(RowError(line, fields.message))
                continue
            try:
                row = parse_record(self.kind, self.layout, line, fields)
            except RowInvalid as exc:
                errors.append(RowError(line, str(exc), fields))
                continue
            first = self.first_line.setdefault(row.key, line)
            if first != line:
                errors.append(RowError(line, f"{self._key_name()} {row.key} repeats line"
                                             f" {first}; skipped", fields))
                continue
            rows.append(row)
            if isinstance(row, ConsumerRow) and row.warnings:  # only consumers warn
                warnings.extend(RowWarning(line, message) for message in row.warnings)
        return rows, errors, warnings

    def _key_name(self) -> str:
        return {"consumers": "consumer_no", "meters": "meter_id",
                "bills": "consumer_no/bill_month"}[self.kind]


async def _write_batch(db: Database, kind: ImportKind, rows: list[Row],
                       vault: PiiVault | None) -> BatchResult:
    async with db.uow() as uow:
        result = await WRITERS[kind](uow.session, rows, utcnow())
        if vault is not None:
            await write_samagra_ids(uow.session, vault, rows)
        await uow.commit()
    return result


async def write_samagra_ids(session: AsyncSession, vault: PiiVault, rows: Sequence[Row]) -> int:
    """Keep the Samagra IDs the export carries, encrypted with a keyed hash (KYC compares a
    typed ID with it, `discom.kyc.identity`). An empty cell leaves a stored ID alone."""
    given = {row.consumer_no: row.samagra_id for row in rows
             if isinstance(row, ConsumerRow) and row.samagra_id}
    if not given:
        return 0
    statement = select(Consumer.id, Consumer.consumer_no, Consumer.samagra_id_hash)
    changed = 0
    for consumer_id, consumer_no, stored in await _lookup(session, statement,
                                                          Consumer.consumer_no, given):
        samagra_id = given[consumer_no]
        if stored is not None and vault.same_value(SAMAGRA, samagra_id, stored):
            continue
        await session.execute(update(Consumer).where(Consumer.id == consumer_id).values(
            samagra_id_encrypted=vault.encrypt(samagra_id),
            samagra_id_hash=vault.lookup_hash(SAMAGRA, samagra_id)))
        changed += 1
    return changed


async def import_csv(
    db: Database,
    kind: ImportKind,
    path: Path,
    *,
    batch_size: int = 5000,
    on_progress: Callable[[int], None] | None = None,
    pii_vault: Callable[[], PiiVault] | None = None,
) -> ImportReport:
    """Import one CSV export; raises `ImportFileError` when the file as a whole is unusable.
    `pii_vault` gives the vault that encrypts personal columns (samagra_id), asked for only
    when the file has one."""
    if kind not in get_args(ImportKind):
        raise ValueError(f"unknown import kind: {kind!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = ImportReport(kind)
    with _open(path) as handle:
        records = read_records(handle)
        report.header = _header(records, kind)
        layout = column_order(kind, report.header)
        vault = _vault_for(layout, pii_vault)
        batcher = _Batcher(kind, layout)
        for batch in _batches(records, batch_size):
            rows, errors, warnings = batcher.parse(batch)
            report.rows_read += len(rows) + len(errors)
            if rows:
                result = await _write_batch(db, kind, rows, vault)
                report.rows_written += result.written
                report.rows_unchanged += result.unchanged
                errors.extend(_with_fields(result.errors, batch))
                report.kept_verified_mobiles.extend(result.kept_verified_mobiles)
            report.errors.extend(sorted(errors, key=lambda error: error.line))
            report.warnings.extend(warnings)
            if on_progress is not None:
                on_progress(len(batch))
    return report


def _with_fields(errors: list[RowError], batch: list[Record]) -> list[RowError]:
    """Errors found while writing, with the records they came from (for the rejects file)."""
    if not errors:
        return errors
    by_line = dict(batch)
    for error in errors:
        fields = by_line.get(error.line)
        if isinstance(fields, list):
            error.fields = fields
    return errors


def write_rejects(report: ImportReport, handle: TextIO) -> int:
    """The refused rows as CSV: the file's own header and fields, plus `reason` ("line 7: ...").

    Once fixed, the file imports as it is (the importer ignores `reason`). A record the CSV
    parser could not split (a stray quote) has only its reason. Returns the rows written.
    """
    writer = csv.writer(handle)
    columns = [name for name in report.header if name.strip().lower() not in IGNORED_COLUMNS]
    kept = [index for index, name in enumerate(report.header)
            if name.strip().lower() not in IGNORED_COLUMNS]
    writer.writerow([*columns, "reason"])
    for error in report.errors:
        fields = error.fields or []
        values = [fields[index] if index < len(fields) else "" for index in kept]
        writer.writerow([*values, f"line {error.line}: {error.message}"])
    return len(report.errors)
