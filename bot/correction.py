"""Carrier correction: a number its carrier has not known for days is tried at the others."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from bot.carriers.errors import CarrierError
from bot.carriers.models import TrackingResult
from bot.parcels import STORAGE_LANGUAGE, LookupOutcome, ParcelService
from bot.routing import Candidate, alternatives, candidate_from_key, parcel_key
from bot.schedule import DAY, scaled
from storage import Parcel

logger = logging.getLogger(__name__)

# [?] When to doubt the carrier: Track123 tries other carriers when a number has had no
# information for 4 days, 17TRACK lets a number change carrier up to 5 times (peers.md).
# A number registered but not yet scanned is "not found" for a day or two, so 3 days, then
# every 3 days while it stays unknown, for a month at most. One table to change.
SWITCH_AFTER = 3 * DAY  # "not found" this long → ask the other possible carriers
SWITCH_RETRY = 3 * DAY  # and again this long after, while it stays unknown
SWITCH_UNTIL = 30 * DAY  # not at all once it has been unknown this long
SWITCHES_PER_TICK = 10  # parcels tried per poll tick: a bounded number of extra requests
CONCURRENT_TRIES = 4

SWITCHED = "switched"  # outbox kind: the chat's parcel is now followed at another carrier


@dataclass(frozen=True, slots=True)
class CarrierCorrection:
    """Ask the other carriers a number could belong to, and move its chats to one that knows it."""

    parcels: ParcelService
    scale: float = 1.0

    async def run(self, now: datetime, busy: Collection[str] = ()) -> int:
        """Try the parcels whose turn it is; return how many moved to another carrier.

        Clients in ``busy`` (their checks still running) are left alone, for their parcels
        and as alternatives: those checks may be about to store a lookup of the very parcel
        that would move, and share the client's rate limit.
        """
        storage = self.parcels.storage
        due = await storage.correction_due(
            now - scaled(SWITCH_AFTER, self.scale),
            now - scaled(SWITCH_UNTIL, self.scale),
            now - scaled(SWITCH_RETRY, self.scale),
            SWITCHES_PER_TICK,
            skip_clients=sorted(busy),
        )
        semaphore = asyncio.Semaphore(CONCURRENT_TRIES)

        async def one(parcel: Parcel) -> bool:
            async with semaphore:
                try:
                    return await self._try(parcel, now, busy)
                except Exception:
                    logger.exception("carrier correction of parcel %s failed", parcel.id)
                    return False

        return sum(await asyncio.gather(*(one(parcel) for parcel in due)))

    async def _try(self, parcel: Parcel, now: datetime, busy: Collection[str]) -> bool:
        """Ask each alternative in turn; move the parcel's chats to the first that knows it."""
        tracking = self.parcels.tracking
        storage = self.parcels.storage
        # A reading a chat picked from the chooser stands: another reading of the same digits
        # may be a stranger's parcel. Only other clients of that reading are tried then.
        candidates = alternatives(parcel.carrier, parcel.number, tracking.registry.clients)
        chosen = await storage.chosen_readings(parcel.id) if candidates else set()
        candidates = [c for c in candidates if not chosen or c.carrier in chosen]
        others = [candidate for candidate in candidates if candidate.routes[0] not in busy]
        if candidates and not others:
            return False  # only busy clients to ask: the next tick, not in three days
        # Marked before asking: a crash or a failing carrier must not make every tick ask again.
        await storage.mark_switch_tried(parcel.id, now)
        # Its own carrier first: a label made online is unknown until handed in, and may be
        # known by now. Then nobody else is asked (nor is it, with nobody else to ask).
        if not others or await self._found_at_home(parcel):
            return False
        for candidate in others:
            try:
                result = await tracking.lookup(parcel.number, candidate, STORAGE_LANGUAGE)
            except CarrierError as err:  # not found there either, or not answering: next one
                logger.debug("parcel %s is not at %s: %s", parcel.id, candidate.routes[0], err)
                continue
            if result.events:  # an empty record (registered, never scanned) proves nothing
                return await self._switch(parcel, candidate, result, now)
        return False

    async def _found_at_home(self, parcel: Parcel) -> bool:
        """Ask the parcel's own carrier again; store and report what it knows now."""
        try:
            result = await self.parcels.tracking.lookup(
                parcel.number, candidate_from_key(parcel.carrier), STORAGE_LANGUAGE
            )
        except CarrierError:
            return False
        if not result.events:
            return False
        await self.parcels.record_many([LookupOutcome(parcel, result, None)], notify=True)
        return True

    async def _switch(
        self, parcel: Parcel, candidate: Candidate, result: TrackingResult, now: datetime
    ) -> bool:
        """Store the new carrier's answer and hand the chats over, atomically, with a note.

        Returns:
            False when the parcel changed meanwhile (a poll found it at its own carrier, or it
            is gone): then nothing moves.
        """
        storage = self.parcels.storage
        key = parcel_key(candidate.routes[0], candidate)
        since = parcel.not_found_since or now
        payload = json.dumps({"from": parcel.carrier, "days": max(1, (now - since).days)})
        async with storage.transaction():
            current = await storage.get_parcel(parcel.id)
            if current is None or current.last_event_at or current.not_found_since is None:
                return False
            target = await storage.get_or_create_parcel(key, parcel.number)
            # Chats already following it there hear of its news as usual; the moved ones get
            # the note below, which shows the latest event.
            await self.parcels.record_many([LookupOutcome(target, result, None)], notify=True)
            moved = await storage.move_subscriptions(parcel.id, target.id, pick=candidate.carrier)
            for subscription in moved:
                if not subscription.archived:
                    await storage.enqueue(
                        subscription.chat_id, SWITCHED, payload, True, subscription.id, target.id
                    )
        logger.info(
            "parcel %s: unknown to %s, found at %s; %d subscriptions moved to parcel %s",
            parcel.id,
            parcel.carrier,
            key,
            len(moved),
            target.id,
        )
        return True
