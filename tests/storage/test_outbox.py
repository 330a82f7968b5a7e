"""The outbox: queueing, pending order, marking sent, dropping and pruning."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import Storage
from storage.core import IN_CHUNK
from tests.storage.helpers import at, follow


async def test_enqueue_and_read_back(store: Storage) -> None:
    view = await follow(store, 1)
    before = datetime.now(UTC)
    item_id = await store.enqueue(
        1, "stale", '{"ask": true}', True, subscription_id=view.id, parcel_id=view.parcel_id
    )
    item = await store.get_outbox_item(item_id)
    assert item is not None
    assert (item.chat_id, item.kind, item.payload, item.loud) == (
        1,
        "stale",
        '{"ask": true}',
        True,
    )
    assert (item.subscription_id, item.parcel_id, item.sent_at) == (view.id, view.parcel_id, None)
    assert item.created_at >= before
    assert await store.get_outbox_item(404) is None


async def test_pending_outbox_is_oldest_first_for_reachable_chats(store: Storage) -> None:
    for chat_id in (1, 2, 3):
        await store.upsert_chat(chat_id, "private", "uk")
    first = await store.enqueue(1, "text", '"one"', False)
    await store.enqueue(2, "text", '"to a blocked chat"', False)
    third = await store.enqueue(3, "text", '"three"', False)
    fourth = await store.enqueue(1, "text", '"four"', False)
    await store.set_chat_blocked(2, True)

    assert [item.id for item in await store.pending_outbox(10)] == [first, third, fourth]
    assert [item.id for item in await store.pending_outbox(2)] == [first, third]


async def test_mark_sent_and_count(store: Storage) -> None:
    await store.upsert_chat(1, "private", "uk")
    ids = [await store.enqueue(1, "text", f'"{i}"', False) for i in range(3)]
    assert await store.mark_sent(ids[:2], at(10)) == 2
    assert [item.id for item in await store.pending_outbox(10)] == [ids[2]]
    sent = await store.get_outbox_item(ids[0])
    assert sent is not None
    assert sent.sent_at == at(10)
    # Marking again does not move the time a message was really sent.
    assert await store.mark_sent(ids[:1], at(20)) == 0
    assert await store.count_sent_since(at(10)) == 2
    assert await store.count_sent_since(at(11)) == 0
    await store.mark_sent([ids[2]], at(30))
    assert await store.count_sent_since(at(11)) == 1
    assert await store.mark_sent([], at(40)) == 0


async def test_drop_outbox(store: Storage) -> None:
    await store.upsert_chat(1, "private", "uk")
    keep = await store.enqueue(1, "text", '"keep"', False)
    drop = await store.enqueue(1, "text", '"drop"', False)
    assert await store.drop_outbox([drop, 404]) == 1
    assert [item.id for item in await store.pending_outbox(10)] == [keep]


async def test_prune_outbox_deletes_only_old_sent_messages(store: Storage) -> None:
    await store.upsert_chat(1, "private", "uk")
    old, recent, unsent = [await store.enqueue(1, "text", '"x"', False) for _ in range(3)]
    await store.mark_sent([old], at(0))
    await store.mark_sent([recent], at(100))
    assert await store.prune_outbox(at(50)) == 1
    assert await store.get_outbox_item(old) is None
    assert await store.get_outbox_item(recent) is not None
    assert await store.get_outbox_item(unsent) is not None


async def test_notify_subscribers_counts_rows(store: Storage) -> None:
    view = await follow(store, 1, "P")
    await follow(store, 2, "P")
    assert await store.notify_subscribers(view.parcel_id, "final", '["x"]', True) == 2
    assert {item.kind for item in await store.pending_outbox(10)} == {"final"}


async def test_settling_more_rows_than_one_statement_takes(store: Storage) -> None:
    await store.upsert_chat(1, "private", "uk")
    ids = [await store.enqueue(1, "events", "[]", False) for _ in range(IN_CHUNK * 2 + 7)]
    half = len(ids) // 2
    assert await store.mark_sent(ids[:half], at(1)) == half
    assert await store.mark_sent(ids[:half], at(2)) == 0  # already sent: left alone
    assert await store.drop_outbox(ids[half:]) == len(ids) - half
    assert await store.pending_outbox(10_000) == []
    assert await store.count_sent_since(at(0)) == half


async def test_count_waiting_counts_what_pending_outbox_lists(store: Storage) -> None:
    for chat_id in (1, 2):
        await store.upsert_chat(chat_id, "private", "uk")
    assert await store.count_waiting() == 0
    sent = await store.enqueue(1, "text", '"sent"', False)
    for chat_id in (1, 1, 2):
        await store.enqueue(chat_id, "text", '"waiting"', False)
    await store.mark_sent([sent], at(1))
    await store.set_chat_blocked(2, True)  # unreachable: neither listed nor counted
    assert await store.count_waiting() == len(await store.pending_outbox(100)) == 2
