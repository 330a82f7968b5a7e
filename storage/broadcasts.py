"""Broadcasts: an admin's message, its recipients and how far sending got."""

from __future__ import annotations

from collections.abc import Iterable

from storage.core import StorageCore
from storage.errors import StorageError
from storage.models import Broadcast, BroadcastCounts
from storage.rows import broadcast_from_row
from storage.times import to_db, utc_now

RECIPIENT_STATES = frozenset({"pending", "sent", "blocked", "failed"})
FINAL_STATUSES = frozenset({"cancelled", "done"})


class BroadcastsMixin(StorageCore):
    """Store broadcasts so they survive a restart and report progress."""

    async def create_broadcast(
        self, admin_chat_id: int, text: str, audience: str, chat_ids: Iterable[int]
    ) -> Broadcast:
        """Store a running broadcast and its recipients in one transaction.

        Args:
            admin_chat_id: the admin chat that started it.
            text: the message to send.
            audience: how the recipients were chosen, for the record.
            chat_ids: the recipients; ids of unknown chats and duplicates are skipped.
        """
        now = to_db(utc_now())
        async with self.transaction():
            broadcast_id = await self._insert(
                "INSERT INTO broadcasts (admin_chat_id, text, audience, created_at) "
                "VALUES (?, ?, ?, ?)",
                (admin_chat_id, text, audience, now),
            )
            # INSERT OR IGNORE does not ignore foreign-key failures, so select known chats only.
            await self._executemany(
                "INSERT OR IGNORE INTO broadcast_recipients (broadcast_id, chat_id, updated_at) "
                "SELECT ?, id, ? FROM chats WHERE id = ?",
                [(broadcast_id, now, chat_id) for chat_id in chat_ids],
            )
            broadcast = await self.get_broadcast(broadcast_id)
        if broadcast is None:  # pragma: no cover - the row was written in this transaction
            raise StorageError(f"broadcast {broadcast_id} vanished from {self.path}")
        return broadcast

    async def get_broadcast(self, broadcast_id: int) -> Broadcast | None:
        """Return a broadcast by id."""
        row = await self._fetchone("SELECT * FROM broadcasts WHERE id = ?", (broadcast_id,))
        return None if row is None else broadcast_from_row(row)

    async def running_broadcasts(self) -> list[Broadcast]:
        """Return the broadcasts still running, oldest first (to resume after a restart)."""
        rows = await self._fetchall(
            "SELECT * FROM broadcasts WHERE status = 'running' ORDER BY id"
        )
        return [broadcast_from_row(row) for row in rows]

    async def next_recipients(self, broadcast_id: int, limit: int) -> list[int]:
        """Return up to ``limit`` chat ids still waiting for a broadcast, in id order."""
        rows = await self._fetchall(
            "SELECT chat_id FROM broadcast_recipients WHERE broadcast_id = ? "
            "AND state = 'pending' ORDER BY chat_id LIMIT ?",
            (broadcast_id, limit),
        )
        return [row["chat_id"] for row in rows]

    async def recipient_state(self, broadcast_id: int, chat_id: int) -> str | None:
        """Return how far a broadcast got with one chat, or None if the chat is not a recipient."""
        value = await self._fetchvalue(
            "SELECT state FROM broadcast_recipients WHERE broadcast_id = ? AND chat_id = ?",
            (broadcast_id, chat_id),
        )
        return None if value is None else str(value)

    async def set_recipient_state(self, broadcast_id: int, chat_id: int, state: str) -> bool:
        """Record what happened when sending a broadcast to one chat.

        Returns:
            False when the chat is not a recipient of that broadcast.

        Raises:
            ValueError: the state is not pending, sent, blocked or failed.
        """
        if state not in RECIPIENT_STATES:
            raise ValueError(f"unknown recipient state {state!r}")
        changed = await self._execute(
            "UPDATE broadcast_recipients SET state = ?, updated_at = ? "
            "WHERE broadcast_id = ? AND chat_id = ?",
            (state, to_db(utc_now()), broadcast_id, chat_id),
        )
        return changed > 0

    async def broadcast_counts(self, broadcast_id: int) -> BroadcastCounts:
        """Count a broadcast's recipients by state."""
        rows = await self._fetchall(
            "SELECT state, COUNT(*) AS n FROM broadcast_recipients WHERE broadcast_id = ? "
            "GROUP BY state",
            (broadcast_id,),
        )
        counts = dict.fromkeys(RECIPIENT_STATES, 0) | {row["state"]: row["n"] for row in rows}
        return BroadcastCounts(
            sent=counts["sent"],
            blocked=counts["blocked"],
            failed=counts["failed"],
            pending=counts["pending"],
        )

    async def finish_broadcast(self, broadcast_id: int, status: str) -> bool:
        """End a running broadcast as 'done' or 'cancelled'.

        Returns:
            False when the broadcast is unknown or already finished.

        Raises:
            ValueError: the status is neither 'done' nor 'cancelled'.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"a broadcast ends as 'done' or 'cancelled', not {status!r}")
        changed = await self._execute(
            "UPDATE broadcasts SET status = ? WHERE id = ? AND status = 'running'",
            (status, broadcast_id),
        )
        return changed > 0

    async def set_progress_message(self, broadcast_id: int, message_id: int | None) -> bool:
        """Remember the admin-chat message that shows the broadcast's progress.

        Returns:
            False when the broadcast is unknown.
        """
        changed = await self._execute(
            "UPDATE broadcasts SET progress_message_id = ? WHERE id = ?",
            (message_id, broadcast_id),
        )
        return changed > 0
