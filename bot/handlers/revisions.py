"""What a message may still ask for: an edit only what it changed, a group member no relabel."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ApplicationHandlerStop, filters

from bot.carriers.detect import normalize
from bot.context import BotContext
from bot.handlers.common import is_chat_admin, is_private, parcel_name, reply
from bot.keyboards import stop_buttons
from bot.requests import ParsedMessage, Request
from storage import SubscriptionView

ANSWERED_EDIT = filters.UpdateType.EDITED_MESSAGE & (
    (filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND)
    | filters.Regex(r"(?i)^/track(@\w+)?(\s|$)")  # CommandHandler ignores the command's case
)
ANSWERED = "answered_messages"  # chat memory: message id → what its versions were answered
FORGOTTEN_AT = "forgotten_at"  # chat memory: when the chat last used /forget
MAX_ANSWERED = 20  # messages remembered per chat …
ANSWERED_FOR = timedelta(days=2)  # … for this long; older edits are judged by storage
# A chat stored this long after a message was sent was stored anew since: the message is from
# before a /forget (Telegram's clock and ours may differ by seconds).
REGISTERED_AFTER = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Answered:
    """What a message's versions were answered with: followed numbers' labels, typos named.

    ``offered``: numbers answered with a carrier chooser, by label (followed once picked).
    """

    sent_at: datetime
    labels: dict[str, str | None]
    rejected: frozenset[str]
    offered: dict[str, str | None]


@dataclass(frozen=True, slots=True)
class Settled:
    """The part of a message left to answer, and notes for labels that were kept.

    An edit's relabels need no card: ``relabels`` are followed parcels it renames, ``refused``
    the numbers whose label a group member may not change, ``stopped`` the numbers it relabels
    that the chat no longer follows; ``removed`` the followed parcels whose numbers it took out
    (all four answered with a line each by ``answer_edit``); ``skipped`` the numbers left
    alone because the chat follows (or archived) them as asked.
    """

    parsed: ParsedMessage
    notes: dict[str, str]
    relabels: tuple[tuple[SubscriptionView, str], ...] = ()
    refused: tuple[Request, ...] = ()
    stopped: tuple[Request, ...] = ()
    removed: tuple[SubscriptionView, ...] = ()
    skipped: tuple[Request, ...] = ()


async def settle(update: Update, context: BotContext, parsed: ParsedMessage) -> Settled:
    """Return what is left to answer of a parsed message (new or edited).

    An edit is compared with what the message's earlier versions were answered with: only
    numbers it added or relabelled, and mistyped numbers it added, are answered. An edit never
    brings back a parcel the chat stopped or archived since (relabelling it in the old message
    included), nor anything after the chat used /forget. When the earlier versions are no
    longer remembered (a restart, an old message), numbers the chat follows under the same
    label count as answered, and archived ones stay archived. In a group, a member who neither
    added a parcel nor is an admin cannot relabel it by sending its number again (as with the
    Rename button): the label is kept. A number an edit took out is still followed (it may
    have been sent again elsewhere): the answer offers to stop it.
    """
    message, chat = update.effective_message, update.effective_chat
    edited = update.edited_message is not None
    before = _answered(context, message.message_id) if edited and message else None
    requests, rejected = parsed.requests, parsed.rejected
    asked = {r.number for r in requests}
    # Numbers over the message's cap are not parsed: nothing can be said to be taken out then.
    complete = before is not None and not parsed.overflow
    gone = [n for n in before.labels if n not in asked] if complete and before else []
    if before is not None:
        requests = tuple(
            r
            for r in requests
            if not (_asked_before(r, before.labels) or _asked_before(r, before.offered))
        )
        rejected = tuple(t for t in rejected if normalize(t) not in before.rejected)
    sorter = _Sorter(update, context, before)
    if chat is not None and (requests or gone) and (sorter.in_group or edited):
        views = await context.bot_data.storage.subscriptions_by_numbers(
            chat.id, [*(r.number for r in requests), *gone]
        )
        followed: dict[str, SubscriptionView] = {}
        for each in views:  # a number followed with one carrier, archived with another
            if each.parcel.number not in followed or followed[each.parcel.number].archived:
                followed[each.parcel.number] = each
        for number in gone:
            await sorter.taken_out(followed.get(number))
        for request in requests:
            await sorter.sort(request, followed.get(request.number))
        requests = tuple(sorter.left)
    if requests != parsed.requests or rejected != parsed.rejected:
        parsed = replace(parsed, requests=requests, rejected=rejected)
    return sorter.settled(parsed)


class _Sorter:
    """Sort a message's requests into what to follow and what an edit answers with a line."""

    def __init__(self, update: Update, context: BotContext, before: Answered | None) -> None:
        self.update, self.context, self.before = update, context, before
        self.edited = update.edited_message is not None
        self.in_group = not is_private(update)
        user = update.effective_user
        self.user_id = user.id if user else None
        self._admin: bool | None = None  # asked of Telegram once, and only when needed
        self.left: list[Request] = []
        self.notes: dict[str, str] = {}
        self.relabels: list[tuple[SubscriptionView, str]] = []
        self.refused: list[Request] = []
        self.stopped: list[Request] = []
        self.removed: list[SubscriptionView] = []
        self.skipped: list[Request] = []  # answered before, or by what the chat follows

    async def may_change(self, view: SubscriptionView) -> bool:
        """Tell whether the sender may relabel or stop a parcel (in a group: its adder, admins)."""
        if not self.in_group or view.added_by in (None, self.user_id):
            return True
        if self._admin is None:
            self._admin = await is_chat_admin(self.update, self.context)
        return self._admin

    async def taken_out(self, view: SubscriptionView | None) -> None:
        """Offer to stop a followed parcel an edit took out, to whoever may stop it."""
        if view is not None and not view.archived and await self.may_change(view):
            self.removed.append(view)

    async def sort(self, request: Request, view: SubscriptionView | None) -> None:
        """Put one request where it belongs."""
        if self.edited and _gone_or_answered(request, view, self.before):
            if view is None or not _same_label(request.label, view.label):
                self.stopped.append(request)  # a new label for a parcel no longer followed
            else:
                self.skipped.append(request)
        elif view is None or request.label in (None, view.label):
            self.left.append(request)
        elif not await self.may_change(view):
            self._keep_label(request, view)
        elif self.edited and request.label and not view.archived:
            self.relabels.append((view, request.label))
        else:
            self.left.append(request)

    def _keep_label(self, request: Request, view: SubscriptionView) -> None:
        """A group member asked for another's parcel under a new label: the label stays."""
        if _same_label(request.label, view.label):  # only the case differs: not worth a word
            if self.edited:
                self.skipped.append(request)
            else:
                self.left.append(Request(request.number))
        elif self.edited:
            self.refused.append(request)
        else:
            self.notes[request.number] = _keeps_label(self.context, request.number)
            self.left.append(Request(request.number))

    def settled(self, parsed: ParsedMessage) -> Settled:
        """Return the result."""
        return Settled(
            parsed,
            self.notes,
            tuple(self.relabels),
            tuple(self.refused),
            tuple(self.stopped),
            tuple(self.removed),
            tuple(self.skipped),
        )


async def answer_edit(update: Update, context: BotContext, settled: Settled) -> None:
    """Rename what an edit relabelled and say so in one message, with what it could not do.

    The chat has the parcel's card already: a line is enough. A number taken out of the
    message gets a Stop button. What is said here counts as answered, so a later edit of
    another line does not say it again.
    """
    tr = context.tr
    storage = context.bot_data.storage
    lines: list[str] = []
    for view, label in settled.relabels:
        await storage.rename_subscription(view.id, label)
        lines.append(
            tr.gettext("Renamed {number} to “{label}”.").format(
                number=html.escape(view.parcel.number), label=html.escape(label)
            )
        )
    lines.extend(html.escape(_keeps_label(context, r.number)) for r in settled.refused)
    no_longer = (
        tr.gettext(
            "This chat no longer follows {number}, so its new label is not saved. Send the "
            "number in a new message to follow it again."
        )
        if not is_private(update)
        else tr.gettext(
            "You no longer follow {number}, so its new label is not saved. Send the number "
            "in a new message to follow it again."
        )
    )
    lines.extend(no_longer.format(number=html.escape(r.number)) for r in settled.stopped)
    lines.extend(
        tr.gettext(
            "{number} is no longer in your message, but I still follow it. Stop it?"
        ).format(number=parcel_name(view, tr))
        for view in settled.removed
    )
    answered = [Request(view.parcel.number, label) for view, label in settled.relabels]
    answered += [*settled.refused, *settled.stopped, *settled.skipped]
    taken_out = [view.parcel.number for view in settled.removed]
    remember(update, context, answered, removed=taken_out)
    if not lines:
        return
    buttons = stop_buttons([(v.id, v.label, v.parcel.number) for v in settled.removed], tr)
    await reply(
        update, "\n".join(lines), reply_markup=InlineKeyboardMarkup(buttons) if buttons else None
    )


def _keeps_label(context: BotContext, number: str) -> str:
    """Say that a group member cannot relabel a parcel someone else added."""
    return context.tr.gettext(
        "{number} keeps its label: only the person who added it or a chat admin can rename it."
    ).format(number=number)


def remember(
    update: Update,
    context: BotContext,
    followed: Iterable[Request] = (),
    rejected: Iterable[str] = (),
    offered: Iterable[Request] = (),
    *,
    removed: Iterable[str] = (),
) -> None:
    """Add what this version of the message was answered with to what earlier ones were.

    Numbers that ended up followed, and those answered with a carrier chooser, count: a
    refusal or an error is asked for again when an edit sends the number again. ``removed``
    numbers were taken out of the message (and answered so): putting one back is news.
    """
    message = update.effective_message
    if message is None:
        return
    memory: dict[int, Answered] = context.chat_memory.setdefault(ANSWERED, {})
    earlier = memory.pop(message.message_id, None)
    labels = dict(earlier.labels) if earlier else {}
    for number in removed:
        labels.pop(number, None)
    for request in followed:  # a number sent again without a label keeps the one it had
        labels[request.number] = request.label or labels.get(request.number)
    typos = (earlier.rejected if earlier else frozenset()) | {normalize(t) for t in rejected}
    choosers = dict(earlier.offered) if earlier else {}
    choosers.update((request.number, request.label) for request in offered)
    memory[message.message_id] = Answered(message.date, labels, typos, choosers)
    oldest = datetime.now(UTC) - ANSWERED_FOR
    for key in [k for k, entry in memory.items() if entry.sent_at < oldest]:
        del memory[key]
    for key in list(memory)[:-MAX_ANSWERED]:
        del memory[key]


async def guard_edit(update: Update, context: BotContext) -> None:
    """Stop an edited message that no handler should answer again (runs before the others).

    Only an edit that can ask for something new goes on: the numbers of a private text or of
    /track (a corrected typo, a new label). Any other command would run twice (an edited
    /stopall would ask again), a flow would take the edit as its answer, and an edit of a
    message sent before the chat used /forget would bring its data back.
    """
    message, chat = update.effective_message, update.effective_chat
    if not ANSWERED_EDIT.check_update(update) or message is None or chat is None:
        raise ApplicationHandlerStop
    if _sent_before_forget(context, message.date):
        raise ApplicationHandlerStop
    if _answered(context, message.message_id) is None:
        # Not remembered (a restart, an old message): storage tells whether the chat was
        # stored anew since the message was sent, i.e. used /forget in between.
        stored = await context.bot_data.storage.get_chat(chat.id)
        if stored is None or stored.created_at > message.date + REGISTERED_AFTER:
            raise ApplicationHandlerStop


def forget_answers(context: BotContext) -> None:
    """Drop what the chat's messages were answered with, and ignore edits of them from now."""
    context.chat_memory.pop(ANSWERED, None)
    context.chat_memory[FORGOTTEN_AT] = datetime.now(UTC)


def _answered(context: BotContext, message_id: int) -> Answered | None:
    """Return what the message's earlier versions were answered with, if still remembered."""
    memory: dict[int, Answered] = context.chat_memory.get(ANSWERED, {})
    return memory.get(message_id)


def _sent_before_forget(context: BotContext, sent_at: datetime) -> bool:
    """Tell whether a message was sent before the chat last used /forget."""
    forgotten: datetime | None = context.chat_memory.get(FORGOTTEN_AT)
    # Telegram's dates are whole seconds: a message of the same second may be from after.
    return forgotten is not None and sent_at < forgotten.replace(microsecond=0)


def _same_label(asked: str | None, stored: str | None) -> bool:
    """Tell whether a request leaves a label as it is (none given, or the same but for case)."""
    return asked is None or (stored is not None and asked.casefold() == stored.casefold())


def _gone_or_answered(
    request: Request, view: SubscriptionView | None, before: Answered | None
) -> bool:
    """Tell whether an edit must leave a number alone: stopped or archived, or answered."""
    if before is not None and request.number in before.labels:
        return view is None or view.archived  # followed once, stopped or archived since
    if before is not None and request.number in before.offered:  # a chooser, picked since?
        return view is not None and (view.archived or request.label in (None, view.label))
    if before is None and view is not None:
        return view.archived or request.label in (None, view.label)
    return False


def _asked_before(request: Request, labels: dict[str, str | None]) -> bool:
    """Tell whether an earlier version of the message was answered for this number and label.

    Exactly that label: an edit that only capitalises it ("телевізор" → "Телевізор") renames.
    """
    number = request.number
    return number in labels and request.label in (None, labels[number])
