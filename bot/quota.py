"""GdePosylka's daily budget and detection cache, kept in storage so restarts forget nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot.carriers.gdeposylka import DAILY_NEW_NUMBERS, Courier, Detection
from storage import Storage

logger = logging.getLogger(__name__)

NEW_NUMBERS = "gdeposylka:new"  # budget counter name


def budget_day(moment: datetime | None = None) -> str:
    """Return the budget day (UTC) of a moment."""
    return (moment or datetime.now(UTC)).astimezone(UTC).date().isoformat()


def next_budget_day(moment: datetime) -> datetime:
    """Return when the budget day after a moment's begins (the next UTC midnight)."""
    today = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


class StorageNewNumberBudget:
    """Count numbers new to GdePosylka, at most ``limit`` a day; known numbers are free."""

    def __init__(self, storage: Storage, limit: int = DAILY_NEW_NUMBERS) -> None:
        self.storage = storage
        self.limit = limit
        # Numbers known to be counted already, so most admissions need no query: read from
        # storage once a day (after pruning, at most DAILY_NEW_NUMBERS × kept days), then kept
        # up to date here.
        self._seen: set[str] = set()
        self._refused: set[str] = set()  # refused today (until a release makes room again)
        self._seen_day: str | None = None
        # Told at the day's first refusal (the budget is used up), with when it renews: the
        # admins hear of it whether the poller or a user's lookup hit the limit.
        self.on_exhausted: Callable[[datetime], Awaitable[None]] | None = None

    async def admit(self, number: str) -> bool:
        """Tell whether the number may be sent now, counting it if GdePosylka never saw it."""
        # Re-checking a number GdePosylka already tracks falls under its 30/min limit only.
        return number in await self.admit_many([number])

    async def admit_many(self, numbers: Sequence[str]) -> set[str]:
        """Admit numbers in order, as admit would one by one; return those admitted."""
        await self.reserve(numbers)
        return {number for number in numbers if number in self._seen}

    async def reserve(self, numbers: Sequence[str]) -> set[str]:
        """Admit numbers like admit_many; return those this call counted (new until now)."""
        today = budget_day()
        if self._seen_day != today:
            self._seen = await self.storage.budget_numbers(NEW_NUMBERS)
            self._refused = set()
            self._seen_day = today
        # Known numbers are free and numbers refused today stay refused: no query for either.
        new = [n for n in numbers if n not in self._seen and n not in self._refused]
        if not new:
            return set()
        admitted = await self.storage.budget_admit_many(NEW_NUMBERS, today, new, self.limit)
        counted = admitted - self._seen  # another call may have counted one meanwhile
        self._seen.update(admitted)  # not |=: the set may have been reloaded meanwhile
        refused = [n for n in new if n not in admitted]
        first = not self._refused  # the day's first refusal (or the first since a release)
        self._refused.update(refused)
        if refused and first and self.on_exhausted is not None:
            try:
                await self.on_exhausted(next_budget_day(datetime.now(UTC)))
            except Exception:
                logger.exception("telling that the budget is used up failed")
        return counted

    async def release(self, numbers: Sequence[str]) -> None:
        """Uncount numbers admitted today but never sent."""
        today = budget_day()
        released = await self.storage.budget_release(NEW_NUMBERS, today, numbers)
        if self._seen_day == today:
            self._seen.difference_update(released)
            self._refused.clear()  # the day has room again for numbers refused earlier

    async def remaining(self) -> int:
        """Return how many new numbers today's budget still allows."""
        return max(0, self.limit - await self.storage.budget_used(NEW_NUMBERS, budget_day()))


class StorageDetectCache:
    """Remember GdePosylka's detection per number, so each number is detected once."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def get(self, number: str) -> Detection | None:
        """Return the remembered detection, ignoring damaged entries."""
        payload = await self.storage.get_detection(number)
        if payload is None:
            return None
        try:
            data = json.loads(payload)
            couriers = tuple(Courier(**courier) for courier in data["couriers"])
            return Detection(data["result"], couriers)
        except (ValueError, KeyError, TypeError):
            return None

    async def put(self, number: str, detection: Detection) -> None:
        """Remember a detection."""
        couriers = [
            {
                "slug": c.slug,
                "name": c.name,
                "name_alt": c.name_alt,
                "country_code": c.country_code,
            }
            for c in detection.couriers
        ]
        payload = json.dumps({"result": detection.result, "couriers": couriers})
        await self.storage.put_detection(number, payload)
