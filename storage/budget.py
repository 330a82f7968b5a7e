"""Daily budgets: how many distinct numbers a counter (e.g. a carrier quota) used per day."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

from storage.core import IN_CHUNK, StorageCore


class BudgetMixin(StorageCore):
    """Count distinct numbers per counter and day, against a limit."""

    async def budget_admit(self, counter: str, day: str, number: str, limit: int) -> bool:
        """Admit a number into a day's budget, atomically.

        Args:
            counter: what is being counted, e.g. 'gdeposylka:new'.
            day: the budget day as the caller names it, e.g. '2024-05-01'.
            number: the tracking number.
            limit: how many distinct numbers the day allows.

        Returns:
            True when the number was already counted that day, or when there was room
            and it is now counted; False when the budget is used up.
        """
        return number in await self.budget_admit_many(counter, day, [number], limit)

    async def budget_admit_many(
        self, counter: str, day: str, numbers: Sequence[str], limit: int
    ) -> set[str]:
        """Admit numbers in order, as budget_admit would one by one; return those admitted."""
        if not numbers:
            return set()
        async with self.transaction():
            # Each row's insert sees the rows inserted before it, so the limit holds in order.
            await self._executemany(
                "INSERT OR IGNORE INTO budget (day, counter, number) SELECT ?1, ?2, ?3 "
                "WHERE (SELECT COUNT(*) FROM budget WHERE day = ?1 AND counter = ?2) < ?4",
                [(day, counter, number, limit) for number in dict.fromkeys(numbers)],
            )
            rows = await self._fetch_in(
                "SELECT number FROM budget WHERE day = ? AND counter = ? AND number IN ({ids})",
                numbers,
                (day, counter),
            )
        return {row["number"] for row in rows}

    async def budget_release(self, counter: str, day: str, numbers: Sequence[str]) -> set[str]:
        """Uncount numbers from a day's budget (admitted, then not used); return those removed.

        Numbers counted on another day stay counted.
        """
        unique = list(dict.fromkeys(numbers))
        # Up to IN_CHUNK numbers it is one statement, atomic on its own.
        async with self.transaction() if len(unique) > IN_CHUNK else nullcontext():
            rows = await self._fetch_in(
                "DELETE FROM budget WHERE day = ? AND counter = ? AND number IN ({ids}) "
                "RETURNING number",
                unique,
                (day, counter),
            )
        return {row["number"] for row in rows}

    async def budget_numbers(self, counter: str) -> set[str]:
        """Return every number admitted into a counter (on any kept day)."""
        rows = await self._fetchall("SELECT number FROM budget WHERE counter = ?", (counter,))
        return {row["number"] for row in rows}

    async def budget_used(self, counter: str, day: str) -> int:
        """Count the numbers admitted into a counter's budget for a day."""
        return await self._count(
            "SELECT COUNT(*) FROM budget WHERE day = ? AND counter = ?", (day, counter)
        )

    async def prune_budget(self, before_day: str) -> int:
        """Delete budget days that sort before a day and return how many rows went.

        Rows of numbers that still have a parcel stay: a parcel in transit for months must
        not look new (and cost the day's budget again) once its first day is old.
        """
        return await self._execute(
            "DELETE FROM budget WHERE day < ? AND number NOT IN (SELECT number FROM parcels)",
            (before_day,),
        )
