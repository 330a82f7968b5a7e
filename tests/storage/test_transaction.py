"""Transactions: rollback, savepoints, the lock between tasks, and concurrent writers."""

from __future__ import annotations

import asyncio

import pytest

from storage import Storage
from tests.storage.helpers import event, follow, lookup

TIMEOUT = 5  # seconds; a deadlock fails the test instead of hanging it


async def write_then_fail(store: Storage, chat_id: int) -> None:
    async with store.transaction():
        await store.upsert_chat(chat_id, "private", "uk")
        await store.get_or_create_parcel("inpost", "123")
        raise RuntimeError("boom")


async def test_exception_rolls_back_every_statement(store: Storage) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        await write_then_fail(store, 1)
    assert await store.get_chat(1) is None
    assert await store.find_parcel("inpost", "123") is None
    # The lock and the connection are usable again.
    assert (await store.upsert_chat(1, "private", "uk")).id == 1


async def test_block_commits_public_methods_called_inside(store: Storage) -> None:
    async with asyncio.timeout(TIMEOUT), store.transaction():
        await store.upsert_chat(1, "private", "uk")
        parcel = await store.get_or_create_parcel("inpost", "123")
        await store.subscribe(1, parcel.id, "shoes", 1)
    assert await store.count_subscriptions(1) == 1


async def test_nested_block_is_a_savepoint(store: Storage) -> None:
    async with store.transaction():
        await store.upsert_chat(1, "private", "uk")
        with pytest.raises(RuntimeError, match="boom"):
            await write_then_fail(store, 2)
        async with store.transaction():
            await store.upsert_chat(3, "private", "uk")
    assert await store.list_chat_ids("all") == [1, 3]
    assert await store.find_parcel("inpost", "123") is None


async def test_other_tasks_wait_for_an_open_transaction(store: Storage) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def doomed() -> None:
        async with store.transaction():
            await store.upsert_chat(1, "private", "uk")
            inside.set()
            await release.wait()
            raise RuntimeError("roll back")

    async def writer() -> None:
        await inside.wait()
        await store.upsert_chat(2, "private", "uk")

    async def reader() -> bool:
        await inside.wait()
        return await store.get_chat(1) is not None

    async with asyncio.timeout(TIMEOUT):
        first = asyncio.create_task(doomed())
        second = asyncio.create_task(writer())
        third = asyncio.create_task(reader())
        await inside.wait()
        await asyncio.sleep(0.05)
        assert not second.done()
        assert not third.done()
        release.set()
        with pytest.raises(RuntimeError):
            await first
        await second
        # The reader never saw the write that was rolled back.
        assert await third is False
    # The other task's write was not swallowed by the rolled-back transaction.
    assert await store.list_chat_ids("all") == [2]


async def test_cancelled_task_rolls_back_and_releases_the_lock(store: Storage) -> None:
    inside = asyncio.Event()

    async def stuck() -> None:
        async with store.transaction():
            await store.upsert_chat(1, "private", "uk")
            inside.set()
            await asyncio.Event().wait()

    async with asyncio.timeout(TIMEOUT):
        task = asyncio.create_task(stuck())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await store.get_chat(1) is None
        await store.upsert_chat(2, "private", "uk")
    assert await store.list_chat_ids("all") == [2]


async def test_concurrent_budget_admits_exactly_the_limit(store: Storage) -> None:
    async with asyncio.timeout(TIMEOUT):
        results = await asyncio.gather(
            *(store.budget_admit("gdeposylka", "2024-05-01", f"N{i}", 10) for i in range(50))
        )
    assert results.count(True) == 10
    assert await store.budget_used("gdeposylka", "2024-05-01") == 10


async def test_concurrent_subscribers_and_lookups_stay_consistent(store: Storage) -> None:
    async with asyncio.timeout(TIMEOUT):
        views = await asyncio.gather(*(follow(store, chat_id) for chat_id in range(1, 51)))
        parcel_ids = {view.parcel_id for view in views}
        assert len(parcel_ids) == 1
        [parcel_id] = parcel_ids
        events = [event(f"fp{i}", i) for i in range(5)]
        results = await asyncio.gather(*(lookup(store, parcel_id, events) for _ in range(50)))
    assert sum(len(new) for new in results) == 5
    assert [len(new) for new in results].count(5) == 1
    assert await store.fingerprints(parcel_id) == {f"fp{i}" for i in range(5)}
    pending = await store.pending_outbox(1000)
    assert sorted(item.chat_id for item in pending) == list(range(1, 51))


async def test_concurrent_subscribe_of_one_chat_keeps_one_row(store: Storage) -> None:
    await store.upsert_chat(1, "private", "uk")
    parcel = await store.get_or_create_parcel("inpost", "123")
    async with asyncio.timeout(TIMEOUT):
        subscriptions = await asyncio.gather(
            *(store.subscribe(1, parcel.id, f"label {i}", 1) for i in range(50))
        )
    assert len({subscription.id for subscription in subscriptions}) == 1
    assert await store.count_subscriptions(1) == 1
