"""Crash test: the bot is SIGKILLed again and again while pushing; nothing is lost or invented."""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.carriers.registry import build_carriers
from bot.config import Settings
from bot.keyboards import KEEP_PATTERN
from bot.parcels import ParcelService
from bot.poller import Poller
from bot.schedule import Policy
from bot.tracking import TrackingService
from storage import open_storage
from tests.fake_bot_api import FakeBotApi
from tests.fake_carriers import FakeCarriers, FakeEvent
from tests.process import start_bot, stop_bot, wait_until

pytestmark = pytest.mark.slow

SEED = 20260728
TOKEN = "123456:SECRET-CRASH-TOKEN"
# Intervals shrink 20 000×: a moving parcel is due again after ~0.4 s and a quiet one after at
# most ~4.3 s, while the "no movement for 30 days" question would need ~130 s (the test is
# far shorter, so no stale questions), and nothing is terminal, so nothing is archived.
SCALE = "0.00005"
COMMAND_MENUS = 8  # setMyCommands calls per start: 4 languages × private and group scopes

# (chat id, chat type, language); one supergroup, whose id is negative.
CHATS = (
    (101, "private", "uk"),
    (102, "private", "en"),
    (103, "private", "ru"),
    (104, "private", "uk"),
    (105, "private", "en"),
    (-1001234567890, "supergroup", "ru"),
)
# (carrier, number, codes new events cycle through: non-terminal only)
PARCELS = (
    ("ukrposhta", "0500100031101", ("20700", "20800", "21500")),
    ("ukrposhta", "0500100031102", ("20800", "21500", "20700")),
    ("ukrposhta", "0500100031103", ("21500", "20700", "20800")),
    ("ukrposhta", "0500100031104", ("20700", "21500", "20800")),
    ("inpost", "612345678901234567890101", ("adopted_at_sorting_center",)),
    ("inpost", "612345678901234567890102", ("sent_from_sorting_center",)),
    ("inpost", "612345678901234567890103", ("adopted_at_sorting_center",)),
    ("inpost", "612345678901234567890104", ("sent_from_sorting_center",)),
)
BASELINE_CODES = {"ukrposhta": "10100", "inpost": "adopted_at_source_branch"}
# parcel index -> the chats following it (every chat follows something; several share parcels)
FOLLOWERS = {
    0: (101, 102, -1001234567890),
    1: (101,),
    2: (103, 104),
    3: (102, 105, -1001234567890),
    4: (101, 103),
    5: (104, -1001234567890),
    6: (105,),
    7: (102, 103, 104, 105),
}
# How each kill is timed: at a random moment, or inside a sendMessage request after Telegram
# "delivered" it (the bot never learns: at most one duplicate) or before (it never arrived).
KILL_MODES = ("random", "random", "after-send", "after-send", "before-send", "before-send")
NEWS_PER_ROUND = 3
PLACE = re.compile(r"(?:HUB|BASE)-\d-\d\d")


@dataclass
class KillSwitch:
    """Kill the running bot from inside the fake Bot API when a sendMessage comes in."""

    process: Callable[[], asyncio.subprocess.Process | None] | None = None  # the current one
    mode: str | None = None  # "after-send" | "before-send" while armed
    fired: int = 0

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def hook(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            armed = self.mode if request.match_info.get("method") == "sendMessage" else None
            if armed == "before-send":
                self.mode = None
                self._kill()  # the request never reaches "Telegram": the row must stay unsent
                return web.Response(status=502, text="Bad Gateway")
            response = await handler(request)
            if armed == "after-send":
                self.mode = None
                self._kill()  # before the answer goes out: the bot cannot mark the row sent
            return response

        return hook

    def _kill(self) -> None:
        assert self.process is not None
        process = self.process()
        assert process is not None
        process.send_signal(signal.SIGKILL)
        self.fired += 1


async def prepare(env: dict[str, str], carriers: FakeCarriers, start: datetime) -> None:
    """Store chats, parcels and subscriptions, and take the baseline with the bot's own poller."""
    storage = await open_storage(env["DATABASE_PATH"])
    try:
        for chat_id, kind, language in CHATS:
            await storage.upsert_chat(chat_id, kind, language)
        for index, (carrier, number, _codes) in enumerate(PARCELS):
            carriers.set(
                carrier,
                number,
                FakeEvent(
                    BASELINE_CODES[carrier], start - timedelta(seconds=30), f"BASE-{index}-00"
                ),
            )
            parcel = await storage.get_or_create_parcel(carrier, number)
            for chat_id in FOLLOWERS[index]:
                await storage.subscribe(chat_id, parcel.id, f"box {index}", abs(chat_id))
        settings = Settings.from_env(env)
        async with aiohttp.ClientSession() as session:
            registry = build_carriers(settings, session)
            parcels = ParcelService(
                storage,
                TrackingService(registry),
                policy=Policy(scale=settings.check_interval_scale),
            )

            async def no_drain() -> int:
                return 0

            poller = Poller(
                storage,
                parcels,
                dict(registry.clients),
                no_drain,
                scale=settings.check_interval_scale,
            )
            await poller.tick()
        for carrier, number, _codes in PARCELS:
            stored = await storage.find_parcel(carrier, number)
            assert stored is not None
            assert stored.last_checked_at is not None, f"no baseline for {number}"
        assert await storage.pending_outbox(10) == []  # the baseline is never news
    finally:
        await storage.close()


async def test_sigkill_during_pushes_loses_nothing_and_duplicates_at_most_once_per_kill(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    started_at = time.monotonic()
    api, carriers, switch = FakeBotApi(), FakeCarriers(), KillSwitch()
    api_app = api.app()
    api_app.middlewares.append(switch.middleware())
    api_server = TestServer(api_app, host="127.0.0.1")
    carrier_server = TestServer(carriers.app(), host="127.0.0.1")
    await api_server.start_server()
    await carrier_server.start_server()
    log = tmp_path / "bot.log"
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": str(api_server.make_url("/bot")),
        "DATABASE_PATH": str(tmp_path / "data" / "bot.sqlite3"),
        "POLL_TICK_SECONDS": "0.3",
        "CHECK_INTERVAL_SCALE": SCALE,
        **carriers.urls(str(carrier_server.make_url("/"))),
    }
    added: dict[str, int] = {}  # place -> parcel index
    news_count = [0] * len(PARCELS)

    def add_news(count: int) -> None:
        for index in rng.sample(range(len(PARCELS)), count):
            carrier, number, codes = PARCELS[index]
            news_count[index] += 1
            place = f"HUB-{index}-{news_count[index]:02d}"
            code = codes[news_count[index] % len(codes)]
            # Recent times: a parcel whose last event is old would get the "keep tracking?"
            # question; minute-resolution fingerprints still differ by place.
            carriers.add(carrier, number, FakeEvent(code, datetime.now(UTC), place))
            added[place] = index

    process: asyncio.subprocess.Process | None = None
    switch.process = lambda: process
    kills = 0
    try:
        await prepare(env, carriers, datetime.now(UTC))
        for mode in rng.sample(KILL_MODES, len(KILL_MODES)):
            menus = len(api.sent("setMyCommands"))
            process = await start_bot(env, log)
            ready = await wait_until(
                lambda menus=menus: len(api.sent("setMyCommands")) >= menus + COMMAND_MENUS
            )
            assert ready, log.read_text()
            add_news(NEWS_PER_ROUND)
            if mode == "random":
                await wait_until(lambda: False, rng.uniform(0.2, 2.5))
            else:
                fired = switch.fired
                switch.mode = mode
                # A quiet parcel is due again within ~4.3 s; then the poll tick pushes.
                await wait_until(lambda fired=fired: switch.fired > fired, 12.0)
                switch.mode = None  # if it never fired, the kill below comes at a random moment
            assert await stop_bot(process, signal.SIGKILL) == -signal.SIGKILL
            kills += 1

        expected = {(chat, place) for place, index in added.items() for chat in FOLLOWERS[index]}

        def received() -> set[tuple[int, str]]:
            return {
                (int(p["chat_id"]), place)
                for p in api.sent()
                for place in PLACE.findall(str(p.get("text", "")))
            }

        process = await start_bot(env, log)
        arrived = await wait_until(lambda: expected <= received(), 30.0)
        await wait_until(lambda: False, 1.0)  # let a late duplicate or invention show up
        assert await stop_bot(process, signal.SIGTERM) == 0
    finally:
        if process is not None and process.returncode is None:
            await stop_bot(process, signal.SIGKILL)
        await api_server.close()
        await carrier_server.close()
    output = log.read_text()
    elapsed = time.monotonic() - started_at

    missing = sorted(expected - received())
    assert arrived, f"missing after {elapsed:.1f}s: {missing}\n{output[-4000:]}"
    assert kills == len(KILL_MODES)
    targeted = sum(mode != "random" for mode in KILL_MODES)
    assert switch.fired == targeted, "some kills never caught the bot sending"

    # Nothing invented: every place mentioned is news of a parcel that chat follows.
    for params in api.sent():
        chat_id = int(params["chat_id"])
        for place in PLACE.findall(str(params.get("text", ""))):
            assert place in added, f"chat {chat_id} was told about {place}"
            assert chat_id in FOLLOWERS[added[place]], f"chat {chat_id} got {place}"
        # No "keep tracking?" question: every parcel moved recently (the scaled 30 days).
        markup = params.get("reply_markup") or {}
        markup = json.loads(markup) if isinstance(markup, str) else markup
        for row in markup.get("inline_keyboard", []):
            assert not any(KEEP_PATTERN.match(b.get("callback_data", "")) for b in row)

    # A duplicate is a message repeating something that chat was already told.
    told: dict[int, set[str]] = {}
    duplicates = 0
    for params in api.sent():
        chat_id = int(params["chat_id"])
        places = set(PLACE.findall(str(params.get("text", ""))))
        duplicates += bool(places & told.setdefault(chat_id, set()))
        told[chat_id] |= places
    assert duplicates <= kills, f"{duplicates} duplicate messages after {kills} kills"

    # A graceful stop leaves nothing half-sent.
    storage = await open_storage(env["DATABASE_PATH"])
    try:
        assert await storage.pending_outbox(10) == []
    finally:
        await storage.close()

    assert TOKEN.split(":")[1] not in output
    for secret in ("up-secret-token", "np-secret-key", "gp-secret-token", "pp-secret-key"):
        assert secret not in output
    assert "Traceback" not in output
    assert not re.search(r" (ERROR|CRITICAL) (bot|storage)\b", output), output[-4000:]
