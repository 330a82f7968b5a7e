"""Fault injection: carriers and the Bot API misbehave; users get plain answers and lose nothing.

Everything runs on loopback and is bounded: carrier requests give up after ``TIMEOUT`` seconds,
a hanging or dripping carrier lasts ``DELAY`` seconds, Telegram's flood waits are one second.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.schedule import JITTER, RETRY_INTERVAL
from storage import Parcel
from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent
from tests.process import loopback_services, start_bot, stop_bot, wait_until
from tests.telegram_fakes import Call, make_callback, make_message, make_user

TIMEOUT = 0.3  # CARRIER_TIMEOUT_SECONDS: one carrier request, body included
DELAY = 1.0  # how long a hanging carrier sleeps and a dripping one takes for its answer
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)

NOT_ANSWERING = "is not answering right now."
UNREADABLE = "answered with something this bot cannot read."
KEEP_TRYING = "The parcel is saved; I will keep trying."

# Fault (see FakeCarriers.faults) → the sentence the user reads after the carrier's name.
FAULTS = {
    "timeout": NOT_ANSWERING,  # no answer within CARRIER_TIMEOUT_SECONDS
    "500": NOT_ANSWERING,
    "502": NOT_ANSWERING,
    "503": NOT_ANSWERING,
    "429": NOT_ANSWERING,  # rate limited, no Retry-After
    "429:120": NOT_ANSWERING,  # rate limited, Retry-After: 120
    "badjson": UNREADABLE,  # 200 with broken JSON
    "cutjson": UNREADABLE,  # the real answer cut in half (Content-Length consistent)
    "truncated": NOT_ANSWERING,  # Content-Length promises more; the connection closes
    "html": UNREADABLE,  # 200 with an HTML page
    "html-502": NOT_ANSWERING,  # a proxy's HTML error page
    "slowdrip": NOT_ANSWERING,  # a valid answer, dripping slower than the timeout allows
}


@dataclass(frozen=True)
class CarrierCase:
    """A carrier, two of its numbers and a history that moves on during an outage."""

    name: str
    title: str  # the carrier's name in English cards
    number: str
    other: str
    history: tuple[FakeEvent, ...]
    news: FakeEvent  # what happens while the carrier is failing


UKRPOSHTA = CarrierCase(
    "ukrposhta",
    "Ukrposhta",
    "0500100031143",
    "0500100031135",
    (FakeEvent("10100", T0, "KYIV 1"), FakeEvent("20700", T0 + timedelta(hours=3), "KYIV 2")),
    FakeEvent("21700", T0 + timedelta(days=1), "ODESA 5"),
)
INPOST = CarrierCase(
    "inpost",
    "InPost",
    "612345678901234567890123",
    "612345678901234567890124",
    (
        FakeEvent("confirmed", T0, "Kraków"),
        FakeEvent("sent_from_source_branch", T0 + timedelta(hours=3), "Łódź"),
    ),
    FakeEvent("ready_to_pickup", T0 + timedelta(days=1), "Warszawa 7"),
)
CARRIERS = [pytest.param(UKRPOSHTA, id="ukrposhta"), pytest.param(INPOST, id="inpost")]


@asynccontextmanager
async def faulty_bot(tmp_path: Path) -> AsyncIterator[BotEnv]:
    """Run the bot with short carrier timeouts against carriers that can hang longer."""
    async with running_bot(tmp_path, CARRIER_TIMEOUT_SECONDS=str(TIMEOUT)) as env:
        env.carriers.delay = DELAY
        yield env


def attempts(env: BotEnv, chat_id: int) -> list[Call]:
    """Return every sendMessage the bot tried for a chat, answered or refused."""
    return [c for c in env.telegram.sent() if int(c.params["chat_id"]) == chat_id]


def assert_retry_scheduled(parcel: Parcel, since: datetime) -> None:
    """The failed lookup is recorded and the parcel comes back after the retry interval."""
    assert parcel.last_error is not None
    assert parcel.last_checked_at is not None
    assert parcel.last_checked_at >= since - timedelta(seconds=1)
    assert parcel.check_interval is not None
    assert RETRY_INTERVAL * (1 - JITTER) <= parcel.check_interval <= RETRY_INTERVAL * (1 + JITTER)
    assert parcel.next_check_at is not None
    expected = parcel.last_checked_at + timedelta(seconds=parcel.check_interval)
    assert abs((parcel.next_check_at - expected).total_seconds()) < 1.5


def assert_no_crash(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback and no error from the bot's own code: the fault was an expected one."""
    ours = [r for r in caplog.records if r.name.split(".")[0] in {"bot", "storage", "telegram"}]
    assert [r.getMessage() for r in ours if r.exc_info or r.levelno >= logging.ERROR] == []
    assert not any("unhandled" in r.getMessage() for r in caplog.records)


async def end_carrier_pause(env: BotEnv, carrier: str) -> None:
    """Let the time a carrier asked for (Retry-After) pass, without sleeping through it."""
    breakers = env.app.bot_data.poller.breakers
    assert breakers is not None
    if breakers[carrier].opened_until is not None:
        breakers[carrier].opened_until = datetime.now(UTC) - timedelta(seconds=1)


# Carrier faults


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("carrier", CARRIERS)
async def test_number_sent_while_the_carrier_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, carrier: CarrierCase, fault: str
) -> None:
    """User sees a card: "<Carrier> is not answering right now." (or "answered with something
    this bot cannot read.") and "The parcel is saved; I will keep trying." — no apology for an
    internal error. Later, once the carrier answers, one message brings the history they have
    not seen yet, and nothing after that.
    """
    async with faulty_bot(tmp_path) as env:
        env.carriers.set(carrier.name, carrier.number, *carrier.history)
        env.carriers.faults[carrier.name] = fault
        before = datetime.now(UTC)
        await env.send(make_message(f"{carrier.number} boots", user=make_user(1, "en")))

        [card] = env.telegram.sent()
        assert carrier.number in card.text
        assert f"{carrier.title} {FAULTS[fault]}" in card.text
        assert KEEP_TRYING in card.text
        assert "went wrong" not in card.text
        assert env.carriers.hits[carrier.name] >= 1  # the fault was met, not skipped
        assert_no_crash(caplog)
        # Nothing lost: the subscription and its label are saved, the parcel will be retried.
        [view] = await env.storage.list_subscriptions(1)
        assert (view.parcel.carrier, view.parcel.number) == (carrier.name, carrier.number)
        assert view.label == "boots"
        assert_retry_scheduled(view.parcel, before)
        assert await env.storage.parcel_events(view.parcel.id) == []

        env.carriers.faults.clear()
        await end_carrier_pause(env, carrier.name)
        env.telegram.clear()
        await env.cycle()  # the carrier is back
        stored = await env.storage.parcel_events(view.parcel.id)
        assert len(stored) == len(carrier.history)
        [push] = env.telegram.sent()
        assert int(push.params["chat_id"]) == 1
        assert "boots" in push.text
        assert carrier.history[-1].place in push.text
        parcel = await env.storage.get_parcel(view.parcel.id)
        assert parcel is not None
        assert parcel.last_error is None
        await env.cycle()
        await env.cycle()
        assert env.telegram.sent() == [push]  # told once, not at every tick


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("carrier", CARRIERS)
async def test_poll_while_the_carrier_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, carrier: CarrierCase, fault: str
) -> None:
    """Users see nothing while the carrier fails: no error message and no invented update. When
    it answers again, chat 1 (whose parcel moved during the outage) gets exactly that event,
    once; chat 2 (whose parcel did not move) gets nothing.
    """
    async with faulty_bot(tmp_path) as env:
        env.carriers.set(carrier.name, carrier.number, *carrier.history)
        env.carriers.set(carrier.name, carrier.other, *carrier.history)
        moving = await env.follow(1, carrier.name, carrier.number)
        still = await env.follow(2, carrier.name, carrier.other)
        await env.cycle()  # the baseline: nothing is news
        assert env.telegram.sent() == []

        env.carriers.faults[carrier.name] = fault
        env.carriers.add(carrier.name, carrier.number, carrier.news)
        hits = env.carriers.hits[carrier.name]
        before = datetime.now(UTC)
        await env.cycle()
        assert env.carriers.hits[carrier.name] > hits  # the fault was met, not skipped
        assert env.telegram.sent() == []
        assert await env.storage.pending_outbox(10) == []
        assert_no_crash(caplog)
        for parcel_id in (moving, still):  # nothing lost: the baseline stays, retry is planned
            parcel = await env.storage.get_parcel(parcel_id)
            assert parcel is not None
            assert_retry_scheduled(parcel, before)
            assert len(await env.storage.parcel_events(parcel_id)) == len(carrier.history)

        env.carriers.faults.clear()
        await end_carrier_pause(env, carrier.name)
        await env.cycle()
        [push] = env.telegram.sent()
        assert int(push.params["chat_id"]) == 1
        assert carrier.news.place in push.text
        assert carrier.history[0].place not in push.text  # only the news, not old events
        assert len(await env.storage.parcel_events(moving)) == len(carrier.history) + 1
        await env.cycle()
        assert env.telegram.sent() == [push]


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_a_paused_carrier_is_not_asked_for_a_users_lookup(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    carrier: CarrierCase,
) -> None:
    """After the poller saw the carrier fail three times in a row, a user who presses Refresh
    or sends a new number gets an answer at once, with no request: the card with what the bot
    knows (if anything) and "<Carrier> is not answering right now." — for a new number also
    "The parcel is saved; I will keep trying." Once the pause is over, the carrier is asked
    again.
    """
    async with faulty_bot(tmp_path) as env:
        env.carriers.set(carrier.name, carrier.number, *carrier.history)
        await env.send(make_message(carrier.number, user=make_user(1, "en")))
        env.carriers.faults[carrier.name] = "500"
        for _ in range(3):
            await end_carrier_pause(env, carrier.name)  # let every tick ask and fail
            await env.cycle()
        hits = env.carriers.hits[carrier.name]
        env.telegram.clear()

        [view] = await env.storage.list_subscriptions(1)
        monkeypatch.setattr("bot.handlers.cards.REFRESH_COOLDOWN", timedelta(0))
        await env.send(make_callback(f"r:{view.id}", user=make_user(1, "en")))  # Refresh
        await env.send(make_message(carrier.other, user=make_user(2, "en")))
        refreshed = next(c for c in env.telegram.calls if c.method == "editMessageText")
        [unknown] = env.telegram.sent()
        assert env.carriers.hits[carrier.name] == hits  # nobody asked the failing carrier
        assert carrier.history[-1].place in refreshed.text  # what the bot knew, from storage
        assert f"{carrier.title} {NOT_ANSWERING}" in refreshed.text
        assert f"{carrier.title} {NOT_ANSWERING}" in unknown.text
        assert KEEP_TRYING in unknown.text
        assert await env.storage.count_subscriptions(2) == 1  # nothing lost
        assert_no_crash(caplog)

        env.carriers.faults.clear()
        await end_carrier_pause(env, carrier.name)
        await env.send(make_callback(f"r:{view.id}", user=make_user(1, "en")))
        assert env.carriers.hits[carrier.name] > hits  # asked again after the pause


@pytest.mark.parametrize("paused", [True, False], ids=["paused", "failing"])
async def test_online_detection_while_gdeposylka_is_down(tmp_path: Path, paused: bool) -> None:
    """GdePosylka paused (no request) or failing: a number only it could identify is "cannot
    be told right now", not "invalid". (Chat messages only carry numbers the offline rules
    know; this path serves `python -m bot track`, whose exit code is then 7, tested there.)
    """
    async with faulty_bot(tmp_path) as env:
        breakers = env.app.bot_data.poller.breakers
        assert breakers is not None
        if paused:
            breakers["gdeposylka"].opened_until = datetime.now(UTC) + timedelta(minutes=5)
        else:
            env.carriers.faults["gdeposylka"] = "500"
        resolution = await env.app.bot_data.parcels.tracking.resolve("AB1234567890XY")
        assert (resolution.candidates, resolution.undetected) == ((), True)
        assert env.carriers.hits["gdeposylka-detect"] == (0 if paused else 1)
        env.carriers.faults.clear()
        breakers["gdeposylka"].success()
        resolution = await env.app.bot_data.parcels.tracking.resolve("AB1234567890XY")
        assert (resolution.candidates, resolution.undetected) == ((), False)  # unknown to it


@pytest.mark.parametrize(
    "carrier",
    [
        pytest.param(UKRPOSHTA, id="ukrposhta"),
        pytest.param(INPOST, id="inpost"),
    ],
)
async def test_retry_after_keeps_the_poller_away(tmp_path: Path, carrier: CarrierCase) -> None:
    """Users see nothing. The carrier said "429, Retry-After: 120", so the bot does not ask it
    again before two minutes have passed, however often it ticks; its parcels stay followed.
    """
    async with faulty_bot(tmp_path) as env:
        env.carriers.set(carrier.name, carrier.number, *carrier.history)
        await env.follow(1, carrier.name, carrier.number)
        await env.cycle()
        env.carriers.faults[carrier.name] = "429:120"
        before = datetime.now(UTC)
        await env.cycle()
        hits = env.carriers.hits[carrier.name]
        health = env.app.bot_data.poller.health[carrier.name]
        assert health.breaker.opened_until is not None
        assert health.breaker.opened_until >= before + timedelta(seconds=119)
        env.carriers.faults.clear()
        await env.cycle()
        await env.cycle()
        assert env.carriers.hits[carrier.name] == hits
        assert env.telegram.sent() == []
        assert await env.storage.count_subscriptions(1) == 1


# Bot API faults, in process


class ScriptedTelegram:
    """Answer sendMessage to chosen chats with scripted Bot API errors, then normally again."""

    def __init__(self, env: BotEnv, monkeypatch: pytest.MonkeyPatch) -> None:
        self.errors: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.refused: list[int] = []  # one chat id per refused call
        self._refused_calls: set[int] = set()  # id() of the recorded calls that were refused
        self._telegram = env.telegram
        self._original = env.telegram.do_request
        monkeypatch.setattr(env.telegram, "do_request", self._do_request)

    def fail(
        self, chat_id: int, status: int, description: str, times: int = 1, **extra: Any
    ) -> None:
        """Queue ``times`` error answers for the chat's next sendMessage calls."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if extra:
            body["parameters"] = extra
        self.errors[chat_id].extend([body] * times)

    async def _do_request(
        self, url: str, method: str, request_data: Any = None, **kwargs: Any
    ) -> tuple[int, bytes]:
        params = dict(request_data.parameters) if request_data else {}
        chat_id = int(params.get("chat_id", 0))
        if url.endswith("/sendMessage") and self.errors.get(chat_id):
            body = self.errors[chat_id].pop(0)
            call = Call("sendMessage", params)
            self._telegram.calls.append(call)
            self._refused_calls.add(id(call))
            self.refused.append(chat_id)
            return int(body["error_code"]), json.dumps(body).encode()
        return await self._original(url, method, request_data, **kwargs)

    def delivered(self, chat_id: int) -> list[Call]:
        """Return the messages Telegram accepted for a chat."""
        return [
            c
            for c in self._telegram.sent()
            if int(c.params["chat_id"]) == chat_id and id(c) not in self._refused_calls
        ]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[BotEnv]:
    async with running_bot(tmp_path) as bot_env:
        yield bot_env


async def news_for(env: BotEnv, *chat_ids: int) -> int:
    """Chats follow one Ukrposhta parcel (in this order), the baseline is taken, then it moves."""
    number = UKRPOSHTA.number
    env.carriers.set("ukrposhta", number, *UKRPOSHTA.history)
    parcel_id = 0
    for chat_id in chat_ids:
        parcel_id = await env.follow(chat_id, "ukrposhta", number)
    await env.cycle()
    assert env.telegram.sent() == []
    env.carriers.add("ukrposhta", number, UKRPOSHTA.news)
    return parcel_id


async def test_blocked_chat_is_marked_and_not_retried_forever(env: BotEnv) -> None:
    """Chat 1 blocked the bot: Telegram answers 403. Chat 1 is marked blocked and its update is
    dropped after one attempt (not re-sent at every drain, nor for later updates); chat 2 still
    gets every update. Chat 1's subscription is kept for when the user unblocks the bot.
    """
    parcel_id = await news_for(env, 1, 2)  # chat 1's rows come first in the outbox
    env.telegram.blocked.add(1)
    await env.cycle()
    assert len(attempts(env, 1)) == 1
    [first] = attempts(env, 2)
    assert UKRPOSHTA.news.place in first.text
    chat = await env.storage.get_chat(1)
    assert chat is not None
    assert chat.blocked
    assert await env.storage.pending_outbox(10) == []
    assert await env.storage.count_subscriptions(1) == 1
    assert len(await env.storage.parcel_events(parcel_id)) == len(UKRPOSHTA.history) + 1

    env.carriers.add("ukrposhta", UKRPOSHTA.number, FakeEvent("41000", T0 + timedelta(days=2)))
    await env.cycle()
    await env.app.bot_data.notifier.drain()
    assert len(attempts(env, 1)) == 1  # never tried again
    assert len(attempts(env, 2)) == 2


async def test_flood_wait_on_a_push_delays_it_and_delivers_it_once(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram answers the push to chat 1 with 429 retry_after=1: chat 1 gets its update about
    a second later, exactly once; chat 2 gets its own once as well.
    """
    script = ScriptedTelegram(env, monkeypatch)
    await news_for(env, 1, 2)
    script.fail(1, 429, "Too Many Requests: retry after 1", retry_after=1)
    started = time.monotonic()
    await env.cycle()
    assert time.monotonic() - started >= 1.0  # the wait was honoured
    assert script.refused == [1]
    [push] = script.delivered(1)
    assert UKRPOSHTA.news.place in push.text
    assert len(script.delivered(2)) == 1
    assert await env.storage.pending_outbox(10) == []
    assert await env.app.bot_data.notifier.drain() == 0
    assert len(attempts(env, 1)) == 2


async def test_flood_wait_on_a_reply_still_answers_once(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user sends a number while Telegram asks the bot to wait a second: the card arrives
    after the wait, once, and the parcel is followed.
    """
    script = ScriptedTelegram(env, monkeypatch)
    env.carriers.set("ukrposhta", UKRPOSHTA.number, *UKRPOSHTA.history)
    script.fail(1, 429, "Too Many Requests: retry after 1", retry_after=1)
    await env.send(make_message(UKRPOSHTA.number, user=make_user(1, "en")))
    assert script.refused == [1]
    [card] = script.delivered(1)
    assert UKRPOSHTA.number in card.text
    assert UKRPOSHTA.history[-1].place in card.text
    assert await env.storage.count_subscriptions(1) == 1


async def test_sustained_flood_wait_keeps_the_push_for_the_next_drain(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram keeps saying 429 beyond the rate limiter's retries: nobody gets a duplicate and
    nothing is lost — the update waits in the outbox and chat 1 gets it at the next drain, once.
    """
    script = ScriptedTelegram(env, monkeypatch)
    await news_for(env, 1)
    script.fail(1, 429, "Too Many Requests: retry after 1", times=4, retry_after=1)  # 1 + 3
    await env.cycle()
    assert script.refused == [1, 1, 1, 1]
    assert script.delivered(1) == []
    assert len(await env.storage.pending_outbox(10)) == 1
    assert await env.app.bot_data.notifier.drain() == 1
    [push] = script.delivered(1)
    assert UKRPOSHTA.news.place in push.text
    assert await env.app.bot_data.notifier.drain() == 0
    assert len(script.delivered(1)) == 1


async def test_bad_request_drops_one_push_and_the_others_go_out(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram refuses chat 1's push with 400: chat 1 misses that one message (the row is
    dropped and logged, never retried), chat 2 gets its push; the event stays in chat 1's
    parcel history, chat 1 stays subscribed and gets the next update normally.
    """
    script = ScriptedTelegram(env, monkeypatch)
    parcel_id = await news_for(env, 1, 2)
    script.fail(1, 400, "Bad Request: can't parse entities: unsupported start tag")
    await env.cycle()
    assert script.refused == [1]
    assert script.delivered(1) == []
    assert len(script.delivered(2)) == 1
    assert await env.storage.pending_outbox(10) == []
    refusals = [r for r in caplog.records if r.name == "bot.notifier" and "refused" in r.message]
    assert len(refusals) == 1
    assert refusals[0].levelno == logging.ERROR
    assert len(await env.storage.parcel_events(parcel_id)) == len(UKRPOSHTA.history) + 1
    chat = await env.storage.get_chat(1)
    assert chat is not None
    assert not chat.blocked

    await env.app.bot_data.notifier.drain()
    assert len(attempts(env, 1)) == 1  # the dropped row is not retried
    env.carriers.add("ukrposhta", UKRPOSHTA.number, FakeEvent("41000", T0 + timedelta(days=2)))
    await env.cycle()
    assert len(script.delivered(1)) == 1
    assert len(script.delivered(2)) == 2


async def test_migrated_group_gets_its_push_at_the_new_id(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group became a supergroup: Telegram answers 400 with migrate_to_chat_id. The update
    arrives in the supergroup, once; later updates go straight there; the parcel moved with it.
    """
    script = ScriptedTelegram(env, monkeypatch)
    await news_for(env, -5)
    script.fail(
        -5,
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        times=100,  # the old id never works again
        migrate_to_chat_id=-1005,
    )
    await env.cycle()
    [push] = script.delivered(-1005)
    assert UKRPOSHTA.news.place in push.text
    assert script.refused == [-5]
    assert await env.storage.count_subscriptions(-1005) == 1
    assert await env.storage.count_subscriptions(-5) == 0
    assert await env.storage.pending_outbox(10) == []

    env.carriers.add("ukrposhta", UKRPOSHTA.number, FakeEvent("41000", T0 + timedelta(days=2)))
    await env.cycle()
    assert len(script.delivered(-1005)) == 2
    assert script.refused == [-5]  # the old id is not tried again


# Bot API faults, against the bot as a real process


async def test_bad_gateway_on_get_updates_then_the_bot_still_answers(tmp_path: Path) -> None:
    """Telegram answers getUpdates with 502 three times in a row: the bot keeps polling (with
    its backoff) and the user's number, sent meanwhile, gets its card once the API is back.
    """
    log = tmp_path / "bot.log"
    database = tmp_path / "data" / "bot.sqlite3"
    async with loopback_services(database, "123456:SECRET-FAULT-TOKEN") as (api, carriers, env):
        carriers.set("ukrposhta", UKRPOSHTA.number, *UKRPOSHTA.history)
        api.fail_get_updates = 3
        process = await start_bot(env, log)
        api.push_text(42, UKRPOSHTA.number, language="en")
        assert await wait_until(lambda: api.fail_get_updates == 0), log.read_text()
        assert await wait_until(lambda: bool(api.texts(42))), log.read_text()
        assert process.returncode is None  # still running
        [card] = api.texts(42)
        assert UKRPOSHTA.number in card
        assert UKRPOSHTA.history[-1].place in card
        assert await stop_bot(process) == 0
    output = log.read_text()
    assert "SECRET-FAULT-TOKEN" not in output
