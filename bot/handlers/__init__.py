"""Every handler of the bot, in order; the groups are decided here and nowhere else."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.handlers.admin import admin_handlers
from bot.handlers.bans import refuse_banned
from bot.handlers.basics import (
    chat_migrated,
    choose_language,
    help_command,
    membership_changed,
    privacy,
    set_language,
    stale_button,
    start,
    unknown_command,
)
from bot.handlers.cards import archive_parcels, card_button, list_page, list_parcels, stop_number
from bot.handlers.common import remember_chat
from bot.handlers.conversations import (
    NOT_TEXT,
    conversation_handlers,
    nothing_to_cancel,
    unclaimed_confirmation,
)
from bot.handlers.errors import on_error
from bot.handlers.inline import inline_parcels
from bot.handlers.media import follow_scanned, track_media
from bot.handlers.preferences import keep_tracking, quiet_hours
from bot.handlers.revisions import guard_edit
from bot.handlers.tracking import (
    detect_online,
    pick_carrier,
    track_command,
    track_text,
)
from bot.keyboards import (
    CONFIRM_PATTERN,
    DETECT_PATTERN,
    KEEP_PATTERN,
    LANGUAGE_PATTERN,
    PAGE_PATTERN,
    PICK_PATTERN,
    SCANNED_PATTERN,
    SUBSCRIPTION_PATTERN,
)

EDIT_GROUP = -3  # drops edits that must not run a handler again (revisions.guard_edit)
GUARD_GROUP = -2  # stops updates of banned users and chats before anything else runs
PRE_GROUP = -1  # registers the chat and loads its language before any other handler

__all__ = ["build_handlers", "on_error"]


def build_handlers(
    admin_ids: frozenset[int] = frozenset(),
) -> dict[int, list[BaseHandler[Any, Any, Any]]]:
    """Return the handlers by group."""
    private = filters.ChatType.PRIVATE
    # Handlers that call carriers run without blocking, so one slow carrier never holds up
    # other users' updates.
    main: list[BaseHandler[Any, Any, Any]] = [
        *admin_handlers(admin_ids),
        *conversation_handlers(),
        CommandHandler("start", start, block=False),
        CommandHandler("help", help_command),
        CommandHandler("privacy", privacy),
        CommandHandler("language", choose_language),
        CommandHandler("track", track_command, block=False),
        CommandHandler("list", list_parcels),
        InlineQueryHandler(inline_parcels),
        CommandHandler("archive", archive_parcels),
        CommandHandler("stop", stop_number),
        CommandHandler("quiet", quiet_hours),
        CommandHandler("cancel", nothing_to_cancel),  # a running flow answers /cancel first
        CallbackQueryHandler(pick_carrier, pattern=PICK_PATTERN, block=False),
        CallbackQueryHandler(detect_online, pattern=DETECT_PATTERN, block=False),
        CallbackQueryHandler(follow_scanned, pattern=SCANNED_PATTERN, block=False),
        CallbackQueryHandler(card_button, pattern=SUBSCRIPTION_PATTERN, block=False),
        CallbackQueryHandler(list_page, pattern=PAGE_PATTERN),
        CallbackQueryHandler(set_language, pattern=LANGUAGE_PATTERN),
        CallbackQueryHandler(keep_tracking, pattern=KEEP_PATTERN),
        CallbackQueryHandler(unclaimed_confirmation, pattern=CONFIRM_PATTERN),
        ChatMemberHandler(membership_changed, ChatMemberHandler.MY_CHAT_MEMBER),
        MessageHandler(filters.StatusUpdate.MIGRATE, chat_migrated),
        MessageHandler(private & filters.TEXT & ~filters.COMMAND, track_text, block=False),
        # Photos, files, stickers, voice…: the caption's numbers, a photographed barcode's, or a
        # word on what works.
        MessageHandler(private & NOT_TEXT, track_media, block=False),
        # Chats' messages only (commands are never read from channel posts); in groups only
        # "/foo@thisbot".
        MessageHandler(filters.UpdateType.MESSAGES & filters.COMMAND, unknown_command),
        CallbackQueryHandler(stale_button),
    ]
    return {
        EDIT_GROUP: [MessageHandler(filters.UpdateType.EDITED, guard_edit)],
        GUARD_GROUP: [TypeHandler(Update, refuse_banned)],
        PRE_GROUP: [TypeHandler(Update, remember_chat)],
        0: main,
    }
