"""Parcels: creation, the poll schedule, recorded lookups and their notifications."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from storage import LookupRecord, Storage
from storage.core import IN_CHUNK
from storage.outbox import NOTIFY_SUBSCRIBERS
from tests.storage.helpers import T0, at, event, follow, lookup


async def test_get_or_create_parcel_is_idempotent(store: Storage) -> None:
    first = await store.get_or_create_parcel("ukrposhta", "RR1")
    again = await store.get_or_create_parcel("ukrposhta", "RR1")
    other = await store.get_or_create_parcel("inpost", "RR1")
    assert first == again
    assert other.id != first.id
    assert (first.status, first.next_check_at, first.not_found_since) == ("unknown", None, None)
    assert await store.get_parcel(first.id) == first
    assert await store.find_parcel("inpost", "RR1") == other


async def test_unknown_parcel(store: Storage) -> None:
    assert await store.get_parcel(404) is None
    assert await store.find_parcel("ukrposhta", "nope") is None


async def test_schedule_parcel(store: Storage) -> None:
    parcel = await store.get_or_create_parcel("ukrposhta", "RR1")
    assert await store.schedule_parcel(parcel.id, at(30), 1800.0) is True
    scheduled = await store.get_parcel(parcel.id)
    assert scheduled is not None
    assert (scheduled.next_check_at, scheduled.check_interval) == (at(30), 1800.0)
    assert await store.schedule_parcel(404, at(30), 1800.0) is False


async def test_mark_stale_asked(store: Storage) -> None:
    parcel = await store.get_or_create_parcel("ukrposhta", "RR1")
    assert await store.mark_stale_asked(parcel.id, at(5)) is True
    asked = await store.get_parcel(parcel.id)
    assert asked is not None
    assert asked.stale_asked_at == at(5)
    await store.mark_stale_asked(parcel.id, None)
    cleared = await store.get_parcel(parcel.id)
    assert cleared is not None
    assert cleared.stale_asked_at is None
    assert await store.mark_stale_asked(404, at(5)) is False


async def test_due_parcels_picks_followed_parcels_that_are_due(store: Storage) -> None:
    await follow(store, 1, "NEVER-CHECKED")
    late = await follow(store, 1, "LATE")
    later = await follow(store, 1, "LATER")
    exact = await follow(store, 1, "EXACTLY-NOW")
    future = await follow(store, 1, "FUTURE")
    await store.schedule_parcel(late.parcel_id, at(-60), 60.0)
    await store.schedule_parcel(later.parcel_id, at(-10), 60.0)
    await store.schedule_parcel(exact.parcel_id, at(0), 60.0)
    await store.schedule_parcel(future.parcel_id, at(1), 60.0)

    blocked = await follow(store, 2, "BLOCKED-CHAT")
    await store.set_chat_blocked(2, True)
    archived = await follow(store, 3, "ARCHIVED")
    await store.archive_subscription(archived.id)
    orphan = await store.get_or_create_parcel("ukrposhta", "NOBODY")

    due = await store.due_parcels(T0, 100)
    assert [parcel.number for parcel in due] == ["NEVER-CHECKED", "LATE", "LATER", "EXACTLY-NOW"]
    assert blocked.parcel_id not in {parcel.id for parcel in due}
    assert orphan.id not in {parcel.id for parcel in due}
    assert [parcel.number for parcel in await store.due_parcels(T0, 2)] == [
        "NEVER-CHECKED",
        "LATE",
    ]


async def test_due_parcel_followed_by_one_live_chat_is_due(store: Storage) -> None:
    blocked = await follow(store, 2, "SHARED")
    await store.set_chat_blocked(2, True)
    assert await store.due_parcels(T0, 10) == []
    await follow(store, 3, "SHARED")
    assert [parcel.id for parcel in await store.due_parcels(T0, 10)] == [blocked.parcel_id]


async def test_record_lookup_stores_new_events_and_updates_the_parcel(store: Storage) -> None:
    view = await follow(store, 1)
    events = [event("b", 20), event("a", 10), event("c", 30, status="delivered")]
    new = await store.record_lookup(
        view.parcel_id,
        checked_at=at(60),
        status="delivered",
        status_code="41000",
        last_event_at=at(30),
        not_found=False,
        error=None,
        next_check_at=at(120),
        check_interval=3600.0,
        events=events,
        notify=False,
        loud=False,
    )
    assert [item.fingerprint for item in new] == ["a", "b", "c"]
    assert all(item.first_seen_at == at(60) for item in new)
    assert new[0].occurred_at == at(10)
    assert (new[0].code, new[0].location, new[0].postcode) == ("code-a", "Kyiv", "01001")
    assert await store.parcel_events(view.parcel_id) == new

    parcel = await store.get_parcel(view.parcel_id)
    assert parcel is not None
    assert (parcel.status, parcel.status_code, parcel.last_event_at) == (
        "delivered",
        "41000",
        at(30),
    )
    assert (parcel.last_checked_at, parcel.next_check_at, parcel.check_interval) == (
        at(60),
        at(120),
        3600.0,
    )
    assert (parcel.not_found_since, parcel.last_error) == (None, None)


async def test_record_lookup_returns_only_new_events(store: Storage) -> None:
    view = await follow(store, 1)
    await lookup(store, view.parcel, [event("a", 1), event("b", 2)], checked_at=at(10))
    new = await lookup(
        store, view.parcel, [event("a", 1), event("b", 2), event("c", 3)], checked_at=at(20)
    )
    assert [(item.fingerprint, item.first_seen_at) for item in new] == [("c", at(20))]
    assert await store.fingerprints(view.parcel_id) == {"a", "b", "c"}
    stored = await store.parcel_events(view.parcel_id)
    assert [(item.fingerprint, item.first_seen_at) for item in stored] == [
        ("a", at(10)),
        ("b", at(10)),
        ("c", at(20)),
    ]
    assert await lookup(store, view.parcel, [event("a", 1)]) == []


async def test_record_lookup_stores_a_repeated_fingerprint_once(store: Storage) -> None:
    view = await follow(store, 1)
    new = await lookup(store, view.parcel, [event("a", 1), event("a", 1)])
    assert [item.fingerprint for item in new] == ["a"]


async def test_record_lookup_notifies_live_subscribers_only(store: Storage) -> None:
    live = await follow(store, 1, "P")
    await follow(store, 2, "P")
    await store.set_chat_blocked(2, True)
    archived = await follow(store, 3, "P")
    await store.archive_subscription(archived.id)
    other_parcel = await follow(store, 4, "OTHER")

    await lookup(store, live.parcel, [event("a", 1)], notify=False)
    new = await store.record_lookup(
        live.parcel_id,
        checked_at=at(5),
        status="out_for_delivery",
        next_check_at=None,
        check_interval=None,
        events=[event("a", 1), event("c", 3), event("b", 2)],
        notify=True,
        loud=True,
        kind="final",
    )
    assert [item.fingerprint for item in new] == ["b", "c"]
    [item] = await store.pending_outbox(100)
    assert (item.chat_id, item.subscription_id, item.parcel_id) == (1, live.id, live.parcel_id)
    assert (item.kind, item.loud, item.sent_at) == ("final", True, None)
    assert json.loads(item.payload) == ["b", "c"]
    assert other_parcel.parcel_id != item.parcel_id


async def test_record_lookup_without_new_events_or_notify_queues_nothing(store: Storage) -> None:
    view = await follow(store, 1)
    await lookup(store, view.parcel, [event("a")], notify=False)
    await lookup(store, view.parcel, [event("a")], notify=True)
    await lookup(store, view.parcel, [], notify=True)
    assert await store.pending_outbox(100) == []


async def test_not_found_since_is_set_once_and_cleared_when_found(store: Storage) -> None:
    view = await follow(store, 1)
    await lookup(store, view.parcel, [], status=None, not_found=True, checked_at=at(0))
    await lookup(store, view.parcel, [], status=None, not_found=True, checked_at=at(30))
    parcel = await store.get_parcel(view.parcel_id)
    assert parcel is not None
    assert (parcel.not_found_since, parcel.last_checked_at) == (at(0), at(30))
    await lookup(store, view.parcel, [event("a")], checked_at=at(60))
    found = await store.get_parcel(view.parcel_id)
    assert found is not None
    assert found.not_found_since is None


async def test_failed_lookup_keeps_status_and_records_the_error(store: Storage) -> None:
    view = await follow(store, 1)
    await lookup(store, view.parcel, [event("a", 1)], status="in_transit")
    await lookup(store, view.parcel, [], status=None, error="timeout", checked_at=at(10))
    parcel = await store.get_parcel(view.parcel_id)
    assert parcel is not None
    assert (parcel.status, parcel.status_code, parcel.last_error) == (
        "in_transit",
        "S1",
        "timeout",
    )
    assert parcel.last_event_at == at(1)  # no events: the stored time stays
    assert parcel.last_checked_at == at(10)
    await lookup(store, view.parcel, [], status="in_transit")
    recovered = await store.get_parcel(view.parcel_id)
    assert recovered is not None
    assert recovered.last_error is None


async def test_record_lookup_of_unknown_parcel_writes_nothing(store: Storage) -> None:
    with pytest.raises(LookupError, match="404"):
        await lookup(store, 404, [event("a")])
    assert await store.fingerprints(404) == set()


async def test_record_lookup_rolls_back_when_the_outbox_fails(
    store: Storage, db_path: Path
) -> None:
    view = await follow(store, 1)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "CREATE TRIGGER outbox_fails BEFORE INSERT ON outbox "
            "BEGIN SELECT RAISE(ABORT, 'outbox is broken'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="outbox is broken"):
        await lookup(store, view.parcel, [event("a")], status="delivered")
    assert await store.fingerprints(view.parcel_id) == set()
    parcel = await store.get_parcel(view.parcel_id)
    assert parcel == view.parcel

    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TRIGGER outbox_fails")
    assert [item.fingerprint for item in await lookup(store, view.parcel, [event("a")])] == ["a"]
    assert len(await store.pending_outbox(10)) == 1


async def test_record_lookup_rolls_back_when_notifying_raises(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = await follow(store, 1)
    real = store._executemany

    async def broken(sql: str, rows: object) -> int:
        if sql == NOTIFY_SUBSCRIBERS:  # the last write of the transaction fails
            raise RuntimeError("sender table gone")
        return await real(sql, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_executemany", broken)
    with pytest.raises(RuntimeError, match="sender table gone"):
        await lookup(store, view.parcel, [event("a"), event("b", 1)], status="delivered")
    assert await store.parcel_events(view.parcel_id) == []
    assert await store.get_parcel(view.parcel_id) == view.parcel


async def test_events_of_many_parcels_in_order_and_in_chunks(store: Storage) -> None:
    views = [await follow(store, 1, f"N{index}") for index in range(IN_CHUNK + 3)]
    first, last = views[0], views[-1]
    await lookup(store, first.parcel, [event("c", 3), event("a", 1), event("b", 2)])
    await lookup(store, last.parcel, [event("z", 0)])
    found = await store.events_of([first.parcel_id, *(v.parcel_id for v in views[1:]), 404])
    assert [item.fingerprint for item in found[first.parcel_id]] == ["a", "b", "c"]
    assert [item.fingerprint for item in found[last.parcel_id]] == ["z"]
    assert found[404] == []
    assert found[views[1].parcel_id] == []
    assert await store.events_of([]) == {}


async def test_get_subscriptions_and_chats_by_id(store: Storage) -> None:
    one = await follow(store, 1, "A", label="gift")
    two = await follow(store, 2, "B")
    views = await store.get_subscriptions([one.id, two.id, 404])
    assert views == {one.id: one, two.id: two}
    chats = await store.get_chats([1, 2, 404])
    assert sorted(chats) == [1, 2]
    assert chats[1] == await store.get_chat(1)
    assert await store.get_subscriptions([]) == {}
    assert await store.get_chats([]) == {}


async def test_stats_by_carrier_status(store: Storage) -> None:
    one = await follow(store, 1, "A")
    await follow(store, 1, "B")
    await follow(store, 1, "C", carrier="inpost")
    await lookup(store, one.parcel, [], status="delivered")
    assert await store.stats_by_carrier_status() == {
        "inpost": {"unknown": 1},
        "ukrposhta": {"delivered": 1, "unknown": 1},
    }


async def test_prune_orphan_parcels(store: Storage) -> None:
    followed = await follow(store, 1, "FOLLOWED")
    orphan = await store.get_or_create_parcel("ukrposhta", "ORPHAN")
    # A parcel created at (or after) the cut-off may be about to get its first subscriber.
    assert await store.prune_orphan_parcels(orphan.created_at) == 0
    assert await store.prune_orphan_parcels(orphan.created_at + timedelta(days=1)) == 1
    assert await store.get_parcel(orphan.id) is None
    assert await store.get_parcel(followed.parcel_id) is not None


async def test_record_lookups_stores_a_batch_atomically(store) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from storage import LookupRecord, NewEvent

    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    await store.upsert_chat(1, "private", "en")
    first = await store.get_or_create_parcel("ukrposhta", "0500100031143")
    second = await store.get_or_create_parcel("inpost", "612345678901234567890123")
    await store.subscribe(1, first.id, None, 1)
    old = NewEvent("a", now - timedelta(days=1), "accepted")
    new = NewEvent("b", now, "ready_for_pickup")
    await store.record_lookup(
        first.id,
        checked_at=now,
        status="accepted",
        next_check_at=now,
        check_interval=60.0,
        events=[old],
        notify=False,
    )
    records = [
        LookupRecord(
            first.id,
            now,
            "ready_for_pickup",
            now,
            60.0,
            events=(old, new, new),
            notify=True,
            loud=True,
        ),
        LookupRecord(second.id, now, None, now, 60.0, not_found=True),
    ]
    fresh = await store.record_lookups(records)
    assert [e.fingerprint for e in fresh[first.id]] == ["b"]
    assert fresh[second.id] == []
    assert (await store.get_parcel(second.id)).not_found_since == now
    [row] = await store.pending_outbox(10)
    assert row.loud
    assert await store.fingerprints_many([first.id, second.id]) == {
        first.id: {"a", "b"},
        second.id: set(),
    }
    import pytest

    with pytest.raises(LookupError):
        await store.record_lookups(
            [
                LookupRecord(99_999, now, None, now, 1.0),
                LookupRecord(second.id, now, "delivered", now, 1.0),
            ]
        )
    assert (await store.get_parcel(second.id)).status != "delivered"  # rolled back


async def test_record_lookups_queues_each_parcels_pushes_but_the_quiet_one(store: Storage) -> None:
    from storage import LookupRecord

    one = await follow(store, 1, "A")
    other_chat = await follow(store, 2, "A")
    two = await follow(store, 1, "B")
    records = [
        LookupRecord(
            one.parcel_id,
            T0,
            "in_transit",
            at(60),
            3600.0,
            events=(event("a"),),
            notify=True,
            loud=True,
            quiet_for=one.id,
        ),
        LookupRecord(
            two.parcel_id, T0, "in_transit", at(60), 3600.0, events=(event("b"),), notify=True
        ),
    ]
    await store.record_lookups(records)
    pending = await store.pending_outbox(10)
    assert sorted((item.subscription_id, item.loud) for item in pending) == sorted(
        [(other_chat.id, True), (two.id, False)]
    )
    assert [json.loads(item.payload) for item in pending if item.subscription_id == two.id] == [
        ["b"]
    ]


async def test_waiting_for_pickup_lists_followed_ready_parcels(store: Storage) -> None:
    ready = await follow(store, 1, "READY")
    early = await follow(store, 1, "NOT-YET")
    moving = await follow(store, 1, "MOVING")
    blocked = await follow(store, 2, "BLOCKED")
    archived = await follow(store, 3, "ARCHIVED")
    for view, minutes in ((ready, 0), (early, 90), (blocked, 0), (archived, 0)):
        await lookup(
            store, view.parcel, [event(view.parcel.number, minutes)], status="ready_for_pickup"
        )
    await lookup(store, moving.parcel, [event("m")], status="in_transit")
    await store.set_chat_blocked(2, True)
    await store.archive_subscription(archived.id)
    assert [p.number for p in await store.waiting_for_pickup(at(60))] == ["READY"]
    assert await store.mark_pickup_reminded(ready.parcel_id, at(61)) is True
    assert await store.mark_pickup_reminded(404, at(61)) is False
    waiting = await store.waiting_for_pickup(at(120))
    assert [(p.number, p.pickup_reminded_at) for p in waiting] == [
        ("READY", at(61)),
        ("NOT-YET", None),
    ]


async def test_parcels_by_number_across_carriers(store: Storage) -> None:
    first = await store.get_or_create_parcel("ukrposhta", "RR1")
    second = await store.get_or_create_parcel("gdeposylka/ups", "RR1")
    await store.get_or_create_parcel("ukrposhta", "RR2")
    assert await store.parcels_by_number("RR1") == [first, second]
    assert await store.parcels_by_number("NOPE") == []


async def test_extras_are_kept_until_a_lookup_brings_new_ones(store: Storage) -> None:
    parcel = await store.get_or_create_parcel("inpost", "612345678901234567890123")

    async def record(extras: str | None) -> str | None:
        await store.record_lookups(
            [LookupRecord(parcel.id, T0, "in_transit", at(60), 3600.0, extras=extras)]
        )
        stored = await store.get_parcel(parcel.id)
        assert stored is not None
        return stored.extras

    assert await record(None) is None
    assert await record('{"pickup_point": "KRA01M"}') == '{"pickup_point": "KRA01M"}'
    assert await record(None) == '{"pickup_point": "KRA01M"}'  # a lookup without them
    assert await record('{"pickup_point": "KRA02M"}') == '{"pickup_point": "KRA02M"}'


async def test_record_lookups_with_decides_from_the_fingerprints_it_writes_against(
    store: Storage,
) -> None:
    view = await follow(store, 1, "A")
    other = await follow(store, 1, "B")
    await lookup(store, view.parcel, [event("a")], notify=False)
    await lookup(store, other.parcel, [event("x")], notify=False)
    seen: list[dict[int, set[str]]] = []

    def decide(known: Mapping[int, set[str]]) -> list[LookupRecord]:
        seen.append({parcel_id: set(prints) for parcel_id, prints in known.items()})
        events = (event("a"), event("b", 5))
        return [
            LookupRecord(view.parcel_id, T0, "in_transit", at(60), 60.0, events=events),
            # Not among the ids read: its stored events must not look new all the same.
            LookupRecord(other.parcel_id, T0, "in_transit", at(60), 60.0, events=(event("x"),)),
            LookupRecord(404, T0, None, at(60), 60.0),  # gone meanwhile
        ]

    records, new = await store.record_lookups_with([view.parcel_id, 405], decide, missing_ok=True)
    assert seen == [{view.parcel_id: {"a"}, 405: set()}]
    assert [r.parcel_id for r in records] == [view.parcel_id, other.parcel_id, 404]
    assert {parcel_id: [e.fingerprint for e in events] for parcel_id, events in new.items()} == {
        view.parcel_id: ["b"],
        other.parcel_id: [],
    }
    assert await store.fingerprints_many([view.parcel_id, other.parcel_id]) == {
        view.parcel_id: {"a", "b"},
        other.parcel_id: {"x"},
    }


async def test_record_lookups_with_serialises_deciding_with_writing(store: Storage) -> None:
    # Two lookups of a parcel stored at once: the second decides knowing the first's events.
    view = await follow(store, 1, "A")
    seen: list[set[str]] = []

    def decide(known: Mapping[int, set[str]]) -> list[LookupRecord]:
        seen.append(set(known[view.parcel_id]))
        events = (event("a"),)
        return [
            LookupRecord(
                view.parcel_id, T0, "in_transit", at(60), 60.0, events=events, notify=True
            )
        ]

    first, second = await asyncio.gather(
        *(store.record_lookups_with([view.parcel_id], decide) for _ in range(2))
    )
    assert seen == [set(), {"a"}]
    assert [len(new[view.parcel_id]) for _, new in (first, second)] == [1, 0]
    assert len(await store.pending_outbox(10)) == 1


async def test_record_lookups_with_stores_nothing_when_deciding_fails(store: Storage) -> None:
    view = await follow(store, 1, "A")

    def decide(known: Mapping[int, set[str]]) -> list[LookupRecord]:
        raise ValueError("bad outcome")

    with pytest.raises(ValueError, match="bad outcome"):
        await store.record_lookups_with([view.parcel_id], decide)
    parcel = await store.get_parcel(view.parcel_id)
    assert parcel is not None
    assert parcel.last_checked_at is None
    # The transaction was closed: the next write goes through.
    assert [e.fingerprint for e in await lookup(store, view.parcel, [event("a")])] == ["a"]
