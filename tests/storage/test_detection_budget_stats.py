"""Carrier picks, the detection cache, daily budgets and the carrier call log."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from storage import CarrierStat, Storage
from storage.carrier_stats import percentile
from storage.core import IN_CHUNK
from tests.storage.helpers import at


async def test_picks_are_per_chat_and_the_last_one_wins(store: Storage) -> None:
    await store.upsert_chat(1, "private", "uk")
    await store.upsert_chat(2, "private", "uk")
    assert await store.get_pick(1, "123") is None
    await store.remember_pick(1, "123", "inpost")
    await store.remember_pick(2, "123", "postplus")
    assert await store.get_pick(1, "123") == "inpost"
    await store.remember_pick(1, "123", "ukrposhta")
    assert await store.get_pick(1, "123") == "ukrposhta"
    assert await store.get_pick(2, "123") == "postplus"
    assert await store.get_pick(1, "456") is None


async def test_pick_for_unknown_chat_fails(store: Storage) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await store.remember_pick(404, "123", "inpost")


async def test_detection_cache(store: Storage) -> None:
    assert await store.get_detection("123") is None
    await store.put_detection("123", '["inpost"]')
    assert await store.get_detection("123") == '["inpost"]'
    await store.put_detection("123", '["inpost", "postplus"]')
    assert await store.get_detection("123") == '["inpost", "postplus"]'
    now = datetime.now(UTC)
    assert await store.get_detection("123", newer_than=now - timedelta(hours=1)) is not None
    assert await store.get_detection("123", newer_than=now + timedelta(hours=1)) is None
    assert await store.prune_detections(now - timedelta(hours=1)) == 0
    assert await store.prune_detections(now + timedelta(hours=1)) == 1
    assert await store.get_detection("123") is None


async def test_budget_admits_up_to_the_limit(store: Storage) -> None:
    admitted = [await store.budget_admit("gp", "2024-05-01", f"N{i}", 3) for i in range(5)]
    assert admitted == [True, True, True, False, False]
    assert await store.budget_used("gp", "2024-05-01") == 3


async def test_budget_admits_a_counted_number_again_even_when_full(store: Storage) -> None:
    for number in ("A", "B"):
        assert await store.budget_admit("gp", "2024-05-01", number, 2)
    assert await store.budget_admit("gp", "2024-05-01", "A", 2) is True
    assert await store.budget_admit("gp", "2024-05-01", "C", 2) is False
    assert await store.budget_used("gp", "2024-05-01") == 2


async def test_budget_is_per_counter_and_day(store: Storage) -> None:
    assert await store.budget_admit("gp", "2024-05-01", "A", 1)
    assert await store.budget_admit("gp", "2024-05-02", "B", 1)
    assert await store.budget_admit("other", "2024-05-01", "B", 1)
    assert await store.budget_admit("gp", "2024-05-01", "B", 1) is False
    assert await store.budget_admit("x", "2024-05-01", "A", 0) is False
    assert await store.budget_used("gp", "2024-05-02") == 1
    assert await store.budget_used("nothing", "2024-05-01") == 0


async def test_prune_budget(store: Storage) -> None:
    await store.budget_admit("gp", "2024-04-30", "A", 5)
    await store.budget_admit("gp", "2024-04-30", "STILL-FOLLOWED", 5)
    await store.get_or_create_parcel("gdeposylka/china-post", "STILL-FOLLOWED")
    await store.budget_admit("gp", "2024-05-01", "A", 5)
    assert await store.prune_budget("2024-05-01") == 1
    assert await store.budget_used("gp", "2024-04-30") == 1  # its parcel still exists
    assert await store.budget_used("gp", "2024-05-01") == 1
    assert await store.budget_numbers("gp") == {"A", "STILL-FOLLOWED"}


async def test_budget_admit_many_in_order(store: Storage) -> None:
    assert await store.budget_admit_many("gp", "2024-05-01", [], 3) == set()
    await store.budget_admit("gp", "2024-05-01", "OLD", 3)
    numbers = ["N1", "OLD", "N1", "N2", "N3", *(f"X{i}" for i in range(IN_CHUNK))]
    assert await store.budget_admit_many("gp", "2024-05-01", numbers, 3) == {"OLD", "N1", "N2"}
    # Full: numbers counted that day still pass, new ones do not.
    assert await store.budget_admit_many("gp", "2024-05-01", ["N2", "N4"], 3) == {"N2"}
    assert await store.budget_used("gp", "2024-05-01") == 3


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, 0.0),
        ([7.0], 0.95, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
        ([float(i) for i in range(1, 101)], 0.95, 95.0),
        ([1.0, 2.0], 0.0, 1.0),
    ],
)
def test_percentile(values: list[float], fraction: float, expected: float) -> None:
    assert percentile(values, fraction) == expected


async def test_carrier_stats(store: Storage) -> None:
    await store.record_carrier_call("ukrposhta", at(-120), False, 9999.0)  # too old
    for i, latency in enumerate([300.0, 100.0, 200.0, 400.0]):
        await store.record_carrier_call("ukrposhta", at(i), i != 3, latency)
    await store.record_carrier_call("inpost", at(5), True, 50.0)
    assert await store.carrier_stats(at(-60)) == [
        CarrierStat(carrier="inpost", calls=1, errors=0, p50_ms=50.0, p95_ms=50.0),
        CarrierStat(carrier="ukrposhta", calls=4, errors=1, p50_ms=200.0, p95_ms=400.0),
    ]
    assert await store.carrier_stats(at(60)) == []


async def test_prune_carrier_calls(store: Storage) -> None:
    await store.record_carrier_call("ukrposhta", at(-60 * 24 * 8), True, 10.0)
    await store.record_carrier_call("ukrposhta", at(0), True, 20.0)
    assert await store.prune_carrier_calls(at(-60 * 24 * 7)) == 1
    [stat] = await store.carrier_stats(at(-60 * 24 * 30))
    assert (stat.calls, stat.p50_ms) == (1, 20.0)
