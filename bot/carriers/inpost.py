"""InPost ShipX tracking client, with the carrier's own status titles in English or Polish."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import quote

import aiohttp

from bot.carriers.base import BatchOutcome
from bot.carriers.errors import (
    CarrierAuthError,
    CarrierError,
    CarrierRateLimited,
    CarrierResponseError,
    ParcelNotFound,
)
from bot.carriers.http import DEFAULT_TIMEOUT, gather_limited, request_json
from bot.carriers.models import (
    ParcelStatus,
    TrackingEvent,
    TrackingResult,
    aware_utc,
    sort_events,
)

logger = logging.getLogger(__name__)

NAME = "inpost"
_CONCURRENCY = 4  # no batch endpoint and no published rate limit: stay gentle
_DICTIONARY_TTL = 24 * 3600.0
_DICTIONARY_RETRY = 600.0  # after a failed fetch, built-in titles serve this long
_NOT_FOUND_ERRORS = frozenset({"resource_not_found", "uknown_tracking_number"})  # sic
_UNTRANSLATED = "translation missing"  # what en_GB says where it has no title


MAX_EXTRA = 200  # characters of a pickup point's name, address or hours kept for the card


class _Row(NamedTuple):
    status: ParcelStatus
    title_en: str
    title_pl: str


# ShipX status slug → normalized status and the en_GB / pl_PL titles (carrier-apis.md §2.1).
# Titles only fill in when the live /statuses dictionary cannot be fetched.
_S = ParcelStatus
_STATUS: dict[str, _Row] = {
    "created": _Row(_S.INFO_RECEIVED, "Parcel created.", "Przesyłka utworzona."),
    "offers_prepared": _Row(_S.INFO_RECEIVED, "Offers are prepared.", "Przygotowano oferty."),
    "offer_selected": _Row(_S.INFO_RECEIVED, "Offer selected.", "Oferta wybrana."),
    "confirmed": _Row(_S.INFO_RECEIVED, "Prepared by the Sender.", "Przygotowana przez Nadawcę."),
    "dispatched_by_sender": _Row(
        _S.ACCEPTED, "Parcel shipped at the parcel machine.", "Paczka nadana w paczkomacie."
    ),
    "collected_from_sender": _Row(
        _S.ACCEPTED, "Picked up from the client.", "Odebrana od klienta"
    ),
    "taken_by_courier": _Row(_S.ACCEPTED, "Picked up from Sender.", "Odebrana od Nadawcy."),
    "adopted_at_source_branch": _Row(
        _S.IN_TRANSIT, "Parcel in the warehouse.", "Przyjęta w oddziale InPost."
    ),
    "sent_from_source_branch": _Row(_S.IN_TRANSIT, "On the road.", "W trasie."),
    "ready_to_pickup_from_pok": _Row(
        _S.READY_FOR_PICKUP,
        "It's waiting to be collected at the Parcel Service Point.",
        "Czeka na odbiór w PaczkoPunkcie.",
    ),
    "ready_to_pickup_from_pok_registered": _Row(
        _S.READY_FOR_PICKUP,
        "It's waiting to be collected at the Customer Service Point.",
        "Czeka na odbiór w PaczkoPunkcie.",
    ),
    "oversized": _Row(_S.EXCEPTION, "Oversize parcel.", "Przesyłka ponadgabarytowa."),
    "adopted_at_sorting_center": _Row(
        _S.IN_TRANSIT, "Parcel waiting for transferring.", "Przyjęta w Sortowni."
    ),
    "sent_from_sorting_center": _Row(
        _S.IN_TRANSIT, "Sent from the Sorting Facility.", "Wysłana z Sortowni."
    ),
    "adopted_at_target_branch": _Row(
        _S.IN_TRANSIT, "The parcel is in town.", "Przyjęta w Oddziale Docelowym."
    ),
    "out_for_delivery": _Row(
        _S.OUT_FOR_DELIVERY, "Handed over for delivery.", "Przekazano do doręczenia."
    ),
    "ready_to_pickup": _Row(
        _S.READY_FOR_PICKUP,
        "Placed in the (collection) parcel machine.",
        "Umieszczona w Paczkomacie (odbiorczym).",
    ),
    "pickup_reminder_sent": _Row(
        _S.READY_FOR_PICKUP,
        "Reminder of a pending parcel.",
        "Przypomnienie o czekającej paczce.",
    ),
    "delivered": _Row(_S.DELIVERED, "Delivered.", "Dostarczona."),
    "pickup_time_expired": _Row(
        _S.DELIVERY_FAILED, "The deadline for collecting has passed.", "Upłynął termin odbioru."
    ),
    "avizo": _Row(_S.DELIVERY_FAILED, "Back to the branch.", "Powrót do oddziału."),
    "claimed": _Row(_S.EXCEPTION, "Complained in Parcel Machine.", "Zareklamowana w Paczkomacie."),
    "returned_to_sender": _Row(_S.RETURNING, "Return to sender.", "Zwrot do nadawcy."),
    "canceled": _Row(_S.EXCEPTION, "The label was cancelled.", "Anulowano etykietę."),
    "other": _Row(_S.UNKNOWN, "Other status.", "Inny status."),  # [?] says nothing
    "dispatched_by_sender_to_pok": _Row(
        _S.ACCEPTED, "Shipped at the Customer Service Point.", "Nadana w PaczkoPunkcie."
    ),
    "out_for_delivery_to_address": _Row(_S.OUT_FOR_DELIVERY, "In delivery.", "W doręczeniu."),
    # [?] Titled "In delivery." but described as "courier did not find the Recipient".
    "pickup_reminder_sent_address": _Row(_S.DELIVERY_FAILED, "In delivery.", "W doręczeniu."),
    "rejected_by_receiver": _Row(_S.RETURNING, "Parcel rejection.", "Odmowa przyjęcia."),
    "undelivered_wrong_address": _Row(
        _S.DELIVERY_FAILED, "No delivery possible.", "Brak możliwości doręczenia."
    ),
    "undelivered_incomplete_address": _Row(
        _S.DELIVERY_FAILED, "No delivery possible.", "Brak możliwości doręczenia."
    ),
    "undelivered_unknown_receiver": _Row(
        _S.DELIVERY_FAILED, "No delivery possible.", "Brak możliwości doręczenia."
    ),
    "undelivered_cod_cash_receiver": _Row(
        _S.DELIVERY_FAILED, "No delivery possible.", "Brak możliwości doręczenia."
    ),
    "taken_by_courier_from_pok": _Row(
        _S.IN_TRANSIT,
        "On the way to the InPost shipping branch.",
        "W drodze do oddziału nadawczego InPost.",
    ),
    "undelivered": _Row(
        _S.EXCEPTION,
        "Transfer of undeliverable parcels to the warehouse.",
        "Przekazanie do magazynu przesyłek niedoręczalnych.",
    ),
    # [?] The recipient collected it and a return receipt went to the sender.
    "return_pickup_confirmation_to_sender": _Row(
        _S.DELIVERED, "Return documents have been prepared.", "Przygotowano dokumenty zwrotne."
    ),
    "ready_to_pickup_from_branch": _Row(
        _S.READY_FOR_PICKUP,
        "Parcel not collected - waiting in the Branch.",
        "Paczka nieodebrana – czeka w Oddziale",
    ),
    "delay_in_delivery": _Row(
        _S.IN_TRANSIT, "Possible delay in delivery.", "Możliwe opóźnienie doręczenia."
    ),
    "redirect_to_box": _Row(
        _S.IN_TRANSIT, "Rerouted to parcel machine.", "Przekierowano do Paczkomatu."
    ),
    "canceled_redirect_to_box": _Row(
        _S.IN_TRANSIT, "Rerouting cancelled.", "Anulowano przekierowanie."
    ),
    "readdressed": _Row(
        _S.IN_TRANSIT, "Rerouted to another address.", "Przekierowano na inny adres."
    ),
    "undelivered_no_mailbox": _Row(
        _S.DELIVERY_FAILED, "No delivery possible.", "Brak możliwości doręczenia."
    ),
    "undelivered_not_live_address": _Row(
        _S.DELIVERY_FAILED, "No delivery possible.", "Brak możliwości doręczenia."
    ),
    "undelivered_lack_of_access_letterbox": _Row(
        _S.DELIVERY_FAILED, "No delivery possible.", "Brak możliwości doręczenia."
    ),
    # [?] en_GB has no title here ("translation missing: ..."); the English one is ours.
    "missing": _Row(_S.EXCEPTION, "Missing.", "Zaginiona."),
    "stack_in_customer_service_point": _Row(
        _S.READY_FOR_PICKUP,
        "Parcel stored at Parcel Service Point.",
        "Paczka magazynowana w PaczkoPunkcie.",
    ),
    "stack_parcel_pickup_time_expired": _Row(
        _S.DELIVERY_FAILED,
        "The deadline for collecting the stored parcel has passed.",
        "Upłynął termin odbioru paczki magazynowanej.",
    ),
    "unstack_from_customer_service_point": _Row(
        _S.IN_TRANSIT,
        "On the way to the parcel machine of your choice.",
        "W drodze do wybranego Paczkomatu.",
    ),
    "courier_avizo_in_customer_service_point": _Row(
        _S.READY_FOR_PICKUP, "Awaiting collection.", "Oczekuje na odbiór."
    ),
    # [?] Titled "Returned to sender." but describes the parcel starting its way back.
    "taken_by_courier_from_customer_service_point": _Row(
        _S.RETURNING, "Returned to sender.", "Zwrócona do nadawcy."
    ),
    "stack_in_box_machine": _Row(
        _S.READY_FOR_PICKUP,
        "Parcel stored in temporary parcel machine",
        "Paczka magazynowana w Paczkomacie tymczasowym",
    ),
    # [?] The en_GB title (copied verbatim) contradicts the Polish one and the slug.
    "unstack_from_box_machine": _Row(
        _S.IN_TRANSIT,
        "The deadline for collecting the stored parcel has passed",
        "Paczka w drodze do pierwotnie wybranego Paczkomatu",
    ),
    "stack_parcel_in_box_machine_pickup_time_expired": _Row(
        _S.DELIVERY_FAILED,
        "The deadline for collecting the stored parcel has passed",
        "Upłynął termin odbioru paczki magazynowanej",
    ),
}
STATUS_BY_CODE: Mapping[str, ParcelStatus] = MappingProxyType(
    {slug: row.status for slug, row in _STATUS.items()}
)
_BUILTIN_TITLES: Mapping[str, Mapping[str, str]] = {
    "en_GB": {slug: row.title_en for slug, row in _STATUS.items()},
    "pl_PL": {slug: row.title_pl for slug, row in _STATUS.items()},
}


class _Titles(NamedTuple):
    by_slug: Mapping[str, str]
    refresh_at: float  # clock time after which the dictionary is fetched again


class InPostClient:
    """Track InPost parcels through the anonymous ShipX tracking API."""

    name = NAME
    batch_size = 1

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._timeout = timeout
        self._clock = clock
        self._titles: dict[str, _Titles] = {}
        self._locks = {language: asyncio.Lock() for language in _BUILTIN_TITLES}

    async def track(self, number: str, lang: str = "uk") -> TrackingResult:
        """Return a parcel's history, oldest first, titled in English or (otherwise) Polish.

        Args:
            number: the 24-digit tracking number.
            lang: "en" gives the carrier's English titles; any other language its Polish ones.

        Raises:
            ParcelNotFound: InPost does not know the number (or no longer: 45-day retention).
            CarrierUnavailable: timeout, network failure, 5xx or 429.
            CarrierAuthError: access was refused.
            CarrierResponseError: the answer does not look like the documents say.
        """
        response = await request_json(
            self._session,
            "GET",
            f"{self._base_url}tracking/{quote(number, safe='')}",
            carrier=NAME,
            accept=frozenset({400, 404}),
            timeout=self._timeout,
            headers={"Accept": "application/json"},
        )
        if response.status in (400, 404):
            raise _error_from(response.status, response.body)
        titles = await self._status_titles("en_GB" if lang == "en" else "pl_PL")
        return _parse_tracking(number, response.body, titles)

    async def track_many(self, numbers: Sequence[str], lang: str = "uk") -> BatchOutcome:
        """Look up each number on its own, a few at a time, each with its own outcome.

        Args:
            numbers: the tracking numbers; duplicates are looked up once.
            lang: as for ``track``.
        """
        stop: list[CarrierError] = []

        async def one(number: str) -> TrackingResult | CarrierError:
            if stop:
                return stop[0]
            try:
                return await self.track(number, lang)
            except (CarrierRateLimited, CarrierAuthError) as err:
                # Every further request would get the same answer: don't send it.
                stop.append(err)
                return err
            except CarrierError as err:
                return err

        unique = list(dict.fromkeys(numbers))
        outcomes = await gather_limited(_CONCURRENCY, *(one(number) for number in unique))
        for outcome in outcomes:
            if not isinstance(outcome, TrackingResult | CarrierError):
                raise outcome  # a bug, not a carrier answer
        return dict(zip(unique, outcomes, strict=True))

    async def _status_titles(self, language: str) -> Mapping[str, str]:
        """Return the carrier's titles for one language, fetched at most once a day."""
        async with self._locks[language]:
            cached = self._titles.get(language)
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.by_slug
            try:
                fetched = await self._fetch_titles(language)
            except CarrierError as err:
                logger.warning(
                    "%s status dictionary %s unavailable, using built-in titles: %s",
                    NAME,
                    language,
                    err,
                )
                titles = _Titles(_BUILTIN_TITLES[language], self._clock() + _DICTIONARY_RETRY)
            else:
                # Built-in titles cover slugs the live dictionary lacks or leaves untranslated.
                merged = {**_BUILTIN_TITLES[language], **fetched}
                titles = _Titles(merged, self._clock() + _DICTIONARY_TTL)
            self._titles[language] = titles
            return titles.by_slug

    async def _fetch_titles(self, language: str) -> dict[str, str]:
        """Fetch the carrier's status dictionary for one language."""
        response = await request_json(
            self._session,
            "GET",
            self._base_url + "statuses",
            carrier=NAME,
            timeout=self._timeout,
            headers={"Accept": "application/json"},
            params={"lang": language},
        )
        return _parse_status_titles(response.body)


def _error_from(status: int, body: Any) -> CarrierError:
    """Read a 400/404 answer: an unknown number, or a request we got wrong."""
    error = body.get("error") if isinstance(body, dict) else None
    if status == 404 or error in _NOT_FOUND_ERRORS:
        return ParcelNotFound(NAME, f"HTTP {status} {error or ''}".strip())
    return CarrierResponseError(NAME, f"HTTP {status} error {error!r}")


def _parse_tracking(number: str, payload: Any, titles: Mapping[str, str]) -> TrackingResult:
    """Turn a tracking answer into a result, oldest event first.

    Raises:
        CarrierResponseError: a key is missing, has the wrong type or a time is unreadable.
    """
    if not isinstance(payload, dict):
        raise CarrierResponseError(NAME, "tracking answer is not an object")
    try:
        details = payload["tracking_details"]
        if not isinstance(details, list):
            raise CarrierResponseError(NAME, "tracking_details is not a list")
        if not details:
            # Nothing in the history yet: the shipment's own status is the one event we have.
            details = [{"status": payload["status"], "datetime": payload["updated_at"]}]
        # The carrier lists the newest change first.
        events = [_parse_detail(detail, titles) for detail in reversed(details)]
    except KeyError as err:
        raise CarrierResponseError(NAME, f"tracking answer without {err.args[0]!r}") from err
    return TrackingResult(NAME, number, sort_events(events), extras=_pickup_point(payload))


def _pickup_point(payload: dict[str, Any]) -> dict[str, str]:
    """Read the receiving locker or point from custom_attributes; nothing if it is unclear.

    The point is a nicety for the card: a shape we do not expect never fails the lookup.
    """
    attributes = payload.get("custom_attributes")
    if not isinstance(attributes, dict):
        return {}
    detail = attributes.get("target_machine_detail")
    detail = detail if isinstance(detail, dict) else {}
    name = _text(detail.get("name")) or _text(attributes.get("target_point_id"))
    if name is None:
        return {}
    address = detail.get("address")
    lines = (
        [_text(address.get(key)) for key in ("line1", "line2")]
        if isinstance(address, dict)
        else []
    )
    point = ", ".join([name, *(line for line in lines if line)])
    extras = {"pickup_point": point[:MAX_EXTRA]}
    for source, target in (
        ("location_description", "pickup_hint"),
        ("opening_hours", "pickup_hours"),
    ):
        value = _text(detail.get(source))
        if value:
            extras[target] = value[:MAX_EXTRA]
    return extras


def _text(value: Any) -> str | None:
    """Return a non-blank string, stripped, or None."""
    return value.strip() or None if isinstance(value, str) else None


def _parse_detail(detail: Any, titles: Mapping[str, str]) -> TrackingEvent:
    """Parse one `tracking_details` entry (KeyError for a missing key)."""
    if not isinstance(detail, dict):
        raise CarrierResponseError(NAME, "tracking detail is not an object")
    slug, when, agency = detail["status"], detail["datetime"], detail.get("agency")
    if not isinstance(slug, str) or not slug.strip():
        raise CarrierResponseError(NAME, f"status is {slug!r}")
    if not isinstance(when, str):
        raise CarrierResponseError(NAME, f"datetime is {type(when).__name__}")
    if agency is not None and not isinstance(agency, str):
        raise CarrierResponseError(NAME, f"agency is {type(agency).__name__}")
    try:
        occurred_at = aware_utc(when)
    except ValueError as err:
        raise CarrierResponseError(NAME, f"unreadable datetime {when!r}") from err
    slug = slug.strip()
    row = _STATUS.get(slug)
    if row is None:
        logger.info("%s: unknown status %s", NAME, slug)
    return TrackingEvent(
        occurred_at=occurred_at,
        status=row.status if row else ParcelStatus.UNKNOWN,
        code=slug,
        description=titles.get(slug),
        location=(agency or "").strip() or None,
    )


def _parse_status_titles(payload: Any) -> dict[str, str]:
    """Turn a `/statuses` dictionary answer into slug → title, skipping untranslated ones.

    Raises:
        CarrierResponseError: the answer lacks `items` or an item lacks name or title.
    """
    items = payload.get("items") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise CarrierResponseError(NAME, "status dictionary without an items list")
    titles: dict[str, str] = {}
    for item in items:
        name = item.get("name") if isinstance(item, dict) else None
        title = item.get("title") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(title, str):
            raise CarrierResponseError(NAME, "status dictionary item without name or title")
        if title.strip() and not title.startswith(_UNTRANSLATED):
            titles[name] = title.strip()
    return titles
