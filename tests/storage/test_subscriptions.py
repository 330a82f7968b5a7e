"""Subscriptions: idempotent subscribe, labels, archive, paging and live subscribers."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from storage import Parcel, Storage
from tests.storage.helpers import event, follow, lookup


async def chat_and_parcel(store: Storage, chat_id: int = 1, number: str = "RR1") -> Parcel:
    await store.upsert_chat(chat_id, "private", "uk")
    return await store.get_or_create_parcel("ukrposhta", number)


async def test_subscribe_creates_a_subscription(store: Storage) -> None:
    parcel = await chat_and_parcel(store)
    subscription = await store.subscribe(1, parcel.id, "  new boots ", 77)
    assert (subscription.chat_id, subscription.parcel_id) == (1, parcel.id)
    assert (subscription.label, subscription.added_by) == ("new boots", 77)
    assert subscription.archived_at is None
    assert not subscription.archived


@pytest.mark.parametrize("label", [None, "", "   "])
async def test_subscribe_without_label_stores_none(store: Storage, label: str | None) -> None:
    parcel = await chat_and_parcel(store)
    assert (await store.subscribe(1, parcel.id, label, None)).label is None


async def test_subscribe_again_is_idempotent_and_keeps_label(store: Storage) -> None:
    parcel = await chat_and_parcel(store)
    first = await store.subscribe(1, parcel.id, "boots", 77)
    for label in (None, "", "  "):
        again = await store.subscribe(1, parcel.id, label, 88)
        assert again == first
    renamed = await store.subscribe(1, parcel.id, "winter boots", 88)
    assert (renamed.id, renamed.label, renamed.added_by) == (first.id, "winter boots", 77)
    assert await store.count_subscriptions(1) == 1


async def test_subscribe_again_restores_from_archive(store: Storage) -> None:
    parcel = await chat_and_parcel(store)
    first = await store.subscribe(1, parcel.id, "boots", 77)
    await store.archive_subscription(first.id)
    restored = await store.subscribe(1, parcel.id, None, 77)
    assert (restored.id, restored.archived_at, restored.label) == (first.id, None, "boots")


async def test_subscribe_to_unknown_chat_or_parcel_fails(store: Storage) -> None:
    parcel = await chat_and_parcel(store)
    with pytest.raises(sqlite3.IntegrityError):
        await store.subscribe(404, parcel.id, None, None)
    with pytest.raises(sqlite3.IntegrityError):
        await store.subscribe(1, 404, None, None)
    assert await store.count_subscriptions(1) == 0


async def test_get_and_find_subscription(store: Storage) -> None:
    view = await follow(store, 1, "RR1", label="boots")
    assert view.parcel.number == "RR1"
    assert view.parcel_id == view.parcel.id
    assert await store.find_subscription(1, view.parcel_id) == view
    assert await store.get_subscription(view.id) == view
    assert await store.get_subscription(404) is None
    assert await store.find_subscription(2, view.parcel_id) is None


async def test_subscriptions_by_numbers_are_the_chats_own(store: Storage) -> None:
    boots = await follow(store, 1, "RR1", label="boots")
    hat = await follow(store, 1, "RR2")
    archived = await follow(store, 1, "RR3")
    await store.archive_subscription(archived.id)
    await follow(store, 2, "RR1")  # another chat's
    found = await store.subscriptions_by_numbers(1, ["RR1", "RR2", "RR3", "RR4", "RR1"])
    assert [v.id for v in found] == [boots.id, hat.id, archived.id]
    assert found[2].archived
    assert await store.subscriptions_by_numbers(1, []) == []


async def test_prune_archive_deletes_only_subscriptions_archived_before(store: Storage) -> None:
    old, recent, current = [await follow(store, 1, f"RR{i}") for i in range(3)]
    await store.archive_subscription(old.id)
    cutoff = datetime.now(UTC)
    await store.archive_subscription(recent.id)
    assert await store.prune_archive(cutoff) == 1  # the one archived before the cutoff
    assert await store.get_subscription(old.id) is None
    assert await store.prune_archive(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert [v.id for v in await store.list_subscriptions(1, archived=None)] == [current.id]


async def test_list_subscriptions_pages_newest_first(store: Storage) -> None:
    views = [await follow(store, 1, f"N{i}") for i in range(5)]
    await follow(store, 2, "SOMEONE-ELSE")
    await store.archive_subscription(views[1].id)
    await store.archive_subscription(views[3].id)

    current = await store.list_subscriptions(1)
    assert [view.parcel.number for view in current] == ["N4", "N2", "N0"]
    page = await store.list_subscriptions(1, offset=1, limit=1)
    assert [view.parcel.number for view in page] == ["N2"]
    archive = await store.list_subscriptions(1, archived=True)
    assert [view.parcel.number for view in archive] == ["N3", "N1"]
    assert all(view.archived for view in archive)
    assert await store.count_subscriptions(1) == 3
    assert await store.count_subscriptions(1, archived=True) == 2
    assert await store.count_subscriptions(404) == 0


async def test_parcels_waiting_for_the_chat_are_listed_first(store: Storage) -> None:
    views = [await follow(store, 1, f"N{i}") for i in range(4)]
    statuses = ("ready_for_pickup", "in_transit", "out_for_delivery", "info_received")
    for view, status in zip(views, statuses, strict=True):
        await lookup(store, view.parcel, [event(f"e{view.id}", status=status)], status=status)
    listed = await store.list_subscriptions(1)
    assert [view.parcel.number for view in listed] == ["N0", "N2", "N3", "N1"]
    page = await store.list_subscriptions(1, offset=1, limit=2)
    assert [view.parcel.number for view in page] == ["N2", "N3"]


async def test_rename_subscription(store: Storage) -> None:
    view = await follow(store, 1, label="boots")
    assert await store.rename_subscription(view.id, " coat ") is True
    renamed = await store.get_subscription(view.id)
    assert renamed is not None
    assert renamed.label == "coat"
    await store.rename_subscription(view.id, "  ")
    cleared = await store.get_subscription(view.id)
    assert cleared is not None
    assert cleared.label is None
    assert await store.rename_subscription(404, "x") is False


async def test_archive_subscription(store: Storage) -> None:
    view = await follow(store, 1)
    assert await store.archive_subscription(view.id) is True
    archived = await store.get_subscription(view.id)
    assert archived is not None
    assert archived.archived_at is not None
    assert await store.archive_subscription(view.id) is False
    assert await store.archive_subscription(404) is False


async def test_unsubscribe_deletes_it_and_its_queued_messages(store: Storage) -> None:
    view = await follow(store, 1)
    other = await follow(store, 2)
    await lookup(store, view.parcel, [event("a")])
    assert len(await store.pending_outbox(10)) == 2
    assert await store.unsubscribe(view.id) is True
    assert await store.get_subscription(view.id) is None
    assert [item.chat_id for item in await store.pending_outbox(10)] == [2]
    assert await store.get_subscription(other.id) is not None
    assert await store.unsubscribe(view.id) is False


async def test_unsubscribe_all(store: Storage) -> None:
    for number in ("A", "B", "C"):
        await follow(store, 1, number)
    kept = await follow(store, 2, "A")
    [first, *_] = await store.list_subscriptions(1)
    await store.archive_subscription(first.id)
    assert await store.unsubscribe_all(1) == 2
    assert await store.count_subscriptions(1) == 0
    assert await store.count_subscriptions(1, archived=True) == 1  # the archive stays
    assert await store.get_subscription(kept.id) is not None
    assert await store.unsubscribe_all(1) == 0


async def test_subscribers_are_live_ones_with_their_chats(store: Storage) -> None:
    live = await follow(store, 1, "P", label="mine")
    await follow(store, 2, "P")
    await store.set_chat_blocked(2, True)
    archived = await follow(store, 3, "P")
    await store.archive_subscription(archived.id)
    group = await follow(store, -4, "P", chat_type="group")

    subscribers = await store.subscribers(live.parcel_id)
    assert [(chat.id, chat.type, sub.id) for chat, sub in subscribers] == [
        (1, "private", live.id),
        (-4, "group", group.id),
    ]
    chat, subscription = subscribers[0]
    assert chat == await store.get_chat(1)
    assert subscription.label == "mine"
    assert await store.subscribers(404) == []


async def test_card_message_is_remembered_and_forgotten_when_a_group_moves(
    store: Storage,
) -> None:
    first = await follow(store, -5, "RR1", chat_type="group")
    second = await follow(store, -5, "RR2", chat_type="group")
    assert first.card_message_id is None
    assert await store.set_card_message([first.id, second.id, 404], 77) == 2
    assert (await store.get_subscriptions([first.id, second.id]))[second.id].card_message_id == 77
    await store.migrate_chat(-5, -1005)
    moved = await store.list_subscriptions(-1005)
    # The old group's message ids mean nothing in the supergroup.
    assert [view.card_message_id for view in moved] == [None, None]
