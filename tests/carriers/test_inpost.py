"""InPost client against a loopback server answering with the documents' samples."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.carriers.errors import (
    CarrierAuthError,
    CarrierRateLimited,
    CarrierResponseError,
    CarrierUnavailable,
    ParcelNotFound,
)
from bot.carriers.inpost import (
    STATUS_BY_CODE,
    InPostClient,
    _parse_status_titles,
    _parse_tracking,
)
from bot.carriers.models import ParcelStatus, TrackingResult
from tests.conftest import load_fixture

DOC_NUMBER = "612345678901234567890123"  # the documents' example
NUMBER = "520000011234567890123456"  # the longer, delivered history
SHORT_TIMEOUT = aiohttp.ClientTimeout(total=0.3)
DAY = 24 * 3600.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fixture(name: str) -> Any:
    return load_fixture("inpost", f"{name}.json")


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            body, status=status, headers=headers, dumps=lambda v: json.dumps(v, ensure_ascii=False)
        )

    return handler


def reply_text(text: str, status: int = 200, content_type: str = "text/html") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=text, status=status, content_type=content_type)

    return handler


def reply_late(seconds: float) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({})

    return handler


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeShipX:
    """Routes GET paths to handlers and records every request it gets."""

    base_url: str = ""
    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.path, dict(request.query), dict(request.headers)))
        handler = self.routes.get(request.path) if request.method == "GET" else None
        if handler is None:
            # 418 is mapped to CarrierResponseError, so a stray URL cannot pass for "not found".
            return web.json_response({"unexpected": request.path}, status=418)
        return await handler(request)

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]

    def dictionary_fetches(self) -> list[str]:
        return [seen.query.get("lang", "") for seen in self.seen if seen.path == "/statuses"]

    def serve_dictionaries(self) -> None:
        async def statuses(request: web.Request) -> web.StreamResponse:
            lang = request.query.get("lang")
            if lang not in ("en_GB", "pl_PL"):
                return web.json_response({"status": 400, "error": "invalid_parameter"}, status=400)
            return web.json_response(fixture(f"statuses_{lang}"))

        self.routes["/statuses"] = statuses


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeShipX:
    fake = FakeShipX()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.dispatch)
    server = await aiohttp_server(app)
    fake.base_url = str(server.make_url("/"))
    return fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(fake: FakeShipX, http_session: aiohttp.ClientSession, clock: FakeClock) -> InPostClient:
    return InPostClient(http_session, fake.base_url, clock=clock)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- lookups in every language ----------------------------------------------------------


async def test_track_polish_titles_for_ukrainian_users(
    fake: FakeShipX, client: InPostClient
) -> None:
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply(fixture("tracking"))
    fake.serve_dictionaries()

    result = await client.track(DOC_NUMBER, lang="uk")

    assert fake.paths() == [f"/tracking/{DOC_NUMBER}", "/statuses"]
    assert fake.seen[0].query == {}
    assert fake.dictionary_fetches() == ["pl_PL"]
    assert "Authorization" not in fake.seen[0].headers  # the tracking resource is anonymous
    assert result.carrier == "inpost"
    assert result.number == DOC_NUMBER
    # The carrier lists newest first; we keep oldest first.
    assert [e.code for e in result.events] == ["confirmed", "dispatched_by_sender"]
    confirmed, dispatched = result.events
    assert confirmed.status is ParcelStatus.INFO_RECEIVED
    assert confirmed.location is None
    assert confirmed.description == "Przygotowana przez Nadawcę."
    assert dispatched.status is ParcelStatus.ACCEPTED
    assert dispatched.location == "Kraków"
    assert dispatched.description == "Paczka nadana w paczkomacie."
    assert dispatched.occurred_at == utc(2015, 9, 17, 9, 28)
    assert dispatched.postcode is None
    assert result.status is ParcelStatus.ACCEPTED
    # The receiving locker from custom_attributes, for the card.
    assert result.extras == {
        "pickup_point": "AAA000, ul.Reymonta 999, 33-333 Kraków",
        "pickup_hint": "Beta Agencja Usługowo-Finansowa",
        "pickup_hours": "PN-PT 09:00-16:00",
    }


async def test_track_english_titles(fake: FakeShipX, client: InPostClient) -> None:
    fake.routes[f"/tracking/{NUMBER}"] = reply(fixture("tracking_delivered"))
    fake.serve_dictionaries()

    result = await client.track(NUMBER, lang="en")

    assert fake.dictionary_fetches() == ["en_GB"]
    assert [e.code for e in result.events] == [
        "created", "confirmed", "dispatched_by_sender", "collected_from_sender",
        "adopted_at_source_branch", "sent_from_source_branch", "adopted_at_sorting_center",
        "sent_from_sorting_center", "adopted_at_target_branch", "out_for_delivery",
        "ready_to_pickup", "delivered",
    ]  # fmt: skip
    assert [e.status for e in result.events][-3:] == [
        ParcelStatus.OUT_FOR_DELIVERY,
        ParcelStatus.READY_FOR_PICKUP,
        ParcelStatus.DELIVERED,
    ]
    assert result.delivered
    assert result.events[-1].description == "Delivered."
    # Not in the served dictionary: the built-in English title fills in.
    assert result.events[3].description == "Picked up from the client."
    # Across the October DST change, offsets are honoured.
    assert result.events[6].occurred_at == utc(2024, 10, 27, 0, 30)
    assert result.events[7].occurred_at == utc(2024, 10, 27, 22, 58, 10)


async def test_track_russian_gets_the_polish_original(
    fake: FakeShipX, client: InPostClient
) -> None:
    fake.routes[f"/tracking/{NUMBER}"] = reply(fixture("tracking_delivered"))
    fake.serve_dictionaries()

    result = await client.track(NUMBER, lang="ru")

    assert fake.dictionary_fetches() == ["pl_PL"]
    assert result.events[-1].description == "Dostarczona."


async def test_live_dictionary_wins_over_built_in_titles(
    fake: FakeShipX, client: InPostClient
) -> None:
    fake.routes[f"/tracking/{NUMBER}"] = reply(fixture("tracking_delivered"))
    dictionary = fixture("statuses_pl_PL")
    dictionary["items"].append({"name": "ready_to_pickup", "title": "Gotowa do odbioru"})
    dictionary["items"].append({"name": "brand_new", "title": "Nowy status."})
    fake.routes["/statuses"] = reply(dictionary)

    result = await client.track(NUMBER)

    assert result.events[-2].description == "Gotowa do odbioru"


async def test_untranslated_titles_are_not_shown(fake: FakeShipX, client: InPostClient) -> None:
    payload = fixture("tracking")
    payload["tracking_details"][0]["status"] = "missing"
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply(payload)
    fake.serve_dictionaries()

    result = await client.track(DOC_NUMBER, lang="en")

    assert result.status is ParcelStatus.EXCEPTION
    assert result.events[-1].description == "Missing."


# --- the status dictionary cache ------------------------------------------------------------


async def test_dictionary_is_fetched_once_per_language(
    fake: FakeShipX, client: InPostClient, clock: FakeClock
) -> None:
    fake.routes[f"/tracking/{NUMBER}"] = reply(fixture("tracking_delivered"))
    fake.serve_dictionaries()

    # Concurrent first lookups must not each fetch the dictionary.
    await asyncio.gather(*(client.track(NUMBER, lang="uk") for _ in range(5)))
    await client.track(NUMBER, lang="ru")
    await asyncio.gather(client.track(NUMBER, lang="en"), client.track(NUMBER, lang="en"))
    clock.now += DAY - 1
    await client.track(NUMBER, lang="en")

    assert sorted(fake.dictionary_fetches()) == ["en_GB", "pl_PL"]
    assert fake.paths().count(f"/tracking/{NUMBER}") == 9


async def test_dictionary_is_refreshed_after_a_day(
    fake: FakeShipX, client: InPostClient, clock: FakeClock
) -> None:
    fake.routes[f"/tracking/{NUMBER}"] = reply(fixture("tracking_delivered"))
    fake.serve_dictionaries()

    await client.track(NUMBER)
    clock.now += DAY + 1
    await client.track(NUMBER)

    assert fake.dictionary_fetches() == ["pl_PL", "pl_PL"]


@pytest.mark.parametrize(
    "failing",
    [
        reply({"status": 500}, status=500),
        reply({"status": 400, "error": "invalid_parameter"}, status=400),
        reply({"items": "nope"}),
        reply_text("<html>down</html>"),
        reply_late(1.0),
    ],
    ids=["500", "400", "wrong-shape", "html", "slow"],
)
async def test_failing_dictionary_falls_back_and_is_retried_later(
    fake: FakeShipX, http_session: aiohttp.ClientSession, clock: FakeClock, failing: Handler
) -> None:
    client = InPostClient(http_session, fake.base_url, timeout=SHORT_TIMEOUT, clock=clock)
    fake.routes[f"/tracking/{NUMBER}"] = reply(fixture("tracking_delivered"))
    fake.routes["/statuses"] = failing

    first = await client.track(NUMBER)
    await client.track(NUMBER)  # soon after: no new attempt

    assert first.events[-1].description == "Dostarczona."  # built-in Polish title
    assert first.delivered
    assert fake.dictionary_fetches() == ["pl_PL"]

    dictionary = fixture("statuses_pl_PL")
    dictionary["items"][-2]["title"] = "Doręczona!"  # the "delivered" item
    fake.routes["/statuses"] = reply(dictionary)
    clock.now += 601

    later = await client.track(NUMBER)

    assert fake.dictionary_fetches() == ["pl_PL", "pl_PL"]
    assert later.events[-1].description == "Doręczona!"


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, fixture("not_found_404")),
        (400, fixture("unknown_400")),
        (404, {}),
    ],
    ids=["resource_not_found", "uknown_tracking_number", "bare-404"],
)
async def test_unknown_numbers_are_not_found(
    fake: FakeShipX, client: InPostClient, status: int, body: Any
) -> None:
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply(body, status=status)
    fake.serve_dictionaries()

    with pytest.raises(ParcelNotFound):
        await client.track(DOC_NUMBER)
    assert fake.dictionary_fetches() == []


async def test_other_400_is_a_response_error(fake: FakeShipX, client: InPostClient) -> None:
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply(
        {"status": 400, "error": "invalid_parameter"}, status=400
    )

    with pytest.raises(CarrierResponseError, match="invalid_parameter"):
        await client.track(DOC_NUMBER)


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_access_is_an_auth_error(
    fake: FakeShipX, client: InPostClient, status: int
) -> None:
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply({"status": status}, status=status)

    with pytest.raises(CarrierAuthError):
        await client.track(DOC_NUMBER)


async def test_429_is_rate_limited(fake: FakeShipX, client: InPostClient) -> None:
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply({}, status=429, headers={"Retry-After": "30"})

    with pytest.raises(CarrierRateLimited) as caught:
        await client.track(DOC_NUMBER)
    assert caught.value.retry_after == 30.0


async def test_500_is_unavailable(fake: FakeShipX, client: InPostClient) -> None:
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply({"status": 500}, status=500)

    with pytest.raises(CarrierUnavailable):
        await client.track(DOC_NUMBER)


async def test_timeout_is_unavailable(
    fake: FakeShipX, http_session: aiohttp.ClientSession
) -> None:
    client = InPostClient(http_session, fake.base_url, timeout=SHORT_TIMEOUT)
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply_late(1.0)

    with pytest.raises(CarrierUnavailable, match="timed out"):
        await client.track(DOC_NUMBER)


async def test_malformed_json_is_a_response_error(fake: FakeShipX, client: InPostClient) -> None:
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply_text(
        '{"tracking_number": "6123",', content_type="application/json"
    )

    with pytest.raises(CarrierResponseError):
        await client.track(DOC_NUMBER)


@pytest.mark.parametrize(
    ("status", "error"), [(200, CarrierResponseError), (502, CarrierUnavailable)]
)
async def test_html_body_is_mapped(
    fake: FakeShipX, client: InPostClient, status: int, error: type[Exception]
) -> None:
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply_text("<html>Cloudflare</html>", status)

    with pytest.raises(error):
        await client.track(DOC_NUMBER)


# --- many numbers ---------------------------------------------------------------------------


async def test_track_many_gives_each_number_its_outcome(
    fake: FakeShipX, client: InPostClient
) -> None:
    fake.routes[f"/tracking/{NUMBER}"] = reply(fixture("tracking_delivered"))
    fake.routes[f"/tracking/{DOC_NUMBER}"] = reply(fixture("not_found_404"), status=404)
    fake.routes["/tracking/111111111111111111111111"] = reply({}, status=503)
    fake.serve_dictionaries()

    outcomes = await client.track_many(
        [NUMBER, DOC_NUMBER, "111111111111111111111111", NUMBER], lang="en"
    )

    assert list(outcomes) == [NUMBER, DOC_NUMBER, "111111111111111111111111"]
    result = outcomes[NUMBER]
    assert isinstance(result, TrackingResult)
    assert result.delivered
    assert isinstance(outcomes[DOC_NUMBER], ParcelNotFound)
    assert isinstance(outcomes["111111111111111111111111"], CarrierUnavailable)
    assert fake.paths().count(f"/tracking/{NUMBER}") == 1


async def test_track_many_limits_concurrency(fake: FakeShipX, client: InPostClient) -> None:
    running = peak = 0

    async def tracking(request: web.Request) -> web.StreamResponse:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return web.json_response(fixture("tracking"))

    numbers = [f"{i:024d}" for i in range(12)]
    for number in numbers:
        fake.routes[f"/tracking/{number}"] = tracking
    fake.serve_dictionaries()

    outcomes = await client.track_many(numbers)

    assert all(isinstance(o, TrackingResult) for o in outcomes.values())
    assert 1 < peak <= 4


async def test_track_many_stops_asking_after_a_rate_limit(
    fake: FakeShipX, http_session: aiohttp.ClientSession
) -> None:
    async def limited(request: web.Request) -> web.StreamResponse:
        return web.json_response({}, status=429)

    numbers = [f"{i:024d}" for i in range(20)]
    for number in numbers:
        fake.routes[f"/tracking/{number}"] = limited
    client = InPostClient(http_session, fake.base_url)

    outcomes = await client.track_many(numbers)

    assert all(isinstance(o, CarrierRateLimited) for o in outcomes.values())
    assert len(outcomes) == 20
    assert len(fake.seen) <= 4  # only the lookups already in flight


# --- pure parsing -----------------------------------------------------------------------------


def test_empty_history_uses_the_shipment_status() -> None:
    payload = fixture("tracking")
    payload["tracking_details"] = []

    result = _parse_tracking(DOC_NUMBER, payload, {})

    assert len(result.events) == 1
    event = result.events[0]
    assert event.code == "dispatched_by_sender"
    assert event.status is ParcelStatus.ACCEPTED
    assert event.occurred_at == utc(2015, 9, 17, 9, 28)
    assert event.description is None
    assert event.location is None


def test_origin_status_is_not_the_code() -> None:
    events = _parse_tracking(DOC_NUMBER, fixture("tracking"), {}).events

    assert [e.code for e in events] == ["confirmed", "dispatched_by_sender"]


def test_equal_times_keep_the_carriers_order_reversed() -> None:
    payload = fixture("tracking")
    for detail in payload["tracking_details"]:
        detail["datetime"] = "2015-09-17T11:28:00.000+02:00"

    events = _parse_tracking(DOC_NUMBER, payload, {}).events

    assert [e.code for e in events] == ["confirmed", "dispatched_by_sender"]


def test_unknown_slug_is_unknown_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    payload = fixture("tracking")
    payload["tracking_details"][0]["status"] = "teleported"

    with caplog.at_level(logging.INFO, logger="bot.carriers.inpost"):
        event = _parse_tracking(DOC_NUMBER, payload, {}).events[-1]

    assert event.status is ParcelStatus.UNKNOWN
    assert event.code == "teleported"
    assert any(
        "inpost" in r.getMessage() and "teleported" in r.getMessage() for r in caplog.records
    )


def test_status_table_has_every_documented_slug() -> None:
    assert len(STATUS_BY_CODE) == 53
    assert STATUS_BY_CODE["ready_to_pickup"] is ParcelStatus.READY_FOR_PICKUP
    assert STATUS_BY_CODE["pickup_reminder_sent_address"] is ParcelStatus.DELIVERY_FAILED
    assert STATUS_BY_CODE["return_pickup_confirmation_to_sender"] is ParcelStatus.DELIVERED
    assert STATUS_BY_CODE["taken_by_courier_from_customer_service_point"] is ParcelStatus.RETURNING
    assert STATUS_BY_CODE["other"] is ParcelStatus.UNKNOWN
    assert ParcelStatus.RETURNED not in STATUS_BY_CODE.values()
    with pytest.raises(TypeError):
        STATUS_BY_CODE["delivered"] = ParcelStatus.UNKNOWN  # type: ignore[index]


def without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def broken(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    payload: dict[str, Any] = copy.deepcopy(fixture("tracking"))
    change(payload)
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        [],
        without(fixture("tracking"), "tracking_details"),
        broken(lambda p: p.update(tracking_details={"a": 1})),
        broken(lambda p: p["tracking_details"].append("x")),
        broken(lambda p: p["tracking_details"][0].pop("status")),
        broken(lambda p: p["tracking_details"][0].pop("datetime")),
        broken(lambda p: p["tracking_details"][0].update(status=None)),
        broken(lambda p: p["tracking_details"][0].update(datetime=1442482080)),
        broken(lambda p: p["tracking_details"][0].update(datetime="17.09.2015 11:28")),
        broken(lambda p: p["tracking_details"][0].update(datetime="2015-09-17T11:28:00")),
        broken(lambda p: p["tracking_details"][0].update(agency=["Kraków"])),
        broken(lambda p: (p.update(tracking_details=[]), p.pop("updated_at"))),
    ],
    ids=[
        "list",
        "no-details",
        "details-object",
        "detail-string",
        "no-status",
        "no-datetime",
        "null-status",
        "epoch-datetime",
        "bad-datetime",
        "naive-datetime",
        "agency-list",
        "empty-without-updated_at",
    ],
)
def test_malformed_tracking_raises_response_error(payload: Any) -> None:
    with pytest.raises(CarrierResponseError):
        _parse_tracking(DOC_NUMBER, payload, {})


@pytest.mark.parametrize(
    "payload",
    [
        broken(lambda p: p["tracking_details"][0].pop("datetime")),
        broken(lambda p: p["tracking_details"][0].update(datetime="soon")),
    ],
)
def test_parse_errors_are_chained(payload: Any) -> None:
    with pytest.raises(CarrierResponseError) as caught:
        _parse_tracking(DOC_NUMBER, payload, {})
    assert isinstance(caught.value.__cause__, KeyError | ValueError)


def test_status_titles_parsing() -> None:
    titles = _parse_status_titles(fixture("statuses_en_GB"))

    assert titles["ready_to_pickup"] == "Placed in the (collection) parcel machine."
    assert "missing" not in titles  # "translation missing: ..." is not a title
    assert len(titles) == 6


@pytest.mark.parametrize(
    "payload",
    [[], {"href": "x"}, {"items": {}}, {"items": ["x"]}, {"items": [{"name": "created"}]}],
)
def test_malformed_status_titles_raise(payload: Any) -> None:
    with pytest.raises(CarrierResponseError):
        _parse_status_titles(payload)


async def test_track_many_of_nothing_sends_nothing(fake: FakeShipX, client: InPostClient) -> None:
    assert await client.track_many([]) == {}
    assert fake.seen == []


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"size": "A"}, {}),
        ({"target_point_id": "KRA01M"}, {"pickup_point": "KRA01M"}),
        (
            {"target_machine_detail": {"name": "KRA01M", "address": "not an object"}},
            {"pickup_point": "KRA01M"},
        ),
        ({"target_machine_detail": {"name": None, "address": {"line1": "x"}}}, {}),
        ("not an object", {}),
        ({"target_machine_detail": {"name": "  ", "opening_hours": 7}}, {}),
    ],
    ids=["no-point", "point-id-only", "address-damaged", "no-name", "damaged", "blank"],
)
def test_an_unexpected_pickup_point_never_fails_the_lookup(
    attributes: object, expected: dict[str, str]
) -> None:
    payload = fixture("tracking")
    payload["custom_attributes"] = attributes
    assert _parse_tracking(DOC_NUMBER, payload, {}).extras == expected
