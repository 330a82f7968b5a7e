"""Subscriptions: which chat follows which parcel, under which label, archived or not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.core import StorageCore
from storage.errors import StorageError
from storage.models import Chat, Subscription, SubscriptionView
from storage.rows import (
    LIVE_SUBSCRIPTION,
    SUBSCRIPTION_VIEW_SQL,
    chat_from_row,
    subscription_from_row,
    view_from_row,
)
from storage.times import to_db, utc_now

# Statuses that ask something of the chat now, in the order /list shows them first.
WAITING_STATUSES = ("ready_for_pickup", "out_for_delivery", "delivery_failed")
_WAITING_FIRST = (
    "CASE p.status "
    + " ".join(f"WHEN '{status}' THEN {rank}" for rank, status in enumerate(WAITING_STATUSES))
    + f" ELSE {len(WAITING_STATUSES)} END"
)


def merge_duplicates_sql(moving: str, matching: str) -> str:
    """Return the UPDATE that folds the old owner's subscriptions into the new owner's twins.

    ``moving`` is the column that changes owner (chat_id when a group moves, parcel_id when a
    parcel moves), ``matching`` the one the twins share. A twin keeps its label or takes the
    old one, and is live if either was. Parameters: old, old, new, old.
    """
    return (
        "UPDATE subscriptions SET "
        f"label = COALESCE(label, (SELECT o.label FROM subscriptions AS o "
        f"WHERE o.{moving} = ? AND o.{matching} = subscriptions.{matching})), "
        "archived_at = CASE WHEN EXISTS (SELECT 1 FROM subscriptions AS o "
        f"WHERE o.{moving} = ? AND o.{matching} = subscriptions.{matching} "
        "AND o.archived_at IS NULL) THEN NULL ELSE archived_at END "
        f"WHERE {moving} = ? AND {matching} IN (SELECT {matching} FROM subscriptions "
        f"WHERE {moving} = ?)"
    )


def _clean_label(label: str | None) -> str | None:
    """Return the label without surrounding blanks, or None when nothing is left."""
    if label is None:
        return None
    return label.strip() or None


class SubscriptionsMixin(StorageCore):
    """Store which chats follow which parcels."""

    async def subscribe(
        self, chat_id: int, parcel_id: int, label: str | None, added_by: int | None
    ) -> Subscription:
        """Make a chat follow a parcel; following it again restores it from the archive.

        Args:
            chat_id: the chat (it must be stored already).
            parcel_id: the parcel (it must be stored already).
            label: the chat's name for the parcel; blank keeps the stored label.
            added_by: the Telegram user who asked; kept from the first subscription.

        Raises:
            sqlite3.IntegrityError: the chat or the parcel is unknown.
        """
        # One statement, atomic on its own, that also returns the row it wrote. A new row's id
        # is above every id ever given (schema V12): an old button never names another parcel.
        row = await self._fetchone(
            "INSERT INTO subscriptions (id, chat_id, parcel_id, label, added_by, created_at) "
            "VALUES ((SELECT last_id + 1 FROM id_high_water WHERE name = 'subscriptions'), "
            "?, ?, ?, ?, ?) ON CONFLICT (chat_id, parcel_id) DO UPDATE SET "
            "archived_at = NULL, label = COALESCE(excluded.label, subscriptions.label) "
            "RETURNING *",
            (chat_id, parcel_id, _clean_label(label), added_by, to_db(utc_now())),
        )
        if row is None:  # pragma: no cover - an upsert always returns its row
            raise StorageError(f"subscription {chat_id}/{parcel_id} vanished from {self.path}")
        return subscription_from_row(row)

    async def subscription_slot(self, chat_id: int, parcel_id: int) -> tuple[bool, int]:
        """Return whether the chat follows the parcel (not archived), and how many it follows."""
        row = await self._fetchone(
            "SELECT (SELECT archived_at IS NULL FROM subscriptions "
            "WHERE chat_id = ?1 AND parcel_id = ?2) AS live, "
            "(SELECT COUNT(*) FROM subscriptions WHERE chat_id = ?1 AND archived_at IS NULL) AS n",
            (chat_id, parcel_id),
        )
        assert row is not None  # an aggregate always returns one row
        return row["live"] == 1, int(row["n"])

    async def get_subscription(self, sub_id: int) -> SubscriptionView | None:
        """Return a subscription with its parcel."""
        return (await self.get_subscriptions([sub_id])).get(sub_id)

    async def get_subscriptions(self, sub_ids: Sequence[int]) -> dict[int, SubscriptionView]:
        """Return many subscriptions with their parcels by id (unknown ids are left out)."""
        rows = await self._fetch_in(SUBSCRIPTION_VIEW_SQL + " WHERE s.id IN ({ids})", sub_ids)
        return {view.id: view for view in map(view_from_row, rows)}

    async def find_subscription(self, chat_id: int, parcel_id: int) -> SubscriptionView | None:
        """Return the chat's subscription to a parcel, archived or not."""
        row = await self._fetchone(
            SUBSCRIPTION_VIEW_SQL + " WHERE s.chat_id = ? AND s.parcel_id = ?",
            (chat_id, parcel_id),
        )
        return None if row is None else view_from_row(row)

    async def subscriptions_by_numbers(
        self, chat_id: int, numbers: Sequence[str]
    ) -> list[SubscriptionView]:
        """Return the chat's subscriptions to parcels with these numbers, archived ones too."""
        rows = await self._fetch_in(
            SUBSCRIPTION_VIEW_SQL + " WHERE s.chat_id = ? AND p.number IN ({ids}) ORDER BY s.id",
            list(dict.fromkeys(numbers)),
            (chat_id,),
        )
        return [view_from_row(row) for row in rows]

    async def list_subscriptions(
        self, chat_id: int, *, archived: bool | None = False, offset: int = 0, limit: int = 10
    ) -> list[SubscriptionView]:
        """Return one page of a chat's subscriptions, those waiting for it first.

        Current parcels that wait for the chat (ready for pickup, out for delivery, a failed
        delivery) come first, the rest newest first; the archive is newest archived first.

        Args:
            chat_id: the chat.
            archived: list the archive (newest archived first) instead of the current ones;
                None lists both, the current ones first.
            offset: how many to skip.
            limit: the page size.
        """
        where = " WHERE s.chat_id = ?"
        if archived is not None:
            where += " AND s.archived_at IS NOT NULL" if archived else " AND s.archived_at IS NULL"
        order = (
            " ORDER BY s.archived_at IS NOT NULL, s.archived_at DESC, "
            f"CASE WHEN s.archived_at IS NULL THEN {_WAITING_FIRST} END, "
            "CASE WHEN s.archived_at IS NULL THEN s.created_at END DESC, s.id DESC"
        )
        rows = await self._fetchall(
            SUBSCRIPTION_VIEW_SQL + where + order + " LIMIT ? OFFSET ?", (chat_id, limit, offset)
        )
        return [view_from_row(row) for row in rows]

    async def count_subscriptions(self, chat_id: int, archived: bool = False) -> int:
        """Count a chat's current (or archived) subscriptions."""
        condition = "IS NOT NULL" if archived else "IS NULL"
        return await self._count(
            f"SELECT COUNT(*) FROM subscriptions WHERE chat_id = ? AND archived_at {condition}",
            (chat_id,),
        )

    async def subscription_totals(self) -> dict[str, int]:
        """Count subscriptions of every chat: 'active' (followed) and 'archived'."""
        row = await self._fetchone(
            "SELECT COALESCE(SUM(archived_at IS NULL), 0), "
            "COALESCE(SUM(archived_at IS NOT NULL), 0) FROM subscriptions",
            (),
        )
        assert row is not None  # an aggregate always returns one row
        return {"active": int(row[0]), "archived": int(row[1])}

    async def rename_subscription(self, sub_id: int, label: str | None) -> bool:
        """Set a subscription's label; a blank label removes it.

        Returns:
            False when the subscription is unknown.
        """
        changed = await self._execute(
            "UPDATE subscriptions SET label = ? WHERE id = ?", (_clean_label(label), sub_id)
        )
        return changed > 0

    async def set_card_message(self, sub_ids: Sequence[int], message_id: int) -> int:
        """Remember the bot's message that showed these subscriptions' parcels.

        Returns:
            How many subscriptions were found.
        """
        return await self._write_in(
            "UPDATE subscriptions SET card_message_id = ? WHERE id IN ({ids})",
            list(sub_ids),
            (message_id,),
        )

    async def archive_subscription(self, sub_id: int) -> bool:
        """Move a subscription to the archive, so its parcel is no longer checked for it.

        Returns:
            False when the subscription is unknown or already archived.
        """
        changed = await self._execute(
            "UPDATE subscriptions SET archived_at = ? WHERE id = ? AND archived_at IS NULL",
            (to_db(utc_now()), sub_id),
        )
        return changed > 0

    async def prune_archive(self, archived_before: datetime) -> int:
        """Delete subscriptions archived before a time (their queued messages go with them).

        Returns:
            How many were deleted.
        """
        return await self._execute(
            "DELETE FROM subscriptions WHERE archived_at IS NOT NULL AND archived_at < ?",
            (to_db(archived_before),),
        )

    async def unsubscribe(self, sub_id: int) -> bool:
        """Delete a subscription and its queued messages.

        Returns:
            False when the subscription is unknown.
        """
        return await self._execute("DELETE FROM subscriptions WHERE id = ?", (sub_id,)) > 0

    async def unsubscribe_all(self, chat_id: int) -> int:
        """Delete every current subscription of a chat (the archive stays); return how many."""
        return await self._execute(
            "DELETE FROM subscriptions WHERE chat_id = ? AND archived_at IS NULL", (chat_id,)
        )

    async def subscribers(self, parcel_id: int) -> list[tuple[Chat, Subscription]]:
        """Return the live subscriptions of a parcel with their chats, in subscription order.

        Live means not archived, in a chat that is active and has not blocked the bot.
        """
        rows = await self._fetchall(
            "SELECT c.id AS c_id, c.type AS c_type, c.language AS c_language, "
            "c.active AS c_active, c.blocked AS c_blocked, c.quiet_start AS c_quiet_start, "
            "c.quiet_end AS c_quiet_end, c.created_at AS c_created_at, s.* "
            "FROM subscriptions AS s JOIN chats AS c ON c.id = s.chat_id "
            f"WHERE s.parcel_id = ? AND {LIVE_SUBSCRIPTION} ORDER BY s.id",
            (parcel_id,),
        )
        return [(chat_from_row(row, "c_"), subscription_from_row(row)) for row in rows]
