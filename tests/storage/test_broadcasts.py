"""Broadcasts: recipients stored with the broadcast, progress, finishing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage import BroadcastCounts, Storage


async def chats(store: Storage, *chat_ids: int) -> None:
    for chat_id in chat_ids:
        await store.upsert_chat(chat_id, "private", "uk")


async def test_create_broadcast_skips_unknown_and_duplicate_chats(store: Storage) -> None:
    await chats(store, 3, 1, 2)
    broadcast = await store.create_broadcast(99, "<b>News</b>", "uk", [3, 1, 404, 1, 2])
    assert (broadcast.admin_chat_id, broadcast.text, broadcast.audience) == (
        99,
        "<b>News</b>",
        "uk",
    )
    assert (broadcast.status, broadcast.progress_message_id) == ("running", None)
    assert await store.get_broadcast(broadcast.id) == broadcast
    assert await store.broadcast_counts(broadcast.id) == BroadcastCounts(0, 0, 0, 3)
    assert await store.next_recipients(broadcast.id, 10) == [1, 2, 3]
    assert await store.next_recipients(broadcast.id, 2) == [1, 2]


async def test_create_broadcast_is_atomic(store: Storage) -> None:
    await chats(store, 1)

    def recipients() -> Iterator[int]:
        yield 1
        raise RuntimeError("audience query failed")

    with pytest.raises(RuntimeError):
        await store.create_broadcast(99, "hi", "all", recipients())
    assert await store.running_broadcasts() == []


async def test_recipient_states_and_counts(store: Storage) -> None:
    await chats(store, 1, 2, 3, 4)
    broadcast = await store.create_broadcast(99, "hi", "all", [1, 2, 3, 4])
    assert await store.set_recipient_state(broadcast.id, 1, "sent") is True
    await store.set_recipient_state(broadcast.id, 2, "blocked")
    await store.set_recipient_state(broadcast.id, 3, "failed")
    counts = await store.broadcast_counts(broadcast.id)
    assert counts == BroadcastCounts(sent=1, blocked=1, failed=1, pending=1)
    assert counts.total == 4
    assert await store.next_recipients(broadcast.id, 10) == [4]
    assert await store.set_recipient_state(broadcast.id, 404, "sent") is False
    with pytest.raises(ValueError, match="delivered"):
        await store.set_recipient_state(broadcast.id, 4, "delivered")


async def test_finish_broadcast(store: Storage) -> None:
    await chats(store, 1)
    done = await store.create_broadcast(99, "one", "all", [1])
    cancelled = await store.create_broadcast(99, "two", "all", [1])
    running = await store.create_broadcast(99, "three", "all", [1])
    assert await store.finish_broadcast(done.id, "done") is True
    assert await store.finish_broadcast(cancelled.id, "cancelled") is True
    assert await store.finish_broadcast(done.id, "cancelled") is False
    assert await store.finish_broadcast(404, "done") is False
    with pytest.raises(ValueError, match="running"):
        await store.finish_broadcast(running.id, "running")
    assert [item.id for item in await store.running_broadcasts()] == [running.id]
    finished = await store.get_broadcast(done.id)
    assert finished is not None
    assert finished.status == "done"


async def test_set_progress_message(store: Storage) -> None:
    broadcast = await store.create_broadcast(99, "hi", "all", [])
    assert await store.set_progress_message(broadcast.id, 555) is True
    stored = await store.get_broadcast(broadcast.id)
    assert stored is not None
    assert stored.progress_message_id == 555
    assert await store.set_progress_message(404, 1) is False
    assert await store.get_broadcast(404) is None
    assert await store.broadcast_counts(broadcast.id) == BroadcastCounts(0, 0, 0, 0)
