"""The outbox sender: one message per chat, loud only for milestones, nothing lost or invented."""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.carriers.models import KYIV, ParcelStatus
from bot.correction import SWITCHED
from bot.formatting import TELEGRAM_LIMIT, event_line, paid_storage_line, place_text
from bot.i18n import Catalogs, Translator
from bot.keyboards import button_name, keep_buttons, push_buttons
from bot.lifecycle import FINAL, PICKUP, STALE
from bot.parcels import stored_extras, tracking_event
from bot.retry import retry_after_seconds
from bot.routing import client_of_key
from bot.status_labels import carrier_name, status_label
from storage import Chat, OutboxItem, Storage, StoredEvent, SubscriptionView

logger = logging.getLogger(__name__)

BATCH = 500  # outbox rows read per round
# Chats whose subscriptions, parcels' events and settings are read together: few queries, yet
# at Telegram's 30 messages/s what a push is built from is at most a few seconds old.
CHATS_PER_READ = 100
MAX_EVENTS_PER_PARCEL = 8
DEFAULT_QUIET = (22 * 60, 8 * 60)  # minutes of the day, Kyiv time


GROUP_TYPES = frozenset({"group", "supergroup"})


def in_quiet_hours(chat: Chat, moment: datetime) -> bool:
    """Tell whether a moment falls in the chat's quiet hours.

    Without a setting: 22:00–08:00 Kyiv in private chats, all day in groups, where a sound
    reaches everyone (admins choose hours, or none, with /quiet).
    """
    if chat.quiet_start is None or chat.quiet_end is None:
        if chat.type in GROUP_TYPES:
            return True
        start, end = DEFAULT_QUIET
    else:
        start, end = chat.quiet_start, chat.quiet_end
    if start == end:
        return False  # quiet hours switched off
    local = moment.astimezone(KYIV)
    minute = local.hour * 60 + local.minute
    return start <= minute < end if start < end else minute >= start or minute < end


class Notifier:
    """Drain the outbox: group rows per chat, render in the chat's language, send, mark sent."""

    def __init__(self, storage: Storage, bot: Bot, catalogs: Catalogs) -> None:
        self.storage = storage
        self.bot = bot
        self.catalogs = catalogs
        self._lock = asyncio.Lock()  # two drains at once could send a row twice

    async def drain(self) -> int:
        """Send every pending notification; return how many messages went out."""
        sent = 0
        async with self._lock:
            for _round in range(20):  # bounded: a chat migration adds rows for a new id
                items = await self.storage.pending_outbox(BATCH)
                if not items:
                    break
                by_chat: dict[int, list[OutboxItem]] = defaultdict(list)
                for item in items:
                    by_chat[item.chat_id].append(item)
                progress = False
                chats = list(by_chat.items())
                for start in range(0, len(chats), CHATS_PER_READ):
                    group = chats[start : start + CHATS_PER_READ]
                    known = await self._known([item for _, rows in group for item in rows])
                    for chat_id, chat_items in group:
                        outcome = await self._send_chat(chat_id, chat_items, known)
                        if outcome == "retry_later":
                            return sent
                        sent += outcome == "sent"
                        progress = True
                if not progress:
                    break
        return sent

    async def _known(self, items: list[OutboxItem]) -> _Known:
        """Read what some rows refer to in three queries, not three per row."""
        chats = await self.storage.get_chats(sorted({item.chat_id for item in items}))
        views = await self.storage.get_subscriptions(
            sorted({item.subscription_id for item in items if item.subscription_id is not None})
        )
        with_events = {
            views[item.subscription_id].parcel.id
            for item in items
            if item.kind not in (FINAL, STALE, PICKUP) and item.subscription_id in views
        }
        events = await self.storage.events_of(sorted(with_events))
        return _Known(chats, views, events)

    async def _send_chat(self, chat_id: int, items: list[OutboxItem], known: _Known) -> str:
        """Send one chat's coalesced pushes and settle their rows.

        The rows are packed into as few messages as fit Telegram's limit (usually one), and each
        message's rows are marked sent as soon as Telegram accepts it: after a crash only the
        message in flight can be sent again.
        """
        chat = known.chats.get(chat_id)
        if chat is None:
            await self.storage.drop_outbox([item.id for item in items])
            return "dropped"
        tr = self.catalogs.get(chat.language)
        messages, empty = _pack(items, tr, known)
        if empty:
            await self.storage.drop_outbox(empty)  # what they refer to is gone
        loud = any(item.loud for item in items) and not in_quiet_hours(chat, datetime.now(UTC))
        outcome = "dropped"
        for index, (ids, text, keyboard, reply_to) in enumerate(messages):
            outcome = await self._send_one(
                chat_id, ids, text, keyboard, loud and index == 0, reply_to
            )
            if outcome != "sent":
                return outcome
        return outcome

    async def _send_one(
        self,
        chat_id: int,
        ids: list[int],
        text: str,
        keyboard: InlineKeyboardMarkup | None,
        loud: bool,
        reply_to: int | None = None,
    ) -> str:
        """Send one message for some outbox rows; Telegram's errors decide what happens to them.

        A message about one parcel replies to the bot's message that showed it (when there is
        one): the thread shows which parcel changed; if that message is gone, it goes without.
        """
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        try:
            try:
                await self.bot.send_message(
                    chat_id,
                    text,
                    disable_notification=not loud,
                    reply_markup=keyboard,
                    reply_parameters=reply,
                )
            except BadRequest as err:
                if reply is None:
                    raise
                # Only the reply can be at fault: the push itself must not be lost over it.
                logger.info("reply to message %s in chat %s refused: %s", reply_to, chat_id, err)
                await self.bot.send_message(
                    chat_id, text, disable_notification=not loud, reply_markup=keyboard
                )
        except Forbidden:
            logger.info("chat %s blocked the bot; its parcels stop being polled", chat_id)
            await self.storage.set_chat_blocked(chat_id, True)
            await self.storage.drop_outbox(ids)
            return "dropped"
        except ChatMigrated as err:
            logger.info("chat %s moved to %s", chat_id, err.new_chat_id)
            await self.storage.migrate_chat(chat_id, err.new_chat_id)
            return "migrated"  # its rows now belong to the new id: the next round sends them
        except RetryAfter as err:
            logger.warning("Telegram asks to wait %.0f s before more", retry_after_seconds(err))
            return "retry_later"
        except BadRequest as err:
            logger.error("Telegram refused outbox rows %s for chat %s: %s", ids, chat_id, err)
            await self.storage.drop_outbox(ids)
            return "dropped"
        except TelegramError as err:
            logger.warning("sending to chat %s failed, will retry: %s", chat_id, err)
            return "retry_later"
        await self.storage.mark_sent(ids, datetime.now(UTC))
        return "sent"


@dataclass(frozen=True, slots=True)
class _Known:
    """What one round of outbox rows refers to: chats, subscriptions, parcels' events."""

    chats: dict[int, Chat]
    views: dict[int, SubscriptionView]
    events: dict[int, list[StoredEvent]]

    def view(self, item: OutboxItem) -> SubscriptionView | None:
        """Return the subscription a row is about, if it still exists."""
        return None if item.subscription_id is None else self.views.get(item.subscription_id)


# Row ids, text, buttons for "keep tracking?" rows, and the message to reply to.
Message = tuple[list[int], str, InlineKeyboardMarkup | None, int | None]


def _pack(
    items: list[OutboxItem], tr: Translator, known: _Known
) -> tuple[list[Message], list[int]]:
    """Render each row and pack the blocks into messages under Telegram's limit.

    Returns the messages and the ids of rows that render to nothing. A message about a single
    subscription replies to the message that showed its parcel.
    """
    messages: list[Message] = []
    empty: list[int] = []
    ids: list[int] = []
    blocks: list[str] = []
    buttons: list[list[InlineKeyboardButton]] = []
    views: dict[int, SubscriptionView] = {}
    kinds: set[str] = set()

    def close() -> None:
        if blocks:
            single = next(iter(views.values())) if len(views) == 1 else None
            if single is not None and not buttons and not single.archived:
                # Waiting, out for delivery or delivered: "I have it" (to the archive now, not
                # after the post-delivery watch); any other news: Stop, as peers' users ask.
                have_it = PICKUP in kinds or single.parcel.status in _HAVE_IT
                buttons.append(push_buttons(single.id, tr, have_it=have_it))
            markup = InlineKeyboardMarkup(list(buttons)) if buttons else None
            reply_to = single.card_message_id if single is not None else None
            messages.append((list(ids), "\n\n".join(blocks), markup, reply_to))
        ids.clear()
        blocks.clear()
        buttons.clear()
        views.clear()
        kinds.clear()

    for item in items:
        view = known.view(item)
        block = None if view is None else _render_item(item, view, tr, known)
        if view is None or block is None:
            empty.append(item.id)
            continue
        if blocks and len("\n\n".join([*blocks, block])) > TELEGRAM_LIMIT:
            close()
        ids.append(item.id)
        blocks.append(block)
        views[view.id] = view
        kinds.add(item.kind)
        if item.kind == STALE:
            buttons.append(keep_buttons(view.id, button_name(view.label, view.parcel.number), tr))
    close()
    return messages, empty


# News after which the parcel is (about to be) in the user's hands: "I have it", not "Stop".
_HAVE_IT = frozenset(
    {ParcelStatus.READY_FOR_PICKUP, ParcelStatus.OUT_FOR_DELIVERY, ParcelStatus.DELIVERED}
)


def _render_item(
    item: OutboxItem, view: SubscriptionView, tr: Translator, known: _Known
) -> str | None:
    """Render one row, or None when the events it announces are gone."""
    _ = tr.gettext
    carrier = client_of_key(view.parcel.carrier)
    title = f"<b>{html.escape(view.label)}</b> · " if view.label else ""
    title += f"<code>{html.escape(view.parcel.number)}</code> ({carrier_name(carrier, _)})"
    payload: Any = _load(item.payload)
    if item.kind == FINAL:
        status = ParcelStatus.parse(payload.get("status") if isinstance(payload, dict) else None)
        text = (
            _("Returned to the sender; I stopped tracking it.")
            if status is ParcelStatus.RETURNED
            else _("Delivered; I stopped tracking it. It stays in the archive.")
        )
        return f"{title}\n{status_label(status, _)}\n{text}"
    if item.kind == PICKUP:
        since = _since(payload)
        if since is None or view.parcel.status != ParcelStatus.READY_FOR_PICKUP:
            return None  # damaged, or collected (or moved on) since the reminder was queued
        days = payload.get("days") if isinstance(payload.get("days"), int) else None
        days = max(1, days or (item.created_at - since).days)
        reminder = tr.ngettext(
            "🔔 Waiting for pickup for {days} day, since {since}. Remember to collect it.",
            "🔔 Waiting for pickup for {days} days, since {since}. Remember to collect it.",
            days,
        ).format(days=days, since=tr.datetime(since))
        # Where to go, and from when storage costs money, when the carrier said.
        lines = [title, reminder, _point_line(view, tr), _storage_line(view, tr)]
        return "\n".join(line for line in lines if line)
    if item.kind == SWITCHED:
        return _render_switch(payload, view, title, tr, known)
    if item.kind == STALE:
        reason = payload.get("reason") if isinstance(payload, dict) else None
        question = (
            _("The carrier still has no record of this number. Keep tracking it?")
            if reason == "not_found"
            else _("Nothing has happened to this parcel for a long time. Keep tracking it?")
        )
        return f"{title}\n{question}"
    wanted = {str(f) for f in payload} if isinstance(payload, list) else set()
    stored = [e for e in known.events.get(view.parcel.id, ()) if e.fingerprint in wanted]
    if not stored:
        return None
    events = [tracking_event(e) for e in stored]  # oldest first, as storage orders them
    lines = [title]
    hidden = len(events) - MAX_EVENTS_PER_PARCEL
    if hidden > 0:
        lines.append(
            tr.ngettext(
                "…and {count} earlier event", "…and {count} earlier events", hidden
            ).format(count=hidden)
        )
    shown = events[-MAX_EVENTS_PER_PARCEL:]
    lines += [event_line(e, carrier, tr) for e in shown]
    ready = [e for e in shown if e.status is ParcelStatus.READY_FOR_PICKUP]
    if ready:
        lines += [_point_line(view, tr, unless=ready[-1].location), _storage_line(view, tr)]
    return "\n".join(line for line in lines if line)


def _point_line(view: SubscriptionView, tr: Translator, unless: str | None = None) -> str | None:
    """Return "Pickup point: …" from the parcel's stored extras, unless it is that place."""
    point = stored_extras(view.parcel).get("pickup_point")
    if not point or point == unless:
        return None
    return tr.gettext("Pickup point: {point}").format(point=place_text(point, tr))


def _storage_line(view: SubscriptionView, tr: Translator) -> str | None:
    """Return "Paid storage from …" while the parcel waits for pickup, if the carrier said."""
    status = ParcelStatus.parse(view.parcel.status)
    return paid_storage_line(stored_extras(view.parcel), status, tr)


def _render_switch(
    payload: Any, view: SubscriptionView, title: str, tr: Translator, known: _Known
) -> str | None:
    """Render the note that a parcel is now followed at another carrier, with its latest event."""
    stored = known.events.get(view.parcel.id, ())
    old = payload.get("from") if isinstance(payload, dict) else None
    if not stored or not isinstance(old, str):
        return None  # damaged row, or the events are gone
    days = payload.get("days") if isinstance(payload.get("days"), int) else 1
    carrier = client_of_key(view.parcel.carrier)
    if client_of_key(old) == carrier:  # the same service, asked for another courier
        note = tr.ngettext(
            "🔁 This number had no record for {days} day with the courier I first asked, "
            "but another courier knows it: I follow it there now.",
            "🔁 This number had no record for {days} days with the courier I first asked, "
            "but another courier knows it: I follow it there now.",
            days,
        ).format(days=days)
    else:
        note = tr.ngettext(
            "🔁 {old} had no record of this number for {days} day, but {new} knows it: "
            "I follow it there now.",
            "🔁 {old} had no record of this number for {days} days, but {new} knows it: "
            "I follow it there now.",
            days,
        ).format(
            old=carrier_name(client_of_key(old), tr.gettext),
            new=carrier_name(carrier, tr.gettext),
            days=days,
        )
    return "\n".join([title, note, event_line(tracking_event(stored[-1]), carrier, tr)])


def _since(payload: Any) -> datetime | None:
    """Read a pickup reminder's "since" time; None when the row is damaged."""
    if not isinstance(payload, dict):
        return None
    try:
        since = datetime.fromisoformat(payload["since"])
    except (TypeError, KeyError, ValueError):
        return None
    return since if since.tzinfo is not None else None


def _load(payload: str) -> Any:
    """Decode a row's JSON payload; a damaged row renders as nothing rather than crashing."""
    try:
        return json.loads(payload)
    except ValueError:
        logger.error("outbox payload is not JSON: %r", payload[:200])
        return None


__all__ = ["GROUP_TYPES", "Notifier", "in_quiet_hours"]
