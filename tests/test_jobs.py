"""The scheduled jobs: the outbox sender and the daily storage maintenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.app import prune_storage, send_notifications
from bot.lifecycle import ARCHIVE_DAYS
from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent

T0 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
UP = "0500100031143"


def job_context(env: BotEnv) -> Any:
    """What a job callback reads from its context."""
    return SimpleNamespace(bot_data=env.app.bot_data, bot=env.app.bot)


@pytest.fixture
async def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_bot(tmp_path) as bot_env:
        yield bot_env


async def test_outbox_job_leaves_the_drain_to_a_running_tick(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While a tick runs, its own drain sends each chat one message for all carriers; the
    # outbox job must not send half of it early.
    await env.follow(1, "ukrposhta", UP)
    [view] = await env.storage.list_subscriptions(1)
    final = '{"status": "delivered"}'
    await env.storage.enqueue(1, "final", final, False, view.id, view.parcel_id)
    poller = env.app.bot_data.poller
    monkeypatch.setattr(type(poller), "ticking", property(lambda self: True))
    await send_notifications(job_context(env))
    assert env.telegram.sent() == []
    monkeypatch.setattr(type(poller), "ticking", property(lambda self: False))
    await send_notifications(job_context(env))
    [push] = env.telegram.sent()
    assert "Delivered" in push.text


def travel(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    """Make the jobs believe it is this many days later."""
    later = datetime.now(UTC) + timedelta(days=days)

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return later if tz else later.replace(tzinfo=None)

    monkeypatch.setattr("bot.app.datetime", Later)


async def test_maintenance_deletes_the_archive_after_its_time(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = env.storage
    await env.follow(1, "ukrposhta", UP)
    await env.follow(1, "ukrposhta", "0500100031135")
    archived, current = await storage.list_subscriptions(1)
    await storage.archive_subscription(archived.id)
    travel(monkeypatch, ARCHIVE_DAYS - 1)
    await prune_storage(job_context(env))
    assert await storage.count_subscriptions(1, archived=True) == 1
    travel(monkeypatch, ARCHIVE_DAYS + 1)
    await prune_storage(job_context(env))
    assert await storage.count_subscriptions(1, archived=True) == 0
    assert await storage.get_parcel(archived.parcel.id) is None  # its history went with it
    assert await storage.get_subscription(current.id) == current  # not archived: kept


async def test_maintenance_deletes_only_what_nobody_needs(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = env.storage
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await env.follow(1, "ukrposhta", UP)
    [followed] = await storage.list_subscriptions(1)
    orphan = await storage.get_or_create_parcel("ukrposhta", "0500100031135")
    sent = await storage.enqueue(1, "final", "{}", False)
    await storage.mark_sent([sent], datetime.now(UTC))
    waiting = await storage.enqueue(1, "final", "{}", False)
    await storage.record_carrier_call("ukrposhta", datetime.now(UTC), True, 12.0)
    await storage.put_detection("LM951174328CN", '{"result": "ok", "couriers": []}')
    await storage.budget_admit("gdeposylka:new", "2000-01-01", "LM951174328CN", 10)

    await prune_storage(job_context(env))  # today: everything is still recent
    assert await storage.get_parcel(orphan.id) is not None
    assert await storage.get_outbox_item(sent) is not None

    travel(monkeypatch, 100)
    await prune_storage(job_context(env))
    assert await storage.get_parcel(orphan.id) is None  # nobody followed it
    assert await storage.get_parcel(followed.parcel_id) is not None  # still followed
    assert await storage.get_outbox_item(sent) is None  # sent long ago
    assert await storage.get_outbox_item(waiting) is not None  # never sent: kept
    assert await storage.carrier_stats(datetime(2000, 1, 1, tzinfo=UTC)) == []
    assert await storage.get_detection("LM951174328CN") is None
    assert await storage.budget_numbers("gdeposylka:new") == set()
