"""Flows with steps: rename a parcel, stop every parcel, forget the chat (each with /cancel)."""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable

from telegram import ForceReply, Message, Update
from telegram.constants import ChatType
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.carriers.detect import extract_numbers, normalize
from bot.context import BotContext
from bot.handlers.cards import may_stop, own_subscription
from bot.handlers.common import is_chat_admin, reply
from bot.handlers.revisions import forget_answers
from bot.handlers.tracking import track_text
from bot.keyboards import (
    FORGET,
    FORGET_PATTERN,
    RENAME_PATTERN,
    STOP_ALL,
    STOP_ALL_PATTERN,
    confirm_keyboard,
    parse,
)
from bot.requests import MAX_LABEL

WAITING_LABEL, CONFIRMING = range(2)
TIMEOUT_SECONDS = 300
RENAMING_KEY = "renaming"


async def start_rename(update: Update, context: BotContext) -> int:
    """Ask for a new label for the parcel whose Rename button was pressed."""
    query = update.callback_query
    callback = parse(query.data) if query else None
    tr = context.tr
    view = await own_subscription(update, context, callback.number) if callback else None
    if query is None or view is None:
        if query is not None:
            await query.answer(tr.gettext("This button is no longer valid."), show_alert=True)
        return ConversationHandler.END
    if not await may_stop(update, context, view):
        # In a group, a parcel's name is its owner's (or an admin's) to change, like stopping it.
        refusal = tr.gettext(
            "Only the person who added this parcel or a chat admin can rename it."
        )
        await query.answer(refusal, show_alert=True)
        return ConversationHandler.END
    await query.answer()
    context.chat_memory[_renaming(update)] = view.id
    await reply(
        update,
        tr.gettext("Send the new label for {number} (or /cancel).").format(
            number=html.escape(view.parcel.number)
        ),
        reply_markup=ForceReply(selective=True),
    )
    return WAITING_LABEL


async def save_label(update: Update, context: BotContext) -> int:
    """Store the label the user sent."""
    message = update.effective_message
    tr = context.tr
    subscription_id = context.chat_memory.pop(_renaming(update), None)
    view = await own_subscription(update, context, subscription_id) if subscription_id else None
    if message is None or not message.text or view is None:
        return ConversationHandler.END
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE and _only_a_number(message.text):
        # A tracking number sent while the name was awaited is a number to follow; the
        # rename is dropped rather than naming the parcel after another parcel.
        await track_text(update, context)
        return ConversationHandler.END
    label = " ".join(message.text.split())[:MAX_LABEL]
    await context.bot_data.storage.rename_subscription(view.id, label)
    await reply(
        update,
        tr.gettext("Renamed {number} to “{label}”.").format(
            number=html.escape(view.parcel.number), label=html.escape(label)
        ),
    )
    return ConversationHandler.END


def _only_a_number(text: str) -> bool:
    """Tell whether a message is exactly one tracking number and nothing else."""
    found = extract_numbers(text, limit=2)
    return len(found) == 1 and normalize(text) == found[0]


async def label_not_text(update: Update, context: BotContext) -> int:
    """Answer a picture or other non-text message sent instead of the new name."""
    await reply(update, context.tr.gettext("Please send the new name as text, or /cancel."))
    return WAITING_LABEL


async def ask_stop_all(update: Update, context: BotContext) -> int:
    """Ask before stopping every parcel of the chat (admins only in groups)."""
    tr = context.tr
    if not await is_chat_admin(update, context):
        await reply(update, tr.gettext("Only chat admins can stop every parcel of a group."))
        return ConversationHandler.END
    chat = update.effective_chat
    if chat is not None and not await context.bot_data.storage.count_subscriptions(chat.id):
        await reply(
            update, tr.gettext("This chat follows no parcels yet. Send me a tracking number.")
        )
        return ConversationHandler.END
    await reply(
        update,
        tr.gettext("Stop tracking every parcel of this chat?"),
        reply_markup=confirm_keyboard(STOP_ALL, tr),
    )
    return CONFIRMING


async def confirm_stop_all(update: Update, context: BotContext) -> int:
    """Stop every parcel after a Yes; keep them after a No."""
    query = update.callback_query
    chat = update.effective_chat
    tr = context.tr
    if query is None or chat is None:
        return ConversationHandler.END
    await query.answer()
    if query.data == f"{STOP_ALL}:yes":
        count = await context.bot_data.storage.unsubscribe_all(chat.id)
        text = tr.ngettext(
            "Stopped tracking {count} parcel.", "Stopped tracking {count} parcels.", count
        ).format(count=count)
    else:
        text = tr.gettext("Nothing was changed.")
    await query.edit_message_text(text)
    return ConversationHandler.END


async def ask_forget(update: Update, context: BotContext) -> int:
    """Ask before deleting everything stored about the chat."""
    tr = context.tr
    if not await is_chat_admin(update, context):
        await reply(update, tr.gettext("Only chat admins can delete a group's data."))
        return ConversationHandler.END
    await reply(
        update,
        tr.gettext("Delete everything I store about this chat: its parcels, labels and settings?"),
        reply_markup=confirm_keyboard(FORGET, tr),
    )
    return CONFIRMING


async def confirm_forget(update: Update, context: BotContext) -> int:
    """Delete the chat's data after a Yes."""
    query = update.callback_query
    chat = update.effective_chat
    tr = context.tr
    if query is None or chat is None:
        return ConversationHandler.END
    await query.answer()
    if query.data == f"{FORGET}:yes":
        await context.bot_data.storage.forget_chat(chat.id)
        # Everything the bot remembers in memory goes too (pending labels, offers, language):
        # the chat is registered again on its next update. Edits of older messages are ignored.
        context.chat_memory.clear()
        forget_answers(context)
        text = tr.gettext("Done: I deleted everything about this chat.")
    else:
        text = tr.gettext("Nothing was changed.")
    await query.edit_message_text(text)
    return ConversationHandler.END


async def unclaimed_confirmation(update: Update, context: BotContext) -> None:
    """Answer a Yes/No that no running flow took: someone else's question, or an old one.

    A flow belongs to the person who started it, so in a group another member's press finds
    no flow waiting for it; they are told whose question it is rather than that it expired.
    An anonymous admin asks as the group itself, and presses as themselves: any chat admin
    may answer that question.
    """
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return
    tr = context.tr
    asked = query.message.reply_to_message if isinstance(query.message, Message) else None
    asker = asked.from_user if asked is not None else None
    if asked is not None and asked.sender_chat is not None and asked.sender_chat.id == chat.id:
        stop_all = (query.data or "").startswith(STOP_ALL)
        if await is_chat_admin(update, context):
            await (confirm_stop_all if stop_all else confirm_forget)(update, context)
        elif stop_all:
            await query.answer(
                tr.gettext("Only chat admins can stop every parcel of a group."), show_alert=True
            )
        else:
            await query.answer(
                tr.gettext("Only chat admins can delete a group's data."), show_alert=True
            )
    elif asker is not None and asker.id != query.from_user.id:
        await query.answer(
            tr.gettext("Only the person who asked can answer this question."), show_alert=True
        )
    else:
        await query.answer(tr.gettext("This button is no longer valid."))


def _renaming(update: Update) -> str:
    """Return the chat-memory key of the parcel this user is renaming (per user: groups)."""
    user = update.effective_user
    return f"{RENAMING_KEY}:{user.id if user else 0}"


async def nothing_to_cancel(update: Update, context: BotContext) -> None:
    """Answer /cancel outside any flow."""
    await reply(update, context.tr.gettext("There is nothing to cancel."))


async def cancel(update: Update, context: BotContext) -> int:
    """Leave any flow."""
    context.chat_memory.pop(_renaming(update), None)
    await reply(update, context.tr.gettext("Cancelled."))
    return ConversationHandler.END


async def timed_out(update: Update, context: BotContext) -> int:
    """Forget a flow the user abandoned."""
    context.chat_memory.pop(_renaming(update), None)
    return ConversationHandler.END


def without_warning(build: Callable[[], ConversationHandler]) -> ConversationHandler:  # type: ignore[type-arg]
    """Build a conversation whose button steps are tracked per chat and user, not per message.

    That is on purpose (a flow belongs to the person who started it), so PTB's warning about
    the combination is silenced here rather than in every test run.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "If 'per_message=False'", PTBUserWarning)
        return build()


# A message a text-waiting step cannot use: a photo, a sticker, a file… (not service notes).
NOT_TEXT = ~filters.TEXT & ~filters.COMMAND & ~filters.StatusUpdate.ALL
NEW = filters.UpdateType.MESSAGE  # not an edit


def _flow(entry: object, state: int, handlers: list[object], name: str) -> ConversationHandler:  # type: ignore[type-arg]
    """Build a conversation with /cancel and a timeout."""
    return without_warning(
        lambda: ConversationHandler(
            entry_points=[entry],  # type: ignore[list-item]
            states={
                state: handlers,  # type: ignore[dict-item]
                ConversationHandler.TIMEOUT: [MessageHandler(filters.ALL, timed_out)],
            },
            fallbacks=[CommandHandler("cancel", cancel)],
            conversation_timeout=TIMEOUT_SECONDS,
            allow_reentry=True,  # the command again starts over instead of "unknown command"
            name=name,
        )
    )


def conversation_handlers() -> list[ConversationHandler]:  # type: ignore[type-arg]
    """Return the rename, stop-all and forget flows."""
    return [
        _flow(
            CallbackQueryHandler(start_rename, pattern=RENAME_PATTERN),
            WAITING_LABEL,
            [
                # Only new messages: an edit of an earlier one is not the answer to the question.
                MessageHandler(NEW & filters.TEXT & ~filters.COMMAND, save_label),
                MessageHandler(NEW & NOT_TEXT, label_not_text),
            ],
            "rename",
        ),
        _flow(
            CommandHandler("stopall", ask_stop_all),
            CONFIRMING,
            [CallbackQueryHandler(confirm_stop_all, pattern=STOP_ALL_PATTERN)],
            "stop_all",
        ),
        _flow(
            CommandHandler("forget", ask_forget),
            CONFIRMING,
            [CallbackQueryHandler(confirm_forget, pattern=FORGET_PATTERN)],
            "forget",
        ),
    ]
