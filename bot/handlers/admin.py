"""Admin commands: /broadcast (text → audience → preview → confirm), /broadcast_cancel, /stats.

/raw lives in bot/handlers/raw.py; /ban, /unban and /bans in bot/handlers/bans.py. For
everyone else these commands do not exist: their filters let the update fall through to the
unknown-command answer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.broadcast import html_problem
from bot.context import BotContext
from bot.handlers.bans import ban_command, list_bans, unban_command
from bot.handlers.common import reply
from bot.handlers.conversations import (
    NOT_TEXT,
    TIMEOUT_SECONDS,
    cancel,
    timed_out,
    without_warning,
)
from bot.handlers.raw import raw_lookup
from bot.i18n import Translator
from bot.stats import render_stats

logger = logging.getLogger(__name__)

WAITING_TEXT, CHOOSING_AUDIENCE, CONFIRMING = range(3)
TEXT_KEY, AUDIENCE_KEY = "broadcast_text", "broadcast_audience"
RESUME_AFTER = 60.0  # seconds before a broadcast stopped by an error is run again
MAX_RESUMES = 30  # such runs per broadcast before waiting for a restart (a lasting fault)
AUDIENCES = ("all", "private", "groups", "uk", "en", "ru")
AUDIENCE_PATTERN = r"^ba:(?:all|private|groups|uk|en|ru)$"
CONFIRM_PATTERN = r"^bc:(?:yes|no)$"


def _audience_keyboard(tr: Translator) -> InlineKeyboardMarkup:
    """Return the audience choice."""
    _ = tr.gettext
    names = {
        "all": _("All chats"), "private": _("Private chats"), "groups": _("Groups"),
        "uk": _("Ukrainian-speaking"), "en": _("English-speaking"), "ru": _("Russian-speaking"),
    }  # fmt: skip
    rows = [[InlineKeyboardButton(names[a], callback_data=f"ba:{a}")] for a in AUDIENCES]
    return InlineKeyboardMarkup(rows)


async def start_broadcast(update: Update, context: BotContext) -> int:
    """Ask for the message, or take it from ``/broadcast TEXT`` and go on to the audience."""
    message = update.effective_message
    if message is None or not message.text:
        return ConversationHandler.END
    text = message.text.split(maxsplit=1)[1] if len(message.text.split(maxsplit=1)) > 1 else ""
    if text.strip():
        return await _take_text(update, context, text)
    await reply(
        update,
        context.tr.gettext(
            "Send the announcement. Telegram HTML works: <b>bold</b>, <i>italic</i>, "
            '<a href="https://example.com">links</a>. /cancel stops.'
        ),
    )
    return WAITING_TEXT


async def receive_text(update: Update, context: BotContext) -> int:
    """Take the announcement's text."""
    message = update.effective_message
    return await _take_text(update, context, message.text if message and message.text else "")


async def text_expected(update: Update, context: BotContext) -> int:
    """Answer a picture or other non-text message sent instead of the announcement."""
    await reply(
        update,
        context.tr.gettext("A broadcast is text only: send it as a message, or /cancel."),
    )
    return WAITING_TEXT


async def _take_text(update: Update, context: BotContext, text: str) -> int:
    """Check the HTML and ask for the audience."""
    tr = context.tr
    problem = html_problem(text, tr)
    if problem is not None:
        await reply(
            update,
            tr.gettext("I cannot send this: {problem} Send a corrected text.").format(
                problem=problem
            ),
            parse_mode=None,
        )
        return WAITING_TEXT
    context.chat_memory[TEXT_KEY] = text
    await reply(update, tr.gettext("Who should receive it?"), reply_markup=_audience_keyboard(tr))
    return CHOOSING_AUDIENCE


async def choose_audience(update: Update, context: BotContext) -> int:
    """Show the preview exactly as recipients will see it, with the recipient count."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or not query.data:
        return ConversationHandler.END
    await query.answer()
    tr = context.tr
    audience = query.data.partition(":")[2]
    text = context.chat_memory.get(TEXT_KEY)
    if not text:
        return ConversationHandler.END
    recipients = await context.bot_data.storage.list_chat_ids(audience)
    context.chat_memory[AUDIENCE_KEY] = audience
    try:
        await context.bot.send_message(chat.id, text)  # the preview: the very same message
    except BadRequest as err:
        await reply(
            update,
            tr.gettext("Telegram refused the formatting: {error}. Send a corrected text.").format(
                error=err.message
            ),
            parse_mode=None,
        )
        return WAITING_TEXT
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(tr.gettext("✅ Send"), callback_data="bc:yes"),
                InlineKeyboardButton(tr.gettext("✖️ Cancel"), callback_data="bc:no"),
            ]
        ]
    )
    await reply(
        update,
        tr.ngettext(
            "This is the preview. It will go to {count} chat. Send it?",
            "This is the preview. It will go to {count} chats. Send it?",
            len(recipients),
        ).format(count=len(recipients)),
        reply_markup=keyboard,
    )
    return CONFIRMING


async def confirm_broadcast(update: Update, context: BotContext) -> int:
    """Store the broadcast with its recipients and start delivering it in the background."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return ConversationHandler.END
    await query.answer()
    tr = context.tr
    text = context.chat_memory.pop(TEXT_KEY, None)
    audience = context.chat_memory.pop(AUDIENCE_KEY, "all")
    if query.data != "bc:yes" or not text:
        await query.edit_message_text(tr.gettext("Broadcast cancelled; nothing was sent."))
        return ConversationHandler.END
    storage = context.bot_data.storage
    if await storage.running_broadcasts():
        await query.edit_message_text(
            tr.gettext(
                "Another broadcast is still running; "
                "wait for it or stop it with /broadcast_cancel."
            )
        )
        return ConversationHandler.END
    recipients = await storage.list_chat_ids(audience)
    broadcast = await storage.create_broadcast(chat.id, text, audience, recipients)
    progress = await query.edit_message_text(
        tr.gettext("📣 Broadcast #{id} is starting…").format(id=broadcast.id)
    )
    if not isinstance(progress, bool):
        await storage.set_progress_message(broadcast.id, progress.message_id)
    start_delivery(context, broadcast.id)
    return ConversationHandler.END


def start_delivery(context: Any, broadcast_id: int, delay: float = 0.0) -> None:
    """Run a broadcast as a background job (also used to resume after a restart or error)."""
    job_queue = context.job_queue
    assert job_queue is not None  # the job-queue extra is a dependency
    job_queue.run_once(
        deliver_broadcast,
        delay,
        data=broadcast_id,
        name=f"broadcast-{broadcast_id}",
        # Resumed at start, the job queue may begin late (after the webhook is set): a
        # "missed" run must still run, or the broadcast would stay "running" for ever.
        job_kwargs={"misfire_grace_time": None},
    )


async def deliver_broadcast(context: BotContext) -> None:
    """Job: deliver one broadcast; if it stops on an error (e.g. storage), resume it later."""
    job = context.job
    assert job is not None
    broadcast_id = int(str(job.data))
    runner = context.bot_data.broadcasts
    try:
        await runner.run(broadcast_id)
    except Exception:
        # Its recipients stay pending: a later run goes on where this one stopped, instead of
        # the broadcast staying "running" until the next restart.
        if runner.failed_run(broadcast_id) > MAX_RESUMES:
            logger.exception(
                "broadcast %s stopped again; it resumes at the next start", broadcast_id
            )
            return
        logger.exception("broadcast %s stopped; resuming in %.0f s", broadcast_id, RESUME_AFTER)
        start_delivery(context, broadcast_id, RESUME_AFTER)


async def cancel_broadcast(update: Update, context: BotContext) -> None:
    """Stop every running broadcast; its final report follows."""
    tr = context.tr
    storage = context.bot_data.storage
    running = await storage.running_broadcasts()
    if not running:
        await reply(update, tr.gettext("No broadcast is running."))
        return
    for broadcast in running:
        await storage.finish_broadcast(broadcast.id, "cancelled")
        context.bot_data.broadcasts.cancel(broadcast.id)
    await reply(update, tr.gettext("Broadcast stopped; the final report follows."))


async def show_stats(update: Update, context: BotContext) -> None:
    """Show how the bot and each carrier are doing."""
    data = context.bot_data
    since = datetime.now(UTC) - timedelta(days=1)
    text = await render_stats(
        data.storage, data.poller, data.budget, context.tr, since, data.banned
    )
    await reply(update, text)


def admin_handlers(admin_ids: frozenset[int]) -> list[Any]:
    """Return the admin handlers; with no admins configured they match nobody."""
    admins = filters.User(user_id=admin_ids) & filters.ChatType.PRIVATE
    flow = without_warning(
        lambda: ConversationHandler(
            entry_points=[CommandHandler("broadcast", start_broadcast, filters=admins)],
            states={
                WAITING_TEXT: [
                    MessageHandler(admins & filters.TEXT & ~filters.COMMAND, receive_text),
                    MessageHandler(admins & NOT_TEXT, text_expected),
                ],
                CHOOSING_AUDIENCE: [
                    CallbackQueryHandler(choose_audience, pattern=AUDIENCE_PATTERN)
                ],
                CONFIRMING: [CallbackQueryHandler(confirm_broadcast, pattern=CONFIRM_PATTERN)],
                ConversationHandler.TIMEOUT: [MessageHandler(filters.ALL, timed_out)],
            },
            fallbacks=[CommandHandler("cancel", cancel)],
            allow_reentry=True,  # /broadcast again starts over instead of "unknown command"
            conversation_timeout=TIMEOUT_SECONDS,
            name="broadcast",
        )
    )
    return [
        flow,
        CommandHandler("broadcast_cancel", cancel_broadcast, filters=admins),
        CommandHandler("stats", show_stats, filters=admins),
        CommandHandler("raw", raw_lookup, filters=admins, block=False),
        CommandHandler("ban", ban_command, filters=admins),
        CommandHandler("unban", unban_command, filters=admins),
        CommandHandler("bans", list_bans, filters=admins),
    ]
