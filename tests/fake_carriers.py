"""One loopback aiohttp server that answers like all five carriers' documents, programmably."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.typedefs import Handler

KYIV = ZoneInfo("Europe/Kyiv")
JSON = "application/json"

# Faults applied to a carrier's real answer on the way out (see FakeCarriers._shape).
SHAPED_FAULTS = frozenset({"cutjson", "truncated", "slowdrip"})
DRIP_PIECES = 10  # a "slowdrip" answer arrives in this many pieces, spread over ``delay``
# The handlers that answer tracking requests, by the carrier whose faults they obey.
_TRACKING_HANDLERS = {
    "_up_statuses": "ukrposhta",
    "_up_batch": "ukrposhta",
    "_inpost_track": "inpost",
    "_np": "nova-poshta",
    "_pp_many": "postplus",
    "_gp_detect": "gdeposylka",
    "_gp_track": "gdeposylka",
}
_PROXY_PAGE = (  # what nginx in front of a carrier answers when the carrier is down
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class FakeEvent:
    """A carrier-neutral event; ``code`` is the carrier's own code (e.g. "21700", "delivered")."""

    code: str
    at: datetime
    place: str = "KYIV 1"
    text: str = ""


@dataclass
class FakeCarriers:
    """Parcel data per carrier and number, request counters and injectable faults."""

    parcels: dict[str, dict[str, list[FakeEvent]]] = field(default_factory=dict)
    # carrier -> fault: "timeout" (answer after ``delay``), "html" (200 HTML page), "badjson"
    # (200, broken JSON), "<status>" (JSON error with that status), "429:<seconds>" (429 with a
    # Retry-After header), "html-<status>" (a proxy's HTML error page with that status), and,
    # applied to the real answer: "cutjson" (its first half, consistent Content-Length),
    # "truncated" (Content-Length of the whole, half sent, connection closed) and "slowdrip"
    # (the whole answer in small pieces spread over ``delay``).
    faults: dict[str, str] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    # Ukrposhta tracking requests by the language asked for ("uk": no lang parameter).
    languages: Counter[str] = field(default_factory=Counter)
    delay: float = 5.0  # how long a "timeout" fault sleeps, or a "slowdrip" answer lasts
    # InPost number -> its receiving locker, as custom_attributes.target_machine_detail
    inpost_points: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set(self, carrier: str, number: str, *events: FakeEvent) -> None:
        """Replace the history a carrier reports for a number (none = not found).

        GdePosylka is the exception: a number set with no events is tracked without any
        checkpoint yet (an empty success); a number never set is "waiting".
        """
        self.parcels.setdefault(carrier, {})[number] = list(events)

    def add(self, carrier: str, number: str, event: FakeEvent) -> None:
        """Append one event to a number's history."""
        self.parcels.setdefault(carrier, {}).setdefault(number, []).append(event)

    def events(self, carrier: str, number: str) -> list[FakeEvent]:
        """Return the history for a number, oldest first."""
        return sorted(self.parcels.get(carrier, {}).get(number, []), key=lambda e: e.at)

    async def _fault(self, carrier: str) -> web.Response | None:
        """Apply the configured fault for a carrier, if any."""
        fault = self.faults.get(carrier)
        if fault == "timeout":
            await asyncio.sleep(self.delay)
        elif fault == "html":
            return web.Response(
                status=200, text="<html><body>Oops</body></html>", content_type="text/html"
            )
        elif fault == "badjson":
            return web.Response(status=200, text='{"found": {', content_type="application/json")
        elif fault is not None and fault.isdigit():
            return web.json_response({"error": "fault"}, status=int(fault))
        elif fault is not None and fault.startswith("429:"):
            return web.json_response(
                {"error": "too_many_requests"}, status=429, headers={"Retry-After": fault[4:]}
            )
        elif fault is not None and fault.startswith("html-"):
            status = HTTPStatus(int(fault[5:]))
            page = _PROXY_PAGE.format(status=status.value, reason=status.phrase)
            return web.Response(status=status, text=page, content_type="text/html")
        return None

    @web.middleware
    async def _shape(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Apply the faults that need the real answer (cut, truncated, slow) to tracking calls."""
        response = await handler(request)
        name = getattr(request.match_info.handler, "__name__", "")
        fault = self.faults.get(_TRACKING_HANDLERS.get(name, ""))
        if fault not in SHAPED_FAULTS or not isinstance(response, web.Response):
            return response
        body = bytes(response.body or b"")  # type: ignore[arg-type]
        if fault == "cutjson":
            return web.Response(
                status=response.status, body=body[: len(body) // 2], content_type=JSON
            )
        stream = web.StreamResponse(status=response.status, headers={"Content-Type": JSON})
        stream.content_length = len(body)
        await stream.prepare(request)
        if fault == "truncated":
            await stream.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()  # the client sees the end before Content-Length bytes
            return stream
        step = -(-len(body) // DRIP_PIECES)
        try:
            for start in range(0, len(body), step):
                await asyncio.sleep(self.delay / DRIP_PIECES)
                await stream.write(body[start : start + step])
        except ConnectionError:
            pass  # the client gave up waiting, which is what this fault is for
        return stream

    def app(self) -> web.Application:
        """Build the aiohttp application with every carrier under its own prefix."""
        app = web.Application(middlewares=[self._shape])
        app.router.add_get("/ukrposhta/statuses", self._up_statuses)
        app.router.add_post("/ukrposhta/statuses/with-not-found", self._up_batch)
        app.router.add_get("/ukrposhta/barcodes/{barcode}/route", self._up_route)
        app.router.add_get("/ukrposhta/barcodes/{barcode}/route/in-lang/{lang}", self._up_route)
        app.router.add_get("/inpost/tracking/{number}", self._inpost_track)
        app.router.add_get("/inpost/statuses", self._inpost_statuses)
        app.router.add_post("/novaposhta/", self._np)
        app.router.add_get("/postplus/api/v1/tracking/parcel-nrs/get-many", self._pp_many)
        app.router.add_get("/postplus/api/v1/tracking/event-codes", self._pp_codes)
        app.router.add_get("/gdeposylka/tracker/detect/{number}", self._gp_detect)
        app.router.add_get("/gdeposylka/tracker/{slug}/{number}", self._gp_track)
        return app

    def urls(self, base: str) -> dict[str, str]:
        """Return the environment variables pointing every carrier at this server."""
        base = base.rstrip("/")
        return {
            "UKRPOSHTA_BASE_URL": f"{base}/ukrposhta/",
            "UKRPOSHTA_TOKEN": "up-secret-token",
            "INPOST_BASE_URL": f"{base}/inpost/",
            "NOVAPOSHTA_BASE_URL": f"{base}/novaposhta/",
            "NOVAPOSHTA_API_KEY": "np-secret-key",
            "POSTPLUS_BASE_URL": f"{base}/postplus/",
            "POSTPLUS_API_KEY": "pp-secret-key",
            "GDEPOSYLKA_BASE_URL": f"{base}/gdeposylka/",
            "GDEPOSYLKA_TOKEN": "gp-secret-token",
        }

    # Ukrposhta (api/ukrposhta-status-tracking-api.txt)
    def _up_event(self, number: str, index: int, event: FakeEvent) -> dict[str, Any]:
        return {
            "barcode": number,
            "step": index + 1,
            "date": event.at.astimezone(KYIV).replace(tzinfo=None).isoformat(timespec="seconds"),
            "index": "01001",
            "name": event.place,
            "event": event.code,
            "eventName": event.text or f"Подія {event.code}",
            "country": "Україна",
            "eventReason": None,
            "eventReason_id": 1,
            "mailType": 4096,
            "indexOrder": index + 1,
        }

    async def _up_statuses(self, request: web.Request) -> web.Response:
        self.hits["ukrposhta"] += 1
        number = request.query.get("barcode", "")
        self.requests.append(("ukrposhta", "statuses", number))
        self.languages[request.query.get("lang", "uk")] += 1
        if fault := await self._fault("ukrposhta"):
            return fault
        events = self.events("ukrposhta", number)
        if not events:
            return web.json_response(
                {"code": "UPE00404", "message": "Shipment not found"}, status=404
            )
        return web.json_response([self._up_event(number, i, e) for i, e in enumerate(events)])

    async def _up_batch(self, request: web.Request) -> web.Response:
        self.hits["ukrposhta"] += 1
        numbers = await request.json()
        self.requests.append(("ukrposhta", "with-not-found", numbers))
        self.languages[request.query.get("lang", "uk")] += 1
        if fault := await self._fault("ukrposhta"):
            return fault
        found = {
            n: [self._up_event(n, i, e) for i, e in enumerate(self.events("ukrposhta", n))]
            for n in numbers
            if self.events("ukrposhta", n)
        }
        return web.json_response(
            {"found": found, "notFound": [n for n in numbers if n not in found]}
        )

    async def _up_route(self, request: web.Request) -> web.Response:
        self.hits["ukrposhta-route"] += 1
        return web.json_response({"from": "УКРАЇНА м.Київ", "to": "УКРАЇНА м.Львів"})

    # InPost (api/inpost-shipx-tracking-api.txt)
    async def _inpost_track(self, request: web.Request) -> web.Response:
        self.hits["inpost"] += 1
        number = request.match_info["number"]
        self.requests.append(("inpost", "tracking", number))
        if fault := await self._fault("inpost"):
            return fault
        events = self.events("inpost", number)
        if not events:
            return web.json_response(
                {
                    "status": 404,
                    "error": "resource_not_found",
                    "description": f"Tracking information about {number} has not been found.",
                    "details": None,
                },
                status=404,
            )
        details = [
            {
                "status": e.code,
                "origin_status": "XXX",
                "agency": e.place,
                "datetime": e.at.isoformat(timespec="milliseconds"),
            }
            for e in reversed(events)
        ]
        return web.json_response(
            {
                "tracking_number": number,
                "type": "inpost_locker_standard",
                "service": "inpost_locker_standard",
                "status": events[-1].code,
                "custom_attributes": {"size": "A"}
                | (
                    {"target_machine_detail": self.inpost_points[number]}
                    if number in self.inpost_points
                    else {}
                ),
                "tracking_details": details,
                "expected_flow": [],
                "created_at": events[0].at.isoformat(),
                "updated_at": events[-1].at.isoformat(),
            }
        )

    async def _inpost_statuses(self, request: web.Request) -> web.Response:
        self.hits["inpost-statuses"] += 1
        lang = request.query.get("lang", "pl_PL")
        return web.json_response(
            {
                "href": f"/v1/statuses?lang={lang}",
                "items": [
                    {
                        "name": "delivered",
                        "title": "Delivered." if lang == "en_GB" else "Dostarczona.",
                        "description": "",
                    }
                ],
            }
        )

    # Nova Poshta (carrier-apis.md §5)
    async def _np(self, request: web.Request) -> web.Response:
        self.hits["nova-poshta"] += 1
        body = await request.json()
        documents = body["methodProperties"]["Documents"]
        self.requests.append(("nova-poshta", "getStatusDocuments", documents))
        if fault := await self._fault("nova-poshta"):
            return fault
        data = []
        for document in documents:
            number = document["DocumentNumber"]
            events = self.events("nova-poshta", number)
            if not events:
                data.append({"Number": number, "StatusCode": "3", "Status": "Номер не знайдено"})
                continue
            last = events[-1]
            data.append(
                {
                    "Number": number,
                    "StatusCode": last.code,
                    "Status": last.text or "Статус",
                    "WarehouseRecipient": last.place,
                    "CityRecipient": "Київ",
                    "CitySender": "Львів",
                    "DateCreated": events[0].at.astimezone(KYIV).strftime("%d-%m-%Y %H:%M:%S"),
                    "DateScan": last.at.astimezone(KYIV).strftime("%H:%M %d.%m.%Y"),
                    "TrackingUpdateDate": last.at.astimezone(KYIV).strftime("%Y-%m-%d %H:%M:%S"),
                    "ScheduledDeliveryDate": "",
                    "RecipientDateTime": (
                        last.at.astimezone(KYIV).strftime("%d.%m.%Y %H:%M:%S")
                        if last.code in {"9", "10", "11"}
                        else ""
                    ),
                    # At the branch: paid storage from a week after arrival (as in real payloads).
                    "DateFirstDayStorage": (
                        (last.at.astimezone(KYIV) + timedelta(days=7)).strftime("%Y-%m-%d")
                        if last.code in {"7", "8"}
                        else None
                    ),
                }
            )
        return web.json_response(
            {
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
        )

    # PostPlus (api/postplus-tracking-api.txt)
    async def _pp_many(self, request: web.Request) -> web.Response:
        self.hits["postplus"] += 1
        numbers = [n for n in request.query.get("ParcelNrs", "").split(",") if n]
        self.requests.append(("postplus", "get-many", numbers))
        if fault := await self._fault("postplus"):
            return fault
        answer = []
        for number in numbers:
            events = self.events("postplus", number)
            if not events:
                continue
            answer.append(
                {
                    "parcelNr": number,
                    "manifestParcelNr": None,
                    "senderParcelNr": "S-" + number,
                    "destinationCountry": "UA",
                    "carrier": "UKRPOSHTA",
                    "carrierParcelNr": None,
                    "carrierUrl": None,
                    "events": [
                        {
                            "eventId": f"{number}-{i}",
                            "eventTime": e.at.isoformat(),
                            "eventVersion": 1,
                            "eventCode": e.code,
                            "eventMessage": e.text or e.code,
                            "eventLocation": e.place,
                        }
                        for i, e in enumerate(events)
                    ],
                }
            )
        return web.json_response(answer)

    async def _pp_codes(self, request: web.Request) -> web.Response:
        self.hits["postplus-codes"] += 1
        flags = dict.fromkeys(
            (
                "isPreAlert",
                "isStartclock",
                "isDeparted",
                "isAtDestination",
                "isStopclock",
                "isDelivered",
            ),
            False,
        )
        return web.json_response(
            [
                {
                    "code": "CREATE_OR_UPDATE",
                    "message": "Parcel data received or updated",
                    **flags,
                    "isPreAlert": True,
                },
                {"code": "IN_TRANSIT", "message": "In transit", **flags, "isDeparted": True},
                {
                    "code": "DELIVERED",
                    "message": "Delivered",
                    **flags,
                    "isDelivered": True,
                    "isStopclock": True,
                },
            ]
        )

    # GdePosylka (api/gdeposylka-api-v4-ru.txt)
    async def _gp_detect(self, request: web.Request) -> web.Response:
        self.hits["gdeposylka-detect"] += 1
        number = request.match_info["number"]
        if fault := await self._fault("gdeposylka"):
            return fault
        known = number in self.parcels.get("gdeposylka", {})
        courier = {
            "slug": "china-post",
            "name": "Почта Китая",
            "name_alt": "China Post",
            "country_code": "CHN",
        }
        return web.json_response(
            {
                "result": "success" if known else "unknown",
                "length": int(known),
                "tracking_number": number,
                "data": [
                    {
                        "tracking_number": number,
                        "courier": courier,
                        "tracker_url": f"https://gdeposylka.ru/api/v4/tracker/china-post/{number}",
                    }
                ]
                if known
                else [],
            }
        )

    async def _gp_track(self, request: web.Request) -> web.Response:
        self.hits["gdeposylka"] += 1
        number = request.match_info["number"]
        self.requests.append(("gdeposylka", request.match_info["slug"], number))
        if fault := await self._fault("gdeposylka"):
            return fault
        events = self.events("gdeposylka", number)
        courier = {
            "slug": "china-post",
            "name": "Почта Китая",
            "name_alt": "China Post",
            "country_code": "CHN",
        }
        data = {
            "id": 1,
            "tracking_number": number,
            "courier": courier,
            "is_active": True,
            "is_delivered": bool(events) and events[-1].code == "delivered",
            "last_check": None,
            "checkpoints": [],
            "extra": [],
        }
        if number not in self.parcels.get("gdeposylka", {}):
            return web.json_response({"result": "waiting", "data": data, "messages": []})
        # A number set with no events: tracked, no checkpoint yet (an empty success).
        data["checkpoints"] = [
            {
                "time": e.at.strftime("%Y-%m-%d %H:%M:%S"),
                "courier": courier,
                "status_code": e.code,
                "status_name": e.text or "Статус",
                "status_raw": e.code,
                "location_translated": e.place,
                "location_raw": e.place,
                "location_zip_code": None,
            }
            for e in reversed(events)
        ]
        return web.json_response({"result": "success", "data": data, "messages": []})
