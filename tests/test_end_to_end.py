"""The bot as a real process: a user sends a number, the bot restarts, /list still has it."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path

from aiohttp.test_utils import TestServer

from tests.fake_bot_api import FakeBotApi
from tests.fake_carriers import FakeEvent
from tests.process import loopback_services, start_bot, stop_bot, wait_until

NUMBER = "0500100031143"


async def test_number_card_then_restart_keeps_the_parcel(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    async with loopback_services(tmp_path / "data" / "bot.sqlite3", "123456:SECRET-E2E-TOKEN") as (
        api,
        carriers,
        env,
    ):
        carriers.set(
            "ukrposhta", NUMBER, FakeEvent("21700", datetime(2026, 7, 28, tzinfo=UTC), "ODESA 1")
        )
        env["LOG_LEVEL"] = "DEBUG"  # the most talkative level must still leak no secret
        process = await start_bot(env, log)
        api.push_text(42, f"{NUMBER} посилка від мами")
        assert await wait_until(lambda: any(NUMBER in t for t in api.texts(42))), log.read_text()
        card = next(t for t in api.texts(42) if NUMBER in t)
        assert "посилка від мами" in card
        assert api.sent("setMyCommands")  # menus published at start-up
        assert await stop_bot(process, signal.SIGTERM) == 0

        api.calls.clear()
        process = await start_bot(env, log)
        api.push_text(42, "/list")
        assert await wait_until(lambda: bool(api.texts(42))), log.read_text()
        listing = api.sent()[0]
        markup = listing["reply_markup"]
        markup = json.loads(markup) if isinstance(markup, str) else markup
        captions = [b["text"] for row in markup["inline_keyboard"] for b in row]
        assert any("посилка від мами" in c for c in captions)
        assert await stop_bot(process, signal.SIGINT) == 0
    output = log.read_text()
    assert "Traceback" not in output
    for secret in ("SECRET-E2E-TOKEN", "up-secret-token", "np-secret-key", "gp-secret-token"):
        assert secret not in output


async def test_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    api = FakeBotApi()
    api_server = TestServer(api.app(), host="127.0.0.1")
    await api_server.start_server()
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_text("this is not a database")
    try:
        for path in (corrupt, tmp_path):  # a file of garbage, and a directory
            log = tmp_path / f"{path.name}.log"
            env = {
                "TELEGRAM_BOT_TOKEN": "123456:SECRET-E2E-TOKEN",
                "TELEGRAM_API_BASE_URL": str(api_server.make_url("/bot")),
                "DATABASE_PATH": str(path),
            }
            process = await start_bot(env, log)
            code = await stop_bot(process, signal.SIGCONT)  # just wait for it to exit
            output = log.read_text()
            assert code == 2, output
            assert "Traceback" not in output
            assert str(path) in output.splitlines()[-1]
    finally:
        await api_server.close()
