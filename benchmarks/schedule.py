"""Check schedule: carrier requests per parcel against how late its news is pushed.

Simulates bot/schedule.py's Policy over model journeys (the carrier's events at fixed hours
after the parcel was followed): at each check the parcel's known events, status, "changed"
and the time since its latest event are what ParcelService gives the policy. For each journey
the table gives the checks made until it ends and how long each event waited to be seen (the
push delay), with the current policy and with MOVING_CAPS emptied (the policy before the
moving caps: doubling up to MAX_INTERVAL whatever the status). A simulation of the policy, not
of carriers or the poller: it counts lookups of one parcel; batching carriers spend a share
of a request per lookup, GdePosylka and InPost one request each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from random import Random
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import print_command, print_machine, print_table
from bot import schedule
from bot.carriers.models import ParcelStatus
from bot.schedule import DAY, HOUR, Policy

Journey = tuple[tuple[float, ParcelStatus], ...]

JOURNEYS: Mapping[str, tuple[Journey, float]] = {
    # Nova Poshta / Ukrposhta inside Ukraine: accepted, sorted, at the branch, picked up.
    "domestic, 4 days": (
        (
            (0, ParcelStatus.ACCEPTED),
            (10 * HOUR, ParcelStatus.IN_TRANSIT),
            (40 * HOUR, ParcelStatus.READY_FOR_PICKUP),
            (80 * HOUR, ParcelStatus.DELIVERED),
        ),
        4 * DAY,
    ),
    # Courier delivery: out for delivery in the morning, delivered in the afternoon.
    "courier, 2 days": (
        (
            (0, ParcelStatus.ACCEPTED),
            (20 * HOUR, ParcelStatus.IN_TRANSIT),
            (32 * HOUR, ParcelStatus.OUT_FOR_DELIVERY),
            (38 * HOUR, ParcelStatus.DELIVERED),
        ),
        3 * DAY,
    ),
    # From China through GdePosylka: long silences between scans.
    "China, 25 days": (
        (
            (0, ParcelStatus.INFO_RECEIVED),
            (3 * DAY, ParcelStatus.ACCEPTED),
            (5 * DAY, ParcelStatus.IN_TRANSIT),
            (12 * DAY, ParcelStatus.IN_TRANSIT),
            (14 * DAY, ParcelStatus.IN_TRANSIT),
            (20 * DAY, ParcelStatus.IN_TRANSIT),
            (21 * DAY, ParcelStatus.READY_FOR_PICKUP),
            (24 * DAY, ParcelStatus.DELIVERED),
        ),
        25 * DAY,
    ),
}


@contextmanager
def moving_caps(enabled: bool) -> Iterator[None]:
    """Run with the policy's moving caps, or without them (the policy before)."""
    saved = schedule.MOVING_CAPS
    if not enabled:
        schedule.MOVING_CAPS = {}
    try:
        yield
    finally:
        schedule.MOVING_CAPS = saved


def simulate(events: Journey, end: float, seed: int) -> tuple[int, list[float]]:
    """Return the checks made until ``end`` and each event's delay until a check saw it."""
    policy = Policy(rng=Random(seed))
    now, previous, checks, seen = 0.0, None, 0, 0
    delays: list[float] = []
    while now < end:
        checks += 1
        known = [event for event in events if event[0] <= now]
        changed = len(known) > seen
        delays += [now - at for at, _ in known[seen:]]
        seen = len(known)
        status = known[-1][1] if known else None
        quiet = now - known[-1][0] if known else None
        previous = policy.next_interval(
            status, changed=changed, previous=previous, since_event=quiet
        )
        now += previous
    return checks, delays


def main(argv: list[str] | None = None) -> None:
    """Print checks and push delays per journey, with and without the moving caps."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=200, help="jitter seeds per journey")
    args = parser.parse_args(argv)
    print_machine()
    print_command()
    rows = []
    for name, (events, end) in JOURNEYS.items():
        for enabled in (False, True):
            with moving_caps(enabled):
                runs = [simulate(events, end, seed) for seed in range(args.seeds)]
            delays = [d / HOUR for _, found in runs for d in found]
            rows.append(
                [
                    name,
                    "current" if enabled else "no moving caps",
                    mean(checks for checks, _ in runs),
                    mean(delays),
                    max(delays),
                ]
            )
    print(f"\nMean over {args.seeds} jitter seeds per journey:\n")
    print_table(["journey", "policy", "checks", "mean delay h", "worst delay h"], rows)


if __name__ == "__main__":
    main()
