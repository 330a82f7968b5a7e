"""Persistent state of the bot in SQLite, behind one async ``Storage`` class.

Storage keeps plain values (carrier names, status strings, event fingerprints) and never
imports ``bot``. Every datetime going in or out is an aware UTC ``datetime``.
"""

from storage.db import Storage, apply_migrations, open_storage, schema_version
from storage.errors import StorageError
from storage.models import (
    Ban,
    Broadcast,
    BroadcastCounts,
    CarrierStat,
    Chat,
    LookupRecord,
    NewEvent,
    OutboxItem,
    Parcel,
    StoredEvent,
    Subscription,
    SubscriptionView,
)
from storage.schema import MIGRATIONS
from storage.subscriptions import WAITING_STATUSES

__all__ = [
    "MIGRATIONS",
    "WAITING_STATUSES",
    "Ban",
    "Broadcast",
    "BroadcastCounts",
    "CarrierStat",
    "Chat",
    "LookupRecord",
    "NewEvent",
    "OutboxItem",
    "Parcel",
    "Storage",
    "StorageError",
    "StoredEvent",
    "Subscription",
    "SubscriptionView",
    "apply_migrations",
    "open_storage",
    "schema_version",
]
