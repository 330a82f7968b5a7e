"""Small builders shared by the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import NewEvent, Parcel, Storage, StoredEvent, SubscriptionView

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """Return T0 shifted by some minutes."""
    return T0 + timedelta(minutes=minutes)


def event(fingerprint: str, minutes: float = 0, status: str = "in_transit") -> NewEvent:
    """Return an event that happened some minutes after T0."""
    return NewEvent(
        fingerprint=fingerprint,
        occurred_at=at(minutes),
        status=status,
        code=f"code-{fingerprint}",
        description=f"description of {fingerprint}",
        location="Kyiv",
        postcode="01001",
    )


async def follow(
    store: Storage,
    chat_id: int,
    number: str = "RR000000001UA",
    *,
    carrier: str = "ukrposhta",
    label: str | None = None,
    chat_type: str = "private",
) -> SubscriptionView:
    """Make a chat (created if needed) follow a parcel (created if needed)."""
    await store.upsert_chat(chat_id, chat_type, "uk")
    parcel = await store.get_or_create_parcel(carrier, number)
    subscription = await store.subscribe(chat_id, parcel.id, label, added_by=chat_id)
    view = await store.get_subscription(subscription.id)
    assert view is not None
    return view


async def lookup(
    store: Storage,
    parcel: Parcel | int,
    events: list[NewEvent],
    *,
    notify: bool = True,
    checked_at: datetime = T0,
    status: str | None = "in_transit",
    not_found: bool = False,
    error: str | None = None,
) -> list[StoredEvent]:
    """Record a lookup with sensible defaults for the fields a test does not care about."""
    parcel_id = parcel if isinstance(parcel, int) else parcel.id
    return await store.record_lookup(
        parcel_id,
        checked_at=checked_at,
        status=status,
        status_code="S1" if status else None,
        last_event_at=max((item.occurred_at for item in events), default=None),
        not_found=not_found,
        error=error,
        next_check_at=checked_at + timedelta(hours=1),
        check_interval=3600.0,
        events=events,
        notify=notify,
        loud=False,
    )
