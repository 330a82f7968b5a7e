"""The poll job: check due parcels per carrier, batched, isolated, and push what changed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.alert_events import Alert, AlertKind, AlertSink
from bot.breaker import Breakers, CircuitBreaker
from bot.carriers.base import Carrier
from bot.carriers.errors import (
    BudgetExhausted,
    CarrierAuthError,
    CarrierError,
    CarrierRateLimited,
    CarrierUnavailable,
)
from bot.carriers.gdeposylka import GdePosylkaClient
from bot.carriers.models import TrackingResult
from bot.correction import CarrierCorrection
from bot.lifecycle import Lifecycle
from bot.parcels import LookupOutcome, ParcelService
from bot.routing import candidate_from_key, client_of_key
from storage import Parcel, Storage

logger = logging.getLogger(__name__)

DUE_LIMIT = 100_000  # parcels per tick (one tick batches each carrier optimally); rest wait
COALESCE_WINDOW = 20.0  # seconds a tick waits for all carriers before sending pushes
MIN_COALESCE = 1.0  # even with a tiny CHECK_INTERVAL_SCALE, give loopback answers time
CHUNK_CONCURRENCY = 2  # batch requests in flight per carrier
SINGLE_CONCURRENCY = 8  # single lookups in flight per carrier without a batch endpoint
SINGLES_PER_WRITE = 50  # carriers without a batch endpoint: parcels stored per transaction

Outcome = TrackingResult | CarrierError


@dataclass
class CarrierHealth:
    """Per-carrier state the poller keeps between ticks (also shown by /stats)."""

    breaker: CircuitBreaker
    running: asyncio.Task[None] | None = None
    last_error: str | None = None


@dataclass
class Poller:
    """Runs one tick at a time; each carrier's checks run in their own task."""

    storage: Storage
    parcels: ParcelService
    clients: dict[str, Carrier]
    drain: Callable[[], Awaitable[object]]
    scale: float = 1.0
    breakers: Breakers | None = None  # shared with user lookups; one of our own by default
    health: dict[str, CarrierHealth] = field(default_factory=dict)
    lifecycle: Lifecycle | None = None
    correction: CarrierCorrection | None = None
    alert: AlertSink | None = None  # tells the admins of credentials refused, outages, quotas
    _ticking: bool = False
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    _correcting: asyncio.Task[None] | None = None

    @property
    def ticking(self) -> bool:
        """Tell whether a tick is running (and will drain the outbox itself)."""
        return self._ticking

    async def _drain_after(self, task: asyncio.Task[None]) -> None:
        """Send a slow carrier's pushes as soon as it finishes."""
        await asyncio.wait([task])
        await self.drain()

    async def close(self) -> None:
        """Cancel carrier checks still running (at shutdown); their parcels stay due."""
        tasks = [h.running for h in self.health.values() if h.running and not h.running.done()]
        tasks += list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __post_init__(self) -> None:
        if self.breakers is None:
            self.breakers = Breakers(self.scale)

    def _health(self, name: str) -> CarrierHealth:
        if name not in self.health:
            assert self.breakers is not None  # set in __post_init__
            self.health[name] = CarrierHealth(self.breakers[name])
        return self.health[name]

    async def tick(self) -> None:
        """Start checks for every carrier with due parcels; never overlap with a running tick."""
        if self._ticking:
            logger.info("previous poll tick still running; skipping this one")
            return
        self._ticking = True
        try:
            await self._tick()
        finally:
            self._ticking = False

    async def _tick(self) -> None:
        now = datetime.now(UTC)
        due = await self.storage.due_parcels(now, DUE_LIMIT)
        by_client: dict[str, list[Parcel]] = defaultdict(list)
        for parcel in due:
            by_client[client_of_key(parcel.carrier)].append(parcel)
        started: list[asyncio.Task[None]] = []
        for name, parcels in by_client.items():
            health = self._health(name)
            client = self.clients.get(name)
            if client is None or not health.breaker.allows(now):
                continue  # disabled carrier, or paused: its parcels stay due
            if health.running is not None and not health.running.done():
                continue  # a slow carrier: its previous run is still going
            health.running = asyncio.create_task(self._check_carrier(name, client, parcels))
            started.append(health.running)
        if started:
            # Wait a little for every carrier, so one tick gives one message per chat; a
            # carrier slower than that sends its own pushes when it finishes.
            _done, pending = await asyncio.wait(
                started, timeout=max(COALESCE_WINDOW * self.scale, MIN_COALESCE)
            )
            for task in pending:
                follow_up = asyncio.create_task(self._drain_after(task))
                self._background.add(follow_up)
                follow_up.add_done_callback(self._background.discard)
        if self.lifecycle is not None:
            try:  # in the same drain as the tick's news: one message per chat
                await self.lifecycle.remind_pickups(datetime.now(UTC))
            except Exception:
                logger.exception("pickup reminders failed; the tick's pushes still go out")
        await self.drain()
        if self.correction is not None and (self._correcting is None or self._correcting.done()):
            # In the background: its lookups of other carriers must not hold up the next tick.
            busy = {n for n, h in self.health.items() if h.running and not h.running.done()}
            self._correcting = asyncio.create_task(self._correct(self.correction, busy))
            self._background.add(self._correcting)
            self._correcting.add_done_callback(self._background.discard)

    async def _correct(self, correction: CarrierCorrection, busy: set[str]) -> None:
        """Run the carrier correction, then send the notes of the parcels it moved."""
        try:
            if await correction.run(datetime.now(UTC), busy):
                await self.drain()
        except Exception:
            logger.exception("carrier correction failed")

    async def settled(self) -> None:
        """Wait for the work a tick left running (slow carriers' pushes, the correction)."""
        while pending := [task for task in self._background if not task.done()]:
            await asyncio.wait(pending)

    async def _check_carrier(self, name: str, client: Carrier, parcels: list[Parcel]) -> None:
        """Look up one carrier's due parcels with as few requests as its API allows."""
        # Carriers without a batch endpoint still get chunks: their client (or the GdePosylka
        # loop below) makes one request per number, and each chunk is stored in one write.
        size = client.batch_size if client.batch_size > 1 else SINGLES_PER_WRITE
        chunks = [parcels[i : i + size] for i in range(0, len(parcels), size)]
        # The carrier sees at most CHUNK_CONCURRENCY requests at once; storing a chunk happens
        # outside that limit, so the next request need not wait for our database. The second
        # bound keeps answers waiting to be stored (and their memory) few.
        network = asyncio.Semaphore(CHUNK_CONCURRENCY)
        pipeline = asyncio.Semaphore(2 * CHUNK_CONCURRENCY)

        async def one(chunk: list[Parcel]) -> None:
            async with pipeline:
                if isinstance(client, GdePosylkaClient):
                    await self._run_singles(name, client, chunk, network)
                else:
                    await self._run_batch(name, client, chunk, network)

        started = time.monotonic()
        try:
            await asyncio.gather(*(one(chunk) for chunk in chunks))
        except Exception:
            logger.exception("checking carrier %s failed", name)
        logger.info(
            "carrier %s: %d parcels checked in %.1f s",
            name,
            len(parcels),
            time.monotonic() - started,
        )

    async def _run_batch(
        self, name: str, client: Carrier, parcels: Sequence[Parcel], network: asyncio.Semaphore
    ) -> None:
        """One batch request (or the client's own loop) for parcels of one carrier."""
        health = self._health(name)
        numbers = [p.number for p in parcels]
        try:
            async with network:
                if not health.breaker.allows(datetime.now(UTC)):
                    return  # paused while this chunk waited: its parcels stay due
                started = time.monotonic()
                outcomes = await client.track_many(numbers)
        except CarrierError as err:
            await self._batch_failed(name, parcels, err, time.monotonic() - started)
            return
        pairs = [(parcel, outcomes.get(parcel.number)) for parcel in parcels]
        await self._batch_done(name, pairs, time.monotonic() - started)

    async def _run_singles(
        self,
        name: str,
        client: GdePosylkaClient,
        parcels: Sequence[Parcel],
        network: asyncio.Semaphore,
    ) -> None:
        """GdePosylka: one request per number, with the courier each parcel was added with."""
        semaphore = asyncio.Semaphore(SINGLE_CONCURRENCY)

        async def one(parcel: Parcel) -> tuple[Parcel, Outcome] | None:
            async with semaphore:
                if not self._health(name).breaker.allows(datetime.now(UTC)):
                    return None  # paused meanwhile: the parcel stays due
                courier = candidate_from_key(parcel.carrier).courier
                try:
                    return parcel, await client.track(parcel.number, courier=courier)
                except CarrierError as err:
                    return parcel, err

        # Pairs, not a mapping by number: two chats may follow one number at two couriers.
        async with network:
            if not self._health(name).breaker.allows(datetime.now(UTC)):
                return  # paused while this chunk waited: spend no budget on it
            counted = await client.reserve([parcel.number for parcel in parcels])
            started = time.monotonic()
            results = await asyncio.gather(*(one(p) for p in parcels))
            answered = [pair for pair in results if pair]
            # The circuit opened midway: numbers this chunk counted but never sent go back to
            # the budget (one sent before, or for another courier, is known to GdePosylka).
            sent = {parcel.number for parcel, _ in answered}
            unsent = [p.number for p in parcels if p.number in counted and p.number not in sent]
            if unsent:
                await client.release(unsent)
        if answered:
            await self._batch_done(name, answered, time.monotonic() - started)

    async def _batch_done(
        self, name: str, pairs: Sequence[tuple[Parcel, Outcome | None]], elapsed: float
    ) -> None:
        """Store each parcel's outcome; close the circuit unless the carrier failed throughout.

        Clients without a batch endpoint (InPost) report per-number failures inside the
        mapping: a run where every number was unavailable counts as a failed batch, and a
        rate limit anywhere pauses the carrier, so neither outages nor Retry-After slip by.
        """
        # Our own daily quota (BudgetExhausted) made no request: it says nothing about the
        # carrier's health, and must not pause re-checks of numbers already admitted today.
        parcels = [parcel for parcel, _ in pairs]
        failures = [
            o
            for _, o in pairs
            if isinstance(o, CarrierUnavailable | CarrierAuthError)
            and not isinstance(o, BudgetExhausted)
        ]
        if failures and len(failures) >= len(parcels):
            await self._batch_failed(name, parcels, _telling(failures), elapsed)
            return
        health = self._health(name)
        limited = [o for o in failures if isinstance(o, CarrierRateLimited)]
        # A real answer: a result, or "not found". Our own quota made no request: proves nothing.
        answered = any(not isinstance(o, CarrierUnavailable | CarrierAuthError) for _, o in pairs)
        if limited:
            waits = [o.retry_after for o in limited if o.retry_after is not None]
            health.breaker.failure(datetime.now(UTC), retry_after=max(waits, default=None))
            health.last_error = limited[0].message
        elif failures and not answered:  # every number asked failed; the rest, our quota's
            await self._count_failure(name, _telling(failures))
        elif answered:
            health.breaker.success()
            await self._alert(Alert(name, AlertKind.RECOVERED))
        await self.storage.record_carrier_call(name, datetime.now(UTC), True, elapsed * 1000)
        items: list[LookupOutcome] = []
        for parcel, outcome in pairs:
            if isinstance(outcome, TrackingResult):
                items.append(LookupOutcome(parcel, outcome, None))
            elif isinstance(outcome, CarrierError):
                # Per-number failures (unavailable, rate limited) schedule a retry; "not found"
                # is an answer.
                items.append(LookupOutcome(parcel, None, outcome))
            else:
                logger.warning("carrier %s gave no outcome for parcel %s", name, parcel.id)
        updated = await self.parcels.record_many(items, notify=True)
        if self.lifecycle is not None:
            now = datetime.now(UTC)
            for parcel in updated:
                if self.lifecycle.due(parcel, now):
                    await self.lifecycle.review(parcel, now)

    async def _alert(self, alert: Alert) -> None:
        """Tell the admins, if anyone listens; an alert that fails must not stop the checks."""
        if self.alert is None:
            return
        try:
            await self.alert(alert)
        except Exception:
            logger.exception("alerting the admins failed")

    async def _count_failure(self, name: str, err: CarrierError) -> None:
        """Count a failed batch: pause a carrier that keeps failing, tell the admins."""
        health = self._health(name)
        now = datetime.now(UTC)
        retry_after = err.retry_after if isinstance(err, CarrierRateLimited) else None
        breaker = health.breaker
        breaker.failure(now, retry_after=retry_after)
        if isinstance(err, CarrierAuthError):
            breaker.failure(now)  # credentials will not fix themselves: back off harder
            logger.error("carrier %s refused our credentials: %s", name, err.message)
            await self._alert(Alert(name, AlertKind.AUTH, err.message))
        elif breaker.failures >= breaker.threshold:  # paused for failing batches in a row
            await self._alert(Alert(name, AlertKind.PAUSED, err.message, breaker.opened_until))
        health.last_error = err.message

    async def _batch_failed(
        self, name: str, parcels: Sequence[Parcel], err: CarrierError, elapsed: float
    ) -> None:
        """Count the failure, pause the carrier if it keeps failing, retry the parcels later."""
        now = datetime.now(UTC)
        await self._count_failure(name, err)
        await self.storage.record_carrier_call(name, now, False, elapsed * 1000)
        logger.warning("carrier %s failed for %d parcels: %s", name, len(parcels), err)
        await self.parcels.record_many(
            [LookupOutcome(parcel, None, err) for parcel in parcels], notify=False
        )


def _telling(failures: Sequence[CarrierError]) -> CarrierError:
    """Pick the failure that says the most: refused credentials (the admins are told)."""
    return next((err for err in failures if isinstance(err, CarrierAuthError)), failures[0])
