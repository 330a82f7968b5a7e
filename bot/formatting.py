"""Pure renderers: tracking results and events as HTML for Telegram or plain text for the CLI."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import datetime

from bot.carriers.models import ParcelStatus, TrackingEvent, TrackingResult
from bot.i18n import Translator
from bot.status_labels import STATUS_EMOJI, carrier_name, event_label, status_label
from bot.transliteration import to_english

TELEGRAM_LIMIT = 4096
CARD_EVENTS = 5
MAX_CARRIER_TEXT = 200  # characters of a carrier's place or description shown per event


def _esc(text: str, as_html: bool) -> str:
    """Escape for HTML output only."""
    return html.escape(text, quote=False) if as_html else text


def carrier_text(value: str, as_html: bool = True) -> str:
    """Cut a carrier's text to MAX_CARRIER_TEXT and escape it for HTML output."""
    return _esc(value[:MAX_CARRIER_TEXT], as_html)


def place_text(value: str, tr: Translator, as_html: bool = True) -> str:
    """Render a carrier's name of a place (city, branch, street), cut and escaped.

    English readers get Ukrainian names in Latin letters, as on maps (bot/transliteration.py);
    Ukrainian and Russian readers get them as the carrier wrote them.
    """
    return carrier_text(to_english(value) if tr.language == "en" else value, as_html)


def _bold(text: str, as_html: bool) -> str:
    """Wrap in <b> for HTML output only."""
    return f"<b>{text}</b>" if as_html else text


def event_line(event: TrackingEvent, carrier: str, tr: Translator, *, as_html: bool = True) -> str:
    """Render one event: time, our label, place and the carrier's own words when they differ."""
    label = event_label(carrier, event.code, event.status, tr.gettext)
    # Carrier texts are bounded so a push of a few events always fits one Telegram message.
    when = tr.short_datetime(event.occurred_at)
    parts = [f"{when}  {STATUS_EMOJI[event.status]} {_esc(label, as_html)}"]
    place = ", ".join(p for p in (event.location, event.postcode) if p)
    if place:
        parts.append(place_text(place, tr, as_html))
    line = " — ".join(parts)
    detail = (event.description or "").strip()[:MAX_CARRIER_TEXT]
    if detail and detail.casefold() != label.casefold():
        line += f"\n    {_italic(_esc(detail, as_html), as_html)}"
    return line


def _italic(text: str, as_html: bool) -> str:
    """Wrap in <i> for HTML output only."""
    return f"<i>{text}</i>" if as_html else text


def render_result(
    result: TrackingResult,
    tr: Translator,
    *,
    label: str | None = None,
    as_html: bool = True,
    max_events: int = CARD_EVENTS,
    carrier: str | None = None,
) -> str:
    """Render a status card: carrier, number, label, status, place, time and recent events.

    ``carrier`` names the carrier when the client is a service asking it (GdePosylka).
    """
    _ = tr.gettext
    name = carrier or carrier_name(result.carrier, _)
    title = f"{_esc(name, as_html)} · {_bold(_esc(result.number, as_html), as_html)}"
    lines = [title]
    if label:
        lines.append(_("Label: {label}").format(label=_esc(label, as_html)))
    lines += _details(result, tr, as_html)
    if result.events:
        shown = result.events[-max_events:]
        lines.append("")
        if len(result.events) > len(shown):
            lines.append(
                tr.ngettext(
                    "Last {count} of {total} event:",
                    "Last {count} of {total} events:",
                    len(result.events),
                ).format(count=len(shown), total=len(result.events))
            )
        else:
            lines.append(_("History:"))
        lines.extend(event_line(e, result.carrier, tr, as_html=as_html) for e in reversed(shown))
    return "\n".join(lines)


def _details(result: TrackingResult, tr: Translator, as_html: bool) -> list[str]:
    """Render the card's lines between label and history: route, point, status, time, place.

    Carrier texts are cut at MAX_CARRIER_TEXT, so a card always fits one message.
    """
    _ = tr.gettext

    def text(value: str) -> str:
        return carrier_text(value, as_html)

    def name(value: str) -> str:
        return place_text(value, tr, as_html)

    extras, latest = result.extras, result.latest
    lines: list[str] = []
    route_from, route_to = extras.get("route_from"), extras.get("route_to")
    if route_from and route_to:
        lines.append(_("Route: {route}").format(route=f"{name(route_from)} → {name(route_to)}"))
    point = extras.get("pickup_point")
    if point:
        hint = extras.get("pickup_hint")
        lines.append(
            _("Pickup point: {point}").format(
                point=f"{name(point)} ({name(hint)})" if hint else name(point)
            )
        )
        if extras.get("pickup_hours"):
            lines.append(_("Opening hours: {hours}").format(hours=text(extras["pickup_hours"])))
    storage = paid_storage_line(extras, result.status if result.events else None, tr)
    if storage:
        lines.append(storage)
    expected = _expected(result, tr)
    if expected:
        lines.append(_("Expected delivery: {date}").format(date=expected))
    status = status_label(result.status, _) if result.events else short_status(None, tr)
    lines.append(_("Status: {status}").format(status=_bold(status, as_html)))
    if latest is not None:
        lines.append(_("Updated: {time}").format(time=tr.datetime(latest.occurred_at)))
        # A carrier that names only the receiving branch (Nova Poshta) said it as the point.
        if latest.location and latest.location != point:
            lines.append(_("Place: {place}").format(place=name(latest.location)))
    return lines


# Before arrival: an expected day means something. Ready, failed, returning: it is past.
_ON_ITS_WAY = frozenset(
    {
        ParcelStatus.INFO_RECEIVED,
        ParcelStatus.ACCEPTED,
        ParcelStatus.IN_TRANSIT,
        ParcelStatus.OUT_FOR_DELIVERY,
    }
)


def paid_storage_line(
    extras: Mapping[str, str], status: ParcelStatus | None, tr: Translator
) -> str | None:
    """Return "Paid storage from …" while a parcel waits for pickup, if the carrier said when."""
    moment = _extras_moment(extras, "paid_storage_from")
    if moment is None or status is not ParcelStatus.READY_FOR_PICKUP:
        return None
    return tr.gettext("Paid storage from: {date}").format(date=tr.date(moment))


def _extras_moment(extras: Mapping[str, str], key: str) -> datetime | None:
    """Read an aware ISO time a carrier client stored in the extras; None if absent or bad."""
    try:
        moment = datetime.fromisoformat(extras.get(key) or "")
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _expected(result: TrackingResult, tr: Translator) -> str | None:
    """Return the carrier's expected delivery date, while the parcel is still on its way."""
    moment = _extras_moment(result.extras, "scheduled_delivery_date")
    if moment is None or result.status not in _ON_ITS_WAY:
        return None
    return tr.date(moment)


def render_history(result: TrackingResult, tr: Translator) -> list[str]:
    """Render the full history newest first, split into messages under Telegram's limit."""
    header = tr.gettext("Full history of {number}:").format(
        number=_bold(_esc(result.number, True), True)
    )
    lines = [event_line(e, result.carrier, tr) for e in reversed(result.events)]
    if not lines:
        lines = [tr.gettext("No events yet.")]
    return split_message([header, *lines])


def split_message(lines: Iterable[str], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Join lines into as few messages as fit the limit, never splitting a line's HTML tags."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        piece = line if len(line) <= limit else line[: limit - 1] + "…"
        candidate = f"{current}\n{piece}" if current else piece
        if len(candidate) > limit:
            chunks.append(current)
            current = piece
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def short_status(stored_status: str | None, tr: Translator) -> str:
    """Render a stored status string with its emoji and label; unknown strings fall back.

    A parcel the carrier never answered for has no status: it reads "no data yet", not as a
    status the bot failed to recognise.
    """
    _ = tr.gettext
    if not stored_status:
        return "⏳ " + _("no data yet")
    return status_label(ParcelStatus.parse(stored_status), _)
