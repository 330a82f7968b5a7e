"""Carrier detection memory: per-chat picks for ambiguous numbers and a detection cache."""

from __future__ import annotations

from datetime import datetime

from storage.core import StorageCore
from storage.times import to_db, utc_now


class DetectionMixin(StorageCore):
    """Remember which carrier a number belongs to."""

    async def remember_pick(self, chat_id: int, number: str, carrier: str) -> None:
        """Remember the carrier a chat chose for an ambiguous number (the last choice wins).

        Raises:
            sqlite3.IntegrityError: the chat is unknown.
        """
        await self._execute(
            "INSERT INTO carrier_picks (chat_id, number, carrier) VALUES (?, ?, ?) "
            "ON CONFLICT (chat_id, number) DO UPDATE SET carrier = excluded.carrier",
            (chat_id, number, carrier),
        )

    async def get_pick(self, chat_id: int, number: str) -> str | None:
        """Return the carrier a chat chose for a number, if it chose one."""
        row = await self._fetchone(
            "SELECT carrier FROM carrier_picks WHERE chat_id = ? AND number = ?",
            (chat_id, number),
        )
        return None if row is None else str(row["carrier"])

    async def put_detection(self, number: str, payload: str) -> None:
        """Cache what detection found for a number (JSON text), replacing an older entry."""
        await self._execute(
            "INSERT INTO detect_cache (number, payload, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (number) DO UPDATE SET payload = excluded.payload, "
            "created_at = excluded.created_at",
            (number, payload, to_db(utc_now())),
        )

    async def get_detection(self, number: str, newer_than: datetime | None = None) -> str | None:
        """Return the cached detection JSON for a number, optionally only if fresh enough.

        Args:
            number: the tracking number.
            newer_than: ignore an entry cached before this time.
        """
        row = await self._fetchone(
            "SELECT payload, created_at FROM detect_cache WHERE number = ?", (number,)
        )
        if row is None or (newer_than is not None and row["created_at"] < to_db(newer_than)):
            return None
        return str(row["payload"])

    async def prune_detections(self, before: datetime) -> int:
        """Delete detection entries cached before a time and return how many."""
        return await self._execute(
            "DELETE FROM detect_cache WHERE created_at < ?", (to_db(before),)
        )
