"""Poll economy and speed: one full poll cycle of the real Poller over N subscriptions.

For every size the script
  1. writes a fresh SQLite database (schema by storage.open_storage, rows bulk-inserted in one
     transaction through a plain sqlite3 connection: 100k subscriptions through the storage API
     one by one would take minutes and measures nothing of interest) and a JSON file with every
     number's history for the fake carriers;
  2. starts tests/fake_carriers.py FakeCarriers in a child process on 127.0.0.1 (answers at once);
  3. runs the bot in a fresh child process, wired like bot/app.py start_services (Storage,
     build_carriers, TrackingService, ParcelService, Notifier, Lifecycle, CarrierCorrection,
     Poller) with an ExtBot whose requests go to tests/telegram_fakes.py RecordingRequest, and
     times two full cycles: "first" (fresh parcels, every lookup is the baseline, no pushes)
     and "steady" (all parcels made due again after every 10th number per carrier got a new
     event, so pushes go out). A full cycle is poller.tick() repeated until nothing is due
     (the poller takes at most DUE_LIMIT = 100,000 parcels per tick) with each tick's carrier
     tasks awaited, pushes included ("of which pushes s" is the time spent in the notifier's
     drains, i.e. rendering and handing ~10 % of the parcels' news to the Bot API transport);
  4. runs a bare aiohttp loop in another fresh child process that makes the same carrier
     requests (same URLs, bodies, headers, batch sizes and per-carrier concurrency, the latter
     read from bot/poller.py and bot/carriers/inpost.py) and only decodes the JSON;
  5. runs a "floor" loop (unless --skip-floor) on a copy of the database as the bot found it:
     the bare loop plus the least a tracker that loses nothing must do, i.e. store each
     answer in the bot's schema (per request or chunk, one transaction through aiosqlite: an
     UPDATE per parcel, an INSERT OR IGNORE per event, fields as the carrier wrote them; no
     status mapping, time zones, schedule policy, pushes or circuit breakers). "floor ÷ bare"
     is the least overhead any bot on this stack can have; bare and floor runs are repeated
     (--bare-repeats, median kept).

Limits: with ``--limits relaxed`` (default) the GdePosylka client gets a limiter of 10^6
requests/s and a daily new-number budget of 10^9, and the PostPlus client a 10^6/s limiter,
instead of the real 30/min, 2,000/day and 5/s: wall times then measure the bot, not the
quotas. ``--limits real`` keeps the clients exactly as build_carriers makes them (use a small
size: GdePosylka's 30/min allows 30 numbers a minute). ``--limits real-budget`` keeps the real
daily budget of 2,000 new GdePosylka numbers but relaxes both limiters: a limiter delays
requests and never adds or drops one, while the budget does drop requests (numbers beyond it
wait for the next UTC day), so this gives the real request counts in minutes, not hours.
The Telegram side has no AIORateLimiter (the production bot sends at most 30 messages/s).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import logging
import math
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import aiosqlite

from benchmarks._common import (
    ROOT,
    CarrierServer,
    carrier_env,
    china_post,
    control,
    cpu_by_thread,
    inpost,
    nova_poshta,
    peak_rss_mb,
    postplus,
    print_command,
    print_machine,
    print_table,
    ru_maxrss_mb,
    run_worker,
    s10,
    thread_cpu,
    ukrposhta_13,
    write_json,
)

CARRIERS = ("ukrposhta", "nova-poshta", "inpost", "postplus", "gdeposylka")
DEFAULT_MIX = "ukrposhta=35,nova-poshta=35,inpost=10,postplus=10,gdeposylka=10"
BATCH = {"ukrposhta": 50, "postplus": 50, "nova-poshta": 100, "inpost": 1, "gdeposylka": 1}
STORED_KEY = {"gdeposylka": "gdeposylka/china-post"}  # the courier is known: no detect call
HISTORY_CODES = {
    "ukrposhta": ("10100", "20700", "20800"),
    "nova-poshta": ("4", "5", "6"),
    "inpost": ("confirmed", "taken_by_courier", "sent_from_source_branch"),
    "postplus": ("CREATE_OR_UPDATE", "IN_TRANSIT", "IN_TRANSIT"),
    "gdeposylka": ("accepted", "other", "other"),
}
PLACES = ("KYIV 1", "LVIV 3", "ODESA 5", "DNIPRO 2", "KHARKIV 7")
TOKEN = "123456:BENCH-TOKEN"


def _constants(path: str, names: tuple[str, ...]) -> dict[str, int]:
    """Read integer module constants from a source file without importing it."""
    tree = ast.parse((ROOT / path).read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found[target.id] = int(node.value.value)
    return found


# The poller's concurrency, read from the code measured, so the bare loop mirrors it: chunks of
# SINGLES_PER_WRITE numbers for carriers without a batch endpoint (1 before that constant
# existed), CHUNK_CONCURRENCY chunks in flight per carrier, and inside a chunk InPost's own
# _CONCURRENCY or the poller's SINGLE_CONCURRENCY for GdePosylka.
_POLLER = _constants(
    "bot/poller.py", ("CHUNK_CONCURRENCY", "SINGLE_CONCURRENCY", "SINGLES_PER_WRITE")
)
CHUNK_CONCURRENCY = _POLLER["CHUNK_CONCURRENCY"]
SINGLE_CONCURRENCY = _POLLER["SINGLE_CONCURRENCY"]
SINGLES_PER_WRITE = _POLLER.get("SINGLES_PER_WRITE", 1)
INPOST_CONCURRENCY = _constants("bot/carriers/inpost.py", ("_CONCURRENCY",))["_CONCURRENCY"]


# --- workload --------------------------------------------------------------------------------


def parse_mix(text: str) -> dict[str, float]:
    """Parse "carrier=weight,..." into shares that add up to 1."""
    weights = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in CARRIERS:
            raise SystemExit(f"unknown carrier {name!r} in --mix")
        weights[name.strip()] = float(weight)
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


def make_number(carrier: str, rng: Random) -> str:
    """Return a number of the carrier's shape."""
    if carrier == "ukrposhta":
        return ukrposhta_13(rng) if rng.random() < 0.7 else s10(rng, "RB", "UA")
    generators = {"nova-poshta": nova_poshta, "inpost": inpost, "postplus": postplus}
    return generators.get(carrier, china_post)(rng)


def prepare(size: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Write the database and the carriers' data for one size; return the workload counts."""
    rng = Random(args.seed * 1_000_003 + size)
    mix = parse_mix(args.mix)
    distinct = max(1, round(size * args.distinct))
    per_carrier = {name: int(distinct * share) for name, share in mix.items()}
    per_carrier[max(mix, key=mix.__getitem__)] += distinct - sum(per_carrier.values())
    now = datetime.now(UTC)
    parcels: list[tuple[str, str]] = []
    history: dict[str, dict[str, list[list[str]]]] = {}
    for carrier, count in per_carrier.items():
        numbers: set[str] = set()
        while len(numbers) < count:
            numbers.add(make_number(carrier, rng))
        table = history.setdefault(carrier, {})
        for number in sorted(numbers):
            parcels.append((STORED_KEY.get(carrier, carrier), number))
            at = now - timedelta(hours=rng.uniform(20, 40))
            events = []
            for code in HISTORY_CODES[carrier][: rng.randint(1, 3)]:
                events.append([code, at.isoformat(), rng.choice(PLACES)])
                at += timedelta(hours=rng.uniform(1, 6))
            table[number] = events
    rng.shuffle(parcels)
    chats = max(1, size // args.subs_per_chat)
    pairs: set[tuple[int, int]] = set()
    for parcel_id in range(1, distinct + 1):  # every parcel has at least one follower
        pairs.add((rng.randrange(chats), parcel_id))
    while len(pairs) < size:  # the rest: popular numbers followed in several chats
        pairs.add((rng.randrange(chats), rng.randint(1, distinct)))

    database = folder / "bot.sqlite3"
    asyncio.run(_create_schema(database))
    created = (now - timedelta(days=1)).isoformat(timespec="microseconds")
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO chats (id, type, language, created_at) VALUES (?, 'private', ?, ?)",
            [(10_000_000 + c, ("uk", "en", "ru")[c % 3], created) for c in range(chats)],
        )
        conn.executemany(
            "INSERT INTO parcels (id, carrier, number, created_at) VALUES (?, ?, ?, ?)",
            [(i, key, number, created) for i, (key, number) in enumerate(parcels, start=1)],
        )
        conn.executemany(
            "INSERT INTO subscriptions (chat_id, parcel_id, label, added_by, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (10_000_000 + c, p, f"order {p}" if p % 4 == 0 else None, 10_000_000 + c, created)
                for c, p in sorted(pairs)
            ],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    write_json(folder / "carriers.json", {"parcels": history})
    return {
        "subscriptions": size,
        "distinct": distinct,
        "chats": chats,
        "per_carrier": per_carrier,
    }


async def _create_schema(database: Path) -> None:
    from storage import open_storage

    storage = await open_storage(database)
    await storage.close()


def lower_bound(per_carrier: dict[str, int]) -> dict[str, int]:
    """Return the fewest tracking requests each carrier's API allows for these numbers."""
    return {name: math.ceil(count / BATCH[name]) for name, count in per_carrier.items()}


# --- the bot ---------------------------------------------------------------------------------


async def bot_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Wire the services like bot/app.py start_services and time two full poll cycles."""
    from aiolimiter import AsyncLimiter
    from telegram.constants import ParseMode
    from telegram.ext import Defaults, ExtBot

    from bot.carriers.gdeposylka import DAILY_NEW_NUMBERS, GdePosylkaClient
    from bot.carriers.postplus import PostPlusClient
    from bot.carriers.registry import CarrierRegistry, build_carriers, client_timeout
    from bot.config import Settings
    from bot.correction import CarrierCorrection
    from bot.i18n import Catalogs
    from bot.lifecycle import Lifecycle
    from bot.notifier import Notifier
    from bot.parcels import ParcelService
    from bot.poller import DUE_LIMIT, Poller
    from bot.quota import StorageDetectCache, StorageNewNumberBudget
    from bot.schedule import Policy
    from bot.tracking import TrackingService
    from storage import open_storage
    from tests.telegram_fakes import RecordingRequest

    folder = Path(args.db).parent
    logging.basicConfig(
        filename=folder / "bot.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_PATH": args.db, **carrier_env(args.carriers)}
    settings = Settings.from_env(env)
    catalogs = Catalogs.load(default=settings.default_language)
    storage = await open_storage(settings.database_path)
    session = aiohttp.ClientSession()
    real_budget = args.limits in ("real", "real-budget")
    budget = StorageNewNumberBudget(storage, DAILY_NEW_NUMBERS if real_budget else 10**9)
    detect_cache = StorageDetectCache(storage)
    registry = build_carriers(settings, session, budget=budget, detect_cache=detect_cache)
    if args.limits != "real":
        timeout = client_timeout(settings)
        assert settings.postplus is not None
        assert settings.postplus.credential
        assert settings.gdeposylka.credential
        clients = dict(registry.clients)
        clients["gdeposylka"] = GdePosylkaClient(
            session,
            settings.gdeposylka.base_url,
            settings.gdeposylka.credential,
            budget=budget,
            detect_cache=detect_cache,
            limiter=AsyncLimiter(10**6, 1),
            timeout=timeout,
        )
        clients["postplus"] = PostPlusClient(
            session,
            settings.postplus.base_url,
            settings.postplus.credential,
            limiter=AsyncLimiter(10**6, 1),
            timeout=timeout,
        )
        registry = CarrierRegistry(clients, registry.disabled)
    parcels = ParcelService(
        storage,
        TrackingService(registry),
        max_parcels_per_chat=settings.max_parcels_per_chat,
        policy=Policy(scale=settings.check_interval_scale),
    )
    telegram = RecordingRequest()
    bot = ExtBot(
        settings.telegram_token,
        request=telegram,
        get_updates_request=telegram,
        defaults=Defaults(parse_mode=ParseMode.HTML, link_preview_options=None),
    )
    await bot.initialize()
    notifier = Notifier(storage, bot, catalogs)
    drain_s = [0.0]  # time spent sending pushes (inside the cycle, reported on its own)

    async def timed_drain() -> int:
        started = time.perf_counter()
        try:
            return await notifier.drain()
        finally:
            drain_s[0] += time.perf_counter() - started

    poller = Poller(
        storage,
        parcels,
        dict(registry.clients),
        timed_drain,
        scale=settings.check_interval_scale,
        lifecycle=Lifecycle(storage, settings.check_interval_scale),
        correction=CarrierCorrection(parcels, settings.check_interval_scale),
    )
    # Counted in SQL: loading every due parcel here would put 60k objects in the RSS peak.
    distinct = await asyncio.to_thread(_count_due, args.db)
    max_ticks = math.ceil(distinct / DUE_LIMIT) + 3
    result: dict[str, Any] = {"rss_before_cycles_mb": peak_rss_mb(), "phases": {}}
    statements: Counter[str] = Counter()
    if args.count_sql:
        # Measurement only: count the statements SQLite runs (aiosqlite's own trace hook).
        await storage._conn.set_trace_callback(lambda sql: statements.update((sql[:6],)))
    for phase in ("first", "steady"):
        if phase == "steady":
            result["advanced"] = await control(args.carriers, "advance", every=str(args.every))
            await asyncio.to_thread(_make_all_due, args.db)
        await control(args.carriers, "reset")
        telegram.clear()
        statements.clear()
        threads = thread_cpu()
        profiling = args.profile != "none" and phase == args.profile_phase
        profiler = _start_profiler(args.profile) if profiling else None
        drain_s[0] = 0.0
        cpu, wall = time.process_time(), time.perf_counter()
        ticks = await full_cycle(poller, storage, max_ticks)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        threads = cpu_by_thread(threads, thread_cpu())
        sql = dict(statements)
        if profiler is not None:
            result["profile"] = _stop_profiler(profiler, args.profile, folder)
        still_due = await asyncio.to_thread(_count_due, args.db)
        result["phases"][phase] = {
            "wall_s": wall,
            "drain_s": drain_s[0],
            "cpu_s": cpu,
            "ticks": ticks,
            "hits": await control(args.carriers, "hits"),
            "messages": len(telegram.sent()),
            "still_due": still_due,
            "cpu_by_thread": threads,
            "sql_statements": sql,
            "errors": await asyncio.to_thread(_error_counts, args.db),
        }
    result["rss_peak_mb"] = peak_rss_mb()
    result["ru_maxrss_mb"] = ru_maxrss_mb()
    await poller.close()
    await bot.shutdown()
    await session.close()
    await storage.close()
    return result


async def full_cycle(poller: Any, storage: Any, max_ticks: int) -> int:
    """Tick until no parcel is due; wait for carrier checks that outlive a tick's window."""
    ticks = 0
    while ticks < max_ticks and await storage.due_parcels(datetime.now(UTC), 1):
        await poller.tick()
        ticks += 1
        while True:
            # A carrier slower than the coalescing window finishes in the background, with a
            # follow-up drain; the cycle is over only when those are done too (private set).
            pending = [h.running for h in poller.health.values() if h.running is not None]
            pending = [t for t in pending if not t.done()] + list(poller._background)
            if not pending:
                break
            await asyncio.gather(*pending, return_exceptions=True)
    return ticks


def _count_due(database: str) -> int:
    """Count the parcels due now (every parcel of this workload has a live subscription)."""
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    conn = sqlite3.connect(database, timeout=30)
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM parcels WHERE next_check_at IS NULL OR next_check_at <= ?",
            (now,),
        ).fetchone()
    finally:
        conn.close()
    return int(row[0])


def _make_all_due(database: str) -> None:
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="microseconds")
    conn = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        conn.execute("UPDATE parcels SET next_check_at = ?", (past,))
    finally:
        conn.close()


def _error_counts(database: str) -> dict[str, int]:
    """Count parcels whose last lookup failed, by error (a sign of a quota or a fault)."""
    conn = sqlite3.connect(database)
    try:
        rows = conn.execute(
            "SELECT substr(last_error, 1, 60), COUNT(*) FROM parcels "
            "WHERE last_error IS NOT NULL GROUP BY 1"
        ).fetchall()
    finally:
        conn.close()
    return {str(error): int(count) for error, count in rows}


def _start_profiler(kind: str) -> Any:
    if kind == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled", interval=0.001)
        profiler.start()
        return profiler
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    return profile


def _stop_profiler(profiler: Any, kind: str, folder: Path) -> str:
    if kind == "pyinstrument":
        profiler.stop()
        path = folder / "profile-pyinstrument.txt"
        path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
        return str(path)
    import pstats

    profiler.disable()
    path = folder / "profile-cprofile.txt"
    with path.open("w") as handle:
        stats = pstats.Stats(profiler, stream=handle)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
    return str(path)


# --- the bare loop ---------------------------------------------------------------------------


async def bare_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Make the bot's carrier requests with plain aiohttp: no storage, no parsing, no pushes."""
    conn = sqlite3.connect(args.db)
    try:
        rows = conn.execute("SELECT carrier, number FROM parcels ORDER BY id").fetchall()
    finally:
        conn.close()
    by_client: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for key, number in rows:
        client, _, courier = key.partition("/")
        by_client[client].append((number, courier or None))
    env = carrier_env(args.carriers)
    timeout = aiohttp.ClientTimeout(total=15, connect=5, sock_read=15)
    rss_before = peak_rss_mb()
    await control(args.carriers, "reset")
    async with aiohttp.ClientSession() as session:
        bare = _Bare(session, env, timeout)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(bare.run(client, items) for client, items in by_client.items()))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "hits": await control(args.carriers, "hits"),
        "answers": bare.answers,
        "rss_before_mb": rss_before,
        "rss_peak_mb": peak_rss_mb(),
        "ru_maxrss_mb": ru_maxrss_mb(),
    }


class _Bare:
    """The carrier requests of bot/carriers/*.py, spelled out with aiohttp."""

    def __init__(
        self, session: aiohttp.ClientSession, env: dict[str, str], timeout: aiohttp.ClientTimeout
    ) -> None:
        self.session = session
        self.env = env
        self.timeout = timeout
        self.answers: Counter[str] = Counter()

    async def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        async with self.session.request(method, url, timeout=self.timeout, **kwargs) as response:
            raw = await response.read()
            self.answers[str(response.status)] += 1
        return json.loads(raw)

    async def store(self, client: str, answers: list[tuple[str | None, Any]]) -> None:
        """The bare loop keeps nothing (the floor loop below stores the answers)."""

    async def run(self, client: str, items: list[tuple[str, str | None]]) -> None:
        numbers = [number for number, _ in items]
        if client == "inpost":
            await self._json(
                "GET", self.env["INPOST_BASE_URL"] + "statuses", params={"lang": "pl_PL"}
            )
        if client == "postplus":
            await self._json(
                "GET",
                self.env["POSTPLUS_BASE_URL"] + "api/v1/tracking/event-codes",
                headers=self._postplus_headers(),
            )
        if client in ("inpost", "gdeposylka") and SINGLES_PER_WRITE == 1:
            # The poller before SINGLES_PER_WRITE: InPost one number per chunk, GdePosylka one
            # semaphore over every number.
            if client == "inpost":
                await _limited(CHUNK_CONCURRENCY, [self.inpost(n) for n in numbers])
            else:
                await _limited(SINGLE_CONCURRENCY, [self.gdeposylka(n, c) for n, c in items])
            return
        if client in ("inpost", "gdeposylka"):
            size = SINGLES_PER_WRITE
            chunks_of = [items[i : i + size] for i in range(0, len(items), size)]
            await _limited(CHUNK_CONCURRENCY, [self.singles(client, c) for c in chunks_of])
            return
        size = BATCH[client]
        chunks = [numbers[i : i + size] for i in range(0, len(numbers), size)]
        call = {
            "ukrposhta": self.ukrposhta,
            "nova-poshta": self.nova_poshta,
            "postplus": self.postplus,
        }[client]
        await _limited(CHUNK_CONCURRENCY, [call(chunk) for chunk in chunks])

    async def singles(self, client: str, chunk: list[tuple[str, str | None]]) -> None:
        if client == "inpost":
            answers = await _limited(INPOST_CONCURRENCY, [self.inpost(n) for n, _ in chunk])
        else:
            answers = await _limited(SINGLE_CONCURRENCY, [self.gdeposylka(n, c) for n, c in chunk])
        # Like the poller: one write per chunk of numbers asked one by one.
        await self.store(client, [(n, a) for (n, _), a in zip(chunk, answers, strict=True)])

    async def ukrposhta(self, chunk: list[str]) -> None:
        headers = {
            "Authorization": f"Bearer {self.env['UKRPOSHTA_TOKEN']}",
            "Accept": "application/json",
        }
        url = self.env["UKRPOSHTA_BASE_URL"] + "statuses/with-not-found"
        answer = await self._json("POST", url, headers=headers, params=None, json=chunk)
        await self.store("ukrposhta", [(None, answer)])

    async def nova_poshta(self, chunk: list[str]) -> None:
        body = {
            "apiKey": self.env["NOVAPOSHTA_API_KEY"],
            "modelName": "TrackingDocument",
            "calledMethod": "getStatusDocuments",
            "methodProperties": {
                "Documents": [{"DocumentNumber": n, "Phone": ""} for n in chunk],
                "Language": "UA",
            },
        }
        answer = await self._json("POST", self.env["NOVAPOSHTA_BASE_URL"], json=body)
        await self.store("nova-poshta", [(None, answer)])

    def _postplus_headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.env["POSTPLUS_API_KEY"], "Accept": "application/json"}

    async def postplus(self, chunk: list[str]) -> None:
        url = self.env["POSTPLUS_BASE_URL"] + "api/v1/tracking/parcel-nrs/get-many"
        params = {"ParcelNrs": ",".join(chunk)}
        answer = await self._json("GET", url, headers=self._postplus_headers(), params=params)
        await self.store("postplus", [(None, answer)])

    async def inpost(self, number: str) -> Any:
        url = f"{self.env['INPOST_BASE_URL']}tracking/{quote(number, safe='')}"
        return await self._json("GET", url, headers={"Accept": "application/json"})

    async def gdeposylka(self, number: str, courier: str | None) -> Any:
        headers = {
            "X-Authorization-Token": self.env["GDEPOSYLKA_TOKEN"],
            "Content-Type": "application/json",
        }
        slug = quote(courier or "china-post", safe="")
        url = f"{self.env['GDEPOSYLKA_BASE_URL']}tracker/{slug}/{quote(number, safe='')}"
        return await self._json("GET", url, headers=headers)


# --- the floor loop --------------------------------------------------------------------------


async def floor_worker(args: argparse.Namespace) -> dict[str, Any]:
    """The bare loop plus the least a tracker that loses nothing does: store what it learnt."""
    env = carrier_env(args.carriers)
    timeout = aiohttp.ClientTimeout(total=15, connect=5, sock_read=15)
    rss_before = peak_rss_mb()
    await control(args.carriers, "reset")
    db = await aiosqlite.connect(args.db)
    try:
        await db.execute("PRAGMA synchronous = NORMAL")
        async with aiohttp.ClientSession() as session:
            cpu, wall = time.process_time(), time.perf_counter()
            # Inside the timing, as the poller's query for due parcels is.
            async with db.execute("SELECT id, carrier, number FROM parcels ORDER BY id") as cur:
                rows = await cur.fetchall()
            floor = _Floor(session, env, timeout, db, {number: pid for pid, _, number in rows})
            by_client: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
            for _, key, number in rows:
                client, _, courier = key.partition("/")
                by_client[client].append((number, courier or None))
            await asyncio.gather(
                *(floor.run(client, items) for client, items in by_client.items())
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        async with db.execute("SELECT count(*) FROM events") as cursor:
            (events,) = await cursor.fetchone() or (0,)
    finally:
        await db.close()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "hits": await control(args.carriers, "hits"),
        "answers": floor.answers,
        "stored_parcels": floor.stored,
        "events": events,
        "rss_before_mb": rss_before,
        "rss_peak_mb": peak_rss_mb(),
        "ru_maxrss_mb": ru_maxrss_mb(),
    }


class _Floor(_Bare):
    """Store each answer in the bot's schema with the fewest Python steps.

    Per answer: the raw events of each number (no status mapping, no time zones, no
    fingerprints beyond the raw fields joined), one UPDATE per parcel and INSERT OR IGNORE
    per event in one transaction per request or chunk, as the poller's writes are. No
    pushes, no schedule policy, no circuit breakers: a lower bound for any bot on this stack
    that keeps what it learns.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        env: dict[str, str],
        timeout: aiohttp.ClientTimeout,
        db: aiosqlite.Connection,
        ids: dict[str, int],
    ) -> None:
        super().__init__(session, env, timeout)
        self.db = db
        self.ids = ids
        self.stored = 0
        self.lock = asyncio.Lock()

    async def store(self, client: str, answers: list[tuple[str | None, Any]]) -> None:
        now = datetime.now(UTC)
        checked, due = now.isoformat(), (now + timedelta(hours=2)).isoformat()
        parcels: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        for number, found in _raw_events(client, answers):
            pid = self.ids.get(number)
            if pid is None:
                continue
            last = found[-1] if found else (None, None, None, None)
            parcels.append((last[1], last[0], checked, due, pid))
            events.extend(
                (pid, f"{at}|{code}|{place}", at, code, code, text, place, None, checked)
                for at, code, text, place in found
            )
        async with self.lock:  # one transaction at a time on the one connection, as Storage
            await self.db.executemany(
                "UPDATE parcels SET status_code = ?, last_event_at = ?, last_checked_at = ?,"
                " next_check_at = ? WHERE id = ?",
                parcels,
            )
            await self.db.executemany(
                "INSERT OR IGNORE INTO events (parcel_id, fingerprint, occurred_at, status, code,"
                " description, location, postcode, first_seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                events,
            )
            await self.db.commit()
        self.stored += len(parcels)


Raw = tuple[str, str, str, str | None]  # occurred_at, code, text, place as the carrier wrote them


def _raw_events(client: str, answers: list[tuple[str | None, Any]]) -> list[tuple[str, list[Raw]]]:
    """Each number of the answers with its events, oldest first, fields as given."""
    found: list[tuple[str, list[Raw]]] = []
    for number, answer in answers:
        if client == "ukrposhta":
            for barcode, items in answer["found"].items():
                found.append(
                    (barcode, [(e["date"], e["event"], e["eventName"], e["name"]) for e in items])
                )
            found.extend((barcode, []) for barcode in answer["notFound"])
        elif client == "nova-poshta":
            for d in answer["data"]:
                at = d.get("TrackingUpdateDate")
                event = (at, d["StatusCode"], d["Status"], d.get("WarehouseRecipient"))
                found.append((d["Number"], [event] if at else []))
        elif client == "postplus":
            for p in answer:
                events = p["events"]
                found.append(
                    (
                        p["parcelNr"],
                        [
                            (e["eventTime"], e["eventCode"], e["eventMessage"], e["eventLocation"])
                            for e in events
                        ],
                    )
                )
        elif client == "inpost" and number is not None:
            details = answer.get("tracking_details") or []
            found.append(
                (number, [(e["datetime"], e["status"], e["status"], e["agency"]) for e in details])
            )
        elif client == "gdeposylka" and number is not None:
            points = (answer.get("data") or {}).get("checkpoints") or []
            found.append(
                (
                    number,
                    [
                        (c["time"], c["status_code"], c["status_name"], c["location_raw"])
                        for c in reversed(points)
                    ],
                )
            )
    return found


async def _limited(limit: int, coroutines: list[Any]) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine: Any) -> Any:
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines))


# --- orchestration ---------------------------------------------------------------------------


def run_size(size: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Prepare, serve, and run the bot and the bare loop for one size."""
    folder = root / f"size-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    workload = prepare(size, args, folder)
    workload["prepare_s"] = time.perf_counter() - started
    print(
        f"# size {size:,}: {workload['distinct']:,} distinct numbers, {workload['chats']:,} "
        f"chats, prepared in {workload['prepare_s']:.1f} s ({folder})",
        flush=True,
    )
    # The floor loop starts from the database as the bot found it, once per run.
    pristine = folder / "pristine.sqlite3"
    _copy_database(folder / "bot.sqlite3", pristine)
    with CarrierServer(folder / "carriers.json") as server:
        common = ["--db", str(folder / "bot.sqlite3"), "--carriers", server.base_url]
        bot_command = [sys.executable, __file__, "--worker", "bot", *common]
        bot_command += ["--limits", args.limits, "--every", str(args.every)]
        if args.count_sql:
            bot_command.append("--count-sql")
        if args.profile != "none":
            bot_command += ["--profile", args.profile, "--profile-phase", args.profile_phase]
        bot = run_worker(bot_command, args.timeout)
        print(f"# bot worker: {json.dumps(bot)[:1500]}", flush=True)
        bare: dict[str, Any] = {"skipped": True}
        if not args.skip_bare:
            runs = []
            for _ in range(args.bare_repeats):
                run = run_worker([sys.executable, __file__, "--worker", "bare", *common], 600)
                print(f"# bare worker: {json.dumps(run)[:800]}", flush=True)
                runs.append(run)
            good = sorted((r for r in runs if "wall_s" in r), key=lambda r: r["wall_s"])
            # The median run: the bare loop is short, so one run is at the mercy of noise.
            bare = dict(good[len(good) // 2]) if good else runs[-1]
            bare["walls_s"] = [r.get("wall_s") for r in runs]
        floor: dict[str, Any] = {"skipped": True}
        if not args.skip_floor:
            runs = []
            for index in range(args.bare_repeats):
                database = folder / f"floor-{index}.sqlite3"
                _copy_database(pristine, database)
                command = [sys.executable, __file__, "--worker", "floor", "--db", str(database)]
                run = run_worker([*command, "--carriers", server.base_url], 600)
                print(f"# floor worker: {json.dumps(run)[:800]}", flush=True)
                runs.append(run)
            good = sorted((r for r in runs if "wall_s" in r), key=lambda r: r["wall_s"])
            floor = dict(good[len(good) // 2]) if good else runs[-1]
            floor["walls_s"] = [r.get("wall_s") for r in runs]
    return {"size": size, "workload": workload, "bot": bot, "bare": bare, "floor": floor}


def _copy_database(source: Path, target: Path) -> None:
    """Copy a SQLite database with the backup API (its WAL included)."""
    target.unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def tracking_requests(hits: dict[str, int]) -> dict[str, int]:
    """Keep the tracking requests (not the status dictionaries, routes or detections)."""
    return {name: int(hits.get(name, 0)) for name in CARRIERS}


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Print the result tables."""
    print(f"\n## Poll cycle, limits={args.limits}, mix={args.mix}, distinct={args.distinct}\n")
    rows = []
    for item in results:
        bot, bare, work = item["bot"], item["bare"], item["workload"]
        if "error" in bot:
            rows.append([item["size"], work["distinct"], "-", "-", bot["error"], *[""] * 5])
            continue
        bound = sum(lower_bound(work["per_carrier"]).values())
        for phase in ("first", "steady"):
            data = bot["phases"][phase]
            made = sum(tracking_requests(data["hits"]).values())
            ratio = "-"
            if "wall_s" in bare:
                ratio = f"{data['wall_s'] / bare['wall_s']:.2f}"
            rows.append(
                [
                    f"{item['size']:,} {phase}",
                    made,
                    bound,
                    data["ticks"],
                    data["wall_s"],
                    data.get("drain_s", 0.0),
                    data["cpu_s"] / item["size"] * 1e6,
                    data["messages"],
                    bot["rss_peak_mb"],
                    ratio,
                ]
            )
        if "wall_s" in bare:
            made = sum(tracking_requests(bare["hits"]).values())
            rows.append(
                [
                    f"{item['size']:,} bare",
                    made,
                    bound,
                    "-",
                    bare["wall_s"],
                    "-",
                    bare["cpu_s"] / item["size"] * 1e6,
                    "-",
                    bare["rss_peak_mb"],
                    "1.00",
                ]
            )
        floor = item.get("floor", {})
        if "wall_s" in floor and "wall_s" in bare:
            rows.append(
                [
                    f"{item['size']:,} floor",
                    sum(tracking_requests(floor["hits"]).values()),
                    bound,
                    "-",
                    floor["wall_s"],
                    "-",
                    floor["cpu_s"] / item["size"] * 1e6,
                    "-",
                    floor["rss_peak_mb"],
                    f"{floor['wall_s'] / bare['wall_s']:.2f}",
                ]
            )
    print_table(
        [
            "subscriptions / run",
            "requests",
            "lower bound",
            "ticks",
            "wall s",
            "of which pushes s",
            "CPU µs/sub",
            "pushes",
            "peak RSS MiB (VmHWM)",
            "wall ÷ bare",
        ],
        rows,
    )
    print("\nTracking requests per carrier (steady cycle; bot / lower bound):\n")
    rows = []
    for item in results:
        if "error" in item["bot"]:
            continue
        bound = lower_bound(item["workload"]["per_carrier"])
        made = tracking_requests(item["bot"]["phases"]["steady"]["hits"])
        first = tracking_requests(item["bot"]["phases"]["first"]["hits"])
        rows.append(
            [item["size"]]
            + [f"{first[c]}/{made[c]}/{bound[c]}" for c in CARRIERS]
            + [
                json.dumps(
                    {
                        k: v
                        for k, v in item["bot"]["phases"]["first"]["hits"].items()
                        if k not in CARRIERS
                    }
                )
            ]
        )
    print_table(["size", *(f"{c} first/steady/bound" for c in CARRIERS), "other (first)"], rows)
    for item in results:
        bot = item["bot"]
        if "error" in bot:
            print(f"\nsize {item['size']}: {bot['error']}\n{bot.get('stderr', '')[-1500:]}")
            continue
        for phase in ("first", "steady"):
            data = bot["phases"][phase]
            if data["errors"] or data["still_due"]:
                print(
                    f"\nsize {item['size']} {phase}: parcels with a lookup error "
                    f"{data['errors']}, still due after the cycle: {data['still_due']}"
                )
        if "profile" in bot:
            print(f"\nprofile of size {item['size']}: {bot['profile']}")


def main(argv: list[str] | None = None) -> None:
    """Parse arguments; run the sizes, or one worker when called by the script itself."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--distinct", type=float, default=0.6, help="distinct numbers / subs")
    parser.add_argument("--mix", default=DEFAULT_MIX, help="share of numbers per carrier")
    parser.add_argument("--subs-per-chat", type=int, default=5, help="subscriptions per chat")
    parser.add_argument("--every", type=int, default=10, help="every K-th number moves")
    parser.add_argument("--limits", choices=("relaxed", "real", "real-budget"), default="relaxed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per bot run")
    parser.add_argument("--count-sql", action="store_true", help="count SQL statements")
    parser.add_argument("--bare-repeats", type=int, default=3, help="bare runs (median kept)")
    parser.add_argument("--skip-bare", action="store_true", help="do not run the bare loop")
    parser.add_argument("--skip-floor", action="store_true", help="do not run the floor loop")
    parser.add_argument("--profile", choices=("none", "cprofile", "pyinstrument"), default="none")
    parser.add_argument("--profile-phase", choices=("first", "steady"), default="steady")
    parser.add_argument("--workdir", type=Path, help="keep databases and logs here")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--worker", choices=("bot", "bare", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--carriers", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker = {"bot": bot_worker, "bare": bare_worker, "floor": floor_worker}[args.worker]
        print(json.dumps(asyncio.run(worker(args)), default=str), flush=True)
        return
    print_machine()
    print_command()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="poll-bench-"))
    results = [run_size(size, args, root) for size in args.sizes]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    report(results, args)


if __name__ == "__main__":
    main()
