"""Tracking service: from a number to candidates, and from a candidate to a tracking result."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.breaker import Breakers
from bot.carriers.detect import normalize
from bot.carriers.errors import (
    CarrierError,
    CarrierNotConfigured,
    CarrierPaused,
    NotTrackable,
    ParcelNotFound,
)
from bot.carriers.gdeposylka import GdePosylkaClient
from bot.carriers.http import Exchange, captured
from bot.carriers.models import TrackingResult
from bot.carriers.registry import CarrierRegistry
from bot.routing import (
    CLIENT_NAMES,
    GDEPOSYLKA_COURIERS,
    Candidate,
    may_ask_online,
    offline_candidates,
    readings,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a number could be; ``candidates`` is empty for an invalid number."""

    number: str
    candidates: tuple[Candidate, ...]
    # Why the online detector, which was needed, gave no answer (paused, failing, out of quota).
    detection_error: CarrierError | None = None

    @property
    def undetected(self) -> bool:
        """Tell whether the online detector was needed but could not answer."""
        return self.detection_error is not None

    @property
    def ambiguous(self) -> bool:
        """Tell whether the user should pick between several carriers."""
        return len(self.candidates) > 1


@dataclass(frozen=True, slots=True)
class Probe:
    """What one client answered an admin's raw lookup."""

    key: str  # the parcel key the answer would be stored under
    result: TrackingResult | None
    error: CarrierError | None


class TrackingService:
    """Resolve numbers to carriers and look them up, with the same rules everywhere."""

    def __init__(self, registry: CarrierRegistry, breakers: Breakers | None = None) -> None:
        self.registry = registry
        self.breakers = breakers

    async def resolve(
        self, raw_number: str, forced: str | None = None, *, online: bool = True
    ) -> Resolution:
        """Find the candidates for a number, asking GdePosylka only when the rules cannot decide.

        ``forced`` is a client or detection slug chosen by the user or operator; it skips
        detection, so numbers without an offline rule (e.g. PostPlus) can still be tracked.
        ``online=False`` never spends GdePosylka's detection quota.
        """
        number = normalize(raw_number)
        if forced:
            routes = (forced,) if forced in CLIENT_NAMES else ("gdeposylka",)
            courier = GDEPOSYLKA_COURIERS.get(forced)
            return Resolution(number, (Candidate(forced, routes, courier=courier),))
        candidates = offline_candidates(number)
        if not candidates and online and may_ask_online(number):
            return await self._detect_online(number)
        return Resolution(number, tuple(candidates))

    async def _detect_online(self, number: str) -> Resolution:
        """Ask GdePosylka which couriers a number belongs to; nothing when it is not configured.

        While GdePosylka's circuit is open no request is made, and a failed detection is not
        "no such number": the resolution says it could not be checked.
        """
        client = self.registry.gdeposylka
        if client is None:
            return Resolution(number, ())
        if self.paused("gdeposylka"):
            paused = CarrierPaused("gdeposylka", "paused after repeated failures")
            return Resolution(number, (), detection_error=paused)
        try:
            detection = await client.detect(number)
        except ParcelNotFound:
            return Resolution(number, ())
        except CarrierError as err:
            logger.info("online detection failed: %s", err)
            return Resolution(number, (), detection_error=err)
        candidates = tuple(
            Candidate("gdeposylka", ("gdeposylka",), courier=c.slug, name=c.name_alt or c.name)
            for c in detection.couriers[:5]
        )
        return Resolution(number, candidates)

    def may_detect_online(self, number: str) -> bool:
        """Tell whether a normalized number is one the online detector could be asked now."""
        return (
            may_ask_online(number)
            and not offline_candidates(number)
            and self.registry.gdeposylka is not None
            and not self.paused("gdeposylka")
        )

    def paused(self, client: str) -> bool:
        """Tell whether a client's circuit is open now (no request would be made)."""
        return self.breakers is not None and not self.breakers[client].allows(datetime.now(UTC))

    def client_for(self, candidate: Candidate) -> str:
        """Return the configured client for a candidate.

        Raises:
            CarrierNotConfigured: a client exists for it, but the operator did not enable it.
            NotTrackable: no client of this bot can track that carrier.
        """
        client = candidate.client(self.registry.clients)
        if client:
            return client
        # A carrier of its own (Ukrposhta, PostPlus) that is switched off is "not configured";
        # a foreign carrier only reachable through GdePosylka is simply not trackable here.
        missing = [
            route
            for route in candidate.routes
            if route in self.registry.disabled
            and (route != "gdeposylka" or candidate.carrier == "gdeposylka")
        ]
        if missing:
            raise CarrierNotConfigured(missing[0], self.registry.disabled[missing[0]])
        raise NotTrackable(candidate.carrier, "no client of this bot tracks it")

    async def lookup(self, number: str, candidate: Candidate, lang: str = "uk") -> TrackingResult:
        """Look a number up with the client that serves the candidate.

        Raises:
            CarrierError: any subclass; ParcelNotFound when the carrier has no record yet;
                CarrierPaused, without a request, while the carrier's circuit is open.
        """
        name = self.client_for(candidate)
        if self.paused(name):
            # The poller saw this carrier fail again and again: asking it once more for a
            # user would most likely fail too, and slowly. The caller shows what we know.
            raise CarrierPaused(name, "paused after repeated failures")
        result = await self._ask(name, number, candidate, lang)
        # A real answer ends a pause early. Failures are left to the poller, which judges whole
        # batches: one user's unlucky request must not pause a carrier for everyone. (Errors
        # are not proof of a request either: GdePosylka answers "not found" from its cache.)
        if self.breakers is not None:
            self.breakers[name].success()
        return result

    async def _ask(
        self, name: str, number: str, candidate: Candidate, lang: str
    ) -> TrackingResult:
        """Make the client's request: GdePosylka with the candidate's courier."""
        client = self.registry.clients[name]
        if isinstance(client, GdePosylkaClient):
            return await client.track(number, lang, courier=candidate.courier)
        return await client.track(number, lang)

    async def probe(
        self, raw_number: str, forced: str | None = None
    ) -> tuple[Resolution, list[Probe], list[Exchange]]:
        """Ask every configured client a number may belong to, and keep the raw exchanges.

        For an admin's debugging (``/raw``): paused carriers are asked too, and nothing is
        stored. Detection requests, if any, are part of the exchanges.
        """
        with captured() as exchanges:
            resolution = await self.resolve(raw_number, forced)
            probes: list[Probe] = []
            for key, single in readings(resolution.candidates, self.registry.clients):
                try:
                    result = await self._ask(single.routes[0], resolution.number, single, "uk")
                except CarrierError as err:
                    probes.append(Probe(key, None, err))
                else:
                    probes.append(Probe(key, result, None))
        return resolution, probes, exchanges
