"""The small protocol every carrier client implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from bot.carriers.errors import CarrierError
from bot.carriers.models import TrackingResult

# Per-number outcome of a batch lookup: a result, or the error for that number alone
# (ParcelNotFound, TrackingPending, NotTrackable ...). Whole-batch failures are raised.
BatchOutcome = Mapping[str, TrackingResult | CarrierError]


class Carrier(Protocol):
    """A tracking client for one carrier."""

    name: str  # slug, e.g. "ukrposhta"
    batch_size: int  # how many numbers one request can carry (1 = no batch endpoint)

    async def track(self, number: str, lang: str = "uk") -> TrackingResult:
        """Look up one number; raise a CarrierError subclass on failure."""
        ...

    async def track_many(self, numbers: Sequence[str], lang: str = "uk") -> BatchOutcome:
        """Look up many numbers with as few requests as the API allows."""
        ...
