"""Admin alerts: carriers refusing credentials, failing or out of quota; unexpected errors."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from telegram import Bot
from telegram.error import TelegramError

from bot.alert_events import Alert, AlertKind
from bot.carriers.registry import CREDENTIAL_VARIABLES
from bot.i18n import Catalogs, Translator
from bot.status_labels import carrier_name
from storage import Storage

logger = logging.getLogger(__name__)

# The same alert about a carrier at most this often (scaled like every interval): an outage
# is told once an hour while it lasts, wrong credentials every few hours until fixed.
COOLDOWNS = {"auth": timedelta(hours=6), "paused": timedelta(hours=1)}
# The same kind of unexpected error at most once an hour (not scaled: the text says an hour).
ERROR_COOLDOWN = timedelta(hours=1)
ERRORS = frozenset({AlertKind.ERROR, AlertKind.JOB_ERROR})


@dataclass
class AdminAlerts:
    """Send alerts to the admins' private chats, in each admin's language.

    An admin who never started the bot cannot be written to: that is logged, not retried.
    A recovery is only announced for a carrier whose trouble was.
    """

    bot: Bot
    storage: Storage
    catalogs: Catalogs
    admin_ids: Iterable[int]
    scale: float = 1.0
    _sent: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _down: set[str] = field(default_factory=set)

    async def __call__(self, alert: Alert) -> None:
        """Send an alert unless it would repeat one sent within its cooldown.

        Trouble (credentials, a pause) is told when it starts, again after each cooldown while
        it lasts, and at once when it starts again after the carrier answered in between.
        """
        now = datetime.now(UTC)
        if alert.kind is AlertKind.RECOVERED:
            if alert.subject not in self._down:
                return
            self._down.discard(alert.subject)
        else:
            # A quota is told once per budget day (UTC), the others once per cooldown.
            day = f"quota {now.date()}"
            key = (alert.subject, day if alert.kind is AlertKind.QUOTA else alert.kind)
            last = self._sent.get(key)
            cooldown = (
                ERROR_COOLDOWN
                if alert.kind in ERRORS
                else COOLDOWNS.get(alert.kind, timedelta(days=1)) * self.scale
            )
            trouble = alert.kind in (AlertKind.AUTH, AlertKind.PAUSED)
            again = trouble and alert.subject not in self._down
            if last is not None and now - last < cooldown and not again:
                return
            self._sent[key] = now
            if alert.kind in (AlertKind.AUTH, AlertKind.PAUSED):
                self._down.add(alert.subject)
        logger.warning("alerting admins: %s %s", alert.kind, alert.subject)
        for admin in sorted(set(self.admin_ids)):
            try:  # the alert may be about the database itself: then in the default language
                chat = await self.storage.get_chat(admin)
            except Exception:
                logger.warning("could not read admin %s's language", admin)
                chat = None
            text = render_alert(alert, self.catalogs.get(chat.language if chat else None))
            try:
                await self.bot.send_message(admin, text)
            except TelegramError as err:
                logger.warning("could not alert admin %s: %s", admin, err)


def render_alert(alert: Alert, tr: Translator) -> str:
    """Return an alert's text (HTML)."""
    _ = tr.gettext
    carrier = html.escape(carrier_name(alert.subject, _))
    until = tr.short_datetime(alert.until) if alert.until else "?"
    detail = html.escape(alert.detail or "")
    variable = CREDENTIAL_VARIABLES.get(alert.subject)
    if alert.kind is AlertKind.AUTH and variable:
        text = _(
            "⚠️ {carrier} refused the bot's credentials. Check {variable} in the environment "
            "and restart the bot; its parcels wait until then."
        )
    elif alert.kind is AlertKind.AUTH:
        text = _(
            "⚠️ {carrier} refused the bot's credentials. Check its key or token in the "
            "environment and restart the bot; its parcels wait until then."
        )
    elif alert.kind is AlertKind.PAUSED:
        text = _(
            "⚠️ {carrier} keeps failing: its checks are paused until {until} (Kyiv time) and "
            "retried then. Last error: {detail}"
        )
    elif alert.kind is AlertKind.RECOVERED:
        text = _("✅ {carrier} answers again: its checks go on as usual.")
    elif alert.kind in ERRORS:
        carrier = html.escape(alert.subject)  # the error's type, not a carrier
        text = (
            _(
                "⚠️ An update failed with an unexpected error ({carrier}: {detail}); the user "
                "was told something went wrong. The log has the traceback. (At most one such "
                "message an hour per kind of error.)"
            )
            if alert.kind is AlertKind.ERROR
            else _(
                "⚠️ A background job (checking parcels, sending messages or upkeep) failed "
                "with an unexpected error ({carrier}: {detail}); it runs again on its schedule. "
                "The log has the traceback. (At most one such message an hour per kind of "
                "error.)"
            )
        )
    else:
        text = _(
            "ℹ️ Today's quota of new {carrier} numbers is used up: new numbers wait until "
            "{until} (Kyiv time); numbers already admitted are still checked."
        )
    return text.format(carrier=carrier, until=until, detail=detail, variable=variable)
