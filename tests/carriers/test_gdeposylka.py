"""GdePosylkaClient against a loopback server serving the answers from the API page."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiolimiter import AsyncLimiter

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
from bot.carriers.gdeposylka import (
    Courier,
    Detection,
    GdePosylkaClient,
    MemoryDetectCache,
    MemoryNewNumberBudget,
    _parse_checkpoint,
    _parse_detection,
    _parse_tracking,
    status_for_code,
)
from bot.carriers.models import ParcelStatus, TrackingResult
from tests.conftest import load_fixture

TOKEN = "gp-test-token-0123456789"
DELIVERED = "LM951174328CN"  # the API page's tracking sample
WAITING = "LM951174329CN"  # the API page's "freshly added" sample
MALAYSIA = "FTL02045437MY"
UNSURE = "EC201092176RO"
UNKNOWN = "EC20106RO"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fixture(name: str) -> Any:
    return load_fixture("gdeposylka", name)


def in_transit_answer(number: str, slug: str) -> dict[str, Any]:
    answer: dict[str, Any] = copy.deepcopy(fixture("track_success.json"))
    answer["data"]["tracking_number"] = number
    answer["data"]["courier"] = {"slug": slug, "name": slug.upper(), "country_code": "USA"}
    answer["data"]["is_delivered"] = False
    answer["data"]["checkpoints"] = answer["data"]["checkpoints"][1:]
    return answer


class FakeGdePosylka:
    """A loopback GdePosylka that answers from fixtures and records every request."""

    def __init__(self) -> None:
        self.detections: dict[str, Any] = {
            DELIVERED: fixture("detect_china_post.json"),
            WAITING: fixture("detect_china_post.json"),
            MALAYSIA: fixture("detect_success.json"),
            UNSURE: fixture("detect_unsure.json"),
            UNKNOWN: fixture("detect_unknown.json"),
        }
        self.trackings: dict[tuple[str, str], Any] = {
            ("china-post", DELIVERED): fixture("track_success.json"),
            ("china-post", WAITING): fixture("track_waiting.json"),
            ("usps", UNSURE): in_transit_answer(UNSURE, "usps"),
            ("malaysia-post", MALAYSIA): in_transit_answer(MALAYSIA, "malaysia-post"),
        }
        self.handler: Handler | None = None
        self.requests: list[web.Request] = []
        self.server: TestServer | None = None

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    async def detect(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if self.handler is not None:
            return await self.handler(request)
        return web.json_response(self.detections[request.match_info["number"]])

    async def track(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if self.handler is not None:
            return await self.handler(request)
        key = (request.match_info["slug"], request.match_info["number"])
        if key not in self.trackings:
            return web.json_response({"result": "error", "error": "Not found", "messages": []})
        return web.json_response(self.trackings[key])


class CountingLimiter(AsyncLimiter):
    """An AsyncLimiter that counts acquisitions."""

    def __init__(self) -> None:
        super().__init__(1000, 1)
        self.acquired = 0

    async def acquire(self, amount: float = 1) -> None:
        self.acquired += 1
        await super().acquire(amount)


def answer(status: int, body: str, content_type: str = "application/json") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=body, content_type=content_type)

    return handler


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeGdePosylka:
    fake = FakeGdePosylka()
    app = web.Application()
    # Registered first, so "detect" is never taken for a courier slug.
    app.router.add_get("/tracker/detect/{number}", fake.detect)
    app.router.add_get("/tracker/{slug}/{number}", fake.track)
    fake.server = await aiohttp_server(app)
    return fake


def make_client(
    session: aiohttp.ClientSession, fake: FakeGdePosylka, **kwargs: Any
) -> GdePosylkaClient:
    assert fake.server is not None
    return GdePosylkaClient(session, str(fake.server.make_url("/")), TOKEN, **kwargs)


async def test_detect_success_sends_token_and_content_type(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    client = make_client(http_session, fake)

    detection = await client.detect(MALAYSIA)

    assert detection == Detection(
        "success", (Courier("malaysia-post", "Почта Малайзии", "Malaysia Post", "MYS"),)
    )
    assert fake.paths() == [f"/tracker/detect/{MALAYSIA}"]
    headers = fake.requests[0].headers
    assert headers["X-Authorization-Token"] == TOKEN
    assert headers["Content-Type"] == "application/json"


async def test_detect_unsure_keeps_every_candidate_in_order(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    client = make_client(http_session, fake)

    detection = await client.detect(UNSURE)

    assert detection.result == "unsure"
    assert [c.slug for c in detection.couriers] == ["usps", "singapore-post"]


async def test_detect_unknown(http_session: aiohttp.ClientSession, fake: FakeGdePosylka) -> None:
    client = make_client(http_session, fake)

    assert await client.detect(UNKNOWN) == Detection("unknown", ())


@pytest.mark.parametrize("lang", ["uk", "en", "ru"])
async def test_track_detects_then_tracks(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka, lang: str
) -> None:
    client = make_client(http_session, fake)

    result = await client.track(DELIVERED, lang)

    assert fake.paths() == [f"/tracker/detect/{DELIVERED}", f"/tracker/china-post/{DELIVERED}"]
    # No language parameter exists: every language sends the same request.
    assert all(not r.query for r in fake.requests)
    assert all(r.headers["X-Authorization-Token"] == TOKEN for r in fake.requests)
    assert result.carrier == "gdeposylka"
    assert result.number == DELIVERED
    assert result.delivered
    assert result.extras == {"courier_slug": "china-post", "courier_name": "Почта Китая"}
    first, middle, last = result.events
    assert [e.code for e in result.events] == ["accepted", "other", "delivered"]
    assert [e.status for e in result.events] == [
        ParcelStatus.ACCEPTED,
        ParcelStatus.IN_TRANSIT,
        ParcelStatus.DELIVERED,
    ]
    assert first.occurred_at == datetime(2015, 7, 16, 12, 29, tzinfo=UTC)
    assert first.location == "Shenzhen post office express couriers"
    assert first.postcode is None
    assert first.description == "Посылка принята"
    assert middle.description == "Неудачная попытка вручения - Временное отсутствие адресата"
    assert last.location == "Воронеж 88"
    assert last.postcode == "394088"


async def test_track_unsure_uses_first_courier(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    client = make_client(http_session, fake)

    result = await client.track(UNSURE)

    assert fake.paths()[-1] == f"/tracker/usps/{UNSURE}"
    assert result.status is ParcelStatus.IN_TRANSIT
    assert result.extras["courier_slug"] == "usps"


async def test_track_with_courier_skips_detect(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    client = make_client(http_session, fake)

    result = await client.track(DELIVERED, courier="china-post")

    assert fake.paths() == [f"/tracker/china-post/{DELIVERED}"]
    assert result.delivered


async def test_number_is_one_quoted_path_segment(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    client = make_client(http_session, fake)

    with pytest.raises(ParcelNotFound):
        await client.track("AB/12?x=1", courier="usps")

    assert fake.requests[0].match_info == {"slug": "usps", "number": "AB/12?x=1"}
    assert not fake.requests[0].query


async def test_waiting_raises_tracking_pending(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    client = make_client(http_session, fake)

    with pytest.raises(TrackingPending):
        await client.track(WAITING)


async def test_unknown_detection_raises_not_found_without_tracking(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    client = make_client(http_session, fake)

    with pytest.raises(ParcelNotFound) as excinfo:
        await client.track(UNKNOWN)

    assert type(excinfo.value) is ParcelNotFound
    assert fake.paths() == [f"/tracker/detect/{UNKNOWN}"]


async def test_detection_is_cached(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    cache = MemoryDetectCache()
    client = make_client(http_session, fake, detect_cache=cache)

    await client.track(DELIVERED)
    await client.track(DELIVERED)
    await client.detect(DELIVERED)
    for _ in range(2):
        with pytest.raises(ParcelNotFound):
            await client.track(UNKNOWN)

    assert fake.paths() == [
        f"/tracker/detect/{DELIVERED}",
        f"/tracker/china-post/{DELIVERED}",
        f"/tracker/china-post/{DELIVERED}",
        f"/tracker/detect/{UNKNOWN}",
    ]
    cached = await cache.get(DELIVERED)
    assert cached is not None
    assert cached.couriers[0].slug == "china-post"


async def test_memory_detect_cache_forgets_the_oldest() -> None:
    cache = MemoryDetectCache(max_entries=2)
    for number in ("A", "B", "C"):
        await cache.put(number, Detection("unknown"))

    assert await cache.get("A") is None
    assert await cache.get("C") == Detection("unknown")


async def test_budget_exhausted_raises_before_any_request(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    client = make_client(http_session, fake, budget=MemoryNewNumberBudget(limit=1))
    await client.track(DELIVERED)
    assert len(fake.requests) == 2

    with pytest.raises(BudgetExhausted):
        await client.track(MALAYSIA)
    with pytest.raises(BudgetExhausted):
        await client.detect(MALAYSIA)
    with pytest.raises(BudgetExhausted):
        await client.track(MALAYSIA, courier="malaysia-post")
    assert len(fake.requests) == 2

    await client.track(DELIVERED)  # counted already today: still allowed
    assert len(fake.requests) == 3


class FakeNow:
    """A wall clock the test sets by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_memory_budget_resets_at_utc_midnight() -> None:
    clock = FakeNow(datetime(2025, 3, 30, 23, 59, tzinfo=UTC))
    budget = MemoryNewNumberBudget(limit=2, clock=clock)

    assert await budget.admit("A")
    assert await budget.admit("B")
    assert not await budget.admit("C")
    assert await budget.admit("A")

    # 01:30 in Kyiv on the 31st is still the 30th in UTC.
    clock.now = datetime(2025, 3, 31, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    assert not await budget.admit("C")

    clock.now = datetime(2025, 3, 31, 0, 0, tzinfo=UTC)
    assert await budget.admit("C")
    assert await budget.admit("D")
    assert not await budget.admit("A")


async def test_detect_and_track_share_the_limiter(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    limiter = CountingLimiter()
    client = make_client(http_session, fake, limiter=limiter)

    await client.track(DELIVERED)
    await client.track(MALAYSIA)
    await client.track(DELIVERED)

    assert len(fake.requests) == 5
    assert limiter.acquired == 5


async def test_default_limiter_paces_a_burst(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    client = make_client(http_session, fake)

    async def detect_all() -> None:
        # 30 requests fit in the bucket; the 31st has to wait about two seconds.
        for i in range(31):
            fake.detections[f"N{i}"] = fixture("detect_unknown.json")
            await client.detect(f"N{i}")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(detect_all(), timeout=1.0)
    assert len(fake.requests) == 30


@pytest.mark.parametrize("status", [200, 401, 403])
async def test_invalid_token_raises_auth_error(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka, status: int
) -> None:
    body = '{"result": "error", "error": "Invalid token", "messages": []}'
    assert fixture("error_invalid_token.json")["error"] == "Invalid token"
    fake.handler = answer(status, body)
    client = make_client(http_session, fake)

    with pytest.raises(CarrierAuthError) as excinfo:
        await client.track(DELIVERED)

    assert TOKEN not in str(excinfo.value)


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (200, "Tracking number not found", ParcelNotFound),
        (404, "Трек-номер не найден", ParcelNotFound),
        (400, "Wrong tracking number format", CarrierResponseError),
        (200, "Daily limit exceeded", CarrierRateLimited),
    ],
)
async def test_error_bodies(
    http_session: aiohttp.ClientSession,
    fake: FakeGdePosylka,
    status: int,
    message: str,
    expected: type[CarrierError],
) -> None:
    fake.handler = answer(status, f'{{"result": "error", "error": "{message}", "messages": []}}')
    client = make_client(http_session, fake)

    with pytest.raises(CarrierError) as excinfo:
        await client.track(DELIVERED, courier="china-post")

    assert type(excinfo.value) is expected
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        pytest.param(answer(429, '{"result": "error"}'), CarrierRateLimited, id="429"),
        pytest.param(answer(500, "oops", "text/plain"), CarrierUnavailable, id="500"),
        pytest.param(answer(200, '{"result": "succ'), CarrierResponseError, id="malformed"),
        pytest.param(
            answer(200, "<html><body>Cloudflare</body></html>", "text/html"),
            CarrierResponseError,
            id="html",
        ),
        pytest.param(answer(404, '{"message": "no route"}'), CarrierResponseError, id="404"),
        pytest.param(answer(200, '{"result": "maybe"}'), CarrierResponseError, id="odd-result"),
    ],
)
async def test_http_failures(
    http_session: aiohttp.ClientSession,
    fake: FakeGdePosylka,
    handler: Handler,
    expected: type[CarrierError],
) -> None:
    fake.handler = handler
    client = make_client(http_session, fake)

    with pytest.raises(CarrierError) as excinfo:
        await client.track(DELIVERED)

    assert type(excinfo.value) is expected


async def test_timeout_becomes_unavailable(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.0)
        return web.json_response(fixture("detect_unknown.json"))

    fake.handler = slow
    client = make_client(http_session, fake, timeout=aiohttp.ClientTimeout(total=0.3))
    started = time.monotonic()

    with pytest.raises(CarrierUnavailable) as excinfo:
        await client.detect(DELIVERED)

    assert type(excinfo.value) is CarrierUnavailable
    assert time.monotonic() - started < 0.9


async def test_track_many_gives_per_number_outcomes(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    client = make_client(http_session, fake, budget=MemoryNewNumberBudget(limit=3))

    outcomes = await client.track_many([DELIVERED, UNKNOWN, WAITING, DELIVERED, MALAYSIA])

    assert list(outcomes) == [DELIVERED, UNKNOWN, WAITING, MALAYSIA]
    assert isinstance(outcomes[DELIVERED], TrackingResult)
    assert type(outcomes[UNKNOWN]) is ParcelNotFound
    assert isinstance(outcomes[WAITING], TrackingPending)
    assert isinstance(outcomes[MALAYSIA], BudgetExhausted)
    assert f"/tracker/detect/{MALAYSIA}" not in fake.paths()


async def test_track_many_stops_on_auth_error(
    http_session: aiohttp.ClientSession, fake: FakeGdePosylka
) -> None:
    fake.handler = answer(200, '{"result": "error", "error": "Invalid token", "messages": []}')
    client = make_client(http_session, fake)

    with pytest.raises(CarrierAuthError):
        await client.track_many([DELIVERED, MALAYSIA])

    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("delivered", ParcelStatus.DELIVERED),
        ("accepted", ParcelStatus.ACCEPTED),
        ("arrived", ParcelStatus.READY_FOR_PICKUP),
        ("arrived_pickup", ParcelStatus.READY_FOR_PICKUP),
        ("arrived_locker", ParcelStatus.READY_FOR_PICKUP),
        ("out_for_delivery", ParcelStatus.OUT_FOR_DELIVERY),
        ("handed_to_courier", ParcelStatus.OUT_FOR_DELIVERY),
        ("last_mile_received", ParcelStatus.OUT_FOR_DELIVERY),
        ("failed_attempt", ParcelStatus.DELIVERY_FAILED),
        ("exception", ParcelStatus.EXCEPTION),
        ("expired", ParcelStatus.EXCEPTION),
        ("cancelled", ParcelStatus.EXCEPTION),
        ("customs_clearance", ParcelStatus.IN_TRANSIT),
        ("export_departed", ParcelStatus.IN_TRANSIT),
        ("import_arrived", ParcelStatus.IN_TRANSIT),
        ("border_crossed", ParcelStatus.IN_TRANSIT),
        ("other", ParcelStatus.IN_TRANSIT),
        (None, ParcelStatus.IN_TRANSIT),
        ("something_new", ParcelStatus.UNKNOWN),
    ],
)
def test_status_for_code(code: str | None, expected: ParcelStatus) -> None:
    assert status_for_code(code) is expected


def test_null_status_code_is_reported_as_other() -> None:
    body = fixture("track_success.json")
    body["data"]["checkpoints"][0]["status_code"] = None

    result = _parse_tracking(DELIVERED, body)

    assert result.events[-1].code == "other"
    assert result.events[-1].status is ParcelStatus.IN_TRANSIT


def test_is_delivered_overrides_the_last_checkpoint() -> None:
    body = fixture("track_success.json")
    body["data"]["checkpoints"] = body["data"]["checkpoints"][1:]  # newest is now "other"

    result = _parse_tracking(DELIVERED, body)

    assert result.latest is not None
    assert result.latest.status is ParcelStatus.IN_TRANSIT
    assert result.status is ParcelStatus.DELIVERED


def test_no_checkpoints_and_not_delivered_is_unknown() -> None:
    body = fixture("track_success.json")
    body["data"]["checkpoints"] = []
    body["data"]["is_delivered"] = False

    result = _parse_tracking(DELIVERED, body)

    assert result.events == ()
    assert result.status is ParcelStatus.UNKNOWN


def test_equal_times_keep_the_carriers_order() -> None:
    body = fixture("track_success.json")
    for checkpoint in body["data"]["checkpoints"]:
        checkpoint["time"] = "2015-07-28 19:35:00"

    result = _parse_tracking(DELIVERED, body)

    # Listed newest first by the API, so the first listed is the last that happened.
    assert [e.code for e in result.events] == ["accepted", "other", "delivered"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([], id="list"),
        pytest.param({"result": "maybe", "data": []}, id="odd-result"),
        pytest.param({"result": "success", "data": [{"courier": {}}]}, id="courier-no-slug"),
        pytest.param({"result": "success", "data": [{"tracking_number": "X"}]}, id="no-courier"),
    ],
)
def test_unexpected_detect_shapes(body: Any) -> None:
    with pytest.raises(CarrierResponseError):
        _parse_detection(body)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: b["data"].pop("courier"), id="no-courier"),
        pytest.param(lambda b: b["data"].update(checkpoints={}), id="checkpoints-object"),
        pytest.param(
            lambda b: b["data"]["checkpoints"][0].update(time="28.07.2015 19:35"), id="time-format"
        ),
        pytest.param(lambda b: b["data"]["checkpoints"][0].pop("time"), id="no-time"),
        pytest.param(
            lambda b: b["data"]["checkpoints"][0].update(status_name=["x"]), id="name-list"
        ),
        pytest.param(lambda b: b.pop("data"), id="no-data"),
    ],
)
def test_unexpected_tracker_shapes(mutate: Callable[[dict[str, Any]], object]) -> None:
    body = fixture("track_success.json")
    mutate(body)

    with pytest.raises(CarrierResponseError) as excinfo:
        _parse_tracking(DELIVERED, body)

    assert excinfo.value.__cause__ is not None


def test_a_checkpoint_keeps_its_fingerprint_when_gdeposylka_classifies_it_later() -> None:
    raw = {
        "time": "2024-05-01 10:00:00",
        "status_code": None,
        "status_name": None,
        "status_raw": "收寄",
        "location_raw": "Shenzhen",
        "location_translated": None,
    }
    processed = {
        **raw,
        "status_code": "accepted",
        "status_name": "Принято",
        "location_translated": "Шэньчжэнь",
    }
    first, later = _parse_checkpoint(raw), _parse_checkpoint(processed)
    assert (first.code, later.code) == ("other", "accepted")
    assert first.fingerprint == later.fingerprint  # no second push for the same checkpoint
    assert later.location == "Шэньчжэнь"
