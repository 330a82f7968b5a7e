"""Daily budgets: releasing numbers admitted but never used."""

from __future__ import annotations

from storage import Storage
from storage.core import IN_CHUNK


async def test_budget_release_removes_only_that_days_counter_numbers(store: Storage) -> None:
    for counter, day, number in [
        ("gp", "2024-05-01", "A"),
        ("gp", "2024-05-01", "B"),
        ("gp", "2024-04-30", "OLD"),
        ("other", "2024-05-01", "C"),
    ]:
        assert await store.budget_admit(counter, day, number, 10)
    released = await store.budget_release("gp", "2024-05-01", ["A", "A", "OLD", "C", "NEVER"])
    assert released == {"A"}  # counted on another day, or by another counter: kept
    assert await store.budget_numbers("gp") == {"B", "OLD"}
    assert await store.budget_numbers("other") == {"C"}
    assert await store.budget_release("gp", "2024-05-01", ["A"]) == set()  # gone already
    assert await store.budget_release("gp", "2024-05-01", []) == set()


async def test_budget_release_of_more_numbers_than_one_statement_takes(store: Storage) -> None:
    numbers = [f"N{i}" for i in range(IN_CHUNK * 2 + 3)]
    admitted = await store.budget_admit_many("gp", "2024-05-01", numbers, len(numbers))
    assert admitted == set(numbers)
    released = await store.budget_release("gp", "2024-05-01", [*numbers, "NEVER"])
    assert released == set(numbers)
    assert await store.budget_used("gp", "2024-05-01") == 0
