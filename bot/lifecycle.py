"""A parcel's end of life: archive delivered ones after a watch, ask about stale ones."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.carriers.models import KYIV, ParcelStatus
from bot.schedule import DAY, scaled
from storage import Parcel, Storage, StoredEvent

logger = logging.getLogger(__name__)

TERMINAL_WATCH = 3 * DAY  # delivered/returned parcels are re-checked daily this long
NOT_FOUND_LIMIT = 14 * DAY  # "not registered yet" this long → ask whether to keep tracking
NO_MOVEMENT_LIMIT = 30 * DAY  # no new event this long → ask whether to keep tracking
# Archived parcels (and their histories) are deleted this many days after they were archived:
# kept long enough to look a delivery up, not forever (/privacy says so).
ARCHIVE_DAYS = 180
# [?] How long a branch or a locker keeps a parcel is not in the carriers' documents (InPost
# lockers are commonly said to keep one 48 h, Nova Poshta branches a few days for free): the
# reminders say how long the parcel has waited, never a deadline. One table to change.
PICKUP_REMINDERS = (1 * DAY, 3 * DAY)  # after this long ready for pickup, remind the chats
REMINDER_FRESH = 1 * DAY  # a step crossed longer ago (bot down, parcel followed late): skipped
REMINDER_HOURS = (9, 21)  # Kyiv hours in which reminders are queued: they deserve a sound

FINAL, STALE, PICKUP = "final", "stale", "pickup"


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Decide, after each lookup, whether a parcel is finished or forgotten."""

    storage: Storage
    scale: float = 1.0

    def due(self, parcel: Parcel, now: datetime) -> bool:
        """Tell cheaply (no query) whether ``review`` has anything to do for this parcel."""
        if ParcelStatus.parse(parcel.status).is_terminal:
            return now - _last_news(parcel) >= scaled(TERMINAL_WATCH, self.scale)
        return self._stale_reason(parcel, now) is not None

    async def review(self, parcel: Parcel, now: datetime) -> None:
        """Archive a parcel that stayed delivered through the watch, or ask about a stale one."""
        status = ParcelStatus.parse(parcel.status)
        if status.is_terminal:
            if now - _last_news(parcel) >= scaled(TERMINAL_WATCH, self.scale):
                await self._archive(parcel, status)
            return
        reason = self._stale_reason(parcel, now)
        if reason is None:
            return
        last_asked = parcel.stale_asked_at
        period = scaled(
            NOT_FOUND_LIMIT if reason == "not_found" else NO_MOVEMENT_LIMIT, self.scale
        )
        if last_asked is not None and now - last_asked < period:
            return
        async with self.storage.transaction():
            await self.storage.notify_subscribers(
                parcel.id, STALE, json.dumps({"reason": reason}), False
            )
            await self.storage.mark_stale_asked(parcel.id, now)

    async def remind_pickups(self, now: datetime) -> int:
        """Remind the chats of parcels waiting for pickup a day, then three; return how many.

        The wait counts from the first of the latest run of "ready for pickup" events (a
        locker's own reminder event does not restart it). A reminder is sent once per step,
        in the daytime (Kyiv), and only for a step crossed recently while the bot followed the
        parcel: one followed when it had waited for days already showed that in its card.
        """
        if not REMINDER_HOURS[0] <= now.astimezone(KYIV).hour < REMINDER_HOURS[1]:
            return 0
        steps = sorted(scaled(seconds, self.scale) for seconds in PICKUP_REMINDERS)
        # Waiting since before the last step plus REMINDER_FRESH: no step left to remind of.
        oldest = now - steps[-1] - scaled(REMINDER_FRESH, self.scale)
        candidates = await self.storage.waiting_for_pickup(now - steps[0], oldest)
        events = await self.storage.events_of([parcel.id for parcel in candidates])
        reminded = 0
        for parcel in candidates:
            since = _ready_since(events[parcel.id]) or parcel.last_event_at
            assert since is not None  # the query asks for a time
            crossed = [since + step for step in steps if now - since >= step]
            if not crossed:
                continue
            latest = max(crossed)
            if latest <= parcel.created_at or now - latest > scaled(REMINDER_FRESH, self.scale):
                continue
            if parcel.pickup_reminded_at is not None and parcel.pickup_reminded_at >= latest:
                continue
            async with self.storage.transaction():
                days = max(1, (now - since).days)
                payload = json.dumps({"since": since.isoformat(), "days": days})
                await self.storage.notify_subscribers(parcel.id, PICKUP, payload, True)
                await self.storage.mark_pickup_reminded(parcel.id, now)
            reminded += 1
        return reminded

    def _stale_reason(self, parcel: Parcel, now: datetime) -> str | None:
        """Say why a parcel looks abandoned, if it does."""
        if parcel.not_found_since and now - parcel.not_found_since >= scaled(
            NOT_FOUND_LIMIT, self.scale
        ):
            return "not_found"
        if parcel.last_event_at and now - _last_news(parcel) >= scaled(
            NO_MOVEMENT_LIMIT, self.scale
        ):
            return "no_movement"
        return None

    async def _archive(self, parcel: Parcel, status: ParcelStatus) -> None:
        """Send the final message and move every live subscription to the archive, atomically."""
        async with self.storage.transaction():
            subscribers = await self.storage.subscribers(parcel.id)
            await self.storage.notify_subscribers(
                parcel.id, FINAL, json.dumps({"status": str(status)}), False
            )
            for _chat, subscription in subscribers:
                await self.storage.archive_subscription(subscription.id)
        logger.info("parcel %s archived after %s", parcel.id, status)


def _ready_since(events: Sequence[StoredEvent]) -> datetime | None:
    """Return when the latest unbroken run of "ready for pickup" events began (oldest first)."""
    since: datetime | None = None
    for event in events:
        if ParcelStatus.parse(event.status) is ParcelStatus.READY_FOR_PICKUP:
            since = since or event.occurred_at
        else:
            since = None
    return since


def _last_news(parcel: Parcel) -> datetime:
    """Return when the parcel last moved, or when we started following it if that is later."""
    if parcel.last_event_at is None:
        return parcel.created_at
    return max(parcel.last_event_at, parcel.created_at)
