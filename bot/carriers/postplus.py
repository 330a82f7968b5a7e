"""PostPlus client: batch lookups by parcel number, statuses derived from /event-codes flags."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter

from bot.carriers.base import BatchOutcome
from bot.carriers.errors import CarrierError, CarrierResponseError, ParcelNotFound
from bot.carriers.http import DEFAULT_TIMEOUT, request_json
from bot.carriers.models import (
    ParcelStatus,
    TrackingEvent,
    TrackingResult,
    aware_utc,
    sort_events,
)

logger = logging.getLogger(__name__)

NAME = "postplus"
BATCH_SIZE = 50  # docs/api: get-many takes "up to 50 parcels"
EVENT_CODES_TTL = 24 * 3600.0  # the code list is configuration on PostPlus' side: rarely changes
EVENT_CODES_RETRY = 300.0  # after a failed fetch, live on the fallback table this long

_GET_MANY_PATH = "api/v1/tracking/parcel-nrs/get-many"
_EVENT_CODES_PATH = "api/v1/tracking/event-codes"

# Used until /event-codes answers: the only codes the public PostPlus pages show.
_FALLBACK_STATUS: Mapping[str, ParcelStatus] = MappingProxyType(
    {
        "CREATE_OR_UPDATE": ParcelStatus.INFO_RECEIVED,  # "Parcel data received or updated"
        "DELIVERED": ParcelStatus.DELIVERED,
    }
)

# isAtDestination covers both "in the destination country" and "waiting at a pickup point";
# only the message tells them apart. [?] the real messages are not public.
_PICKUP_WORDS = re.compile(r"pick[\s_-]?up|collect", re.IGNORECASE)

_EXTRAS_FIELDS = (
    ("destination_country", "destinationCountry"),
    ("last_mile_carrier", "carrier"),
    ("last_mile_number", "carrierParcelNr"),
    ("last_mile_url", "carrierUrl"),
)


class PostPlusClient:
    """Track PostPlus parcels by parcel number, up to 50 per request."""

    name = NAME
    batch_size = BATCH_SIZE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        limiter: AsyncLimiter | None = None,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._headers = {"X-API-KEY": api_key, "Accept": "application/json"}
        # PostPlus: "normally 5 requests per second"; one limiter per client and event loop.
        self._limiter = limiter if limiter is not None else AsyncLimiter(5, 1)
        self._timeout = timeout
        self._clock = clock
        self._codes_lock = asyncio.Lock()
        self._codes: Mapping[str, ParcelStatus] = _FALLBACK_STATUS
        self._codes_due = float("-inf")  # clock reading at which the table is (re)fetched

    async def track(self, number: str, lang: str = "uk") -> TrackingResult:
        """Look up one parcel number.

        Raises:
            ParcelNotFound: PostPlus has no events for the number.
            CarrierUnavailable: timeout, network failure, 5xx or 429.
            CarrierAuthError: the API key was refused.
            CarrierResponseError: the answer does not have the documented shape.
        """
        outcome = (await self.track_many([number], lang))[number]
        if isinstance(outcome, CarrierError):
            raise outcome
        return outcome

    async def track_many(self, numbers: Sequence[str], lang: str = "uk") -> BatchOutcome:
        """Look up parcel numbers, 50 per request; unknown numbers map to ParcelNotFound.

        PostPlus has no language parameter: ``lang`` is accepted for the protocol and ignored.

        Raises:
            CarrierUnavailable: a request timed out, failed or was rate limited.
            CarrierAuthError: the API key was refused.
            CarrierResponseError: an answer does not have the documented shape.
        """
        wanted = list(dict.fromkeys(numbers))
        if not wanted:
            return {}
        statuses = await self._status_table()
        outcomes: dict[str, TrackingResult | CarrierError] = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            chunk = wanted[start : start + BATCH_SIZE]
            body = await self._get(_GET_MANY_PATH, {"ParcelNrs": ",".join(chunk)})
            outcomes.update(_parse_get_many(body, chunk, statuses))
        return outcomes

    async def _status_table(self) -> Mapping[str, ParcelStatus]:
        """Return event code → status, fetching /event-codes at most once per TTL."""
        async with self._codes_lock:
            if self._clock() >= self._codes_due:
                try:
                    fetched = _parse_event_codes(await self._get(_EVENT_CODES_PATH))
                except CarrierError as err:
                    # A missing table only makes statuses coarser; never fail a lookup for it.
                    logger.warning("PostPlus event codes unavailable, keeping old table: %s", err)
                    self._codes_due = self._clock() + EVENT_CODES_RETRY
                else:
                    self._codes = MappingProxyType({**_FALLBACK_STATUS, **fetched})
                    self._codes_due = self._clock() + EVENT_CODES_TTL
            return self._codes

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET a path under the base URL through the rate limiter and return its JSON."""
        async with self._limiter:
            response = await request_json(
                self._session,
                "GET",
                self._base_url + path,
                carrier=NAME,
                timeout=self._timeout,
                headers=self._headers,
                params=params,
            )
        return response.body


def status_from_flags(message: str, flags: Mapping[str, object]) -> ParcelStatus:
    """Derive a normalized status from one /event-codes entry's milestone flags."""
    if flags.get("isDelivered") is True:
        return ParcelStatus.DELIVERED
    if flags.get("isAtDestination") is True:
        if _PICKUP_WORDS.search(message):
            return ParcelStatus.READY_FOR_PICKUP
        return ParcelStatus.IN_TRANSIT
    if flags.get("isDeparted") is True:
        return ParcelStatus.IN_TRANSIT
    if flags.get("isStartclock") is True:
        # Start of the transit clock = PostPlus has physically received the parcel.
        return ParcelStatus.ACCEPTED
    if flags.get("isPreAlert") is True:
        return ParcelStatus.INFO_RECEIVED
    # [?] isStopclock without isDelivered (e.g. a return or loss?) is not described anywhere.
    return ParcelStatus.UNKNOWN


def _parse_event_codes(payload: Any) -> dict[str, ParcelStatus]:
    """Read the /event-codes list into code → status."""
    try:
        if not isinstance(payload, list):
            raise TypeError("event codes are not a list")
        table: dict[str, ParcelStatus] = {}
        for entry in payload:
            code = _required_text(entry, "code")
            table[code] = status_from_flags(_optional_text(entry, "message") or "", entry)
    except (KeyError, TypeError, ValueError) as err:
        raise CarrierResponseError(NAME, "unexpected event-codes answer") from err
    return table


def _parse_get_many(
    payload: Any, requested: Sequence[str], statuses: Mapping[str, ParcelStatus]
) -> dict[str, TrackingResult | CarrierError]:
    """Turn a get-many answer into one outcome per requested number."""
    try:
        if not isinstance(payload, list):
            raise TypeError("get-many answer is not a list")
        # Match case-insensitively: users type numbers in any case.
        found = {_required_text(item, "parcelNr").casefold(): item for item in payload}
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CarrierResponseError(NAME, "unexpected get-many answer") from err
    outcomes: dict[str, TrackingResult | CarrierError] = {}
    for number in requested:
        item = found.get(number.casefold())
        try:  # one damaged parcel fails alone, not its whole batch
            events = _parse_events(item.get("events"), statuses) if item else ()
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            logger.warning("PostPlus sent an unreadable history for %s: %s", number, err)
            outcomes[number] = CarrierResponseError(NAME, "unexpected events for this number")
            continue
        if item is None or not events:
            outcomes[number] = ParcelNotFound(NAME, "no tracking events for this number")
        else:
            outcomes[number] = TrackingResult(NAME, number, events, _extras(item))
    return outcomes


def _parse_events(
    raw_events: Any, statuses: Mapping[str, ParcelStatus]
) -> tuple[TrackingEvent, ...]:
    """Parse a parcel's events, keeping only the newest version of each eventId."""
    if raw_events is None:
        return ()
    if not isinstance(raw_events, list):
        raise TypeError("events is not a list")
    # PostPlus re-sends an updated event under the same eventId with a higher eventVersion.
    newest: dict[str, Mapping[str, Any]] = {}
    for index, raw in enumerate(raw_events):
        key = _optional_text(raw, "eventId") or f"#{index}"
        if key not in newest or _version(raw) >= _version(newest[key]):
            newest[key] = raw
    events: list[TrackingEvent] = []
    for raw in newest.values():
        code = _required_text(raw, "eventCode")
        if code not in statuses:
            logger.info("PostPlus eventCode %s is not in its event-code list", code)
        events.append(
            TrackingEvent(
                occurred_at=aware_utc(_required_text(raw, "eventTime")),
                status=statuses.get(code, ParcelStatus.UNKNOWN),
                code=code,
                description=_optional_text(raw, "eventMessage"),
                location=_optional_text(raw, "eventLocation"),
            )
        )
    return sort_events(events)


def _extras(item: Mapping[str, Any]) -> dict[str, str]:
    """Collect destination country and last-mile carrier details that are present."""
    extras: dict[str, str] = {}
    parcel_nr = _required_text(item, "parcelNr")
    for key, field in _EXTRAS_FIELDS:
        value = _optional_text(item, field)
        if value and not (field == "carrierParcelNr" and value == parcel_nr):
            extras[key] = value
    return extras


def _version(raw: Mapping[str, Any]) -> int:
    """Read eventVersion (a digit string in the samples) as a number; unknown sorts first."""
    value = raw.get("eventVersion")
    text = str(value) if isinstance(value, (str, int)) else ""
    return int(text) if text.isdigit() else -1


def _required_text(entry: Mapping[str, Any], key: str) -> str:
    """Return a string field that must be present."""
    value = entry[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _optional_text(entry: Mapping[str, Any], key: str) -> str | None:
    """Return a string field that may be missing, null or empty."""
    value = entry.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value
