"""Bans: the list, and how a ban keeps a chat out of polling, pushes and broadcasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import Storage
from tests.storage.helpers import follow


async def test_ban_list_unban(store: Storage) -> None:
    assert await store.ban(5, 7, "  floods the detector  ")
    assert not await store.ban(5, 8, "again")  # the first ban and its reason stay
    assert await store.ban(-100, 7, "   ")
    bans = {ban.id: ban for ban in await store.list_bans()}
    assert (bans[5].reason, bans[5].banned_by) == ("floods the detector", 7)
    assert bans[-100].reason is None
    assert bans[5].created_at <= datetime.now(UTC)
    assert await store.unban(5)
    assert not await store.unban(5)
    assert [ban.id for ban in await store.list_bans()] == [-100]


async def test_ban_reason_is_cut(store: Storage) -> None:
    await store.ban(5, 7, "x" * 1000)
    [ban] = await store.list_bans()
    assert ban.reason == "x" * 200


async def test_banned_chats_drop_out_of_polling_pushes_and_audiences(store: Storage) -> None:
    shared = (await follow(store, 1, "0500100031143")).parcel_id
    await follow(store, 2, "0500100031143")
    alone = (await follow(store, 1, "0500100031135")).parcel_id
    await store.ban(1, 7, None)
    due = await store.due_parcels(datetime.now(UTC) + timedelta(days=1), 100)
    assert [parcel.id for parcel in due] == [shared]
    assert alone not in {parcel.id for parcel in due}
    assert await store.notify_subscribers(shared, "events", "{}", True) == 1
    assert [item.chat_id for item in await store.pending_outbox(10)] == [2]
    assert await store.list_chat_ids("all") == [2]
    assert await store.list_chat_ids("all", only_active=False) == [1, 2]
    await store.unban(1)
    assert {parcel.id for parcel in await store.due_parcels(datetime.now(UTC), 100)} >= {alone}


async def test_ban_fails_the_chats_pending_broadcast_messages(store: Storage) -> None:
    for chat_id in (1, 2):
        await store.upsert_chat(chat_id, "private", "uk")
    broadcast = await store.create_broadcast(7, "hi", "all", [1, 2])
    await store.ban(2, 7, None)
    assert await store.recipient_state(broadcast.id, 2) == "failed"
    assert await store.next_recipients(broadcast.id, 10) == [1]


async def test_busiest_chats_count_followed_parcels_only(store: Storage) -> None:
    await follow(store, 1, "0500100031143")
    archived = await follow(store, 1, "0500100031135")
    await follow(store, 2, "0500100031143")
    await follow(store, 2, "612345678901234567890123", carrier="inpost")
    await follow(store, 3, "0500100031143")
    # Equal counts: the lower id first.
    assert [(chat.id, n) for chat, n in await store.busiest_chats(5)] == [(1, 2), (2, 2), (3, 1)]
    await store.archive_subscription(archived.id)
    assert [(chat.id, n) for chat, n in await store.busiest_chats(2)] == [(2, 2), (1, 1)]


async def test_a_ban_drops_unsent_notifications_and_an_unban_those_queued_meanwhile(
    store: Storage,
) -> None:
    view = await follow(store, 1, "0500100031143")
    await follow(store, 2, "0500100031143")
    await store.notify_subscribers(view.parcel_id, "events", "[]", True)
    await store.ban(1, 7, None)
    assert [item.chat_id for item in await store.pending_outbox(10)] == [2]
    await store.enqueue(1, "switched", "{}", True, view.id, view.parcel_id)  # during the ban
    await store.unban(1)
    assert [item.chat_id for item in await store.pending_outbox(10)] == [2]


@pytest.mark.parametrize(
    ("old_banned", "new_banned", "expected"),
    [(True, False, [-1001]), (False, True, [-1001]), (True, True, [-1001]), (False, False, [])],
)
async def test_a_group_upgrade_carries_its_ban(
    store: Storage, old_banned: bool, new_banned: bool, expected: list[int]
) -> None:
    await store.upsert_chat(-10, "group", "uk")
    if old_banned:
        await store.ban(-10, 7, "old")
    if new_banned:
        await store.ban(-1001, 7, "new")
    await store.migrate_chat(-10, -1001)
    bans = await store.list_bans()
    assert [ban.id for ban in bans] == expected
    if old_banned and new_banned:
        assert bans[0].reason == "new"  # the supergroup's own ban stays


async def test_subscription_slot(store: Storage) -> None:
    view = await follow(store, 1, "0500100031143")
    await follow(store, 1, "0500100031135")
    other = await store.get_or_create_parcel("ukrposhta", "0500100031151")
    assert await store.subscription_slot(1, view.parcel_id) == (True, 2)
    assert await store.subscription_slot(1, other.id) == (False, 2)
    await store.archive_subscription(view.id)
    assert await store.subscription_slot(1, view.parcel_id) == (False, 1)


async def test_concurrent_creation_gives_one_parcel(store: Storage) -> None:
    import asyncio

    parcels = await asyncio.gather(
        *(store.get_or_create_parcel("inpost", "612345678901234567890123") for _ in range(6))
    )
    assert len({parcel.id for parcel in parcels}) == 1
