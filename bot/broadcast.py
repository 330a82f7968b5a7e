"""Admin broadcasts: HTML check, paced resumable delivery, and progress reports."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta

from babel.dates import format_timedelta
from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.i18n import Catalogs, Translator
from bot.retry import retry_after_seconds
from storage import Broadcast, BroadcastCounts, Storage

logger = logging.getLogger(__name__)

SENT, BLOCKED, FAILED = "sent", "blocked", "failed"
BATCH = 50
PROGRESS_EVERY = 3.0  # seconds between edits of the admin's progress message
MAX_RETRY_AFTER = 5  # RetryAfter answers or network errors per recipient before a failure
NETWORK_BACKOFF = 1.0  # seconds before the first retry after a network error, then doubled
TELEGRAM_LIMIT = 4096

# Telegram's HTML subset (Bot API "HTML style"): tags, and the attributes each may carry.
_ALLOWED_TAGS = {
    "b": set(), "strong": set(), "i": set(), "em": set(), "u": set(), "ins": set(),
    "s": set(), "strike": set(), "del": set(), "tg-spoiler": set(), "span": {"class"},
    "a": {"href"}, "tg-emoji": {"emoji-id"}, "code": {"class"}, "pre": set(),
    "blockquote": {"expandable"},
}  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)((?:\s+[a-zA-Z-]+(?:=\"[^\"<>]*\")?)*)\s*>")
_ATTRIBUTE = re.compile(r"([a-zA-Z-]+)(?:=\"[^\"]*\")?")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


def html_problem(text: str, tr: Translator) -> str | None:
    """Return why Telegram would refuse this HTML, in the admin's language, or None if fine."""
    _ = tr.gettext
    if not text.strip():
        return _("The message is empty.")
    stack: list[str] = []
    plain_length = 0
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            match = _TAG.match(text, position)
            if match is None:
                return _("A “<” that is not part of a tag must be written as &lt;.")
            closing, name, attributes = match.group(1), match.group(2).lower(), match.group(3)
            if name not in _ALLOWED_TAGS:
                return _("Telegram does not support the tag <{tag}>.").format(tag=name)
            if closing:
                if not stack or stack[-1] != name:
                    return _("The tag </{tag}> does not close an open tag.").format(tag=name)
                stack.pop()
            else:
                for attribute in _ATTRIBUTE.findall(attributes):
                    if attribute.lower() not in _ALLOWED_TAGS[name]:
                        return _("Telegram does not support the tag <{tag}>.").format(
                            tag=f"{name} {attribute}"
                        )
                stack.append(name)
            position = match.end()
            continue
        if char == "&":
            match = _ENTITY.match(text, position)
            if match is None:
                return _("A “&” that is not part of an entity must be written as &amp;.")
            position = match.end()
        else:
            position += 1
        plain_length += 1
    if stack:
        return _("The tag <{tag}> is never closed.").format(tag=stack[-1])
    if plain_length > TELEGRAM_LIMIT:
        return _("The message is longer than Telegram's 4096 characters.")
    return None


def render_progress(
    broadcast: Broadcast, counts: BroadcastCounts, rate: float, tr: Translator, *, final: bool
) -> str:
    """Render the admin's progress (or final) report."""
    _ = tr.gettext
    if final:
        title = (
            _("📣 Broadcast #{id} was cancelled.")
            if broadcast.status == "cancelled"
            else _("📣 Broadcast #{id} is finished.")
        )
    else:
        title = _("📣 Broadcast #{id} is running.")
    lines = [
        title.format(id=broadcast.id),
        _("Sent: {sent} · blocked: {blocked} · failed: {failed} · remaining: {pending}").format(
            sent=counts.sent, blocked=counts.blocked, failed=counts.failed, pending=counts.pending
        ),
    ]
    if not final and counts.pending:
        seconds = int(counts.pending / rate) + 1
        left = format_timedelta(timedelta(seconds=seconds), locale=tr.locale)
        lines.append(_("About {time} left.").format(time=left))
    return "\n".join(lines)


class BroadcastRunner:
    """Send one broadcast at a time, paced, resumable, one recipient in flight."""

    def __init__(
        self,
        storage: Storage,
        bot: Bot,
        catalogs: Catalogs,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        banned: Collection[int] = frozenset(),
    ) -> None:
        self.storage = storage
        # The bot's live ban list: a chat banned while its batch is in memory is skipped.
        self.banned = banned
        self.bot = bot
        self.catalogs = catalogs
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self._cancelled: set[int] = set()
        # Runs stopped by an error since the broadcast last made progress, per broadcast.
        self._failed_runs: dict[int, int] = {}
        self._lock = asyncio.Lock()  # one broadcast sends at a time
        self._next_send = 0.0

    def failed_run(self, broadcast_id: int) -> int:
        """Count a run of a broadcast that an error stopped; return how many there were."""
        self._failed_runs[broadcast_id] = self._failed_runs.get(broadcast_id, 0) + 1
        return self._failed_runs[broadcast_id]

    def cancel(self, broadcast_id: int) -> None:
        """Stop a running broadcast before its next recipient."""
        self._cancelled.add(broadcast_id)

    async def run(self, broadcast_id: int) -> None:
        """Deliver a broadcast to every pending recipient, then report."""
        async with self._lock:
            broadcast = await self.storage.get_broadcast(broadcast_id)
            if broadcast is None or broadcast.status != "running":
                return
            admin_tr = await self._admin_translator(broadcast)
            self._next_send = self.clock()
            last_report = self.clock()
            while broadcast_id not in self._cancelled:
                recipients = await self.storage.next_recipients(broadcast_id, BATCH)
                if not recipients:
                    await self.storage.finish_broadcast(broadcast_id, "done")
                    break
                for chat_id in recipients:
                    if broadcast_id in self._cancelled:
                        break
                    try:
                        state, target = (
                            (FAILED, chat_id)
                            if chat_id in self.banned
                            else await self._deliver(broadcast, chat_id)
                        )
                    except Exception:  # a bug or a damaged answer: one chat, not the broadcast
                        logger.exception("broadcast %s to chat %s failed", broadcast_id, chat_id)
                        state, target = FAILED, chat_id
                    # A migrated group's row moved to its new id with the chat.
                    await self.storage.set_recipient_state(broadcast_id, target, state)
                    self._failed_runs.pop(broadcast_id, None)  # progress: errors start over
                    if self.clock() - last_report >= PROGRESS_EVERY:
                        last_report = self.clock()
                        await self._report(broadcast, admin_tr, final=False)
                current = await self.storage.get_broadcast(broadcast_id)
                if current is None or current.status != "running":
                    break
            self._cancelled.discard(broadcast_id)
            final = await self.storage.get_broadcast(broadcast_id)
            if final is not None:
                await self._report(final, admin_tr, final=True)

    async def _deliver(self, broadcast: Broadcast, chat_id: int) -> tuple[str, int]:
        """Send the broadcast to one chat; return the recipient's new state and its chat id."""
        target = chat_id
        for _attempt in range(MAX_RETRY_AFTER):
            await self._pace()
            try:
                await self.bot.send_message(target, broadcast.text)
            except RetryAfter as err:
                seconds = retry_after_seconds(err)
                logger.warning("broadcast paused %.1f s at Telegram's request", seconds)
                await self.sleep(seconds)
                continue
            except Forbidden:
                await self.storage.set_chat_blocked(target, True)
                return BLOCKED, target
            except ChatMigrated as err:
                await self.storage.migrate_chat(target, err.new_chat_id)
                target = err.new_chat_id
                # The supergroup may have been a recipient of its own (the bot knew it already)
                # and got the message: it must not get a second copy.
                state = await self.storage.recipient_state(broadcast.id, target)
                if state not in (None, "pending"):
                    return state or FAILED, target
                continue
            except BadRequest as err:  # a subclass of NetworkError in PTB: the answer is final
                logger.warning("broadcast to chat %s failed: %s", chat_id, err)
                return FAILED, target
            except NetworkError as err:  # a hiccup (timeouts included): retry this recipient
                delay = min(NETWORK_BACKOFF * 2**_attempt, 30.0)
                logger.warning("broadcast to chat %s: %s; retrying in %.0f s", chat_id, err, delay)
                await self.sleep(delay)
                continue
            except TelegramError as err:
                logger.warning("broadcast to chat %s failed: %s", chat_id, err)
                return FAILED, target
            return SENT, target
        return FAILED, target

    async def _pace(self) -> None:
        """Wait for the next slot of a fixed schedule of ``rate`` sends per second.

        Keeping to the schedule absorbs late wake-ups (otherwise each one would slow the
        broadcast a little); after a long pause (a RetryAfter) at most one slot of credit is
        kept, so the catch-up is a single early send, never a burst.
        """
        interval = 1.0 / self.rate
        wait = self._next_send - self.clock()
        if wait > 0:
            await self.sleep(wait)
        self._next_send = max(self._next_send, self.clock() - interval) + interval

    async def _admin_translator(self, broadcast: Broadcast) -> Translator:
        """Return the translator of the admin's chat."""
        chat = await self.storage.get_chat(broadcast.admin_chat_id)
        return self.catalogs.get(chat.language if chat else None)

    async def _report(self, broadcast: Broadcast, tr: Translator, *, final: bool) -> None:
        """Edit the admin's progress message; a final report is also sent as a new message."""
        counts = await self.storage.broadcast_counts(broadcast.id)
        text = render_progress(broadcast, counts, self.rate, tr, final=final)
        try:
            if broadcast.progress_message_id is not None:
                await self.bot.edit_message_text(
                    text, chat_id=broadcast.admin_chat_id, message_id=broadcast.progress_message_id
                )
            if final:
                await self.bot.send_message(broadcast.admin_chat_id, text)
        except TelegramError as err:
            # The report is a courtesy; the broadcast itself must go on.
            logger.info("progress report for broadcast %s failed: %s", broadcast.id, err)
