"""Parcel service: follow numbers for chats, look them up and keep the results in storage."""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.carriers.errors import BudgetExhausted, CarrierError, NoDataAtLastCheck, ParcelNotFound
from bot.carriers.models import ParcelStatus, TrackingEvent, TrackingResult
from bot.quota import next_budget_day
from bot.routing import Candidate, candidate_from_key, client_of_key, parcel_key
from bot.schedule import Policy
from bot.tracking import Resolution, TrackingService
from storage import (
    LookupRecord,
    NewEvent,
    Parcel,
    Storage,
    StoredEvent,
    Subscription,
    SubscriptionView,
)

logger = logging.getLogger(__name__)


STORAGE_LANGUAGE = "uk"  # the language carrier texts are fetched and stored in


class ParcelLimitReached(Exception):
    """The chat follows as many parcels as the operator allows."""


@dataclass(frozen=True, slots=True)
class LookupOutcome:
    """What one lookup of a stored parcel gave: a result or an error."""

    parcel: Parcel
    result: TrackingResult | None
    error: CarrierError | None


@dataclass(frozen=True, slots=True)
class Lookup:
    """The outcome of looking a stored parcel up: a result, an error, or both (stale data).

    ``parcel`` is as stored after the lookup (when it was checked, when it will be next).
    """

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
    ) -> tuple[SubscriptionView, Lookup]:
        """Subscribe a chat to a number and look it up once (the baseline for notifications).

        Raises:
            ParcelLimitReached: the chat already follows the maximum number of parcels.
            CarrierError: CarrierNotConfigured or NotTrackable, before anything is stored.
        """
        client = self.tracking.client_for(candidate)
        key = parcel_key(client, candidate)
        for attempt in range(2):
            parcel = await self._moved_here(
                chat_id, number, candidate, client
            ) or await self.storage.get_or_create_parcel(key, number)
            try:
                subscription = await self._subscribe(chat_id, user_id, parcel, label)
            except ParcelLimitReached:
                raise
            except Exception:
                # Carrier correction may have moved the parcel away (deleting its row) between
                # the two steps: follow the number afresh, once.
                if attempt or await self.storage.get_parcel(parcel.id) is not None:
                    raise
                continue
            break
        if parcel.last_checked_at is not None:  # another chat follows it: show what we know
            lookup = await self.stored_lookup(parcel)
        else:
            lookup = await self.check(parcel)
        view = await self.storage.get_subscription(subscription.id)
        assert view is not None  # just written under the same connection
        return view, lookup

    async def _subscribe(
        self, chat_id: int, user_id: int | None, parcel: Parcel, label: str | None
    ) -> Subscription:
        """Subscribe under the chat's cap.

        Several numbers of one message are followed concurrently: the cap is checked and the
        subscription written under the chat's lock, or two of them could both pass the check.
        """
        async with self._chat_lock(chat_id):
            following, count = await self.storage.subscription_slot(chat_id, parcel.id)
            if not following and count >= self.max_parcels_per_chat:
                raise ParcelLimitReached
            return await self.storage.subscribe(chat_id, parcel.id, label, user_id)

    async def _moved_here(
        self, chat_id: int, number: str, candidate: Candidate, client: str
    ) -> Parcel | None:
        """Return the parcel this chat follows the number with at the candidate's other client.

        Carrier correction may have moved it there (an S10 number from China found at Ukrposhta,
        not GdePosylka): sending the number again must not follow it a second time.
        """
        others = {
            parcel_key(route, candidate)
            for route in candidate.routes
            if route != client and route in self.tracking.registry.clients
        }
        if not others:
            return None
        for parcel in await self.storage.parcels_by_number(number):
            if parcel.carrier in others and await self.storage.find_subscription(
                chat_id, parcel.id
            ):
                return parcel
        return None

    async def check(
        self, parcel: Parcel, *, notify: bool = False, quiet_for: int | None = None
    ) -> Lookup:
        """Look a stored parcel up now, store what is new and schedule the next check.

        ``quiet_for`` is a subscription that sees the result at once (a Refresh press): it
        gets no push about it, the parcel's other chats do.
        """
        candidate = candidate_from_key(parcel.carrier)
        try:
            # Stored events are always fetched in one language, as the poller does: carriers
            # translate place names (Ukrposhta "ЦОКК 5 КИЇВ" / "DKD KYIV"), and the place is
            # part of an event's fingerprint. Chats read our own labels in their language.
            result = await self.tracking.lookup(parcel.number, candidate, STORAGE_LANGUAGE)
        except ParcelNotFound as err:
            updated, _ = await self._record(parcel, None, err, notify=notify, quiet_for=quiet_for)
            return Lookup(updated, None, err)
        except CarrierError as err:
            logger.info("lookup of parcel %s failed: %s", parcel.id, err)
            updated, _ = await self._record(parcel, None, err, notify=notify, quiet_for=quiet_for)
            return Lookup(updated, await self.stored_result(parcel), err)
        updated, new = await self._record(parcel, result, None, notify=notify, quiet_for=quiet_for)
        return Lookup(updated, result, None, new)

    async def record_many(
        self, outcomes: Sequence[LookupOutcome], *, notify: bool
    ) -> list[Parcel]:
        """Store a batch of lookup outcomes in one transaction; return the parcels as updated.

        Used by the poller for a whole carrier batch, and by single lookups.
        """
        records, stored = await self._store(outcomes, notify=notify)
        # A parcel of the batch may have moved to another carrier meanwhile (carrier
        # correction deletes the old row): the others are stored all the same.
        return [
            _updated(o.parcel, r)
            for o, r in zip(outcomes, records, strict=True)
            if r.parcel_id in stored
        ]

    async def _record(
        self,
        parcel: Parcel,
        result: TrackingResult | None,
        error: CarrierError | None,
        *,
        notify: bool,
        quiet_for: int | None = None,
    ) -> tuple[Parcel, int]:
        """Store one lookup outcome; return the parcel as now stored and its new events' count."""
        outcome = LookupOutcome(parcel, result, error)
        # Moved to another carrier meanwhile: nothing is stored, the answer is still shown.
        [record], stored = await self._store([outcome], notify=notify, quiet_for=quiet_for)
        return _updated(parcel, record), len(stored.get(parcel.id, ()))

    async def _store(
        self, outcomes: Sequence[LookupOutcome], *, notify: bool, quiet_for: int | None = None
    ) -> tuple[list[LookupRecord], dict[int, list[StoredEvent]]]:
        """Store lookup outcomes (parcels gone meanwhile are skipped); return records and news."""
        if not outcomes:
            return [], {}
        now = datetime.now(UTC)

        def decide(known: Mapping[int, set[str]]) -> list[LookupRecord]:
            """Make the records from the fingerprints storage holds at the time it writes."""
            return [
                self._lookup_record(
                    o, known.get(o.parcel.id, set()), now, notify=notify, quiet_for=quiet_for
                )
                for o in outcomes
            ]

        # Storage reads the fingerprints once, inside its write transaction: what is new here
        # (so loudness and the next interval) is what it inserts, even when a Refresh and the
        # poller store the same parcel at once.
        found = [o.parcel.id for o in outcomes if o.result is not None]
        return await self.storage.record_lookups_with(found, decide, missing_ok=True)

    def _lookup_record(
        self,
        outcome: LookupOutcome,
        known: set[str],
        now: datetime,
        *,
        notify: bool,
        quiet_for: int | None = None,
    ) -> LookupRecord:
        """Decide what a lookup changes: status, new events, loudness and the next check."""
        parcel, result, error = outcome.parcel, outcome.result, outcome.error
        not_found = isinstance(error, ParcelNotFound)
        failed = error is not None and not not_found
        events = tuple(_new_event(e) for e in result.events) if result else ()
        fresh = [e for e in events if e.fingerprint not in known]
        status = result.status if result else None
        latest = result.latest if result else None
        moved_at = latest.occurred_at if latest else parcel.last_event_at
        interval = self.policy.next_interval(
            status,
            changed=bool(fresh),
            previous=parcel.check_interval,
            failed=failed,
            since_event=(now - moved_at).total_seconds() if moved_at else None,
        )
        next_check = self.policy.next_check(now, interval)
        if isinstance(error, BudgetExhausted):
            # Our daily quota (a UTC day) is used up: asking again before it renews is useless.
            # The interval itself stays a retry's, so the next lookup starts from it.
            next_check = max(next_check, next_budget_day(now) + timedelta(seconds=interval))
        # The first lookup at subscription time is the baseline: the user sees it in the card.
        # A parcel that was "not found" or unreachable then and appears later is news.
        baseline = not known and parcel.last_checked_at is None
        return LookupRecord(
            parcel_id=parcel.id,
            checked_at=now,
            status=str(status) if status else None,
            status_code=latest.code if latest else None,
            last_event_at=latest.occurred_at if latest else None,
            not_found=not_found,
            error=str(error) if failed else None,
            next_check_at=next_check,
            check_interval=interval,
            events=events,
            notify=notify and not baseline,
            # Loud only when something that matters happened, not for every sorting scan.
            loud=any(ParcelStatus.parse(e.status).is_milestone for e in fresh),
            # A route or a pickup point, when the carrier gave one this time (else kept).
            extras=json.dumps(dict(result.extras), sort_keys=True, ensure_ascii=False)
            if result and result.extras
            else None,
            quiet_for=quiet_for,
        )

    async def stored_lookup(self, parcel: Parcel) -> Lookup:
        """Return what storage knows of a parcel as a lookup, for cards shown without asking.

        A parcel the carrier had no record of at its last check says so again (a card shown
        moments after the first one must not lose the explanation).
        """
        result = await self.stored_result(parcel)
        error: CarrierError | None = None
        if parcel.last_error and parcel.last_error.endswith(BudgetExhausted.MESSAGE):
            # Not asked for want of quota: the card says so again, and that nothing failed.
            error = BudgetExhausted(result.carrier, BudgetExhausted.MESSAGE)
        elif parcel.not_found_since is not None and not result.events:
            error = NoDataAtLastCheck(result.carrier, "no data at the last check")
        return Lookup(parcel, result, error)

    async def stored_result(self, parcel: Parcel) -> TrackingResult:
        """Rebuild a tracking result from what storage holds, for cards without a lookup."""
        return (await self.stored_results([parcel]))[parcel.id]

    async def stored_results(self, parcels: Sequence[Parcel]) -> dict[int, TrackingResult]:
        """Rebuild many parcels' results at once (one query), by parcel id."""
        stored = await self.storage.events_of([parcel.id for parcel in parcels])
        return {
            parcel.id: TrackingResult(
                client_of_key(parcel.carrier),
                parcel.number,
                tuple(tracking_event(e) for e in stored[parcel.id]),
                stored_extras(parcel),
            )
            for parcel in parcels
        }


def stored_extras(parcel: Parcel) -> dict[str, str]:
    """Read a parcel's stored extras (a route, a pickup point); nothing if damaged."""
    try:
        loaded = json.loads(parcel.extras) if parcel.extras else {}
    except ValueError:
        logger.warning("parcel %s has damaged extras", parcel.id)
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {str(key): str(value) for key, value in loaded.items() if isinstance(value, str)}


def tracking_event(stored: StoredEvent) -> TrackingEvent:
    """Turn a stored event back into the carrier-neutral model."""
    return TrackingEvent(
        occurred_at=stored.occurred_at,
        status=ParcelStatus.parse(stored.status),
        code=stored.code,
        description=stored.description,
        location=stored.location,
        postcode=stored.postcode,
    )


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


def _updated(parcel: Parcel, record: LookupRecord) -> Parcel:
    """Return the parcel as storage now holds it after a lookup record (without a query)."""
    # Built field by field rather than with dataclasses.replace, which costs several times as
    # much: the poller calls this once per parcel per cycle.
    return Parcel(
        id=parcel.id,
        carrier=parcel.carrier,
        number=parcel.number,
        status=record.status or parcel.status,
        status_code=record.status_code if record.status else parcel.status_code,
        last_event_at=record.last_event_at or parcel.last_event_at,
        last_checked_at=record.checked_at,
        next_check_at=record.next_check_at,
        check_interval=record.check_interval,
        not_found_since=_not_found_since(parcel, record),
        last_error=record.error,
        stale_asked_at=parcel.stale_asked_at,
        pickup_reminded_at=parcel.pickup_reminded_at,
        switch_tried_at=parcel.switch_tried_at,
        extras=record.extras or parcel.extras,
        created_at=parcel.created_at,
    )


def _not_found_since(parcel: Parcel, record: LookupRecord) -> datetime | None:
    """Mirror storage's rule: set by "not found", kept by a failed lookup, cleared by a find."""
    if record.not_found:
        return parcel.not_found_since or record.checked_at
    if record.status is None and record.error is not None:
        return parcel.not_found_since
    return None
