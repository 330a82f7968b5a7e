"""Carrier corrections: numbers long unknown to their carrier, and moving them to another one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.core import StorageCore
from storage.models import Parcel, Subscription
from storage.rows import FOLLOWED, parcel_from_row, subscription_from_row
from storage.subscriptions import merge_duplicates_sql
from storage.times import to_db, utc_now


class SwitchesMixin(StorageCore):
    """Find parcels worth asking another carrier about, and hand their followers over."""

    async def correction_due(
        self,
        not_found_before: datetime,
        not_found_after: datetime,
        tried_before: datetime,
        limit: int,
        skip_clients: Sequence[str] = (),
    ) -> list[Parcel]:
        """Return followed parcels never found, "not found" within a window, not tried lately.

        Only parcels without a single event: a number its carrier knew once and forgets now
        (InPost after 45 days, a cache) is not a wrong carrier. Oldest "not found" first.

        Args:
            not_found_before: only parcels unknown to their carrier since at or before this.
            not_found_after: and since after this (older ones are given up on).
            tried_before: only parcels whose other carriers were never asked, or at or before.
            limit: the most parcels to return.
            skip_clients: leave out parcels of these clients (a key or its "client/..." form).
        """
        skip = "".join(" AND p.carrier != ? AND p.carrier NOT LIKE ?" for _ in skip_clients)
        rows = await self._fetchall(
            "SELECT * FROM parcels AS p "
            "WHERE p.not_found_since <= ? AND p.not_found_since > ? "
            "AND (p.switch_tried_at IS NULL OR p.switch_tried_at <= ?) "
            "AND p.last_event_at IS NULL "  # set by the first stored event, never cleared
            f"AND {FOLLOWED}{skip} "
            "ORDER BY p.not_found_since, p.id LIMIT ?",
            (
                to_db(not_found_before),
                to_db(not_found_after),
                to_db(tried_before),
                *(value for name in skip_clients for value in (name, f"{name}/%")),
                limit,
            ),
        )
        return [parcel_from_row(row) for row in rows]

    async def count_moved_in(self, since: datetime) -> int:
        """Count the parcels that took over another carrier's chats at or after a time."""
        return await self._count(
            "SELECT COUNT(*) FROM parcels WHERE moved_in_at >= ?", (to_db(since),)
        )

    async def chosen_readings(self, parcel_id: int) -> set[str]:
        """Return the carriers the parcel's chats picked for its number from a chooser."""
        rows = await self._fetchall(
            "SELECT DISTINCT cp.carrier FROM subscriptions AS s "
            "JOIN parcels AS p ON p.id = s.parcel_id "
            "JOIN carrier_picks AS cp ON cp.chat_id = s.chat_id AND cp.number = p.number "
            "WHERE s.parcel_id = ?",
            (parcel_id,),
        )
        return {row["carrier"] for row in rows}

    async def move_subscriptions(
        self, old_parcel_id: int, new_parcel_id: int, pick: str | None = None
    ) -> list[Subscription]:
        """Hand every subscription of one parcel to another (the same number elsewhere).

        Subscriptions keep their ids, so buttons on old messages still work. A chat that
        already follows the new parcel keeps that subscription, with its label or else the
        old one, live if either was. The old parcel's unsent messages are dropped (they were
        about a number its carrier did not know), and the old parcel itself is deleted once
        nobody follows it. ``pick`` replaces the moved chats' remembered carrier choice for
        the number.

        Returns:
            The subscriptions moved, as they now are (merged ones are not included).
        """
        async with self.transaction():
            await self._execute(
                merge_duplicates_sql("parcel_id", "chat_id"),
                (old_parcel_id, old_parcel_id, new_parcel_id, old_parcel_id),
            )
            moved = await self._fetchall(
                "UPDATE OR IGNORE subscriptions SET parcel_id = ? WHERE parcel_id = ? RETURNING *",
                (new_parcel_id, old_parcel_id),
            )
            if pick is not None:
                await self._execute(
                    "UPDATE carrier_picks SET carrier = ? WHERE number = "
                    "(SELECT number FROM parcels WHERE id = ?) AND chat_id IN "
                    "(SELECT chat_id FROM subscriptions WHERE parcel_id = ?)",
                    (pick, new_parcel_id, new_parcel_id),
                )
            # What could not move (a chat following both), and the old parcel's unsent pushes,
            # go with the parcel by cascade.
            await self._execute("DELETE FROM parcels WHERE id = ?", (old_parcel_id,))
            await self._execute(
                "UPDATE parcels SET moved_in_at = ? WHERE id = ?",
                (to_db(utc_now()), new_parcel_id),
            )
        return sorted(map(subscription_from_row, moved), key=lambda sub: sub.id)
