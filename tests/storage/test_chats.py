"""Chats: upsert, settings, forgetting, migration to a supergroup, audiences and counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage import Storage
from tests.storage.helpers import event, follow, lookup


async def test_upsert_inserts_with_defaults(store: Storage) -> None:
    before = datetime.now(UTC)
    chat = await store.upsert_chat(10, "private", "uk")
    assert (chat.id, chat.type, chat.language) == (10, "private", "uk")
    assert chat.active
    assert not chat.blocked
    assert (chat.quiet_start, chat.quiet_end) == (None, None)
    assert before <= chat.created_at <= datetime.now(UTC)
    assert await store.get_chat(10) == chat


async def test_upsert_updates_type_but_never_a_stored_language(store: Storage) -> None:
    first = await store.upsert_chat(10, "group", "uk")
    again = await store.upsert_chat(10, "supergroup", "en")
    assert (again.type, again.language, again.created_at) == ("supergroup", "uk", first.created_at)


async def test_upsert_fills_a_missing_language(store: Storage) -> None:
    await store.upsert_chat(10, "private", None)
    assert (await store.upsert_chat(10, "private", "ru")).language == "ru"


async def test_upsert_refuses_unknown_type(store: Storage) -> None:
    with pytest.raises(ValueError, match="bot"):
        await store.upsert_chat(10, "bot", "uk")
    assert await store.get_chat(10) is None


async def test_get_unknown_chat(store: Storage) -> None:
    assert await store.get_chat(404) is None


async def test_set_chat_language(store: Storage) -> None:
    await store.upsert_chat(10, "private", "uk")
    assert await store.set_chat_language(10, "en") is True
    chat = await store.get_chat(10)
    assert chat is not None
    assert chat.language == "en"
    assert await store.set_chat_language(404, "en") is False


async def test_set_chat_blocked_toggles_active(store: Storage) -> None:
    await store.upsert_chat(10, "private", "uk")
    assert await store.set_chat_blocked(10, True) is True
    chat = await store.get_chat(10)
    assert chat is not None
    assert (chat.blocked, chat.active) == (True, False)
    await store.set_chat_blocked(10, False)
    chat = await store.get_chat(10)
    assert chat is not None
    assert (chat.blocked, chat.active) == (False, True)
    assert await store.set_chat_blocked(404, True) is False


async def test_a_chat_that_writes_again_is_reachable_again(store: Storage) -> None:
    await store.upsert_chat(10, "private", "uk")
    await store.set_chat_blocked(10, True)  # the "unblocked" notice never came
    chat = await store.upsert_chat(10, "private", "en")
    assert (chat.blocked, chat.active, chat.language) == (False, True, "uk")


async def test_set_and_clear_quiet_hours(store: Storage) -> None:
    await store.upsert_chat(10, "private", "uk")
    assert await store.set_quiet_hours(10, 22 * 60, 7 * 60) is True
    chat = await store.get_chat(10)
    assert chat is not None
    assert (chat.quiet_start, chat.quiet_end) == (1320, 420)
    await store.set_quiet_hours(10, None, None)
    chat = await store.get_chat(10)
    assert chat is not None
    assert (chat.quiet_start, chat.quiet_end) == (None, None)
    assert await store.set_quiet_hours(404, 0, 1439) is False


@pytest.mark.parametrize(("start", "end"), [(None, 60), (60, None), (-1, 60), (60, 1440)])
async def test_bad_quiet_hours_are_refused(
    store: Storage, start: int | None, end: int | None
) -> None:
    await store.upsert_chat(10, "private", "uk")
    with pytest.raises(ValueError, match=r"quiet hours|minute"):
        await store.set_quiet_hours(10, start, end)


async def test_forget_chat_removes_it_and_parcels_nobody_else_follows(store: Storage) -> None:
    only_mine = await follow(store, 1, "ONLY-MINE")
    shared = await follow(store, 1, "SHARED")
    theirs = await follow(store, 2, "SHARED")
    await lookup(store, only_mine.parcel, [event("a")])
    await lookup(store, shared.parcel, [event("b")])
    await store.remember_pick(1, "AMBIGUOUS", "inpost")
    broadcast = await store.create_broadcast(99, "hi", "all", [1, 2])

    assert await store.forget_chat(1) is True

    assert await store.get_chat(1) is None
    assert await store.get_parcel(only_mine.parcel_id) is None
    assert await store.parcel_events(only_mine.parcel_id) == []
    assert await store.get_parcel(shared.parcel_id) is not None
    assert await store.fingerprints(shared.parcel_id) == {"b"}
    assert await store.get_subscription(theirs.id) is not None
    assert await store.get_subscription(shared.id) is None
    assert {item.chat_id for item in await store.pending_outbox(100)} == {2}
    assert await store.get_pick(1, "AMBIGUOUS") is None
    assert await store.next_recipients(broadcast.id, 10) == [2]
    assert await store.forget_chat(1) is False


async def test_migrate_chat_moves_everything(store: Storage) -> None:
    await store.upsert_chat(-1, "group", "ru")
    await store.set_quiet_hours(-1, 0, 360)
    view = await follow(store, -1, "P1", label="books", chat_type="group")
    await lookup(store, view.parcel, [event("a")])
    await store.remember_pick(-1, "AMBIGUOUS", "inpost")
    broadcast = await store.create_broadcast(99, "hi", "all", [-1])

    assert await store.migrate_chat(-1, -100) is True

    assert await store.get_chat(-1) is None
    chat = await store.get_chat(-100)
    assert chat is not None
    assert (chat.type, chat.language, chat.quiet_start, chat.quiet_end) == ("group", "ru", 0, 360)
    moved = await store.get_subscription(view.id)
    assert moved is not None
    assert (moved.chat_id, moved.label) == (-100, "books")
    [item] = await store.pending_outbox(10)
    assert (item.chat_id, item.subscription_id) == (-100, view.id)
    assert await store.get_pick(-100, "AMBIGUOUS") == "inpost"
    assert await store.next_recipients(broadcast.id, 10) == [-100]


async def test_migrate_chat_merges_into_a_known_chat(store: Storage) -> None:
    old_shared = await follow(store, -1, "SHARED", label="gift", chat_type="group")
    old_only = await follow(store, -1, "OLD-ONLY", chat_type="group")
    await store.set_quiet_hours(-1, 60, 120)
    await store.set_chat_language(-1, "ru")
    await store.remember_pick(-1, "BOTH", "inpost")
    await store.remember_pick(-1, "OLD", "ukrposhta")
    await lookup(store, old_shared.parcel, [event("a")])

    await store.upsert_chat(-100, "supergroup", "en")
    new_shared = await follow(store, -100, "SHARED", chat_type="supergroup")
    await store.archive_subscription(new_shared.id)
    await store.remember_pick(-100, "BOTH", "postplus")

    assert await store.migrate_chat(-1, -100) is True

    chat = await store.get_chat(-100)
    assert chat is not None
    # The old group's admins chose Russian; English only came from a user's settings.
    assert (chat.type, chat.language, chat.quiet_start, chat.quiet_end) == (
        "supergroup",
        "ru",
        60,
        120,
    )
    merged = await store.get_subscription(new_shared.id)
    assert merged is not None
    assert (merged.label, merged.archived) == ("gift", False)
    assert await store.get_subscription(old_shared.id) is None
    moved = await store.get_subscription(old_only.id)
    assert moved is not None
    assert moved.chat_id == -100
    assert await store.count_subscriptions(-100) == 2
    [item] = await store.pending_outbox(10)
    assert (item.chat_id, item.subscription_id) == (-100, new_shared.id)
    assert await store.get_pick(-100, "BOTH") == "postplus"
    assert await store.get_pick(-100, "OLD") == "ukrposhta"
    assert await store.get_chat(-1) is None


async def test_migrate_chat_keeps_a_language_chosen_in_the_new_chat(store: Storage) -> None:
    await store.upsert_chat(-1, "group", "uk")
    await store.set_chat_language(-1, "ru")
    await store.upsert_chat(-100, "supergroup", "uk")
    await store.set_chat_language(-100, "en")
    await store.migrate_chat(-1, -100)
    chat = await store.get_chat(-100)
    assert chat is not None
    assert chat.language == "en"  # chosen in the supergroup itself, after the group's choice
    await store.upsert_chat(-2, "group", "uk")  # guessed only
    await store.migrate_chat(-2, -100)
    chat = await store.get_chat(-100)
    assert chat is not None
    assert chat.language == "en"


async def test_migrate_chat_keeps_the_new_label(store: Storage) -> None:
    await follow(store, -1, "SHARED", label="old name", chat_type="group")
    new = await follow(store, -100, "SHARED", label="new name", chat_type="supergroup")
    await store.migrate_chat(-1, -100)
    merged = await store.get_subscription(new.id)
    assert merged is not None
    assert merged.label == "new name"


async def test_migrate_unknown_or_same_chat(store: Storage) -> None:
    assert await store.migrate_chat(-1, -100) is False
    assert await store.get_chat(-100) is None
    await store.upsert_chat(-1, "group", "uk")
    assert await store.migrate_chat(-1, -1) is True
    assert await store.get_chat(-1) is not None


async def test_list_chat_ids_by_audience(store: Storage) -> None:
    await store.upsert_chat(1, "private", "uk")
    await store.upsert_chat(2, "private", "en")
    await store.upsert_chat(-3, "group", "uk")
    await store.upsert_chat(-4, "supergroup", "ru")
    await store.upsert_chat(-5, "channel", "uk")
    await store.upsert_chat(6, "private", "uk")
    await store.set_chat_blocked(6, True)

    # A channel is reached only when asked for by name: "all" means people and groups.
    assert await store.list_chat_ids("all") == [-4, -3, 1, 2]
    assert await store.list_chat_ids("all", only_active=False) == [-4, -3, 1, 2, 6]
    assert await store.list_chat_ids("private") == [1, 2]
    assert await store.list_chat_ids("groups") == [-4, -3]
    assert await store.list_chat_ids("channels") == [-5]
    assert await store.list_chat_ids("uk") == [-3, 1]
    assert await store.list_chat_ids("uk", only_active=False) == [-3, 1, 6]
    assert await store.list_chat_ids("de") == []


async def test_count_chats(store: Storage) -> None:
    assert (await store.count_chats())["total"] == 0
    await store.upsert_chat(1, "private", "uk")
    await store.upsert_chat(2, "private", "en")
    await store.upsert_chat(-3, "group", "uk")
    await store.upsert_chat(-4, "channel", "uk")
    await store.set_chat_blocked(2, True)
    await store.ban(-3, 7, None)
    await store.ban(99, 7, None)  # a user the bot never saw as a chat
    assert await store.count_chats() == {
        "total": 4,
        "active": 2,
        "blocked": 1,
        "banned": 1,
        "private": 2,
        "group": 1,
        "supergroup": 0,
        "channel": 1,
    }
