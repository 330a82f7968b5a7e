"""Convert aware datetimes to and from the UTC ISO text stored in the database."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db(moment: datetime) -> str:
    """Return the stored text for an aware datetime, normalised to UTC.

    Raises:
        ValueError: the datetime is naive.
    """
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: storage takes aware UTC datetimes")
    # A fixed format (always microseconds, always +00:00) keeps text order equal to time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def opt_to_db(moment: datetime | None) -> str | None:
    """Return the stored text for an optional aware datetime."""
    return None if moment is None else to_db(moment)


def from_db(text: str) -> datetime:
    """Return the aware UTC datetime for stored text."""
    return datetime.fromisoformat(text).astimezone(UTC)


def opt_from_db(text: str | None) -> datetime | None:
    """Return the aware UTC datetime for optional stored text."""
    return None if text is None else from_db(text)


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
