"""The status card's buttons, ``/list``, ``/archive`` and ``/stop``, checked against the chat."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime, timedelta

from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot.carriers.detect import normalize
from bot.context import BotContext
from bot.explain import outage_notes
from bot.formatting import render_history, short_status
from bot.handlers.common import (
    is_chat_admin,
    matches_text,
    parcel_name,
    pressed,
    reply,
    view_keyboard,
)
from bot.handlers.tracking import remember_card, render_card
from bot.i18n import Translator
from bot.keyboards import (
    ARCHIVE_PAGE,
    CARD,
    DELETE,
    HISTORY,
    RECEIVED,
    REFRESH,
    STOP,
    card_keyboard,
    list_keyboard,
    parse,
)
from bot.routing import client_of_key
from storage import WAITING_STATUSES, SubscriptionView

logger = logging.getLogger(__name__)


PAGE_SIZE = 10
MAX_QUERY = 100  # characters of a /list search that are used (and echoed back)
REFRESH_COOLDOWN = timedelta(seconds=60)  # per parcel: a button must not hammer a carrier


async def own_subscription(
    update: Update, context: BotContext, subscription_id: int
) -> SubscriptionView | None:
    """Return the subscription only if it belongs to the chat the update comes from."""
    chat = update.effective_chat
    view = await context.bot_data.storage.get_subscription(subscription_id)
    if view is None or chat is None or view.chat_id != chat.id:
        return None
    return view


async def may_stop(update: Update, context: BotContext, view: SubscriptionView) -> bool:
    """In groups only the person who added a parcel or a chat admin may stop it."""
    user = update.effective_user
    if user is not None and view.added_by in (None, user.id):
        return True
    return await is_chat_admin(update, context)


async def stop_from_button(update: Update, context: BotContext, view: SubscriptionView) -> None:
    """Stop following a parcel from a button, if the presser may; answer either way."""
    query = update.callback_query
    assert query is not None
    tr = context.tr
    if not await may_stop(update, context, view):
        refusal = (
            tr.gettext("Only the person who added this parcel or a chat admin can delete it.")
            if view.archived
            else tr.gettext("Only the person who added this parcel or a chat admin can stop it.")
        )
        await query.answer(refusal, show_alert=True)
        return
    await context.bot_data.storage.unsubscribe(view.id)
    await query.answer()
    text = (
        tr.gettext("Deleted {number} from the archive.")
        if view.archived
        else tr.gettext("Stopped tracking {number}.")
    )
    await reply(update, text.format(number=parcel_name(view, tr)))


async def card_button(update: Update, context: BotContext) -> None:
    """Handle the card, history, refresh, received, stop and delete-from-archive buttons."""
    query = update.callback_query
    if query is None:
        return
    tr = context.tr
    callback = parse(query.data)
    view = await own_subscription(update, context, callback.number) if callback else None
    if callback is None or view is None:
        # Stopped since (or never this chat's; it may be followed anew under another button).
        await query.answer(
            tr.gettext(
                "This button is out of date: open the parcel from /list, or send its number "
                "to follow it again."
            ),
            show_alert=True,
        )
        return
    parcels = context.bot_data.parcels
    if callback.action == CARD:
        await query.answer()
        card = await reply(
            update,
            render_card(view, await parcels.stored_lookup(view.parcel), tr),
            reply_markup=view_keyboard(context, view),
        )
        await remember_card(context, [view.id], card)
    elif callback.action == HISTORY:
        await query.answer()
        result = await parcels.stored_result(view.parcel)
        for chunk in render_history(result, tr):
            await reply(update, chunk)
    elif callback.action == STOP and view.archived:
        # An old push's Stop, or an archived card's 🗑 from before it had its own button:
        # deleting from the archive is asked for where the archive is shown.
        await query.answer(
            tr.gettext(
                "This parcel is already in the archive. To delete it, open it in /archive."
            ),
            show_alert=True,
        )
    elif callback.action == DELETE and not view.archived:
        # An old archived card's 🗑, of a parcel the chat follows again: not a Stop.
        await query.answer(
            tr.gettext("This parcel is no longer in the archive: the chat follows it again."),
            show_alert=True,
        )
    elif callback.action in (REFRESH, RECEIVED) and view.archived:
        # An old card's or push's button: the parcel is finished and no longer looked up.
        await query.answer(tr.gettext("This parcel is in the archive: I no longer track it."))
    elif callback.action == REFRESH:
        await _refresh(update, context, view)
    elif callback.action in (STOP, DELETE):  # Stop of a followed one, 🗑 of an archived one
        await stop_from_button(update, context, view)
    elif callback.action == RECEIVED:
        await _received(update, context, view)


async def _received(update: Update, context: BotContext, view: SubscriptionView) -> None:
    """Move a parcel the chat already has to the archive, before the carrier says delivered."""
    query = update.callback_query
    assert query is not None
    tr = context.tr
    if not await may_stop(update, context, view):
        await query.answer(
            tr.gettext("Only the person who added this parcel or a chat admin can archive it."),
            show_alert=True,
        )
        return
    await context.bot_data.storage.archive_subscription(view.id)
    await query.answer()
    try:  # the card now offers what an archived parcel's card offers
        await query.edit_message_reply_markup(card_keyboard(view.id, tr, archived=True))
    except BadRequest as err:
        logger.info("could not update the card's buttons: %s", err)
    await reply(
        update,
        tr.gettext("Moved {name} to the archive: I no longer track it. See /archive.").format(
            name=parcel_name(view, tr)
        ),
    )


async def _refresh(update: Update, context: BotContext, view: SubscriptionView) -> None:
    """Look the parcel up again unless it was checked moments ago, then update the card."""
    query = update.callback_query
    assert query is not None
    tr = context.tr
    parcels = context.bot_data.parcels
    checked = view.parcel.last_checked_at
    if checked is not None and datetime.now(UTC) - checked < REFRESH_COOLDOWN:
        await query.answer(tr.gettext("Checked less than a minute ago; showing the latest data."))
        lookup = await parcels.stored_lookup(view.parcel)
    else:
        await query.answer(tr.gettext("Checking…"))
        lookup = await parcels.check(view.parcel, notify=True, quiet_for=view.id)
    text = render_card(view, lookup, tr)
    try:
        await query.edit_message_text(text, reply_markup=view_keyboard(context, view))
    except BadRequest as err:
        # "message is not modified" when nothing changed; any other edit failure: send anew.
        if "not modified" not in str(err).lower():
            await reply(update, text, reply_markup=view_keyboard(context, view))


async def list_parcels(update: Update, context: BotContext) -> None:
    """Handle ``/list``: the chat's parcels, a page at a time; ``/list TEXT`` searches them."""
    if context.args:
        text, markup = await search_page(update, context, " ".join(context.args))
    else:
        text, markup = await _list_page(update, context, 0, archived=False)
    await reply(update, text, reply_markup=markup)


async def archive_parcels(update: Update, context: BotContext) -> None:
    """Handle ``/archive``: the chat's delivered and returned parcels, a page at a time."""
    text, markup = await _list_page(update, context, 0, archived=True)
    await reply(update, text, reply_markup=markup)


async def list_page(update: Update, context: BotContext) -> None:
    """Handle the page arrows of the list and of the archive."""
    button = pressed(update)
    if button is None:
        return
    query, callback = button
    await query.answer()
    archived = callback.action == ARCHIVE_PAGE
    text, markup = await _list_page(update, context, callback.number, archived=archived)
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as err:
        if "not modified" not in str(err).lower():
            raise


async def _list_page(
    update: Update, context: BotContext, page: int, *, archived: bool
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Render one page of the chat's parcels, or of its archive."""
    chat = update.effective_chat
    assert chat is not None
    tr = context.tr
    storage = context.bot_data.storage
    total = await storage.count_subscriptions(chat.id, archived=archived)
    if total == 0 and archived:
        return tr.gettext(
            "The archive is empty. Delivered and returned parcels move here a few days later."
        ), None
    if total == 0:
        return tr.gettext("This chat follows no parcels yet. Send me a tracking number."), None
    page = max(0, min(page, (total - 1) // PAGE_SIZE))
    views = await storage.list_subscriptions(
        chat.id, archived=archived, offset=page * PAGE_SIZE, limit=PAGE_SIZE
    )
    if archived:
        header = tr.ngettext(
            "The archive holds {count} parcel:", "The archive holds {count} parcels:", total
        )
    elif total > 1 and any(v.parcel.status in WAITING_STATUSES for v in views):
        # Storage lists these first: say so, or a parcel just added seems lost further down.
        header = tr.ngettext(
            "This chat follows {count} parcel; those waiting for you come first:",
            "This chat follows {count} parcels; those waiting for you come first:",
            total,
        )
    else:
        header = tr.ngettext(
            "This chat follows {count} parcel:", "This chat follows {count} parcels:", total
        )
    header = header.format(count=total)
    lines = [header, ""]
    lines += [list_entry(i, v, tr) for i, v in enumerate(views, start=page * PAGE_SIZE + 1)]
    if not archived:
        tracking = context.bot_data.parcels.tracking
        shown = {client_of_key(v.parcel.carrier) for v in views}
        # An outage is visible where its parcels are listed.
        lines += ["\n" + note for note in outage_notes(filter(tracking.paused, shown), tr)]
    rows = [(v.id, list_button(v, tr)) for v in views]
    has_next = (page + 1) * PAGE_SIZE < total
    markup = list_keyboard(rows, page, has_next, tr, archived=archived)
    return "\n".join(lines), markup


async def search_page(
    update: Update, context: BotContext, query: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Render the chat's parcels (the archive too) whose label or number contains the text."""
    chat = update.effective_chat
    assert chat is not None
    tr = context.tr
    storage = context.bot_data.storage
    query = " ".join(query.split())[:MAX_QUERY]
    words = query.casefold()
    digits = normalize(query) if any(ch.isdigit() for ch in query) else ""
    views = await storage.list_subscriptions(chat.id, archived=None, limit=10_000)
    found = [v for v in views if matches_text(v, words, digits)]
    shown_query = html.escape(query)
    if not found:
        return tr.gettext("None of this chat's parcels matches “{query}”.").format(
            query=shown_query
        ), None
    lines = [
        tr.ngettext(
            "{count} parcel matches “{query}”:", "{count} parcels match “{query}”:", len(found)
        ).format(count=len(found), query=shown_query),
        "",
    ]
    for index, view in enumerate(found[:PAGE_SIZE], start=1):
        entry = list_entry(index, view, tr)
        lines.append(entry + " " + tr.gettext("(archive)") if view.archived else entry)
    if len(found) > PAGE_SIZE:
        lines += [
            "",
            tr.gettext("Only the first {shown} are shown: add more of the name or number.").format(
                shown=PAGE_SIZE
            ),
        ]
    rows = [(v.id, list_button(v, tr)) for v in found[:PAGE_SIZE]]
    return "\n".join(lines), list_keyboard(rows, 0, False, tr)


def list_entry(index: int, view: SubscriptionView, tr: Translator) -> str:
    """Return one numbered line of a list: label, number and short status."""
    status = short_status(_known_status(view), tr)
    name = html.escape(view.label) + " · " if view.label else ""
    return f"{index}. {name}<code>{html.escape(view.parcel.number)}</code> — {status}"


def _known_status(view: SubscriptionView) -> str | None:
    """Return the parcel's stored status, or None while the carrier has given no event."""
    return view.parcel.status if view.parcel.last_event_at is not None else None


def list_button(view: SubscriptionView, tr: Translator) -> str:
    """Return a button caption: status emoji, then label or number."""
    status = short_status(_known_status(view), tr).split(" ", 1)[0]
    name = view.label or view.parcel.number
    return f"{status} {name}"[:60]


async def stop_number(update: Update, context: BotContext) -> None:
    """Handle ``/stop <number>``: stop following that number in this chat."""
    chat = update.effective_chat
    tr = context.tr
    if chat is None:
        return
    if not context.args:
        await reply(
            update,
            tr.gettext("Send /stop with the number to stop, or /stopall to stop every parcel."),
        )
        return
    typed = " ".join(context.args)[:200]
    number = normalize(typed)[:40]  # echoed back: keep it short
    storage = context.bot_data.storage
    views = await storage.list_subscriptions(chat.id, offset=0, limit=10_000)
    matching = [v for v in views if v.parcel.number == number]
    if not matching:
        # "/stop phone case": a parcel's label works too (/list finds parcels by label).
        by_label = [v for v in views if v.label and v.label.casefold() == typed.casefold()]
        if by_label:
            matching, number = by_label, by_label[0].parcel.number
    if not matching:
        await reply(
            update,
            tr.gettext("This chat does not follow {number}.").format(number=html.escape(number)),
        )
        return
    for view in matching:
        if not await may_stop(update, context, view):
            await reply(
                update,
                tr.gettext("Only the person who added this parcel or a chat admin can stop it."),
            )
            return
        await storage.unsubscribe(view.id)
    await reply(
        update, tr.gettext("Stopped tracking {number}.").format(number=html.escape(number))
    )
