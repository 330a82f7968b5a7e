"""Carrier clients behind one protocol, the normalized model and the one error tree."""

from bot.carriers.base import BatchOutcome, Carrier
from bot.carriers.errors import (
    BudgetExhausted,
    CarrierAuthError,
    CarrierError,
    CarrierNotConfigured,
    CarrierRateLimited,
    CarrierResponseError,
    CarrierUnavailable,
    NotTrackable,
    ParcelNotFound,
    TrackingPending,
)
from bot.carriers.models import ParcelStatus, TrackingEvent, TrackingResult

__all__ = [
    "BatchOutcome",
    "BudgetExhausted",
    "Carrier",
    "CarrierAuthError",
    "CarrierError",
    "CarrierNotConfigured",
    "CarrierRateLimited",
    "CarrierResponseError",
    "CarrierUnavailable",
    "NotTrackable",
    "ParcelNotFound",
    "ParcelStatus",
    "TrackingEvent",
    "TrackingPending",
    "TrackingResult",
]
