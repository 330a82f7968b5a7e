"""Admin bans: /ban, /unban, /bans, the guard, and what a ban stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Chat, Message, Update

from bot.ban_memory import ANSWERS_PER_HOUR
from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent
from tests.telegram_fakes import (
    make_callback,
    make_chat,
    make_inline_query,
    make_membership,
    make_message,
    make_user,
)

ADMIN = 7
T0 = datetime(2026, 7, 27, 13, 33, tzinfo=UTC)
UP = "0500100031143"
UP2 = "0500100031135"
INPOST = "612345678901234567890123"
SHUT_CHAT = "shut this chat out"
SHUT_YOU = "shut you out"


@pytest.fixture
async def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_bot(tmp_path, ADMIN_IDS=str(ADMIN)) as bot_env:
        await bot_env.storage.upsert_chat(ADMIN, "private", "en")
        bot_env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "DKD KYIV"))
        bot_env.carriers.set("ukrposhta", UP2, FakeEvent("10100", T0, "DKD LVIV"))
        bot_env.carriers.set("inpost", INPOST, FakeEvent("ready_to_pickup", T0, "Kraków"))
        yield bot_env


async def admin(env: BotEnv, text: str) -> str:
    env.telegram.clear()
    await env.send(make_message(text, user=make_user(ADMIN, "en")))
    return env.telegram.texts()[-1]


async def test_a_banned_user_gets_one_refusal_an_hour_and_no_carrier_requests(
    env: BotEnv,
) -> None:
    assert "Banned 1." in await admin(env, "/ban 1 floods GdePosylka")
    env.telegram.clear()
    await env.send(make_message(UP, user=make_user(1, "en")))
    assert len(env.telegram.texts(1)) == 1
    assert SHUT_CHAT in env.telegram.texts(1)[0]
    await env.send(make_message(INPOST, user=make_user(1, "en")))
    await env.send(make_message("/list", user=make_user(1, "en")))
    assert len(env.telegram.texts(1)) == 1  # no second refusal within the hour
    assert env.carriers.requests == []
    assert await env.storage.get_chat(1) is None  # the guard runs before the chat is stored
    # An hour later the chat hears it once more (e.g. the user forgot).
    env.app.bot_data.ban_memory[1].refused_at -= 3601
    await env.send(make_message(UP, user=make_user(1, "en")))
    assert len(env.telegram.texts(1)) == 2


async def test_refusal_is_in_the_users_language(env: BotEnv) -> None:
    await admin(env, "/ban 1")
    env.telegram.clear()
    await env.send(make_message(UP, user=make_user(1, "uk")))
    [text] = env.telegram.texts(1)
    assert SHUT_CHAT not in text
    assert "/forget" in text


async def test_unban_lets_the_user_track_again(env: BotEnv) -> None:
    await admin(env, "/ban 1")
    assert "Unbanned 1." in await admin(env, "/unban 1")
    env.telegram.clear()
    await env.send(make_message(UP, user=make_user(1, "en")))
    assert "DKD KYIV" in "\n".join(env.telegram.texts(1))
    assert "was not banned" in await admin(env, "/unban 1")


async def test_bans_lists_ids_dates_and_escaped_reasons(env: BotEnv) -> None:
    assert await admin(env, "/bans") == "Nobody is banned."
    await admin(env, "/ban 1 <b>spam</b>")
    await admin(env, "/ban -100500")
    assert "was banned already" in await admin(env, "/ban 1 again")
    text = await admin(env, "/bans")
    assert text.startswith("<b>2 bans</b>")
    assert "<code>1</code>" in text
    assert "&lt;b&gt;spam&lt;/b&gt;" in text
    assert "<code>-100500</code>" in text
    assert [ban.reason for ban in await env.storage.list_bans() if ban.id == 1] == ["<b>spam</b>"]


async def test_a_long_ban_list_fits_one_message(env: BotEnv) -> None:
    for target in range(100, 160):
        await env.storage.ban(target, ADMIN, "x" * 200)
    text = await admin(env, "/bans")
    assert len(text) < 4096
    assert text.startswith("<b>60 bans</b>")
    assert text.rstrip().endswith("more")


async def test_bad_arguments_and_admins_get_an_explanation(env: BotEnv) -> None:
    for command in ("/ban", "/ban abc", "/ban 1.5", "/ban 1_000", "/ban ١٢", f"/ban {10**20}"):
        assert "/ban ID [reason]" in await admin(env, command), command
    assert "/unban ID" in await admin(env, "/unban x")
    assert "cannot be banned" in await admin(env, f"/ban {ADMIN}")
    assert await env.storage.list_bans() == []


async def test_ban_commands_do_not_exist_for_others(env: BotEnv) -> None:
    await env.send(make_message("/nonsense", user=make_user(1)))
    unknown = env.telegram.texts()[-1]
    for command in ("/ban 2", "/unban 2", "/bans"):
        env.telegram.clear()
        await env.send(make_message(command, user=make_user(1)))
        assert env.telegram.texts() == [unknown], command
    assert await env.storage.list_bans() == []


async def test_a_banned_chats_parcels_are_not_checked_nor_pushed(env: BotEnv) -> None:
    await env.follow(1, "ukrposhta", UP)
    await env.follow(2, "ukrposhta", UP)
    await env.follow(1, "ukrposhta", UP2)  # followed by the banned chat alone
    await env.cycle()  # the first lookups only record what is there
    await admin(env, "/ban 1")
    env.carriers.add("ukrposhta", UP, FakeEvent("21700", T0 + timedelta(days=1), "ODESA 1"))
    env.carriers.add("ukrposhta", UP2, FakeEvent("21700", T0 + timedelta(days=1), "LVIV 5"))
    env.carriers.requests.clear()
    env.telegram.clear()
    await env.cycle()
    assert asked(env) == {UP}
    assert any("ODESA" in text for text in env.telegram.texts(2))
    assert env.telegram.texts(1) == []
    # Lifting the ban: the next cycle checks its parcel again, and the news reaches the chat.
    await admin(env, "/unban 1")
    env.carriers.requests.clear()
    env.telegram.clear()
    await env.cycle()
    assert UP2 in asked(env)
    assert any("LVIV 5" in text for text in env.telegram.texts(1))


def asked(env: BotEnv) -> set[str]:
    """Return the numbers the carriers were asked about."""
    found: set[str] = set()
    for _carrier, _kind, numbers in env.carriers.requests:
        found.update([numbers] if isinstance(numbers, str) else numbers)
    return found


async def test_a_ban_drops_the_chats_unsent_pushes(env: BotEnv) -> None:
    parcel = await env.follow(1, "ukrposhta", UP)
    await env.follow(2, "ukrposhta", UP)
    await env.storage.notify_subscribers(parcel, "stale", '{"reason": "not_found"}', False)
    await admin(env, "/ban 1")
    rows = await env.storage._fetchall("SELECT chat_id FROM outbox WHERE sent_at IS NULL")
    assert [row["chat_id"] for row in rows] == [2]
    env.telegram.clear()
    await env.app.bot_data.notifier.drain()
    assert env.telegram.texts(1) == []
    assert len(env.telegram.texts(2)) == 1  # other chats' pushes are untouched


async def test_pushes_queued_during_a_ban_are_dropped_at_unban(env: BotEnv) -> None:
    parcel = await env.follow(1, "ukrposhta", UP)
    await admin(env, "/ban 1")
    # A carrier correction writes its note to every moved subscription, banned or not.
    [view] = await env.storage.list_subscriptions(1)
    await env.storage.enqueue(
        1, "switched", '{"from": "ukrposhta", "days": 3}', True, view.id, parcel
    )
    await admin(env, "/unban 1")
    env.telegram.clear()
    await env.app.bot_data.notifier.drain()
    assert env.telegram.texts(1) == []


async def test_a_user_banned_in_a_group_is_refused_but_the_group_is_not(env: BotEnv) -> None:
    group = make_chat(-10, Chat.SUPERGROUP)
    await admin(env, "/ban 1")
    env.telegram.clear()
    await env.send(make_message(f"/track {UP}", chat=group, user=make_user(1, "en")))
    [refusal] = env.telegram.texts(-10)
    assert SHUT_YOU in refusal
    env.telegram.clear()
    await env.send(make_message(f"/track {UP}", chat=group, user=make_user(2, "en")))
    assert "DKD KYIV" in "\n".join(env.telegram.texts(-10))


async def test_banned_buttons_inline_queries_and_membership_changes(env: BotEnv) -> None:
    await admin(env, "/ban 1")
    env.telegram.clear()
    await env.send(make_callback("r:1", user=make_user(1, "en")))
    [answer] = env.telegram.sent("answerCallbackQuery")
    assert SHUT_CHAT in answer.params["text"]
    assert answer.params["show_alert"] in (True, "true")
    await env.send(make_inline_query("", user=make_user(1, "en")))
    [inline] = env.telegram.sent("answerInlineQuery")
    assert inline.params["results"] in ([], "[]")
    env.telegram.clear()
    # Status updates pass: storage must know the bot was blocked, or it would poll for nobody.
    await env.send(make_membership(make_chat(1), make_user(1), blocked=True))
    assert env.telegram.calls == []
    chat = await env.storage.get_chat(1)
    assert chat is not None
    assert chat.blocked


async def test_group_chatter_of_a_banned_user_is_ignored_commands_refused(env: BotEnv) -> None:
    group = make_chat(-10, Chat.SUPERGROUP)
    await admin(env, "/ban 1")
    env.telegram.clear()
    await env.send(make_message("hello everyone, lunch?", chat=group, user=make_user(1, "en")))
    assert env.telegram.calls == []
    await env.send(make_message("/list", chat=group, user=make_user(1, "en")))
    [refusal] = env.telegram.texts(-10)
    assert SHUT_YOU in refusal
    # A banned user may not /forget a group that is not banned.
    env.telegram.clear()
    await env.send(make_message("/forget", chat=group, user=make_user(1, "en")))
    assert env.telegram.calls == []


async def test_a_banned_group_stays_banned_as_a_supergroup(env: BotEnv) -> None:
    await env.follow(-10, "ukrposhta", UP)
    await admin(env, "/ban -10")
    old = Chat(-10, Chat.GROUP, title="Family")
    migrate = Message(1, datetime.now(UTC), old, from_user=make_user(2), migrate_to_chat_id=-1001)
    await env.send(Update(2, message=migrate))
    assert [ban.id for ban in await env.storage.list_bans()] == [-1001]
    assert env.app.bot_data.banned == {-1001}
    assert await env.storage.count_subscriptions(-1001) == 1
    env.telegram.clear()
    supergroup = make_chat(-1001, Chat.SUPERGROUP)
    await env.send(make_message(f"/track {UP}", chat=supergroup, user=make_user(2, "en")))
    [refusal] = env.telegram.texts(-1001)
    assert SHUT_CHAT in refusal
    assert env.carriers.requests == []


async def test_a_banned_chats_privacy_commands_are_limited(env: BotEnv) -> None:
    await admin(env, "/ban 1")
    env.telegram.clear()
    for _ in range(ANSWERS_PER_HOUR + 3):
        await env.send(make_message("/privacy", user=make_user(1, "en")))
    texts = env.telegram.texts(1)
    assert sum("What I store" in text for text in texts) == ANSWERS_PER_HOUR
    assert sum(SHUT_CHAT in text for text in texts) == 1


async def test_a_banned_chat_may_still_read_privacy_and_forget_itself(env: BotEnv) -> None:
    await env.follow(1, "ukrposhta", UP)
    await admin(env, "/ban 1")
    env.telegram.clear()
    await env.send(make_message("/privacy", user=make_user(1, "en")))
    assert "What I store" in env.telegram.texts(1)[-1]
    await env.send(make_message("/forget", user=make_user(1, "en")))
    await env.send(make_callback("fg:yes", user=make_user(1, "en")))
    assert await env.storage.get_chat(1) is None
    assert [ban.id for ban in await env.storage.list_bans()] == [1]  # the ban outlives /forget


async def test_bans_survive_a_restart(tmp_path: Path) -> None:
    async with running_bot(tmp_path, ADMIN_IDS=str(ADMIN)) as first:
        await first.send(make_message("/ban 1", user=make_user(ADMIN, "en")))
    async with running_bot(tmp_path, ADMIN_IDS=str(ADMIN)) as second:
        await second.send(make_message(UP, user=make_user(1, "en")))
        [text] = second.telegram.texts(1)
        assert SHUT_CHAT in text
        assert second.carriers.requests == []


async def test_broadcasts_skip_banned_chats_and_stats_show_them(env: BotEnv) -> None:
    await env.follow(1, "ukrposhta", UP)
    await env.follow(1, "ukrposhta", UP2)
    await env.follow(2, "ukrposhta", UP)
    await admin(env, "/ban 1")
    assert 1 not in await env.storage.list_chat_ids("all")
    stats = await admin(env, "/stats")
    assert "<b>Banned chats</b>: 1" in stats
    busiest = stats.split("<b>Chats following the most parcels</b>")[1]
    assert busiest.index("<code>1</code> (private chat): 2") < busiest.index("<code>2</code>")


async def test_a_broadcast_skips_a_chat_banned_while_its_batch_is_in_memory(
    env: BotEnv,
) -> None:
    for chat_id in (1, 2):
        await env.storage.upsert_chat(chat_id, "private", "en")
    broadcast = await env.storage.create_broadcast(ADMIN, "Hello", "all", [1, 2])
    env.app.bot_data.banned.add(2)  # banned after next_recipients() read the batch
    env.telegram.clear()
    await env.app.bot_data.broadcasts.run(broadcast.id)
    assert env.telegram.texts(1) == ["Hello"]
    assert env.telegram.texts(2) == []
    assert await env.storage.recipient_state(broadcast.id, 2) == "failed"
