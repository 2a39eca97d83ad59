"""UTC helpers: SQLite hands datetimes back naive, while the code compares aware ones."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Treat a naive datetime as UTC (how every timestamp in this project is written)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def human(value: datetime | None) -> str:
    """``2024-05-01 10:00 UTC``: for people reading a mail, not for machines."""
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def iso_key(value: datetime | None) -> str:
    """A compact, stable ISO form for dedup keys (second precision, ``Z`` suffix)."""
    value = as_utc(value)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"
