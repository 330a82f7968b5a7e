"""Bans: admins shut a user or chat out (/ban, /unban, /bans); a guard refuses their updates.

The ban list lives in storage (it outlives restarts); the guard reads an in-memory copy, so an
update from anyone else costs no query.
"""

from __future__ import annotations

import html
import logging
import time

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.context import LANGUAGE_KEY, BotContext
from bot.handlers.common import reply
from bot.i18n import Translator, negotiate_language
from bot.keyboards import FORGET_PATTERN

logger = logging.getLogger(__name__)

REFUSE_EVERY = 3600.0  # seconds between two refusals in one chat: spam cannot eat the send rate
REFUSED_AT_KEY = "ban_refused_at"
# What a banned chat may still do: read the privacy note and delete its data.
PASSING_COMMANDS = frozenset({"privacy", "forget", "cancel"})
MAX_LISTED = 50  # bans shown by /bans


async def refuse_banned(update: Update, context: BotContext) -> None:
    """Stop every update from a banned user or chat, with a word at most once an hour."""
    banned: set[int] = getattr(context.bot_data, "banned", set())
    if not banned:
        return
    chat, user = update.effective_chat, update.effective_user
    chat_banned = chat is not None and chat.id in banned
    if not chat_banned and (user is None or user.id not in banned):
        return
    if _passes(update):
        return
    tr = _translator(update, context)
    _ = tr.gettext
    text = (
        _(
            "An admin of this bot has shut this chat out: the bot no longer answers here or "
            "checks its parcels. /forget deletes what it keeps about this chat."
        )
        if chat_banned
        else _("An admin of this bot has shut you out: the bot does not answer you.")
    )
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.inline_query is not None:
            await update.inline_query.answer([], cache_time=300, is_personal=True)
        elif update.message is not None and _may_refuse(context):
            await reply(update, text)
    except TelegramError as err:  # the refusal is a courtesy; the update stays stopped
        logger.info("cannot tell a banned chat %s: %s", chat.id if chat else None, err)
    raise ApplicationHandlerStop


def _passes(update: Update) -> bool:
    """Tell whether the update is one a banned chat may still make (privacy and /forget)."""
    query = update.callback_query
    if query is not None:
        return FORGET_PATTERN.fullmatch(query.data or "") is not None
    message = update.message
    if message is None or not message.text or not message.text.startswith("/"):
        return False
    command = message.text.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()
    return command in PASSING_COMMANDS


def _may_refuse(context: BotContext) -> bool:
    """Tell whether the chat may get a refusal now, and remember that it got one."""
    memory = context.chat_memory
    now = time.monotonic()
    last = memory.get(REFUSED_AT_KEY)
    if last is not None and now - last < REFUSE_EVERY:
        return False
    memory[REFUSED_AT_KEY] = now
    return True


def _translator(update: Update, context: BotContext) -> Translator:
    """Return a translator without touching storage: the chat's known language, or the user's."""
    data = context.bot_data
    language = context.chat_memory.get(LANGUAGE_KEY)
    if language is None:
        user = update.effective_user
        language = negotiate_language(
            user.language_code if user else None, data.settings.default_language
        )
    return data.catalogs.get(language)


def _target(context: BotContext) -> int | None:
    """Return the id the admin named as the first argument, if it is one."""
    args = context.args or []
    try:
        return int(args[0]) if args else None
    except ValueError:
        return None


async def ban_command(update: Update, context: BotContext) -> None:
    """``/ban ID [reason]``: shut a user or chat out."""
    _ = context.tr.gettext
    target, user = _target(context), update.effective_user
    if target is None or user is None:
        await reply(
            update,
            _(
                "Send /ban ID [reason] with the id of a user or chat. /stats lists the chats "
                "that follow the most parcels; /bans lists the bans."
            ),
        )
        return
    data = context.bot_data
    if target in data.settings.admin_ids:
        await reply(
            update, _("{id} is an admin of this bot and cannot be banned.").format(id=target)
        )
        return
    reason = " ".join((context.args or [])[1:])
    added = await data.storage.ban(target, user.id, reason)
    data.banned.add(target)
    logger.info("admin %s banned %s", user.id, target)
    text = (
        _(
            "Banned {id}. The bot ignores it, does not check its parcels and sends it nothing; "
            "/unban {id} undoes this."
        )
        if added
        else _("{id} was banned already.")
    )
    await reply(update, text.format(id=target))


async def unban_command(update: Update, context: BotContext) -> None:
    """``/unban ID``: lift a ban."""
    _ = context.tr.gettext
    target = _target(context)
    if target is None:
        await reply(update, _("Send /unban ID with a banned id; /bans lists them."))
        return
    data = context.bot_data
    removed = await data.storage.unban(target)
    data.banned.discard(target)
    if removed:
        logger.info("ban of %s lifted", target)
    text = (
        _("Unbanned {id}. Its parcels are checked again.")
        if removed
        else _("{id} was not banned.")
    )
    await reply(update, text.format(id=target))


async def list_bans(update: Update, context: BotContext) -> None:
    """``/bans``: who is banned, newest first."""
    tr = context.tr
    bans = await context.bot_data.storage.list_bans()
    if not bans:
        await reply(update, tr.gettext("Nobody is banned."))
        return
    lines = [
        tr.ngettext("<b>{count} ban</b>", "<b>{count} bans</b>", len(bans)).format(count=len(bans))
    ]
    for ban in bans[:MAX_LISTED]:
        line = f"• <code>{ban.id}</code>, {ban.created_at:%Y-%m-%d}"
        if ban.reason:
            line += f": {html.escape(ban.reason)}"
        lines.append(line)
    hidden = len(bans) - MAX_LISTED
    if hidden > 0:
        lines.append(
            tr.ngettext("…and {count} more", "…and {count} more", hidden).format(count=hidden)
        )
    await reply(update, "\n".join(lines))
