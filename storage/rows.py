"""Turn ``sqlite3.Row`` objects into the frozen records of ``storage.models``."""

from __future__ import annotations

from sqlite3 import Row

from storage.models import (
    Broadcast,
    Chat,
    OutboxItem,
    Parcel,
    StoredEvent,
    Subscription,
    SubscriptionView,
)
from storage.times import from_db, opt_from_db

PARCEL_FIELDS = (
    "id",
    "carrier",
    "number",
    "status",
    "status_code",
    "last_event_at",
    "last_checked_at",
    "next_check_at",
    "check_interval",
    "not_found_since",
    "last_error",
    "stale_asked_at",
    "pickup_reminded_at",
    "switch_tried_at",
    "extras",
    "created_at",
)
# Joined queries prefix parcel columns so they do not collide with the subscription's.
PARCEL_AS_P = ", ".join(f"p.{name} AS p_{name}" for name in PARCEL_FIELDS)
SUBSCRIPTION_VIEW_SQL = (
    "SELECT s.id, s.chat_id, s.label, s.added_by, s.created_at, s.archived_at, "
    "s.card_message_id, "
    f"{PARCEL_AS_P} FROM subscriptions AS s JOIN parcels AS p ON p.id = s.parcel_id"
)

# A chat (alias c) the bot may write to: it did not block the bot and no admin banned it.
REACHABLE_CHAT = (
    "c.active = 1 AND c.blocked = 0 AND NOT EXISTS (SELECT 1 FROM bans WHERE bans.id = c.id)"
)
# A subscription whose chat should hear about its parcel (aliases: s = subscription, c = chat).
LIVE_SUBSCRIPTION = f"s.archived_at IS NULL AND {REACHABLE_CHAT}"
# A parcel (alias p) that a reachable chat still follows.
FOLLOWED = (
    "EXISTS (SELECT 1 FROM subscriptions AS s JOIN chats AS c ON c.id = s.chat_id "
    f"WHERE s.parcel_id = p.id AND {LIVE_SUBSCRIPTION})"
)


def chat_from_row(row: Row, prefix: str = "") -> Chat:
    """Build a Chat from a ``chats`` row."""
    return Chat(
        id=row[f"{prefix}id"],
        type=row[f"{prefix}type"],
        language=row[f"{prefix}language"],
        active=bool(row[f"{prefix}active"]),
        blocked=bool(row[f"{prefix}blocked"]),
        quiet_start=row[f"{prefix}quiet_start"],
        quiet_end=row[f"{prefix}quiet_end"],
        created_at=from_db(row[f"{prefix}created_at"]),
    )


def parcel_from_row(row: Row, prefix: str = "") -> Parcel:
    """Build a Parcel from a ``parcels`` row (columns optionally prefixed)."""
    return Parcel(
        id=row[f"{prefix}id"],
        carrier=row[f"{prefix}carrier"],
        number=row[f"{prefix}number"],
        status=row[f"{prefix}status"],
        status_code=row[f"{prefix}status_code"],
        last_event_at=opt_from_db(row[f"{prefix}last_event_at"]),
        last_checked_at=opt_from_db(row[f"{prefix}last_checked_at"]),
        next_check_at=opt_from_db(row[f"{prefix}next_check_at"]),
        check_interval=row[f"{prefix}check_interval"],
        not_found_since=opt_from_db(row[f"{prefix}not_found_since"]),
        last_error=row[f"{prefix}last_error"],
        stale_asked_at=opt_from_db(row[f"{prefix}stale_asked_at"]),
        pickup_reminded_at=opt_from_db(row[f"{prefix}pickup_reminded_at"]),
        switch_tried_at=opt_from_db(row[f"{prefix}switch_tried_at"]),
        extras=row[f"{prefix}extras"],
        created_at=from_db(row[f"{prefix}created_at"]),
    )


def subscription_from_row(row: Row, prefix: str = "") -> Subscription:
    """Build a Subscription from a ``subscriptions`` row."""
    return Subscription(
        id=row[f"{prefix}id"],
        chat_id=row[f"{prefix}chat_id"],
        parcel_id=row[f"{prefix}parcel_id"],
        label=row[f"{prefix}label"],
        added_by=row[f"{prefix}added_by"],
        created_at=from_db(row[f"{prefix}created_at"]),
        archived_at=opt_from_db(row[f"{prefix}archived_at"]),
    )


def view_from_row(row: Row) -> SubscriptionView:
    """Build a SubscriptionView from a ``SUBSCRIPTION_VIEW_SQL`` row."""
    return SubscriptionView(
        id=row["id"],
        chat_id=row["chat_id"],
        label=row["label"],
        added_by=row["added_by"],
        created_at=from_db(row["created_at"]),
        archived_at=opt_from_db(row["archived_at"]),
        parcel=parcel_from_row(row, "p_"),
        card_message_id=row["card_message_id"],
    )


def event_from_row(row: Row) -> StoredEvent:
    """Build a StoredEvent from an ``events`` row."""
    return StoredEvent(
        parcel_id=row["parcel_id"],
        fingerprint=row["fingerprint"],
        occurred_at=from_db(row["occurred_at"]),
        status=row["status"],
        code=row["code"],
        description=row["description"],
        location=row["location"],
        postcode=row["postcode"],
        first_seen_at=from_db(row["first_seen_at"]),
    )


def outbox_from_row(row: Row) -> OutboxItem:
    """Build an OutboxItem from an ``outbox`` row."""
    return OutboxItem(
        id=row["id"],
        chat_id=row["chat_id"],
        subscription_id=row["subscription_id"],
        parcel_id=row["parcel_id"],
        kind=row["kind"],
        payload=row["payload"],
        loud=bool(row["loud"]),
        created_at=from_db(row["created_at"]),
        sent_at=opt_from_db(row["sent_at"]),
    )


def broadcast_from_row(row: Row) -> Broadcast:
    """Build a Broadcast from a ``broadcasts`` row."""
    return Broadcast(
        id=row["id"],
        admin_chat_id=row["admin_chat_id"],
        text=row["text"],
        audience=row["audience"],
        status=row["status"],
        created_at=from_db(row["created_at"]),
        progress_message_id=row["progress_message_id"],
    )
