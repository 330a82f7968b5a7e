"""Circuit breaker: a carrier that keeps failing is paused with growing backoff."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class CircuitState(StrEnum):
    """Whether a carrier is being asked."""

    CLOSED = "closed"  # healthy: asked as usual
    OPEN = "open"  # paused after repeated failures
    HALF_OPEN = "half-open"  # pause over: the next batch is a probe


@dataclass(slots=True)
class CircuitBreaker:
    """Count consecutive failures and pause the carrier for ``base × 2ⁿ`` up to ``cap``."""

    threshold: int = 3  # consecutive failed batches before pausing
    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(minutes=30)
    failures: int = 0
    opened_until: datetime | None = None

    def state(self, now: datetime) -> CircuitState:
        """Return the state at a moment."""
        if self.opened_until is None:
            return CircuitState.CLOSED
        return CircuitState.OPEN if now < self.opened_until else CircuitState.HALF_OPEN

    def allows(self, now: datetime) -> bool:
        """Tell whether the carrier may be asked now."""
        return self.state(now) is not CircuitState.OPEN

    def success(self) -> None:
        """Close the circuit after an answer."""
        self.failures = 0
        self.opened_until = None

    def failure(self, now: datetime, *, retry_after: float | None = None) -> None:
        """Count a failed batch; pause once the threshold is reached (or the carrier says so)."""
        self.failures += 1
        if retry_after is not None or self.failures >= self.threshold:
            exponent = max(0, self.failures - self.threshold)
            pause = min(self.base * (2**exponent), self.cap)
            if retry_after is not None:
                pause = max(pause, timedelta(seconds=retry_after))
            self.opened_until = now + pause


@dataclass(slots=True)
class Breakers:
    """One breaker per carrier, shared by the poller and by users' own lookups.

    ``scale`` multiplies the pauses, like every interval (CHECK_INTERVAL_SCALE).
    """

    scale: float = 1.0
    _by_name: dict[str, CircuitBreaker] = field(default_factory=dict)

    def __getitem__(self, name: str) -> CircuitBreaker:
        """Return a carrier's breaker, closed when the carrier was never asked."""
        breaker = self._by_name.get(name)
        if breaker is None:
            breaker = self._by_name[name] = CircuitBreaker(
                base=timedelta(seconds=60 * self.scale), cap=timedelta(seconds=1800 * self.scale)
            )
        return breaker
