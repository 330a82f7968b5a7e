"""Chat throughput: tracking-number messages from simulated users through the real handlers.

Method (chosen over running the bot as a process against FakeBotApi): the bot is built by
bot/app.py build_application + start_services, exactly like tests/bot_env.py, with
tests/telegram_fakes.py RecordingRequest as its Bot API transport, and started with
``app.start()``. Simulated users put updates into ``app.update_queue``, which is where PTB's
own getUpdates loop puts them, so the Application's update fetcher, process_update, the
handler groups, block=False tasks, the ExtBot and its AIORateLimiter all run as in production.
What is left out is the HTTP hop to Telegram, which would cost the bot and the echo bot the
same, and on loopback would mostly measure aiohttp/httpx and the fake server. The carriers
are tests/fake_carriers.py FakeCarriers in a child process on 127.0.0.1 (answering at once).

Closed loop: M users send their messages one after another, each waiting for the reply (the
sendMessage call reaching the transport) before sending the next. Throughput = messages /
wall time; latency = update queued → reply handed to the transport.

Three bots, each in its own process, measured the same way in the same run (``--bots``):

- echo: the baseline, a bare python-telegram-bot echo bot (MessageHandler(TEXT,
  reply_text(text)), block=False, same Defaults, same AIORateLimiter settings, same transport).
- bot: the real bot, as above.
- floor: the least any tracking bot on this stack (PTB 22, aiohttp, aiosqlite) must do per
  tracking-number message. Built exactly like the echo bot, but its handler makes one aiosqlite
  read (SELECT of the parcel by number from a small table: 200 seed rows plus the numbers seen
  so far), one GET to the same loopback fake carriers (InPost's single-number endpoint
  ``tracking/<number>``, JSON-decoded; numbers InPost does not know get its JSON 404), one
  aiosqlite UPSERT of the status (committed: autocommit, WAL, synchronous=NORMAL, as
  storage/db.py) and a short fixed reply. One aiohttp.ClientSession and one aiosqlite
  connection, opened in post_init and closed in post_shutdown. No detection, no i18n, no
  card, no typing indicator.

Why the floor: every tracking bot on this stack pays for a carrier request and SQLite thread
hops on top of the echo bot's PTB work, so floor ÷ echo is an upper bound on what any
tracking bot can reach here. The gap echo → floor is the stack's; floor → bot is ours.
(The floor's fixed reply names no number, so its ``replies_naming_the_number`` is 0.)

Rate limits: ``--limiter production`` keeps the AIORateLimiter that build_application sets
(max(30, 1.2·BROADCAST_RATE) = 30 requests/s with the default BROADCAST_RATE; the typing
indicator (sendChatAction) counts too); ``--limiter lifted`` sets BROADCAST_RATE=1000000 so the
limiter allows 1.2 M/s, which measures the handlers' own capacity. The poll and outbox jobs
are removed (as in tests/bot_env.py) so they do not mix into the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    CarrierServer,
    carrier_env,
    inpost,
    nova_poshta,
    percentile,
    print_command,
    print_machine,
    print_table,
    run_worker,
    s10,
    ukrposhta_13,
    write_json,
)

TOKEN = "123456:CHAT-BENCH-TOKEN"
LABELS = ("подарунок мамі", "книги", "shoes", "телефон", "zamówienie", "запчасти")
LIFTED_RATE = "1000000"
BOTS = ("echo", "bot", "floor")  # run in this order, so echo's figure is there for the ratios


def make_workload(messages: int, users: int, seed: int) -> tuple[list[list[str]], dict[str, Any]]:
    """Return each user's message texts and the carriers' data for every number."""
    rng = Random(seed)
    now = datetime.now(UTC)
    per_user: list[list[str]] = [[] for _ in range(users)]
    history: dict[str, dict[str, list[list[str]]]] = {}
    seen: set[str] = set()
    for index in range(messages):
        kind = rng.random()
        if kind < 0.35:
            carrier, number = "ukrposhta", ukrposhta_13(rng)
        elif kind < 0.5:
            carrier, number = "ukrposhta", s10(rng, "RB", "UA")
        elif kind < 0.85:
            carrier, number = "nova-poshta", nova_poshta(rng)
        else:
            carrier, number = "inpost", inpost(rng)
        if number in seen:
            continue
        seen.add(number)
        codes = {
            "ukrposhta": ("10100", "20700", "21700"),
            "nova-poshta": ("4", "5", "7"),
            "inpost": ("confirmed", "taken_by_courier", "ready_to_pickup"),
        }[carrier]
        at = now - timedelta(hours=rng.uniform(10, 60))
        events = []
        for code in codes[: rng.randint(1, 3)]:
            events.append([code, at.isoformat(), rng.choice(("KYIV 1", "LVIV 3", "Kraków"))])
            at += timedelta(hours=rng.uniform(1, 8))
        history.setdefault(carrier, {})[number] = events
        text = number if rng.random() < 0.7 else f"{number} {rng.choice(LABELS)}"
        per_user[index % users].append(text)
    return per_user, {"parcels": history}


def update_json(update_id: int, chat_id: int, text: str, language: str) -> dict[str, Any]:
    """Return a private text message update as the Bot API sends it."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "U"},
            "from": {
                "id": chat_id,
                "is_bot": False,
                "first_name": "U",
                "language_code": language,
            },
            "text": text,
        },
    }


def _timed_request_class() -> Any:
    from tests.telegram_fakes import RecordingRequest

    @dataclass
    class TimedRequest(RecordingRequest):
        """RecordingRequest that wakes the user waiting for a reply in that chat."""

        waiting: dict[int, asyncio.Future[tuple[float, str]]] = field(default_factory=dict)
        counts: dict[str, int] = field(default_factory=dict)

        async def do_request(
            self, url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any
        ) -> tuple[int, bytes]:
            answer = await super().do_request(url, method, request_data, *args, **kwargs)
            name = url.rsplit("/", 1)[-1]
            self.counts[name] = self.counts.get(name, 0) + 1
            self.calls.clear()  # keep memory flat; the counts are enough
            if name == "sendMessage" and request_data is not None:
                chat_id = int(request_data.parameters.get("chat_id", 0))
                waiter = self.waiting.pop(chat_id, None)
                if waiter is not None and not waiter.done():
                    text = str(request_data.parameters.get("text", ""))
                    waiter.set_result((time.perf_counter(), text))
            return answer

    return TimedRequest


FLOOR_TABLE = """
CREATE TABLE IF NOT EXISTS parcels (
    number TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    checked_at REAL NOT NULL
)
"""
FLOOR_SEED = 200  # rows the floor's table holds before the run ("a small table")
FLOOR_REPLY = "Tracked."


async def floor_post_init(app: Any) -> None:
    """Open the floor bot's one aiohttp session and one aiosqlite connection (as post_init)."""
    import aiohttp
    import aiosqlite

    # The bot's own settings (storage/db.py): autocommit, WAL, synchronous=NORMAL.
    conn = await aiosqlite.connect(app.bot_data["database"], isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "busy_timeout = 5000"):
        await conn.execute(f"PRAGMA {pragma}")
    await conn.execute(FLOOR_TABLE)
    await conn.executemany(
        "INSERT OR IGNORE INTO parcels (number, status, checked_at) VALUES (?, 'seed', 0)",
        [(f"SEED{index:06d}",) for index in range(FLOOR_SEED)],
    )
    app.bot_data["db"] = conn
    app.bot_data["session"] = aiohttp.ClientSession()
    app.bot_data["carrier_status"] = {}


async def floor_post_shutdown(app: Any) -> None:
    """Close what floor_post_init opened (as post_shutdown)."""
    await app.bot_data["session"].close()
    await app.bot_data["db"].close()


async def floor_track(update: Any, context: Any) -> None:
    """The least a tracking bot does per number: read, ask the carrier, write, reply.

    One aiosqlite read (one thread hop), one GET to the fake InPost tracking endpoint on the
    shared session, JSON-decoded (a number InPost does not know gets its JSON 404, which is
    decoded the same way), one UPSERT of the status (one thread hop; autocommit commits it),
    and a fixed short reply.
    """
    data = context.bot_data
    message = update.effective_message
    number = message.text.split()[0]
    await data["db"].execute_fetchall(
        "SELECT number, status, checked_at FROM parcels WHERE number = ?", (number,)
    )
    async with data["session"].get(
        f"{data['inpost']}tracking/{number}", headers={"Accept": "application/json"}
    ) as response:
        answer = await response.json()
    counts = data["carrier_status"]
    counts[response.status] = counts.get(response.status, 0) + 1
    status = answer.get("status") if response.status == 200 else "not_found"
    await data["db"].execute(
        "INSERT INTO parcels (number, status, checked_at) VALUES (?, ?, ?) "
        "ON CONFLICT (number) DO UPDATE SET status = excluded.status, "
        "checked_at = excluded.checked_at",
        (number, str(status), time.time()),
    )
    await message.reply_text(FLOOR_REPLY)


async def build_bot(kind: str, limiter: str, database: Path, carriers: str, request: Any) -> Any:
    """Return a started Application: the real bot, the bare echo bot or the floor bot."""
    from telegram.constants import ParseMode
    from telegram.ext import AIORateLimiter, ApplicationBuilder, Defaults, MessageHandler, filters

    from bot.app import build_application, start_services
    from bot.config import Settings
    from bot.i18n import Catalogs

    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "DATABASE_PATH": str(database),
        **carrier_env(carriers),
    }
    if limiter == "lifted":
        env["BROADCAST_RATE"] = LIFTED_RATE
    settings = Settings.from_env(env)
    if kind == "bot":
        app = build_application(
            settings, Catalogs.load(), request=request, get_updates_request=request
        )
        await app.initialize()
        await start_services(app)
    else:
        builder = (
            ApplicationBuilder()
            .token(settings.telegram_token)
            .base_url(settings.telegram_api_base_url)
            .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=None))
            .rate_limiter(
                AIORateLimiter(
                    overall_max_rate=max(30.0, settings.broadcast_rate * 1.2), max_retries=3
                )
            )
            .request(request)
            .get_updates_request(request)
        )
        if kind == "floor":
            builder = builder.post_init(floor_post_init).post_shutdown(floor_post_shutdown)
        app = builder.build()
        if kind == "floor":
            app.bot_data["database"] = str(database)
            app.bot_data["inpost"] = env["INPOST_BASE_URL"]

        async def echo(update: Any, _context: Any) -> None:
            await update.effective_message.reply_text(update.effective_message.text)

        handler = floor_track if kind == "floor" else echo
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, handler, block=False))
        await app.initialize()
        if kind == "floor":
            # run_polling would call post_init after initialize(); app.start() does not.
            await app.post_init(app)
    await app.start()
    if app.job_queue is not None:
        for job in app.job_queue.jobs():
            job.schedule_removal()
    return app


async def stop_bot(kind: str, app: Any) -> None:
    """Stop what build_bot started."""
    from bot.app import stop_services

    await app.stop()
    if kind == "bot":
        await stop_services(app)
    await app.shutdown()
    if kind == "floor":
        # run_polling would call post_shutdown after shutdown(); we started it by hand.
        await app.post_shutdown(app)


async def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Run one bot kind against the users' messages and return its figures."""
    from telegram import Update

    folder = Path(args.folder)
    logging.basicConfig(filename=folder / f"{args.worker}-{args.limiter}.log", level=logging.INFO)
    messages: list[list[str]] = json.loads((folder / "messages.json").read_text())
    request = _timed_request_class()()
    database = folder / f"{args.worker}-{args.limiter}.sqlite3"
    app = await build_bot(args.worker, args.limiter, database, args.carriers, request)
    latencies: list[float] = []
    update_ids = iter(range(1, 10**9))
    timeouts = named = 0

    async def user(index: int, texts: list[str]) -> None:
        nonlocal timeouts, named
        chat_id = 20_000_000 + index
        language = ("uk", "en", "ru", "pl")[index % 4]
        for text in texts:
            data = update_json(next(update_ids), chat_id, text, language)
            update = Update.de_json(data, app.bot)
            waiter: asyncio.Future[tuple[float, str]] = asyncio.get_running_loop().create_future()
            request.waiting[chat_id] = waiter
            sent = time.perf_counter()
            await app.update_queue.put(update)
            try:
                replied, answer = await asyncio.wait_for(waiter, args.reply_timeout)
            except TimeoutError:
                timeouts += 1
                continue
            latencies.append(replied - sent)
            # The card (or the echo) names the number; anything else would be an error reply.
            # (The floor bot's fixed reply names none, so it counts 0 here.)
            named += text.split()[0] in answer

    profiler = None
    if args.profile and args.worker == "bot":
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled", interval=0.001)
        profiler.start()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(user(i, texts) for i, texts in enumerate(messages)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result: dict[str, Any] = {}
    if profiler is not None:
        profiler.stop()
        path = folder / f"profile-{args.limiter}.txt"
        path.write_text(profiler.output_text(unicode=True, color=False))
        result["profile"] = str(path)
    if args.worker == "floor":
        result["carrier_http_status"] = dict(app.bot_data["carrier_status"])
    await stop_bot(args.worker, app)
    done = len(latencies)
    result.update(
        {
            "messages": sum(len(t) for t in messages),
            "replied": done,
            "replies_naming_the_number": named,
            "timeouts": timeouts,
            "wall_s": wall,
            "cpu_s": cpu,
            "updates_per_s": done / wall,
            "median_ms": median(latencies) * 1000 if latencies else None,
            "p95_ms": percentile(latencies, 0.95) * 1000,
            "max_ms": max(latencies) * 1000 if latencies else None,
            "api_calls": request.counts,
        }
    )
    return result


def main(argv: list[str] | None = None) -> None:
    """Parse arguments; run the chosen bots per limiter setting, or one worker."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000, help="messages in all")
    parser.add_argument("--users", type=int, default=50, help="simulated users (chats)")
    parser.add_argument(
        "--limiter", choices=("production", "lifted"), nargs="+", default=["lifted"]
    )
    parser.add_argument(
        "--bots",
        choices=BOTS,
        nargs="+",
        default=list(BOTS),
        help="which bots to measure, always run in the order echo, bot, floor (default: all "
        "three); the ÷ echo column needs echo in the same run",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reply-timeout", type=float, default=60.0, help="seconds per reply")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per worker")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the real bot")
    parser.add_argument("--workdir", type=Path, help="keep databases and logs here")
    parser.add_argument("--worker", choices=BOTS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--carriers", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.limiter = args.limiter[0]
        print(json.dumps(asyncio.run(worker(args)), default=str), flush=True)
        return
    if args.messages / args.users > 100:
        raise SystemExit("at most 100 messages per user: MAX_PARCELS_PER_CHAT is 100")
    print_machine()
    print_command()
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="chat-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    per_user, data = make_workload(args.messages, args.users, args.seed)
    write_json(folder / "messages.json", per_user)
    write_json(folder / "carriers.json", data)
    rows = []
    results: dict[str, Any] = {}
    with CarrierServer(folder / "carriers.json") as server:
        for limiter in args.limiter:
            for kind in [name for name in BOTS if name in args.bots]:
                command = [sys.executable, __file__, "--worker", kind, "--limiter", limiter]
                command += ["--folder", str(folder), "--carriers", server.base_url]
                command += ["--reply-timeout", str(args.reply_timeout)]
                if args.profile:
                    command.append("--profile")
                result = run_worker(command, args.timeout)
                results[f"{kind}-{limiter}"] = result
                print(f"# {kind} {limiter}: {json.dumps(result)[:600]}", flush=True)
                if "error" in result:
                    rows.append([limiter, kind, result["error"], "", "", "", "", ""])
                    continue
                echo = results.get(f"echo-{limiter}", {})
                ratio = "1.00" if kind == "echo" else ""
                if kind != "echo" and "updates_per_s" in echo:
                    ratio = f"{result['updates_per_s'] / echo['updates_per_s']:.3f}"
                rows.append(
                    [
                        limiter,
                        kind,
                        f"{result['replied']}/{result['messages']}",
                        result["updates_per_s"],
                        ratio,
                        result["median_ms"],
                        result["p95_ms"],
                        result["cpu_s"] / max(1, result["replied"]) * 1000,
                    ]
                )
    print(f"\n## Chat throughput: {args.messages} messages from {args.users} users\n")
    print_table(
        [
            "limiter",
            "bot",
            "replied",
            "updates/s",
            "÷ echo",
            "median ms",
            "p95 ms",
            "CPU ms/msg",
        ],
        rows,
    )
    (folder / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
