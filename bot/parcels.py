"""Parcel service: follow numbers for chats, look them up and keep the results in storage."""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.carriers.errors import CarrierError, ParcelNotFound
from bot.carriers.models import ParcelStatus, TrackingEvent, TrackingResult
from bot.routing import Candidate, candidate_from_key, client_of_key, parcel_key
from bot.schedule import Policy
from bot.tracking import Resolution, TrackingService
from storage import NewEvent, Parcel, Storage, SubscriptionView

logger = logging.getLogger(__name__)


class ParcelLimitReached(Exception):
    """The chat follows as many parcels as the operator allows."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """The outcome of looking a stored parcel up: a result, an error, or both (stale data)."""

    parcel: Parcel
    result: TrackingResult | None
    error: CarrierError | None
    new_events: int = 0


class ParcelService:
    """Everything the handlers and the poller do with parcels."""

    def __init__(
        self,
        storage: Storage,
        tracking: TrackingService,
        *,
        max_parcels_per_chat: int = 100,
        policy: Policy | None = None,
    ) -> None:
        self.storage = storage
        self.tracking = tracking
        self.max_parcels_per_chat = max_parcels_per_chat
        self.policy = policy or Policy()
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def _chat_lock(self, chat_id: int) -> asyncio.Lock:
        """Return the lock serializing one chat's subscription changes."""
        lock = self._locks.get(chat_id)
        if lock is None:
            lock = self._locks[chat_id] = asyncio.Lock()
        return lock

    async def resolve(self, chat_id: int, raw_number: str) -> Resolution:
        """Resolve a number, honouring the carrier this chat picked for it before."""
        resolution = await self.tracking.resolve(raw_number)
        if resolution.ambiguous:
            picked = await self.storage.get_pick(chat_id, resolution.number)
            chosen = [c for c in resolution.candidates if c.carrier == picked]
            if chosen:
                return Resolution(resolution.number, (chosen[0],))
        return resolution

    async def follow(
        self,
        chat_id: int,
        user_id: int | None,
        number: str,
        candidate: Candidate,
        label: str | None,
        lang: str,
    ) -> tuple[SubscriptionView, Lookup]:
        """Subscribe a chat to a number and look it up once (the baseline for notifications).

        Raises:
            ParcelLimitReached: the chat already follows the maximum number of parcels.
            CarrierError: CarrierNotConfigured or NotTrackable, before anything is stored.
        """
        client = self.tracking.client_for(candidate)
        parcel = await self.storage.get_or_create_parcel(parcel_key(client, candidate), number)
        # Several numbers of one message are followed concurrently: check the cap and subscribe
        # under the chat's lock, or two of them could both pass the check.
        async with self._chat_lock(chat_id):
            existing = await self.storage.find_subscription(chat_id, parcel.id)
            is_new = existing is None or existing.archived_at is not None
            count = await self.storage.count_subscriptions(chat_id)
            if is_new and count >= self.max_parcels_per_chat:
                raise ParcelLimitReached
            subscription = await self.storage.subscribe(chat_id, parcel.id, label, user_id)
        if len(await self.storage.fingerprints(parcel.id)) or parcel.last_checked_at:
            lookup = Lookup(parcel, await self.stored_result(parcel), None)
        else:
            lookup = await self.check(parcel, lang)
        view = await self.storage.get_subscription(subscription.id)
        assert view is not None  # just written under the same connection
        return view, lookup

    async def check(self, parcel: Parcel, lang: str = "uk", *, notify: bool = False) -> Lookup:
        """Look a stored parcel up now, store what is new and schedule the next check."""
        candidate = candidate_from_key(parcel.carrier)
        try:
            result = await self.tracking.lookup(parcel.number, candidate, lang)
        except ParcelNotFound as err:
            await self._record(parcel, None, err, notify=notify)
            return Lookup(parcel, None, err)
        except CarrierError as err:
            logger.info("lookup of parcel %s failed: %s", parcel.id, err)
            await self._record(parcel, None, err, notify=notify)
            return Lookup(parcel, await self.stored_result(parcel), err)
        new = await self._record(parcel, result, None, notify=notify)
        return Lookup(parcel, result, None, new)

    async def record(
        self,
        parcel: Parcel,
        result: TrackingResult | None,
        error: CarrierError | None,
        *,
        notify: bool,
    ) -> int:
        """Store one lookup outcome (used by the poller's batched lookups too)."""
        return await self._record(parcel, result, error, notify=notify)

    async def _record(
        self,
        parcel: Parcel,
        result: TrackingResult | None,
        error: CarrierError | None,
        *,
        notify: bool,
    ) -> int:
        """Write events, status and the next check time in one storage transaction."""
        now = datetime.now(UTC)
        not_found = isinstance(error, ParcelNotFound)
        failed = error is not None and not not_found
        known = await self.storage.fingerprints(parcel.id) if result else set()
        events = [_new_event(e) for e in result.events] if result else []
        fresh = [e for e in events if e.fingerprint not in known]
        changed = bool(fresh)
        status = result.status if result else None
        interval = self.policy.next_interval(
            status, changed=changed, previous=parcel.check_interval, failed=failed
        )
        # The first lookup at subscription time is the baseline: the user sees it in the card.
        # A parcel that was "not found" or unreachable then and appears later is news.
        baseline = not known and parcel.last_checked_at is None
        stored = await self.storage.record_lookup(
            parcel.id,
            checked_at=now,
            status=str(status) if status else parcel.status,
            status_code=(result.latest.code if result and result.latest else parcel.status_code),
            last_event_at=(
                result.latest.occurred_at if result and result.latest else parcel.last_event_at
            ),
            not_found=not_found,
            error=str(error) if failed else None,
            next_check_at=self.policy.next_check(now, interval),
            check_interval=interval,
            events=events,
            notify=notify and not baseline,
            # Loud only when something that matters happened, not for every sorting scan.
            loud=any(ParcelStatus.parse(e.status).is_milestone for e in fresh),
        )
        return len(stored)

    async def stored_result(self, parcel: Parcel) -> TrackingResult:
        """Rebuild a tracking result from what storage holds, for cards without a lookup."""
        events = tuple(
            TrackingEvent(
                occurred_at=e.occurred_at,
                status=ParcelStatus.parse(e.status),
                code=e.code,
                description=e.description,
                location=e.location,
                postcode=e.postcode,
            )
            for e in await self.storage.parcel_events(parcel.id)
        )
        return TrackingResult(client_of_key(parcel.carrier), parcel.number, events)


def _new_event(event: TrackingEvent) -> NewEvent:
    """Convert a carrier event into the storage record."""
    return NewEvent(
        fingerprint=event.fingerprint,
        occurred_at=event.occurred_at,
        status=str(event.status),
        code=event.code,
        description=event.description,
        location=event.location,
        postcode=event.postcode,
    )
