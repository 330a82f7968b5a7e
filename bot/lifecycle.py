"""A parcel's end of life: archive delivered ones after a watch, ask about stale ones."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.carriers.models import ParcelStatus
from storage import Parcel, Storage

logger = logging.getLogger(__name__)

DAY = 86_400.0
TERMINAL_WATCH = 3 * DAY  # delivered/returned parcels are re-checked daily this long
NOT_FOUND_LIMIT = 14 * DAY  # "not registered yet" this long → ask whether to keep tracking
NO_MOVEMENT_LIMIT = 30 * DAY  # no new event this long → ask whether to keep tracking
# [?] How long a branch or a locker keeps a parcel is not in the carriers' documents (InPost
# lockers are commonly said to keep one 48 h, Nova Poshta branches a few days for free): the
# reminders say how long the parcel has waited, never a deadline. One table to change.
PICKUP_REMINDERS = (1 * DAY, 3 * DAY)  # after this long ready for pickup, remind the chats

FINAL, STALE, PICKUP = "final", "stale", "pickup"


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Decide, after each lookup, whether a parcel is finished or forgotten."""

    storage: Storage
    scale: float = 1.0

    def _limit(self, seconds: float) -> timedelta:
        return timedelta(seconds=seconds * self.scale)

    def due(self, parcel: Parcel, now: datetime) -> bool:
        """Tell cheaply (no query) whether ``review`` has anything to do for this parcel."""
        if ParcelStatus.parse(parcel.status).is_terminal:
            return now - _last_news(parcel) >= self._limit(TERMINAL_WATCH)
        return self._stale_reason(parcel, now) is not None

    async def review(self, parcel: Parcel, now: datetime) -> None:
        """Archive a parcel that stayed delivered through the watch, or ask about a stale one."""
        status = ParcelStatus.parse(parcel.status)
        if status.is_terminal:
            if now - _last_news(parcel) >= self._limit(TERMINAL_WATCH):
                await self._archive(parcel, status)
            return
        reason = self._stale_reason(parcel, now)
        if reason is None:
            return
        last_asked = parcel.stale_asked_at
        period = self._limit(NOT_FOUND_LIMIT if reason == "not_found" else NO_MOVEMENT_LIMIT)
        if last_asked is not None and now - last_asked < period:
            return
        async with self.storage.transaction():
            await self.storage.notify_subscribers(
                parcel.id, STALE, json.dumps({"reason": reason}), False
            )
            await self.storage.mark_stale_asked(parcel.id, now)

    async def remind_pickups(self, now: datetime) -> int:
        """Remind the chats of parcels waiting for pickup a day, then three; return how many.

        A reminder is sent once per threshold, and only for a threshold crossed while the bot
        was following the parcel: a parcel followed when it had waited for days already was
        shown as waiting in its card.
        """
        thresholds = [self._limit(seconds) for seconds in PICKUP_REMINDERS]
        reminded = 0
        for parcel in await self.storage.waiting_for_pickup(now - thresholds[0]):
            ready = parcel.last_event_at
            assert ready is not None  # the query asks for a time
            crossed = max(ready + limit for limit in thresholds if now - ready >= limit)
            if crossed <= parcel.created_at:
                continue
            if parcel.pickup_reminded_at is not None and parcel.pickup_reminded_at >= crossed:
                continue
            async with self.storage.transaction():
                payload = json.dumps({"since": ready.isoformat()})
                await self.storage.notify_subscribers(parcel.id, PICKUP, payload, True)
                await self.storage.mark_pickup_reminded(parcel.id, now)
            reminded += 1
        return reminded

    def _stale_reason(self, parcel: Parcel, now: datetime) -> str | None:
        """Say why a parcel looks abandoned, if it does."""
        if parcel.not_found_since and now - parcel.not_found_since >= self._limit(NOT_FOUND_LIMIT):
            return "not_found"
        if parcel.last_event_at and now - _last_news(parcel) >= self._limit(NO_MOVEMENT_LIMIT):
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


def _last_news(parcel: Parcel) -> datetime:
    """Return when the parcel last moved, or when we started following it if that is later."""
    if parcel.last_event_at is None:
        return parcel.created_at
    return max(parcel.last_event_at, parcel.created_at)
