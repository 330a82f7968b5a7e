"""Adding parcels: numbers in private messages, ``/track``, deep links and the carrier chooser."""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.carriers.detect import extract_numbers, normalize
from bot.carriers.errors import BudgetExhausted, CarrierError, ParcelNotFound
from bot.carriers.models import TrackingResult
from bot.context import BotContext
from bot.explain import detection_unavailable, explain
from bot.formatting import render_result, short_status
from bot.handlers.common import answer_expired, pressed, reply, view_keyboard
from bot.handlers.revisions import answer_edit, remember, settle
from bot.handlers.scan import offer_scanned, picture_of
from bot.i18n import Translator
from bot.keyboards import card_buttons, detect_keyboard, parse, pick_keyboard
from bot.parcels import Lookup, ParcelLimitReached
from bot.requests import ParsedMessage, Request, parse_message
from bot.routing import (
    Candidate,
    candidate_from_key,
    client_of_key,
    offline_candidates,
)
from bot.status_labels import carrier_name
from storage import SubscriptionView

logger = logging.getLogger(__name__)

MAX_CARD_BUTTONS = 10  # card buttons under a summary of several numbers
OVERDUE = timedelta(hours=1)  # a check this late is not coming: the card promises none

OFFERED_DETECTION = "offered_detection"  # chat memory: numbers a "🔎" button was shown for
MAX_OFFERED = 20  # the latest numbers offered per chat; older buttons stop working
CONCURRENT_LOOKUPS = 4
TYPING_DELAY = 1.0  # seconds before a slow answer shows "typing…"
LONG_TEXT = 500  # characters from which a message is parsed off the event loop


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one requested number."""

    request: Request
    view: SubscriptionView | None = None
    lookup: Lookup | None = None
    candidates: tuple[Candidate, ...] = ()  # several: the user must choose
    problem: str | None = None  # translated sentence when nothing was followed
    note: str | None = None  # translated sentence shown with the card (a label kept)


async def parse_text(text: str, limit: int) -> ParsedMessage:
    """Parse a message; a long one in a worker thread, so other chats' updates go on meanwhile.

    Reading a few thousand characters of printed groups can take a tenth of a second.
    """
    if len(text) <= LONG_TEXT:
        return parse_message(text, limit)
    return await asyncio.to_thread(parse_message, text, limit)


async def track_text(update: Update, context: BotContext) -> None:
    """Handle plain text in a private chat: follow every number it contains."""
    message = update.effective_message
    if message is None or not message.text:
        return
    if message.via_bot is not None and message.via_bot.id == context.bot.id:
        return  # a card the user posted through our inline mode: not a request
    parsed = await parse_text(message.text, context.bot_data.settings.max_numbers_per_message)
    edited = update.edited_message is not None
    await handle_parsed(update, context, parsed, hint_when_empty=not edited)


async def track_command(update: Update, context: BotContext) -> None:
    """Handle ``/track <number> [label]``, or ``/track`` as a reply to a message with numbers."""
    message = update.effective_message
    if message is None:
        return
    # The text after the command keeps its line breaks (context.args would lose them): each
    # line's number keeps its own label, and lines are read as lines.
    parts = (message.text or "").split(maxsplit=1)
    text = parts[1] if len(parts) > 1 else ""
    edited = update.edited_message is not None
    if edited and not text.strip():
        return  # the usage text, or a photo's scan, was answered to the message before
    if not text.strip() and message.reply_to_message:
        replied = message.reply_to_message
        text = replied.text or replied.caption or ""
        picture = picture_of(replied)
        if picture is not None and not extract_numbers(text):
            await offer_scanned(update, context, picture)  # /track replying to a label's photo
            return
    if not text.strip():
        remember(update, context)  # an edit that adds a number is news
        await reply(
            update,
            context.tr.gettext(
                "Send /track with a tracking number, e.g. /track RA067022855UA, "
                "or reply /track to a message that contains numbers or to a photo of a label."
            ),
        )
        return
    parsed = await parse_text(text, context.bot_data.settings.max_numbers_per_message)
    await handle_parsed(update, context, parsed, hint_when_empty=False)


async def track_deep_link(update: Update, context: BotContext, payload: str) -> None:
    """Follow the number carried by a ``/start <number>`` link.

    A number the bot already tracks with one carrier (e.g. shared from an inline card, maybe
    found by online detection or picked from a chooser) is followed with that carrier at once.
    """
    chat, user = update.effective_chat, update.effective_user
    storage = context.bot_data.storage
    number = normalize(payload)[:40]
    stored = await storage.parcels_by_number(number) if number else []
    views = await storage.subscriptions_by_numbers(chat.id, [number]) if chat and number else []
    # A shared link may be someone's first contact with the bot: say what just happened.
    intro = (
        context.tr.gettext("You already follow this parcel.")
        if any(not view.archived for view in views)
        else context.tr.gettext(
            "You now follow this parcel: I will write when its status changes. "
            "/help shows what I can do."
        )
    )
    if chat is not None and len({p.carrier for p in stored}) == 1:
        candidate = candidate_from_key(stored[0].carrier)
        outcome = await follow_candidate(
            context, chat.id, user.id if user else None, Request(number), candidate
        )
        await _reply_single(update, context, outcome, intro=intro)
        return
    parsed = parse_message(payload, 1)
    await handle_parsed(update, context, parsed, hint_when_empty=False, intro=intro)


async def handle_parsed(
    update: Update,
    context: BotContext,
    parsed: ParsedMessage,
    *,
    hint_when_empty: bool,
    intro: str | None = None,
) -> list[Outcome]:
    """Follow the parsed requests, answer with one card or one summary; return the outcomes.

    ``intro`` opens a single card (a followed deep link says so).

    An edit of a message answered before is answered only for what it changed (a corrected
    number, a new label), and not at all when it changed neither (bot/handlers/revisions.py).
    """
    tr = context.tr
    _ = tr.gettext
    # The labels as asked: a group may keep an owner's label instead, but the edit memory
    # keeps what this version of the message asked for.
    asked = {request.number: request.label for request in parsed.requests}
    settled = await settle(update, context, parsed)
    parsed, notes = settled.parsed, settled.notes
    if update.edited_message is not None:
        await answer_edit(update, context, settled)
        if not parsed.requests and not parsed.rejected:
            return []  # the edit asks for nothing else that was not answered before
    if not parsed.requests:
        remember(update, context, rejected=parsed.rejected)
        askable = await _askable(context, parsed.rejected)
        if askable:
            # Offered numbers (and their labels) are remembered, the latest few only: a forged
            # button must not spend the quota.
            offered = context.chat_memory.setdefault(OFFERED_DETECTION, {})
            for number in askable:
                offered.pop(number, None)
                offered[number] = parsed.rejected_labels.get(number)
            for stale in list(offered)[:-MAX_OFFERED]:
                del offered[stale]
            offer = tr.ngettext(
                "I do not know this number's format, but the carrier detection service may. "
                "Ask it? (It allows a limited number of new numbers a day.)",
                "I do not know these numbers' format, but the carrier detection service may. "
                "Ask it? (It allows a limited number of new numbers a day.)",
                len(askable),
            )
            text = invalid_number_text(tr) + "\n\n" + offer
            await reply(update, text, reply_markup=detect_keyboard(askable))
        elif parsed.rejected or not hint_when_empty:
            await reply(update, invalid_number_text(tr))
        else:
            await reply(update, _("Send me a tracking number, and I will find the parcel."))
        return []
    chat = update.effective_chat
    semaphore = asyncio.Semaphore(CONCURRENT_LOOKUPS)

    async def one(request: Request) -> Outcome:
        async with semaphore:
            outcome = await _follow(update, context, request)
        note = notes.get(request.number)
        return replace(outcome, note=note) if note and outcome.view is not None else outcome

    # "typing…" only when the carriers are slow: a fast answer needs no indicator, and every
    # Bot API call counts against Telegram's ~30 messages/s.
    typing = asyncio.create_task(_typing_after(context, chat.id if chat else None))
    try:
        results = await asyncio.gather(*(one(r) for r in parsed.requests), return_exceptions=True)
    finally:
        typing.cancel()
    outcomes = [r for r in results if isinstance(r, Outcome)]

    def as_asked(outcome: Outcome) -> Request:
        return Request(outcome.request.number, asked[outcome.request.number])

    # What this version was answered with, even if one number failed (its error is raised).
    remember(
        update,
        context,
        [as_asked(o) for o in outcomes if o.view is not None],
        parsed.rejected,
        [as_asked(o) for o in outcomes if o.candidates],
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    if len(outcomes) == 1 and not parsed.overflow and not parsed.rejected:
        await _reply_single(update, context, outcomes[0], intro=intro)
    else:
        await _reply_summary(update, context, outcomes, parsed.overflow, parsed.rejected)
    return outcomes


async def _typing_after(context: BotContext, chat_id: int | None) -> None:
    """Show "typing…" if the answer takes longer than a moment."""
    if chat_id is None:
        return
    await asyncio.sleep(TYPING_DELAY)
    try:
        await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
    except TelegramError as err:
        logger.debug("typing indicator failed: %s", err)


async def _askable(context: BotContext, rejected: tuple[str, ...]) -> list[str]:
    """Return the unknown numbers the online detector could identify (up to 3), if it can."""
    numbers = dict.fromkeys(normalize(token) for token in rejected)
    tracking = context.bot_data.parcels.tracking
    askable = [n for n in numbers if tracking.may_detect_online(n)][:3]
    if not askable:
        return []
    if await context.bot_data.budget.remaining() == 0:
        return []  # today's new numbers are used up: a button could only disappoint
    return askable


async def detect_online(update: Update, context: BotContext) -> None:
    """Handle "ask the detection service" for a number this chat was offered it for."""
    button = pressed(update)
    if button is None:
        return
    query, callback = button
    tr = context.tr
    number = callback.argument
    offered = context.chat_memory.get(OFFERED_DETECTION, {})
    if number not in offered:
        await answer_expired(query, tr)
        return
    label = offered.pop(number)  # one question, one detection: a second press is refused
    try:
        await query.answer()
        unknown = tr.gettext("The carrier detection service does not know {number} either.")
        outcome = await _follow(
            update,
            context,
            Request(number, label),
            unknown=unknown.format(number=html.escape(number)),
        )
    except BaseException:
        offered[number] = label  # nothing came of the press: the button still works
        raise
    await _reply_single(update, context, outcome)


async def _follow(
    update: Update, context: BotContext, request: Request, *, unknown: str | None = None
) -> Outcome:
    """Resolve one number and follow it, unless the user must choose the carrier first.

    ``unknown`` is the answer when no carrier matches (by default: which numbers are valid).
    """
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None  # handlers are registered for chat updates only
    parcels = context.bot_data.parcels
    tr = context.tr
    resolution = await parcels.resolve(chat.id, request.number)
    if resolution.undetected:  # only set when no candidate was found
        number = html.escape(resolution.number)
        if isinstance(resolution.detection_error, BudgetExhausted):
            problem = tr.gettext(
                "Today's quota of the carrier detection service is used up: please send "
                "{number} again tomorrow."
            ).format(number=number)
        else:
            problem = detection_unavailable(number, tr)
        return Outcome(request, problem=problem)
    if not resolution.candidates:
        return Outcome(request, problem=unknown or invalid_number_text(tr))
    if resolution.ambiguous:
        context.chat_memory.setdefault("labels", {})[resolution.number] = request.label
        return Outcome(request, candidates=resolution.candidates)
    return await follow_candidate(
        context, chat.id, user.id if user else None, request, resolution.candidates[0]
    )


async def follow_candidate(
    context: BotContext, chat_id: int, user_id: int | None, request: Request, candidate: Candidate
) -> Outcome:
    """Follow a number with a chosen carrier; failures become a translated problem."""
    tr = context.tr
    try:
        view, lookup = await context.bot_data.parcels.follow(
            chat_id, user_id, request.number, candidate, request.label
        )
    except ParcelLimitReached:
        limit = context.bot_data.settings.max_parcels_per_chat
        return Outcome(
            request,
            problem=tr.ngettext(
                "This chat already follows {count} parcel, the most I allow. Stop one with /list.",
                "This chat already follows {count} parcels, the most I allow. "
                "Stop one with /list.",
                limit,
            ).format(count=limit),
        )
    except CarrierError as err:
        return Outcome(request, problem=explain(err, request.number, tr))
    return Outcome(request, view, lookup)


def invalid_number_text(tr: Translator) -> str:
    """Explain which numbers the bot accepts."""
    return tr.gettext(
        "That does not look like a tracking number I know. I accept, for example:\n"
        "• Ukrposhta: 13 digits (0500100031143) or RA067022855UA\n"
        "• Nova Poshta: 14 digits starting with 20 or 59\n"
        "• InPost: 24 digits\n"
        "• international numbers like LM951174328CN, UPS 1Z…, DHL, FedEx, USPS, DPD\n"
        "Check the number for typos: a wrong check digit means it was mistyped."
    )


def render_card(
    view: SubscriptionView,
    lookup: Lookup,
    tr: Translator,
    now: datetime | None = None,
    *,
    schedule: bool = True,
) -> str:
    """Render a subscription's status card, with a note when the lookup failed.

    A followed parcel's card ends with when it was checked and will be next ("is the bot
    still watching it?"), unless ``schedule`` is off (a snapshot posted in another chat).
    """
    _ = tr.gettext
    blocks: list[str] = []
    courier = courier_title(view.parcel.carrier, view.parcel.number, lookup.result, tr)
    if lookup.result is not None:
        result = lookup.result
        if view.archived:  # collected: when storage would cost money no longer matters
            extras = {k: v for k, v in result.extras.items() if k != "paid_storage_from"}
            result = replace(result, extras=extras)
        blocks.append(render_result(result, tr, label=view.label, carrier=courier))
    else:
        name = html.escape(courier or carrier_name(client_of_key(lookup.parcel.carrier), _))
        title = f"{name} · <b>{html.escape(view.parcel.number)}</b>"
        if view.label:
            title += "\n" + _("Label: {label}").format(label=html.escape(view.label))
        blocks.append(title)
    if view.archived:
        blocks.append(_("This parcel is in the archive: I no longer track it."))
    elif lookup.error is not None:  # an archived parcel is not checked: no "I keep trying"
        note = explain(lookup.error, view.parcel.number, tr)
        if isinstance(lookup.error, ParcelNotFound):
            note += " " + _("I will keep checking and write when it appears.")
        elif isinstance(lookup.error, BudgetExhausted):
            note += " " + _("The parcel is saved.")  # the note already says when
        else:
            note += " " + _("The parcel is saved; I will keep trying.")
        blocks.append(note)
    when = _schedule_line(lookup, tr, now or datetime.now(UTC))
    if schedule and not view.archived and when:
        blocks.append(f"<i>{when}</i>")
    return "\n\n".join(blocks)


def _schedule_line(lookup: Lookup, tr: Translator, now: datetime) -> str | None:
    """Say when the parcel was checked and will be next; None before its first check."""
    _ = tr.gettext
    checked, due = lookup.parcel.last_checked_at, lookup.parcel.next_check_at
    if checked is None or due is None:
        return None
    # Our own quota made no request: nothing failed, the next check waits for the new day.
    failed = lookup.parcel.last_error and not isinstance(lookup.error, BudgetExhausted)
    if due < now - OVERDUE:  # not asked on time (a carrier switched off): promise nothing
        line = _("Checked {checked} (Kyiv time).")
    elif failed and due <= now:
        line = _("Last attempt {checked} failed; next try any minute now (Kyiv time).")
    elif failed:
        line = _("Last attempt {checked} failed; next try about {next} (Kyiv time).")
    elif due <= now:
        line = _("Checked {checked}; next check any minute now (Kyiv time).")
    else:
        line = _("Checked {checked}, next check about {next} (Kyiv time).")
    return line.format(checked=tr.when(checked, now), next=tr.when(max(due, now), now))


def courier_title(
    key: str, number: str, result: TrackingResult | None, tr: Translator
) -> str | None:
    """Name the courier a service tracks a parcel with ("UPS via GdePosylka"), if known.

    The user picked the courier (or a detector named it): the card says so, not only the
    service that asks it. Offline rules name it in the reader's language; else the service's.
    """
    client, _sep, courier = key.partition("/")
    if not courier:
        return None
    offline = {c.courier: c.carrier for c in offline_candidates(number) if c.courier}
    name = carrier_name(offline[courier], tr.gettext) if courier in offline else None
    if name is None and result is not None:
        name = result.extras.get("courier_name")
    if not name:
        return None
    return tr.gettext("{courier} via {service}").format(
        courier=name, service=carrier_name(client, tr.gettext)
    )


async def _reply_single(
    update: Update, context: BotContext, outcome: Outcome, *, intro: str | None = None
) -> None:
    """Answer one number: its card (after ``intro``), the carrier chooser, or the problem."""
    tr = context.tr
    if outcome.candidates:
        await reply(
            update,
            tr.gettext("{number} could belong to several carriers. Which one is it?").format(
                number=outcome.request.number
            ),
            reply_markup=InlineKeyboardMarkup(
                pick_keyboard(outcome.request.number, outcome.candidates, tr)
            ),
        )
    elif outcome.view is not None and outcome.lookup is not None:
        text = render_card(outcome.view, outcome.lookup, tr)
        card = await reply(
            update,
            "\n\n".join(filter(None, [intro, text, outcome.note])),
            reply_markup=view_keyboard(context, outcome.view),
        )
        await remember_card(context, [outcome.view.id], card)
    else:
        await reply(update, outcome.problem or invalid_number_text(tr))


async def _reply_summary(
    update: Update,
    context: BotContext,
    outcomes: list[Outcome],
    overflow: int,
    rejected: tuple[str, ...] = (),
) -> None:
    """Answer several numbers with one message: a line each, choosers as buttons."""
    tr = context.tr
    _ = tr.gettext
    looked_at = len(outcomes) + len(rejected)  # every line below names one number
    lines = [
        tr.ngettext(
            "I looked at {count} number:", "I looked at {count} numbers:", looked_at
        ).format(count=looked_at)
    ]
    buttons = []
    for outcome in outcomes:
        number = f"<code>{outcome.request.number}</code>"
        if outcome.view is not None and outcome.lookup is not None:
            status = _summary_status(outcome.lookup, outcome.request.number, tr)
            label = (
                f" ({html.escape(outcome.view.label, quote=False)})" if outcome.view.label else ""
            )
            lines.append(f"• {number}{label}: {status}")
        elif outcome.candidates:
            lines.append(f"• {number}: " + _("choose the carrier below"))
            buttons.extend(pick_keyboard(outcome.request.number, outcome.candidates, tr))
        else:
            lines.append(f"• {number}: {outcome.problem}")
    invalid = _("not a valid tracking number: check it for typos")
    lines += [f"• <code>{html.escape(token)}</code>: {invalid}" for token in rejected]
    if overflow:
        lines.append(
            tr.ngettext(
                "{count} more number was not processed: send at most {limit} at a time.",
                "{count} more numbers were not processed: send at most {limit} at a time.",
                overflow,
            ).format(count=overflow, limit=context.bot_data.settings.max_numbers_per_message)
        )
    lines += dict.fromkeys(o.note for o in outcomes if o.note)  # each note once
    # A card a tap away for each followed parcel (two a row; the first few of a long paste).
    cards = [(o.view.id, o.view.label, o.view.parcel.number) for o in outcomes if o.view]
    buttons.extend(card_buttons(cards[:MAX_CARD_BUTTONS]))
    lines.append(
        _("Tap a parcel below to open it, or see them all with /list.")
        if cards
        else _("Open any parcel with /list.")
    )
    summary = await reply(
        update, "\n".join(lines), reply_markup=InlineKeyboardMarkup(buttons) if buttons else None
    )
    await remember_card(context, [o.view.id for o in outcomes if o.view is not None], summary)


def _summary_status(lookup: Lookup, number: str, tr: Translator) -> str:
    """Return a followed parcel's short status, or why there is none yet (as its card says)."""
    if lookup.result is not None and lookup.result.events:
        return short_status(str(lookup.result.status), tr)
    text = short_status(None, tr)
    # A carrier that has no record yet (or is collecting it) is what "no data yet" means; a
    # failure (not answering, a used-up quota) is worth its reason, as on the single card.
    if lookup.error is not None and not isinstance(lookup.error, ParcelNotFound):
        text += ". " + explain(lookup.error, number, tr)
    return text


async def remember_card(context: BotContext, sub_ids: list[int], message: Message | None) -> None:
    """Make the message that showed these parcels the one their pushes reply to."""
    if message is not None and sub_ids:
        await context.bot_data.storage.set_card_message(sub_ids, message.message_id)


async def pick_carrier(update: Update, context: BotContext) -> None:
    """Handle a carrier chosen for an ambiguous number: remember it and follow the parcel."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    callback = parse(query.data)
    tr = context.tr
    if callback is None:
        await query.answer(tr.gettext("This button is no longer valid."))
        return
    index_text, _sep, number = callback.argument.partition(":")
    # Only a number this chat was shown a chooser for may cost an online detection: forged
    # buttons must not spend GdePosylka's quota.
    offered = number in context.chat_memory.get("labels", {})
    resolution = await context.bot_data.parcels.tracking.resolve(number, online=offered)
    index = int(index_text)
    if index >= len(resolution.candidates):
        await query.answer(tr.gettext("This button is no longer valid."))
        return
    await query.answer()
    try:  # the question is answered: its buttons go, so it cannot be answered twice
        await query.edit_message_reply_markup(None)
    except TelegramError as err:
        logger.info("could not remove the carrier chooser's buttons: %s", err)
    candidate = resolution.candidates[index]
    storage = context.bot_data.storage
    await storage.remember_pick(chat.id, resolution.number, candidate.carrier)
    # Another chooser for the number (an edit sent one) may have been answered already: the
    # chat changes its mind, it does not follow the number twice.
    earlier = [
        view
        for view in await storage.subscriptions_by_numbers(chat.id, [resolution.number])
        if not view.archived
    ]
    label = context.chat_memory.get("labels", {}).pop(resolution.number, None)
    if label is None and earlier:
        label = earlier[0].label
    user = update.effective_user
    outcome = await follow_candidate(
        context, chat.id, user.id if user else None, Request(resolution.number, label), candidate
    )
    if outcome.view is not None:
        for view in earlier:
            if view.id != outcome.view.id:
                await storage.unsubscribe(view.id)
    await _reply_single(update, context, outcome)
