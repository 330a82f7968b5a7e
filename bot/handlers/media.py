"""Private messages without text (captions, pictures, other media); scanned numbers' buttons."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError

from bot.context import BotContext
from bot.handlers.common import answer_expired, pressed, reply
from bot.handlers.scan import (
    ANSWERED,
    CAPTIONED,
    album_state,
    mark_album,
    offer_scanned,
    picture_of,
)
from bot.handlers.tracking import handle_parsed, parse_text
from bot.keyboards import ALL_SCANNED, parse
from bot.requests import ParsedMessage, Request, parse_message

logger = logging.getLogger(__name__)


async def track_media(update: Update, context: BotContext) -> None:
    """Handle a private message without text: its caption's numbers, its barcodes, or a hint."""
    message = update.effective_message
    if message is None:
        return
    if message.caption:
        limit = context.bot_data.settings.max_numbers_per_message
        parsed = await parse_text(message.caption, limit)
        if parsed.requests or parsed.rejected:
            mark_album(context, message.media_group_id, CAPTIONED)
            await handle_parsed(update, context, parsed, hint_when_empty=True)
            return
    picture = picture_of(message)
    if picture is not None:
        await offer_scanned(update, context, picture, album=message.media_group_id)
    elif album_state(context, message.media_group_id) is None:
        mark_album(context, message.media_group_id, ANSWERED)  # one answer per album
        await reply(
            update, context.tr.gettext("Send me a tracking number, and I will find the parcel.")
        )


async def follow_scanned(update: Update, context: BotContext) -> None:
    """Handle a "follow" button under numbers read from a picture."""
    button = pressed(update)
    if button is None:
        return
    query, callback = button
    message = query.message
    offer = message if isinstance(message, Message) and message.is_accessible else None
    if offer is None:  # too old for Telegram to show the offer: no place for the answer
        await answer_expired(query, context.tr)
        return
    if callback.argument == ALL_SCANNED:  # the offer lists its numbers
        parsed = parse_message(offer.text or "", context.bot_data.settings.max_numbers_per_message)
    else:
        parsed = parse_message(callback.argument, 1)
    await query.answer()
    requests = tuple(Request(r.number) for r in parsed.requests)  # no labels from the offer
    outcomes = await handle_parsed(update, context, ParsedMessage(requests), hint_when_empty=False)
    followed = {outcome.request.number for outcome in outcomes if outcome.view is not None}
    if followed:
        await _drop_buttons(offer, followed)


async def _drop_buttons(offer: Message, followed: set[str]) -> None:
    """Remove the buttons of followed numbers (and "all" once one is left) from the offer."""
    markup = offer.reply_markup
    if markup is None:
        return
    rows = markup.inline_keyboard
    left = [row for row in rows if _argument(row) not in {ALL_SCANNED, *followed}]
    if len(left) > 1:
        left += [row for row in rows if _argument(row) == ALL_SCANNED]
    try:
        await offer.edit_reply_markup(reply_markup=InlineKeyboardMarkup(left) if left else None)
    except TelegramError as err:  # e.g. "message is not modified" after a double press
        logger.debug("offer buttons not updated: %s", err)


def _argument(row: Sequence[InlineKeyboardButton]) -> str:
    """Return the argument of a row's first button ("all" or a number)."""
    callback = parse(str(row[0].callback_data)) if row else None
    return callback.argument if callback else ""
