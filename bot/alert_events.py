"""What the admins are alerted of, as plain data (no Telegram here: the poller raises them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AlertKind(StrEnum):
    """What happened: to a carrier, or to the bot itself."""

    AUTH = "auth"  # the carrier refused our credentials (401/403)
    PAUSED = "paused"  # it failed several batches in a row: the circuit breaker paused it
    RECOVERED = "recovered"  # it answers again after one of the above
    QUOTA = "quota"  # our daily budget of its new numbers is used up
    ERROR = "error"  # an update failed with an unexpected error
    JOB_ERROR = "job_error"  # a background job (poll, sending, upkeep) failed unexpectedly


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing the admins should know.

    ``subject`` is the carrier's name, or for the two error kinds the error's type.
    """

    subject: str
    kind: AlertKind
    detail: str | None = None  # the error as logged, secrets masked (never a credential)
    until: datetime | None = None  # when a pause or a quota ends


AlertSink = Callable[[Alert], Awaitable[None]]
