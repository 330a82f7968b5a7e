"""Ukrposhta status-tracking client: barcodes in, normalized tracking results out."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.carriers.base import BatchOutcome
from bot.carriers.errors import (
    CarrierAuthError,
    CarrierError,
    CarrierResponseError,
    NotTrackable,
    ParcelNotFound,
)
from bot.carriers.http import DEFAULT_TIMEOUT, JsonResponse, gather_limited, request_json
from bot.carriers.models import ParcelStatus, TrackingEvent, TrackingResult, kyiv_local

logger = logging.getLogger(__name__)

NAME = "ukrposhta"
# [?] The docs limit POST /statuses to 50 barcodes; the limit of statuses/with-not-found, which
# the batch uses, is not stated anywhere: we assume the same.
BATCH_SIZE = 50
_SINGLE_CONCURRENCY = 4  # one-by-one fallback when a batch is refused as a whole
_NOT_TRACKABLE = "UPE02000"  # "Specified shipment has no tracking service"
_ACCEPT = frozenset({400, 404})  # error bodies we read ourselves

# Raw `event` code (compared as a string) → normalized status; carrier-apis.md §8.1.
_STATUS: dict[str, ParcelStatus] = {
    "10100": ParcelStatus.ACCEPTED,
    "10601": ParcelStatus.INFO_RECEIVED,  # created online, awaiting acceptance
    "10600": ParcelStatus.EXCEPTION,  # acceptance cancelled
    "10602": ParcelStatus.EXCEPTION,  # acceptance cancelled
    "10603": ParcelStatus.EXCEPTION,  # deleted by the client
    "10400": ParcelStatus.EXCEPTION,  # seen in one consumer only
    "10610": ParcelStatus.EXCEPTION,  # seen in one consumer only
    "20700": ParcelStatus.IN_TRANSIT,
    "20800": ParcelStatus.IN_TRANSIT,
    "20900": ParcelStatus.IN_TRANSIT,
    "21500": ParcelStatus.IN_TRANSIT,
    "31300": ParcelStatus.IN_TRANSIT,  # forwarded to another office
    "21400": ParcelStatus.READY_FOR_PICKUP,  # [?] "handed to storage"
    "21700": ParcelStatus.READY_FOR_PICKUP,
    "31100": ParcelStatus.DELIVERY_FAILED,  # [?] one consumer reads it as "in transit node"
    "31200": ParcelStatus.RETURNING,
    "31400": ParcelStatus.DELIVERY_FAILED,  # moved to storage, still collectable
    "41000": ParcelStatus.DELIVERED,  # unless handed to the sender, see _RETURNED_REASON_IDS
    "48000": ParcelStatus.DELIVERED,  # international item delivered abroad
    # [?] The API document says "Shipment is not handed over"; two consumers say "handed to
    # the sender". Read as not delivered (still collectable, polling goes on) until confirmed:
    # "returned" would end tracking, and stop pushes, for a parcel that may still arrive.
    "41010": ParcelStatus.DELIVERY_FAILED,
    "41020": ParcelStatus.RETURNED,
}
STATUS_BY_CODE: Mapping[str, ParcelStatus] = MappingProxyType(_STATUS)

# A 41000 "delivered" whose reason says it went to the sender is a completed return
# (docs' with-not-found sample: eventReason "відправнику", eventReason_id 10).
_DELIVERED = "41000"
_RETURNED_REASON_IDS = frozenset({"10"})
_RETURNED_REASONS = frozenset({"відправнику"})


# A parcel's route does not change: remembered per barcode and language, so a Refresh or a
# second chat costs one request instead of two. Bounded; the oldest are forgotten first.
ROUTE_CACHE_SIZE = 10_000


class UkrposhtaClient:
    """Track Ukrposhta barcodes through the StatusTracking API."""

    name = NAME
    batch_size = BATCH_SIZE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._session = session
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._timeout = timeout
        self._routes: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()

    def __repr__(self) -> str:
        # Spelled out so the token never shows up in a debug dump.
        return f"UkrposhtaClient(base_url={self._base_url!r})"

    async def track(self, number: str, lang: str = "uk") -> TrackingResult:
        """Return every event of one barcode, plus its route when the carrier gives it.

        Args:
            number: the barcode.
            lang: "en" asks the carrier for English; any other language gets Ukrainian.

        Raises:
            ParcelNotFound: the barcode is not (yet) registered.
            NotTrackable: Ukrposhta does not track this kind of barcode (UPE02000).
            CarrierUnavailable: timeout, network failure, 5xx or 429.
            CarrierAuthError: the token was refused.
            CarrierResponseError: the answer does not look like the documents say.
        """
        result = await self._statuses(number, lang)
        route = await self._route(number, lang)
        if not route:
            return result
        return TrackingResult(NAME, number, result.events, extras=route)

    async def track_many(self, numbers: Sequence[str], lang: str = "uk") -> BatchOutcome:
        """Look up many barcodes, 50 per request, without route calls.

        Args:
            numbers: the barcodes; duplicates are looked up once.
            lang: as for ``track``.

        Raises:
            CarrierUnavailable: the first request failed (later failures become outcomes).
            CarrierAuthError: the token was refused.
            CarrierResponseError: the first answer could not be read.
        """
        unique = list(dict.fromkeys(numbers))
        outcomes: dict[str, TrackingResult | CarrierError] = {}
        for start in range(0, len(unique), BATCH_SIZE):
            chunk = unique[start : start + BATCH_SIZE]
            try:
                outcomes.update(await self._with_not_found(chunk, lang))
            except CarrierAuthError:
                raise
            except CarrierError as err:
                if not outcomes:
                    raise
                # Keep what earlier chunks gave; stop asking a carrier that just failed.
                outcomes.update(dict.fromkeys(unique[start:], err))
                break
        return outcomes

    async def _statuses(self, number: str, lang: str) -> TrackingResult:
        """Fetch and parse the full history of one barcode."""
        params = {"barcode": number}
        if lang == "en":
            params["lang"] = "en"
        response = await self._get("statuses", params=params)
        _raise_for_error(response, number)
        result = _parse_statuses(number, response.body)
        if not result.events:
            raise ParcelNotFound(NAME, "no events for this barcode")
        return result

    async def _route(self, number: str, lang: str) -> dict[str, str]:
        """Fetch the route, or nothing: the route is a nicety, never worth failing a lookup."""
        key = (number, "en" if lang == "en" else "uk")
        if key in self._routes:
            self._routes.move_to_end(key)
            return dict(self._routes[key])
        path = f"barcodes/{quote(number, safe='')}/route"
        if lang == "en":
            path += "/in-lang/EN"
        try:
            response = await self._get(path)
            if response.status != 200:
                return {}
            route = _parse_route(response.body)
        except CarrierError as err:
            logger.info("%s route lookup failed, showing the parcel without it: %s", NAME, err)
            return {}
        if len(route) < 2:  # an empty or partial answer may be temporary: none, asked again
            return {}
        self._routes[key] = route
        if len(self._routes) > ROUTE_CACHE_SIZE:
            self._routes.popitem(last=False)
        return dict(route)

    async def _with_not_found(
        self, chunk: list[str], lang: str
    ) -> dict[str, TrackingResult | CarrierError]:
        """Ask for one chunk of at most 50 barcodes."""
        response = await request_json(
            self._session,
            "POST",
            self._base_url + "statuses/with-not-found",
            carrier=NAME,
            accept=_ACCEPT,
            timeout=self._timeout,
            headers=self._headers,
            params={"lang": "en"} if lang == "en" else None,
            json=chunk,
        )
        error = _error_from(response, f"batch of {len(chunk)}")
        if isinstance(error, ParcelNotFound):
            return dict.fromkeys(chunk, error)
        if isinstance(error, NotTrackable):
            # The batch answer cannot say which barcode was refused: ask one by one.
            return await self._one_by_one(chunk, lang)
        if error is not None:
            raise error
        return _parse_with_not_found(chunk, response.body)

    async def _one_by_one(
        self, chunk: list[str], lang: str
    ) -> dict[str, TrackingResult | CarrierError]:
        """Look up each barcode of a refused batch on its own."""
        results = await gather_limited(
            _SINGLE_CONCURRENCY, *(self._statuses(number, lang) for number in chunk)
        )
        outcomes: dict[str, TrackingResult | CarrierError] = {}
        for number, result in zip(chunk, results, strict=True):
            if isinstance(result, CarrierAuthError) or (
                isinstance(result, BaseException) and not isinstance(result, CarrierError)
            ):
                raise result
            outcomes[number] = result
        return outcomes

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> JsonResponse:
        """Send an authorized GET relative to the base URL."""
        return await request_json(
            self._session,
            "GET",
            self._base_url + path,
            carrier=NAME,
            accept=_ACCEPT,
            timeout=self._timeout,
            headers=self._headers,
            params=params,
        )


def _raise_for_error(response: JsonResponse, number: str) -> None:
    """Raise the error an answer stands for, if it is one."""
    error = _error_from(response, number)
    if error is not None:
        raise error


def _error_from(response: JsonResponse, numbers: str) -> CarrierError | None:
    """Read an error answer (404, or a `{"code", "message"}` body) into our error tree."""
    body = response.body
    code = body.get("code") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    if code == _NOT_TRACKABLE:
        return NotTrackable(NAME, f"{numbers}: {message or 'no tracking service'}")
    if response.status == 404:
        return ParcelNotFound(NAME, f"{numbers}: {message or 'not found'}")
    if response.status == 400 or code is not None:
        return CarrierResponseError(NAME, f"HTTP {response.status} error code {code!r}: {message}")
    return None


def _parse_statuses(number: str, payload: Any) -> TrackingResult:
    """Turn a `GET statuses` answer (a list of events) into a result.

    Raises:
        CarrierResponseError: the payload is not a list of well-formed events.
    """
    if not isinstance(payload, list):
        raise CarrierResponseError(NAME, f"events are {type(payload).__name__}, not a list")
    return TrackingResult(NAME, number, _parse_events(payload))


def _parse_with_not_found(
    numbers: Sequence[str], payload: Any
) -> dict[str, TrackingResult | CarrierError]:
    """Split a `with-not-found` answer into a result or an error per barcode.

    A barcode whose own events are malformed gets a CarrierResponseError as its outcome.

    Raises:
        CarrierResponseError: the payload lacks `found`/`notFound`.
    """
    try:
        found = payload["found"]
        not_found = payload["notFound"]
    except (KeyError, TypeError) as err:
        raise CarrierResponseError(NAME, "batch answer without found/notFound") from err
    if not isinstance(found, dict) or not isinstance(not_found, list):
        raise CarrierResponseError(NAME, "batch answer with malformed found/notFound")
    events_by_number = {str(key).strip().upper(): events for key, events in found.items()}
    outcomes: dict[str, TrackingResult | CarrierError] = {}
    for number in numbers:
        events = events_by_number.get(number.strip().upper())
        if events is None:
            # Numbers in neither list are unknown to the carrier as far as we can tell.
            outcomes[number] = ParcelNotFound(NAME, f"{number}: not found")
            continue
        try:
            result = _parse_statuses(number, events)
        except CarrierResponseError as err:
            # One garbled history must not hide the other parcels of the batch.
            outcomes[number] = err
            continue
        outcomes[number] = result if result.events else ParcelNotFound(NAME, f"{number}: empty")
    return outcomes


def _parse_route(payload: Any) -> dict[str, str]:
    """Turn a route answer `{"from", "to"}` into result extras, skipping empty ends.

    Raises:
        CarrierResponseError: the payload is not an object of strings.
    """
    if not isinstance(payload, dict):
        raise CarrierResponseError(NAME, "route answer is not an object")
    extras: dict[str, str] = {}
    for key, extra in (("from", "route_from"), ("to", "route_to")):
        text = _optional_text(payload.get(key), key)
        if text:
            extras[extra] = text
    return extras


def _parse_events(items: list[Any]) -> tuple[TrackingEvent, ...]:
    """Parse raw events and order them by time, then by the carrier's step."""
    keyed: list[tuple[TrackingEvent, int]] = []
    for item in items:
        if not isinstance(item, dict):
            raise CarrierResponseError(NAME, "event is not an object")
        keyed.append((_parse_event(item), _step(item.get("step"))))
    keyed.sort(key=lambda pair: (pair[0].occurred_at, pair[1]))
    return tuple(event for event, _ in keyed)


def _parse_event(item: dict[str, Any]) -> TrackingEvent:
    """Parse one raw event object."""
    try:
        raw_code, raw_date = item["event"], item["date"]
    except KeyError as err:
        raise CarrierResponseError(NAME, f"event without {err.args[0]!r}") from err
    code = _optional_text(raw_code, "event")
    if code is None:
        raise CarrierResponseError(NAME, "event with an empty code")
    if not isinstance(raw_date, str):
        raise CarrierResponseError(NAME, f"event date is {type(raw_date).__name__}")
    try:
        occurred_at = kyiv_local(raw_date)
    except ValueError as err:
        raise CarrierResponseError(NAME, f"unreadable event date {raw_date!r}") from err
    reason = _optional_text(item.get("eventReason"), "eventReason")
    reason_id = _optional_text(item.get("eventReason_id"), "eventReason_id")
    return TrackingEvent(
        occurred_at=occurred_at,
        status=_status_of(code, reason_id, reason),
        code=code,
        description=_describe(_optional_text(item.get("eventName"), "eventName"), reason),
        location=_optional_text(item.get("name"), "name"),
        postcode=_optional_text(item.get("index"), "index"),
    )


def _status_of(code: str, reason_id: str | None, reason: str | None) -> ParcelStatus:
    """Map an event code (and, for deliveries, its reason) to a normalized status."""
    if code == _DELIVERED and (
        reason_id in _RETURNED_REASON_IDS or (reason or "").casefold() in _RETURNED_REASONS
    ):
        return ParcelStatus.RETURNED
    status = _STATUS.get(code)
    if status is None:
        logger.info("%s: unknown event code %s", NAME, code)
        return ParcelStatus.UNKNOWN
    return status


def _describe(event_name: str | None, reason: str | None) -> str | None:
    """Join the event name and its reason, unless the name already says it."""
    if event_name and reason and reason.casefold() not in event_name.casefold():
        return f"{event_name}: {reason}"
    return event_name or reason


def _optional_text(value: Any, field: str) -> str | None:
    """Read a string-or-number field as stripped text; None and blanks are None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CarrierResponseError(NAME, f"{field} is {type(value).__name__}")
    return str(value).strip() or None


def _step(value: Any) -> int:
    """Read the carrier's step number, used only to order events with equal times."""
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError, OverflowError) as err:  # 1e400 and Infinity parse as JSON
        raise CarrierResponseError(NAME, f"unreadable step {value!r}") from err
