"""Which configured client tracks a detected number: the routing table and candidates."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.carriers.detect import Match, identify

CLIENT_NAMES = frozenset({"ukrposhta", "nova-poshta", "inpost", "postplus", "gdeposylka"})

# Rules that accept almost anything of a length; they never decide against a specific rule.
BROAD_CARRIERS = frozenset({"dhl-ecommerce"})

# Detected carrier → clients able to track it, best first. Ukrposhta's API also tracks items
# from China (its status filter), so a ...CN number may be tried there as a second choice.
_DIRECT_ROUTES: Mapping[str, tuple[str, ...]] = {
    "ukrposhta": ("ukrposhta",),
    "nova-poshta": ("nova-poshta",),
    "inpost": ("inpost",),
    "postplus": ("postplus",),
}
_S10_ROUTES: Mapping[str, tuple[str, ...]] = {
    "UA": ("ukrposhta", "gdeposylka"),
    "CN": ("gdeposylka", "ukrposhta"),
}
# Foreign S10 service letters Ukrposhta's filter refuses (tracking-number-formats.md, S10).
_UKRPOSHTA_REFUSES = ("U",)

# Our detection slug → GdePosylka courier slug, so a chosen carrier skips the detect request.
# [?] GdePosylka's slug list is not public beyond the examples (usps, china-post, ...); a wrong
# or missing entry only costs one detect request, because the client detects when given None.
GDEPOSYLKA_COURIERS: Mapping[str, str] = {
    "usps": "usps",
    "ups": "ups",
    "fedex": "fedex",
    "dhl": "dhl",
    "dpd": "dpd",
}
_S10_GDEPOSYLKA_COURIERS: Mapping[str, str] = {"CN": "china-post", "UA": "ukrposhta"}
# Our own clients whose data GdePosylka only relays, by its courier slug: asking GdePosylka
# about a number such a client does not know costs its quota and can only repeat the client.
# [?] Inferred, not documented: an aggregator gets Ukrposhta's events from Ukrposhta, under
# the courier slug "ukrposhta" (routing's S10 table). One table to change.
GDEPOSYLKA_MIRRORS: Mapping[str, str] = {"ukrposhta": "ukrposhta"}

# Shapes that have an offline rule with a check digit or exact format: a number of this shape
# that our rules rejected is a typo, and must never cost a request to the online detector.
_CHECKED_SHAPES = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}|1Z[A-Z0-9]{16}|[0-9]{8,40}", re.ASCII)
# Identifiers that are no tracking number: UUIDs (32 hex digits once dashes are gone) and
# 24-digit database ids, upper-cased by normalize().
_HEX = re.compile(r"[0-9A-F]+", re.ASCII)
_HEX_ID_LENGTHS = (24, 32)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One possible reading of a number: what it is and who can track it here."""

    carrier: str  # detection slug, e.g. "upu-s10", "ups"; "gdeposylka" for online-only answers
    routes: tuple[str, ...]  # client names able to track it, best first
    country: str | None = None
    courier: str | None = None  # GdePosylka courier slug, when known
    name: str | None = None  # display name given by an online detector

    def client(self, enabled: Mapping[str, object]) -> str | None:
        """Return the first route that is configured, if any."""
        return next((route for route in self.routes if route in enabled), None)


def routes_for(match: Match, number: str) -> tuple[str, ...]:
    """Return the clients that can track a detected number, best first."""
    if match.carrier in _DIRECT_ROUTES:
        return _DIRECT_ROUTES[match.carrier]
    if match.carrier == "upu-s10" and match.country:
        routes = _S10_ROUTES.get(match.country, ("gdeposylka",))
        if match.country != "UA" and number.startswith(_UKRPOSHTA_REFUSES):
            # Ukrposhta's status filter answers UPE02000 for "U…" numbers not ending in UA.
            routes = tuple(route for route in routes if route != "ukrposhta")
        return routes
    return ("gdeposylka",)


def offline_candidates(number: str) -> list[Candidate]:
    """Rank the readings of a normalized number by the offline rules alone."""
    matches = identify(number)
    specific = [m for m in matches if m.carrier not in BROAD_CARRIERS]
    chosen = specific or matches
    seen: set[str] = set()
    candidates: list[Candidate] = []
    for match in chosen:
        if match.carrier in seen:
            continue
        seen.add(match.carrier)
        courier = GDEPOSYLKA_COURIERS.get(match.carrier)
        if match.carrier == "upu-s10" and match.country:
            courier = _S10_GDEPOSYLKA_COURIERS.get(match.country)
        routes = routes_for(match, number)
        candidates.append(Candidate(match.carrier, routes, match.country, courier))
    return candidates


def may_ask_online(number: str) -> bool:
    """Tell whether an unrecognized number is worth a request to the online detector."""
    if len(number) < 8 or len(number) > 40 or not number.isalnum() or not number.isascii():
        return False
    if _CHECKED_SHAPES.fullmatch(number):
        return False  # a rejected check digit or unknown digit string: a typo, not a mystery
    if len(number) in _HEX_ID_LENGTHS and _HEX.fullmatch(number) and not number.isdigit():
        return False  # a UUID or a database id ("65F1A9C2E4B0D71234AB56CD"), not a parcel
    return sum(ch.isdigit() for ch in number) >= 4


def parcel_key(client: str, candidate: Candidate) -> str:
    """Return the carrier key a parcel is stored under: the client, plus GdePosylka's courier."""
    if client == "gdeposylka" and candidate.courier:
        return f"gdeposylka/{candidate.courier}"
    return client


def readings(
    candidates: Iterable[Candidate], enabled: Mapping[str, object]
) -> list[tuple[str, Candidate]]:
    """Return every configured way to track some candidates: (parcel key, one-route candidate).

    Best first, one per parcel key: each reading of a number, at each client that can track it.
    """
    seen: set[str] = set()
    found: list[tuple[str, Candidate]] = []
    for candidate in candidates:
        for route in candidate.routes:
            single = Candidate(candidate.carrier, (route,), candidate.country, candidate.courier)
            key = parcel_key(route, single)
            if route in enabled and key not in seen:
                seen.add(key)
                found.append((key, single))
    return found


def alternatives(key: str, number: str, enabled: Mapping[str, object]) -> list[Candidate]:
    """Return the other ways this bot could track a stored number, best first.

    Each alternative has a single configured route and a parcel key other than ``key``: the
    other readings of an ambiguous number, and the second client of a number two can track
    (an S10 number from China at Ukrposhta as well as at GdePosylka), except GdePosylka's
    relay of the stored client itself.
    """
    mirror = GDEPOSYLKA_MIRRORS.get(client_of_key(key))
    return [
        single
        for other, single in readings(offline_candidates(number), enabled)
        if other != key and not (mirror and other == f"gdeposylka/{mirror}")
    ]


def candidate_from_key(key: str) -> Candidate:
    """Rebuild the candidate a stored parcel is tracked with."""
    client, _, courier = key.partition("/")
    return Candidate(client, (client,), courier=courier or None)


def client_of_key(key: str) -> str:
    """Return the client name part of a stored carrier key."""
    return key.partition("/")[0]
