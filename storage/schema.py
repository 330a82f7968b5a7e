"""Ordered schema migrations; ``PRAGMA user_version`` counts how many are applied.

Never edit a migration that has shipped: append a new one. Times are stored as UTC ISO-8601
text with microseconds (``2024-05-01T10:00:00.000000+00:00``), so text order is time order.
"""

from __future__ import annotations

_V1_BASE = """
CREATE TABLE chats (
    id          INTEGER PRIMARY KEY,  -- the Telegram chat id
    type        TEXT    NOT NULL CHECK (type IN ('private', 'group', 'supergroup', 'channel')),
    language    TEXT,
    active      INTEGER NOT NULL DEFAULT 1,
    blocked     INTEGER NOT NULL DEFAULT 0,
    quiet_start INTEGER CHECK (quiet_start BETWEEN 0 AND 1439),  -- minutes of the day
    quiet_end   INTEGER CHECK (quiet_end BETWEEN 0 AND 1439),
    created_at  TEXT    NOT NULL
);

CREATE TABLE parcels (
    id              INTEGER PRIMARY KEY,
    carrier         TEXT NOT NULL,
    number          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'unknown',
    status_code     TEXT,
    last_event_at   TEXT,
    last_checked_at TEXT,
    next_check_at   TEXT,
    check_interval  REAL,  -- seconds
    not_found_since TEXT,
    last_error      TEXT,
    stale_asked_at  TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (carrier, number)
);

CREATE TABLE subscriptions (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    parcel_id   INTEGER NOT NULL REFERENCES parcels (id) ON DELETE CASCADE,
    label       TEXT,
    added_by    INTEGER,  -- the Telegram user who added it (matters in groups)
    created_at  TEXT NOT NULL,
    archived_at TEXT,
    UNIQUE (chat_id, parcel_id)
);
CREATE INDEX subscriptions_parcel ON subscriptions (parcel_id);

CREATE TABLE events (
    parcel_id     INTEGER NOT NULL REFERENCES parcels (id) ON DELETE CASCADE,
    fingerprint   TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    status        TEXT NOT NULL,
    code          TEXT,
    description   TEXT,
    location      TEXT,
    postcode      TEXT,
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (parcel_id, fingerprint)
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    chat_id         INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    subscription_id INTEGER REFERENCES subscriptions (id) ON DELETE CASCADE,
    parcel_id       INTEGER REFERENCES parcels (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,  -- 'events', 'final', 'stale', ...
    payload         TEXT    NOT NULL,  -- JSON the sender renders
    loud            INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_unsent ON outbox (sent_at, id);

CREATE TABLE detect_cache (
    number     TEXT PRIMARY KEY,
    payload    TEXT NOT NULL,  -- JSON
    created_at TEXT NOT NULL
);

CREATE TABLE carrier_picks (
    chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    number  TEXT    NOT NULL,
    carrier TEXT    NOT NULL,
    PRIMARY KEY (chat_id, number)
);

CREATE TABLE budget (
    day     TEXT NOT NULL,  -- e.g. '2024-05-01', chosen by the caller
    counter TEXT NOT NULL,
    number  TEXT NOT NULL,
    PRIMARY KEY (day, counter, number)
);
"""

_V2_BROADCASTS = """
CREATE TABLE broadcasts (
    id                  INTEGER PRIMARY KEY,
    admin_chat_id       INTEGER NOT NULL,
    text                TEXT    NOT NULL,
    audience            TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'cancelled', 'done')),
    created_at          TEXT    NOT NULL,
    progress_message_id INTEGER
);

CREATE TABLE broadcast_recipients (
    broadcast_id INTEGER NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    chat_id      INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    state        TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'sent', 'blocked', 'failed')),
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (broadcast_id, chat_id)
);
"""

_V3_CARRIER_CALLS = """
CREATE TABLE carrier_calls (
    id         INTEGER PRIMARY KEY,
    carrier    TEXT    NOT NULL,
    at         TEXT    NOT NULL,
    ok         INTEGER NOT NULL,
    latency_ms REAL    NOT NULL
);
CREATE INDEX carrier_calls_at ON carrier_calls (at);
CREATE INDEX parcels_next_check ON parcels (next_check_at);
"""

# "Was this number ever counted?" is asked before every GdePosylka request: without this
# index it scans every kept day's rows.
_V4_BUDGET_NUMBER = """
CREATE INDEX budget_number ON budget (counter, number);
"""

# When the chats were last reminded that a parcel waits for pickup; a partial index keeps the
# once-a-tick search for waiting parcels cheap.
_V5_PICKUP_REMINDERS = """
ALTER TABLE parcels ADD COLUMN pickup_reminded_at TEXT;
-- Parcels already waiting when this version starts count as reminded: no burst of reminders.
UPDATE parcels SET pickup_reminded_at = strftime('%Y-%m-%dT%H:%M:%S.000000+00:00', 'now')
WHERE status = 'ready_for_pickup';
CREATE INDEX parcels_waiting ON parcels (last_event_at) WHERE status = 'ready_for_pickup';
"""

# Carrier correction: when the bot last asked the other possible carriers about a number its
# carrier has not found for days; the partial index keeps the once-a-tick search cheap.
_V6_CARRIER_SWITCH = """
ALTER TABLE parcels ADD COLUMN switch_tried_at TEXT;
CREATE INDEX parcels_not_found ON parcels (not_found_since) WHERE not_found_since IS NOT NULL;
"""

# The bot's message that showed a subscription's parcel (its card, or the summary it was
# added in): pushes about that parcel alone are sent as replies to it, so the thread shows
# which parcel changed.
_V7_REPLY_TARGET = """
ALTER TABLE subscriptions ADD COLUMN card_message_id INTEGER;
"""

# Whether someone chose the chat's language (/language) or it only came from the first user's
# Telegram settings: when a group becomes a supergroup, a choice beats a guess, whichever of
# the two chats the bot heard from first.
_V8_LANGUAGE_CHOSEN = """
ALTER TABLE chats ADD COLUMN language_chosen INTEGER NOT NULL DEFAULT 0;
"""

# What a carrier says about a parcel besides its events (a route, the receiving locker), as
# JSON text, so cards shown from storage show it too.
_V9_PARCEL_EXTRAS = """
ALTER TABLE parcels ADD COLUMN extras TEXT;
"""

# When a parcel took over the chats of the same number at another carrier (carrier
# correction), for /stats.
_V10_MOVED_IN = """
ALTER TABLE parcels ADD COLUMN moved_in_at TEXT;
"""

# Ids (users or chats) an admin banned: the bot ignores their updates, and a banned chat's
# parcels are neither checked nor pushed. Not tied to chats, so a user who never opened a
# private chat can be banned, and a ban outlives /forget.
_V11_BANS = """
CREATE TABLE bans (
    id         INTEGER PRIMARY KEY,  -- a Telegram user or chat id
    reason     TEXT,
    banned_by  INTEGER NOT NULL,     -- the admin's user id
    created_at TEXT    NOT NULL
);
"""

# Subscription ids are in buttons: an id freed by a stop must never name another parcel (an
# INTEGER PRIMARY KEY reuses the highest freed id). New rows take the high-water mark + 1;
# AUTOINCREMENT would need a table rebuild, which ON DELETE CASCADE makes unsafe here. Ids
# freed before this version left no trace, so in a database already in use the mark starts a
# million above the highest id left (far more than could have been deleted above it).
_V12_SUBSCRIPTION_IDS = """
CREATE TABLE id_high_water (
    name    TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
);
INSERT INTO id_high_water (name, last_id) VALUES ('subscriptions',
    CASE WHEN EXISTS (SELECT 1 FROM chats) OR EXISTS (SELECT 1 FROM parcels)
        OR EXISTS (SELECT 1 FROM subscriptions)
    THEN (SELECT COALESCE(MAX(id), 0) FROM subscriptions) + 1000000 ELSE 0 END);
CREATE TRIGGER subscriptions_high_water AFTER INSERT ON subscriptions BEGIN
    UPDATE id_high_water SET last_id = NEW.id WHERE name = 'subscriptions' AND last_id < NEW.id;
END;
"""

MIGRATIONS: list[str] = [
    _V1_BASE,
    _V2_BROADCASTS,
    _V3_CARRIER_CALLS,
    _V4_BUDGET_NUMBER,
    _V5_PICKUP_REMINDERS,
    _V6_CARRIER_SWITCH,
    _V7_REPLY_TARGET,
    _V8_LANGUAGE_CHOSEN,
    _V9_PARCEL_EXTRAS,
    _V10_MOVED_IN,
    _V11_BANS,
    _V12_SUBSCRIPTION_IDS,
]
