"""Record one carrier lookup of a parcel: new events, parcel state and notifications at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from storage.models import LookupRecord, NewEvent, StoredEvent
from storage.outbox import NOTIFY_SUBSCRIBERS, OutboxMixin, notify_row
from storage.times import opt_to_db, to_db


class LookupsMixin(OutboxMixin):
    """Write the outcome of a lookup in one transaction."""

    async def fingerprints(self, parcel_id: int) -> set[str]:
        """Return the fingerprints of every stored event of a parcel."""
        return (await self.fingerprints_many([parcel_id]))[parcel_id]

    async def fingerprints_many(self, parcel_ids: Sequence[int]) -> dict[int, set[str]]:
        """Return the stored event fingerprints of many parcels at once."""
        found: dict[int, set[str]] = {parcel_id: set() for parcel_id in parcel_ids}
        rows = await self._fetch_in(
            "SELECT parcel_id, fingerprint FROM events WHERE parcel_id IN ({ids})", parcel_ids
        )
        for row in rows:
            found[row["parcel_id"]].add(row["fingerprint"])
        return found

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
        record = LookupRecord(
            parcel_id=parcel_id,
            checked_at=checked_at,
            status=status,
            status_code=status_code,
            last_event_at=last_event_at,
            not_found=not_found,
            error=error,
            next_check_at=next_check_at,
            check_interval=check_interval,
            events=tuple(events),
            notify=notify,
            loud=loud,
            kind=kind,
        )
        return (await self.record_lookups([record]))[parcel_id]

    async def record_lookups(
        self, records: Sequence[LookupRecord], *, missing_ok: bool = False
    ) -> dict[int, list[StoredEvent]]:
        """Store many lookups' outcomes in one transaction, all or nothing (see record_lookup).

        The poller stores a whole carrier batch at once: one transaction, bulk statements, and
        only events whose fingerprints are new are written.

        With ``missing_ok``, records of parcels that are gone (moved to another carrier
        meanwhile) are skipped and left out of the result; the others are stored.

        Returns:
            The new events of each parcel, oldest first (an empty list when none were new).

        Raises:
            LookupError: a parcel is unknown and not ``missing_ok`` (nothing is stored then).
        """
        if not records:
            return {}
        with_events = [record.parcel_id for record in records if record.events]
        _, new_events = await self.record_lookups_with(
            with_events, lambda _known: records, missing_ok=missing_ok
        )
        return new_events

    async def record_lookups_with(
        self,
        parcel_ids: Sequence[int],
        decide: Callable[[Mapping[int, set[str]]], Sequence[LookupRecord]],
        *,
        missing_ok: bool = False,
    ) -> tuple[list[LookupRecord], dict[int, list[StoredEvent]]]:
        """Read parcels' stored fingerprints, then store the records ``decide`` makes of them.

        Both happen in one transaction, so what ``decide`` takes for new (and so how loud a
        push is, and when to look again) is exactly what gets inserted, even when another
        lookup of the same parcel is being stored meanwhile. ``decide`` runs inside the
        transaction: it must be quick and must not use storage. Otherwise as record_lookups.

        Args:
            parcel_ids: the parcels whose fingerprints ``decide`` needs (unknown ids get an
                empty set); records with events for other parcels are still checked.
            decide: turns the fingerprints, by parcel id, into the records to store.
            missing_ok: skip records of parcels that are gone, as record_lookups does.

        Returns:
            The records ``decide`` made (the skipped ones included), and the new events of
            each stored parcel, oldest first.

        Raises:
            LookupError: a parcel is unknown and not ``missing_ok`` (nothing is stored then).
        """
        async with self.transaction():
            known = await self.fingerprints_many(parcel_ids)
            records = list(decide(known))
            new_events = await self._store_lookups(records, known, missing_ok=missing_ok)
        return records, new_events

    async def _store_lookups(
        self, records: list[LookupRecord], known: dict[int, set[str]], *, missing_ok: bool
    ) -> dict[int, list[StoredEvent]]:
        """Write records given their parcels' stored fingerprints (inside a transaction)."""
        new_events: dict[int, list[StoredEvent]] = {r.parcel_id: [] for r in records}
        if not records:
            return new_events
        updated = await self._executemany(_UPDATE_PARCEL, [_update_row(r) for r in records])
        if updated < len(records):
            if not missing_ok:
                raise LookupError(f"unknown parcel among {sorted(new_events)} in {self.path}")
            present = await self._fetch_in(
                "SELECT id FROM parcels WHERE id IN ({ids})", list(new_events)
            )
            stored = {row["id"] for row in present}
            records = [r for r in records if r.parcel_id in stored]
            new_events = {parcel_id: new_events[parcel_id] for parcel_id in stored}
        # Only a caller's mistake leaves some unread: their old events must not look new.
        unread = [r.parcel_id for r in records if r.events and r.parcel_id not in known]
        if unread:
            known.update(await self.fingerprints_many(unread))
        rows = []
        for record in records:
            seen = set(known.get(record.parcel_id, ()))  # a copy: decide's sets stay as read
            first_seen = to_db(record.checked_at)  # once per parcel, not per event
            for event in sorted(record.events, key=lambda item: item.occurred_at):
                if event.fingerprint in seen:
                    continue
                seen.add(event.fingerprint)
                rows.append(_event_row(record.parcel_id, event, first_seen))
                new_events[record.parcel_id].append(
                    _stored(record.parcel_id, event, record.checked_at)
                )
        await self._executemany(_INSERT_EVENT, rows)
        notices = [
            notify_row(
                record.parcel_id,
                record.kind,
                json.dumps([event.fingerprint for event in new_events[record.parcel_id]]),
                record.loud,
                record.quiet_for,
                record.checked_at,
            )
            for record in records
            if record.notify and new_events[record.parcel_id]
        ]
        if notices:
            await self._executemany(NOTIFY_SUBSCRIBERS, notices)
        return new_events


_UPDATE_PARCEL = (
    "UPDATE parcels SET "
    "status = COALESCE(?1, status), "
    "status_code = CASE WHEN ?1 IS NULL THEN status_code ELSE ?2 END, "
    "last_event_at = COALESCE(?3, last_event_at), "
    "last_checked_at = ?4, "
    "not_found_since = CASE WHEN ?5 THEN COALESCE(not_found_since, ?4) "
    "WHEN ?1 IS NULL AND ?6 IS NOT NULL THEN not_found_since END, "
    "last_error = ?6, next_check_at = ?7, check_interval = ?8, extras = COALESCE(?10, extras) "
    "WHERE id = ?9"
)
_INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (parcel_id, fingerprint, occurred_at, status, code, "
    "description, location, postcode, first_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _update_row(record: LookupRecord) -> tuple[object, ...]:
    """Return the parameters of the parcel update for one lookup."""
    return (
        record.status,
        record.status_code,
        opt_to_db(record.last_event_at),
        to_db(record.checked_at),
        int(record.not_found),
        record.error,
        opt_to_db(record.next_check_at),
        record.check_interval,
        record.parcel_id,
        record.extras,
    )


def _event_row(parcel_id: int, event: NewEvent, first_seen: str) -> tuple[object, ...]:
    """Return the parameters of one event insert."""
    return (
        parcel_id,
        event.fingerprint,
        to_db(event.occurred_at),
        event.status,
        event.code,
        event.description,
        event.location,
        event.postcode,
        first_seen,
    )


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
