"""Nova Poshta client: the current status of up to 100 waybills per getStatusDocuments call."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import aiohttp

from bot.carriers.base import BatchOutcome
from bot.carriers.errors import (
    CarrierAuthError,
    CarrierError,
    CarrierRateLimited,
    CarrierResponseError,
    ParcelNotFound,
)
from bot.carriers.http import DEFAULT_TIMEOUT, request_json
from bot.carriers.models import ParcelStatus, TrackingEvent, TrackingResult, kyiv_local

logger = logging.getLogger(__name__)

NAME = "nova-poshta"
BATCH_SIZE = 100  # [S] a public client documents 100 documents per call

# [?] Public clients send "UA" (and "UK"); whether RU/EN are honoured for tracking is not
# verified. The Status text is therefore Ukrainian for every chat: the bot's own catalog
# translates by StatusCode, and Status is only shown as a detail line.
LANGUAGE = "UA"

_NOT_FOUND_CODE = "3"
_S = ParcelStatus
# StatusCode → status (carrier-apis.md §5.1; codes compared as strings).
STATUS_BY_CODE: Mapping[str, ParcelStatus] = MappingProxyType(
    {
        "1": _S.INFO_RECEIVED,  # created by the sender, not handed over yet
        "2": _S.EXCEPTION,  # deleted
        "4": _S.ACCEPTED,  # in the sender's city
        "41": _S.ACCEPTED,  # in the city (local delivery)
        "5": _S.IN_TRANSIT,  # on the way to the recipient's city
        "6": _S.IN_TRANSIT,  # in the recipient's city
        "7": _S.READY_FOR_PICKUP,  # arrived at the branch
        "8": _S.READY_FOR_PICKUP,  # arrived at the branch (loaded into a parcel locker)
        "9": _S.DELIVERED,
        "10": _S.DELIVERED,  # received; money transfer within a day
        "11": _S.DELIVERED,  # received; money transfer paid out
        "12": _S.INFO_RECEIVED,  # Nova Poshta is assembling the shipment
        "14": _S.READY_FOR_PICKUP,  # handed to the recipient for inspection (older lists)
        "101": _S.OUT_FOR_DELIVERY,  # with the courier
        "102": _S.RETURNING,  # refused; the sender ordered a return
        "103": _S.RETURNING,  # refused by the recipient
        "104": _S.IN_TRANSIT,  # address changed
        "105": _S.RETURNING,  # [?] storage stopped
        "106": _S.DELIVERED,  # [?] received, return waybill created (one consumer: a return)
        "108": _S.RETURNING,  # refused by the recipient (older lists)
        "111": _S.DELIVERY_FAILED,  # failed delivery attempt
        "112": _S.IN_TRANSIT,  # delivery date moved by the recipient
    }
)

# NP sends no history, only dates on the current state. Which date says "when this status
# happened" depends on the status; the first present field wins.
_TIME_FIELDS_BY_STATUS: Mapping[ParcelStatus, tuple[str, ...]] = {
    _S.DELIVERED: ("RecipientDateTime", "DateScan", "ActualDeliveryDate", "DateCreated"),
    _S.READY_FOR_PICKUP: ("ActualDeliveryDate", "DateScan", "DateCreated"),
    _S.INFO_RECEIVED: ("DateCreated",),
}
_DEFAULT_TIME_FIELDS = ("DateScan", "DateCreated")
# Seen in answers: DateCreated "06-04-2023 08:20:34", ActualDeliveryDate "2023-04-06 18:47:40",
# RecipientDateTime "07.04.2023 13:35:58", DateScan "15:36 07.04.2023", dates without a time.
_TIME_FORMATS = (
    "%d-%m-%Y %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%H:%M %d.%m.%Y",
    "%d-%m-%Y",
    "%Y-%m-%d",
)

_AUTH_ERROR_CODES = frozenset({"20000200068", "20000200069"})  # [S] API auth fail, key empty
_AUTH_WORDS = ("api key", "apikey", "api auth")
_BAD_NUMBER_CODES = frozenset({"20001401442"})
_BAD_NUMBER_WORDS = ("document number is not correct",)
_RATE_LIMIT_WORDS = (
    "превышено число запросов",
    "перевищено кількість запитів",
    "to many requests",  # sic, as one client matches it
    "too many requests",
)


class NovaPoshtaClient:
    """Track Nova Poshta waybills, up to 100 per request, optionally with a phone number."""

    name = NAME
    batch_size = BATCH_SIZE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str | None,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._session = session
        # The base URL is the JSON endpoint itself, e.g. https://api.novaposhta.ua/v2.0/json/.
        self._url = base_url
        self._api_key = api_key or ""
        self._timeout = timeout

    async def track(
        self, number: str, lang: str = "uk", phone: str | None = None
    ) -> TrackingResult:
        """Look up one waybill; a sender's or recipient's phone unlocks extended fields.

        Raises:
            ParcelNotFound: Nova Poshta does not know the number or rejects its format.
            CarrierUnavailable: timeout, network failure, 5xx, or a rate limit.
            CarrierAuthError: the API key was refused.
            CarrierResponseError: the answer does not have the documented shape.
        """
        phones = {number: phone} if phone else None
        outcome = (await self.track_many([number], lang, phones))[number]
        if isinstance(outcome, CarrierError):
            raise outcome
        return outcome

    async def track_many(
        self,
        numbers: Sequence[str],
        lang: str = "uk",
        phones: Mapping[str, str] | None = None,
    ) -> BatchOutcome:
        """Look up waybills, 100 per request, each with its phone from ``phones`` if given.

        The status text is always requested in Ukrainian (see LANGUAGE), whatever ``lang`` is.

        Raises:
            CarrierUnavailable: a request timed out, failed or was rate limited.
            CarrierAuthError: the API key was refused.
            CarrierResponseError: an answer does not have the documented shape.
        """
        wanted = list(dict.fromkeys(numbers))
        outcomes: dict[str, TrackingResult | CarrierError] = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            chunk = wanted[start : start + BATCH_SIZE]
            outcomes.update(await self._track_chunk(chunk, phones or {}))
        return outcomes

    async def _track_chunk(
        self, chunk: Sequence[str], phones: Mapping[str, str]
    ) -> dict[str, TrackingResult | CarrierError]:
        """Ask for one chunk; when NP rejects a number's format, halve to isolate it."""
        try:
            documents = await self._request(chunk, phones)
        except ParcelNotFound as err:
            # One malformed number fails the whole request; bisecting costs ~2·log2(n) calls.
            if len(chunk) == 1:
                return {chunk[0]: err}
            middle = len(chunk) // 2
            return {
                **await self._track_chunk(chunk[:middle], phones),
                **await self._track_chunk(chunk[middle:], phones),
            }
        return _parse_documents(documents, chunk)

    async def _request(self, chunk: Sequence[str], phones: Mapping[str, str]) -> list[Any]:
        """POST one getStatusDocuments call and return its data list."""
        body = {
            "apiKey": self._api_key,
            "modelName": "TrackingDocument",
            "calledMethod": "getStatusDocuments",
            "methodProperties": {
                "Documents": [
                    {"DocumentNumber": number, "Phone": phones.get(number, "")} for number in chunk
                ],
                "Language": LANGUAGE,
            },
        }
        response = await request_json(
            self._session, "POST", self._url, carrier=NAME, timeout=self._timeout, json=body
        )
        return _parse_envelope(response.body)


def _parse_envelope(body: Any) -> list[Any]:
    """Return the data list of a successful answer, or raise what its errors mean."""
    if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
        raise CarrierResponseError(NAME, "answer is not the documented envelope")
    if body["success"]:
        data = body.get("data")
        if not isinstance(data, list):
            raise CarrierResponseError(NAME, "data is not a list")
        return data
    raise _error_from(body)


def _error_from(body: Mapping[str, Any]) -> CarrierError:
    """Turn the errors of a success:false answer into the matching CarrierError."""
    messages = [str(m) for m in _as_list(body.get("errors"))]
    codes = {str(c) for c in _as_list(body.get("errorCodes"))}
    text = "; ".join(messages)[:300] or "success is false without errors"
    lowered = text.casefold()
    if codes & _AUTH_ERROR_CODES or any(word in lowered for word in _AUTH_WORDS):
        return CarrierAuthError(NAME, f"{text} (set NOVAPOSHTA_API_KEY to a valid key)")
    if codes & _BAD_NUMBER_CODES or any(word in lowered for word in _BAD_NUMBER_WORDS):
        return ParcelNotFound(NAME, text)
    if any(word in lowered for word in _RATE_LIMIT_WORDS):
        return CarrierRateLimited(NAME, text)
    return CarrierResponseError(NAME, text)


def _as_list(value: Any) -> list[Any]:
    """Return a list field, treating anything else as empty."""
    return value if isinstance(value, list) else []


def _parse_documents(
    documents: list[Any], requested: Sequence[str]
) -> dict[str, TrackingResult | CarrierError]:
    """Give each requested number its result, or the error for it alone."""
    by_number: dict[str, TrackingResult | CarrierError] = {}
    for document in documents:
        if not isinstance(document, dict) or not isinstance(document.get("Number"), str):
            raise CarrierResponseError(NAME, "document without a Number")
        try:
            by_number[document["Number"]] = _parse_document(document)
        except CarrierError as err:
            by_number[document["Number"]] = err
    outcomes: dict[str, TrackingResult | CarrierError] = {}
    for number in requested:
        found = by_number.get(number)
        outcomes[number] = found or ParcelNotFound(NAME, "number missing from the answer")
    return outcomes


def _parse_document(document: Mapping[str, Any]) -> TrackingResult:
    """Build a one-event result from a document's current status."""
    number = document["Number"]
    code = str(document.get("StatusCode", "")).strip()
    description = _text(document, "Status")
    if code == _NOT_FOUND_CODE:
        raise ParcelNotFound(NAME, description or "number not found")
    if not code:
        raise CarrierResponseError(NAME, "document without a StatusCode")
    status = STATUS_BY_CODE.get(code, ParcelStatus.UNKNOWN)
    if status is ParcelStatus.UNKNOWN:
        logger.info("Nova Poshta StatusCode %s is not mapped", code)
    time_fields = _TIME_FIELDS_BY_STATUS.get(status, _DEFAULT_TIME_FIELDS)
    occurred_at = next(filter(None, (_time(document, f) for f in time_fields)), None)
    if occurred_at is None:
        raise CarrierResponseError(NAME, f"no readable date for StatusCode {code}")
    event = TrackingEvent(
        occurred_at=occurred_at,
        status=status,
        code=code,
        description=description,
        location=_text(document, "WarehouseRecipient") or _text(document, "CityRecipient"),
    )
    return TrackingResult(NAME, number, (event,), _extras(document))


def _extras(document: Mapping[str, Any]) -> dict[str, str]:
    """Collect the route and delivery details that are present (keys the card knows)."""
    extras: dict[str, str] = {}
    for key, field in (
        ("route_from", "CitySender"),
        ("route_to", "CityRecipient"),
        ("pickup_point", "WarehouseRecipient"),
    ):
        value = _text(document, field)
        if value:
            extras[key] = value
    scheduled = _time(document, "ScheduledDeliveryDate")
    if scheduled is not None:
        extras["scheduled_delivery_date"] = scheduled.isoformat()
    # [?] "DateFirstDayStorage": read as the first day of paid storage at the branch. Not in our
    # documents; inferred from its name and from payloads where it falls 7–8 days after the
    # parcel arrived (the free storage period) and equals "DatePayedKeeping" of a collected
    # one. If that reading is wrong, drop this key: the card and reminders then say nothing.
    storage = _time(document, "DateFirstDayStorage")
    if storage is not None:
        extras["paid_storage_from"] = storage.isoformat()
    return extras


def _text(document: Mapping[str, Any], field: str) -> str | None:
    """Return a non-empty string field, else None."""
    value = document.get(field)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _time(document: Mapping[str, Any], field: str) -> datetime | None:
    """Parse a naive Kyiv date field in any of NP's formats into aware UTC; None if absent."""
    text = _text(document, field)
    if text is None:
        return None
    for fmt in _TIME_FORMATS:
        try:
            return kyiv_local(text, fmt)
        except ValueError:
            continue
    logger.info("Nova Poshta %s has an unreadable date %r", field, text)
    return None
