"""Helpers every handler uses: chat registration, replies, permission checks."""

from __future__ import annotations

import html
import logging

from telegram import CallbackQuery, Chat, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

from bot.context import LANGUAGE_KEY, BotContext
from bot.i18n import Translator, negotiate_language
from bot.keyboards import Callback, card_keyboard, parse, share_button
from storage import SubscriptionView

logger = logging.getLogger(__name__)

ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})


async def remember_chat(update: Update, context: BotContext) -> None:
    """Register the chat on its first update and load its language (runs before handlers)."""
    chat = update.effective_chat
    if chat is None or context.chat_data is None or LANGUAGE_KEY in context.chat_data:
        return
    stored = await context.bot_data.storage.upsert_chat(
        chat.id, chat.type, user_language(update, context)
    )
    context.chat_data[LANGUAGE_KEY] = stored.language


def user_language(update: Update, context: BotContext) -> str:
    """Return the language the update's user's Telegram settings suggest (uk, en or ru)."""
    user = update.effective_user
    return negotiate_language(
        user.language_code if user else None, context.bot_data.settings.default_language
    )


def is_private(update: Update) -> bool:
    """Tell whether the update comes from a private chat."""
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


async def reply(update: Update, text: str, **kwargs: object) -> Message | None:
    """Answer the update's message; in groups as a reply, so the asker sees it is for them."""
    message = update.effective_message
    if message is None:
        return None
    if not is_private(update):
        kwargs.setdefault("do_quote", True)
    return await message.reply_text(text, **kwargs)  # type: ignore[arg-type]


def pressed(update: Update) -> tuple[CallbackQuery, Callback] | None:
    """Return the pressed button's query and its parsed data; None for anything else."""
    query = update.callback_query
    callback = parse(query.data) if query else None
    return None if query is None or callback is None else (query, callback)


async def answer_expired(query: CallbackQuery, tr: Translator) -> None:
    """Tell the presser that a button's offer is gone and the number must be sent again."""
    await query.answer(
        tr.gettext("This button is no longer valid: send the number again."), show_alert=True
    )


async def is_chat_admin(update: Update, context: BotContext) -> bool:
    """Tell whether the user is an administrator of the (group) chat; private chats: always."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return False
    if chat.type == Chat.PRIVATE:
        return True
    message = update.effective_message
    if (
        message is not None
        and message.sender_chat is not None
        and message.sender_chat.id == chat.id
    ):
        return True  # an anonymous admin writes as the group itself (Telegram hides who)
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError as err:
        logger.warning("cannot read membership in chat %s: %s", chat.id, err)
        return False
    return member.status in ADMIN_STATUSES


def parcel_name(view: SubscriptionView, tr: Translator) -> str:
    """Return how a sentence names a parcel: its number, and its label in quotes (escaped).

    Both: two parcels may share a label (an edit that replaced a number keeps the old one's).
    """
    number = html.escape(view.parcel.number)
    if view.label:
        label = html.escape(view.label, quote=False)
        return tr.gettext("{number} (“{label}”)").format(number=number, label=label)
    return number


def view_keyboard(context: BotContext, view: SubscriptionView) -> InlineKeyboardMarkup:
    """Return a subscription's card buttons; a current parcel's include "Share"."""
    tr = context.tr
    if view.archived:
        return card_keyboard(view.id, tr, archived=True)
    share = share_button(context.bot.username, view.parcel.number, tr)
    return card_keyboard(view.id, tr, share=share)


def matches_text(view: SubscriptionView, words: str, digits: str) -> bool:
    """Tell whether a parcel's label contains ``words`` (casefolded) or its number ``digits``.

    ``digits`` is the typed text normalized as a number ("" matches no number).
    """
    return words in (view.label or "").casefold() or bool(digits and digits in view.parcel.number)
