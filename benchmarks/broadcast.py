"""Broadcast pacing and crash recovery: the real bot as a process against a loopback Bot API.

The database is prepared through the storage API as tests/test_crash_broadcast.py does (the
admin chat, N recipient chats, one running broadcast to all of them); then ``python -m bot``
runs with BROADCAST_RATE=R against tests/fake_bot_api.py FakeBotApi on 127.0.0.1 (every call
timestamped on arrival) and FakeCarriers (idle). The running broadcast is resumed at start-up.

Runs:
  clean  the whole broadcast without interruption: achieved messages/s between the first and
         the last broadcast message, against R (target >= 0.95 R), and the start-up time.
  kill   SIGKILL when a fraction of the chats got it, restart, and measure the time from
         spawning the new process to the next broadcast message; then let it finish and count
         duplicates (at most one per kill is expected: the message in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.test_utils import TestServer

from benchmarks._common import print_command, print_machine, print_table
from storage import open_storage
from tests.fake_bot_api import FakeBotApi
from tests.fake_carriers import FakeCarriers
from tests.process import start_bot, stop_bot, wait_until

ADMIN = 7
FIRST_CHAT = 10_000
TEXT = "📣 <b>Planned maintenance</b> tonight"


class TimedCalls(list[tuple[str, dict[str, Any]]]):
    """FakeBotApi's call list, remembering when each broadcast copy arrived (cheaply)."""

    def __init__(self) -> None:
        super().__init__()
        self.copies: list[tuple[float, int]] = []
        self.chats: set[int] = set()

    def append(self, item: tuple[str, dict[str, Any]]) -> None:
        method, params = item
        if method == "sendMessage" and params.get("text") == TEXT:
            self.copies.append((time.perf_counter(), int(params["chat_id"])))
            self.chats.add(int(params["chat_id"]))
        super().append(item)


class Recorder:
    """The Bot API server and the times broadcast copies arrived."""

    def __init__(self) -> None:
        self.api = FakeBotApi()
        self.calls = TimedCalls()
        self.api.calls = self.calls

    def copies(self) -> list[tuple[float, int]]:
        """Return (arrival time, chat id) of every broadcast copy, in arrival order."""
        return self.calls.copies

    def finished(self) -> bool:
        """Tell whether the admin got the final report."""
        return any("is finished" in text for text in self.api.texts(ADMIN))


async def prepare(database: Path, chats: int) -> float:
    """Store the admin, the recipients and a running broadcast; return the seconds it took."""
    started = time.perf_counter()
    storage = await open_storage(database)
    await storage.upsert_chat(ADMIN, "private", "en")
    recipients = list(range(FIRST_CHAT, FIRST_CHAT + chats))
    for chat_id in recipients:
        await storage.upsert_chat(chat_id, "private", "uk")
    await storage.create_broadcast(ADMIN, TEXT, "all", recipients)
    await storage.close()
    return time.perf_counter() - started


def rate_between(copies: list[tuple[float, int]]) -> float:
    """Return messages/s between the first and the last copy of a run of copies."""
    if len(copies) < 2:
        return float("nan")
    return (len(copies) - 1) / (copies[-1][0] - copies[0][0])


async def run(kind: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Run one broadcast, clean or with a kill, and return its figures."""
    database = folder / f"{kind}.sqlite3"
    prepare_s = await prepare(database, args.chats)
    recorder, carriers = Recorder(), FakeCarriers()
    api_server = TestServer(recorder.api.app(), host="127.0.0.1")
    carrier_server = TestServer(carriers.app(), host="127.0.0.1")
    await api_server.start_server()
    await carrier_server.start_server()
    env = {
        "TELEGRAM_BOT_TOKEN": "123456:BROADCAST-BENCH",
        "TELEGRAM_API_BASE_URL": str(api_server.make_url("/bot")),
        "DATABASE_PATH": str(database),
        "ADMIN_IDS": str(ADMIN),
        "BROADCAST_RATE": str(args.rate),
        "POLL_TICK_SECONDS": "3600",
        **carriers.urls(str(carrier_server.make_url("/"))),
    }
    log = folder / f"{kind}.log"
    budget = args.chats / args.rate * 1.5 + 60  # seconds any wait may take
    result: dict[str, Any] = {"run": kind, "chats": args.chats, "rate": args.rate}
    result["prepare_s"] = prepare_s
    process = None
    try:
        spawned = time.perf_counter()
        process = await start_bot(env, log)
        if kind == "kill":
            threshold = int(args.chats * args.kill_at)
            reached = await wait_until(lambda: len(recorder.copies()) >= threshold, budget)
            if not reached:
                raise RuntimeError("the broadcast did not reach the kill point")
            await stop_bot(process, signal.SIGKILL)
            before = list(recorder.copies())
            result["killed_after"] = len(before)
            result["rate_before_kill"] = rate_between(before)
            result["startup_s"] = before[0][0] - spawned
            respawned = time.perf_counter()
            process = await start_bot(env, log)
            if not await wait_until(lambda: len(recorder.copies()) > len(before), 60):
                raise RuntimeError("no broadcast message within 60 s of the restart")
            after_first = recorder.copies()[len(before)][0]
            result["resume_s"] = after_first - respawned
        await wait_until(lambda: len(recorder.calls.chats) >= args.chats, budget)
        await wait_until(recorder.finished, 30)
        result["exit_code"] = await stop_bot(process, signal.SIGTERM)
    finally:
        if process is not None and process.returncode is None:
            await stop_bot(process, signal.SIGKILL)
        await api_server.close()
        await carrier_server.close()
    copies = recorder.copies()
    received = Counter(chat for _, chat in copies)
    result["delivered_chats"] = len(received)
    result["duplicates"] = sum(count - 1 for count in received.values())
    result["finished_report"] = recorder.finished()
    if kind == "clean":
        result["startup_s"] = copies[0][0] - spawned if copies else None
        result["achieved_rate"] = rate_between(copies)
    else:
        rest = copies[result["killed_after"] :]
        result["rate_after_restart"] = rate_between(rest)
        result["achieved_rate"] = rate_between(copies)  # includes the restart gap
    result["ratio"] = result["achieved_rate"] / args.rate
    result["window_rates"] = window_rates(copies, args.window)
    return result


def window_rates(copies: list[tuple[float, int]], window: float) -> list[float]:
    """Return the copies/s of each full window of ``window`` seconds after the first copy."""
    if not copies:
        return []
    start = copies[0][0]
    counts: Counter[int] = Counter(int((at - start) // window) for at, _ in copies)
    last = int((copies[-1][0] - start) // window)
    return [round(counts[i] / window, 1) for i in range(last)]  # the last window is partial


async def main_async(args: argparse.Namespace) -> None:
    """Run the requested runs and print a table."""
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="broadcast-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for kind in args.runs:
        result = await run(kind, args, folder)
        print(f"# {kind}: {json.dumps(result)[:1200]}", flush=True)
        results.append(result)
    print(f"\n## Broadcast: {args.chats:,} chats at BROADCAST_RATE={args.rate:g}\n")
    rows = []
    for r in results:
        windows = r["window_rates"]
        rows.append(
            [
                r["run"],
                f"{r['delivered_chats']:,}/{r['chats']:,}",
                r["achieved_rate"],
                f"{r['ratio']:.3f}",
                r.get("rate_after_restart", "-"),
                f"{min(windows):g}–{max(windows):g}" if windows else "-",
                r["startup_s"],
                r.get("resume_s", "-"),
                r["duplicates"],
                "yes" if r["finished_report"] else "no",
            ]
        )
    print_table(
        [
            "run",
            "delivered",
            "msgs/s",
            "÷ rate",
            "msgs/s after restart",
            f"{args.window:g}s windows",
            "start→1st msg s",
            "restart→next msg s",
            "duplicates",
            "report",
        ],
        rows,
    )
    (folder / "results.json").write_text(json.dumps(results, indent=1))


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=10_000, help="recipients")
    parser.add_argument("--rate", type=float, default=200.0, help="BROADCAST_RATE")
    parser.add_argument("--runs", nargs="+", choices=("clean", "kill"), default=["clean", "kill"])
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction sent at the kill")
    parser.add_argument("--window", type=float, default=5.0, help="seconds per rate window")
    parser.add_argument("--workdir", type=Path, help="keep databases and logs here")
    args = parser.parse_args(argv)
    print_machine()
    print_command()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
