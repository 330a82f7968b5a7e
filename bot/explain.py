"""One translated sentence for every carrier failure, shared by the bot and the CLI."""

from __future__ import annotations

from collections.abc import Iterable

from bot.carriers.errors import (
    BudgetExhausted,
    CarrierAuthError,
    CarrierError,
    CarrierNotConfigured,
    CarrierUnavailable,
    NoDataAtLastCheck,
    NotTrackable,
    ParcelNotFound,
    TrackingPending,
)
from bot.i18n import Translator
from bot.status_labels import carrier_name


def explain(err: CarrierError, number: str, tr: Translator) -> str:
    """Say in the reader's language why a lookup gave no result."""
    _ = tr.gettext
    name = carrier_name(err.carrier, _)
    if isinstance(err, NoDataAtLastCheck):
        text = _("Last check: {carrier} has no data about {number} yet.")
    elif isinstance(err, TrackingPending):
        text = _("{carrier} is still collecting data about {number}.")
    elif isinstance(err, ParcelNotFound):
        text = _(
            "{carrier} has no record of {number} yet: it appears after the parcel is handed over."
        )
    elif isinstance(err, CarrierNotConfigured):
        text = _("{carrier} is not configured on this bot.")
    elif isinstance(err, NotTrackable):
        text = _("{number} looks like a {carrier} number, which this bot cannot track.")
    elif isinstance(err, BudgetExhausted):
        text = _("Today's quota of new numbers at {carrier} is used up: I will ask tomorrow.")
    elif isinstance(err, CarrierUnavailable):
        text = _("{carrier} is not answering right now.")
    elif isinstance(err, CarrierAuthError):
        text = _("{carrier} refused this bot's credentials: the operator must check them.")
    else:
        text = _("{carrier} answered with something this bot cannot read.")
    return text.format(carrier=name, number=number)


def detection_unavailable(number: str, tr: Translator) -> str:
    """Say that the carrier of a number cannot be told now (the detection service is down)."""
    return tr.gettext(
        "I cannot tell the carrier of {number} right now: the carrier detection service is not "
        "answering. Please send it again later."
    ).format(number=number)


def outage_notes(carriers: Iterable[str], tr: Translator) -> list[str]:
    """Return one warning per paused carrier, in name order (shown where users look)."""
    text = tr.gettext(
        "{carrier} is not answering right now: its statuses may be out of date. "
        "I keep trying and will write when something changes."
    )
    return [
        "⚠️ " + text.format(carrier=carrier_name(name, tr.gettext)) for name in sorted(carriers)
    ]
