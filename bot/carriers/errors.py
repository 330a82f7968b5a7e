"""The one error tree every carrier client raises.

::

    CarrierError
    ├── ParcelNotFound          the carrier has no record of the number (yet)
    │   ├── TrackingPending     the carrier accepted the number and is collecting data
    │   └── NoDataAtLastCheck   storage's memory of either, for a card shown without asking
    ├── NotTrackable            the carrier will never track this number (e.g. UPE02000)
    ├── CarrierNotConfigured    the operator did not give this carrier's credentials
    ├── CarrierUnavailable      timeout, network failure, 5xx: try again later
    │   ├── CarrierRateLimited  HTTP 429 or our own budget says stop
    │   └── BudgetExhausted     a daily quota (GdePosylka's new numbers) is used up
    ├── CarrierAuthError        401/403 or an invalid token: the operator must act
    └── CarrierResponseError    the answer was not what the documents describe
"""

from __future__ import annotations


class CarrierError(Exception):
    """Base of every carrier failure."""

    def __init__(self, carrier: str, message: str) -> None:
        super().__init__(f"{carrier}: {message}")
        self.carrier = carrier
        self.message = message


class ParcelNotFound(CarrierError):
    """The carrier does not know the number (not registered yet, or a typo)."""


class TrackingPending(ParcelNotFound):
    """The carrier took the number and is collecting its first data."""


class NoDataAtLastCheck(ParcelNotFound):
    """The last lookup found no data (no record, or still collecting): storage keeps no more."""


class NotTrackable(CarrierError):
    """The carrier refuses to track this kind of number at all."""


class CarrierNotConfigured(CarrierError):
    """The carrier is disabled because a credential is missing."""


class CarrierUnavailable(CarrierError):
    """The carrier did not answer usefully this time; retry later."""


class CarrierPaused(CarrierUnavailable):
    """We stopped asking the carrier for a while after repeated failures (no request made)."""


class CarrierRateLimited(CarrierUnavailable):
    """The carrier (or our budget for it) asks us to slow down."""

    def __init__(self, carrier: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(carrier, message)
        self.retry_after = retry_after


class BudgetExhausted(CarrierRateLimited):
    """A daily quota is used up until the next day."""

    MESSAGE = "daily quota of new numbers is used up"  # stored as the parcel's last error


class CarrierAuthError(CarrierError):
    """The credentials were refused."""


class CarrierResponseError(CarrierError):
    """The carrier answered with something we cannot read."""
