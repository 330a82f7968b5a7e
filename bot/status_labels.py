"""Translatable labels and emoji for normalized statuses and for every carrier code we know."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.carriers.models import ParcelStatus
from bot.i18n import N_

STATUS_EMOJI: Mapping[ParcelStatus, str] = {
    ParcelStatus.INFO_RECEIVED: "📝",
    ParcelStatus.ACCEPTED: "📥",
    ParcelStatus.IN_TRANSIT: "🚚",
    ParcelStatus.OUT_FOR_DELIVERY: "🛵",
    ParcelStatus.READY_FOR_PICKUP: "📬",
    ParcelStatus.DELIVERY_FAILED: "⚠️",
    ParcelStatus.DELIVERED: "✅",
    ParcelStatus.RETURNING: "↩️",
    ParcelStatus.RETURNED: "🔙",
    ParcelStatus.EXCEPTION: "❗",
    ParcelStatus.UNKNOWN: "❔",
}

STATUS_LABELS: Mapping[ParcelStatus, str] = {
    ParcelStatus.INFO_RECEIVED: N_("Label created, awaiting the parcel"),
    ParcelStatus.ACCEPTED: N_("Accepted by the carrier"),
    ParcelStatus.IN_TRANSIT: N_("In transit"),
    ParcelStatus.OUT_FOR_DELIVERY: N_("Out for delivery"),
    ParcelStatus.READY_FOR_PICKUP: N_("Ready for pickup"),
    ParcelStatus.DELIVERY_FAILED: N_("Delivery attempt failed"),
    ParcelStatus.DELIVERED: N_("Delivered"),
    ParcelStatus.RETURNING: N_("Returning to the sender"),
    ParcelStatus.RETURNED: N_("Returned to the sender"),
    ParcelStatus.EXCEPTION: N_("Problem with the parcel"),
    ParcelStatus.UNKNOWN: N_("Status not recognized"),
}

CARRIER_NAMES: Mapping[str, str] = {
    "ukrposhta": N_("Ukrposhta"),
    "nova-poshta": N_("Nova Poshta"),
    "inpost": N_("InPost"),
    "postplus": N_("PostPlus"),
    "gdeposylka": N_("GdePosylka"),
    "meest": N_("Meest"),
    "upu-s10": N_("International post"),
    "ups": N_("UPS"),
    "fedex": N_("FedEx"),
    "usps": N_("USPS"),
    "dhl": N_("DHL Express"),
    "dhl-ecommerce": N_("DHL eCommerce"),
    "amazon": N_("Amazon Logistics"),
    "dpd": N_("DPD"),
    "yunexpress": N_("YunExpress"),
}

# Our own wording for each carrier code, so Russian (which no carrier API offers) and every
# other language read the same. Keys are (carrier, code as string).
EVENT_LABELS: Mapping[tuple[str, str], str] = {
    # Ukrposhta event codes (carrier-apis.md §1.3, §8.1)
    ("ukrposhta", "10100"): N_("Accepted at the post office"),
    ("ukrposhta", "10400"): N_("Acceptance cancelled"),
    ("ukrposhta", "10600"): N_("Acceptance cancelled"),
    ("ukrposhta", "10601"): N_("Created online, awaiting acceptance"),
    ("ukrposhta", "10602"): N_("Acceptance cancelled"),
    ("ukrposhta", "10603"): N_("Deleted by the customer"),
    ("ukrposhta", "10610"): N_("Acceptance cancelled"),
    ("ukrposhta", "20700"): N_("Arrived at a sorting centre"),
    ("ukrposhta", "20800"): N_("Dispatched"),
    ("ukrposhta", "20900"): N_("Dispatched to the post office"),
    ("ukrposhta", "21400"): N_("Placed in storage"),
    ("ukrposhta", "21500"): N_("Sent to the delivery office"),
    ("ukrposhta", "21700"): N_("Arrived at the delivery office"),
    ("ukrposhta", "31100"): N_("Delivery attempt unsuccessful"),
    ("ukrposhta", "31200"): N_("Being returned to the sender"),
    ("ukrposhta", "31300"): N_("Forwarded to another post office"),
    ("ukrposhta", "31400"): N_("Not delivered, moved to storage"),
    ("ukrposhta", "41000"): N_("Delivered"),
    ("ukrposhta", "41010"): N_("Handed back to the sender"),
    ("ukrposhta", "41020"): N_("Returned to the sender"),
    ("ukrposhta", "48000"): N_("Delivered in the destination country"),
    # Nova Poshta StatusCode (carrier-apis.md §5.1)
    ("nova-poshta", "1"): N_("Waybill created, awaiting the parcel"),
    ("nova-poshta", "2"): N_("Waybill deleted"),
    ("nova-poshta", "4"): N_("In the sender's city"),
    ("nova-poshta", "41"): N_("In the sender's city"),
    ("nova-poshta", "5"): N_("On the way to the recipient's city"),
    ("nova-poshta", "6"): N_("In the recipient's city, on the way to the branch"),
    ("nova-poshta", "7"): N_("Arrived at the branch"),
    ("nova-poshta", "8"): N_("Arrived at the branch (placed in a parcel locker)"),
    ("nova-poshta", "9"): N_("Received"),
    ("nova-poshta", "10"): N_("Received, the money transfer arrives within a day"),
    ("nova-poshta", "11"): N_("Received, the money transfer was paid out"),
    ("nova-poshta", "12"): N_("Nova Poshta is preparing the shipment"),
    ("nova-poshta", "14"): N_("Handed to the recipient for inspection"),
    ("nova-poshta", "101"): N_("On the way to the recipient"),
    ("nova-poshta", "102"): N_("Refused, a return has been ordered"),
    ("nova-poshta", "103"): N_("Refused by the recipient"),
    ("nova-poshta", "104"): N_("Address changed"),
    ("nova-poshta", "105"): N_("Storage ended"),
    ("nova-poshta", "106"): N_("Received, a return waybill was created"),
    ("nova-poshta", "108"): N_("Refused by the recipient"),
    ("nova-poshta", "111"): N_("Delivery attempt failed"),
    ("nova-poshta", "112"): N_("Delivery date changed by the recipient"),
    # GdePosylka status codes seen so far (carrier-apis.md §8.3); "other" keeps the carrier's text
    ("gdeposylka", "delivered"): N_("Delivered"),
    ("gdeposylka", "accepted"): N_("Accepted by the carrier"),
    ("gdeposylka", "arrived"): N_("Arrived at the destination"),
    ("gdeposylka", "arrived_pickup"): N_("Arrived at the pickup point"),
    ("gdeposylka", "arrived_locker"): N_("Arrived at the parcel locker"),
    ("gdeposylka", "out_for_delivery"): N_("Out for delivery"),
    ("gdeposylka", "failed_attempt"): N_("Delivery attempt failed"),
    ("gdeposylka", "exception"): N_("Problem with the parcel"),
    ("gdeposylka", "expired"): N_("Storage period expired"),
    ("gdeposylka", "cancelled"): N_("Cancelled"),
    # InPost ShipX slugs (carrier-apis.md §2.1)
    ("inpost", "created"): N_("Parcel created"),
    ("inpost", "offers_prepared"): N_("Offers prepared"),
    ("inpost", "offer_selected"): N_("Offer selected"),
    ("inpost", "confirmed"): N_("Prepared by the sender"),
    ("inpost", "dispatched_by_sender"): N_("Posted at a parcel locker"),
    ("inpost", "collected_from_sender"): N_("Picked up from the client"),
    ("inpost", "taken_by_courier"): N_("Picked up from the sender"),
    ("inpost", "adopted_at_source_branch"): N_("Received at the InPost branch"),
    ("inpost", "sent_from_source_branch"): N_("On the road"),
    ("inpost", "ready_to_pickup_from_pok"): N_("Waiting at a parcel service point"),
    ("inpost", "ready_to_pickup_from_pok_registered"): N_("Waiting at a customer service point"),
    ("inpost", "oversized"): N_("Oversized parcel"),
    ("inpost", "adopted_at_sorting_center"): N_("Received at the sorting centre"),
    ("inpost", "sent_from_sorting_center"): N_("Sent from the sorting centre"),
    ("inpost", "adopted_at_target_branch"): N_("Arrived at the destination branch"),
    ("inpost", "out_for_delivery"): N_("Handed over for delivery"),
    ("inpost", "ready_to_pickup"): N_("Placed in the parcel locker for pickup"),
    ("inpost", "pickup_reminder_sent"): N_("Reminder: the parcel is waiting"),
    ("inpost", "delivered"): N_("Delivered"),
    ("inpost", "pickup_time_expired"): N_("Pickup deadline passed"),
    ("inpost", "avizo"): N_("Back at the branch"),
    ("inpost", "claimed"): N_("Complaint filed at the parcel locker"),
    ("inpost", "returned_to_sender"): N_("Being returned to the sender"),
    ("inpost", "canceled"): N_("Label cancelled"),
    ("inpost", "other"): N_("Other status"),
    ("inpost", "dispatched_by_sender_to_pok"): N_("Posted at a customer service point"),
    ("inpost", "out_for_delivery_to_address"): N_("Out for delivery to the address"),
    ("inpost", "pickup_reminder_sent_address"): N_("The courier did not find the recipient"),
    ("inpost", "rejected_by_receiver"): N_("Refused by the recipient"),
    ("inpost", "undelivered_wrong_address"): N_("Not delivered: wrong address"),
    ("inpost", "undelivered_incomplete_address"): N_("Not delivered: incomplete address"),
    ("inpost", "undelivered_unknown_receiver"): N_("Not delivered: recipient unknown"),
    ("inpost", "undelivered_cod_cash_receiver"): N_("Not delivered: cash on delivery not paid"),
    ("inpost", "taken_by_courier_from_pok"): N_("On the way to the InPost sending branch"),
    ("inpost", "undelivered"): N_("Moved to the undeliverable parcels warehouse"),
    ("inpost", "return_pickup_confirmation_to_sender"): N_("Return documents prepared"),
    ("inpost", "ready_to_pickup_from_branch"): N_("Not collected, waiting at the branch"),
    ("inpost", "delay_in_delivery"): N_("Possible delivery delay"),
    ("inpost", "redirect_to_box"): N_("Redirected to a parcel locker"),
    ("inpost", "canceled_redirect_to_box"): N_("Redirection cancelled"),
    ("inpost", "readdressed"): N_("Redirected to another address"),
    ("inpost", "undelivered_no_mailbox"): N_("Not delivered: no mailbox"),
    ("inpost", "undelivered_not_live_address"): N_("Not delivered: nobody lives at the address"),
    ("inpost", "undelivered_lack_of_access_letterbox"): N_(
        "Not delivered: no access to the mailbox"
    ),
    ("inpost", "missing"): N_("Parcel lost"),
    ("inpost", "stack_in_customer_service_point"): N_("Stored at a parcel service point"),
    ("inpost", "stack_parcel_pickup_time_expired"): N_(
        "Pickup deadline for the stored parcel passed"
    ),
    ("inpost", "unstack_from_customer_service_point"): N_(
        "On the way to the chosen parcel locker"
    ),
    ("inpost", "courier_avizo_in_customer_service_point"): N_("Awaiting collection"),
    ("inpost", "taken_by_courier_from_customer_service_point"): N_("Returned to the sender"),
    ("inpost", "stack_in_box_machine"): N_("Stored in a temporary parcel locker"),
    ("inpost", "unstack_from_box_machine"): N_(
        "On the way to the originally chosen parcel locker"
    ),
    ("inpost", "stack_parcel_in_box_machine_pickup_time_expired"): N_(
        "Pickup deadline for the stored parcel passed"
    ),
}


def status_label(status: ParcelStatus, gettext: Callable[[str], str]) -> str:
    """Return the translated label of a normalized status, with its emoji."""
    return f"{STATUS_EMOJI[status]} {gettext(STATUS_LABELS[status])}"


def event_label(
    carrier: str, code: str | None, status: ParcelStatus, gettext: Callable[[str], str]
) -> str:
    """Return our translated wording for a carrier code, or the status label when unknown."""
    label = EVENT_LABELS.get((carrier, code or ""))
    return gettext(label) if label else gettext(STATUS_LABELS[status])


def carrier_name(slug: str, gettext: Callable[[str], str]) -> str:
    """Return a carrier's display name."""
    name = CARRIER_NAMES.get(slug)
    return gettext(name) if name else slug
