"""Check intervals: by status, doubling while quiet, scaled, never below the status's base."""

from __future__ import annotations

import random

from bot.carriers.models import ParcelStatus
from bot.schedule import HOUR, MAX_INTERVAL, MINUTE, NOT_FOUND_INTERVAL, RETRY_INTERVAL, Policy


def policy(scale: float = 1.0) -> Policy:
    return Policy(scale=scale, rng=random.Random(1))


def test_intervals_follow_the_status_and_double_while_nothing_changes() -> None:
    p = policy()
    first = p.next_interval(ParcelStatus.READY_FOR_PICKUP, changed=True, previous=None)
    assert 27 * MINUTE <= first <= 33 * MINUTE
    transit = p.next_interval(ParcelStatus.IN_TRANSIT, changed=False, previous=2 * HOUR)
    assert 3.6 * HOUR <= transit <= 4.4 * HOUR
    assert p.next_interval(ParcelStatus.IN_TRANSIT, changed=False, previous=MAX_INTERVAL) <= (
        MAX_INTERVAL * 1.1
    )


def test_not_found_never_drops_below_its_base_after_a_failure() -> None:
    p = policy()
    after_failure = p.next_interval(None, changed=False, previous=RETRY_INTERVAL)
    assert after_failure >= NOT_FOUND_INTERVAL * 0.9


def test_every_interval_is_scaled() -> None:
    assert policy(0.001).next_interval(ParcelStatus.IN_TRANSIT, changed=True, previous=None) < 8
    assert policy(0.001).next_interval(None, changed=False, previous=1.0, failed=True) < 0.4


def test_a_moving_parcel_is_checked_at_least_as_often_as_its_status_cap() -> None:
    p = policy()
    day = 24 * HOUR
    moving = p.next_interval(
        ParcelStatus.IN_TRANSIT, changed=False, previous=20 * HOUR, since_event=day
    )
    assert moving <= 6 * HOUR * 1.1
    courier = p.next_interval(
        ParcelStatus.OUT_FOR_DELIVERY, changed=False, previous=8 * HOUR, since_event=HOUR
    )
    assert courier <= HOUR * 1.1
    # Quiet for days (a long haul), or with no information yet: back off to a day.
    long_haul = p.next_interval(
        ParcelStatus.IN_TRANSIT, changed=False, previous=20 * HOUR, since_event=5 * day
    )
    assert long_haul >= 24 * HOUR * 0.9
    waiting = p.next_interval(
        ParcelStatus.INFO_RECEIVED, changed=False, previous=20 * HOUR, since_event=HOUR
    )
    assert waiting >= 24 * HOUR * 0.9
    # The cap scales with the intervals (tests shrink days to moments).
    assert (
        policy(0.001).next_interval(
            ParcelStatus.IN_TRANSIT, changed=False, previous=72.0, since_event=60.0
        )
        <= 6 * HOUR * 0.001 * 1.1
    )


def test_an_event_dated_far_ahead_is_not_taken_for_movement() -> None:
    p = policy()
    wrong_date = p.next_interval(
        ParcelStatus.OUT_FOR_DELIVERY, changed=False, previous=24 * HOUR, since_event=-300 * 86400
    )
    assert wrong_date >= 24 * HOUR * 0.9  # backs off as usual
    skewed = p.next_interval(
        ParcelStatus.OUT_FOR_DELIVERY, changed=False, previous=24 * HOUR, since_event=-2 * HOUR
    )
    assert skewed <= HOUR * 1.1  # a clock or time-zone slip still counts as moving


def test_no_cap_is_below_its_first_interval() -> None:
    from bot.schedule import INTERVALS

    assert all(cap >= base for base, cap in INTERVALS.values())
