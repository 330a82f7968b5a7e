"""The outbox: notifications written with the data that caused them, sent later."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.core import StorageCore
from storage.models import OutboxItem
from storage.rows import LIVE_SUBSCRIPTION, REACHABLE_CHAT, outbox_from_row
from storage.times import to_db, utc_now


class OutboxMixin(StorageCore):
    """Queue messages for chats and track which were sent."""

    async def enqueue(
        self,
        chat_id: int,
        kind: str,
        payload: str,
        loud: bool,
        subscription_id: int | None = None,
        parcel_id: int | None = None,
    ) -> int:
        """Queue one message for a chat and return its outbox id.

        Args:
            chat_id: the chat to message.
            kind: what the sender should render, e.g. 'events', 'final', 'stale'.
            payload: JSON text the sender renders.
            loud: whether the message should make a sound.
            subscription_id: the subscription it is about, if any.
            parcel_id: the parcel it is about, if any.
        """
        return await self._insert(
            "INSERT INTO outbox (chat_id, subscription_id, parcel_id, kind, payload, loud, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (chat_id, subscription_id, parcel_id, kind, payload, int(loud), to_db(utc_now())),
        )

    async def notify_subscribers(self, parcel_id: int, kind: str, payload: str, loud: bool) -> int:
        """Queue one message per live subscription of a parcel and return how many were queued.

        Live means not archived, in a chat that is active, has not blocked the bot and is not
        banned.
        """
        return await self._execute(
            NOTIFY_SUBSCRIBERS, notify_row(parcel_id, kind, payload, loud, None, utc_now())
        )

    async def pending_outbox(self, limit: int) -> list[OutboxItem]:
        """Return unsent messages for reachable chats, oldest first."""
        rows = await self._fetchall(f"SELECT o.* {_WAITING} ORDER BY o.id LIMIT ?", (limit,))
        return [outbox_from_row(row) for row in rows]

    async def get_outbox_item(self, item_id: int) -> OutboxItem | None:
        """Return one outbox row, sent or not."""
        row = await self._fetchone("SELECT * FROM outbox WHERE id = ?", (item_id,))
        return None if row is None else outbox_from_row(row)

    async def mark_sent(self, ids: Sequence[int], sent_at: datetime) -> int:
        """Record that messages were sent and return how many rows changed."""
        return await self._write_in(
            "UPDATE outbox SET sent_at = ? WHERE id IN ({ids}) AND sent_at IS NULL",
            ids,
            (to_db(sent_at),),
        )

    async def drop_outbox(self, ids: Sequence[int]) -> int:
        """Delete messages that will never be sent and return how many were deleted."""
        return await self._write_in("DELETE FROM outbox WHERE id IN ({ids})", ids)

    async def count_sent_since(self, since: datetime) -> int:
        """Count messages sent at or after a time."""
        return await self._count("SELECT COUNT(*) FROM outbox WHERE sent_at >= ?", (to_db(since),))

    async def count_waiting(self) -> int:
        """Count messages waiting to be sent to reachable chats (what the sender will send)."""
        return await self._count(f"SELECT COUNT(*) {_WAITING}")

    async def prune_outbox(self, sent_before: datetime) -> int:
        """Delete messages sent before a time and return how many were deleted."""
        return await self._execute("DELETE FROM outbox WHERE sent_at < ?", (to_db(sent_before),))


# What the sender will send: pending_outbox lists it, count_waiting counts it (one definition,
# so the count shown to the operator cannot drift from what is sent).
_WAITING = (
    "FROM outbox AS o JOIN chats AS c ON c.id = o.chat_id "
    f"WHERE o.sent_at IS NULL AND {REACHABLE_CHAT}"
)
NOTIFY_SUBSCRIBERS = (
    "INSERT INTO outbox (chat_id, subscription_id, parcel_id, kind, payload, loud, "
    "created_at) SELECT s.chat_id, s.id, s.parcel_id, ?, ?, ?, ? "
    "FROM subscriptions AS s JOIN chats AS c ON c.id = s.chat_id "
    f"WHERE s.parcel_id = ? AND s.id IS NOT ? AND {LIVE_SUBSCRIPTION} ORDER BY s.id"
)


def notify_row(
    parcel_id: int, kind: str, payload: str, loud: bool, skip: int | None, at: datetime
) -> tuple[object, ...]:
    """Return the parameters of NOTIFY_SUBSCRIBERS."""
    return (kind, payload, int(loud), to_db(at), parcel_id, skip)
