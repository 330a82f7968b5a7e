"""When to look at a parcel next: adaptive intervals by status, backoff while quiet, jitter."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.carriers.models import ParcelStatus

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR

NOT_FOUND_INTERVAL = 6 * HOUR
MAX_INTERVAL = 24 * HOUR

# By status: the first interval after a change (soon when something is about to happen), and
# the longest while the parcel moves (its latest event at most MOVING_FOR old), so backing off
# never makes a milestone wait a day (peers.md, idea 1: 30–60 min out for delivery, 2–6 h in
# transit). One table to tune; a parcel quiet for longer backs off up to MAX_INTERVAL.
INTERVALS: Mapping[ParcelStatus, tuple[float, float]] = {
    ParcelStatus.OUT_FOR_DELIVERY: (30 * MINUTE, 1 * HOUR),
    ParcelStatus.READY_FOR_PICKUP: (30 * MINUTE, 6 * HOUR),
    ParcelStatus.DELIVERY_FAILED: (1 * HOUR, 6 * HOUR),
    ParcelStatus.ACCEPTED: (2 * HOUR, 6 * HOUR),
    ParcelStatus.IN_TRANSIT: (2 * HOUR, 6 * HOUR),
    ParcelStatus.RETURNING: (2 * HOUR, 6 * HOUR),
    ParcelStatus.EXCEPTION: (6 * HOUR, 12 * HOUR),
    ParcelStatus.INFO_RECEIVED: (6 * HOUR, MAX_INTERVAL),
    ParcelStatus.UNKNOWN: (6 * HOUR, MAX_INTERVAL),
    ParcelStatus.DELIVERED: (24 * HOUR, MAX_INTERVAL),
    ParcelStatus.RETURNED: (24 * HOUR, MAX_INTERVAL),
}
BASE_INTERVALS: Mapping[ParcelStatus, float] = {s: base for s, (base, _) in INTERVALS.items()}
MOVING_CAPS: Mapping[ParcelStatus, float] = {s: cap for s, (_, cap) in INTERVALS.items()}
MOVING_FOR = 3 * DAY
SKEW = 1 * DAY  # how far in the future a carrier's event date may be and still count
RETRY_INTERVAL = 5 * MINUTE  # after a carrier failure; the circuit breaker handles long outages
JITTER = 0.1  # ±10 %, so parcels added together do not stay in lock-step forever


def scaled(seconds: float, scale: float) -> timedelta:
    """Return a span as CHECK_INTERVAL_SCALE makes it (tests shrink days to moments)."""
    return timedelta(seconds=seconds * scale)


@dataclass(frozen=True, slots=True)
class Policy:
    """Scheduling knobs; ``scale`` multiplies every interval (CHECK_INTERVAL_SCALE)."""

    scale: float = 1.0
    rng: random.Random | None = None

    def next_interval(
        self,
        status: ParcelStatus | None,
        *,
        changed: bool,
        previous: float | None,
        failed: bool = False,
        since_event: float | None = None,
    ) -> float:
        """Return seconds until the next check (unscaled intervals are documented above).

        ``since_event``: seconds since the parcel's latest event (None: no event), which keeps
        a moving parcel's interval under its status's cap.
        """
        if failed:
            base = RETRY_INTERVAL
        elif status is None:
            base = (
                NOT_FOUND_INTERVAL
                if changed or not previous
                else max(previous / self.scale * 2, NOT_FOUND_INTERVAL)
            )
        elif changed or not previous:
            base = BASE_INTERVALS[status]
        else:
            base = max(previous / self.scale * 2, BASE_INTERVALS[status])
        cap = MAX_INTERVAL
        # An event dated ahead by more than a clock or time-zone slip is a wrong date, not news.
        moving = -SKEW * self.scale <= (since_event or 0.0) <= MOVING_FOR * self.scale
        if status is not None and since_event is not None and moving:
            cap = MOVING_CAPS.get(status, MAX_INTERVAL)
        base = min(base, cap)  # every cap is at least its status's first interval
        rng = self.rng or random
        return base * self.scale * (1 + rng.uniform(-JITTER, JITTER))

    def next_check(self, now: datetime, interval: float) -> datetime:
        """Return the moment of the next check."""
        return now + timedelta(seconds=interval)
