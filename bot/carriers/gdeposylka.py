"""GdePosylka API v4 client: courier detection, tracking, and the quotas the API imposes.

The v4 terms forbid using the API for services whose main function is parcel tracking
(docs/carrier-apis.md §0): enable this client only with GdePosylka's written permission.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from types import MappingProxyType
from typing import Any, Literal, Protocol, cast
from urllib.parse import quote

import aiohttp
from aiolimiter import AsyncLimiter

from bot.carriers.base import BatchOutcome
from bot.carriers.errors import (
    BudgetExhausted,
    CarrierAuthError,
    CarrierError,
    CarrierRateLimited,
    CarrierResponseError,
    CarrierUnavailable,
    ParcelNotFound,
    TrackingPending,
)
from bot.carriers.http import DEFAULT_TIMEOUT, request_json
from bot.carriers.models import (
    ParcelStatus,
    TrackingEvent,
    TrackingResult,
    sort_events,
    wall_clock,
)

logger = logging.getLogger(__name__)

NAME = "gdeposylka"
DAILY_NEW_NUMBERS = 2000  # "2 тысячи запросов с новыми треками в день"
REQUESTS_PER_MINUTE = 30  # "лимит 30 запросов в минуту"

# [?] Checkpoint times are "Y-m-d H:i:s" and the zone is undocumented; change it here.
CHECKPOINT_ZONE: tzinfo = UTC
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# Error statuses whose JSON body says what went wrong; request_json maps the rest.
_READABLE_ERROR_STATUSES = frozenset({400, 404, 422})

DetectResult = Literal["success", "unsure", "unknown"]
_DETECT_RESULTS = frozenset({"success", "unsure", "unknown"})

# status_code → status. The vocabulary is not public: docs/api shows delivered, accepted and
# other; the rest come from GdePosylka's own app code (carrier-apis.md §8.3).
STATUS_BY_CODE: Mapping[str, ParcelStatus] = MappingProxyType(
    {
        "delivered": ParcelStatus.DELIVERED,
        "accepted": ParcelStatus.ACCEPTED,
        "arrived": ParcelStatus.READY_FOR_PICKUP,  # [?]
        "arrived_pickup": ParcelStatus.READY_FOR_PICKUP,  # [?]
        "arrived_locker": ParcelStatus.READY_FOR_PICKUP,  # [?]
        "out_for_delivery": ParcelStatus.OUT_FOR_DELIVERY,  # [?]
        "failed_attempt": ParcelStatus.DELIVERY_FAILED,  # [?]
        "exception": ParcelStatus.EXCEPTION,  # [?]
        "expired": ParcelStatus.EXCEPTION,  # [?]
        "cancelled": ParcelStatus.EXCEPTION,  # [?]
        # "Not classified": GdePosylka could not name it, but a checkpoint means movement.
        "other": ParcelStatus.IN_TRANSIT,
    }
)
# Families of codes recognised by a fragment, tried in order after the exact table. [?]
_STATUS_BY_FRAGMENT = (
    ("courier", ParcelStatus.OUT_FOR_DELIVERY),
    ("last_mile", ParcelStatus.OUT_FOR_DELIVERY),
    ("export", ParcelStatus.IN_TRANSIT),
    ("border", ParcelStatus.IN_TRANSIT),
    ("import", ParcelStatus.IN_TRANSIT),
    ("customs", ParcelStatus.IN_TRANSIT),
)


@dataclass(frozen=True, slots=True)
class Courier:
    """A delivery service as GdePosylka names it."""

    slug: str
    name: str
    name_alt: str | None = None
    country_code: str | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    """Which couriers a number may belong to, and how sure GdePosylka is."""

    result: DetectResult
    couriers: tuple[Courier, ...] = ()


class DetectCache(Protocol):
    """Where detection answers are remembered, so each number is detected once."""

    async def get(self, number: str) -> Detection | None:
        """Return the remembered detection of a number, if any."""
        ...

    async def put(self, number: str, detection: Detection) -> None:
        """Remember a number's detection."""
        ...


class MemoryDetectCache:
    """Keep detections in memory, forgetting the oldest beyond ``max_entries``."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max_entries
        self._entries: dict[str, Detection] = {}

    async def get(self, number: str) -> Detection | None:
        """Return the remembered detection of a number, if any."""
        return self._entries.get(number)

    async def put(self, number: str, detection: Detection) -> None:
        """Remember a number's detection."""
        self._entries.pop(number, None)
        self._entries[number] = detection
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]


class NewNumberBudget(Protocol):
    """The daily quota of distinct numbers sent to GdePosylka."""

    async def admit(self, number: str) -> bool:
        """Tell whether the number may be sent today, counting it if it is new today."""
        ...

    async def reserve(self, numbers: Sequence[str]) -> set[str]:
        """Admit numbers in order, as admit would one by one; return those counted (new)."""
        ...

    async def release(self, numbers: Sequence[str]) -> None:
        """Uncount numbers reserved but never sent (they are new to GdePosylka still)."""
        ...


def _utc_now() -> datetime:
    """Return the current aware UTC time."""
    return datetime.now(UTC)


class MemoryNewNumberBudget:
    """Count distinct numbers per UTC day in memory."""

    def __init__(
        self, limit: int = DAILY_NEW_NUMBERS, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._day: date | None = None
        self._numbers: set[str] = set()

    async def admit(self, number: str) -> bool:
        """Tell whether the number may be sent today, counting it if it is new today."""
        today = self._clock().astimezone(UTC).date()
        if today != self._day:
            self._day = today
            self._numbers.clear()
        if number in self._numbers:
            return True
        if len(self._numbers) >= self._limit:
            return False
        self._numbers.add(number)
        return True

    async def reserve(self, numbers: Sequence[str]) -> set[str]:
        """Admit numbers in order, as admit would one by one; return those this call counted."""
        before = set(self._numbers) if self._day == self._clock().astimezone(UTC).date() else set()
        return {number for number in numbers if await self.admit(number)} - before

    async def release(self, numbers: Sequence[str]) -> None:
        """Uncount numbers reserved but never sent."""
        self._numbers.difference_update(numbers)


class GdePosylkaClient:
    """Detect the courier of a number and track it through GdePosylka, one number per call."""

    name = NAME
    batch_size = 1

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str,
        budget: NewNumberBudget | None = None,
        detect_cache: DetectCache | None = None,
        limiter: AsyncLimiter | None = None,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._session = session
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        # The docs require Content-Type on every request, bodiless GETs included.
        self._headers = {"X-Authorization-Token": token, "Content-Type": "application/json"}
        self._budget = budget if budget is not None else MemoryNewNumberBudget()
        self._detect_cache = detect_cache if detect_cache is not None else MemoryDetectCache()
        # One bucket for detect and track: the 30/min limit counts every request.
        self._limiter = limiter if limiter is not None else AsyncLimiter(REQUESTS_PER_MINUTE, 60)
        self._timeout = timeout

    async def detect(self, number: str) -> Detection:
        """Ask which couriers a number may belong to; answers are cached per number.

        Raises:
            BudgetExhausted: the number is new and today's quota of new numbers is used up.
            CarrierUnavailable: timeout, network failure, 5xx or 429.
            CarrierAuthError: the token was refused.
            CarrierResponseError: the answer does not have the documented shape.
        """
        cached = await self._detect_cache.get(number)
        if cached is not None:
            return cached
        await self._admit(number)
        detection = _parse_detection(await self._get(f"tracker/detect/{_segment(number)}"))
        await self._detect_cache.put(number, detection)
        return detection

    async def track(
        self, number: str, lang: str = "uk", courier: str | None = None
    ) -> TrackingResult:
        """Track a number with the given courier slug, or with the first detected courier.

        GdePosylka answers in Russian only: ``lang`` is accepted for the protocol and ignored.

        Raises:
            ParcelNotFound: no courier recognises the number, or GdePosylka says not found.
            TrackingPending: GdePosylka is still collecting the number's first data.
            BudgetExhausted: the number is new and today's quota of new numbers is used up.
            CarrierUnavailable: timeout, network failure, 5xx or 429.
            CarrierAuthError: the token was refused.
            CarrierResponseError: the answer does not have the documented shape.
        """
        await self._admit(number)
        slug = courier or await self._first_courier(number)
        body = await self._get(f"tracker/{_segment(slug)}/{_segment(number)}")
        return _parse_tracking(number, body)

    async def track_many(self, numbers: Sequence[str], lang: str = "uk") -> BatchOutcome:
        """Track numbers one after another, paced by the rate limiter.

        Raises:
            CarrierUnavailable: GdePosylka is down or rate limits us; the batch stops.
            CarrierAuthError: the token was refused.
        """
        outcomes: dict[str, TrackingResult | CarrierError] = {}
        for number in dict.fromkeys(numbers):
            try:
                outcomes[number] = await self.track(number, lang)
            except BudgetExhausted as err:
                # Numbers already counted today may still go through: keep going.
                outcomes[number] = err
            except (CarrierUnavailable, CarrierAuthError):
                raise
            except CarrierError as err:
                outcomes[number] = err
        return outcomes

    async def reserve(self, numbers: Sequence[str]) -> set[str]:
        """Count numbers against today's budget in one go, before tracking them one by one.

        The poller calls this per chunk: one storage round trip instead of one per number.
        Numbers the budget refuses are refused again by track(), which makes no request.

        Returns:
            The numbers this call counted (new until now): only those may be released.
        """
        return await self._budget.reserve(numbers)

    async def release(self, numbers: Sequence[str]) -> None:
        """Uncount reserved numbers that were not sent after all (the carrier was paused).

        Otherwise our count would take them for known to GdePosylka, which counts them as new
        when they are first sent: we would send more new numbers a day than it allows. Pass
        only numbers ``reserve`` counted: one sent earlier is known to GdePosylka already.
        """
        await self._budget.release(numbers)

    async def _first_courier(self, number: str) -> str:
        """Return the slug of the most likely courier, or raise ParcelNotFound."""
        detection = await self.detect(number)
        if detection.result == "unknown" or not detection.couriers:
            raise ParcelNotFound(NAME, "no courier recognises this number")
        return detection.couriers[0].slug

    async def _admit(self, number: str) -> None:
        """Count the number against the daily quota before any request is made."""
        if not await self._budget.admit(number):
            raise BudgetExhausted(NAME, BudgetExhausted.MESSAGE)

    async def _get(self, path: str) -> Any:
        """GET a path under the base URL through the rate limiter; raise on error bodies."""
        async with self._limiter:
            response = await request_json(
                self._session,
                "GET",
                self._base_url + path,
                carrier=NAME,
                accept=_READABLE_ERROR_STATUSES,
                timeout=self._timeout,
                headers=self._headers,
            )
        _raise_for_error(response.body)
        if response.status >= 400:
            raise CarrierResponseError(NAME, f"unexpected HTTP {response.status}")
        return response.body


def _segment(value: str) -> str:
    """Quote a value for use as one URL path segment."""
    return quote(value, safe="")


def _raise_for_error(body: Any) -> None:
    """Raise the matching CarrierError for a documented error body."""
    if not (isinstance(body, dict) and body.get("result") == "error"):
        return
    message = str(body.get("error") or "unspecified error")[:200]
    lowered = message.casefold()
    if "token" in lowered:
        raise CarrierAuthError(NAME, message)
    if "not found" in lowered or "не найден" in lowered:
        raise ParcelNotFound(NAME, message)
    if "limit" in lowered or "лимит" in lowered:  # [?] wording of quota errors is not documented
        raise CarrierRateLimited(NAME, message)
    raise CarrierResponseError(NAME, message)


def status_for_code(code: str | None) -> ParcelStatus:
    """Map a checkpoint's status_code to a normalized status."""
    if code is None:
        # null: GdePosylka has not processed the raw status yet; the checkpoint still is movement.
        return ParcelStatus.IN_TRANSIT
    exact = STATUS_BY_CODE.get(code)
    if exact is not None:
        return exact
    for fragment, status in _STATUS_BY_FRAGMENT:
        if fragment in code:
            return status
    logger.info("GdePosylka status_code %s is not mapped", code)
    return ParcelStatus.UNKNOWN


def _parse_detection(body: Any) -> Detection:
    """Read a detect answer."""
    try:
        result = body["result"]
        if result not in _DETECT_RESULTS:
            raise ValueError(f"detect result {result!r}")
        couriers = tuple(_parse_courier(item["courier"]) for item in body.get("data") or ())
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CarrierResponseError(NAME, "unexpected detect answer") from err
    return Detection(cast(DetectResult, result), couriers)


def _parse_tracking(number: str, body: Any) -> TrackingResult:
    """Read a tracker answer into a TrackingResult."""
    try:
        result = body["result"]
        if result == "waiting":
            raise TrackingPending(NAME, "GdePosylka is collecting the first data")
        if result != "success":
            raise ValueError(f"tracker result {result!r}")
        data = body["data"]
        courier = _parse_courier(data["courier"])
        checkpoints = data.get("checkpoints")
        if checkpoints is None:
            checkpoints = []
        if not isinstance(checkpoints, list):
            raise TypeError("checkpoints is not a list")
        # The API lists checkpoints newest first; reverse so equal times keep their real order.
        events = sort_events([_parse_checkpoint(raw) for raw in reversed(checkpoints)])
        delivered = data.get("is_delivered") is True
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CarrierResponseError(NAME, "unexpected tracker answer") from err
    return TrackingResult(
        carrier=NAME,
        number=number,
        events=events,
        extras={"courier_slug": courier.slug, "courier_name": courier.name},
        status_override=ParcelStatus.DELIVERED if delivered else None,
    )


def _parse_checkpoint(raw: Mapping[str, Any]) -> TrackingEvent:
    """Read one checkpoint."""
    code = _optional_text(raw, "status_code")
    text = _required_text(raw, "time")
    status_raw = _optional_text(raw, "status_raw")
    location_raw = _optional_text(raw, "location_raw")
    return TrackingEvent(
        occurred_at=wall_clock(text, _TIME_FORMAT, CHECKPOINT_ZONE),
        status=status_for_code(code),
        code=code or "other",
        description=_optional_text(raw, "status_name") or status_raw,
        location=_optional_text(raw, "location_translated") or location_raw,
        postcode=_optional_text(raw, "location_zip_code"),
        # status_code and location_translated are null until GdePosylka has processed the
        # checkpoint (docs): the raw texts, which come at once, keep the event the same event.
        identity=f"{status_raw}|{(location_raw or '').casefold()}" if status_raw else None,
    )


def _parse_courier(raw: Mapping[str, Any]) -> Courier:
    """Read a courier object."""
    slug = _required_text(raw, "slug")
    if not slug:
        raise ValueError("empty courier slug")
    return Courier(
        slug=slug,
        name=_optional_text(raw, "name") or slug,
        name_alt=_optional_text(raw, "name_alt"),
        country_code=_optional_text(raw, "country_code"),
    )


def _required_text(entry: Mapping[str, Any], key: str) -> str:
    """Return a string field that must be present."""
    value = entry[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _optional_text(entry: Mapping[str, Any], key: str) -> str | None:
    """Return a field that may be missing, null or empty; numbers (zip codes) become text."""
    value = entry.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{key} is not a string")
    return str(value)
