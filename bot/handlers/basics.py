"""Greeting, help, privacy, language choice, membership changes and stray buttons."""

from __future__ import annotations

import logging

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatMemberStatus, ChatType

from bot.context import LANGUAGE_KEY, BotContext
from bot.explain import outage_notes
from bot.handlers.common import is_chat_admin, is_private, pressed, reply
from bot.handlers.inline import INLINE_START
from bot.handlers.revisions import ANSWERED
from bot.handlers.tracking import track_deep_link
from bot.i18n import Translator
from bot.keyboards import language_keyboard
from bot.lifecycle import ARCHIVE_DAYS

logger = logging.getLogger(__name__)

_GONE = frozenset({ChatMemberStatus.BANNED, ChatMemberStatus.LEFT})


def group_greeting(tr: Translator) -> str:
    """Return the greeting of a group: there, numbers are followed with /track."""
    return tr.gettext(
        "Hi! Use /track NUMBER to follow a parcel together; /help lists every command."
    )


async def start(update: Update, context: BotContext) -> None:
    """Greet the user; ``/start <number>`` (a deep link) follows that number at once."""
    if context.args and context.args != [INLINE_START]:
        await track_deep_link(update, context, " ".join(context.args))
        return
    _ = context.tr.gettext
    if is_private(update):
        text = _(
            "Hi! I track parcels of Ukrposhta, Nova Poshta, InPost and many international "
            "carriers.\n\nSend me a tracking number (or paste a whole shop e-mail with several), "
            "and I will show the status and write to you when it changes.\n\n"
            "/help shows everything I can do."
        )
    else:  # groups: plain numbers are not read there (a chat's talk is not a request)
        text = group_greeting(context.tr)
    tracking = context.bot_data.parcels.tracking
    notes = outage_notes(filter(tracking.paused, tracking.registry.clients), context.tr)
    await reply(update, "\n\n".join([text, *notes]))


async def help_command(update: Update, context: BotContext) -> None:
    """List what the bot can do."""
    _ = context.tr.gettext
    if is_private(update):
        how = _(
            "<b>How to use me</b>\n"
            "• Send a tracking number; text after it on the same line becomes its label.\n"
            "• Paste a message with several numbers: I follow all of them.\n"
            "• Send a photo of a label: I read its barcode and ask before following it.\n"
            "• In groups: /track NUMBER [label], or reply /track to a message with numbers."
        )
    else:  # plain messages are not read in groups: only what works there
        how = _(
            "<b>How to use me in a group</b>\n"
            "• /track NUMBER [label] follows a parcel for the whole group; I write here when "
            "it changes.\n"
            "• Reply /track to a message with numbers (a shop e-mail, several at once) or to "
            "a photo of a label.\n"
            "• Only the person who added a parcel or an admin can rename or stop it."
        )
    text = (
        how
        + "\n\n"
        + _(
            "<b>Commands</b>\n"
            "/track NUMBER [label] – follow a parcel\n"
            "/list [text] – the parcels this chat follows, or those matching the text\n"
            "/archive – delivered and returned parcels\n"
            "/stop NUMBER – stop following a parcel\n"
            "/stopall – stop following every parcel\n"
            "/quiet – quiet hours for updates\n"
            "/language – change the language\n"
            "/privacy – what I store\n"
            "/forget – delete everything about this chat\n"
            "/cancel – leave the current step"
        )
    )
    # Only when the operator switched inline mode on in @BotFather (getMe tells).
    if context.bot.supports_inline_queries:
        text += "\n\n" + _(
            "Type @{bot} in any chat to share the card of one of your parcels."
        ).format(bot=context.bot.username)
    await reply(update, text)


async def privacy(update: Update, context: BotContext) -> None:
    """Say what is stored and why."""
    _ = context.tr.gettext
    kept = context.tr.ngettext(
        "Parcels in the archive are deleted {days} day after they were archived.",
        "Parcels in the archive are deleted {days} days after they were archived.",
        ARCHIVE_DAYS,
    ).format(days=ARCHIVE_DAYS)
    await reply(
        update,
        _(
            "<b>What I store</b>\n"
            "• this chat's id, type and language;\n"
            "• the tracking numbers this chat follows, their labels and who added them;\n"
            "• the status history the carriers report for those numbers;\n"
            "• if an admin of the bot bans a user or chat: its id and the reason, until the ban "
            "is lifted (/forget does not lift it).\n\n"
            "Numbers are sent only to the carrier that tracks them. Nothing is shared with anyone "
            "else. Photos are read for barcodes in memory and not kept. /forget deletes all of it."
        )
        + "\n\n"
        + kept,
    )


async def choose_language(update: Update, context: BotContext) -> None:
    """Show the language buttons."""
    await reply(
        update, context.tr.gettext("Choose the language:"), reply_markup=language_keyboard()
    )


async def set_language(update: Update, context: BotContext) -> None:
    """Store the chosen language; in groups only admins may change it."""
    button, chat = pressed(update), update.effective_chat
    if button is None or chat is None:
        return
    query, callback = button
    if not await is_chat_admin(update, context):
        await query.answer(
            context.tr.gettext("Only chat admins can change the group's language."),
            show_alert=True,
        )
        return
    await context.bot_data.storage.set_chat_language(chat.id, callback.argument)
    context.chat_memory[LANGUAGE_KEY] = callback.argument
    await query.answer()
    await query.edit_message_text(context.tr.gettext("Language changed: I now speak English."))


async def membership_changed(update: Update, context: BotContext) -> None:
    """Mark the chat blocked when the user blocks the bot or a group removes it."""
    change = update.my_chat_member
    if change is None:
        return
    status = change.new_chat_member.status
    gone = status in _GONE
    await context.bot_data.storage.set_chat_blocked(change.chat.id, gone)
    if gone:  # what the bot remembers of the chat's messages is of no use any more
        context.application.drop_chat_data(change.chat.id)
    logger.info("chat %s is now %s", change.chat.id, "blocked" if gone else "active")
    if (
        not gone
        and change.chat.type != ChatType.PRIVATE
        and change.old_chat_member.status in _GONE
        and change.chat.id not in context.bot_data.banned
    ):
        await context.bot.send_message(change.chat.id, group_greeting(context.tr))


async def chat_migrated(update: Update, context: BotContext) -> None:
    """Move a group's parcels when Telegram upgrades it to a supergroup (a new chat id)."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    data = context.bot_data
    await data.storage.migrate_chat(message.chat.id, message.migrate_to_chat_id)
    if message.chat.id in data.banned:  # storage moved the ban with the chat
        data.banned.discard(message.chat.id)
        data.banned.add(message.migrate_to_chat_id)
        data.ban_memory.pop(message.chat.id, None)
    # Message ids start again in the supergroup: what old ids were answered with must not move.
    context.chat_memory.pop(ANSWERED, None)
    context.application.migrate_chat_data(message=message)
    logger.info("chat %s moved to %s", message.chat.id, message.migrate_to_chat_id)


async def stale_button(update: Update, context: BotContext) -> None:
    """Answer any button that no handler claimed, so the user's spinner stops."""
    query = update.callback_query
    if query is not None:
        await query.answer(context.tr.gettext("This button is no longer valid."))


async def unknown_command(update: Update, context: BotContext) -> None:
    """Answer an unknown command in a private chat, or one addressed to the bot in a group.

    In a group, "/foo" alone may be meant for another bot, so only "/foo@thisbot" is answered.
    """
    message = update.effective_message
    if not is_private(update) and not (message and _addressed_to_bot(message, context)):
        return
    await reply(
        update, context.tr.gettext("I do not know this command. /help lists what I can do.")
    )


def _addressed_to_bot(message: Message, context: BotContext) -> bool:
    """Tell whether the message's leading command names this bot ("/foo@thisbot, please")."""
    entity = message.entities[0] if message.entities else None
    if entity is None or entity.type != MessageEntity.BOT_COMMAND or entity.offset != 0:
        return False
    command = message.parse_entity(entity)
    _name, at, username = command.partition("@")
    return bool(at) and username.casefold() == (context.bot.username or "").casefold()
