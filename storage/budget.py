"""Daily budgets: how many distinct numbers a counter (e.g. a carrier quota) used per day."""

from __future__ import annotations

from storage.core import StorageCore


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
        # One statement is atomic without a transaction: count and insert cannot interleave.
        inserted = await self._execute(
            "INSERT OR IGNORE INTO budget (day, counter, number) SELECT ?1, ?2, ?3 "
            "WHERE (SELECT COUNT(*) FROM budget WHERE day = ?1 AND counter = ?2) < ?4 "
            "OR EXISTS (SELECT 1 FROM budget WHERE day = ?1 AND counter = ?2 AND number = ?3)",
            (day, counter, number, limit),
        )
        if inserted:
            return True
        known = await self._fetchone(
            "SELECT 1 FROM budget WHERE day = ? AND counter = ? AND number = ?",
            (day, counter, number),
        )
        return known is not None

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
        """Delete budget days that sort before a day and return how many rows went."""
        return await self._execute("DELETE FROM budget WHERE day < ?", (before_day,))
