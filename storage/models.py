"""Frozen records the storage layer returns; all datetimes are aware UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Chat:
    """A Telegram chat the bot talks to."""

    id: int
    type: str  # private, group, supergroup or channel
    language: str | None
    active: bool
    blocked: bool
    quiet_start: int | None  # minutes of the day, local time as the bot defines it
    quiet_end: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Ban:
    """A user or chat id an admin shut out."""

    id: int
    reason: str | None
    banned_by: int  # the admin's user id
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Parcel:
    """One tracking number at one carrier, shared by every chat that follows it."""

    id: int
    carrier: str
    number: str
    status: str
    status_code: str | None
    last_event_at: datetime | None
    last_checked_at: datetime | None
    next_check_at: datetime | None
    check_interval: float | None  # seconds
    not_found_since: datetime | None
    last_error: str | None
    stale_asked_at: datetime | None
    created_at: datetime
    pickup_reminded_at: datetime | None = None  # when chats were last told it waits for them
    switch_tried_at: datetime | None = None  # when other carriers were last asked about it
    extras: str | None = None  # JSON object: a route, a pickup point… (carrier-specific keys)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A chat following a parcel."""

    id: int
    chat_id: int
    parcel_id: int
    label: str | None
    added_by: int | None
    created_at: datetime
    archived_at: datetime | None

    @property
    def archived(self) -> bool:
        """Tell whether the chat moved this parcel to its archive."""
        return self.archived_at is not None


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """A subscription together with the parcel it follows."""

    id: int
    chat_id: int
    label: str | None
    added_by: int | None
    created_at: datetime
    archived_at: datetime | None
    parcel: Parcel
    card_message_id: int | None = None  # the bot's message pushes about it reply to

    @property
    def parcel_id(self) -> int:
        """Return the followed parcel's id."""
        return self.parcel.id

    @property
    def archived(self) -> bool:
        """Tell whether the chat moved this parcel to its archive."""
        return self.archived_at is not None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as a lookup produced it, before storage has seen it."""

    fingerprint: str
    occurred_at: datetime
    status: str
    code: str | None = None
    description: str | None = None
    location: str | None = None
    postcode: str | None = None


@dataclass(frozen=True, slots=True)
class LookupRecord:
    """The outcome of one lookup of one parcel, as ``record_lookups`` stores it."""

    parcel_id: int
    checked_at: datetime
    status: str | None  # None: a failed lookup, which keeps the stored status and code
    next_check_at: datetime | None
    check_interval: float | None
    status_code: str | None = None
    last_event_at: datetime | None = None
    not_found: bool = False
    error: str | None = None
    events: tuple[NewEvent, ...] = ()
    notify: bool = False
    loud: bool = False
    kind: str = "events"
    quiet_for: int | None = None  # a subscription that gets no push (it saw the result)
    extras: str | None = None  # JSON object to store; None keeps what is stored


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event storage has kept, with the time it was first seen."""

    parcel_id: int
    fingerprint: str
    occurred_at: datetime
    status: str
    code: str | None
    description: str | None
    location: str | None
    postcode: str | None
    first_seen_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A notification waiting to be sent (or already sent)."""

    id: int
    chat_id: int
    subscription_id: int | None
    parcel_id: int | None
    kind: str  # 'events', 'final', 'stale', ...
    payload: str  # JSON text
    loud: bool
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Broadcast:
    """An admin's message to many chats."""

    id: int
    admin_chat_id: int
    text: str
    audience: str
    status: str  # running, cancelled or done
    created_at: datetime
    progress_message_id: int | None


@dataclass(frozen=True, slots=True)
class BroadcastCounts:
    """How far a broadcast got, by recipient state."""

    sent: int
    blocked: int
    failed: int
    pending: int

    @property
    def total(self) -> int:
        """Return the number of recipients."""
        return self.sent + self.blocked + self.failed + self.pending


@dataclass(frozen=True, slots=True)
class CarrierStat:
    """Calls to one carrier over a period, with latency percentiles."""

    carrier: str
    calls: int
    errors: int
    p50_ms: float
    p95_ms: float
