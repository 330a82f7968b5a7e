"""GdePosylka's daily budget of new numbers, kept in storage across restarts (and in memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.carriers.errors import ParcelNotFound
from bot.carriers.gdeposylka import MemoryNewNumberBudget, NewNumberBudget
from bot.quota import NEW_NUMBERS, StorageNewNumberBudget
from storage import Storage, open_storage


async def test_budget_counts_new_numbers_only_and_survives_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.quota.budget_day", lambda moment=None: "2024-05-01")
    path = tmp_path / "bot.sqlite3"
    storage = await open_storage(path)
    budget = StorageNewNumberBudget(storage, limit=2)
    assert [await budget.admit(n) for n in ("A", "B", "C", "A", "B")] == [
        True,
        True,
        False,  # the third new number of the day
        True,  # known numbers cost nothing, even with the budget used up
        True,
    ]
    await storage.close()

    storage = await open_storage(path)  # a restart forgets nothing
    budget = StorageNewNumberBudget(storage, limit=2)
    assert await budget.admit("C") is False
    assert await budget.admit("A") is True
    assert await storage.budget_used(NEW_NUMBERS, "2024-05-01") == 2

    # The next day has room again, and yesterday's numbers are still known.
    monkeypatch.setattr("bot.quota.budget_day", lambda moment=None: "2024-05-02")
    assert await budget.admit("B") is True
    assert await budget.admit("C") is True
    assert await budget.remaining() == 1
    assert await storage.budget_numbers(NEW_NUMBERS) == {"A", "B", "C"}
    await storage.close()


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    store = await open_storage(tmp_path / "bot.sqlite3")
    yield store
    await store.close()


def on_day(monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    """Make the budget believe today is this UTC day."""
    monkeypatch.setattr("bot.quota.budget_day", lambda moment=None: day)


async def test_a_chunk_is_admitted_in_order_in_one_go(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_day(monkeypatch, "2024-05-01")
    budget = StorageNewNumberBudget(storage, limit=3)
    assert await budget.admit("OLD") is True
    admitted = await budget.admit_many(["N1", "OLD", "N2", "N1", "N3", "N4"])
    assert admitted == {"OLD", "N1", "N2"}  # N3 and N4 come after the limit

    async def no_query(*args: object) -> set[str]:
        raise AssertionError("admitted numbers need no query")

    monkeypatch.setattr(storage, "budget_admit_many", no_query)
    assert [await budget.admit(n) for n in ("N1", "N2", "OLD")] == [True, True, True]
    assert await budget.admit("N3") is False  # refused today: no query either


async def test_released_numbers_are_new_again_but_older_days_stay_counted(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = StorageNewNumberBudget(storage, limit=3)
    on_day(monkeypatch, "2024-05-01")
    assert await budget.admit("OLD") is True
    on_day(monkeypatch, "2024-05-02")
    assert await budget.admit_many(["N1", "N2", "OLD"]) == {"N1", "N2", "OLD"}
    await budget.release(["N2", "OLD"])  # reserved, then never sent
    assert await budget.remaining() == 2
    assert await storage.budget_numbers(NEW_NUMBERS) == {"OLD", "N1"}
    assert await budget.admit("OLD") is True  # counted on another day: still known, free
    assert await budget.remaining() == 2
    assert await budget.admit_many(["N2", "N3"]) == {"N2", "N3"}  # N2 counts when sent
    assert await budget.remaining() == 0


async def test_numbers_reserved_for_a_chunk_cut_short_by_a_pause_are_released(
    tmp_path: Path,
) -> None:
    from tests.bot_env import running_bot

    async with running_bot(tmp_path) as env:
        budget = env.app.bot_data.budget
        client = env.app.bot_data.carriers.gdeposylka
        assert client is not None
        # Sent today already (a user's lookup): GdePosylka knows it, whatever happens next.
        with pytest.raises(ParcelNotFound):  # not known there yet, but now counted
            await client.track("LX000000009CN", courier="china-post")
        # The first number is followed at two couriers: sent for one, it is known for both.
        numbers = ["LX000000001CN", "LX000000001CN", "LX000000009CN", "LX000000002CN"]
        couriers = ("china-post", "usps", "china-post", "china-post")
        for number, courier in zip(numbers, couriers, strict=True):
            await env.follow(1, f"gdeposylka/{courier}", number)
        breaker = env.app.bot_data.poller.breakers["gdeposylka"]
        real_track = client.track

        async def pausing_track(number: str, *args: object, **kwargs: object) -> object:
            breaker.failures = 99  # another chunk failed meanwhile: the carrier is paused now
            breaker.opened_until = datetime.now(UTC) + timedelta(minutes=5)
            return await real_track(number, *args, **kwargs)  # type: ignore[arg-type]

        client.track = pausing_track  # type: ignore[method-assign]
        await env.cycle()
        assert env.carriers.hits["gdeposylka"] == 2  # the user's, and one before the pause
        # Counted: the user's number and LX…001 (sent); LX…002 never went out: released.
        assert await budget.remaining() == budget.limit - 2
        assert await env.storage.budget_numbers(NEW_NUMBERS) == {"LX000000009CN", "LX000000001CN"}


async def test_a_release_makes_room_for_numbers_refused_earlier(storage: Storage) -> None:
    budget = StorageNewNumberBudget(storage, limit=1)
    assert await budget.reserve(["A", "B"]) == {"A"}
    assert await budget.admit("B") is False
    await budget.release(["A"])
    assert await budget.admit("B") is True


@pytest.fixture(params=["memory", "storage"])
def any_budget(request: pytest.FixtureRequest, storage: Storage) -> NewNumberBudget:
    """Each budget the GdePosylka client may be given, with room for two new numbers a day."""
    if request.param == "memory":
        return MemoryNewNumberBudget(limit=2)
    return StorageNewNumberBudget(storage, limit=2)


async def test_every_budget_reserves_in_order_and_releases(any_budget: NewNumberBudget) -> None:
    # What the client uses of a budget: reserve a chunk, admit one number, release the unsent.
    assert await any_budget.reserve(["A", "B", "A", "C"]) == {"A", "B"}  # C comes too late
    assert await any_budget.reserve(["A", "C"]) == set()  # counted already, or refused
    assert await any_budget.admit("A") is True
    assert await any_budget.admit("C") is False
    await any_budget.release(["A"])
    assert await any_budget.reserve(["C", "A"]) == {"C"}  # A's room went to C
    assert await any_budget.admit("A") is False
