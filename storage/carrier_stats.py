"""A bounded log of carrier API calls, summarised as counts and latency percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from storage.core import StorageCore
from storage.models import CarrierStat
from storage.times import to_db


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ascending values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


class CarrierStatsMixin(StorageCore):
    """Log carrier calls and report how each carrier behaves."""

    async def record_carrier_call(
        self, carrier: str, at: datetime, ok: bool, latency_ms: float
    ) -> None:
        """Log one call to a carrier's API."""
        await self._execute(
            "INSERT INTO carrier_calls (carrier, at, ok, latency_ms) VALUES (?, ?, ?, ?)",
            (carrier, to_db(at), int(ok), latency_ms),
        )

    async def carrier_stats(self, since: datetime) -> list[CarrierStat]:
        """Summarise the calls logged at or after a time, one entry per carrier, by name."""
        rows = await self._fetchall(
            "SELECT carrier, ok, latency_ms FROM carrier_calls WHERE at >= ? "
            "ORDER BY carrier, latency_ms",
            (to_db(since),),
        )
        latencies: dict[str, list[float]] = {}
        errors: dict[str, int] = {}
        for row in rows:
            latencies.setdefault(row["carrier"], []).append(row["latency_ms"])
            errors[row["carrier"]] = errors.get(row["carrier"], 0) + (0 if row["ok"] else 1)
        return [
            CarrierStat(
                carrier=carrier,
                calls=len(values),
                errors=errors[carrier],
                p50_ms=percentile(values, 0.5),
                p95_ms=percentile(values, 0.95),
            )
            for carrier, values in latencies.items()
        ]

    async def prune_carrier_calls(self, before: datetime) -> int:
        """Delete calls logged before a time (keep about a week) and return how many."""
        return await self._execute("DELETE FROM carrier_calls WHERE at < ?", (to_db(before),))
