"""Admin debugging: ``/raw NUMBER [carrier]`` sends the carriers' raw answers as a file."""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from typing import Any

from telegram import Update

from bot.carriers.detect import normalize
from bot.carriers.http import Exchange
from bot.carriers.models import TrackingEvent
from bot.context import BotContext
from bot.handlers.common import reply
from bot.logs import Redactor
from bot.routing import CLIENT_NAMES
from bot.tracking import Probe, Resolution


async def raw_lookup(update: Update, context: BotContext) -> None:
    """Ask every carrier a number may belong to and send what they answered, credentials masked.

    Like paczkobot's HAR capture: when a carrier changes its answers, the file shows how.
    """
    message = update.effective_message
    tr = context.tr
    args = context.args or []
    if message is None:
        return
    if not args or len(args) > 2:
        await reply(
            update,
            tr.gettext(
                "Send /raw NUMBER, or /raw NUMBER CARRIER to ask one carrier ({carriers})."
            ).format(carriers=", ".join(sorted(CLIENT_NAMES))),
        )
        return
    number = normalize(args[0])[:40]
    forced = args[1].lower() if len(args) == 2 else None
    if forced is not None and forced not in CLIENT_NAMES:
        await reply(
            update,
            tr.gettext("I do not know the carrier {carrier}. Known: {carriers}.").format(
                carrier=html.escape(forced[:40]), carriers=", ".join(sorted(CLIENT_NAMES))
            ),
        )
        return
    resolution, probes, exchanges = await context.bot_data.parcels.tracking.probe(number, forced)
    if not exchanges:
        await reply(
            update,
            tr.gettext("No carrier of this bot was asked about {number}.").format(
                number=html.escape(number)
            ),
        )
        return
    redact = Redactor(context.bot_data.settings.secrets)
    report = json.dumps(raw_report(resolution, probes, exchanges), ensure_ascii=False, indent=2)
    await message.reply_document(
        redact(report).encode(),
        filename=f"raw-{number}.json",
        caption=tr.ngettext(
            "{count} carrier request for {number}; credentials are masked.",
            "{count} carrier requests for {number}; credentials are masked.",
            len(exchanges),
        ).format(count=len(exchanges), number=html.escape(number)),
    )


def raw_report(
    resolution: Resolution, probes: list[Probe], exchanges: list[Exchange]
) -> dict[str, Any]:
    """Build the file's content: what the bot made of each answer, then the answers."""
    lookups: list[dict[str, Any]] = []
    for probe in probes:
        if probe.result is None:
            lookups.append({"carrier": probe.key, "error": str(probe.error)})
            continue
        lookups.append(
            {
                "carrier": probe.key,
                "status": str(probe.result.status),
                "events": [_event(event) for event in probe.result.events],
            }
        )
    return {
        "number": resolution.number,
        "readings": [c.carrier for c in resolution.candidates],
        "detection_error": str(resolution.detection_error or "") or None,
        "lookups": lookups,
        "requests": [asdict(exchange) for exchange in exchanges],
    }


def _event(event: TrackingEvent) -> dict[str, Any]:
    """Show an event as the bot read it."""
    return {
        "occurred_at": event.occurred_at.isoformat(),
        "status": str(event.status),
        "code": event.code,
        "description": event.description,
        "location": event.location,
        "postcode": event.postcode,
    }
