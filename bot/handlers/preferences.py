"""Notification preferences: quiet hours, and the answer to "keep tracking?"."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from telegram import Update

from bot.context import BotContext
from bot.handlers.cards import own_subscription, stop_from_button
from bot.handlers.common import is_chat_admin, parcel_name, reply
from bot.keyboards import parse
from bot.notifier import DEFAULT_QUIET, GROUP_TYPES

_RANGE = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*[-–—]\s*(\d{1,2})(?::(\d{2}))?$")


def parse_quiet_hours(text: str) -> tuple[int, int] | None:
    """Read "22-8" or "23:30-07:00" as minutes of the day; None when malformed."""
    match = _RANGE.match(text.strip())
    if not match:
        return None
    start_h, start_m, end_h, end_m = (int(g) if g else 0 for g in match.groups())
    if start_h > 23 or end_h > 23 or start_m > 59 or end_m > 59:
        return None
    return start_h * 60 + start_m, end_h * 60 + end_m


def _clock(minutes: int) -> str:
    """Format minutes of the day as HH:MM."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


async def quiet_hours(update: Update, context: BotContext) -> None:
    """Handle ``/quiet``, ``/quiet 22-8`` and ``/quiet off``: silent pushes at night."""
    chat = update.effective_chat
    tr = context.tr
    if chat is None:
        return
    storage = context.bot_data.storage
    argument = " ".join(context.args or []).strip().lower()
    if not argument:
        stored = await storage.get_chat(chat.id)
        start, end = DEFAULT_QUIET
        if stored and stored.quiet_start is not None and stored.quiet_end is not None:
            start, end = stored.quiet_start, stored.quiet_end
        elif chat.type in GROUP_TYPES:
            text = tr.gettext(
                "In groups updates arrive silently all day unless admins choose quiet hours."
            )
            usage = tr.gettext(
                "Admins: /quiet 22-8 makes only those hours silent, /quiet off lets milestones "
                "make a sound."
            )
            await reply(update, f"{text}\n{usage}")
            return
        if start == end:
            text = tr.gettext("Quiet hours are off: milestones always make a sound.")
        else:
            text = tr.gettext(
                "Quiet hours: {start}–{end} (Kyiv time); updates then arrive silently."
            ).format(start=_clock(start), end=_clock(end))
        usage = tr.gettext("Change them with /quiet 22-8, or switch them off with /quiet off.")
        await reply(update, f"{text}\n{usage}")
        return
    if not await is_chat_admin(update, context):
        await reply(update, tr.gettext("Only chat admins can change the group's quiet hours."))
        return
    if argument in {"default", "reset"}:  # back to the default: 22-8, or all day in groups
        await storage.set_quiet_hours(chat.id, None, None)
        await reply(update, tr.gettext("Quiet hours are back to the default."))
        return
    if argument in {"off", "вимк", "выкл", "0"}:
        await storage.set_quiet_hours(chat.id, 0, 0)
        await reply(update, tr.gettext("Quiet hours are off: milestones always make a sound."))
        return
    parsed = parse_quiet_hours(argument)
    if parsed is None or parsed[0] == parsed[1]:
        await reply(
            update,
            tr.gettext(
                "I did not understand that. Examples: /quiet 22-8, /quiet 23:30-07:00, /quiet off."
            ),
        )
        return
    await storage.set_quiet_hours(chat.id, *parsed)
    await reply(
        update,
        tr.gettext("Quiet hours: {start}–{end} (Kyiv time); updates then arrive silently.").format(
            start=_clock(parsed[0]), end=_clock(parsed[1])
        ),
    )


async def keep_tracking(update: Update, context: BotContext) -> None:
    """Handle the "keep tracking?" buttons."""
    query = update.callback_query
    callback = parse(query.data) if query else None
    tr = context.tr
    view = await own_subscription(update, context, callback.number) if callback else None
    if query is None:
        return
    if callback is None or view is None:
        await query.answer(tr.gettext("This button is no longer valid."), show_alert=True)
        return
    name = parcel_name(view, tr)
    if callback.argument.endswith(":yes"):
        await context.bot_data.storage.mark_stale_asked(view.parcel.id, datetime.now(UTC))
        await query.answer()
        await reply(update, tr.gettext("I keep tracking {name}.").format(name=name))
        return
    await stop_from_button(update, context, view)
