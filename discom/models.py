"""The system of record, as SQLAlchemy 2 typed models.

Alembic (`migrations/`) is the only way this schema reaches a database; a change here without
a migration fails `alembic check` in CI.

Conventions: money is `BIGINT` paise; datetimes are UTC (`UtcDateTime` hands back aware values
on SQLite too); enumerations are short strings guarded by CHECK constraints, so adding a value is
a plain migration on both engines.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an `INTEGER PRIMARY KEY`; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


RELAY_STATES = ("connected", "disconnected", "ready_for_reconnection", "unknown")
ENTRY_KINDS = ("bill", "charge", "payment", "adjustment")
CHANNELS = ("telegram", "whatsapp", "sms", "console")


class Consumer(Base):
    """A consumer account, keyed by the discom's consumer (IVRS) number."""

    __tablename__ = "consumers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_no: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    mobile: Mapped[str | None] = mapped_column(String(16))
    tariff_category: Mapped[str] = mapped_column(String(20))
    division: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class Meter(Base):
    """A smart meter and the last relay state the HES (or an import) reported for it."""

    __tablename__ = "meters"
    __table_args__ = (CheckConstraint(_one_of("relay_state", RELAY_STATES), name="relay_state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meter_id: Mapped[str] = mapped_column(String(40), unique=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    remote_switch: Mapped[bool] = mapped_column(Boolean)
    relay_state: Mapped[str] = mapped_column(String(24), default="unknown")
    # Why the relay was last opened ("non_payment", "manual", ...); None when unknown.
    relay_reason: Mapped[str | None] = mapped_column(String(40))
    relay_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Theft, tamper, a court order, a permanent disconnection: never reconnected automatically.
    block_reason: Mapped[str | None] = mapped_column(String(60))


class LedgerEntry(Base):
    """One line of a consumer's append-only ledger. Rows are inserted, never updated.

    `amount_paise` is signed from the discom's side: positive is owed by the consumer (bill,
    charge, debit adjustment), negative is money in (payment, credit adjustment). Dues are
    always derived from these rows (`discom.ledger`).
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ENTRY_KINDS), name="kind"),
        CheckConstraint(
            "(kind IN ('bill', 'charge') AND amount_paise > 0)"
            " OR (kind = 'payment' AND amount_paise < 0)"
            " OR (kind = 'adjustment' AND amount_paise <> 0)",
            name="amount_sign",
        ),
        CheckConstraint("kind <> 'bill' OR (bill_month IS NOT NULL AND due_date IS NOT NULL)",
                        name="bill_has_month"),
        Index("ix_ledger_entries_consumer_posted", "consumer_id", "posted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    kind: Mapped[str] = mapped_column(String(12))
    amount_paise: Mapped[int] = mapped_column(BigInteger)
    bill_month: Mapped[str | None] = mapped_column(String(7))  # YYYY-MM
    due_date: Mapped[date | None] = mapped_column(Date)
    # What a charge is for ("disconnection", "reconnection") or where a payment came from.
    detail: Mapped[str | None] = mapped_column(String(60))
    # Unique key of the fact behind the entry (a bill month, a provider's payment id): the
    # database refuses to record the same fact twice.
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    posted_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Chat(Base):
    """One chat on one channel (a Telegram chat id, a WhatsApp or SMS number, the console)."""

    __tablename__ = "chats"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_chats_channel_external_id"),
        CheckConstraint(_one_of("channel", CHANNELS), name="channel"),
        CheckConstraint(_one_of("language", ("hi", "en")), name="language"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(12))
    external_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2))
    language_chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_inbound_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ChatAccount(Base):
    """A consumer account linked to a chat (by KYC); a chat may hold several."""

    __tablename__ = "chat_accounts"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"), primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), primary_key=True,
                                             index=True)
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Conversation(Base):
    """Where a chat is in the dialog. Lives in the database so any process can serve any chat."""

    __tablename__ = "conversations"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InboundEvent(Base):
    """A webhook delivery already taken in, so a provider's re-delivery is recognised."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("source", "event_key", name="uq_inbound_events_source_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    event_key: Mapped[str] = mapped_column(String(120))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


LINK_STATUSES = ("created", "partially_paid", "paid", "expired", "cancelled")
ORDER_STATUSES = ("requested", "sent", "failed", "confirmed", "escalated", "cancelled")
OPEN_ORDER_STATUSES = ("requested", "sent", "failed")
OUTBOX_STATUSES = ("pending", "sent", "failed")
_OPEN_ORDER = _one_of("status", OPEN_ORDER_STATUSES)


class PaymentLink(Base):
    """A Razorpay Payment Link made for a consumer's total; reused while open and unexpired."""

    __tablename__ = "payment_links"
    __table_args__ = (
        CheckConstraint(_one_of("status", LINK_STATUSES), name="status"),
        CheckConstraint("amount_paise > 0", name="amount_positive"),
        Index("ix_payment_links_consumer_status", "consumer_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    chat_id: Mapped[int | None] = mapped_column(ForeignKey("chats.id"))
    provider_link_id: Mapped[str] = mapped_column(String(40), unique=True)
    reference_id: Mapped[str] = mapped_column(String(40), unique=True)
    amount_paise: Mapped[int] = mapped_column(BigInteger)
    amount_paid_paise: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))
    short_url: Mapped[str] = mapped_column(String(300))
    expire_by: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Payment(Base):
    """Money received, from any source, credited to the ledger exactly once.

    `(source, external_id)` is the payer's own unique reference: Razorpay's payment id, or a
    billing system's / BBPS / cash counter's receipt number posted to `/ops/payments`.
    """

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_payments_source_external_id"),
        CheckConstraint("amount_paise > 0", name="amount_positive"),
        Index("ix_payments_consumer_received", "consumer_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(64))
    amount_paise: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str | None] = mapped_column(String(30))
    payment_link_id: Mapped[int | None] = mapped_column(ForeignKey("payment_links.id"))
    paid_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReconnectionOrder(Base):
    """The durable intent to close one meter's relay, driven by the worker until the HES agrees.

    At most one open order per meter (a partial unique index), so at most one command is in
    flight per meter. `attempt` counts commands the HES definitively failed or expired: each
    attempt has its own idempotency key, and a transport error retries the *same* key.
    `lease_until` is the claim of the worker handling it; a crashed worker's lease runs out
    and another worker rescues the order.
    """

    __tablename__ = "reconnection_orders"
    __table_args__ = (
        CheckConstraint(_one_of("status", ORDER_STATUSES), name="status"),
        Index("uq_reconnection_orders_open_meter", "meter_pk", unique=True,
              sqlite_where=text(_OPEN_ORDER), postgresql_where=text(_OPEN_ORDER)),
        Index("ix_reconnection_orders_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    status: Mapped[str] = mapped_column(String(12))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    command_id: Mapped[str | None] = mapped_column(String(64))
    relay_state: Mapped[str | None] = mapped_column(String(24))
    last_error: Mapped[str | None] = mapped_column(String(300))
    cause: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TimelineEvent(Base):
    """What happened to a consumer's account, as the consumer is shown it ("Supply status"):
    payment received, reconnection started, supply restored, delayed, disconnected."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_events_consumer_at", "consumer_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboundMessage(Base):
    """A message owed to a consumer, written in the same transaction as its cause (outbox).

    `kind` + `params` are rendered in the chat's language when sent, so the text is always
    the catalog's. `dedupe_key` makes "tell them once" a database guarantee.
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        CheckConstraint(_one_of("status", OUTBOX_STATUSES), name="status"),
        Index("ix_outbound_messages_due", "status", "channel", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int | None] = mapped_column(ForeignKey("consumers.id"), index=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"), index=True)
    channel: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    status: Mapped[str] = mapped_column(String(10))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
