"""PostPlusClient against a loopback server serving the documented answer shapes."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiolimiter import AsyncLimiter

from bot.carriers.errors import (
    CarrierAuthError,
    CarrierError,
    CarrierRateLimited,
    CarrierResponseError,
    CarrierUnavailable,
    ParcelNotFound,
)
from bot.carriers.models import ParcelStatus, TrackingResult
from bot.carriers.postplus import (
    EVENT_CODES_RETRY,
    EVENT_CODES_TTL,
    PostPlusClient,
    _parse_get_many,
    status_from_flags,
)
from tests.conftest import load_fixture

API_KEY = "pp-test-key-0123456789"
GET_MANY = "/api/v1/tracking/parcel-nrs/get-many"
EVENT_CODES = "/api/v1/tracking/event-codes"
FIRST = "LP00000005PP"
SECOND = "LP00000006PP"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakePostPlus:
    """A loopback PostPlus that answers from fixtures and records every request."""

    def __init__(self) -> None:
        self.parcels: list[dict[str, Any]] = load_fixture("postplus", "get_many.json")
        self.requests: list[web.Request] = []
        self.get_many_handler: Handler | None = None
        self.codes_handler: Handler | None = None
        self.server: TestServer | None = None

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    def requested_numbers(self) -> list[list[str]]:
        return [r.query["ParcelNrs"].split(",") for r in self.requests if r.path == GET_MANY]

    async def get_many(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if self.get_many_handler is not None:
            return await self.get_many_handler(request)
        wanted = request.query["ParcelNrs"].split(",")
        return web.json_response([p for p in self.parcels if p["parcelNr"] in wanted])

    async def event_codes(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if self.codes_handler is not None:
            return await self.codes_handler(request)
        return web.json_response(load_fixture("postplus", "event_codes.json"))


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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
async def fake(aiohttp_server: Any) -> FakePostPlus:
    fake = FakePostPlus()
    app = web.Application()
    app.router.add_get(GET_MANY, fake.get_many)
    app.router.add_get(EVENT_CODES, fake.event_codes)
    fake.server = await aiohttp_server(app)
    return fake


def make_client(
    session: aiohttp.ClientSession, fake: FakePostPlus, **kwargs: Any
) -> PostPlusClient:
    assert fake.server is not None
    return PostPlusClient(session, str(fake.server.make_url("/")), API_KEY, **kwargs)


def result_of(outcome: TrackingResult | CarrierError) -> TrackingResult:
    assert isinstance(outcome, TrackingResult), outcome
    return outcome


@pytest.mark.parametrize("lang", ["uk", "en", "ru"])
async def test_track_many_parses_both_parcels_and_sends_key(
    http_session: aiohttp.ClientSession, fake: FakePostPlus, lang: str
) -> None:
    client = make_client(http_session, fake)

    outcomes = await client.track_many([FIRST, SECOND], lang)

    assert fake.paths() == [EVENT_CODES, GET_MANY]
    assert all(r.headers["X-API-KEY"] == API_KEY for r in fake.requests)
    # PostPlus has no language parameter: the request is the same for every language.
    assert dict(fake.requests[1].query) == {"ParcelNrs": f"{FIRST},{SECOND}"}

    first = result_of(outcomes[FIRST])
    assert first.carrier == "postplus"
    assert [e.code for e in first.events] == [
        "CREATE_OR_UPDATE",
        "ACCEPTED",
        "DEPARTED",
        "READY_FOR_PICKUP",
    ]
    assert [e.status for e in first.events] == [
        ParcelStatus.INFO_RECEIVED,
        ParcelStatus.ACCEPTED,
        ParcelStatus.IN_TRANSIT,
        ParcelStatus.READY_FOR_PICKUP,
    ]
    assert first.events[1].occurred_at == datetime(2025, 1, 14, 7, 10, tzinfo=UTC)
    assert first.events[1].location == "Vilnius"
    assert first.events[1].description == "Parcel accepted at PostPlus hub"
    assert first.status is ParcelStatus.READY_FOR_PICKUP
    assert first.extras == {
        "destination_country": "EE",
        "last_mile_carrier": "TestCarrier",
        "last_mile_number": "CE000000005EE",
        "last_mile_url": "https://track.example.test/CE000000005EE",
    }

    second = result_of(outcomes[SECOND])
    assert second.delivered
    assert second.latest is not None
    assert second.latest.occurred_at == datetime(2025, 1, 17, 9, 45, tzinfo=UTC)
    # carrier is null and carrierParcelNr repeats parcelNr: neither is worth showing.
    assert second.extras == {"destination_country": "LV"}


async def test_track_one_number_matches_case_insensitively(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    async def any_case(request: web.Request) -> web.StreamResponse:
        wanted = {n.upper() for n in request.query["ParcelNrs"].split(",")}
        return web.json_response([p for p in fake.parcels if p["parcelNr"] in wanted])

    fake.get_many_handler = any_case
    client = make_client(http_session, fake)

    result = await client.track(SECOND.lower())

    assert result.number == SECOND.lower()
    assert result.delivered
    assert fake.requested_numbers() == [[SECOND.lower()]]


async def test_batch_of_120_is_split_into_50_50_20(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    numbers = [FIRST, *(f"LP{i:08d}XX" for i in range(118)), SECOND]
    client = make_client(http_session, fake)

    outcomes = await client.track_many(numbers)

    assert [len(chunk) for chunk in fake.requested_numbers()] == [50, 50, 20]
    assert [n for chunk in fake.requested_numbers() for n in chunk] == numbers
    assert fake.paths().count(EVENT_CODES) == 1
    assert set(outcomes) == set(numbers)
    assert result_of(outcomes[FIRST]).status is ParcelStatus.READY_FOR_PICKUP
    assert result_of(outcomes[SECOND]).delivered
    assert sum(isinstance(o, ParcelNotFound) for o in outcomes.values()) == 118


async def test_duplicates_are_asked_once(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    client = make_client(http_session, fake)

    outcomes = await client.track_many([FIRST, FIRST, SECOND])

    assert fake.requested_numbers() == [[FIRST, SECOND]]
    assert set(outcomes) == {FIRST, SECOND}


async def test_found_and_not_found_mix(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    no_events = copy.deepcopy(fake.parcels[1])
    no_events["parcelNr"] = "LP00000007PP"
    no_events["events"] = []
    null_events = copy.deepcopy(no_events)
    null_events["parcelNr"] = "LP00000008PP"
    null_events["events"] = None
    fake.parcels += [no_events, null_events]
    client = make_client(http_session, fake)

    outcomes = await client.track_many([FIRST, "LP00000007PP", "LP00000008PP", "LP99999999PP"])

    assert isinstance(outcomes[FIRST], TrackingResult)
    for number in ("LP00000007PP", "LP00000008PP", "LP99999999PP"):
        assert isinstance(outcomes[number], ParcelNotFound)


async def test_track_unknown_number_raises_not_found(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    client = make_client(http_session, fake)

    with pytest.raises(ParcelNotFound):
        await client.track("LP99999999PP")


async def test_empty_batch_makes_no_request(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    client = make_client(http_session, fake)

    assert await client.track_many([]) == {}
    assert fake.requests == []


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        pytest.param(answer(401, '{"title": "Unauthorized"}'), CarrierAuthError, id="401"),
        pytest.param(answer(429, '{"title": "Too Many Requests"}'), CarrierRateLimited, id="429"),
        pytest.param(answer(500, "oops", "text/plain"), CarrierUnavailable, id="500"),
        pytest.param(answer(200, '[{"parcelNr": "LP'), CarrierResponseError, id="malformed"),
        pytest.param(
            answer(200, "<html><body>Maintenance</body></html>", "text/html"),
            CarrierResponseError,
            id="html",
        ),
        pytest.param(answer(200, '{"parcels": []}'), CarrierResponseError, id="not-a-list"),
    ],
)
async def test_failures_of_get_many(
    http_session: aiohttp.ClientSession,
    fake: FakePostPlus,
    handler: Handler,
    expected: type[CarrierError],
) -> None:
    fake.get_many_handler = handler
    client = make_client(http_session, fake)

    with pytest.raises(CarrierError) as excinfo:
        await client.track(FIRST)

    assert type(excinfo.value) is expected
    assert API_KEY not in str(excinfo.value)


async def test_timeout_becomes_unavailable(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.0)
        return web.json_response([])

    fake.get_many_handler = slow
    client = make_client(http_session, fake, timeout=aiohttp.ClientTimeout(total=0.3))
    started = time.monotonic()

    with pytest.raises(CarrierUnavailable) as excinfo:
        await client.track(FIRST)

    assert type(excinfo.value) is CarrierUnavailable
    assert time.monotonic() - started < 0.9


async def test_event_codes_fetched_once_for_several_lookups(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    clock = FakeClock()
    client = make_client(http_session, fake, clock=clock)

    # Concurrent first lookups must share one fetch, not race to make three.
    await asyncio.gather(client.track(FIRST), client.track(SECOND), client.track_many([FIRST]))
    await client.track(FIRST)
    clock.now += EVENT_CODES_TTL - 1
    await client.track(SECOND)

    assert fake.paths().count(EVENT_CODES) == 1
    assert fake.paths().count(GET_MANY) == 5

    clock.now += 2  # the cached table is now a day old
    await client.track(SECOND)
    assert fake.paths().count(EVENT_CODES) == 2


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(500, "down", "text/plain"), id="500"),
        pytest.param(answer(200, "<html></html>", "text/html"), id="html"),
        pytest.param(answer(200, '{"codes": "none"}'), id="wrong-shape"),
    ],
)
async def test_event_codes_failure_falls_back_and_retries_later(
    http_session: aiohttp.ClientSession, fake: FakePostPlus, handler: Handler
) -> None:
    fake.codes_handler = handler
    clock = FakeClock()
    client = make_client(http_session, fake, clock=clock)

    outcomes = await client.track_many([FIRST, SECOND])

    first = result_of(outcomes[FIRST])
    assert [e.status for e in first.events] == [
        ParcelStatus.INFO_RECEIVED,  # CREATE_OR_UPDATE is in the built-in table
        ParcelStatus.UNKNOWN,
        ParcelStatus.UNKNOWN,
        ParcelStatus.UNKNOWN,
    ]
    assert result_of(outcomes[SECOND]).delivered  # DELIVERED is in the built-in table

    await client.track(FIRST)  # too soon to ask again
    assert fake.paths().count(EVENT_CODES) == 1

    fake.codes_handler = None
    clock.now += EVENT_CODES_RETRY + 1
    result = await client.track(FIRST)
    assert fake.paths().count(EVENT_CODES) == 2
    assert result.status is ParcelStatus.READY_FOR_PICKUP


async def test_failed_refresh_keeps_the_fetched_table(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    clock = FakeClock()
    client = make_client(http_session, fake, clock=clock)
    await client.track(FIRST)
    fake.codes_handler = answer(503, "busy", "text/plain")
    clock.now += EVENT_CODES_TTL + 1

    result = await client.track(FIRST)

    assert fake.paths().count(EVENT_CODES) == 2
    assert result.status is ParcelStatus.READY_FOR_PICKUP


async def test_every_request_goes_through_the_limiter(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    limiter = CountingLimiter()
    client = make_client(http_session, fake, limiter=limiter)

    await client.track_many([f"LP{i:08d}XX" for i in range(60)])

    assert len(fake.requests) == 3  # event codes + two get-many pages
    assert limiter.acquired == 3


async def test_default_limiter_allows_five_requests_per_second(
    http_session: aiohttp.ClientSession, fake: FakePostPlus
) -> None:
    client = make_client(http_session, fake)
    started = time.monotonic()

    # 1 event-codes + 6 get-many requests: the 6th and 7th must wait for the bucket to drain.
    await client.track_many([f"LP{i:08d}XX" for i in range(300)])

    assert len(fake.requests) == 7
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("message", "flags", "expected"),
    [
        ("Delivered", {"isDelivered": True, "isAtDestination": True}, ParcelStatus.DELIVERED),
        ("Arrived in destination country", {"isAtDestination": True}, ParcelStatus.IN_TRANSIT),
        ("Ready for pickup", {"isAtDestination": True}, ParcelStatus.READY_FOR_PICKUP),
        ("Awaiting collection", {"isAtDestination": True}, ParcelStatus.READY_FOR_PICKUP),
        ("Departed", {"isDeparted": True, "isStartclock": True}, ParcelStatus.IN_TRANSIT),
        ("Departed", {"isDeparted": True}, ParcelStatus.IN_TRANSIT),
        ("Received at hub", {"isStartclock": True}, ParcelStatus.ACCEPTED),
        ("Data received", {"isPreAlert": True}, ParcelStatus.INFO_RECEIVED),
        ("Held by customs", {"isPreAlert": False}, ParcelStatus.UNKNOWN),
        ("Truthy but not true", {"isDelivered": "yes"}, ParcelStatus.UNKNOWN),
    ],
)
def test_status_from_flags(message: str, flags: dict[str, object], expected: ParcelStatus) -> None:
    assert status_from_flags(message, flags) is expected


def test_newest_event_version_wins() -> None:
    parcel = {
        "parcelNr": FIRST,
        "events": [
            {
                "eventId": "same",
                "eventTime": "2025-01-13T01:00:00+00:00",
                "eventVersion": "12",
                "eventCode": "DELIVERED",
                "eventMessage": "Delivered",
                "eventLocation": "Riga",
            },
            {
                "eventId": "same",
                "eventTime": "2025-01-13T01:00:00+00:00",
                "eventVersion": "5",
                "eventCode": "CREATE_OR_UPDATE",
                "eventMessage": "Old version",
                "eventLocation": "PPLUS",
            },
        ],
    }
    statuses = {"DELIVERED": ParcelStatus.DELIVERED}

    outcome = _parse_get_many([parcel], [FIRST], statuses)[FIRST]

    result = result_of(outcome)
    assert [e.code for e in result.events] == ["DELIVERED"]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"parcelNr": FIRST}, id="object-not-list"),
        pytest.param([{"events": []}], id="no-parcelNr"),
        pytest.param([{"parcelNr": 5, "events": []}], id="parcelNr-not-string"),
        pytest.param(["LP00000005PP"], id="item-not-object"),
    ],
)
def test_unexpected_shapes_raise_response_error(payload: Any) -> None:
    with pytest.raises(CarrierResponseError) as excinfo:
        _parse_get_many(payload, [FIRST], {})

    assert excinfo.value.__cause__ is not None


GOOD = {"eventCode": "DELIVERED", "eventTime": "2025-01-13T01:56:27+02:00"}


@pytest.mark.parametrize(
    "damaged",
    [
        pytest.param({"parcelNr": FIRST, "events": {}}, id="events-not-list"),
        pytest.param({"parcelNr": FIRST, "events": [{"eventCode": "DELIVERED"}]}, id="no-time"),
        pytest.param(
            {"parcelNr": FIRST, "events": [{**GOOD, "eventTime": "2025-01-13T01:56:27"}]},
            id="eventTime-without-offset",
        ),
        pytest.param(
            {"parcelNr": FIRST, "events": [{**GOOD, "eventTime": "yesterday"}]},
            id="eventTime-garbage",
        ),
    ],
)
def test_one_damaged_parcel_fails_alone(damaged: Any) -> None:
    outcomes = _parse_get_many(
        [damaged, {"parcelNr": SECOND, "events": [GOOD]}], [FIRST, SECOND], {}
    )
    assert isinstance(outcomes[FIRST], CarrierResponseError)
    assert [e.code for e in result_of(outcomes[SECOND]).events] == ["DELIVERED"]


def test_unknown_event_codes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="bot.carriers.postplus")
    _parse_get_many([{"parcelNr": FIRST, "events": [GOOD]}], [FIRST], {})
    assert "DELIVERED is not in its event-code list" in caplog.text
