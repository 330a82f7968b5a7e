"""Serve tests/fake_carriers.py FakeCarriers on 127.0.0.1 with data from a JSON file.

Started by the benchmarks as a child process, so the carriers' CPU time is not the bot's.
Prints ``PORT <n>`` once listening; stops on SIGTERM. Extra endpoints under ``/_bench/``:
``hits`` (request counts by carrier), ``reset`` and ``advance?every=K`` (append a new event to
every K-th number of each carrier, so the next poll cycle finds news).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from tests.fake_carriers import FakeCarriers, FakeEvent

# Per carrier: the code of the event ``advance`` appends (each makes the parcel's status move).
ADVANCE_CODES = {
    "ukrposhta": "21700",
    "nova-poshta": "7",
    "inpost": "ready_to_pickup",
    "postplus": "IN_TRANSIT",
    "gdeposylka": "arrived",
}


def load(carriers: FakeCarriers, path: Path) -> None:
    """Fill the fake carriers from ``{"parcels": {carrier: {number: [[code, iso, place]]}}}``."""
    data = json.loads(path.read_text())
    for carrier, numbers in data["parcels"].items():
        table = carriers.parcels.setdefault(carrier, {})
        for number, events in numbers.items():
            table[number] = [
                FakeEvent(code, datetime.fromisoformat(at), place) for code, at, place in events
            ]


def control_routes(carriers: FakeCarriers) -> list[web.RouteDef]:
    """Return the benchmark control endpoints."""

    async def hits(_request: web.Request) -> web.Response:
        return web.json_response(dict(carriers.hits))

    async def reset(_request: web.Request) -> web.Response:
        carriers.hits.clear()
        carriers.requests.clear()
        return web.json_response({})

    async def advance(request: web.Request) -> web.Response:
        every = int(request.query.get("every", "10"))
        now = datetime.now(UTC)
        changed: dict[str, int] = {}
        for carrier, numbers in carriers.parcels.items():
            for index, number in enumerate(sorted(numbers)):
                if index % every == 0:
                    numbers[number].append(FakeEvent(ADVANCE_CODES[carrier], now, "BENCH 9"))
                    changed[carrier] = changed.get(carrier, 0) + 1
        return web.json_response(changed)

    return [
        web.post("/_bench/hits", hits),
        web.post("/_bench/reset", reset),
        web.post("/_bench/advance", advance),
    ]


async def serve(path: Path) -> None:
    """Listen on an ephemeral loopback port until SIGTERM."""
    carriers = FakeCarriers()
    load(carriers, path)
    app = carriers.app()
    app.add_routes(control_routes(carriers))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="JSON file with the parcels")
    asyncio.run(serve(parser.parse_args().data))


if __name__ == "__main__":
    main()
