"""The error handler: log everything with its traceback, answer the user politely."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import NetworkError

from bot.alert_events import Alert, AlertKind
from bot.context import BotContext
from bot.logs import Redactor

logger = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    """Log an unhandled error and tell the user something went wrong, without details."""
    if update is None and isinstance(context.error, NetworkError):
        # A failed getUpdates or similar: PTB retries by itself; not worth a traceback.
        logger.warning("network problem talking to Telegram: %s", context.error)
        return
    logger.error("unhandled error while processing an update", exc_info=context.error)
    await _apologize(update, context)  # the user first: telling the admins may take a while
    # PTB hands jobs' errors (poll, sending, upkeep) here too, without an update.
    await _tell_admins(context, AlertKind.ERROR if update is not None else AlertKind.JOB_ERROR)


async def _apologize(update: object, context: BotContext) -> None:
    """Tell the user something went wrong, without details; never raise."""
    if not isinstance(update, Update):
        return
    if update.callback_query is not None:
        try:
            await update.callback_query.answer()
        except Exception:  # already failing: the answer is best effort
            logger.debug("could not answer the callback query after an error")
    message = update.effective_message
    if message is None:
        return
    try:
        tr = context.tr
        await message.reply_text(
            tr.gettext("Sorry, something went wrong on my side. Please try again later.")
        )
    except Exception:  # the error handler must never raise
        logger.warning("could not tell the user about the error")


async def _tell_admins(context: BotContext, kind: AlertKind) -> None:
    """Tell the admins an update or a job failed (secrets masked; the alerts limit how often)."""
    error = context.error
    alerts = getattr(context.bot_data, "alerts", None)
    if error is None or alerts is None:
        return
    try:
        detail = Redactor(context.bot_data.settings.secrets)(str(error))[:300]
        await alerts(Alert(type(error).__name__, kind, detail))
    except Exception:  # the error handler must never raise
        logger.warning("could not alert the admins about the error")
