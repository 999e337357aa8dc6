"""Time is stored in UTC and shown in IST (Asia/Kolkata, which has no daylight saving)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

IST = ZoneInfo("Asia/Kolkata")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored datetime is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def today_ist(now: datetime | None = None) -> date:
    return as_utc(now or utcnow()).astimezone(IST).date()


def _locale(language: str) -> str:
    return "hi_IN" if language == "hi" else "en_IN"


def show_date(day: date, language: str) -> str:
    return format_date(day, format="d MMM y", locale=_locale(language))


def show_datetime(moment: datetime, language: str) -> str:
    return format_datetime(
        as_utc(moment), format="d MMM y, h:mm a", tzinfo=IST, locale=_locale(language)
    )


def show_time(moment: datetime, language: str) -> str:
    """Day and time to the second, for timelines: "27 Nov, 10:02:11"."""
    return format_datetime(as_utc(moment), format="d MMM, HH:mm:ss", tzinfo=IST,
                           locale=_locale(language))
