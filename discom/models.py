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
    SmallInteger,
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
    # The Samagra ID from the billing export, when it carries one (encrypted, with a keyed
    # hash to compare a typed ID against): KYC then needs no registry look-up.
    samagra_id_encrypted: Mapped[str | None] = mapped_column(String(255))
    samagra_id_hash: Mapped[str | None] = mapped_column(String(64))
    tariff_category: Mapped[str] = mapped_column(String(20))
    division: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    # The billing export's mobile column when it held no usable mobile (a landline, "NA",
    # 9999999999): kept for staff to follow up; `mobile` is then empty.
    mobile_raw: Mapped[str | None] = mapped_column(String(40))
    # The 11 kV feeder the consumer is supplied from, as the billing system names it.
    feeder_code: Mapped[str | None] = mapped_column(String(20))


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
OPEN_LINK_STATUSES = ("created", "partially_paid")  # a link that can still be paid
ORDER_STATUSES = ("requested", "sent", "failed", "confirmed", "escalated", "cancelled")
OPEN_ORDER_STATUSES = ("requested", "sent", "failed")
# cancelled: a reminder no longer owed when its turn came (the bill was paid meanwhile).
OUTBOX_STATUSES = ("pending", "sent", "failed", "cancelled")
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
    # Who posted a payment through `/ops/payments` (the X-Operator header); NULL for webhooks.
    posted_by: Mapped[str | None] = mapped_column(String(64))


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
    # The payment that cleared the dues and so caused this order (None: the sweep, a meter
    # event): its link's chat is told about the reconnection it paid for (notify/audience.py).
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))


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
    # The payment the event is about or was caused by: what a chat that paid (and is not the
    # account's) may see of the timeline.
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)


class OutboundMessage(Base):
    """A message owed to a consumer, written in the same transaction as its cause (outbox).

    `kind` + `params` are rendered in the chat's language when sent, so the text is always
    the catalog's. `dedupe_key` makes "tell them once" a database guarantee.

    A notification is one row per consumer, on the channel of its current hop: when a channel
    refuses it (bot blocked, WhatsApp undelivered...) `chat_id`/`channel` move to the next chat
    of the consumer's fallback chain (discom/notify/routing.py); `message_deliveries` keeps
    one row per channel tried. `priority`: 0 a reply to a consumer who is chatting, 1 an event
    notification, 2 a reminder; each channel's queue is served in that order.
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        CheckConstraint(_one_of("status", OUTBOX_STATUSES), name="status"),
        Index("ix_outbound_messages_due", "status", "channel", "next_attempt_at"),
        Index("ix_outbound_messages_queue", "channel", "priority", "id",
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int | None] = mapped_column(ForeignKey("consumers.id"), index=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"), index=True)
    channel: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    status: Mapped[str] = mapped_column(String(10))
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default=text("1"))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --- KYC (discom/kyc) ---------------------------------------------------------------------------

# mobile_change: the code to the new number; mobile_old: to the old registered one (both are
# needed); bank_account: to the verified mobile before a bank account is set or replaced.
OTP_PURPOSES = ("kyc", "mobile_change", "mobile_old", "bank_account")
# sending: recorded and committed, the provider not yet answered (counted, not yet typable);
# pending: may still be typed; verified: used (single use); locked: too many wrong tries;
# superseded: a newer code was sent; failed: the provider never took it (not counted as a send).
OTP_STATUSES = ("sending", "pending", "verified", "locked", "superseded", "failed")
SAMAGRA_KINDS = ("member", "family")


class OtpChallenge(Base):
    """One OTP sent to one mobile for one purpose, usable only from the chat that asked.

    `code_hash` is a keyed HMAC of the code bound to purpose, chat, consumer and mobile (never
    the code); it is NULL when Twilio Verify made the code and checks it. Sends per consumer
    and per chat per hour are counted from these rows.
    """

    __tablename__ = "otp_challenges"
    __table_args__ = (
        CheckConstraint(_one_of("purpose", OTP_PURPOSES), name="purpose"),
        CheckConstraint(_one_of("status", OTP_STATUSES), name="status"),
        Index("ix_otp_challenges_consumer_created", "consumer_id", "created_at"),
        Index("ix_otp_challenges_chat_created", "chat_id", "created_at"),
        Index("ix_otp_challenges_mobile_created", "target_mobile", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"))
    target_mobile: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class KycRecord(Base):
    """A completed KYC: who verified which account, with what, and what they consented to.

    The Samagra ID is encrypted (Fernet) with a keyed hash beside it for lookups; rows are
    never updated, so a repeated KYC adds a row and the history stays.
    """

    __tablename__ = "kyc_records"
    __table_args__ = (
        CheckConstraint(_one_of("samagra_kind", SAMAGRA_KINDS), name="samagra_kind"),
        CheckConstraint(_one_of("channel", CHANNELS), name="channel"),
        CheckConstraint(_one_of("consent_language", ("hi", "en")), name="consent_language"),
        Index("ix_kyc_records_consumer_verified", "consumer_id", "verified_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    samagra_kind: Mapped[str] = mapped_column(String(8))
    samagra_id_encrypted: Mapped[str] = mapped_column(String(255))
    samagra_id_hash: Mapped[str] = mapped_column(String(64), index=True)
    verified_mobile: Mapped[str] = mapped_column(String(16))
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[str] = mapped_column(String(12))
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"))
    otp_challenge_id: Mapped[int] = mapped_column(ForeignKey("otp_challenges.id"))
    consent_key: Mapped[str] = mapped_column(String(60))
    consent_version: Mapped[str] = mapped_column(String(20))
    consent_language: Mapped[str] = mapped_column(String(2))
    consent_text: Mapped[str] = mapped_column(String(4000))


class BankAccount(Base):
    """A bank account given for a consumer (direct benefit transfers); the latest counts.

    The number is encrypted, with its last four digits for display and a keyed hash for
    lookups (the same account on many consumers, a repeat entry).
    """

    __tablename__ = "bank_accounts"
    __table_args__ = (Index("ix_bank_accounts_consumer_created", "consumer_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    account_encrypted: Mapped[str] = mapped_column(String(255))
    account_last4: Mapped[str] = mapped_column(String(4))
    account_hash: Mapped[str] = mapped_column(String(64), index=True)
    ifsc: Mapped[str] = mapped_column(String(11))
    chat_id: Mapped[int | None] = mapped_column(ForeignKey("chats.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MobileChange(Base):
    """A registered mobile replaced from a chat, after OTPs to the new and the old number."""

    __tablename__ = "mobile_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    old_mobile: Mapped[str | None] = mapped_column(String(16))
    new_mobile: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"))
    otp_challenge_id: Mapped[int] = mapped_column(ForeignKey("otp_challenges.id"))
    # Whether the old number was told (an SMS accepted by the provider) before the change.
    old_mobile_notified: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


KYC_REVIEW_KINDS = ("name_near", "lost_mobile")
KYC_REVIEW_STATUSES = ("pending", "approved", "rejected")


class KycReview(Base):
    """Something only staff can decide: a Samagra name that nearly matches the account's, or
    a consumer who lost the registered mobile. `GET /ops/kyc-reviews` lists them."""

    __tablename__ = "kyc_reviews"
    __table_args__ = (
        CheckConstraint(_one_of("kind", KYC_REVIEW_KINDS), name="kind"),
        CheckConstraint(_one_of("status", KYC_REVIEW_STATUSES), name="status"),
        Index("ix_kyc_reviews_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"))
    samagra_kind: Mapped[str | None] = mapped_column(String(8))
    samagra_id_encrypted: Mapped[str | None] = mapped_column(String(255))
    samagra_id_hash: Mapped[str | None] = mapped_column(String(64))
    registry_name: Mapped[str | None] = mapped_column(String(240))
    status: Mapped[str] = mapped_column(String(10))
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConsumerLookup(Base):
    """A consumer number typed into a chat (dues, status, pay, KYC): counted per consumer over
    all chats (`discom.lookups`), pruned after a day."""

    __tablename__ = "consumer_lookups"
    __table_args__ = (Index("ix_consumer_lookups_consumer_at", "consumer_id", "looked_up_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"))
    looked_up_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


# --- Notification delivery: channels, fallback, pacing (discom/notify) -----------------------

# attempting: handed to the provider, no answer yet (a crash or timeout here leaves the
# channel open for a retry); then the provider's statuses (queued, sent, delivered, read,
# undelivered, failed). A channel that refused the message outright ("refused": bot blocked,
# no approved template) is not tried again either.
DELIVERY_STATUSES = ("attempting", "queued", "sent", "delivered", "read", "undelivered",
                     "failed", "refused")


class MessageDelivery(Base):
    """One channel an outbox message went out on (or was refused by).

    `(message_id, channel)` is unique: nothing is sent twice on the same channel, whatever the
    retries and fallbacks. `provider_ref` is Twilio's message SID, by which status callbacks
    find the row; `template_ref` is the WhatsApp Content SID or the SMS DLT template id used.
    """

    __tablename__ = "message_deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "channel", name="uq_message_deliveries_message_channel"),
        CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
        CheckConstraint(_one_of("channel", CHANNELS), name="channel"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbound_messages.id"))
    channel: Mapped[str] = mapped_column(String(12))
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"))
    provider_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    template_ref: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WorkerLease(Base):
    """A named job that one worker process at a time may run: a channel's sender
    ("send:whatsapp"), the daily reminder run ("reminders").

    `lease_until` is renewed by the holder; once it has passed, any worker may take over.
    `paused_until` is a provider's "retry after" (HTTP 429) for the channel, kept here so a
    worker taking over honours it too. `state` is the job's own small memory (the day the
    reminders last ran).
    """

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paused_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- Payment-link requests: the gateway is called outside any transaction (dialog/pay.py) ----

LINK_REQUEST_STATUSES = ("pending", "done", "failed")
_PENDING_REQUEST = "status = 'pending'"


class PaymentLinkRequest(Base):
    """A chat's request for a payment link, recorded (and committed) before Razorpay is called.

    One pending request per consumer and chat (a partial unique index): a second "pay" while
    the first is with Razorpay claims nothing and makes no second link. `claimed_until` bounds
    the claim: a request whose process died mid-call is given up after it, so the chat can ask
    again. `reference_id` is the Razorpay reference the call uses.
    """

    __tablename__ = "payment_link_requests"
    __table_args__ = (
        CheckConstraint(_one_of("status", LINK_REQUEST_STATUSES), name="status"),
        CheckConstraint("amount_paise > 0", name="amount_positive"),
        Index("uq_payment_link_requests_pending", "consumer_id", "chat_id", unique=True,
              sqlite_where=text(_PENDING_REQUEST), postgresql_where=text(_PENDING_REQUEST)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"))
    amount_paise: Mapped[int] = mapped_column(BigInteger)
    reference_id: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(8))
    claimed_until: Mapped[datetime] = mapped_column(UtcDateTime)
    payment_link_id: Mapped[int | None] = mapped_column(ForeignKey("payment_links.id"))
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RecentLookup(Base):
    """A consumer number a chat looked up, offered as a button the next time it asks (dues,
    pay, status) instead of asking again. Per chat only; forgotten after 90 days
    (discom/housekeeping.py)."""

    __tablename__ = "recent_lookups"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"), primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), primary_key=True)
    looked_up_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Refund(Base):
    """Money a provider gave back to a payer: debited to the ledger once, as an adjustment.

    `(source, external_id)` is the provider's refund id (Razorpay's `rfnd_…`); the payment
    refunded is one Bijli credited. Refunds of a payment never add up to more than it.
    """

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_refunds_source_external_id"),
        CheckConstraint("amount_paise > 0", name="amount_positive"),
        Index("ix_refunds_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(64))
    amount_paise: Mapped[int] = mapped_column(BigInteger)
    refunded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
