"""Poll ticks and pushes: change detection, coalescing, loudness, life cycle, economy."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram.error import ChatMigrated, Forbidden

from bot.carriers.errors import CarrierUnavailable, ParcelNotFound
from bot.carriers.models import KYIV, ParcelStatus, TrackingEvent, TrackingResult
from bot.lifecycle import PICKUP, Lifecycle
from bot.parcels import LookupOutcome
from bot.quota import next_budget_day
from bot.schedule import BASE_INTERVALS
from storage import Parcel
from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent
from tests.telegram_fakes import make_callback, make_chat, make_message, make_user

T0 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
UP = "0500100031143"
INPOST = "612345678901234567890123"
NP = "20400048799000"
NOON = datetime(2026, 7, 28, 9, 0, tzinfo=UTC)  # 12:00 in Kyiv: outside default quiet hours


async def follow(
    env: BotEnv, chat_id: int, language: str, carrier: str, number: str, label: str | None = None
) -> int:
    return await env.follow(chat_id, carrier, number, language=language, label=label)


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    # Pushes are judged at noon Kyiv time, outside the default quiet hours.
    monkeypatch.setattr("bot.notifier.datetime", _FixedNow)
    async with running_bot(tmp_path) as bot_env:
        yield bot_env


class _FixedNow(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
        return NOON if tz else NOON.replace(tzinfo=None)


async def test_a_change_reaches_every_chat_once_in_its_language(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    for chat_id, language in ((1, "uk"), (2, "en"), (-3, "ru")):
        await follow(env, chat_id, language, "ukrposhta", UP, label=f"gift {chat_id}")
    await env.cycle()  # the baseline: nothing is news
    assert env.telegram.sent() == []
    env.carriers.add("ukrposhta", UP, FakeEvent("21700", T0 + timedelta(days=1), "ODESA 5"))
    await env.cycle()
    sent = env.telegram.sent()
    assert sorted(int(c.params["chat_id"]) for c in sent) == [-3, 1, 2]
    texts = {int(c.params["chat_id"]): c.text for c in sent}
    assert "Arrived at the delivery office" in texts[2]
    assert "Arrived at the delivery office" not in texts[1]
    assert "Arrived at the delivery office" not in texts[-3]
    assert texts[1] != texts[-3]
    for chat_id, text in texts.items():
        assert "ODESA 5" in text
        assert UP in text
        assert f"gift {chat_id}" in text
    assert env.carriers.hits["ukrposhta"] == 2  # one lookup per cycle, not one per chat
    env.telegram.clear()
    await env.cycle()  # nothing new
    await env.cycle()
    assert env.telegram.sent() == []


async def test_reordered_or_trimmed_history_is_not_news(env: BotEnv) -> None:
    events = [
        FakeEvent("10100", T0, "KYIV 1"),
        FakeEvent("20700", T0 + timedelta(hours=3), "KYIV 2"),
        FakeEvent("20800", T0 + timedelta(hours=5), "KYIV 2"),
    ]
    env.carriers.set("ukrposhta", UP, *events)
    await follow(env, 1, "en", "ukrposhta", UP)
    await env.cycle()
    env.carriers.parcels["ukrposhta"][UP] = [events[2], events[0], events[1]]
    await env.cycle()
    env.carriers.parcels["ukrposhta"][UP] = [events[1], events[2]]  # an old event vanished
    await env.cycle()
    assert env.telegram.sent() == []


async def test_two_parcels_changing_in_one_tick_give_one_message(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    env.carriers.set("inpost", INPOST, FakeEvent("confirmed", T0, "Kraków"))
    for chat_id in (1, 2):
        await follow(env, chat_id, "en", "ukrposhta", UP, "shoes")
        await follow(env, chat_id, "en", "inpost", INPOST, "book")
    await env.cycle()
    env.carriers.add("ukrposhta", UP, FakeEvent("20700", T0 + timedelta(hours=2), "LVIV 3"))
    env.carriers.add(
        "inpost", INPOST, FakeEvent("ready_to_pickup", T0 + timedelta(hours=2), "Warszawa")
    )
    await env.cycle()
    sent = env.telegram.sent()
    assert sorted(int(c.params["chat_id"]) for c in sent) == [1, 2]
    for call in sent:
        assert "shoes" in call.text
        assert "book" in call.text
        assert "LVIV 3" in call.text
        assert "Warszawa" in call.text


async def test_milestones_are_loud_scans_are_silent(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await follow(env, 1, "en", "ukrposhta", UP)
    await env.cycle()
    env.carriers.add("ukrposhta", UP, FakeEvent("20700", T0 + timedelta(hours=1), "KYIV 2"))
    await env.cycle()
    [scan] = env.telegram.sent()
    assert scan.params.get("disable_notification") is True
    env.telegram.clear()
    env.carriers.add("ukrposhta", UP, FakeEvent("21700", T0 + timedelta(hours=9), "ODESA 1"))
    await env.cycle()
    [milestone] = env.telegram.sent()
    assert milestone.params.get("disable_notification") in (False, None)


async def test_quiet_hours_make_everything_silent(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await follow(env, 1, "en", "ukrposhta", UP)
    await env.storage.set_quiet_hours(1, 11 * 60, 13 * 60)  # noon falls inside
    await env.cycle()
    env.carriers.add("ukrposhta", UP, FakeEvent("41000", T0 + timedelta(hours=9), "ODESA 1"))
    await env.cycle()
    [delivered] = env.telegram.sent()
    assert delivered.params.get("disable_notification") is True


async def test_delivered_parcels_get_a_final_message_and_are_archived(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CHECK_INTERVAL_SCALE="0.0000001") as env:
        env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
        await follow(env, 1, "en", "ukrposhta", UP, "phone")
        await env.cycle()
        env.carriers.add("ukrposhta", UP, FakeEvent("41000", T0 + timedelta(days=1), "ODESA"))
        await env.cycle()  # the delivery push
        assert any("Delivered" in t and "ODESA" in t for t in env.telegram.texts(1))
        assert await env.storage.count_subscriptions(1) == 1  # watched a little longer
        await asyncio.sleep(0.1)  # 3 days × 1e-7
        await env.cycle()
        assert any("stopped tracking" in t for t in env.telegram.texts(1))
        assert await env.storage.count_subscriptions(1) == 0
        assert await env.storage.count_subscriptions(1, archived=True) == 1
        hits = env.carriers.hits["ukrposhta"]
        await env.cycle()
        assert env.carriers.hits["ukrposhta"] == hits  # archived: no more lookups


async def test_stale_parcels_ask_whether_to_keep_tracking(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CHECK_INTERVAL_SCALE="0.0000001") as env:
        await follow(env, 1, "en", "ukrposhta", UP)  # never registered
        await env.cycle()
        await asyncio.sleep(0.2)  # 14 days × 1e-7
        await env.cycle()
        await env.cycle()  # asked once, not at every check
        questions = [c for c in env.telegram.sent() if "Keep tracking" in str(c.params)]
        assert len(questions) == 1
        data = [
            b["callback_data"]
            for row in questions[0].params["reply_markup"]["inline_keyboard"]
            for b in row
        ]
        await env.send(make_callback(data[1]))  # "Stop"
        assert await env.storage.count_subscriptions(1) == 0


async def test_blocked_chat_is_no_longer_polled(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await follow(env, 1, "en", "ukrposhta", UP)
    await env.cycle()
    env.carriers.add("ukrposhta", UP, FakeEvent("20700", T0 + timedelta(hours=1), "KYIV 2"))
    env.telegram.failures["sendMessage"] = Forbidden("Forbidden: bot was blocked by the user")
    await env.cycle()
    assert (await env.storage.get_chat(1)).blocked
    hits = env.carriers.hits["ukrposhta"]
    await env.cycle()
    assert env.carriers.hits["ukrposhta"] == hits
    assert await env.storage.pending_outbox(10) == []


async def test_migrated_group_gets_the_message_at_its_new_id(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await follow(env, -5, "en", "ukrposhta", UP, "office")
    await env.cycle()
    env.carriers.add("ukrposhta", UP, FakeEvent("21700", T0 + timedelta(hours=5), "LVIV"))
    original = env.telegram._result

    def migrate_once(name, params):  # type: ignore[no-untyped-def]
        if name == "sendMessage" and int(params["chat_id"]) == -5:
            raise ChatMigrated(-1005)
        return original(name, params)

    env.telegram._result = migrate_once  # type: ignore[method-assign]
    await env.cycle()
    delivered = [c for c in env.telegram.sent() if int(c.params["chat_id"]) == -1005]
    assert len(delivered) == 1
    assert "office" in delivered[0].text
    assert await env.storage.count_subscriptions(-1005) == 1


async def test_one_cycle_costs_the_lower_bound_of_requests(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as env:
        # GdePosylka allows 30 requests a minute; two cycles of 10 stay inside it.
        plan = {
            "ukrposhta": 60,
            "nova-poshta": 60,
            "postplus": 30,
            "inpost": 40,
            "gdeposylka/china-post": 10,
        }
        numbers: list[tuple[str, str]] = []
        for carrier, count in plan.items():
            for i in range(count):
                number = f"{carrier[:2].upper()}{i:011d}"
                numbers.append((carrier, number))
                fake = carrier.partition("/")[0]
                code = {
                    "ukrposhta": "20700",
                    "nova-poshta": "5",
                    "postplus": "IN_TRANSIT",
                    "inpost": "sent_from_source_branch",
                    "gdeposylka": "other",
                }[fake]
                env.carriers.set(fake, number, FakeEvent(code, T0, "HUB"))
        assert len(numbers) == 200
        for index in range(500):  # 500 subscriptions over 200 numbers, in 100 chats
            carrier, number = numbers[index % 200]
            await follow(env, 1 + index % 100 + 100 * (index // 200), "uk", carrier, number)
        await env.cycle()  # warm-up: dictionaries (InPost titles, PostPlus codes) get cached
        env.carriers.hits.clear()
        await env.cycle()
        lower_bound = math.ceil(60 / 50) + math.ceil(60 / 100) + math.ceil(30 / 50) + 40 + 10
        assert sum(env.carriers.hits.values()) == lower_bound


async def test_a_failing_carrier_does_not_hold_up_the_others(tmp_path: Path) -> None:
    async with running_bot(
        tmp_path, CHECK_INTERVAL_SCALE="0.01", CARRIER_TIMEOUT_SECONDS="30"
    ) as env:
        env.carriers.delay = 30.0
        env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
        env.carriers.set("inpost", INPOST, FakeEvent("confirmed", T0, "Kraków"))
        await follow(env, 1, "en", "ukrposhta", UP)
        await follow(env, 1, "en", "inpost", INPOST)
        await env.cycle()
        env.carriers.faults["ukrposhta"] = "timeout"  # hangs far longer than a tick
        env.carriers.add(
            "inpost", INPOST, FakeEvent("ready_to_pickup", T0 + timedelta(hours=1), "Gdańsk")
        )
        await env.cycle()
        assert any("Gdańsk" in t for t in env.telegram.texts(1))  # arrived while UP hangs
        env.carriers.add(
            "inpost", INPOST, FakeEvent("delivered", T0 + timedelta(hours=2), "Gdańsk 2")
        )
        await env.cycle()  # the hanging carrier's run is still going: not started twice
        assert any("Gdańsk 2" in t for t in env.telegram.texts(1))
        assert env.carriers.hits["ukrposhta"] == 2
        poller = env.app.bot_data.poller
        await poller.close()  # stop the hanging request
        for fault in ("500", "500", "500", "html"):
            env.carriers.faults["ukrposhta"] = fault
            await env.cycle()
        assert poller.health["ukrposhta"].breaker.failures >= 3
        env.carriers.faults.clear()
        poller.health["ukrposhta"].breaker.success()
        env.telegram.clear()
        await env.cycle()  # recovered with the same history: no false notification
        assert env.telegram.sent() == []
        assert env.carriers.hits["ukrposhta"] >= 3


async def test_our_daily_budget_does_not_pause_the_carrier(env: BotEnv) -> None:
    env.app.bot_data.budget.limit = 1  # GdePosylka: one new number a day
    for number in ("LM951174328CN", "RA067022855CN"):
        env.carriers.set("gdeposylka", number, FakeEvent("accepted", T0, "Shenzhen"))
        await follow(env, 1, "en", "gdeposylka/china-post", number)
    await env.cycle()
    assert env.carriers.hits["gdeposylka"] == 1  # the second number waits for tomorrow
    health = env.app.bot_data.poller.health["gdeposylka"]
    assert health.breaker.failures == 0
    refused = await env.storage.find_parcel("gdeposylka/china-post", "RA067022855CN")
    assert refused is not None
    assert refused.next_check_at is not None
    assert refused.next_check_at >= next_budget_day(datetime.now(UTC))  # not every 5 minutes
    await env.cycle()
    assert env.carriers.hits["gdeposylka"] == 2  # the admitted number is re-checked


async def test_refresh_does_not_push_to_the_chat_that_pressed_it(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    for chat_id in (1, 2):
        await follow(env, chat_id, "en", "ukrposhta", UP)
    await env.cycle()
    [view] = await env.storage.list_subscriptions(1)
    await env.checked_earlier(view.parcel.id, "accepted")
    env.carriers.add("ukrposhta", UP, FakeEvent("21700", T0 + timedelta(hours=3), "ODESA 2"))
    await env.send(make_callback(f"r:{view.id}"))
    rows = await env.storage.pending_outbox(10)
    assert [row.chat_id for row in rows] == [2]  # chat 1 sees the refreshed card instead


async def test_a_failed_lookup_keeps_the_not_found_clock(env: BotEnv) -> None:
    await follow(env, 1, "en", "ukrposhta", UP)  # not registered
    await env.cycle()
    [parcel] = await env.storage.due_parcels(datetime.now(UTC) + timedelta(days=2), 10)
    since = parcel.not_found_since
    assert since is not None
    env.carriers.faults["ukrposhta"] = "500"
    await env.cycle()
    [parcel] = await env.storage.due_parcels(datetime.now(UTC) + timedelta(days=2), 10)
    assert parcel.not_found_since == since


async def test_a_long_digest_is_split_by_parcel_under_telegrams_limit(env: BotEnv) -> None:
    numbers = [f"{i:024d}" for i in range(40)]
    for number in numbers:
        env.carriers.set("inpost", number, FakeEvent("confirmed", T0, "Kraków"))
        await follow(env, 1, "en", "inpost", number, label="L" * 60)
    await env.cycle()
    for number in numbers:
        for k in range(1, 9):
            env.carriers.add(
                "inpost",
                number,
                FakeEvent(
                    "sent_from_sorting_center", T0 + timedelta(minutes=k), "Sortownia " + "x" * 80
                ),
            )
    await env.cycle()
    sent = env.telegram.sent()
    assert len(sent) > 1
    assert all(len(call.text) <= 4096 for call in sent)
    mentioned = [number for call in sent for number in numbers if number in call.text]
    assert sorted(mentioned) == sorted(numbers)  # every parcel once, none twice
    assert await env.storage.pending_outbox(100) == []


async def ukrposhta_parcels(env: BotEnv, count: int) -> list[Parcel]:
    """Make chat 1 follow some Ukrposhta parcels; return them as stored."""
    ids = [await follow(env, 1, "en", "ukrposhta", f"05001000{n:05d}") for n in range(count)]
    return [parcel for i in ids if (parcel := await env.storage.get_parcel(i)) is not None]


FOUND = TrackingResult(
    "ukrposhta",
    "x",
    (TrackingEvent(T0, ParcelStatus.IN_TRANSIT, "20700", "sorting", "KYIV", "01001"),),
)


async def test_record_many_returns_parcels_as_storage_now_holds_them(env: BotEnv) -> None:
    # The poller's life cycle reads the returned parcels instead of querying them again: they
    # must match storage after every kind of outcome, in any order.
    data = env.app.bot_data
    storage = data.storage
    parcels = await ukrposhta_parcels(env, 4)
    ids = [parcel.id for parcel in parcels]
    found = FOUND
    missing = ParcelNotFound("ukrposhta", "no such number")
    down = CarrierUnavailable("ukrposhta", "HTTP 503")
    rounds = [
        [found, missing, down, missing],
        [down, missing, found, down],  # failed lookups keep the "not found" clock
        [missing, found, missing, found],
    ]
    for outcomes in rounds:
        items = [
            LookupOutcome(parcel, o, None)
            if isinstance(o, TrackingResult)
            else LookupOutcome(parcel, None, o)
            for parcel, o in zip(parcels, outcomes, strict=True)
        ]
        parcels = await data.parcels.record_many(items, notify=False)
        assert parcels == [await storage.get_parcel(i) for i in ids]


async def test_a_parcel_moved_away_during_a_batch_does_not_sink_the_batch(env: BotEnv) -> None:
    first, gone, last = await ukrposhta_parcels(env, 3)
    moved = await env.storage.get_or_create_parcel("gdeposylka/ukrposhta", gone.number)
    await env.storage.move_subscriptions(gone.id, moved.id)  # carrier correction, meanwhile
    service = env.app.bot_data.parcels
    updated = await service.record_many(
        [LookupOutcome(parcel, FOUND, None) for parcel in (first, gone, last)], notify=False
    )
    assert [p.id for p in updated] == [first.id, last.id]
    for parcel in (first, last):
        assert len(await env.storage.parcel_events(parcel.id)) == 1
    # A single lookup of the moved parcel (a Refresh of an old card) still answers.
    env.carriers.set("ukrposhta", gone.number, FakeEvent("10100", T0, "KYIV 1"))
    lookup = await service.check(gone)
    assert lookup.error is None
    assert lookup.result is not None
    assert lookup.result.events


def found(*statuses: ParcelStatus) -> TrackingResult:
    """Return a result with one event per status, an hour apart."""
    events = tuple(
        TrackingEvent(T0 + timedelta(hours=i), status, f"C{i}", str(status), "KYIV", "01001")
        for i, status in enumerate(statuses)
    )
    return TrackingResult("ukrposhta", "x", events)


async def test_a_batch_reads_its_stored_fingerprints_once(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = env.storage
    parcels = await ukrposhta_parcels(env, 3)
    service = env.app.bot_data.parcels
    await service.record_many([LookupOutcome(p, FOUND, None) for p in parcels], notify=True)
    reads: list[list[int]] = []
    read = storage.fingerprints_many

    async def counted(parcel_ids: list[int]) -> dict[int, set[str]]:
        reads.append(list(parcel_ids))
        return await read(parcel_ids)

    monkeypatch.setattr(storage, "fingerprints_many", counted)
    parcels = [p for i in parcels if (p := await storage.get_parcel(i.id)) is not None]
    newer = found(ParcelStatus.IN_TRANSIT, ParcelStatus.READY_FOR_PICKUP)
    outcomes = [
        LookupOutcome(parcels[0], newer, None),
        LookupOutcome(parcels[1], FOUND, None),  # nothing new
        LookupOutcome(parcels[2], None, CarrierUnavailable("ukrposhta", "HTTP 503")),
    ]
    await service.record_many(outcomes, notify=True)
    assert reads == [[parcels[0].id, parcels[1].id]]  # one read, of the parcels found
    # What that one read says is new still decides the pushes and their loudness.
    [push] = await storage.pending_outbox(10)
    assert (push.parcel_id, push.loud) == (parcels[0].id, True)
    assert len(json.loads(push.payload)) == 2  # FOUND's event was stored in the first batch


async def test_concurrent_lookups_of_a_parcel_agree_on_what_is_new(env: BotEnv) -> None:
    # A Refresh and the poller may store the same news at once: only the first is news (one
    # push), and the second schedules the parcel as one that did not change.
    [parcel] = await ukrposhta_parcels(env, 1)
    service = env.app.bot_data.parcels
    [parcel] = await service.record_many([LookupOutcome(parcel, FOUND, None)], notify=True)
    outcome = LookupOutcome(
        parcel, found(ParcelStatus.IN_TRANSIT, ParcelStatus.READY_FOR_PICKUP), None
    )
    both = await asyncio.gather(*(service.record_many([outcome], notify=True) for _ in range(2)))
    [push] = await env.storage.pending_outbox(10)
    assert push.loud
    intervals = sorted(p.check_interval or 0.0 for [p] in both)
    base = BASE_INTERVALS[ParcelStatus.READY_FOR_PICKUP] * service.policy.scale
    # Changed: the status's base interval (±10 % jitter); unchanged: the previous one doubled.
    assert intervals[0] < base * 1.2 < base * 1.5 < intervals[1]
    stored = await env.storage.get_parcel(parcel.id)
    assert stored is not None
    assert stored.check_interval == intervals[1]  # the second to be stored saw no change


async def test_carrier_texts_are_fetched_in_one_language_whatever_the_chat_reads(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ukrposhta translates place names, and places are part of an event's fingerprint: if an
    # English chat's Refresh fetched English texts, every event would look new to the poller.
    monkeypatch.setattr("bot.handlers.cards.REFRESH_COOLDOWN", timedelta(0))
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await env.send(make_message(UP, user=make_user(1, "en")))
    [view] = await env.storage.list_subscriptions(1)
    await env.send(make_callback(f"r:{view.id}", user=make_user(1, "en")))
    await env.storage.schedule_parcel(view.parcel_id, datetime.now(UTC), 60.0)
    await env.cycle()
    assert env.carriers.languages == {"uk": 3}  # follow, Refresh, poll
    env.telegram.clear()
    await env.storage.schedule_parcel(view.parcel_id, datetime.now(UTC), 60.0)
    await env.cycle()
    assert env.telegram.sent() == []  # nothing looked new


async def test_users_lookups_close_a_pause_only_with_a_real_answer(env: BotEnv) -> None:
    breakers = env.app.bot_data.poller.breakers
    assert breakers is not None
    breaker = breakers["ukrposhta"]
    breaker.failures = 4
    breaker.opened_until = datetime.now(UTC) - timedelta(seconds=1)  # the pause is over
    await env.send(make_message("0500100031135", user=make_user(1, "en")))  # not found
    env.carriers.faults["ukrposhta"] = "500"
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await env.send(make_message(UP, user=make_user(2, "en")))  # fails
    assert breaker.failures == 4  # neither answer decides: the poller judges whole batches
    env.carriers.faults.clear()
    env.carriers.set("ukrposhta", "0500100031208", FakeEvent("10100", T0, "KYIV 1"))
    await env.send(make_message("0500100031208", user=make_user(3, "en")))
    assert (breaker.failures, breaker.opened_until) == (0, None)


def tomorrow_at_ten() -> datetime:
    """Tomorrow 10:00 Kyiv: every "now" a reminder test derives from it is in the daytime."""
    tomorrow = datetime.now(KYIV) + timedelta(days=1)
    return tomorrow.replace(hour=10, minute=0, second=0, microsecond=0)


def reminders_of(env: BotEnv) -> Lifecycle:
    """Return the running bot's life cycle, which sends the pickup reminders."""
    lifecycle = env.app.bot_data.poller.lifecycle
    assert lifecycle is not None
    return lifecycle


async def test_parcels_waiting_for_pickup_are_reminded_after_a_day_and_after_three(
    env: BotEnv,
) -> None:
    lifecycle, ready = reminders_of(env), tomorrow_at_ten()
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await follow(env, 1, "en", "ukrposhta", UP, "boots")
    # Waiting for days already when followed: the card said so, no reminder.
    old = "0500100031208"
    env.carriers.set("ukrposhta", old, FakeEvent("21700", ready - timedelta(days=6)))
    await follow(env, 2, "en", "ukrposhta", old)
    await env.cycle()
    env.carriers.add("ukrposhta", UP, FakeEvent("21700", ready, "LVIV 7"))
    await env.cycle()  # the "ready for pickup" push itself
    env.telegram.clear()

    assert await lifecycle.remind_pickups(ready + timedelta(hours=23)) == 0
    assert await lifecycle.remind_pickups(ready + timedelta(days=1, minutes=1)) == 1
    # The branch's own "handed to storage" event is still the same wait, not a new one.
    env.carriers.add("ukrposhta", UP, FakeEvent("21400", ready + timedelta(hours=26)))
    [view] = await env.storage.list_subscriptions(1)
    await env.storage.schedule_parcel(view.parcel_id, datetime.now(UTC), 60.0)
    await env.cycle()
    pushes = env.telegram.sent()
    env.telegram.clear()
    assert await lifecycle.remind_pickups(ready + timedelta(days=2)) == 0  # once per step
    assert await lifecycle.remind_pickups(ready + timedelta(days=3, minutes=1)) == 1
    assert await lifecycle.remind_pickups(ready + timedelta(days=20)) == 0
    await env.app.bot_data.notifier.drain()
    [first] = [c for c in pushes if "Waiting for pickup" in c.text]
    [second] = env.telegram.sent()
    assert {int(first.params["chat_id"]), int(second.params["chat_id"])} == {1}
    assert "boots" in first.text
    since = ready.strftime("%H:%M")
    assert "Waiting for pickup for 1 day, since" in first.text
    assert since in first.text
    assert "Waiting for pickup for 3 days, since" in second.text
    assert since in second.text  # counted from the first "ready" event


async def test_pickup_reminders_wait_for_the_day_and_for_a_parcel_still_waiting(
    env: BotEnv,
) -> None:
    lifecycle, ready = reminders_of(env), tomorrow_at_ten()
    env.carriers.set("ukrposhta", UP, FakeEvent("21700", ready, "LVIV 7"))
    await follow(env, 1, "uk", "ukrposhta", UP)
    await env.cycle()
    env.telegram.clear()
    assert await lifecycle.remind_pickups(ready + timedelta(days=1, hours=12)) == 0  # 22:00
    assert await lifecycle.remind_pickups(ready + timedelta(days=1, hours=23)) == 1  # 09:00
    # Collected before the drain: the queued reminder is dropped, not sent.
    env.carriers.add("ukrposhta", UP, FakeEvent("41000", ready + timedelta(days=2)))
    [view] = await env.storage.list_subscriptions(1)
    await env.storage.schedule_parcel(view.parcel_id, datetime.now(UTC), 60.0)
    await env.cycle()
    assert not any("Посилка чекає" in t for t in env.telegram.texts(1))
    assert await env.storage.pending_outbox(10) == []
    assert all(
        p.number != UP for p in await env.storage.waiting_for_pickup(ready + timedelta(days=30))
    )


@pytest.mark.parametrize(
    ("language", "days", "expected"),
    [
        ("uk", 1, "чекає на отримання 1 день"),
        ("uk", 3, "чекає на отримання 3 дні"),
        ("uk", 5, "чекає на отримання 5 днів"),
        ("uk", 21, "чекає на отримання 21 день"),
        ("ru", 3, "ждёт получения 3 дня"),
        ("ru", 11, "ждёт получения 11 дней"),
        ("en", 1, "Waiting for pickup for 1 day"),
    ],
)
async def test_pickup_reminders_speak_each_language(
    env: BotEnv, language: str, days: int, expected: str
) -> None:
    await follow(env, 1, language, "ukrposhta", UP)
    [view] = await env.storage.list_subscriptions(1)
    await env.storage.record_lookup(
        view.parcel_id,
        checked_at=datetime.now(UTC),
        status="ready_for_pickup",
        next_check_at=None,
        check_interval=None,
        notify=False,
    )
    since = datetime.now(UTC) - timedelta(days=days)
    payload = json.dumps({"since": since.isoformat(), "days": days})
    await env.storage.notify_subscribers(view.parcel_id, PICKUP, payload, True)
    await env.app.bot_data.notifier.drain()
    [reminder] = env.telegram.sent()
    assert expected in reminder.text


async def test_each_tick_looks_for_parcels_waiting_for_pickup(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[datetime] = []

    async def remind(self: Lifecycle, now: datetime) -> int:
        seen.append(now)
        raise RuntimeError("reminders broken")  # must not keep the tick's pushes back

    monkeypatch.setattr(Lifecycle, "remind_pickups", remind)
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await follow(env, 1, "en", "ukrposhta", UP)
    await env.cycle()
    env.carriers.add("ukrposhta", UP, FakeEvent("20700", T0 + timedelta(hours=1), "KYIV 2"))
    await env.cycle()
    assert len(seen) >= 2
    assert any("KYIV 2" in t for t in env.telegram.texts(1))


async def test_a_push_about_one_parcel_replies_to_the_message_that_showed_it(
    env: BotEnv,
) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    env.carriers.set("inpost", INPOST, FakeEvent("confirmed", T0, "Kraków"))
    await env.send(make_message(UP, user=make_user(1, "en")))
    card = env.telegram.sent()[-1]
    await env.send(make_message(f"{INPOST}\n{UP}", user=make_user(2, "en")))  # a summary
    summary = env.telegram.sent()[-1]
    env.carriers.add("ukrposhta", UP, FakeEvent("21700", T0 + timedelta(hours=5), "LVIV 1"))
    env.telegram.clear()
    await env.cycle()
    replies = {
        int(c.params["chat_id"]): c.params.get("reply_parameters") for c in env.telegram.sent()
    }
    assert replies[1]["message_id"] == card.result["message_id"]
    assert replies[1]["allow_sending_without_reply"] is True
    assert replies[2]["message_id"] == summary.result["message_id"]
    # Two parcels in one message: it is about neither alone, so it replies to nothing.
    env.carriers.add("ukrposhta", UP, FakeEvent("41000", T0 + timedelta(hours=9), "LVIV 1"))
    env.carriers.add("inpost", INPOST, FakeEvent("delivered", T0 + timedelta(hours=9), "Kraków"))
    env.telegram.clear()
    await env.cycle()
    [both] = [c for c in env.telegram.sent() if int(c.params["chat_id"]) == 2]
    assert UP in both.text
    assert INPOST in both.text
    assert "reply_parameters" not in both.params


def push_buttons(call_params: dict) -> list[str]:  # type: ignore[type-arg]
    """Return the callback data of a push's buttons."""
    rows = call_params.get("reply_markup", {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row]


async def test_a_push_about_one_parcel_has_its_card_and_a_fitting_action(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    env.carriers.set("inpost", INPOST, FakeEvent("confirmed", T0, "Kraków"))
    await env.send(make_message(UP, user=make_user(1, "en")))
    await env.send(make_message(f"{INPOST}\n{UP}", user=make_user(2, "en")))
    views = {v.parcel.number: v.id for v in await env.storage.list_subscriptions(2)}
    [mine] = await env.storage.list_subscriptions(1)
    env.carriers.add("ukrposhta", UP, FakeEvent("20700", T0 + timedelta(hours=5), "LVIV 1"))
    env.telegram.clear()
    await env.cycle()
    pushes = {int(c.params["chat_id"]): c.params for c in env.telegram.sent()}
    assert push_buttons(pushes[1]) == [f"c:{mine.id}", f"x:{mine.id}"]  # card, stop
    # Waiting at the branch: "I have it" instead of stop (collected: to the archive).
    env.carriers.add("ukrposhta", UP, FakeEvent("21700", T0 + timedelta(hours=7), "LVIV 1"))
    env.telegram.clear()
    await env.cycle()
    pushes = {int(c.params["chat_id"]): c.params for c in env.telegram.sent()}
    assert push_buttons(pushes[2]) == [f"c:{views[UP]}", f"v:{views[UP]}"]
    # Delivered: "I have it" too; a message about two parcels has no buttons (which parcel
    # would they be for?).
    env.carriers.add("ukrposhta", UP, FakeEvent("41000", T0 + timedelta(hours=9), "LVIV 1"))
    env.carriers.add("inpost", INPOST, FakeEvent("delivered", T0 + timedelta(hours=9), "Kraków"))
    env.telegram.clear()
    await env.cycle()
    pushes = {int(c.params["chat_id"]): c.params for c in env.telegram.sent()}
    assert push_buttons(pushes[1]) == [f"c:{mine.id}", f"v:{mine.id}"]
    assert INPOST in pushes[2]["text"]
    assert push_buttons(pushes[2]) == []
    await env.send(make_callback(f"v:{views[UP]}", user=make_user(2, "en")))
    assert await env.storage.count_subscriptions(2, archived=True) == 1


async def test_a_refused_reply_still_delivers_the_push(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await env.send(make_message(UP, user=make_user(1, "en")))
    env.carriers.add("ukrposhta", UP, FakeEvent("21700", T0 + timedelta(hours=5), "LVIV 1"))
    env.telegram.refuse_replies = True
    env.telegram.clear()
    await env.cycle()
    refused, delivered = env.telegram.sent()
    assert "reply_parameters" in refused.params
    assert "reply_parameters" not in delivered.params
    assert "LVIV 1" in delivered.text
    assert await env.storage.pending_outbox(10) == []


async def test_the_inpost_locker_is_on_the_card_and_in_the_pickup_reminder(env: BotEnv) -> None:
    lifecycle, ready = reminders_of(env), tomorrow_at_ten()
    env.carriers.inpost_points[INPOST] = {
        "name": "KRA01M",
        "opening_hours": "24/7",
        "location_description": "przy sklepie Żabka",
        "address": {"line1": "ul. Długa 1 & 2", "line2": "31-000 Kraków"},
    }
    env.carriers.set("inpost", INPOST, FakeEvent("out_for_delivery", T0, "Kraków"))
    await env.send(make_message(INPOST, user=make_user(1, "en")))
    point = "Pickup point: KRA01M, ul. Długa 1 &amp; 2, 31-000 Kraków (przy sklepie Żabka)"
    assert point in env.telegram.texts(1)[-1]
    assert "Opening hours: 24/7" in env.telegram.texts(1)[-1]
    env.carriers.add("inpost", INPOST, FakeEvent("ready_to_pickup", ready, "Kraków"))
    await env.cycle()
    # The "ready for pickup" push says which locker.
    assert "Pickup point: KRA01M, ul. Długa 1 &amp; 2" in env.telegram.texts(1)[-1]
    # A card opened later from /list is built from storage: the locker is still there.
    [view] = await env.storage.list_subscriptions(1)
    env.telegram.clear()
    await env.send(make_callback(f"c:{view.id}", user=make_user(1, "en")))
    assert point in env.telegram.texts(1)[-1]
    env.telegram.clear()
    assert await lifecycle.remind_pickups(ready + timedelta(days=1, minutes=1)) == 1
    await env.app.bot_data.notifier.drain()
    [reminder] = env.telegram.sent()
    assert "Waiting for pickup for 1 day" in reminder.text
    assert "Pickup point: KRA01M, ul. Długa 1 &amp; 2, 31-000 Kraków" in reminder.text


async def test_groups_are_silent_unless_their_admins_choose_quiet_hours(env: BotEnv) -> None:
    group = make_chat(-100, "supergroup")
    admin, member = make_user(5, "en"), make_user(6, "en")
    env.telegram.admins.add(5)
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    await env.send(make_message(f"/track {UP}", chat=group, user=member))

    async def milestone_push(hours: int) -> dict[str, object]:
        env.carriers.add("ukrposhta", UP, FakeEvent("21700", T0 + timedelta(hours=hours), "X"))
        env.telegram.clear()
        await env.cycle()
        [push] = env.telegram.sent()
        return push.params

    assert (await milestone_push(1)).get("disable_notification") is True  # the default
    env.telegram.clear()
    await env.send(make_message("/quiet", chat=group, user=member))
    assert "In groups updates arrive silently all day" in env.telegram.texts(-100)[-1]
    await env.send(make_message("/quiet off", chat=group, user=member))
    assert "Only chat admins" in env.telegram.texts(-100)[-1]
    await env.send(make_message("/quiet off", chat=group, user=admin))
    assert (await milestone_push(2)).get("disable_notification") in (False, None)
    await env.send(make_message("/quiet default", chat=group, user=admin))
    assert "back to the default" in env.telegram.texts(-100)[-1]
    assert (await milestone_push(3)).get("disable_notification") is True
    # A private chat keeps its night-only default.
    await env.send(make_message("/quiet", user=make_user(7, "en")))
    assert "Quiet hours: 22:00–08:00" in env.telegram.texts(7)[-1]


async def test_a_moving_parcel_backs_off_no_further_than_its_status_cap(env: BotEnv) -> None:
    # A parcel whose latest event is recent keeps being checked every few hours, so its next
    # milestone is not pushed a day late; one quiet for a week backs off towards a day.
    moving, quiet = await ukrposhta_parcels(env, 2)
    service = env.app.bot_data.parcels

    def in_transit_since(hours: float) -> TrackingResult:
        at = datetime.now(UTC) - timedelta(hours=hours)
        event = TrackingEvent(at, ParcelStatus.IN_TRANSIT, "20700", "sorting", "KYIV", "01001")
        return TrackingResult("ukrposhta", "x", (event,))

    fresh, old = in_transit_since(1), in_transit_since(7 * 24)
    for _ in range(5):
        outcomes = [LookupOutcome(moving, fresh, None), LookupOutcome(quiet, old, None)]
        moving, quiet = await service.record_many(outcomes, notify=False)
    scale = service.policy.scale
    assert moving.check_interval is not None
    assert quiet.check_interval is not None
    assert moving.check_interval <= 6 * 3600 * scale * 1.1
    assert quiet.check_interval >= 16 * 3600 * scale * 0.9


async def test_a_nova_poshta_parcel_at_the_branch_says_when_storage_costs_money(
    env: BotEnv,
) -> None:
    lifecycle, ready = reminders_of(env), tomorrow_at_ten()
    env.carriers.set("nova-poshta", NP, FakeEvent("5", T0, "Сортувальний центр"))
    await env.send(make_message(NP, user=make_user(1, "en")))
    assert "Paid storage" not in env.telegram.texts(1)[-1]  # on its way: not yet
    env.carriers.add("nova-poshta", NP, FakeEvent("7", ready, "Відділення №1"))
    await env.cycle()
    paid = f"Paid storage from: {(ready.astimezone(KYIV) + timedelta(days=7)):%-d %B %Y}"
    assert paid in env.telegram.texts(1)[-1]  # the "ready for pickup" push
    env.telegram.clear()
    assert await lifecycle.remind_pickups(ready + timedelta(days=1, minutes=1)) == 1
    await env.app.bot_data.notifier.drain()
    [reminder] = env.telegram.sent()
    assert paid in reminder.text
    # Collected ("I have it"): the archived card no longer talks of storage.
    [view] = await env.storage.list_subscriptions(1)
    await env.send(make_callback(f"v:{view.id}", user=make_user(1, "en")))
    env.telegram.clear()
    await env.send(make_callback(f"c:{view.id}", user=make_user(1, "en")))
    [card] = env.telegram.sent()
    assert "in the archive" in card.text
    assert "Paid storage" not in card.text
