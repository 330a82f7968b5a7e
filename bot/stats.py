"""The /stats report: chats, parcels, pushes, and each carrier's health."""

from __future__ import annotations

import html
from collections.abc import Collection
from datetime import UTC, datetime

from bot.breaker import CircuitState
from bot.carriers.models import ParcelStatus
from bot.i18n import N_, Translator
from bot.poller import Poller
from bot.quota import StorageNewNumberBudget
from bot.routing import client_of_key
from bot.status_labels import carrier_name, status_label
from storage import Storage

CHAT_KINDS = {
    "private": N_("private chat"),
    "group": N_("group"),
    "supergroup": N_("group"),
    "channel": N_("channel"),
}
BUSIEST_SHOWN = 5  # chats listed by how many parcels they follow (spotting abuse)
CIRCUIT_LABELS = {
    CircuitState.CLOSED: N_("healthy"),
    CircuitState.OPEN: N_("paused after failures"),
    CircuitState.HALF_OPEN: N_("pause over, probing"),
}


async def render_stats(
    storage: Storage,
    poller: Poller,
    budget: StorageNewNumberBudget,
    tr: Translator,
    since: datetime,
    banned: Collection[int] = frozenset(),
) -> str:
    """Render the admin statistics as HTML."""
    _ = tr.gettext
    chats = await storage.count_chats()
    totals = await storage.subscription_totals()
    by_carrier = await storage.stats_by_carrier_status()
    sent = await storage.count_sent_since(since)
    calls = {stat.carrier: stat for stat in await storage.carrier_stats(since)}
    groups = chats.get("group", 0) + chats.get("supergroup", 0)
    lines = [
        _(
            "<b>Chats</b>: {total} (private {private}, groups {groups}); active {active}, "
            "blocked {blocked}"
        ).format(
            total=chats.get("total", 0),
            private=chats.get("private", 0),
            groups=groups,
            active=chats.get("active", 0),
            blocked=chats.get("blocked", 0),
        ),
        _("<b>Banned chats</b>: {count} (/bans lists every ban)").format(count=chats["banned"]),
        _("<b>Parcels</b>: followed {active}, archived {archived}").format(
            active=totals["active"], archived=totals["archived"]
        ),
        _("<b>Notifications sent</b> in the last 24 h: {count}").format(count=sent),
        _("<b>Notifications waiting</b> to be sent: {count}").format(
            count=await storage.count_waiting()
        ),
        _("<b>Parcels moved to another carrier</b> in the last 24 h: {count}").format(
            count=await storage.count_moved_in(since)
        ),
        "",
        _("<b>Parcels by carrier and status</b>"),
    ]
    merged: dict[str, dict[str, int]] = {}
    for key, statuses in by_carrier.items():
        bucket = merged.setdefault(client_of_key(key), {})
        for status, count in statuses.items():
            bucket[status] = bucket.get(status, 0) + count
    for carrier in sorted(merged):
        parts = ", ".join(
            f"{status_label(ParcelStatus.parse(status), _)} {count}"
            for status, count in sorted(merged[carrier].items(), key=lambda item: -item[1])
        )
        lines.append(f"• {html.escape(carrier_name(carrier, _))}: {parts}")
    lines += ["", _("<b>Carriers</b> (last 24 h)")]
    now = datetime.now(UTC)
    names = sorted(set(poller.clients) | set(calls))
    for name in names:
        stat = calls.get(name)
        state = poller.breakers[name].state(now) if poller.breakers else CircuitState.CLOSED
        lookups, errors = (stat.calls, stat.errors) if stat else (0, 0)
        facts = [
            tr.ngettext("{count} lookup", "{count} lookups", lookups).format(count=lookups),
            tr.ngettext("{count} error", "{count} errors", errors).format(count=errors),
            _("median {ms} ms").format(ms=round(stat.p50_ms) if stat else 0),
            _("95th percentile {ms} ms").format(ms=round(stat.p95_ms) if stat else 0),
            _(CIRCUIT_LABELS[state]),
        ]
        lines.append(f"• {html.escape(carrier_name(name, _))}: {'; '.join(facts)}")
    if "gdeposylka" in poller.clients:
        lines.append(
            _("GdePosylka new numbers left today: {count}").format(count=await budget.remaining())
        )
    busiest = await storage.busiest_chats(BUSIEST_SHOWN)
    if busiest:
        lines += ["", _("<b>Chats following the most parcels</b>")]
        lines += [
            _("• <code>{id}</code> ({kind}): {count}").format(
                id=chat.id, kind=_(CHAT_KINDS.get(chat.type, chat.type)), count=count
            )
            + (" ⛔" if chat.id in banned else "")
            for chat, count in busiest
        ]
    return "\n".join(lines)
