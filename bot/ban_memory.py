"""What the ban guard remembers of each banned id: its refusals and answered commands."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

HOUR = 3600.0
ANSWERS_PER_HOUR = 10  # /privacy, /forget… of a banned chat answered per hour


@dataclass
class BanMemory:
    """What the guard remembers of one banned id (kept by the bot: /forget clears chat memory)."""

    refused_at: float = -HOUR
    answered: deque[float] = field(default_factory=lambda: deque(maxlen=ANSWERS_PER_HOUR))

    def may_refuse(self, now: float) -> bool:
        """Tell whether a refusal may be sent now (one an hour), and count it."""
        if now - self.refused_at < HOUR:
            return False
        self.refused_at = now
        return True

    def may_answer(self, now: float) -> bool:
        """Tell whether a privacy command may be answered now (a few an hour), and count it."""
        if len(self.answered) == ANSWERS_PER_HOUR and now - self.answered[0] < HOUR:
            return False
        self.answered.append(now)
        return True
