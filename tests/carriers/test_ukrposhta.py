"""Ukrposhta client against a loopback server answering with the documents' samples."""

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
    NotTrackable,
    ParcelNotFound,
)
from bot.carriers.models import ParcelStatus, TrackingResult, aware_utc, kyiv_local
from bot.carriers.ukrposhta import (
    STATUS_BY_CODE,
    UkrposhtaClient,
    _parse_route,
    _parse_statuses,
    _parse_with_not_found,
)
from tests.conftest import load_fixture

TOKEN = "11111111-2222-3333-aaaa-bcdef1234567"
EN_NUMBER = "0500100031143"  # the documents' English sample
UK_NUMBER = "0500128254610"  # the documents' Ukrainian sample (returned to the sender)
SHORT_TIMEOUT = aiohttp.ClientTimeout(total=0.3)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fixture(name: str) -> Any:
    return load_fixture("ukrposhta", f"{name}.json")


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
        return web.json_response([])

    return handler


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeUkrposhta:
    """Routes `(method, path)` to handlers and records every request it gets."""

    base_url: str = ""
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                json.loads(raw) if raw else None,
            )
        )
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            # 418 is mapped to CarrierResponseError, so a stray URL cannot pass for "not found".
            return web.json_response({"unexpected": request.path}, status=418)
        return await handler(request)

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeUkrposhta:
    fake = FakeUkrposhta()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.dispatch)
    server = await aiohttp_server(app)
    fake.base_url = str(server.make_url("/"))
    return fake


@pytest.fixture
def client(fake: FakeUkrposhta, http_session: aiohttp.ClientSession) -> UkrposhtaClient:
    return UkrposhtaClient(http_session, fake.base_url, TOKEN)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- single lookups in every language ---------------------------------------------------


async def test_track_english_sends_lang_and_english_route(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("GET", "/statuses")] = reply(fixture("statuses_en"))
    fake.routes[("GET", f"/barcodes/{EN_NUMBER}/route/in-lang/EN")] = reply(fixture("route_en"))

    result = await client.track(EN_NUMBER, lang="en")

    assert fake.paths() == ["/statuses", f"/barcodes/{EN_NUMBER}/route/in-lang/EN"]
    assert fake.seen[0].query == {"barcode": EN_NUMBER, "lang": "en"}
    assert all(seen.headers["Authorization"] == f"Bearer {TOKEN}" for seen in fake.seen)
    assert result.carrier == "ukrposhta"
    assert result.number == EN_NUMBER
    assert result.extras == {"route_from": "UKRAINE .Kyiv", "route_to": "UKRAINE .Biliany"}
    # Sorted by date although the carrier lists step 3 before step 2.
    assert [e.code for e in result.events] == [
        "10100", "20700", "20800", "20700", "20800", "20700", "20800", "21500", "21700", "41000",
    ]  # fmt: skip
    first = result.events[0]
    assert first.occurred_at == utc(2017, 7, 27, 13, 33)  # 16:33 Kyiv summer time
    assert first.status is ParcelStatus.ACCEPTED
    assert first.description == "Acceptance"
    assert first.location == "DKD KYIV"
    assert first.postcode == "03505"
    assert result.events[8].status is ParcelStatus.READY_FOR_PICKUP
    assert result.latest is not None
    assert result.latest.description == "Delivery: personally"
    assert result.status is ParcelStatus.DELIVERED


async def test_track_ukrainian_sends_no_lang(fake: FakeUkrposhta, client: UkrposhtaClient) -> None:
    fake.routes[("GET", "/statuses")] = reply(fixture("statuses_uk"))
    fake.routes[("GET", f"/barcodes/{UK_NUMBER}/route")] = reply(fixture("route"))

    result = await client.track(UK_NUMBER, lang="uk")

    assert fake.paths() == ["/statuses", f"/barcodes/{UK_NUMBER}/route"]
    assert fake.seen[0].query == {"barcode": UK_NUMBER}
    assert fake.seen[1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert result.extras == {"route_from": "УКРАЇНА м.Київ", "route_to": "УКРАЇНА с.Біляни"}
    assert [e.status for e in result.events] == [
        ParcelStatus.IN_TRANSIT,
        ParcelStatus.IN_TRANSIT,
        ParcelStatus.READY_FOR_PICKUP,
        ParcelStatus.RETURNED,  # 41000 "вручено: відправнику" is a completed return
    ]
    latest = result.latest
    assert latest is not None
    assert latest.code == "41000"
    # The reason is already part of the name: not repeated.
    assert latest.description == "Відправлення вручено: відправнику"
    assert latest.location == "ЦОКК 5 КИЇВ"
    assert latest.occurred_at == utc(2019, 2, 14, 12, 13)  # 14:13 Kyiv winter time


async def test_track_russian_asks_for_ukrainian(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("GET", "/statuses")] = reply(fixture("statuses_uk"))
    fake.routes[("GET", f"/barcodes/{UK_NUMBER}/route")] = reply(fixture("route"))

    result = await client.track(UK_NUMBER, lang="ru")

    assert fake.seen[0].query == {"barcode": UK_NUMBER}
    assert fake.paths()[1] == f"/barcodes/{UK_NUMBER}/route"
    assert result.events[0].description == "Надходження на сортувальний центр"


async def test_barcode_is_sent_as_a_query_parameter_not_spliced(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("GET", "/statuses")] = reply([])

    with pytest.raises(ParcelNotFound):
        await client.track("RA&lang=en", lang="uk")

    assert fake.seen[0].query == {"barcode": "RA&lang=en"}


async def test_a_route_is_asked_once_per_barcode_and_language(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("GET", "/statuses")] = reply(fixture("statuses_uk"))
    fake.routes[("GET", f"/barcodes/{UK_NUMBER}/route")] = reply(fixture("route"))
    fake.routes[("GET", f"/barcodes/{UK_NUMBER}/route/in-lang/EN")] = reply(fixture("route_en"))

    first = await client.track(UK_NUMBER, lang="uk")
    again = await client.track(UK_NUMBER, lang="uk")  # a Refresh: the route does not change
    english = await client.track(UK_NUMBER, lang="en")

    assert fake.paths() == [
        "/statuses",
        f"/barcodes/{UK_NUMBER}/route",
        "/statuses",
        "/statuses",
        f"/barcodes/{UK_NUMBER}/route/in-lang/EN",
    ]
    assert (
        first.extras
        == again.extras
        == {
            "route_from": "УКРАЇНА м.Київ",
            "route_to": "УКРАЇНА с.Біляни",
        }
    )
    assert english.extras == {"route_from": "UKRAINE .Kyiv", "route_to": "UKRAINE .Biliany"}


async def test_a_partial_route_is_asked_again(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("GET", "/statuses")] = reply(fixture("statuses_uk"))
    fake.routes[("GET", f"/barcodes/{UK_NUMBER}/route")] = reply({"from": "УКРАЇНА м.Київ"})

    first = await client.track(UK_NUMBER)
    await client.track(UK_NUMBER)

    assert first.extras == {}  # half a route is no route: a stored whole one stays
    assert fake.paths().count(f"/barcodes/{UK_NUMBER}/route") == 2  # not remembered


# --- route is optional --------------------------------------------------------------------


@pytest.mark.parametrize(
    "route_handler",
    [
        reply({"error": "boom"}, status=500),
        reply(fixture("error_not_found"), status=404),
        reply(["not", "an", "object"]),
        reply_text("<html>maintenance</html>"),
    ],
    ids=["500", "404", "wrong-shape", "html"],
)
async def test_failing_route_does_not_fail_the_lookup(
    fake: FakeUkrposhta, client: UkrposhtaClient, route_handler: Handler
) -> None:
    fake.routes[("GET", "/statuses")] = reply(fixture("statuses_uk"))
    fake.routes[("GET", f"/barcodes/{UK_NUMBER}/route")] = route_handler

    result = await client.track(UK_NUMBER)

    assert len(result.events) == 4
    assert result.extras == {}
    assert len(fake.seen) == 2


async def test_slow_route_does_not_fail_the_lookup(
    fake: FakeUkrposhta, http_session: aiohttp.ClientSession
) -> None:
    client = UkrposhtaClient(http_session, fake.base_url, TOKEN, timeout=SHORT_TIMEOUT)
    fake.routes[("GET", "/statuses")] = reply(fixture("statuses_uk"))
    fake.routes[("GET", f"/barcodes/{UK_NUMBER}/route")] = reply_late(1.0)

    result = await client.track(UK_NUMBER)

    assert result.extras == {}
    assert result.status is ParcelStatus.RETURNED


# --- errors -------------------------------------------------------------------------------


async def test_empty_list_is_not_found_and_skips_the_route(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("GET", "/statuses")] = reply([])

    with pytest.raises(ParcelNotFound):
        await client.track(UK_NUMBER)
    assert fake.paths() == ["/statuses"]


@pytest.mark.parametrize(
    "body", [fixture("error_not_found"), {"code": "UPE00000", "message": "x"}, {}]
)
async def test_404_is_not_found(fake: FakeUkrposhta, client: UkrposhtaClient, body: Any) -> None:
    fake.routes[("GET", "/statuses")] = reply(body, status=404)

    with pytest.raises(ParcelNotFound) as caught:
        await client.track(UK_NUMBER)
    assert type(caught.value) is ParcelNotFound
    assert fake.paths() == ["/statuses"]


@pytest.mark.parametrize("status", [400, 200])
async def test_upe02000_is_not_trackable(
    fake: FakeUkrposhta, client: UkrposhtaClient, status: int
) -> None:
    fake.routes[("GET", "/statuses")] = reply(fixture("error_upe02000"), status=status)

    with pytest.raises(NotTrackable, match="no tracking service"):
        await client.track("LO123456785FR")


async def test_other_400_code_is_a_response_error(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("GET", "/statuses")] = reply({"code": "UPE99999", "message": "odd"}, status=400)

    with pytest.raises(CarrierResponseError, match="UPE99999"):
        await client.track(UK_NUMBER)


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_token_is_an_auth_error(
    fake: FakeUkrposhta, client: UkrposhtaClient, status: int
) -> None:
    fake.routes[("GET", "/statuses")] = reply({"message": "Unauthorized"}, status=status)

    with pytest.raises(CarrierAuthError) as caught:
        await client.track(UK_NUMBER)
    assert TOKEN not in str(caught.value)


async def test_429_is_rate_limited_with_retry_after(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("GET", "/statuses")] = reply({}, status=429, headers={"Retry-After": "7"})

    with pytest.raises(CarrierRateLimited) as caught:
        await client.track(UK_NUMBER)
    assert caught.value.retry_after == 7.0


async def test_500_is_unavailable(fake: FakeUkrposhta, client: UkrposhtaClient) -> None:
    fake.routes[("GET", "/statuses")] = reply({"message": "oops"}, status=500)

    with pytest.raises(CarrierUnavailable):
        await client.track(UK_NUMBER)


async def test_timeout_is_unavailable(
    fake: FakeUkrposhta, http_session: aiohttp.ClientSession
) -> None:
    client = UkrposhtaClient(http_session, fake.base_url, TOKEN, timeout=SHORT_TIMEOUT)
    fake.routes[("GET", "/statuses")] = reply_late(1.0)

    with pytest.raises(CarrierUnavailable, match="timed out"):
        await client.track(UK_NUMBER)


async def test_malformed_json_is_a_response_error(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("GET", "/statuses")] = reply_text(
        '[{"event": 10100,', content_type="application/json"
    )

    with pytest.raises(CarrierResponseError):
        await client.track(UK_NUMBER)


@pytest.mark.parametrize(
    ("status", "error"), [(200, CarrierResponseError), (502, CarrierUnavailable)]
)
async def test_html_body_is_mapped(
    fake: FakeUkrposhta, client: UkrposhtaClient, status: int, error: type[Exception]
) -> None:
    fake.routes[("GET", "/statuses")] = reply_text("<html><body>Bad gateway</body></html>", status)

    with pytest.raises(error):
        await client.track(UK_NUMBER)


async def test_object_instead_of_list_is_a_response_error(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("GET", "/statuses")] = reply(fixture("route"))

    with pytest.raises(CarrierResponseError):
        await client.track(UK_NUMBER)


# --- batch ----------------------------------------------------------------------------------


async def test_batch_maps_found_and_not_found(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("POST", "/statuses/with-not-found")] = reply(fixture("with_not_found"))
    numbers = [*fixture("with_not_found_request"), "0500999999990"]  # last one in neither list

    outcomes = await client.track_many(numbers, lang="uk")

    assert fake.paths() == ["/statuses/with-not-found"]  # no route calls in batch mode
    assert fake.seen[0].body == numbers
    assert fake.seen[0].query == {}
    assert fake.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert fake.seen[0].headers["Content-Type"].startswith("application/json")
    assert set(outcomes) == set(numbers)
    found = {n: o for n, o in outcomes.items() if isinstance(o, TrackingResult)}
    assert set(found) == {"0500128254873", UK_NUMBER}
    assert found["0500128254873"].status is ParcelStatus.DELIVERED
    assert found[UK_NUMBER].status is ParcelStatus.RETURNED
    assert found[UK_NUMBER].number == UK_NUMBER
    assert found[UK_NUMBER].extras == {}
    missing = [o for n, o in outcomes.items() if n not in found]
    assert len(missing) == 19
    assert all(isinstance(o, ParcelNotFound) for o in missing)


async def test_batch_in_english_sends_lang(fake: FakeUkrposhta, client: UkrposhtaClient) -> None:
    fake.routes[("POST", "/statuses/with-not-found")] = reply({"found": {}, "notFound": ["1"]})

    outcomes = await client.track_many(["1"], lang="en")

    assert fake.seen[0].query == {"lang": "en"}
    assert isinstance(outcomes["1"], ParcelNotFound)


async def test_batch_splits_into_chunks_of_fifty(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    numbers = [f"05{i:011d}" for i in range(120)]
    events = fixture("statuses_uk")

    async def answer(request: web.Request) -> web.StreamResponse:
        asked = await request.json()
        # Every third barcode is known, the rest are reported as not found.
        known = [n for n in asked if int(n) % 3 == 0]
        return web.json_response(
            {"found": {n: events for n in known}, "notFound": [n for n in asked if n not in known]}
        )

    fake.routes[("POST", "/statuses/with-not-found")] = answer

    outcomes = await client.track_many(numbers)

    assert [len(seen.body) for seen in fake.seen] == [50, 50, 20]
    assert [n for seen in fake.seen for n in seen.body] == numbers
    assert list(outcomes) == numbers
    for number, outcome in outcomes.items():
        if int(number) % 3 == 0:
            assert isinstance(outcome, TrackingResult)
            assert outcome.number == number
        else:
            assert isinstance(outcome, ParcelNotFound)


async def test_batch_deduplicates_numbers(fake: FakeUkrposhta, client: UkrposhtaClient) -> None:
    fake.routes[("POST", "/statuses/with-not-found")] = reply({"found": {}, "notFound": []})

    outcomes = await client.track_many(["A", "B", "A"])

    assert fake.seen[0].body == ["A", "B"]
    assert set(outcomes) == {"A", "B"}


async def test_batch_refused_as_not_trackable_falls_back_to_single_lookups(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("POST", "/statuses/with-not-found")] = reply(
        fixture("error_upe02000"), status=400
    )

    async def single(request: web.Request) -> web.StreamResponse:
        if request.query["barcode"] == "LO123456785FR":
            return web.json_response(fixture("error_upe02000"), status=400)
        return web.json_response(fixture("statuses_uk"))

    fake.routes[("GET", "/statuses")] = single

    outcomes = await client.track_many([UK_NUMBER, "LO123456785FR"])

    assert sorted(fake.paths()) == ["/statuses", "/statuses", "/statuses/with-not-found"]
    assert isinstance(outcomes["LO123456785FR"], NotTrackable)
    result = outcomes[UK_NUMBER]
    assert isinstance(result, TrackingResult)
    assert result.status is ParcelStatus.RETURNED
    assert result.extras == {}  # still no route calls


async def test_batch_404_marks_the_chunk_not_found(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("POST", "/statuses/with-not-found")] = reply(
        fixture("error_not_found"), status=404
    )

    outcomes = await client.track_many(["A", "B"])

    assert all(isinstance(o, ParcelNotFound) for o in outcomes.values())
    assert set(outcomes) == {"A", "B"}


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, CarrierAuthError), (429, CarrierRateLimited), (500, CarrierUnavailable)],
)
async def test_batch_failing_at_once_raises(
    fake: FakeUkrposhta, client: UkrposhtaClient, status: int, error: type[Exception]
) -> None:
    fake.routes[("POST", "/statuses/with-not-found")] = reply({}, status=status)

    with pytest.raises(error):
        await client.track_many([f"{i}" for i in range(60)])
    assert len(fake.seen) == 1  # the second chunk is not even tried


async def test_batch_failing_midway_keeps_earlier_chunks(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    numbers = [f"{i:013d}" for i in range(120)]
    calls = 0

    async def answer(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls > 1:
            return web.json_response({}, status=503)
        return web.json_response({"found": {}, "notFound": await request.json()})

    fake.routes[("POST", "/statuses/with-not-found")] = answer

    outcomes = await client.track_many(numbers)

    assert len(fake.seen) == 2  # the third chunk is not sent after a failure
    assert all(isinstance(outcomes[n], ParcelNotFound) for n in numbers[:50])
    assert all(type(outcomes[n]) is CarrierUnavailable for n in numbers[50:])


async def test_batch_auth_error_midway_is_raised(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    calls = 0

    async def answer(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls > 1:
            return web.json_response({}, status=401)
        return web.json_response({"found": {}, "notFound": await request.json()})

    fake.routes[("POST", "/statuses/with-not-found")] = answer

    with pytest.raises(CarrierAuthError):
        await client.track_many([f"{i}" for i in range(51)])


async def test_batch_with_malformed_answer_raises(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    fake.routes[("POST", "/statuses/with-not-found")] = reply(fixture("statuses_uk"))

    with pytest.raises(CarrierResponseError):
        await client.track_many([UK_NUMBER])


# --- pure parsing -----------------------------------------------------------------------------


def one_event(**changes: Any) -> list[dict[str, Any]]:
    event = copy.deepcopy(fixture("statuses_uk")[0])
    event.update(changes)
    return [event]


@pytest.mark.parametrize("raw", [10100, "10100", " 10100 "])
def test_event_code_is_compared_as_a_string(raw: Any) -> None:
    result = _parse_statuses("n", one_event(event=raw))

    assert result.events[0].code == "10100"
    assert result.events[0].status is ParcelStatus.ACCEPTED


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2017-07-27T16:33:00", utc(2017, 7, 27, 13, 33)),  # EEST, UTC+3
        ("2019-02-07T16:36:00", utc(2019, 2, 7, 14, 36)),  # EET, UTC+2
        ("2025-03-30T04:30:00", utc(2025, 3, 30, 1, 30)),  # just after the spring change
    ],
)
def test_dates_are_kyiv_local(date: str, expected: datetime) -> None:
    occurred_at = _parse_statuses("n", one_event(date=date)).events[0].occurred_at

    assert occurred_at == expected
    assert occurred_at.tzinfo is UTC


def test_equal_times_are_ordered_by_step() -> None:
    later = one_event(step=7, event=20800)[0]
    earlier = one_event(step=6, event=20700)[0]

    events = _parse_statuses("n", [later, earlier]).events

    assert [e.code for e in events] == ["20700", "20800"]


@pytest.mark.parametrize(
    ("reason", "reason_id", "expected"),
    [
        ("personally", 2, ParcelStatus.DELIVERED),
        (None, 1, ParcelStatus.DELIVERED),
        ("відправнику", 10, ParcelStatus.RETURNED),
        (None, "10", ParcelStatus.RETURNED),
        ("Відправнику", None, ParcelStatus.RETURNED),
    ],
)
def test_delivery_to_the_sender_is_a_return(
    reason: str | None, reason_id: Any, expected: ParcelStatus
) -> None:
    event = one_event(event=41000, eventReason=reason, eventReason_id=reason_id)

    assert _parse_statuses("n", event).events[0].status is expected


@pytest.mark.parametrize(
    ("name", "reason", "expected"),
    [
        ("Delivery", "personally", "Delivery: personally"),
        ("Відправлення вручено: відправнику", "відправнику", "Відправлення вручено: відправнику"),
        ("Arrival", None, "Arrival"),
        (None, "personally", "personally"),
        (None, None, None),
    ],
)
def test_description_joins_name_and_reason(
    name: str | None, reason: str | None, expected: str | None
) -> None:
    event = one_event(eventName=name, eventReason=reason)

    assert _parse_statuses("n", event).events[0].description == expected


def test_unknown_code_is_unknown_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.carriers.ukrposhta"):
        event = _parse_statuses("n", one_event(event=99999)).events[0]

    assert event.status is ParcelStatus.UNKNOWN
    assert event.code == "99999"
    assert any("ukrposhta" in r.getMessage() and "99999" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("10601", ParcelStatus.INFO_RECEIVED),
        ("10603", ParcelStatus.EXCEPTION),
        ("20900", ParcelStatus.IN_TRANSIT),
        ("31300", ParcelStatus.IN_TRANSIT),
        ("21400", ParcelStatus.READY_FOR_PICKUP),
        ("31100", ParcelStatus.DELIVERY_FAILED),
        ("31200", ParcelStatus.RETURNING),
        ("31400", ParcelStatus.DELIVERY_FAILED),
        ("48000", ParcelStatus.DELIVERED),
        ("41010", ParcelStatus.DELIVERY_FAILED),
        ("41020", ParcelStatus.RETURNED),
    ],
)
def test_status_table(code: str, expected: ParcelStatus) -> None:
    assert STATUS_BY_CODE[code] is expected
    assert _parse_statuses("n", one_event(event=code)).events[0].status is expected


def test_public_status_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        STATUS_BY_CODE["10100"] = ParcelStatus.UNKNOWN  # type: ignore[index]
    assert len(STATUS_BY_CODE) == 21


@pytest.mark.parametrize(
    "payload",
    [
        {"not": "a list"},
        ["not an object"],
        one_event(date="27.07.2017 16:33"),
        one_event(date=None),
        one_event(event=None),
        one_event(event=["10100"]),
        one_event(event=True),
        one_event(name={"office": "x"}),
        one_event(step="third"),
        [{k: v for k, v in one_event()[0].items() if k != "date"}],
        [{k: v for k, v in one_event()[0].items() if k != "event"}],
    ],
    ids=[
        "object",
        "string-item",
        "bad-date",
        "null-date",
        "null-event",
        "list-event",
        "bool-event",
        "object-name",
        "bad-step",
        "no-date",
        "no-event",
    ],
)
def test_malformed_events_raise_response_error(payload: Any) -> None:
    with pytest.raises(CarrierResponseError):
        _parse_statuses("n", payload)


@pytest.mark.parametrize("payload", [one_event(date="yesterday"), [{"event": 10100}]])
def test_parse_errors_are_chained(payload: Any) -> None:
    with pytest.raises(CarrierResponseError) as caught:
        _parse_statuses("n", payload)
    assert isinstance(caught.value.__cause__, ValueError | KeyError)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"found": {}},
        {"notFound": []},
        {"found": [], "notFound": []},
        {"found": {}, "notFound": {}},
    ],
)
def test_malformed_batch_answer_raises(payload: Any) -> None:
    with pytest.raises(CarrierResponseError):
        _parse_with_not_found(["n"], payload)


def test_one_garbled_history_does_not_hide_the_batch() -> None:
    payload = {"found": {"A": one_event(), "B": one_event(date="?")}, "notFound": []}

    outcomes = _parse_with_not_found(["A", "B"], payload)

    assert isinstance(outcomes["A"], TrackingResult)
    assert isinstance(outcomes["B"], CarrierResponseError)


def test_batch_keys_match_case_insensitively() -> None:
    payload = {"found": {"RA067022855UA": one_event()}, "notFound": []}

    assert isinstance(
        _parse_with_not_found(["ra067022855ua"], payload)["ra067022855ua"], TrackingResult
    )


def test_route_parsing() -> None:
    assert _parse_route(fixture("route")) == {
        "route_from": "УКРАЇНА м.Київ",
        "route_to": "УКРАЇНА с.Біляни",
    }
    assert _parse_route({"from": "", "to": None}) == {}
    with pytest.raises(CarrierResponseError):
        _parse_route({"from": ["x"]})


async def test_batch_of_nothing_sends_nothing(
    fake: FakeUkrposhta, client: UkrposhtaClient
) -> None:
    assert await client.track_many([]) == {}
    assert fake.seen == []


@pytest.mark.parametrize(
    "read",
    [
        lambda: kyiv_local("0001-01-01T00:00:00"),
        lambda: kyiv_local("01.01.0001 00:00:00", "%d.%m.%Y %H:%M:%S"),
        lambda: aware_utc("0001-01-01T00:00:00+01:00"),
    ],
)
def test_a_year_one_date_is_unreadable_like_any_bad_date(read: Callable[[], object]) -> None:
    # Carriers' parsers skip a ValueError; an OverflowError would sink a whole batch.
    with pytest.raises(ValueError, match="out of range"):
        read()
