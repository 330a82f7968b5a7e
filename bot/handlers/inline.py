"""Inline mode: ``@bot`` in any chat lists the user's parcels; picking one posts its card."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode

from bot.carriers.detect import normalize
from bot.context import BotContext
from bot.formatting import short_status
from bot.handlers.common import matches_text, user_language
from bot.handlers.tracking import render_card
from bot.keyboards import track_link
from bot.parcels import Lookup

RESULTS_PER_PAGE = 20  # Telegram shows at most 50 results per answer
INLINE_START = "inline"  # the /start parameter of the "no parcels yet" button
CACHE_SECONDS = 30  # personal results: short, so a new status shows soon


async def inline_parcels(update: Update, context: BotContext) -> None:
    """Answer an inline query with the asker's own parcels, filtered by the typed text.

    Only the parcels of the user's private chat with the bot are listed (a group's parcels
    belong to the group), from storage: typing never triggers a carrier request.
    """
    query = update.inline_query
    if query is None:
        return
    storage = context.bot_data.storage
    chat = await storage.get_chat(query.from_user.id)
    settings = context.bot_data.settings
    language = chat.language if chat is not None else user_language(update, context)
    tr = context.bot_data.catalogs.get(language)
    typed = query.query.strip()[:64]
    wanted, as_number = typed.casefold(), normalize(typed)  # "0500 1000 3114 3" finds it too
    views = await storage.list_subscriptions(
        query.from_user.id, offset=0, limit=settings.max_parcels_per_chat
    )
    matching = [v for v in views if matches_text(v, wanted, as_number)]
    start = int(query.offset) if query.offset.isascii() and query.offset.isdigit() else 0
    page = matching[start : start + RESULTS_PER_PAGE]
    results = await context.bot_data.parcels.stored_results([v.parcel for v in page])
    articles = [
        InlineQueryResultArticle(
            id=str(view.id),
            title=view.label or view.parcel.number,
            description=f"{short_status(view.parcel.status, tr)} · {view.parcel.number}",
            # A card stays far below Telegram's 4096 characters: five events, and every
            # carrier text (places, descriptions, route, pickup point) cut at 200 characters.
            input_message_content=InputTextMessageContent(
                render_card(
                    view, Lookup(view.parcel, results[view.parcel.id], None), tr, schedule=False
                ),
                parse_mode=ParseMode.HTML,
            ),
            # Whoever reads the card in that chat can follow the parcel with one tap (a deep
            # link: /start NUMBER; numbers are letters and digits, as deep links require).
            reply_markup=InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            tr.gettext("➕ Track it too"),
                            url=track_link(context.bot.username, view.parcel.number),
                        )
                    ]
                ]
            ),
        )
        for view in page
    ]
    more = start + RESULTS_PER_PAGE < len(matching)
    button = (
        InlineQueryResultsButton(
            tr.gettext("You follow no parcels yet: add one"), start_parameter=INLINE_START
        )
        if not views
        else None
    )
    await query.answer(
        articles,
        cache_time=CACHE_SECONDS,
        is_personal=True,
        next_offset=str(start + RESULTS_PER_PAGE) if more else "",
        button=button,
    )
