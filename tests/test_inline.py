"""Inline mode: the user's own parcels from storage, filtered, paged, never another chat's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import User

from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent
from tests.telegram_fakes import (
    BOT_ID,
    BOT_USERNAME,
    make_inline_query,
    make_message,
    make_user,
)

T0 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
UP = "0500100031143"


@pytest.fixture
async def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_bot(tmp_path) as bot_env:
        yield bot_env


def answer(env: BotEnv) -> dict[str, Any]:
    """Return the parameters of the one answerInlineQuery call, results decoded."""
    [call] = [c for c in env.telegram.calls if c.method == "answerInlineQuery"]
    params = dict(call.params)
    for key in ("results", "button"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params


async def test_inline_lists_own_parcels_with_their_cards(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("21700", T0, "LVIV 7"))
    await env.send(make_message(f"{UP} boots", user=make_user(1, "en")))
    hits = env.carriers.hits["ukrposhta"]
    env.telegram.clear()
    await env.send(make_inline_query("", user=make_user(1, "en")))
    params = answer(env)
    assert params["is_personal"] is True
    [article] = params["results"]
    assert article["title"] == "boots"
    assert "Ready for pickup" in article["description"]
    content = article["input_message_content"]
    assert UP in content["message_text"]
    assert "LVIV 7" in content["message_text"]
    assert "next check" not in content["message_text"]  # a snapshot for another chat
    assert env.carriers.hits["ukrposhta"] == hits  # from storage, no carrier request
    [[share]] = article["reply_markup"]["inline_keyboard"]
    assert share["url"] == f"https://t.me/{BOT_USERNAME}?start={UP}"
    # Someone else in that chat taps it: the deep link follows the parcel for them.
    env.telegram.clear()
    await env.send(make_message(f"/start {UP}", user=make_user(9, "en")))
    assert await env.storage.count_subscriptions(9) == 1

    env.telegram.clear()
    await env.send(make_inline_query("no such", user=make_user(1, "en")))
    assert answer(env)["results"] == []


async def test_inline_pages_filters_and_never_shows_another_chats_parcels(env: BotEnv) -> None:
    storage = env.storage
    await storage.upsert_chat(1, "private", "en")
    await storage.upsert_chat(-100, "supergroup", "en")
    for i in range(25):
        parcel = await storage.get_or_create_parcel("inpost", f"{i:024d}")
        await storage.subscribe(1, parcel.id, f"item {i}", 1)
    secret = await storage.get_or_create_parcel("inpost", "9" * 24)
    await storage.subscribe(-100, secret.id, "group secret", 1)  # the user's group: not listed
    await env.send(make_inline_query("", user=make_user(1, "en")))
    first = answer(env)
    assert len(first["results"]) == 20
    assert first["next_offset"] == "20"
    env.telegram.clear()
    await env.send(make_inline_query("", user=make_user(1, "en"), offset="20"))
    second = answer(env)
    assert len(second["results"]) == 5
    assert not second.get("next_offset")
    titles = {a["title"] for a in first["results"] + second["results"]}
    assert "group secret" not in titles
    env.telegram.clear()
    await env.send(make_inline_query("item 2", user=make_user(1, "en")))
    assert {a["title"] for a in answer(env)["results"]} == {
        "item 2",
        *(f"item 2{i}" for i in range(5)),
    }

    env.telegram.clear()
    await env.send(make_inline_query("", user=make_user(7, "uk"), offset="garbage"))
    nobody = answer(env)
    assert nobody["results"] == []
    assert nobody["button"]["start_parameter"] == "inline"
    env.telegram.clear()
    await env.send(make_message("/start inline", user=make_user(7, "uk")))
    [greeting] = env.telegram.sent()
    assert "/help" in greeting.text  # a greeting, not "this is not a tracking number"


async def test_a_card_posted_through_inline_mode_is_not_tracked_again(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("21700", T0, "LVIV 7"))
    await env.send(make_message(UP, user=make_user(1, "en")))
    [card] = env.telegram.sent()
    env.telegram.clear()
    ourselves = User(BOT_ID, "Parcel", True, username=BOT_USERNAME)
    await env.send(make_message(card.text, user=make_user(1, "en"), via_bot=ourselves))
    assert env.telegram.sent() == []
    someone_else = User(4242, "OtherBot", True, username="other_bot")
    await env.send(make_message(UP, user=make_user(1, "en"), via_bot=someone_else))
    assert len(env.telegram.sent()) == 1  # another bot's message with a number: tracked


async def test_inline_finds_a_number_typed_with_spaces(env: BotEnv) -> None:
    env.carriers.set("ukrposhta", UP, FakeEvent("21700", T0, "LVIV 7"))
    await env.send(make_message(UP, user=make_user(1, "en")))
    env.telegram.clear()
    await env.send(make_inline_query("0500 1000 3114", user=make_user(1, "en")))
    [article] = answer(env)["results"]
    assert article["title"] == UP


async def test_help_mentions_inline_mode_only_when_it_is_on(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    await env.send(make_message("/help", user=make_user(1, "en")))
    [without] = env.telegram.sent()
    assert "in any chat" not in without.text  # off in @BotFather: typing @bot shows nothing
    env.telegram.clear()
    monkeypatch.setattr(type(env.app.bot), "supports_inline_queries", property(lambda _: True))
    await env.send(make_message("/help", user=make_user(1, "en")))
    [with_inline] = env.telegram.sent()
    assert f"Type @{BOT_USERNAME} in any chat" in with_inline.text
