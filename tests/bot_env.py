"""A whole bot wired to loopback carriers and a recording Bot API, for handler and job tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from telegram import Update

from bot.app import build_application, start_services, stop_services
from bot.config import Settings
from bot.context import BotApplication
from bot.i18n import Catalogs
from tests.fake_carriers import FakeCarriers
from tests.telegram_fakes import RecordingRequest


@dataclass
class BotEnv:
    """The application under test and its fakes."""

    app: BotApplication
    telegram: RecordingRequest
    carriers: FakeCarriers
    settings: Settings

    async def send(self, update: Update) -> None:
        """Process an update and wait for every non-blocking handler it started."""
        # A round trip through JSON binds the bot to every nested object, as for real updates.
        bound = Update.de_json(update.to_dict(), self.app.bot)
        await self.app.process_update(bound)
        await settle(self.app)

    async def tick(self) -> None:
        """Run one poll tick (which also drains the outbox)."""
        await self.app.bot_data.poller.tick()

    async def follow(
        self,
        chat_id: int,
        carrier: str,
        number: str,
        *,
        language: str = "en",
        label: str | None = None,
    ) -> int:
        """Subscribe a chat (created if needed) to a parcel directly in storage; return its id."""
        storage = self.app.bot_data.storage
        await storage.upsert_chat(chat_id, "private" if chat_id > 0 else "supergroup", language)
        parcel = await storage.get_or_create_parcel(carrier, number)
        await storage.subscribe(chat_id, parcel.id, label, chat_id)
        return parcel.id

    async def cycle(self) -> None:
        """Make every parcel due (as if its next check had come) and run one poll tick."""
        storage = self.app.bot_data.storage
        past = datetime.now(UTC) - timedelta(seconds=1)
        for parcel in await storage.due_parcels(datetime.now(UTC) + timedelta(days=400), 10**6):
            await storage.schedule_parcel(parcel.id, past, parcel.check_interval or 60.0)
        await self.tick()

    async def checked_earlier(self, parcel_id: int, status: str) -> None:
        """Record a lookup five minutes ago (past the Refresh cooldown) with a status."""
        past = datetime.now(UTC) - timedelta(minutes=5)
        await self.app.bot_data.storage.record_lookup(
            parcel_id,
            checked_at=past,
            status=status,
            next_check_at=past,
            check_interval=60.0,
            notify=False,
        )

    @property
    def storage(self) -> Any:
        """Return the bot's storage."""
        return self.app.bot_data.storage


async def settle(app: BotApplication) -> None:
    """Wait until the application's background tasks (block=False handlers) are done."""
    tasks: set[asyncio.Task[Any]] = app._Application__create_task_tasks  # type: ignore[attr-defined]
    for _ in range(100):
        pending = [t for t in tasks if not t.done()]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)


@asynccontextmanager
async def running_bot(
    tmp_path: Path, *, jobs: bool = False, **overrides: str
) -> AsyncIterator[BotEnv]:
    """Start the bot's services against a fresh loopback carrier server."""
    carriers = FakeCarriers()
    server = TestServer(carriers.app(), host="127.0.0.1")
    await server.start_server()
    env = {
        "TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN",
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        **carriers.urls(str(server.make_url("/"))),
        **overrides,
    }
    try:
        settings = Settings.from_env(env)
        telegram = RecordingRequest()
        app = build_application(
            settings, Catalogs.load(), request=telegram, get_updates_request=telegram
        )
        await app.initialize()
        await start_services(app)
        await app.start()  # runs the job queue; non-blocking handlers need a running app
        if not jobs:  # tests drive poll ticks and outbox drains themselves
            assert app.job_queue is not None
            for job in app.job_queue.jobs():
                job.schedule_removal()
        try:
            yield BotEnv(app, telegram, carriers, settings)
        finally:
            await settle(app)
            await app.stop()
            await stop_services(app)
            await app.shutdown()
    finally:
        await server.close()
