"""NovaPoshtaClient against a loopback JSON endpoint that answers in NP's envelope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.carriers.errors import (
    CarrierAuthError,
    CarrierError,
    CarrierRateLimited,
    CarrierResponseError,
    CarrierUnavailable,
    ParcelNotFound,
)
from bot.carriers.models import ParcelStatus, TrackingResult
from bot.carriers.novaposhta import (
    STATUS_BY_CODE,
    NovaPoshtaClient,
    _parse_documents,
    _parse_envelope,
    _time,
)
from tests.conftest import load_fixture

API_KEY = "np-test-key-0123456789abcdef"
ENDPOINT = "/v2.0/json/"
DELIVERED = "20400048799001"
AT_BRANCH = "20450000000002"
NOT_FOUND = "20400048799000"
PHONE = "380600000000"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fixture(name: str) -> Any:
    return load_fixture("novaposhta", name)


def envelope(data: list[Any], **fields: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "success": True,
        "data": data,
        "errors": [],
        "warnings": [],
        "info": [],
        "messageCodes": [],
        "errorCodes": [],
        "warningCodes": [],
        "infoCodes": [],
    }
    answer.update(fields)
    return answer


def not_found_document(number: str) -> dict[str, Any]:
    document = dict(fixture("not_found.json")["data"][0])
    document["Number"] = number
    return document


class FakeNovaPoshta:
    """A loopback NP endpoint answering from fixtures and recording every request body."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {
            DELIVERED: fixture("delivered.json")["data"][0],
            AT_BRANCH: fixture("at_branch.json")["data"][0],
        }
        # Numbers NP rejects with "Document number is not correct".
        self.malformed: set[str] = set()
        self.handler: Handler | None = None
        self.requests: list[web.Request] = []
        self.bodies: list[dict[str, Any]] = []
        self.server: TestServer | None = None

    def numbers_per_request(self) -> list[list[str]]:
        return [
            [d["DocumentNumber"] for d in body["methodProperties"]["Documents"]]
            for body in self.bodies
        ]

    async def endpoint(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        body = await request.json()
        self.bodies.append(body)
        if self.handler is not None:
            return await self.handler(request)
        numbers = [d["DocumentNumber"] for d in body["methodProperties"]["Documents"]]
        if self.malformed & set(numbers):
            return web.json_response(fixture("bad_number.json"))
        data = [self.documents.get(n) or not_found_document(n) for n in numbers]
        return web.json_response(envelope(data))


def answer(status: int, body: str, content_type: str = "application/json") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=body, content_type=content_type)

    return handler


def json_answer(payload: Any) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload)

    return handler


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeNovaPoshta:
    fake = FakeNovaPoshta()
    app = web.Application()
    app.router.add_post(ENDPOINT, fake.endpoint)
    fake.server = await aiohttp_server(app)
    return fake


def make_client(
    session: aiohttp.ClientSession,
    fake: FakeNovaPoshta,
    api_key: str | None = API_KEY,
    **kwargs: Any,
) -> NovaPoshtaClient:
    assert fake.server is not None
    return NovaPoshtaClient(session, str(fake.server.make_url(ENDPOINT)), api_key, **kwargs)


def result_of(outcome: TrackingResult | CarrierError) -> TrackingResult:
    assert isinstance(outcome, TrackingResult), outcome
    return outcome


@pytest.mark.parametrize("lang", ["uk", "en", "ru"])
async def test_delivered_with_phone(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta, lang: str
) -> None:
    client = make_client(http_session, fake)

    result = await client.track(DELIVERED, lang, phone=PHONE)

    assert [r.path for r in fake.requests] == [ENDPOINT]
    assert fake.requests[0].method == "POST"
    assert fake.bodies == [
        {
            "apiKey": API_KEY,
            "modelName": "TrackingDocument",
            "calledMethod": "getStatusDocuments",
            "methodProperties": {
                "Documents": [{"DocumentNumber": DELIVERED, "Phone": PHONE}],
                "Language": "UA",
            },
        }
    ]
    assert result.carrier == "nova-poshta"
    assert result.number == DELIVERED
    assert result.delivered
    (event,) = result.events
    assert event.code == "9"
    assert event.description == "Відправлення отримано"
    # RecipientDateTime "07.04.2023 13:35:58" is Kyiv summer time (UTC+3).
    assert event.occurred_at == datetime(2023, 4, 7, 10, 35, 58, tzinfo=UTC)
    assert event.location == "Відділення №1: вул. Пирогівський шлях, 135"
    assert result.extras == {
        "route_from": "Київ",
        "route_to": "Київ",
        "pickup_point": "Відділення №1: вул. Пирогівський шлях, 135",
        "scheduled_delivery_date": "2023-04-06T09:47:40+00:00",
        "paid_storage_from": "2023-04-13T21:00:00+00:00",  # 14 April, Kyiv summer time
    }


async def test_at_branch_without_phone(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    client = make_client(http_session, fake)

    result = await client.track(AT_BRANCH)

    assert fake.bodies[0]["methodProperties"]["Documents"] == [
        {"DocumentNumber": AT_BRANCH, "Phone": ""}
    ]
    assert result.status is ParcelStatus.READY_FOR_PICKUP
    (event,) = result.events
    # ActualDeliveryDate "2024-11-20 09:41:12" is Kyiv winter time (UTC+2).
    assert event.occurred_at == datetime(2024, 11, 20, 7, 41, 12, tzinfo=UTC)
    assert event.location == "Відділення №25 (до 30 кг): вул. Дерибасівська, 1"
    assert result.extras["route_from"] == "Львів"
    assert result.extras["scheduled_delivery_date"] == "2024-11-19T22:00:00+00:00"
    # "DateFirstDayStorage" 2024-11-27, a Kyiv day: paid storage from then.
    assert result.extras["paid_storage_from"] == "2024-11-26T22:00:00+00:00"


async def test_without_key_sends_empty_api_key(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    client = make_client(http_session, fake, api_key=None)

    await client.track(AT_BRANCH)

    assert fake.bodies[0]["apiKey"] == ""


async def test_status_code_3_is_not_found(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    fake.handler = json_answer(fixture("not_found.json"))
    client = make_client(http_session, fake)

    with pytest.raises(ParcelNotFound) as excinfo:
        await client.track(NOT_FOUND)

    assert "Номер не знайдено" in str(excinfo.value)


async def test_found_and_not_found_mix(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    missing = "20400000000009"
    fake.handler = json_answer(
        envelope(
            [
                fake.documents[DELIVERED],
                not_found_document(NOT_FOUND),
                fake.documents[AT_BRANCH],
            ]
        )
    )
    client = make_client(http_session, fake)

    outcomes = await client.track_many(
        [DELIVERED, NOT_FOUND, missing, AT_BRANCH], phones={DELIVERED: PHONE}
    )

    assert fake.numbers_per_request() == [[DELIVERED, NOT_FOUND, missing, AT_BRANCH]]
    phones = [d["Phone"] for d in fake.bodies[0]["methodProperties"]["Documents"]]
    assert phones == [PHONE, "", "", ""]
    assert result_of(outcomes[DELIVERED]).delivered
    assert result_of(outcomes[AT_BRANCH]).status is ParcelStatus.READY_FOR_PICKUP
    assert isinstance(outcomes[NOT_FOUND], ParcelNotFound)
    assert isinstance(outcomes[missing], ParcelNotFound)


async def test_batch_of_250_is_split_into_100_100_50(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    numbers = [DELIVERED, *(f"204{i:011d}" for i in range(248)), AT_BRANCH]
    phones = {number: f"38067{i:07d}" for i, number in enumerate(numbers)}
    client = make_client(http_session, fake)

    outcomes = await client.track_many(numbers, phones=phones)

    assert [len(chunk) for chunk in fake.numbers_per_request()] == [100, 100, 50]
    assert [n for chunk in fake.numbers_per_request() for n in chunk] == numbers
    sent_phones = {
        d["DocumentNumber"]: d["Phone"]
        for body in fake.bodies
        for d in body["methodProperties"]["Documents"]
    }
    assert sent_phones == phones
    assert result_of(outcomes[DELIVERED]).delivered
    assert result_of(outcomes[AT_BRANCH]).status is ParcelStatus.READY_FOR_PICKUP
    assert sum(isinstance(o, ParcelNotFound) for o in outcomes.values()) == 248


async def test_invalid_key_raises_auth_error_with_hint(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    fake.handler = json_answer(fixture("invalid_key.json"))
    client = make_client(http_session, fake)

    with pytest.raises(CarrierAuthError) as excinfo:
        await client.track_many([DELIVERED, AT_BRANCH])

    assert "NOVAPOSHTA_API_KEY" in str(excinfo.value)
    assert API_KEY not in str(excinfo.value)


@pytest.mark.parametrize(
    ("errors", "codes"),
    [
        (["API key expired"], []),
        (["Invalid apiKey"], []),
        (["Щось пішло не так"], ["20000200069"]),
    ],
)
def test_other_key_errors_are_auth_errors(errors: list[str], codes: list[str]) -> None:
    body = envelope([], success=False, errors=errors, errorCodes=codes)

    with pytest.raises(CarrierAuthError):
        _parse_envelope(body)


async def test_bad_number_alone_is_not_found(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    fake.malformed = {"12345"}
    client = make_client(http_session, fake)

    with pytest.raises(ParcelNotFound) as excinfo:
        await client.track("12345")

    assert "Document number is not correct" in str(excinfo.value)


async def test_bad_number_in_a_batch_is_isolated(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    fake.malformed = {"12345"}
    numbers = [DELIVERED, NOT_FOUND, "12345", AT_BRANCH, "20400000000009"]
    client = make_client(http_session, fake)

    outcomes = await client.track_many(numbers)

    assert fake.numbers_per_request()[0] == numbers
    assert len(fake.requests) <= 2 * len(numbers)
    assert result_of(outcomes[DELIVERED]).delivered
    assert result_of(outcomes[AT_BRANCH]).status is ParcelStatus.READY_FOR_PICKUP
    bad = outcomes["12345"]
    assert isinstance(bad, ParcelNotFound)
    assert "Document number is not correct" in str(bad)
    assert isinstance(outcomes[NOT_FOUND], ParcelNotFound)
    assert "Document number" not in str(outcomes[NOT_FOUND])


@pytest.mark.parametrize(
    "message",
    ["Превышено число запросов в минуту", "To many requests", "Too many requests"],
)
async def test_rate_limit_message(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta, message: str
) -> None:
    fake.handler = json_answer(envelope([], success=False, errors=[message]))
    client = make_client(http_session, fake)

    with pytest.raises(CarrierRateLimited):
        await client.track(DELIVERED)


async def test_other_logical_error(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    fake.handler = json_answer(
        envelope([], success=False, errors=["Method does not exist"], errorCodes=["20000100008"])
    )
    client = make_client(http_session, fake)

    with pytest.raises(CarrierError) as excinfo:
        await client.track(DELIVERED)

    assert type(excinfo.value) is CarrierResponseError
    assert "Method does not exist" in str(excinfo.value)


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        pytest.param(answer(401, '{"success": false}'), CarrierAuthError, id="401"),
        pytest.param(answer(429, "slow down", "text/plain"), CarrierRateLimited, id="429"),
        pytest.param(answer(500, "oops", "text/plain"), CarrierUnavailable, id="500"),
        pytest.param(answer(200, '{"success": true, "data": ['), CarrierResponseError, id="bad"),
        pytest.param(
            answer(200, "<html><body>502 Bad Gateway</body></html>", "text/html"),
            CarrierResponseError,
            id="html",
        ),
        pytest.param(json_answer([]), CarrierResponseError, id="not-an-envelope"),
        pytest.param(json_answer({"success": True, "data": {}}), CarrierResponseError, id="data"),
        pytest.param(json_answer(envelope([{"Status": "x"}])), CarrierResponseError, id="no-Num"),
        pytest.param(json_answer(envelope([], success=False)), CarrierResponseError, id="no-errs"),
    ],
)
async def test_http_and_shape_failures(
    http_session: aiohttp.ClientSession,
    fake: FakeNovaPoshta,
    handler: Handler,
    expected: type[CarrierError],
) -> None:
    fake.handler = handler
    client = make_client(http_session, fake)

    with pytest.raises(CarrierError) as excinfo:
        await client.track(DELIVERED)

    assert type(excinfo.value) is expected


async def test_timeout_becomes_unavailable(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.0)
        return web.json_response(envelope([]))

    fake.handler = slow
    client = make_client(http_session, fake, timeout=aiohttp.ClientTimeout(total=0.3))
    started = time.monotonic()

    with pytest.raises(CarrierUnavailable) as excinfo:
        await client.track(DELIVERED)

    assert type(excinfo.value) is CarrierUnavailable
    assert time.monotonic() - started < 0.9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("06-04-2023 08:20:34", datetime(2023, 4, 6, 5, 20, 34, tzinfo=UTC)),
        ("2023-04-06 18:47:40", datetime(2023, 4, 6, 15, 47, 40, tzinfo=UTC)),
        ("07.04.2023 13:35:58", datetime(2023, 4, 7, 10, 35, 58, tzinfo=UTC)),
        ("15:36 07.04.2023", datetime(2023, 4, 7, 12, 36, tzinfo=UTC)),
        ("18-11-2021 11:52:42", datetime(2021, 11, 18, 9, 52, 42, tzinfo=UTC)),
        ("19-11-2016", datetime(2016, 11, 18, 22, 0, tzinfo=UTC)),
        ("", None),
        ("not a date", None),
    ],
)
def test_time_formats(text: str, expected: datetime | None) -> None:
    assert _time({"DateCreated": text}, "DateCreated") == expected


@pytest.mark.parametrize(
    ("code", "fields", "expected_time"),
    [
        # Created only: DateCreated, even when other dates exist.
        ("1", {"DateScan": "15:36 07.04.2023"}, datetime(2023, 4, 6, 5, 20, 34, tzinfo=UTC)),
        # In transit: the last scan.
        ("5", {"DateScan": "15:36 07.04.2023"}, datetime(2023, 4, 7, 12, 36, tzinfo=UTC)),
        # Delivered without RecipientDateTime: the last scan.
        ("9", {"DateScan": "15:36 07.04.2023"}, datetime(2023, 4, 7, 12, 36, tzinfo=UTC)),
        # Anything without a scan: the creation date.
        ("101", {}, datetime(2023, 4, 6, 5, 20, 34, tzinfo=UTC)),
    ],
)
def test_event_time_follows_the_status(
    code: str, fields: dict[str, str], expected_time: datetime
) -> None:
    document = {"Number": DELIVERED, "StatusCode": code, "DateCreated": "06-04-2023 08:20:34"}
    document.update(fields)

    result = result_of(_parse_documents([document], [DELIVERED])[DELIVERED])

    assert result.events[0].occurred_at == expected_time
    assert result.status is STATUS_BY_CODE[code]


def test_unmapped_code_is_unknown_and_numeric_code_is_read() -> None:
    documents = [
        {"Number": "A", "StatusCode": "999", "DateCreated": "06-04-2023 08:20:34"},
        {"Number": "B", "StatusCode": 9, "RecipientDateTime": "07.04.2023 13:35:58"},
    ]

    outcomes = _parse_documents(documents, ["A", "B"])

    assert result_of(outcomes["A"]).status is ParcelStatus.UNKNOWN
    assert result_of(outcomes["B"]).events[0].code == "9"
    assert result_of(outcomes["B"]).delivered


def test_document_without_dates_is_its_own_error() -> None:
    documents = [
        {"Number": "A", "StatusCode": "5", "Status": "Прямує до міста"},
        fixture("delivered.json")["data"][0],
    ]

    outcomes = _parse_documents(documents, ["A", DELIVERED])

    assert isinstance(outcomes["A"], CarrierResponseError)
    assert result_of(outcomes[DELIVERED]).delivered


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("1", ParcelStatus.INFO_RECEIVED),
        ("2", ParcelStatus.EXCEPTION),
        ("4", ParcelStatus.ACCEPTED),
        ("41", ParcelStatus.ACCEPTED),
        ("6", ParcelStatus.IN_TRANSIT),
        ("8", ParcelStatus.READY_FOR_PICKUP),
        ("11", ParcelStatus.DELIVERED),
        ("101", ParcelStatus.OUT_FOR_DELIVERY),
        ("103", ParcelStatus.RETURNING),
        ("111", ParcelStatus.DELIVERY_FAILED),
        ("112", ParcelStatus.IN_TRANSIT),
    ],
)
def test_status_table(code: str, expected: ParcelStatus) -> None:
    assert STATUS_BY_CODE[code] is expected
    assert "3" not in STATUS_BY_CODE  # not found is an error, never a status


async def test_a_year_one_date_is_unreadable_not_fatal(
    http_session: aiohttp.ClientSession, fake: FakeNovaPoshta
) -> None:
    # An "empty" date that cannot be moved to UTC must not sink the lookup (or a batch).
    answer = fixture("at_branch.json")
    answer["data"][0]["DateFirstDayStorage"] = "0001-01-01 00:00:00"
    answer["data"][0]["ScheduledDeliveryDate"] = "01-01-0001"
    fake.handler = json_answer(answer)
    result = await make_client(http_session, fake).track(AT_BRANCH)
    assert result.status is ParcelStatus.READY_FOR_PICKUP
    assert "paid_storage_from" not in result.extras
    assert "scheduled_delivery_date" not in result.extras
