"""Carrier corrections: which parcels are due, and handing their followers to another parcel."""

from __future__ import annotations

from storage import Storage
from tests.storage.helpers import at, event, follow, lookup

NUMBER = "LM951174328CN"


async def test_correction_due_takes_followed_parcels_in_the_window_not_tried_lately(
    store: Storage,
) -> None:
    unknown = (await follow(store, 1, NUMBER, carrier="gdeposylka/china-post")).parcel
    await lookup(store, unknown, [], status=None, not_found=True, checked_at=at(0))
    recent = (await follow(store, 1, "RA067022855UA", carrier="ukrposhta")).parcel
    await lookup(store, recent, [], status=None, not_found=True, checked_at=at(50))
    found = (await follow(store, 1, "0500100031143", carrier="ukrposhta")).parcel
    await lookup(store, found, [event("a")], checked_at=at(0))
    orphan = await store.get_or_create_parcel("ukrposhta", "RB000000000UA")
    await lookup(store, orphan, [], status=None, not_found=True, checked_at=at(0))
    forgotten = (await follow(store, 1, "612345678901234567890123", carrier="inpost")).parcel
    await lookup(store, forgotten, [event("x")], checked_at=at(-50))
    await lookup(store, forgotten, [], status=None, not_found=True, checked_at=at(0))

    # Not the parcel its carrier knew once and forgets now (InPost after 45 days).
    due = await store.correction_due(at(10), at(-100), at(5), 10)
    assert [p.id for p in due] == [unknown.id]
    assert await store.correction_due(at(10), at(-100), at(5), 10, ["gdeposylka"]) == []
    assert len(await store.correction_due(at(10), at(-100), at(5), 10, ["ukrposhta"])) == 1
    assert await store.correction_due(at(10), at(0), at(5), 10) == []  # unknown too long
    assert await store.mark_switch_tried(unknown.id, at(10)) is True
    assert await store.correction_due(at(20), at(-100), at(5), 10) == []  # tried lately
    [again] = await store.correction_due(at(20), at(-100), at(10), 10)
    assert again.switch_tried_at == at(10)
    assert await store.mark_switch_tried(404, at(10)) is False


async def test_move_subscriptions_keeps_ids_merges_duplicates_and_drops_the_old_parcel(
    store: Storage,
) -> None:
    moving = await follow(store, 1, NUMBER, carrier="gdeposylka/china-post", label="gift")
    both = await follow(store, 2, NUMBER, carrier="gdeposylka/china-post", label="from China")
    old = moving.parcel
    there = await follow(store, 2, NUMBER, carrier="ukrposhta")  # chat 2 follows it there too
    await store.archive_subscription(there.id)
    await store.remember_pick(1, NUMBER, "upu-s10-old")
    await store.upsert_chat(3, "private", "uk")
    await store.remember_pick(3, NUMBER, "untouched")  # chat 3 does not follow it
    await store.notify_subscribers(old.id, "stale", "{}", False)  # about the old carrier

    moved = await store.move_subscriptions(old.id, there.parcel.id, pick="upu-s10")

    assert [(s.id, s.chat_id, s.label) for s in moved] == [(moving.id, 1, "gift")]
    kept = await store.get_subscription(there.id)
    assert kept is not None
    assert (kept.label, kept.archived) == ("from China", False)  # live, as the old one was
    assert await store.get_subscription(both.id) is None
    assert await store.get_parcel(old.id) is None
    assert await store.pending_outbox(10) == []
    assert await store.get_pick(1, NUMBER) == "upu-s10"
    assert await store.get_pick(3, NUMBER) == "untouched"
    view = await store.get_subscription(moving.id)
    assert view is not None
    assert view.parcel.carrier == "ukrposhta"


async def test_chosen_readings_are_the_picks_of_the_parcels_chats(store: Storage) -> None:
    view = await follow(store, 1, "A1234567895", carrier="gdeposylka/ups")
    await follow(store, 2, "A1234567895", carrier="gdeposylka/ups")
    await store.remember_pick(1, "A1234567895", "ups")
    await store.remember_pick(2, "OTHER", "amazon")  # another number
    await store.upsert_chat(3, "private", "uk")
    await store.remember_pick(3, "A1234567895", "amazon")  # does not follow the parcel
    assert await store.chosen_readings(view.parcel.id) == {"ups"}
