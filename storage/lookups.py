"""Record one carrier lookup of a parcel: new events, parcel state and notifications at once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from storage.models import NewEvent, StoredEvent
from storage.outbox import OutboxMixin
from storage.times import opt_to_db, to_db


class LookupsMixin(OutboxMixin):
    """Write the outcome of a lookup in one transaction."""

    async def record_lookup(
        self,
        parcel_id: int,
        *,
        checked_at: datetime,
        status: str | None,
        status_code: str | None = None,
        last_event_at: datetime | None = None,
        not_found: bool = False,
        error: str | None = None,
        next_check_at: datetime | None,
        check_interval: float | None,
        events: Sequence[NewEvent] = (),
        notify: bool,
        loud: bool = False,
        kind: str = "events",
    ) -> list[StoredEvent]:
        """Store a lookup's outcome and queue notifications, all or nothing.

        Events whose fingerprint the parcel already has are ignored. When ``notify`` is set
        and some events are new, one outbox row is queued per live subscription (not
        archived, chat active and not blocking the bot) with a JSON list of the new events'
        fingerprints as payload.

        Args:
            parcel_id: the parcel that was looked up.
            checked_at: when the lookup ran.
            status: the parcel's status; None (a failed lookup) keeps the stored status
                and status code.
            status_code: the carrier's own code for that status.
            last_event_at: when the newest event happened; None keeps the stored time.
            not_found: the carrier does not know the number; the first such lookup sets
                ``not_found_since``, a later lookup that finds the parcel clears it.
            error: why the lookup failed, or None when it worked (clears the old error).
            next_check_at: when to look again.
            check_interval: the interval (seconds) that gave ``next_check_at``.
            events: every event the carrier returned; only new ones are stored.
            notify: queue notifications for the new events.
            loud: whether those notifications should make a sound.
            kind: the outbox kind of those notifications.

        Returns:
            The events that were new, oldest first.

        Raises:
            LookupError: the parcel is unknown.
        """
        first_seen = to_db(checked_at)
        new_events: list[StoredEvent] = []
        async with self.transaction():
            updated = await self._execute(
                "UPDATE parcels SET "
                "status = COALESCE(?1, status), "
                "status_code = CASE WHEN ?1 IS NULL THEN status_code ELSE ?2 END, "
                "last_event_at = COALESCE(?3, last_event_at), "
                "last_checked_at = ?4, "
                "not_found_since = CASE WHEN ?5 THEN COALESCE(not_found_since, ?4) END, "
                "last_error = ?6, next_check_at = ?7, check_interval = ?8 "
                "WHERE id = ?9",
                (
                    status,
                    status_code,
                    opt_to_db(last_event_at),
                    first_seen,
                    int(not_found),
                    error,
                    opt_to_db(next_check_at),
                    check_interval,
                    parcel_id,
                ),
            )
            if not updated:
                raise LookupError(f"no parcel {parcel_id} in {self.path}")
            for event in sorted(events, key=lambda item: item.occurred_at):
                inserted = await self._execute(
                    "INSERT OR IGNORE INTO events (parcel_id, fingerprint, occurred_at, status, "
                    "code, description, location, postcode, first_seen_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        parcel_id,
                        event.fingerprint,
                        to_db(event.occurred_at),
                        event.status,
                        event.code,
                        event.description,
                        event.location,
                        event.postcode,
                        first_seen,
                    ),
                )
                if inserted:
                    new_events.append(_stored(parcel_id, event, checked_at))
            if notify and new_events:
                payload = json.dumps([event.fingerprint for event in new_events])
                await self.notify_subscribers(parcel_id, kind, payload, loud)
        return new_events


def _stored(parcel_id: int, event: NewEvent, first_seen_at: datetime) -> StoredEvent:
    """Return the stored form of an event just inserted."""
    return StoredEvent(
        parcel_id=parcel_id,
        fingerprint=event.fingerprint,
        occurred_at=event.occurred_at.astimezone(UTC),
        status=event.status,
        code=event.code,
        description=event.description,
        location=event.location,
        postcode=event.postcode,
        first_seen_at=first_seen_at.astimezone(UTC),
    )
