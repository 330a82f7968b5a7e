"""Parcels and their events: creation, the poll schedule, history and statistics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.core import StorageCore
from storage.errors import StorageError
from storage.models import Parcel, StoredEvent
from storage.rows import FOLLOWED, event_from_row, parcel_from_row
from storage.times import opt_to_db, to_db, utc_now


class ParcelsMixin(StorageCore):
    """Store parcels, when to check them next, and what happened to them."""

    async def get_or_create_parcel(self, carrier: str, number: str) -> Parcel:
        """Return the parcel for a carrier and number, creating it (status 'unknown') if new.

        A known parcel costs one read and no write lock; a new one a single INSERT … RETURNING,
        atomic on its own.
        """
        parcel = await self.find_parcel(carrier, number)
        if parcel is not None:
            return parcel
        row = await self._fetchone(
            "INSERT INTO parcels (carrier, number, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (carrier, number) DO NOTHING RETURNING *",
            (carrier, number, to_db(utc_now())),
        )
        if row is not None:
            return parcel_from_row(row)
        parcel = await self.find_parcel(carrier, number)  # another task created it meanwhile
        if parcel is None:  # pragma: no cover - created and deleted between two statements
            raise StorageError(f"parcel {carrier}/{number} vanished from {self.path}")
        return parcel

    async def get_parcel(self, parcel_id: int) -> Parcel | None:
        """Return a parcel by id."""
        row = await self._fetchone("SELECT * FROM parcels WHERE id = ?", (parcel_id,))
        return None if row is None else parcel_from_row(row)

    async def find_parcel(self, carrier: str, number: str) -> Parcel | None:
        """Return the parcel for a carrier and number, if stored."""
        row = await self._fetchone(
            "SELECT * FROM parcels WHERE carrier = ? AND number = ?", (carrier, number)
        )
        return None if row is None else parcel_from_row(row)

    async def parcels_by_number(self, number: str) -> list[Parcel]:
        """Return the parcels stored for a number, one per carrier it is tracked with."""
        rows = await self._fetchall(
            "SELECT * FROM parcels WHERE number = ? ORDER BY id", (number,)
        )
        return [parcel_from_row(row) for row in rows]

    async def due_parcels(self, now: datetime, limit: int) -> list[Parcel]:
        """Return parcels to check now that a reachable chat still follows, never-checked first.

        Args:
            now: parcels whose next check is at or before this time (or unset) are due.
            limit: the most parcels to return.
        """
        rows = await self._fetchall(
            "SELECT * FROM parcels AS p "
            "WHERE (p.next_check_at IS NULL OR p.next_check_at <= ?) "
            f"AND {FOLLOWED} ORDER BY p.next_check_at NULLS FIRST, p.id LIMIT ?",
            (to_db(now), limit),
        )
        return [parcel_from_row(row) for row in rows]

    async def schedule_parcel(
        self, parcel_id: int, next_check_at: datetime | None, check_interval: float | None
    ) -> bool:
        """Set when to check a parcel next and the interval that led there (seconds).

        Returns:
            False when the parcel is unknown.
        """
        changed = await self._execute(
            "UPDATE parcels SET next_check_at = ?, check_interval = ? WHERE id = ?",
            (opt_to_db(next_check_at), check_interval, parcel_id),
        )
        return changed > 0

    async def waiting_for_pickup(
        self, ready_before: datetime, ready_after: datetime | None = None
    ) -> list[Parcel]:
        """Return followed parcels ready for pickup since at or before a time (oldest first).

        Only parcels a reachable chat still follows: nobody else is reminded. ``ready_after``
        leaves out those whose last event is older (nothing is left to remind them of).
        """
        after = "" if ready_after is None else "AND p.last_event_at >= ? "
        rows = await self._fetchall(
            "SELECT * FROM parcels AS p "
            f"WHERE p.status = 'ready_for_pickup' AND p.last_event_at <= ? {after}"
            f"AND {FOLLOWED} ORDER BY p.last_event_at, p.id",
            (to_db(ready_before),)
            if ready_after is None
            else (to_db(ready_before), to_db(ready_after)),
        )
        return [parcel_from_row(row) for row in rows]

    async def mark_pickup_reminded(self, parcel_id: int, at: datetime) -> bool:
        """Remember when the chats were reminded that a parcel waits for pickup.

        Returns:
            False when the parcel is unknown.
        """
        return await self._stamp("pickup_reminded_at", parcel_id, at)

    async def mark_stale_asked(self, parcel_id: int, at: datetime | None) -> bool:
        """Remember when the chats were asked whether a silent parcel still matters (None clears).

        Returns:
            False when the parcel is unknown.
        """
        return await self._stamp("stale_asked_at", parcel_id, at)

    async def mark_switch_tried(self, parcel_id: int, at: datetime) -> bool:
        """Remember when the other possible carriers were asked about a parcel.

        Returns:
            False when the parcel is unknown.
        """
        return await self._stamp("switch_tried_at", parcel_id, at)

    async def _stamp(self, column: str, parcel_id: int, at: datetime | None) -> bool:
        """Set one of a parcel's time columns (a name from this module, never user input)."""
        changed = await self._execute(
            f"UPDATE parcels SET {column} = ? WHERE id = ?", (opt_to_db(at), parcel_id)
        )
        return changed > 0

    async def parcel_events(self, parcel_id: int) -> list[StoredEvent]:
        """Return a parcel's stored events, oldest first."""
        return (await self.events_of([parcel_id]))[parcel_id]

    async def events_of(self, parcel_ids: Sequence[int]) -> dict[int, list[StoredEvent]]:
        """Return the stored events of many parcels at once, each parcel's oldest first."""
        found: dict[int, list[StoredEvent]] = {parcel_id: [] for parcel_id in parcel_ids}
        rows = await self._fetch_in(
            "SELECT * FROM events WHERE parcel_id IN ({ids}) "
            "ORDER BY occurred_at, first_seen_at, rowid",
            parcel_ids,
        )
        for row in rows:
            found[row["parcel_id"]].append(event_from_row(row))
        return found

    async def stats_by_carrier_status(self) -> dict[str, dict[str, int]]:
        """Count stored parcels by carrier, then by status."""
        rows = await self._fetchall(
            "SELECT carrier, status, COUNT(*) AS n FROM parcels GROUP BY carrier, status "
            "ORDER BY carrier, status"
        )
        stats: dict[str, dict[str, int]] = {}
        for row in rows:
            stats.setdefault(row["carrier"], {})[row["status"]] = row["n"]
        return stats

    async def prune_orphan_parcels(self, created_before: datetime) -> int:
        """Delete parcels no chat follows, created before a time, and return how many.

        The time guard spares a parcel just created for a chat that is about to subscribe.
        """
        return await self._execute(
            "DELETE FROM parcels WHERE created_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM subscriptions WHERE parcel_id = parcels.id)",
            (to_db(created_before),),
        )
