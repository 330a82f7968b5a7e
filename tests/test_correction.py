"""Carrier correction: numbers their carrier has not known for days are tried at the others."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.correction import CarrierCorrection
from bot.routing import alternatives, parcel_key
from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent
from tests.telegram_fakes import Call, make_callback, make_message, make_user

T0 = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
CN = "LM951174328CN"  # S10 from China: GdePosylka first, Ukrposhta as well
UA = "RA067022855UA"  # S10 from Ukraine: Ukrposhta first, GdePosylka as well
INPOST = "612345678901234567890123"
ALL = dict.fromkeys(("ukrposhta", "nova-poshta", "inpost", "postplus", "gdeposylka"))
# 3 days of "not found" last 0.26 s, the "keep tracking?" question comes after 1.2 s.
SCALE = "0.000001"
PAST_SWITCH_AFTER = 0.4


def test_alternatives_are_the_other_clients_and_readings_of_a_number() -> None:
    [ukrposhta] = alternatives("gdeposylka/china-post", CN, ALL)
    assert (ukrposhta.routes, parcel_key("ukrposhta", ukrposhta)) == (("ukrposhta",), "ukrposhta")
    # GdePosylka's "ukrposhta" courier only relays Ukrposhta: no alternative to it, but
    # Ukrposhta itself is one to GdePosylka's relay.
    assert alternatives("ukrposhta", UA, ALL) == []
    [ukrposhta] = alternatives("gdeposylka/ukrposhta", UA, ALL)
    assert ukrposhta.routes == ("ukrposhta",)
    assert alternatives("inpost", INPOST, ALL) == []  # one carrier reads it: nothing to try
    assert alternatives("gdeposylka/china-post", CN, {"gdeposylka": None}) == []  # disabled
    # An ambiguous number (UPS waybill or Amazon): the reading not chosen is the alternative.
    [amazon] = alternatives("gdeposylka/ups", "A1234567895", ALL)
    assert (amazon.carrier, parcel_key("gdeposylka", amazon)) == ("amazon", "gdeposylka")


@pytest.fixture
async def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_bot(tmp_path, CHECK_INTERVAL_SCALE=SCALE) as bot_env:
        yield bot_env


def buttons_of(call: Call) -> list[str]:
    """Return the callback data of a sent message's buttons."""
    rows = call.params["reply_markup"]["inline_keyboard"]
    return [button["callback_data"] for row in rows for button in row]


async def cycle(env: BotEnv) -> None:
    """Run a poll cycle and the correction it starts in the background."""
    await env.cycle()
    await env.app.bot_data.poller.settled()


def days(count: float) -> timedelta:
    """Return a span of days as the bot sees it under SCALE."""
    return timedelta(seconds=count * 86_400 * float(SCALE))


async def unknown_at_gdeposylka(env: BotEnv) -> tuple[datetime, CarrierCorrection]:
    """Follow CN in chat 1, unknown at GdePosylka and known at Ukrposhta.

    Returns when GdePosylka first said "not found", and a correction to run at chosen times.
    """
    env.carriers.set("ukrposhta", CN, FakeEvent("10100", T0, "DKD KYIV"))
    await env.send(make_message(CN, user=make_user(1, "en")))
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.not_found_since is not None
    return view.parcel.not_found_since, CarrierCorrection(env.app.bot_data.parcels, float(SCALE))


async def test_a_number_unknown_for_days_moves_to_the_carrier_that_knows_it(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", CN, FakeEvent("10100", T0, "DKD KYIV"))  # not at GdePosylka
    await env.send(make_message(f"{CN} gift", user=make_user(1, "en")))
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.carrier == "gdeposylka/china-post"
    assert view.parcel.not_found_since is not None
    correction = CarrierCorrection(env.app.bot_data.parcels, float(SCALE))
    assert await correction.run(view.parcel.not_found_since + days(2)) == 0  # too early
    assert env.carriers.hits["ukrposhta"] == 0
    await asyncio.sleep(PAST_SWITCH_AFTER)
    await cycle(env)  # the poll tick starts the correction
    [moved] = await env.storage.list_subscriptions(1)
    assert (moved.id, moved.label, moved.parcel.carrier) == (view.id, "gift", "ukrposhta")
    assert moved.parcel.status == "accepted"
    assert moved.parcel.not_found_since is None
    assert [p.carrier for p in await env.storage.parcels_by_number(CN)] == ["ukrposhta"]
    [note] = [t for t in env.telegram.texts(1) if "🔁" in t]
    assert "GdePosylka had no record of this number for" in note
    assert "Ukrposhta knows it: I follow it there now." in note
    assert "DKD KYIV" in note  # the latest event, so the chat sees where it is
    await cycle(env)  # told once; from now on Ukrposhta is polled
    assert len([t for t in env.telegram.texts(1) if "🔁" in t]) == 1
    # Sending the number again shows the parcel where it now is, not a second subscription.
    await env.send(make_message(CN, user=make_user(1, "en")))
    [again] = await env.storage.list_subscriptions(1)
    assert again.id == view.id
    assert "DKD KYIV" in env.telegram.texts(1)[-1]


async def test_the_note_speaks_the_chats_language(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", CN, FakeEvent("10100", T0, "DKD KYIV"))
    await env.send(make_message(CN, user=make_user(1, "uk")))
    await asyncio.sleep(PAST_SWITCH_AFTER)
    await cycle(env)
    [note] = [t for t in env.telegram.texts(1) if "🔁" in t]
    assert "цього номера не було" in note
    assert "тепер я відстежую його там" in note


async def test_a_number_nobody_knows_is_asked_about_again_only_after_days(env: BotEnv) -> None:
    await env.send(make_message(CN, user=make_user(1, "en")))
    [view] = await env.storage.list_subscriptions(1)
    since = view.parcel.not_found_since
    assert since is not None
    correction = CarrierCorrection(env.app.bot_data.parcels, float(SCALE))
    assert await correction.run(since + days(3.5)) == 0
    assert env.carriers.hits["ukrposhta"] == 1  # asked once: it does not know the number either
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.switch_tried_at == since + days(3.5)
    assert await correction.run(since + days(5)) == 0
    assert env.carriers.hits["ukrposhta"] == 1  # not at every tick
    env.carriers.set("ukrposhta", CN, FakeEvent("10100", T0, "DKD KYIV"))
    assert await correction.run(since + days(6.6)) == 1
    assert env.carriers.hits["ukrposhta"] == 2
    [moved] = await env.storage.list_subscriptions(1)
    assert moved.parcel.carrier == "ukrposhta"


async def test_an_empty_record_elsewhere_is_no_reason_to_move(env: BotEnv) -> None:
    env.carriers.set("gdeposylka", CN)  # tracked there, but without a single checkpoint
    parcel_id = await env.follow(1, "ukrposhta", CN, language="en")
    await env.cycle()  # Ukrposhta: not found
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.not_found_since is not None
    correction = CarrierCorrection(env.app.bot_data.parcels, float(SCALE))
    assert await correction.run(view.parcel.not_found_since + days(4)) == 0
    assert ("gdeposylka", "china-post", CN) in env.carriers.requests  # it was asked
    [view] = await env.storage.list_subscriptions(1)
    assert (view.parcel.id, view.parcel.carrier) == (parcel_id, "ukrposhta")


async def test_gdeposylka_is_not_asked_about_what_it_only_relays(env: BotEnv) -> None:
    await env.send(make_message(UA, user=make_user(1, "en")))  # Ukrposhta's own number
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.not_found_since is not None
    correction = CarrierCorrection(env.app.bot_data.parcels, float(SCALE))
    assert await correction.run(view.parcel.not_found_since + days(4)) == 0
    assert env.carriers.hits["gdeposylka"] == 0  # its "ukrposhta" courier repeats Ukrposhta
    assert env.carriers.hits["ukrposhta"] == 1  # nobody else to ask: no second look either


async def test_a_number_its_carrier_knows_by_now_stays_there(env: BotEnv) -> None:
    await env.send(make_message(CN, user=make_user(1, "en")))
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.not_found_since is not None
    env.carriers.set("gdeposylka", CN, FakeEvent("accepted", T0, "Shenzhen"))  # handed in now
    env.carriers.set("ukrposhta", CN, FakeEvent("10100", T0, "DKD KYIV"))
    correction = CarrierCorrection(env.app.bot_data.parcels, float(SCALE))
    assert await correction.run(view.parcel.not_found_since + days(4)) == 0
    assert env.carriers.hits["ukrposhta"] == 0
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.carrier == "gdeposylka/china-post"
    assert view.parcel.not_found_since is None
    assert [e.location for e in await env.storage.parcel_events(view.parcel.id)] == ["Shenzhen"]


async def test_a_reading_picked_from_the_chooser_stands(env: BotEnv) -> None:
    await env.send(make_message("A1234567895", user=make_user(1, "en")))  # UPS or Amazon?
    [chooser] = env.telegram.sent()
    ups = next(b for b in buttons_of(chooser) if b.startswith("p:0:"))
    await env.send(make_callback(ups, user=make_user(1, "en")))
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.carrier == "gdeposylka/ups"
    assert view.parcel.not_found_since is not None
    hits = env.carriers.hits["gdeposylka"]
    correction = CarrierCorrection(env.app.bot_data.parcels, float(SCALE))
    assert await correction.run(view.parcel.not_found_since + days(4)) == 0
    # The Amazon reading of these digits was not asked (nor UPS again: nobody else to ask).
    assert env.carriers.hits["gdeposylka"] == hits
    assert env.carriers.hits["gdeposylka-detect"] == 0


async def test_parcels_of_a_carrier_still_being_checked_wait(env: BotEnv) -> None:
    since, correction = await unknown_at_gdeposylka(env)
    later = since + days(4)
    assert await correction.run(later, busy={"gdeposylka"}) == 0
    assert env.carriers.hits["ukrposhta"] == 0
    assert await correction.run(later) == 1


async def test_given_up_after_a_month_unknown(env: BotEnv) -> None:
    since, correction = await unknown_at_gdeposylka(env)
    assert await correction.run(since + days(31)) == 0
    assert env.carriers.hits["ukrposhta"] == 0


async def test_chats_following_it_at_both_carriers_keep_one_subscription(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", CN, FakeEvent("10100", T0, "DKD KYIV"))
    await env.send(make_message(f"{CN} from China", user=make_user(1, "en")))
    await env.follow(1, "ukrposhta", CN)  # the same chat also follows it at Ukrposhta
    await env.follow(2, "ukrposhta", CN, label="shared")  # another chat: already there
    await env.cycle()
    before = len(env.telegram.texts(2))
    await asyncio.sleep(PAST_SWITCH_AFTER)
    await cycle(env)
    [kept] = await env.storage.list_subscriptions(1)
    assert (kept.parcel.carrier, kept.label) == ("ukrposhta", "from China")
    assert not [t for t in env.telegram.texts(1) if "🔁" in t]  # it already saw Ukrposhta's news
    assert not [t for t in env.telegram.texts(2)[before:] if "🔁" in t]


async def test_following_a_number_just_moved_away_follows_it_afresh(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = env.storage
    env.carriers.set("ukrposhta", CN, FakeEvent("10100", T0, "DKD KYIV"))
    await env.send(make_message(CN, user=make_user(1, "en")))
    [first] = await storage.list_subscriptions(1)
    subscribe = storage.subscribe

    async def moved_meanwhile(chat_id: int, parcel_id: int, *args: object) -> object:
        monkeypatch.setattr(storage, "subscribe", subscribe)
        target = await storage.get_or_create_parcel("ukrposhta", CN)
        await storage.move_subscriptions(parcel_id, target.id)  # the correction, just now
        return await subscribe(chat_id, parcel_id, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "subscribe", moved_meanwhile)
    await env.send(make_message(CN, user=make_user(2, "en")))
    [view] = await storage.list_subscriptions(2)
    assert view.parcel.number == CN
    assert view.parcel.id != first.parcel.id
    assert "went wrong" not in env.telegram.texts(2)[-1]


async def test_alternatives_at_a_busy_client_wait(env: BotEnv) -> None:
    since, correction = await unknown_at_gdeposylka(env)
    hits = env.carriers.hits["gdeposylka"]
    assert await correction.run(since + days(4), busy={"ukrposhta"}) == 0
    assert env.carriers.hits["ukrposhta"] == 0
    assert env.carriers.hits["gdeposylka"] == hits  # nobody else to ask: no second look either
    # Not counted as a try: once Ukrposhta is free, the next tick asks it.
    assert await correction.run(since + days(4.1)) == 1


async def test_a_parcel_found_at_home_meanwhile_does_not_move(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.carriers.set("ukrposhta", CN, FakeEvent("10100", T0, "DKD KYIV"))
    await env.send(make_message(CN, user=make_user(1, "en")))
    [view] = await env.storage.list_subscriptions(1)
    since = view.parcel.not_found_since
    assert since is not None
    tracking = env.app.bot_data.parcels.tracking
    lookup = tracking.lookup

    async def poll_finds_it_meanwhile(number: str, candidate: object, lang: str) -> object:
        result = await lookup(number, candidate, lang)  # type: ignore[arg-type]
        if candidate.routes == ("ukrposhta",):  # type: ignore[attr-defined]
            env.carriers.set("gdeposylka", CN, FakeEvent("accepted", T0, "Shenzhen"))
            await env.cycle()  # the next tick, while the correction asks Ukrposhta
        return result

    monkeypatch.setattr(tracking, "lookup", poll_finds_it_meanwhile)
    correction = CarrierCorrection(env.app.bot_data.parcels, float(SCALE))
    assert await correction.run(since + days(4)) == 0
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.carrier == "gdeposylka/china-post"
    assert not [t for t in env.telegram.texts(1) if "🔁" in t]


async def test_one_correction_at_a_time(env: BotEnv) -> None:
    poller = env.app.bot_data.poller
    running = asyncio.Event()
    blocked = asyncio.create_task(running.wait())
    poller._correcting = blocked  # type: ignore[assignment]
    await env.tick()
    assert poller._correcting is blocked  # a slow correction is not started twice
    running.set()
    await blocked
    await env.tick()
    assert poller._correcting is not blocked
    await poller.settled()
