"""Bans: admins shut a user or chat out (/ban, /unban, /bans); a guard refuses their updates.

The ban list lives in storage (it outlives restarts); the guard reads an in-memory copy, so an
update from anyone else costs no query.
"""

from __future__ import annotations

import html
import logging
import re
import time

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.ban_memory import BanMemory
from bot.context import LANGUAGE_KEY, BotContext
from bot.handlers.common import is_private, reply, user_language
from bot.i18n import Translator
from bot.keyboards import FORGET_PATTERN

logger = logging.getLogger(__name__)

# What a banned chat may still do: read the privacy note and delete its data (a few an hour).
PASSING_COMMANDS = frozenset({"privacy", "forget", "cancel"})
LIST_BUDGET = 3500  # characters of /bans (Telegram allows 4096 per message)
REASON_SHOWN = 80  # characters of a reason in /bans
TARGET = re.compile(r"-?[0-9]{1,16}")  # a Telegram user or chat id, ASCII digits only


async def refuse_banned(update: Update, context: BotContext) -> None:
    """Stop every update from a banned user or chat, with a word at most once an hour.

    Status updates (the bot removed or blocked, a group upgraded) pass, so storage keeps
    knowing where the chat is; a banned chat may also read /privacy and /forget itself.
    """
    data = context.bot_data
    if not data.banned:
        return
    chat, user = update.effective_chat, update.effective_user
    if chat is not None and chat.id in data.banned:
        key = chat.id
    elif user is not None and user.id in data.banned:
        key = user.id
    else:
        return
    chat_banned = chat is not None and key == chat.id
    if _status_update(update):
        return
    memory = data.ban_memory.setdefault(key, BanMemory())
    now = time.monotonic()
    if chat_banned and _privacy_request(update) and memory.may_answer(now):
        return
    try:
        await _refuse(update, context, chat_banned, memory, now)
    except TelegramError as err:  # the refusal is a courtesy; the update stays stopped
        logger.info("cannot tell banned %s: %s", key, err)
    except Exception:  # whatever happens, no other handler may see the update
        logger.exception("refusing an update of banned %s failed", key)
    raise ApplicationHandlerStop


async def _refuse(
    update: Update, context: BotContext, chat_banned: bool, memory: BanMemory, now: float
) -> None:
    """Say once an hour that the bot is shut (privately, or to a command in a group)."""
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
    message = update.message
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.inline_query is not None:
        await update.inline_query.answer([], cache_time=300, is_personal=True)
    elif (
        # Group chatter and service messages stay unanswered: the group did nothing wrong.
        message is not None
        and (is_private(update) or _is_command(message))
        and memory.may_refuse(now)
    ):
        await reply(update, text)


def _status_update(update: Update) -> bool:
    """Tell whether the update reports the bot's membership or a group's upgrade."""
    message = update.message
    migrating = message is not None and bool(
        message.migrate_to_chat_id or message.migrate_from_chat_id
    )
    return update.my_chat_member is not None or migrating


def _privacy_request(update: Update) -> bool:
    """Tell whether the update asks for the privacy note or to forget the chat."""
    query = update.callback_query
    if query is not None:
        return FORGET_PATTERN.fullmatch(query.data or "") is not None
    message = update.message
    if message is None or not _is_command(message):
        return False
    assert message.text is not None  # a command has text
    command = message.text.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()
    return command in PASSING_COMMANDS


def _is_command(message: Message) -> bool:
    """Tell whether a message is a bot command."""
    return bool(message.text and message.text.startswith("/"))


def _translator(update: Update, context: BotContext) -> Translator:
    """Return a translator without touching storage: the chat's known language, or the user's."""
    language = context.chat_memory.get(LANGUAGE_KEY) or user_language(update, context)
    return context.bot_data.catalogs.get(language)


def _target(context: BotContext) -> int | None:
    """Return the id the admin named as the first argument, if it is one."""
    args = context.args or []
    return int(args[0]) if args and TARGET.fullmatch(args[0]) else None


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
    data.ban_memory.pop(target, None)
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
    used = len(lines[0])
    for shown, ban in enumerate(bans):
        line = f"• <code>{ban.id}</code>, {tr.date(ban.created_at)}"
        if ban.reason:
            reason = ban.reason[:REASON_SHOWN] + ("…" if len(ban.reason) > REASON_SHOWN else "")
            line += f": {html.escape(reason)}"
        if used + len(line) > LIST_BUDGET:
            hidden = len(bans) - shown
            lines.append(
                tr.ngettext("…and {count} more", "…and {count} more", hidden).format(count=hidden)
            )
            break
        lines.append(line)
        used += len(line) + 1
    await reply(update, "\n".join(lines))
