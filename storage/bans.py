"""Bans: ids (users or chats) an admin shut out, and the chats that follow the most parcels."""

from __future__ import annotations

from storage.core import StorageCore
from storage.models import Ban, Chat
from storage.rows import chat_from_row
from storage.times import from_db, to_db, utc_now

BUSY_CHAT_SQL = (
    "SELECT c.*, COUNT(*) AS parcels FROM subscriptions AS s JOIN chats AS c ON c.id = s.chat_id "
    "WHERE s.archived_at IS NULL GROUP BY c.id ORDER BY parcels DESC, c.id LIMIT ?"
)


class BansMixin(StorageCore):
    """Keep the ban list; banned chats drop out of polling, pushes and broadcasts by query."""

    async def ban(self, target_id: int, banned_by: int, reason: str | None) -> bool:
        """Ban a user or chat id; return False when it was banned already (the first ban stays).

        The chat's unsent notifications are dropped, and broadcast messages still waiting for
        it are marked failed, so a running broadcast neither writes to it nor waits for it.
        """
        async with self.transaction():
            added = await self._execute(
                "INSERT OR IGNORE INTO bans (id, reason, banned_by, created_at) "
                "VALUES (?, ?, ?, ?)",
                (target_id, (reason or "").strip()[:200] or None, banned_by, to_db(utc_now())),
            )
            await self._execute(
                "UPDATE broadcast_recipients SET state = 'failed', updated_at = ? "
                "WHERE chat_id = ? AND state = 'pending'",
                (to_db(utc_now()), target_id),
            )
            await self._drop_unsent(target_id)
        return added > 0

    async def unban(self, target_id: int) -> bool:
        """Lift a ban; return False when the id was not banned.

        Notifications queued while the chat was banned (a parcel moved to another carrier)
        are dropped: news from the ban's time would arrive as a late burst.
        """
        async with self.transaction():
            removed = await self._execute("DELETE FROM bans WHERE id = ?", (target_id,))
            if removed:
                await self._drop_unsent(target_id)
        return removed > 0

    async def _drop_unsent(self, chat_id: int) -> None:
        """Delete a chat's notifications that were not sent."""
        await self._execute("DELETE FROM outbox WHERE chat_id = ? AND sent_at IS NULL", (chat_id,))

    async def list_bans(self) -> list[Ban]:
        """Return every ban, newest first."""
        rows = await self._fetchall("SELECT * FROM bans ORDER BY created_at DESC, id")
        return [
            Ban(
                id=row["id"],
                reason=row["reason"],
                banned_by=row["banned_by"],
                created_at=from_db(row["created_at"]),
            )
            for row in rows
        ]

    async def busiest_chats(self, limit: int) -> list[tuple[Chat, int]]:
        """Return the chats following the most parcels (not archived), with their counts."""
        rows = await self._fetchall(BUSY_CHAT_SQL, (limit,))
        return [(chat_from_row(row), int(row["parcels"])) for row in rows]
