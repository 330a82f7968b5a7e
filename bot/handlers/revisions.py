"""What a message may still ask for: an edit only what it changed, a group member no relabel."""

from __future__ import annotations

from dataclasses import dataclass, replace

from telegram import Update
from telegram.constants import ChatType

from bot.context import BotContext
from bot.handlers.common import is_chat_admin
from bot.requests import ParsedMessage, Request
from storage import SubscriptionView

ANSWERED = "answered_messages"  # chat memory: message id → what its latest version asked for
MAX_ANSWERED = 50  # messages remembered per chat; an edit of an older one is judged by storage


@dataclass(frozen=True, slots=True)
class Answered:
    """What one version of a message asked for: numbers with their labels, rejected tokens."""

    labels: dict[str, str | None]
    rejected: frozenset[str]


@dataclass(frozen=True, slots=True)
class Settled:
    """The part of a message left to answer, and notes for labels that were kept."""

    parsed: ParsedMessage
    notes: dict[str, str]


async def settle(update: Update, context: BotContext, parsed: ParsedMessage) -> Settled:
    """Return what is left to answer of a parsed message (new or edited).

    An edit is compared with the message's version answered before: only numbers it added or
    relabelled, and rejected tokens it added, are answered. An edit never brings back a
    parcel the chat stopped or archived since (relabelling it in the old message included).
    When that version is no longer remembered (a restart, an old message), numbers the chat
    follows under the same label count as answered, and archived ones stay archived. In a
    group, a member who neither added a parcel nor is an admin cannot relabel it by sending
    its number again (as with the Rename button): the label is kept.
    """
    edited = update.edited_message is not None
    before = remember(update, context, parsed)
    requests, rejected = parsed.requests, parsed.rejected
    if edited and before is not None:
        requests = tuple(r for r in requests if not _asked_before(r, before.labels))
        rejected = tuple(t for t in rejected if t not in before.rejected)
    chat, user = update.effective_chat, update.effective_user
    grouped = chat is not None and chat.type != ChatType.PRIVATE
    notes: dict[str, str] = {}
    if chat is not None and requests and (grouped or edited):
        views = await context.bot_data.storage.subscriptions_by_numbers(
            chat.id, [r.number for r in requests]
        )
        followed = {view.parcel.number: view for view in views}
        left: list[Request] = []
        admin: bool | None = None  # asked of Telegram once, and only when needed
        for request in requests:
            view = followed.get(request.number)
            if edited and _gone_or_answered(request, view, before):
                continue
            if view is None or request.label in (None, view.label):
                left.append(request)
                continue
            if grouped and view.added_by not in (None, user.id if user else None):
                if admin is None:
                    admin = await is_chat_admin(update, context)
                if not admin:
                    notes[request.number] = context.tr.gettext(
                        "{number} keeps its label: only the person who added it or a chat "
                        "admin can rename it."
                    ).format(number=request.number)
                    request = Request(request.number)
            left.append(request)
        requests = tuple(left)
    if requests != parsed.requests or rejected != parsed.rejected:
        parsed = replace(parsed, requests=requests, rejected=rejected)
    return Settled(parsed, notes)


def _gone_or_answered(
    request: Request, view: SubscriptionView | None, before: Answered | None
) -> bool:
    """Tell whether an edit must leave a number alone: stopped or archived, or answered."""
    if before is not None and request.number in before.labels:
        return view is None or view.archived  # stopped or archived since that version
    if before is None and view is not None:
        return view.archived or request.label in (None, view.label)
    return False


def _asked_before(request: Request, labels: dict[str, str | None]) -> bool:
    """Tell whether an earlier version of the message asked for this number and label."""
    return request.number in labels and request.label in (None, labels[request.number])


def remember(update: Update, context: BotContext, parsed: ParsedMessage) -> Answered | None:
    """Store what this version of the message asks for; return the earlier version's."""
    message = update.effective_message
    if message is None:
        return None
    memory: dict[int, Answered] = context.chat_memory.setdefault(ANSWERED, {})
    before = memory.pop(message.message_id, None)
    labels = {r.number: r.label for r in parsed.requests}
    memory[message.message_id] = Answered(labels, frozenset(parsed.rejected))
    for stale in list(memory)[:-MAX_ANSWERED]:
        del memory[stale]
    return before
