"""Chats: upsert, language, blocked flag, quiet hours, forgetting and group migration."""

from __future__ import annotations

from collections.abc import Sequence

from storage.core import StorageCore
from storage.errors import StorageError
from storage.models import Chat
from storage.rows import REACHABLE_CHAT, chat_from_row
from storage.subscriptions import merge_duplicates_sql
from storage.times import to_db, utc_now

CHAT_TYPES = frozenset({"private", "group", "supergroup", "channel"})
MINUTES_PER_DAY = 24 * 60
# Audiences that are not language codes; anything else is matched against chats.language.
_AUDIENCE_TYPES: dict[str, tuple[str, ...]] = {
    # Channels are left out of "all" and of the language audiences: an announcement would be
    # posted publicly in someone's channel. Only the explicit "channels" audience reaches them.
    "all": ("group", "private", "supergroup"),
    "private": ("private",),
    "groups": ("group", "supergroup"),
    "channels": ("channel",),
}


def _check_minute(value: int | None) -> None:
    if value is not None and not 0 <= value < MINUTES_PER_DAY:
        raise ValueError(f"{value} is not a minute of the day (0..{MINUTES_PER_DAY - 1})")


class ChatsMixin(StorageCore):
    """Store what the bot knows about each chat."""

    async def upsert_chat(self, chat_id: int, type: str, language: str | None) -> Chat:
        """Insert a chat, or update the type of a known one; a stored language is never replaced.

        The bot upserts a chat when an update comes from it, so a known chat is marked active
        and not blocking the bot: it just wrote to us (if the "unblocked" notice was missed, the
        chat would otherwise never hear from the bot again).

        Args:
            chat_id: the Telegram chat id.
            type: private, group, supergroup or channel.
            language: the language to store when the chat has none yet.

        Raises:
            ValueError: the type is not a Telegram chat type.
        """
        if type not in CHAT_TYPES:
            raise ValueError(f"unknown chat type {type!r}")
        async with self.transaction():
            await self._execute(
                "INSERT INTO chats (id, type, language, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET type = excluded.type, active = 1, blocked = 0, "
                "language = COALESCE(chats.language, excluded.language)",
                (chat_id, type, language, to_db(utc_now())),
            )
            chat = await self.get_chat(chat_id)
        if chat is None:  # pragma: no cover - the row was written in this transaction
            raise StorageError(f"chat {chat_id} vanished from {self.path}")
        return chat

    async def get_chat(self, chat_id: int) -> Chat | None:
        """Return a chat, or None when the bot never saw it."""
        return (await self.get_chats([chat_id])).get(chat_id)

    async def get_chats(self, chat_ids: Sequence[int]) -> dict[int, Chat]:
        """Return many chats by id (chats the bot never saw are left out)."""
        rows = await self._fetch_in("SELECT * FROM chats WHERE id IN ({ids})", chat_ids)
        return {chat.id: chat for chat in map(chat_from_row, rows)}

    async def set_chat_language(self, chat_id: int, lang: str) -> bool:
        """Set the chat's language; return False for an unknown chat."""
        changed = await self._execute(
            "UPDATE chats SET language = ?, language_chosen = 1 WHERE id = ?", (lang, chat_id)
        )
        return changed > 0

    async def set_chat_blocked(self, chat_id: int, blocked: bool) -> bool:
        """Mark a chat as blocking the bot (inactive) or as reachable again (active).

        Returns:
            False when the chat is unknown.
        """
        changed = await self._execute(
            "UPDATE chats SET blocked = ?, active = ? WHERE id = ?",
            (int(blocked), int(not blocked), chat_id),
        )
        return changed > 0

    async def set_quiet_hours(
        self, chat_id: int, start_min: int | None, end_min: int | None
    ) -> bool:
        """Set (or clear, with two Nones) the minutes of the day when messages are silent.

        Returns:
            False when the chat is unknown.

        Raises:
            ValueError: only one bound is given, or a bound is not a minute of the day.
        """
        if (start_min is None) != (end_min is None):
            raise ValueError("quiet hours need both a start and an end, or neither")
        _check_minute(start_min)
        _check_minute(end_min)
        changed = await self._execute(
            "UPDATE chats SET quiet_start = ?, quiet_end = ? WHERE id = ?",
            (start_min, end_min, chat_id),
        )
        return changed > 0

    async def forget_chat(self, chat_id: int) -> bool:
        """Delete a chat and everything about it, and the parcels no other chat follows.

        Returns:
            False when the chat is unknown.
        """
        async with self.transaction():
            followed = await self._fetchall(
                "SELECT parcel_id FROM subscriptions WHERE chat_id = ?", (chat_id,)
            )
            # Subscriptions, outbox rows, picks and broadcast recipients go by ON DELETE CASCADE.
            deleted = await self._execute("DELETE FROM chats WHERE id = ?", (chat_id,))
            await self._executemany(
                "DELETE FROM parcels WHERE id = ? "
                "AND NOT EXISTS (SELECT 1 FROM subscriptions WHERE parcel_id = parcels.id)",
                [(row["parcel_id"],) for row in followed],
            )
        return deleted > 0

    async def migrate_chat(self, old_id: int, new_id: int) -> bool:
        """Move a chat (a group that became a supergroup) and all it owns to a new id.

        When the new id is already known the two are merged: the new chat keeps its own
        settings and only fills gaps from the old one (a language someone chose beats one
        taken from a user's Telegram settings); a parcel both follow keeps one
        subscription, active if either was, with the new label or else the old one.

        Returns:
            False when the old chat is unknown.
        """
        if old_id == new_id:
            return await self.get_chat(old_id) is not None
        async with self.transaction():
            if await self.get_chat(old_id) is None:
                return False
            await self._execute(
                "INSERT INTO chats (id, type, language, language_chosen, active, blocked, "
                "quiet_start, quiet_end, created_at) SELECT ?, type, language, language_chosen, "
                "active, blocked, quiet_start, quiet_end, created_at FROM chats WHERE id = ? "
                "ON CONFLICT (id) DO UPDATE SET "
                "language = CASE WHEN excluded.language_chosen > chats.language_chosen "
                "THEN excluded.language ELSE COALESCE(chats.language, excluded.language) END, "
                "language_chosen = MAX(chats.language_chosen, excluded.language_chosen), "
                "quiet_start = CASE WHEN chats.quiet_start IS NULL "
                "THEN excluded.quiet_start ELSE chats.quiet_start END, "
                "quiet_end = CASE WHEN chats.quiet_start IS NULL "
                "THEN excluded.quiet_end ELSE chats.quiet_end END",
                (new_id, old_id),
            )
            await self._merge_subscriptions(old_id, new_id)
            await self._execute(
                "INSERT OR IGNORE INTO carrier_picks (chat_id, number, carrier) "
                "SELECT ?, number, carrier FROM carrier_picks WHERE chat_id = ?",
                (new_id, old_id),
            )
            await self._execute(
                "UPDATE OR IGNORE broadcast_recipients SET chat_id = ? WHERE chat_id = ?",
                (new_id, old_id),
            )
            # A banned group stays banned as a supergroup (whose own ban, if any, stays first).
            await self._execute("UPDATE OR IGNORE bans SET id = ? WHERE id = ?", (new_id, old_id))
            await self._execute("DELETE FROM bans WHERE id = ?", (old_id,))
            # Whatever could not move (duplicates) goes with the old chat by ON DELETE CASCADE.
            await self._execute("DELETE FROM chats WHERE id = ?", (old_id,))
        return True

    async def _merge_subscriptions(self, old_id: int, new_id: int) -> None:
        """Move the old chat's subscriptions and outbox rows to the new chat."""
        await self._execute(
            merge_duplicates_sql("chat_id", "parcel_id"), (old_id, old_id, new_id, old_id)
        )
        # Pending notifications of a duplicate subscription now belong to the surviving one.
        await self._execute(
            "UPDATE outbox SET chat_id = ?, subscription_id = COALESCE(("
            "SELECT n.id FROM subscriptions AS o JOIN subscriptions AS n "
            "ON n.parcel_id = o.parcel_id AND n.chat_id = ? "
            "WHERE o.id = outbox.subscription_id), subscription_id) WHERE chat_id = ?",
            (new_id, new_id, old_id),
        )
        # Message ids of the old group mean nothing in the new one: no replies to them.
        await self._execute(
            "UPDATE OR IGNORE subscriptions SET chat_id = ?, card_message_id = NULL "
            "WHERE chat_id = ?",
            (new_id, old_id),
        )

    async def list_chat_ids(self, audience: str, only_active: bool = True) -> list[int]:
        """Return the ids of the chats in an audience, in id order.

        Args:
            audience: 'all', 'private', 'groups' (groups and supergroups), 'channels',
                or a language code such as 'uk'.
            only_active: leave out chats that blocked the bot, are inactive or are banned.
        """
        sql = "SELECT id FROM chats AS c WHERE "
        params: list[object]
        if audience in _AUDIENCE_TYPES:
            types = _AUDIENCE_TYPES[audience]
            sql += f"type IN ({', '.join('?' * len(types))})"
            params = list(types)
        else:
            sql += "language = ? AND type != 'channel'"
            params = [audience]
        if only_active:
            sql += f" AND {REACHABLE_CHAT}"
        rows = await self._fetchall(sql + " ORDER BY id", params)
        return [row["id"] for row in rows]

    async def count_chats(self) -> dict[str, int]:
        """Count chats: 'total', 'active' (reachable), 'blocked', 'banned', one key per type.

        A banned chat counts as banned, whether or not it also blocked the bot.
        """
        rows = await self._fetchall(
            "SELECT type, active, blocked, id IN (SELECT id FROM bans) AS banned, COUNT(*) AS n "
            "FROM chats GROUP BY type, active, blocked, banned"
        )
        counts = dict.fromkeys(("total", "active", "blocked", "banned", *sorted(CHAT_TYPES)), 0)
        for row in rows:
            counts["total"] += row["n"]
            counts[row["type"]] += row["n"]
            if row["banned"]:
                counts["banned"] += row["n"]
            elif row["blocked"]:
                counts["blocked"] += row["n"]
            elif row["active"]:
                counts["active"] += row["n"]
        return counts
