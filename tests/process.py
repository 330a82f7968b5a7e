"""Run ``python -m bot`` as a real process against loopback servers, and wait for outcomes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestServer

from tests.fake_bot_api import FakeBotApi
from tests.fake_carriers import FakeCarriers

ROOT = Path(__file__).resolve().parent.parent


async def start_bot(
    env: dict[str, str], log: Path, cwd: Path = ROOT
) -> asyncio.subprocess.Process:
    """Start the bot with exactly these environment variables (plus PATH), logging to a file."""
    full = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", **env}
    handle = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=cwd, env=full, stdout=handle, stderr=handle
        )
    finally:
        handle.close()


async def stop_bot(process: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> int:
    """Signal the bot and wait (bounded) for it to exit; return its exit code."""
    if process.returncode is None:
        process.send_signal(sig)
    try:
        return await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        process.kill()
        return await process.wait()


async def wait_until(condition: Callable[[], bool], limit: float = 20.0) -> bool:
    """Poll a condition until it holds or the time is up."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


@asynccontextmanager
async def loopback_services(
    database: Path, token: str
) -> AsyncIterator[tuple[FakeBotApi, FakeCarriers, dict[str, str]]]:
    """Start a fake Bot API and fake carriers on 127.0.0.1; yield them and the bot's env."""
    api, carriers = FakeBotApi(), FakeCarriers()
    api_server = TestServer(api.app(), host="127.0.0.1")
    carrier_server = TestServer(carriers.app(), host="127.0.0.1")
    await api_server.start_server()
    try:
        await carrier_server.start_server()
        env = {
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_BASE_URL": str(api_server.make_url("/bot")),
            "DATABASE_PATH": str(database),
            **carriers.urls(str(carrier_server.make_url("/"))),
        }
        yield api, carriers, env
    finally:
        await api_server.close()
        await carrier_server.close()
