"""Recognise tracking numbers and their carriers offline: pure functions, no I/O."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.carriers.countries import ISO_COUNTRY_CODES

__all__ = [
    "CARRIERS",
    "SHORT_GROUP_CHARS",
    "Match",
    "extract_numbers",
    "fails_a_check",
    "identify",
    "is_other_number",
    "is_word",
    "looks_like_number",
    "names_other_number",
    "names_parcel_number",
    "normalize",
]

logger = logging.getLogger(__name__)

# Every slug detection can name. PostPlus has no offline rule (its numbers are S10-shaped), so
# it only ever comes from the online detect API.
CARRIERS = frozenset(
    {
        "ukrposhta",
        "nova-poshta",
        "inpost",
        "postplus",
        "meest",
        "upu-s10",
        "ups",
        "fedex",
        "usps",
        "dhl",
        "dhl-ecommerce",
        "amazon",
        "dpd",
        "yunexpress",
    }
)


@dataclass(frozen=True, slots=True)
class Match:
    """One carrier a tracking number may belong to."""

    carrier: str
    country: str | None = None  # ISO 3166-1 alpha-2 issuing country (S10 and Nova Post Europe)
    rule: str = ""  # name of the format that matched, e.g. "fedex-ground-15"
    checked: bool = False  # a check digit validated the number


# --- normalisation -----------------------------------------------------------------------

_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212\uff0d"
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
# Every character str.isspace() accepts lies below U+3001.
_WHITESPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())
_DELETE = str.maketrans("", "", _WHITESPACE + _ZERO_WIDTH + _DASHES)
_ASCII_DELETE = str.maketrans("", "", "".join(ch for ch in _WHITESPACE + "-" if ch.isascii()))
_ZERO_WIDTH_DELETE = str.maketrans("", "", _ZERO_WIDTH)
_CYRILLIC_LOOKALIKES = str.maketrans("АВСЕНІКМОРТХ", "ABCEHIKMOPTX")


def normalize(candidate: str) -> str:
    """Return the candidate without separators, in ASCII upper case where it is a look-alike."""
    if candidate.isascii():  # the common case; NFKC and the maps below change nothing here
        return candidate.translate(_ASCII_DELETE).upper()
    text = unicodedata.normalize("NFKC", candidate).translate(_DELETE)
    if not text.isascii():
        # NFKC leaves Arabic-Indic and other decimal digits alone; they must not reach an API.
        text = "".join(_ascii_digit(ch) for ch in text if not ch.isspace())
    return text.upper().translate(_CYRILLIC_LOOKALIKES)


def _ascii_digit(ch: str) -> str:
    value = unicodedata.decimal(ch, None)
    return ch if value is None else str(value)


# --- check digits ------------------------------------------------------------------------

_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
_FEDEX_12_WEIGHTS = (3, 1, 7) * 4
_FEDEX_34_WEIGHTS = (1, 7, 3) * 5
_MOD37_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _weighted_sum(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False))


def _mod10(serial: str, even_weight: int, odd_weight: int) -> int:
    """Return the mod 10 check digit; weights apply to 0-based even and odd positions."""
    total = even_weight * sum(map(int, serial[0::2])) + odd_weight * sum(map(int, serial[1::2]))
    return (10 - total % 10) % 10


def _s10_ok(m: re.Match[str]) -> bool:
    remainder = _weighted_sum(m["serial"], _S10_WEIGHTS) % 11
    expected = {0: 5, 1: 0}.get(remainder, 11 - remainder)
    return int(m["check"]) == expected and m["country"] in ISO_COUNTRY_CODES


def _ukrposhta_ok(m: re.Match[str]) -> bool:
    # INFERRED, not documented by Ukrposhta: weights 2..7 repeating from the rightmost body
    # digit, 11 - (S mod 11), with 10 and 11 both giving 0. All 19 public real barcodes pass.
    # Rejections are logged so the rule can be relaxed if a real barcode ever fails it.
    body = m["serial"][::-1]
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(body))
    expected = 11 - total % 11
    if int(m["check"]) == (0 if expected >= 10 else expected):
        return True
    logger.debug("13-digit number fails the inferred Ukrposhta check digit: %s", m.string)
    return False


def _ups_ok(m: re.Match[str]) -> bool:
    values = [int(c) if c.isdigit() else (ord(c) - 3) % 10 for c in m["serial"]]
    total = sum(values[0::2]) + 2 * sum(values[1::2])  # no Luhn digit sum, unlike Luhn
    return int(m["check"]) == (10 - total % 10) % 10


def _usps_legacy_ok(m: re.Match[str]) -> bool:
    serial = m["serial"]
    if not serial.startswith("91"):
        serial = "91" + serial
    return int(m["check"]) == _mod10(serial, 3, 1)


def _fedex_12_ok(m: re.Match[str]) -> bool:
    return int(m["check"]) == _weighted_sum(m["serial"], _FEDEX_12_WEIGHTS) % 11 % 10


def _fedex_34_ok(m: re.Match[str]) -> bool:
    return int(m["check"]) == _weighted_sum(m["serial"], _FEDEX_34_WEIGHTS) % 11 % 10


def _mod10_even3_ok(m: re.Match[str]) -> bool:
    return int(m["check"]) == _mod10(m["serial"], 3, 1)


def _mod10_odd3_ok(m: re.Match[str]) -> bool:
    return int(m["check"]) == _mod10(m["serial"], 1, 3)


def _dhl_express_ok(m: re.Match[str]) -> bool:
    return int(m["check"]) == int(m["serial"]) % 7


def _dpd_ok(m: re.Match[str]) -> bool:
    # ISO 7064 MOD 37,36 (hybrid system), as in the DPD Parcel Label Specification.
    product = 36
    for ch in m["body"]:
        product += _MOD37_ALPHABET.index(ch)
        if product > 36:
            product -= 36
        product *= 2
        if product > 36:
            product -= 37
    check = 37 - product
    return m["check"] == _MOD37_ALPHABET[0 if check == 36 else check]


def _iso_country_ok(m: re.Match[str]) -> bool:
    return m["country"] in ISO_COUNTRY_CODES


# --- rule table --------------------------------------------------------------------------

_Kind = Literal["digits", "letters", "any"]  # which candidates a rule can match at all


@dataclass(frozen=True, slots=True)
class _Rule:
    carrier: str
    name: str
    pattern: re.Pattern[str]
    lengths: range | tuple[int, ...]  # every length the pattern can match
    kind: _Kind
    check: Callable[[re.Match[str]], bool] | None = None
    checked: bool = False  # `check` validates a check digit (not just a country list)
    # A string of this exact shape that fails `check` is rejected outright, so a broad rule
    # cannot turn a mistyped number into a guess.
    veto: bool = False


def _rule(
    carrier: str,
    name: str,
    lengths: range | tuple[int, ...],
    kind: _Kind,
    pattern: str,
    check: Callable[[re.Match[str]], bool] | None = None,
    *,
    checked: bool = True,
    veto: bool = False,
) -> _Rule:
    checked = checked and check is not None
    compiled = re.compile(pattern, re.ASCII)
    return _Rule(carrier, name, compiled, lengths, kind, check, checked, veto)


_USPS_ROUTE_94 = r"(?P<route>420[0-9]{5}(?=[0-9]{22}$|[0-9]{26}$)(?:[0-9]{4}(?=[0-9]{22}$))?)?"
_USPS_ROUTE = r"(?P<route>420[0-9]{5}(?:[0-9]{4}(?=[0-9]{22}$))?)?"
_IMPB_TAIL = r"(?:9[0-9]{8}(?:[0-9]{11}|[0-9]{7})|[0-8][0-9]{5}(?:[0-9]{14}|[0-9]{10}))"
_IMPB_94_TAIL = (
    r"(?:9[0-9]{8}(?:[0-9]{15}|[0-9]{11}|[0-9]{7})|[0-8][0-9]{5}(?:[0-9]{14}|[0-9]{10}))"
)
_IMPB_LENGTHS = (22, 26, 30, 34)

# Order is rank: check-digit rules, then specific format-only rules, then the broad DHL
# eCommerce rules. Within the checked block the order settles real collisions the way
# docs/tracking-number-formats.md §4 asks: usps before fedex (SmartPost), ups before amazon,
# fedex before dpd.
# fmt: off
_RULES: tuple[_Rule, ...] = (
    _rule("upu-s10", "s10", (13,), "letters",
          r"(?P<service>[A-Z]{2})(?P<serial>[0-9]{8})(?P<check>[0-9])(?P<country>[A-Z]{2})",
          _s10_ok, veto=True),
    _rule("ups", "ups-1z", (18,), "letters",
          r"1Z(?P<serial>[A-Z0-9]{15})(?P<check>[0-9])", _ups_ok),
    _rule("ups", "ups-waybill", (11,), "letters",
          r"[AHJKTV](?P<serial>[0-9]{9})(?P<check>[0-9])", _ups_ok),
    _rule("ukrposhta", "ukrposhta-13", (13,), "digits",
          r"(?P<serial>[0-9]{12})(?P<check>[0-9])", _ukrposhta_ok),
    _rule("usps", "usps-impb-94", _IMPB_LENGTHS, "digits",
          _USPS_ROUTE_94 + r"(?P<serial>94[0-9]{3}" + _IMPB_94_TAIL + r")(?P<check>[0-9])",
          _mod10_even3_ok),
    _rule("usps", "usps-impb", _IMPB_LENGTHS, "digits",
          _USPS_ROUTE + r"(?P<serial>(?:92(?=[0-9]{3}9)|93(?=[0-9]{3}[0-8])|95)[0-9]{3}"
          + _IMPB_TAIL + r")(?P<check>[0-9])",
          _mod10_even3_ok),
    _rule("usps", "usps-20", (20,), "digits",
          r"(?P<serial>[0-9]{19})(?P<check>[0-9])", _mod10_even3_ok),
    _rule("usps", "usps-91", (20, 22, 28, 30, 32, 34), "digits",
          r"(?P<route>420[0-9]{5}(?:[0-9]{4})?)?(?P<serial>(?:91)?[0-9]{19})(?P<check>[0-9])",
          _usps_legacy_ok),
    _rule("fedex", "fedex-express-12", (12,), "digits",
          r"(?P<serial>[0-9]{11})(?P<check>[0-9])", _fedex_12_ok),
    _rule("fedex", "fedex-ground-15", (15,), "digits",
          r"(?P<serial>[0-9]{14})(?P<check>[0-9])", _mod10_odd3_ok),
    _rule("fedex", "fedex-sscc-18", (18,), "digits",
          r"[0-9]{2}(?P<serial>[0-9]{15})(?P<check>[0-9])", _mod10_even3_ok),
    _rule("fedex", "fedex-ground-96", (22,), "digits",
          r"96[0-9]{5}(?P<serial>[0-9]{14})(?P<check>[0-9])", _mod10_odd3_ok),
    _rule("fedex", "fedex-gsn-34", (34,), "digits",
          r"96[0-9]{18}(?P<serial>[0-9]{13})(?P<check>[0-9])", _fedex_34_ok),
    _rule("fedex", "fedex-express-34", (34,), "digits",
          r"[0-8][0-9]{19}(?P<serial>[0-9]{13})(?P<check>[0-9])", _fedex_34_ok),
    _rule("fedex", "fedex-astra-32", (32,), "digits",
          r"3[0-9]{15}(?P<serial>[0-9]{11})(?P<check>[0-9])[0-9]{4}", _fedex_12_ok),
    _rule("dpd", "dpd-28", (28,), "any", r"(?P<body>[0-9]{27})(?P<check>[0-9A-Z])", _dpd_ok),
    _rule("dpd", "dpd-15", (15,), "any", r"(?P<body>[0-9]{14})(?P<check>[0-9A-Z])", _dpd_ok),
    _rule("dhl", "dhl-express", (10, 11), "digits",
          r"(?P<serial>[0-9]{9,10})(?P<check>[0-9])", _dhl_express_ok),
    # Nova Poshta: the waybill rule is format only. The NP Global/NP Shopping rule and the
    # Nova Post Europe rule are UNCERTAIN (placeholder-like or single examples, no spec).
    _rule("nova-poshta", "nova-poshta-waybill", (14,), "digits", r"(?:20|59)[0-9]{12}"),
    _rule("nova-poshta", "nova-poshta-global", range(11, 24), "letters",
          r"(?=[A-Z0-9]*[0-9])[A-Z0-9]{8,20}NP[GI]"),
    _rule("nova-poshta", "nova-post-europe", (14,), "letters",
          r"SH(?P<country>[A-Z]{2})[0-9]{10}", _iso_country_ok, checked=False),
    _rule("inpost", "inpost-24", (24,), "digits", r"[0-9]{24}"),
    # Meest: WEAK, second-hand placeholder examples only.
    _rule("meest", "meest-mycv", (15,), "letters", r"MYCV[0-9]{9}[A-Z]{2}"),
    _rule("amazon", "amazon-logistics", (15,), "letters", r"TB[ACM][0-9]{12}"),
    _rule("amazon", "amazon-international", (11,), "letters", r"[AFC][0-9]{10}"),
    _rule("yunexpress", "yunexpress", (18,), "letters", r"YT[0-9]{16}"),
    _rule("dhl", "dhl-piece-id", (12, 13, 14), "letters", r"J[A-Z]{2,3}[0-9]{9,10}"),
    _rule("dhl-ecommerce", "dhl-ecommerce-prefix", range(12, 42), "letters",
          r"(?:GM|LX|RX|UV|CN|SG|TH|IN|HK|MY)[0-9][0-9A-Z]{9,38}"),
    _rule("dhl-ecommerce", "dhl-ecommerce-14", (14,), "digits", r"[0-9]{14}"),
)
# fmt: on

_MIN_NUMBER_CHARS = min(min(rule.lengths) for rule in _RULES)
_MAX_NUMBER_CHARS = max(max(rule.lengths) for rule in _RULES)
_NUMBER_SHAPE = re.compile(r"[0-9A-Z]+", re.ASCII)


def _dispatch(kind: _Kind) -> dict[int, tuple[_Rule, ...]]:
    """Return, per length, the rules a candidate of that kind can match, in rank order."""
    return {
        length: tuple(r for r in _RULES if length in r.lengths and r.kind in (kind, "any"))
        for length in range(_MIN_NUMBER_CHARS, _MAX_NUMBER_CHARS + 1)
    }


_DIGIT_RULES = _dispatch("digits")
_LETTER_RULES = _dispatch("letters")


def identify(number: str) -> list[Match]:
    """Return the carriers the whole number may belong to, best first; empty if none."""
    # Anything this long is a text, not a number with separators; skip normalising it.
    if len(number) > 4 * _MAX_NUMBER_CHARS:
        return []
    return _identify_normalized(normalize(number))


def _identify_normalized(number: str) -> list[Match]:
    return _read(number)[0]


def _read(number: str) -> tuple[list[Match], bool]:
    """Return the matches of a normalised number, and whether it fails some rule's check.

    A failed check counts when the number has the rule's exact shape (_inside_failed).
    """
    if not _MIN_NUMBER_CHARS <= len(number) <= _MAX_NUMBER_CHARS:
        return [], False
    if _NUMBER_SHAPE.fullmatch(number) is None:  # also keeps "+380..." phone numbers out
        return [], False
    rules = _DIGIT_RULES if number.isdigit() else _LETTER_RULES
    found: list[Match] = []
    failed = False
    for rule in rules[len(number)]:
        m = rule.pattern.fullmatch(number)
        if m is None:
            continue
        if rule.check is not None and not rule.check(m):
            if rule.veto:
                return [], True
            failed = True
            continue
        if any(f.carrier == rule.carrier for f in found):
            continue  # e.g. USPS 20 and USPS legacy: one candidate per carrier is enough
        country = m["country"] if "country" in rule.pattern.groupindex else None
        found.append(Match(rule.carrier, country, rule.name, rule.checked))
    return found, failed


def _specific(number: str) -> bool:
    """Tell whether a normalised number matches a rule other than the broad DHL eCommerce ones."""
    return any(_tier(match) < 2 for match in _identify_normalized(number))


def _tier(match: Match) -> int:
    """Rank a match for joining groups: 0 best, 2 the broad DHL eCommerce rule.

    0 is a Nova Poshta waybill, 1 another specific rule (check digit or exact format). The
    formats document ranks Nova Poshta first among Ukrainian readings; a quantity or a
    price after a waybill ("2040 0048 7990 00 3", "20 9821 8037 5226 450") must not turn it
    into 15 digits that pass FedEx's check by chance.
    """
    if match.rule == "nova-poshta-waybill":
        return 0
    return 2 if match.carrier == "dhl-ecommerce" else 1


def looks_like_number(token: str) -> bool:
    """Tell whether a token is shaped like a tracking number, valid or not.

    True for 8-40 ASCII letters and digits (after normalize()) with at least 6 digits. The bot
    uses it to answer "this number is not valid" instead of ignoring ordinary chat text.
    """
    if len(token) > 200:
        return False
    text = normalize(token)
    if not 8 <= len(text) <= 40 or _NUMBER_SHAPE.fullmatch(text) is None:
        return False
    return sum(ch.isdigit() for ch in text) >= 6


# --- finding numbers in text -------------------------------------------------------------

_MAX_TEXT_CHARS = 20_000  # a paste longer than this is cut; nobody sends 20 KB of numbers
SHORT_GROUP_CHARS = 6  # groups up to this long may be printed parts of one number
_MAX_JOINED_CHARS = 34  # the longest format; joins never go beyond it
_MAX_JOINED_GROUPS = 17  # a 34-digit number printed in pairs has 17 groups
_MAX_RUN_GROUPS = 120  # groups judged together at most (a line of ten numbers in groups of 4: 40)
_MAX_URL_DEPTH = 3  # URLs nested in query values are unwrapped only this deep
_MAX_PHONE_DIGITS = 15  # E.164
# Payment cards as printed: Visa, Mastercard, Mir and most others in fours (16 or 19 digits),
# American Express 4-6-5. No tracking format of ours has 16 or 19 digits; FedEx Ground has 15.
_CARD_GROUPS = ((4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5))
_CARD_FIRST_DIGITS = "23456"
_MIN_CARD_FOLLOWER = 3  # a group of 1–2 digits after the card's groups continues a number
# [?] Ukrainian phone numbers: 0, an area or operator code starting 3–9 ("044", "067"), ten
# digits in all; printed in groups after a three-digit code. One table to change.
_UA_PHONE_START = re.compile(r"0[3-9][0-9]", re.ASCII)
_UA_PHONE_DIGITS = 10
# [?] Printed unbroken: any number with the country code but no plus, and mobile numbers by
# their operator codes (Kyivstar, Vodafone, lifecell, 3mob, Intertelecom). Formats doc §4 lets
# DHL Express's mod 7 decide for "0XXXXXXXXX"; a mobile number is far likelier here, and one
# DHL waybill in seven would otherwise be a stranger's phone. One table to change.
_UA_PHONE_FULL = re.compile(
    r"380[3-9][0-9]{8}|0(?:39|50|63|66|67|68|73|89|9[1-9])[0-9]{7}", re.ASCII
)
# [?] Words that label the phone number after them, lower-case; and how long such a number is
# by its start ("0": Ukrainian without the country code).
_PHONE_WORDS = frozenset(
    {"тел", "телефон", "телефону", "телефона", "моб", "tel", "telefon", "telefonu", "phone", "mob"}
)
_NATIONAL_PHONE_LENGTHS = (("380", 12), ("0", 10), ("48", 11))
# [?] Words that label another kind of number after them (a device, tax or product number, a
# password), lower-case: the number after them is never a parcel's. Its digits may be printed
# in groups ("IMEI 35 209900 176148 1", "ЄДРПОУ 12 34 56 78"), even wrapped to the next line,
# up to the length in _OTHER_NUMBER_DIGITS; a word without a length covers one piece.
_OTHER_NUMBER_WORDS = frozenset(
    {
        "imei",
        "іпн",
        "рнокпп",
        "єдрпоу",
        "инн",
        "nip",
        "pesel",
        "regon",
        "ean",
        "ean8",
        "ean-8",
        "ean13",
        "ean-13",
        "sku",
        "артикул",
        "пароль",
        "password",
        "hasło",
        "pin",
        "фіскальний",
        "фискальный",
        # a listing's number on OLX and the like ("ID оголошення: 798694111")
        "оголошення",
        "объявления",
        "ogłoszenia",
        "ogłoszenie",
    }
)
# Digits of the number such a word labels: covering ends at the first length reached (ИНН: 10
# for a company, 12 for a person; REGON 9 or 14; EAN-8 or EAN-13). A longer piece is not it.
_OTHER_NUMBER_DIGITS: dict[str, tuple[int, ...]] = {
    "imei": (15,),
    "іпн": (10,),
    "рнокпп": (10,),
    "єдрпоу": (8,),
    "инн": (10, 12),
    "nip": (10,),
    "pesel": (11,),
    "regon": (9, 14),
    "ean": (8, 13),
    "ean8": (8,),
    "ean-8": (8,),
    "ean13": (13,),
    "ean-13": (13,),
    "оголошення": (8, 9, 10),
    "объявления": (8, 9, 10),
    "ogłoszenia": (8, 9, 10),
    "ogłoszenie": (8, 9, 10),
}
# Numbers never printed in groups (a listing's id): only one unbroken piece of their length.
_UNBROKEN_OTHER = frozenset({"оголошення", "объявления", "ogłoszenia", "ogłoszenie"})
# [?] Words that label an order's number, lower-case: an unbroken number after them is the
# order's, but printed groups after them are read as usual ("Ваше замовлення: 6740 5734 …"
# may be the parcel's number).
_ORDER_WORDS = frozenset({"замовлення", "заказ", "заказа", "order", "zamówienie", "zamówienia"})
# [?] Words that announce a parcel's number after them, lower-case (bot.requests uses them to
# tell a mistyped number from a shop's other numbers).
_PARCEL_WORDS = frozenset(
    {
        "ттн",
        "ен",
        "трек",
        "трек-номер",
        "номер",
        "посилка",
        "посилки",
        "посилку",
        "посылка",
        "посылки",
        "посылку",
        "відправлення",
        "отправления",
        "накладна",
        "накладної",
        "накладная",
        "track",
        "tracking",
        "number",
        "parcel",
        "package",
        "shipment",
        "nr",
        "przesyłki",
        "przesyłka",
        "paczka",
        "paczki",
    }
)
# [?] Format-only rules whose numbers are read across a line break when a parcel word stands
# right before them on the first line ("Numer przesyłki: 6123 4567 8901 / 2345 6789 0123");
# without the word, 24 digits on two lines are as likely two amounts' lines as one number.
_ANNOUNCED_WRAPS = frozenset({"inpost-24"})
_MAX_AFFIX_CHARS = 4  # the longest letter prefix printed apart from its digits ("SHPL", "MYCV")
# Digits read across a line break only beyond this many: "232 675 / 690 695" on two lines are
# four amounts more often than a wrapped 12-digit FedEx number.
_MIN_WRAPPED_DIGITS = 12
_IBAN_START = re.compile(r"[A-Z]{2}[0-9]{2}", re.ASCII)  # an IBAN's country and check digits
_MIN_IBAN_CHARS, _MAX_IBAN_CHARS = 15, 34
# Account numbers printed without their country code, or with a space after it, are
# recognised for these countries (IBAN lengths).
_IBAN_LENGTHS = {"UA": 29, "PL": 28}
# [?] Digits (country code included) of the phone numbers most pasted here; groups after them
# belong to the text again ("+48 123 456 789 0500 1000 3113 5"). Other countries: E.164's 15.
# "+38" is how Ukrainians usually write "+380".
_PHONE_LENGTHS = (("38", 12), ("48", 11), ("7", 11), ("1", 11), ("373", 11), ("49", 13))

_LABEL_PUNCTUATION = ".,:;#№()«»\"'"  # stripped from a word before it is looked up as a label
_PIECE = re.compile(rf"(\+?)([^\W_]+(?:[{_DASHES}]+[^\W_]+)*)")
_DASH_RUN = re.compile(rf"[{_DASHES}]+")
_WWW = re.compile(r"www\.", re.IGNORECASE)
_SCHEME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-")


def _url_start(token: str) -> int:
    """Return where a URL ("scheme://..." or "www....") starts in the token, or -1."""
    # Scanned by hand: a regex search for the scheme backtracks quadratically on long words.
    www = _WWW.search(token)
    starts = [-1 if www is None else www.start()]
    separator = token.find("://")
    if separator > 0:
        start = separator
        while start > 0 and token[start - 1] in _SCHEME_CHARS:
            start -= 1
        while start < separator and not token[start].isalpha():
            start += 1  # a scheme starts with a letter
        if start < separator:
            starts.append(start)
    found = [start for start in starts if start >= 0]
    return min(found, default=-1)


class _Scanner:
    """Collect accepted numbers from text, in order, joining printed groups."""

    __slots__ = (
        "_announced",
        "_breaks",
        "_cover",
        "_labelled",
        "_limit",
        "_lone",
        "_phone_left",
        "_run",
        "_words",
        "found",
    )

    def __init__(self, limit: int | None) -> None:
        self.found: dict[str, None] = {}  # an ordered set
        self._limit = limit
        self._run: list[str] = []  # adjacent short normalised groups that may form one number
        self._words: list[bool] = []  # whether each group was typed as a word (is_word)
        self._breaks: list[int] = []  # where in the run a new line starts
        self._announced: set[int] = set()  # groups of the run right after a parcel word
        # Digits a "+380 50 ..." phone number may still have (None outside one).
        self._phone_left: int | None = None
        # An unbroken group that is no specific number alone, with the capitals printed before
        # it ("RA 067022855 UA") and whether it passes a broad rule: the group after it may
        # complete it (_glue).
        self._lone: tuple[str, str, bool] | None = None
        # The last piece labelled the number after it: "phone" ("тел."), "other" ("IMEI"),
        # "order", "parcel" ("ТТН"), "" (see _label_of); or "covered": the digits after an
        # "other" word go on, and so does its label.
        self._labelled = ""
        # The "other" word's number: its lengths (_OTHER_NUMBER_DIGITS; () for one piece of
        # any length), whether it is one unbroken piece, and the digits covered so far.
        self._cover: tuple[tuple[int, ...], bool, int] = ((), False, 0)

    def full(self) -> bool:
        return self._limit is not None and len(self.found) >= self._limit

    def text(self, text: str, depth: int = 0) -> None:
        # A line break is a soft end of a run: a number is read across it only when its check
        # digit passes (or a parcel word announces it, _announced_wrap) and nothing on either
        # line claims its groups (_best_joins). A blank line ends the run.
        for line in text.splitlines():
            if not line.strip():
                self.flush()
                continue
            for token in line.split():
                if self.full():
                    return
                start = _url_start(token) if depth < _MAX_URL_DEPTH else -1
                if start < 0:
                    self._token(token)
                else:
                    self._token(token[:start])
                    self._url(token[start:], depth + 1)
            self._line_break()
        self.flush()

    def _line_break(self) -> None:
        """End a line: a phone number or a label ends with it; the run of groups may go on."""
        if self._lone is not None:
            self._glue("", False)
        self._phone_left = None
        if self._labelled != "covered":  # an IMEI's groups may go on on the next line
            self._labelled = ""
        if self._run and (not self._breaks or self._breaks[-1] != len(self._run)):
            self._breaks.append(len(self._run))

    def _url(self, url: str, depth: int) -> None:
        self.flush()
        self._labelled = ""  # "тел https://…/0501234565": the label was for the link
        try:
            parts = urlsplit(url)
            values = [value for _, value in parse_qsl(parts.query)]
        except ValueError:  # e.g. an unbalanced "[" in the host
            self._token(url)
            self.flush()
            return
        for segment in [*unquote(parts.path).split("/"), *values, unquote(parts.fragment)]:
            self.text(segment, depth)  # each segment stands alone

    def _token(self, token: str) -> None:
        pieces = list(_PIECE.finditer(token))
        # "15.01.2024", "10:30", "1250,00": a token whose punctuation sits between digits stands
        # alone; its pieces are never joined with the groups around it ("ТТН:2040 0048…" is
        # a label glued to a number, not such a token).
        isolated = any(
            a.group(2)[-1].isdigit() and b.group(2)[0].isdigit() for a, b in pairwise(pieces)
        )
        if isolated:
            self.flush()
        end = 0
        for m in pieces:
            if m.start() > end:
                self.flush()  # punctuation between pieces ends a run of groups
                self._uncover()
            end = m.end()
            plus, piece = m.groups()
            labelled, self._labelled = self._labelled, _next_label(self._labelled, piece)
            if self._labelled == "other":
                word = _other_word(piece.lower())
                self._cover = (_OTHER_NUMBER_DIGITS.get(word, ()), word in _UNBROKEN_OTHER, 0)
            if labelled in ("other", "covered") and piece[0].isdigit() and self._covers(piece):
                # "IMEI 35 209900 176148 1", "ІПН 3012584476": the device's or the tax
                # number's digits, up to its length, a word or punctuation; no piece of them is
                # a parcel's.
                self.flush()
                continue
            if labelled == "order" and piece.isdigit() and len(piece) > SHORT_GROUP_CHARS:
                # "Замовлення 348269059": the order's number. Printed groups after the word are
                # read as usual: "Ваше замовлення: 6740 5734 …" may be the parcel's number.
                self.flush()
                continue
            if (plus or labelled in ("phone", "order")) and piece[0].isdigit():
                # "+" and digits, or digits after "тел.": a phone number, never a parcel. Short
                # digits after an order word go this way too, as before order words had a label
                # of their own ("Order 0500 1000 3113 5" stays unread).
                digits = normalize(piece)
                length = _phone_length(digits) if plus else _national_phone_length(digits)
                if plus or len(digits) <= length:
                    self.flush()
                    self._phone_left = length - len(digits)
                    continue
            if plus:
                self.flush()
            if _DASH_RUN.search(piece):
                self.flush()
                self._dashed(piece)
                continue
            self._group(normalize(piece), is_word(piece), announced=labelled == "parcel")
        if isolated or end < len(token):
            self.flush()
        if end < len(token):
            self._uncover()

    def _covers(self, piece: str) -> bool:
        """Tell whether a digit piece after an "other" word belongs to its number; count it.

        Covering ends at the first of the number's lengths reached; a piece that would make it
        longer than all of them is not part of it ("ЄДРПОУ 12345678 20400048799000": eight
        digits of ЄДРПОУ, then a waybill; "ИНН 3012584476 20 4000 …": ten, then a waybill).
        """
        lengths, unbroken, covered = self._cover
        self._labelled = ""
        if not lengths:  # a word without a known length (пароль, SKU): its first piece
            return True
        size = covered + sum(ch.isalnum() for ch in piece)  # "86-867565-088995-9": 15
        if size > max(lengths) or (unbroken and size not in lengths):
            return False
        self._cover = (lengths, unbroken, size)
        if size not in lengths and not unbroken:
            self._labelled = "covered"  # more groups of it may follow
        return True

    def _uncover(self) -> None:
        """End the digits an "other" word covers: punctuation after them ends its run."""
        if self._labelled == "covered":
            self._labelled = ""

    def _dashed(self, piece: str) -> None:
        """Read a dashed piece: "2040-0048-7990-00" is one number printed in parts.

        A dashed piece that is no number ("2024-01-15") is never joined with its neighbours.
        Of the readings (the whole piece; without the words dashed to it, as in
        "ТТН-20400048799000"; each unbroken part, as in "RA067022855UA-1") the best rule wins:
        "0500100031143-1" is the Ukrposhta number, not 14 digits of the broad rule.
        """
        raw = [part for part in _DASH_RUN.split(piece) if part]
        parts = [normalize(part) for part in raw]
        inner = parts[:]
        while inner and inner[0].isalpha():
            inner.pop(0)
        while inner and inner[-1].isalpha():
            inner.pop()
        if len(_phone_groups(parts, [False] * len(parts))) == len(parts):
            return  # "096-515-34-16"
        readings = [
            "".join(p for p, r in zip(parts, raw, strict=True) if not is_word(r)),
            "".join(parts),
            "".join(inner),
            *(part for part in inner if len(part) > SHORT_GROUP_CHARS),
        ]
        best: tuple[int, bool] | None = None
        chosen = ""
        for reading in dict.fromkeys(readings):  # in order, once each
            matches = _identify_normalized(reading)
            if not matches:
                continue
            rank = (min(_tier(m) for m in matches), not any(m.checked for m in matches))
            if best is None or rank < best:
                best, chosen = rank, reading
        if chosen:
            self._add(chosen)

    def _group(self, group: str, word: bool = False, *, announced: bool = False) -> None:
        if not group:
            return
        if self._lone is not None and self._glue(group, word):
            return
        if self._phone_left is not None:
            # The rest of "+380 50 123 45 67", up to the country's length (E.164: at most 15).
            if group.isdigit() and len(group) <= self._phone_left:
                self._phone_left -= len(group)
                return
            self._phone_left = None
        if len(group) > SHORT_GROUP_CHARS:
            # An unbroken run is tried whole, never cut; only the capitals printed around it
            # may join it ("RA 067022855 UA", "EV 00000000000543 NPI").
            prefix = (
                self._run[-1] if self._run and _is_affix(self._run[-1], self._words[-1]) else ""
            )
            self.flush()
            if _UA_PHONE_FULL.fullmatch(group) is not None:
                # "380965153416": "+380…" without its plus. Formats doc §4 only warns that these
                # digits may pass a 12-digit check; dropping them is our choice (a FedEx number
                # starting 380[3-9] is lost; one table, _UA_PHONE_FULL).
                return
            matches = _identify_normalized(group)
            if any(_tier(match) < 2 for match in matches):
                self._add(group)
            else:  # nothing, or only "any 14 digits": the letters around it may say more
                self._lone = (prefix, group, bool(matches))
            return
        if announced:
            self._announced.add(len(self._run))
        self._run.append(group)
        self._words.append(word)
        if len(self._run) >= _MAX_RUN_GROUPS:
            self.flush()  # judging joins grows with the run: a longer one is a table, not a number

    def _glue(self, group: str, word: bool) -> bool:
        """Complete the pending unbroken run with the letters around it; True if group was used."""
        assert self._lone is not None
        (prefix, body, broad), self._lone = self._lone, None
        # Only a specific rule may take the letters: "PAID IN 12345678901" is no DHL number.
        if _is_affix(group, word):
            for reading in (prefix + body + group, body + group):
                if _specific(reading):
                    self._add(reading)
                    return True
        if prefix and _specific(prefix + body):
            self._add(prefix + body)
        elif broad:
            self._add(body)
        return False

    def _add(self, number: str) -> None:
        if not self.full():
            self.found.setdefault(number)

    def flush(self) -> None:
        """Turn the pending run of short groups into numbers (see _best_joins)."""
        if self._lone is not None:
            self._glue("", False)
        run, words, breaks, announced = self._run, self._words, self._breaks, self._announced
        self._run, self._words, self._breaks, self._phone_left = [], [], [], None
        self._announced = set()
        if len(run) < 2:
            return
        for number in _best_joins(run, words, breaks, announced):
            self._add(number)


@dataclass(frozen=True, slots=True)
class _Join:
    """A candidate made of run[start:end], and how good a reading of the printed groups it is."""

    start: int
    end: int
    number: str
    rank: tuple[bool, int, bool, int]
    encloses: bool  # printed regularly, by a specific rule: a join inside it is a piece of it
    # Printed so too, but after a shorter first group (a house number, or its own first
    # digits): only a join from the same first group that it runs two groups beyond is its piece.
    led: bool = False
    checked: bool = False  # printed regularly, and a check digit passes


def _best_joins(
    run: list[str],
    words: list[bool],
    breaks: Sequence[int] = (),
    announced: Set[int] = frozenset(),
) -> list[str]:
    """Return the numbers a run of printed groups holds, in text order.

    Every join of adjacent groups that passes a rule is a candidate; the best ones that do not
    overlap win: a Nova Poshta waybill, then another specific rule, then the broad one
    (_tier); then the longer join (printed groups belong together). A
    candidate is refused when it is a fragment of a mistyped number (_inside_failed), and
    a join without a check digit must be printed regularly (_regular). ``announced`` holds
    the groups right after a parcel word (_announced_wrap).
    """
    blocked = (
        _iban_groups(run)
        | _card_groups(run, words, breaks, announced)
        | _phone_groups(run, words, breaks)
    )
    read: list[tuple[int, int, str, list[Match], bool]] = []
    failed: list[tuple[int, int]] = []  # regularly printed windows that fail a check
    for start in range(len(run) - 1):
        joined = run[start]
        for end in range(start + 2, min(len(run), start + _MAX_JOINED_GROUPS) + 1):
            joined += run[end - 1]
            if len(joined) > _MAX_JOINED_CHARS:
                break
            matches, fails = _read(joined)
            crossing = any(start < b < end for b in breaks)
            if fails and not crossing and _regular(run[start:end]):
                failed.append((start, end))
            if matches and blocked.isdisjoint(range(start, end)):
                read.append((start, end, joined, matches, crossing))
    # Spans that are each a whole number by a check digit, within a line (_announced_wrap).
    whole = {
        (start, end)
        for start, end, _, matches, crossing in (read if announced else ())
        if not crossing and any(m.checked for m in matches)
    }
    joins = [
        join
        for start, end, joined, matches, crossing in read
        if (
            join := _judge(
                run,
                start,
                end,
                joined,
                matches,
                word=words[start],
                failed=failed,
                wrapped=crossing,
                announced=crossing
                and start in announced
                and _announced_wrap(start, end, matches, breaks, whole),
            )
        )
        is not None
    ]
    joins = _without_zero_led_waybills(joins, run)
    # A word before a number is not part of it when the number passes without it too
    # ("is EV0 000 000 000 054 3NP I": not "ISEV…").
    spans = {(j.start, j.end) for j in joins}
    joins = [j for j in joins if not (words[j.start] and (j.start + 1, j.end) in spans)]
    joins = [j for j in joins if not (words[j.end - 1] and (j.start, j.end - 1) in spans)]
    # Nor are digits before a number's letter prefix ("кв. 5 EV 00 00 …": not "5EV…").
    joins = [
        j
        for j in joins
        if not (
            run[j.start].isdigit()
            and run[j.start + 1][0].isalpha()
            and (j.start + 1, j.end) in spans
        )
    ]
    # A join inside a longer, regularly printed one is a piece of it ("YT 20 56 56 16 24 61 55
    # 88" holds a Nova Poshta-shaped "20565616246155"; so does InPost's "2016 53306 80353
    # 72332 25838").
    by_start: dict[int, list[_Join]] = {}
    for w in joins:
        if w.encloses or w.led:
            by_start.setdefault(w.start, []).append(w)
    joins = [
        j
        for j in joins
        if not any(
            w.start <= j.start
            and j.end <= w.end
            and w is not j
            and (w.encloses or (w.start == j.start and w.end - j.end >= 2))
            for s in range(max(0, j.end - _MAX_JOINED_GROUPS), j.start + 1)
            for w in by_start.get(s, ())
        )
    ]
    taken: list[_Join] = []
    used = [False] * len(run)
    for join in sorted(joins, key=lambda j: j.rank, reverse=True):
        if not any(used[join.start : join.end]):
            taken.append(join)
            used[join.start : join.end] = [True] * (join.end - join.start)
    return [join.number for join in sorted(taken, key=lambda j: j.start)]


def _judge(
    run: list[str],
    start: int,
    end: int,
    number: str,
    matches: list[Match],
    *,
    word: bool,
    failed: list[tuple[int, int]],
    wrapped: bool = False,
    announced: bool = False,
) -> _Join | None:
    """Rank the join run[start:end], or return None when it cannot be a printed number.

    A join across a line break (``wrapped``) needs regular groups printed by themselves, more
    than _MIN_WRAPPED_DIGITS digits (or letters) and a check digit (or Nova Poshta's waybill
    format), and ranks below every join within a line. One that a parcel word ``announced``
    (_announced_wrap) needs no check digit and ranks as if within a line.
    """
    groups = run[start:end]
    tier = min(_tier(m) for m in matches)
    checked = any(m.checked for m in matches)
    # "in 1234 5678 9012" is an English word before digits, not a DHL prefix ("GM 29 51…" is).
    if tier == 2 and word:
        return None
    if tier == 2 and number.isdigit() and not _alone(run, start, end):
        return None  # "any 14 digits" only for groups printed by themselves
    regular = _regular(groups)
    if not (regular or checked):
        return None  # "067 123 45 67 050…", "а 067 123 45 67": no format of ours
    if wrapped and not (
        regular
        and (checked or tier == 0 or announced)
        and _alone(run, start, end)
        and (len(number) > _MIN_WRAPPED_DIGITS or not number.isdigit())
    ):
        return None  # no piece of a longer wrapped number, no lines of small numbers
    if _inside_failed(run, failed, start, end, trusted=tier == 0):
        return None
    # "K 15 06 23 56 20 450 грн": a last group longer than the one before is a price.
    ragged = len(groups[-1]) > len(groups[-2]) and groups[-1].isdigit()
    # A join encloses the joins inside it when it is printed regularly by a specific rule, and
    # does not start with a shorter group of digits, which may be a house or flat number.
    lead = groups[0].isalpha() or len(groups[0]) >= len(groups[1])
    specific = regular and tier < 2 and not wrapped
    return _Join(
        start,
        end,
        number,
        (not wrapped or announced, -tier, not ragged, len(number)),
        specific and lead,
        specific and not lead,
        regular and checked,
    )


def _announced_wrap(
    start: int,
    end: int,
    matches: list[Match],
    breaks: Sequence[int],
    whole: set[tuple[int, int]],
) -> bool:
    """Tell whether a join across a line break, right after a parcel word, is one number.

    "Numer przesyłki: 6123 4567 8901 / 2345 6789 0123": a format of _ANNOUNCED_WRAPS across
    one break (also "Numer przesyłki: 6123 / 4567 8901 …"), unless each line is a whole number
    with a check digit ("ТТН 9865 7878 8855 / 4771 7908 1230": two FedEx numbers).
    """
    inside = [b for b in breaks if start < b < end]
    if len(inside) != 1 or not any(m.rule in _ANNOUNCED_WRAPS for m in matches):
        return False
    return not ((start, inside[0]) in whole and (inside[0], end) in whole)


def _without_zero_led_waybills(joins: list[_Join], run: list[str]) -> list[_Join]:
    """Drop the Nova Poshta waybill joins that end a checked join led by a group starting 0.

    "0 20 04 95 92 76 02 79" is a FedEx Ground number printed in pairs from the right, not a
    waybill after a "0": a house or flat number or a quantity never starts with 0, so the
    check digit decides. A waybill with digits after it stays one (_tier).
    """
    first: dict[int, int] = {}  # by end: the first start of such a checked join
    for w in joins:
        if w.checked and _zero_headed(run, w.start, w.end):
            first[w.end] = min(first.get(w.end, w.start), w.start)
    if not first:
        return joins
    waybill = 0  # -tier, rank[1], of a Nova Poshta waybill
    return [j for j in joins if not (j.rank[1] == waybill and first.get(j.end, j.start) < j.start)]


def _zero_headed(run: list[str], start: int, end: int) -> bool:
    """Tell whether run[start:end] is a number printed in equal groups from the right.

    Its head is then the short rest, and one starting with 0 is no house number or quantity:
    "0 20 04 95 92 76 02 79" (FedEx Ground in pairs) is, "0 2029 6360 6934 24" is not.
    """
    tail = run[start + 1 : end]
    head = run[start]
    return (
        head[0] == "0"
        and bool(tail)
        and len(head) < len(tail[0])
        and all(len(group) == len(tail[0]) for group in tail)
    )


def _alone(run: list[str], start: int, end: int) -> bool:
    """Tell whether run[start:end] has no digits right before or after it, nor a shorter start.

    A shorter first group may be a house or flat number ("кв. 5 …"), so "60 1201 7224 2323"
    is not alone in this sense: the broad and the wrapped readings lose it on purpose.
    """
    before = start > 0 and run[start - 1][-1].isdigit()
    after = end < len(run) and run[end][0].isdigit()
    return not (before or after) and len(run[start]) >= len(run[start + 1])


def _regular(groups: list[str]) -> bool:
    """Tell whether groups are printed like one number: equal inner groups, shorter or equal ends.

    A letter prefix or suffix may be longer ("MYCV 123 456 789 PL").
    """
    inner = groups[1:-1]
    if not inner:
        return True
    size = len(inner[0])
    if any(len(group) != size for group in inner):
        return False
    return all(len(edge) <= size or edge.isalpha() for edge in (groups[0], groups[-1]))


def _inside_failed(
    run: list[str], failed: list[tuple[int, int]], start: int, end: int, *, trusted: bool
) -> bool:
    """Tell whether run[start:end] lies inside a window of the run that fails a check.

    "1Z 5R8 939 035 756 712 8" (a typo) is a UPS number whose check fails; its last 13 digits
    pass Ukrposhta's check by chance and must not be taken (formats doc §1: never guess).
    A lone digit before the groups is a quantity, not part of them, unless it is a 0 that
    equal groups from the right leave as a head ("0 20 04 95 92 76 02 78": a mistyped FedEx
    Ground number, not a waybill) or that stands further before; a trusted join (a Nova
    Poshta waybill) may be followed by a quantity ("… 9000 2 шт").
    """
    size = len(run[end - 1])
    for first, last in failed:
        if first > start or last < end or (first, last) == (start, end):
            continue
        lone = [i for i in range(first, start) if len(run[i]) == 1]
        if any(run[i] != "0" for i in lone):
            continue  # a quantity before the groups
        if lone and start == first + 1 and not _zero_headed(run, first, last):
            continue  # "0 2040 0048 7990 00": a 0 no number's groups leave, right before it

        if trusted and any(len(run[i]) < size for i in range(end, last)):
            continue
        return True
    return False


def _iban_groups(run: list[str]) -> set[int]:
    """Return the indexes of groups that form an IBAN ("UA21 3223 1300 …"), never a parcel.

    An IBAN is recognised by its own check (ISO 13616, mod 97), so a tracking number that
    merely starts like one ("GM29 5117 …") stays a candidate. Also "UA 21 3223 …" (a space
    after the country) and Polish account numbers written without "PL" (NRB: 26 digits,
    "61 1090 1014 …"), which are IBANs once "PL" is put back.
    """
    blocked: set[int] = set()
    for index, group in enumerate(run):
        if _IBAN_START.fullmatch(group) is not None:
            first, joined, length = index, group, 0
        elif group.isdigit() and len(group) == 2:
            # "UA 21 3223 …" (a space after the country), or an NRB: "PL" left out.
            country = run[index - 1] if index and run[index - 1] in _IBAN_LENGTHS else ""
            first = index - 1 if country else index
            country = country or "PL"
            joined, length = country + group, _IBAN_LENGTHS[country]
        else:
            continue
        for last in range(index + 1, min(len(run), index + _MAX_JOINED_GROUPS)):
            if length and len(run[last]) != 4 and len(joined) + len(run[last]) != length:
                break  # a bare account number is printed in groups of four
            joined += run[last]
            if len(joined) > (length or _MAX_IBAN_CHARS):
                break
            if len(joined) >= (length or _MIN_IBAN_CHARS) and _iban_valid(joined):
                blocked.update(range(first, last + 1))
    return blocked


def is_other_number(groups: list[str]) -> bool:
    """Tell whether printed groups hold a payment card, an IBAN or a phone number.

    The bot then does not answer them as a mistyped tracking number either.
    """
    run = [normalize(group) for group in groups]
    if len(run) == 1:  # unbroken: an IBAN by its check, a phone by its shape
        return _UA_PHONE_FULL.fullmatch(run[0]) is not None or (
            _IBAN_START.match(run[0]) is not None and _iban_valid(run[0])
        )
    words = [is_word(group) for group in groups]
    return bool(_iban_groups(run) or _card_groups(run, words) or _phone_groups(run, words))


def _card_groups(
    run: list[str],
    words: list[bool],
    breaks: Sequence[int] = (),
    announced: Set[int] = frozenset(),
) -> set[int]:
    """Return the indexes of groups that print a payment card number, never a parcel.

    "4441 4902 6730 4329" holds a 12-digit join that passes FedEx's check by chance. A card is
    recognised by its Luhn check, its first digit and its printed groups, and only where it
    starts (a line, or after a word) and nothing continues it: "YT 4111 1111 1111 1111" and
    "3574 1629 9864 9840 38" are longer numbers, and so is one a parcel word announces that
    goes on on the next line ("Numer przesyłki: 6957 4480 8716 6857 / 6409 0753": an InPost
    number whose first 16 digits pass Luhn by chance).
    """
    blocked: set[int] = set()
    for index, group in enumerate(run):
        if not (group.isdigit() and group[0] in _CARD_FIRST_DIGITS):
            continue
        if not _starts(index, words, breaks):
            continue  # digits or a number's letters before it: part of a longer number
        for sizes in _CARD_GROUPS:
            end = index + len(sizes)
            window = run[index:end]
            if [len(g) for g in window] != list(sizes) or not all(g.isdigit() for g in window):
                continue
            after = run[end] if end < len(run) and end not in breaks else ""
            if after.isdigit() and (len(after) == sizes[-1] or len(after) < _MIN_CARD_FOLLOWER):
                continue
            wrapped = end in breaks and end < len(run) and run[end].isdigit()
            if index in announced and wrapped and len(run[end]) == sizes[-1]:
                continue  # an announced number going on in the same groups on the next line
            if _luhn_valid("".join(window)):
                blocked.update(range(index, end))
    return blocked


def _luhn_valid(digits: str) -> bool:
    """Tell whether digits pass the Luhn check of payment card numbers (ISO/IEC 7812)."""
    total = 0
    for position, ch in enumerate(reversed(digits)):
        doubled = int(ch) * (2 if position % 2 else 1)
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def _phone_groups(run: list[str], words: list[bool], breaks: Sequence[int] = ()) -> set[int]:
    """Return the indexes of groups that print a Ukrainian phone number ("096 515 34 16").

    Printed like this, a national number (0 and nine digits) or one after "38" is a phone,
    even when its ten digits pass DHL Express's check (1 in 7 do). It starts its line or
    follows a word ("… 560 030 773 85" and "K15 062 356 20 10" are parts of longer numbers).
    """
    blocked: set[int] = set()
    for index, group in enumerate(run):
        if _UA_PHONE_START.fullmatch(group) is None:
            continue
        # "38 096 …" is the country code when the 38 itself starts (a line, or after a word).
        code = index >= 1 and run[index - 1] == "38" and _starts(index - 1, words, breaks)
        if not (code or _starts(index, words, breaks)):
            continue
        digits, end = len(group), index + 1
        while (
            end < len(run)
            and digits < _UA_PHONE_DIGITS
            and end not in breaks
            and _phone_part(run[end])
        ):
            digits += len(run[end])
            end += 1
        if digits != _UA_PHONE_DIGITS or end - index < 3:
            continue
        blocked.update(range(index - 1 if code else index, end))
    return blocked


def _starts(index: int, words: list[bool], breaks: Sequence[int]) -> bool:
    """Tell whether a run's group starts its digits: first on its line, or after a word."""
    return index == 0 or index in breaks or words[index - 1]


def _phone_part(group: str) -> bool:
    """Tell whether a group may be a later part of a printed phone number (2–4 digits)."""
    return 2 <= len(group) <= 4 and group.isdigit()


def _iban_valid(text: str) -> bool:
    """Tell whether an upper-case alphanumeric text passes the IBAN check (mod 97 == 1)."""
    if not (text.isascii() and text.isalnum()):
        return False
    moved = text[4:] + text[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _is_affix(group: str, word: bool) -> bool:
    """Tell whether a group may be a number's printed letter prefix or suffix ("RA", "NPI")."""
    return 2 <= len(group) <= _MAX_AFFIX_CHARS and group.isalpha() and not word


def is_word(piece: str) -> bool:
    """Tell whether a piece was typed as a word: letters, not all upper-case Latin ("is", "ТТН").

    A number's own letters are typed upper-case ("RA", "EV", "GM"); after normalize() the two
    look the same, so the scanner remembers this for each group.
    """
    return piece.isalpha() and not (piece.isascii() and piece.isupper())


def _phone_length(digits: str) -> int:
    """Return how many digits a phone number starting with these has (E.164 at most)."""
    for prefix, length in _PHONE_LENGTHS:
        if digits.startswith(prefix):
            return length
    return _MAX_PHONE_DIGITS


def names_other_number(word: str) -> bool:
    """Tell whether a word labels a number that is not a parcel's ("IMEI", "ІПН", "Order").

    Two labels written as one word ("ЄДРПОУ/РНОКПП:") name one if either does.
    """
    return any(
        _label_of(part.strip(_LABEL_PUNCTUATION)) in ("other", "order") for part in word.split("/")
    )


def fails_a_check(token: str) -> bool:
    """Tell whether a token has a rule's exact shape but fails its check digit (a typo)."""
    return _read(normalize(token))[1]


def names_parcel_number(word: str) -> bool:
    """Tell whether a word announces a parcel's number after it ("ТТН", "tracking", "paczki")."""
    return _label_of(word.strip(_LABEL_PUNCTUATION)) == "parcel"


def _label_of(piece: str) -> str:
    """Return what kind of number a word announces: "phone", "other", "order", "parcel" or ""."""
    word = piece.lower()
    if word in _PHONE_WORDS:
        return "phone"
    if _other_word(word) in _OTHER_NUMBER_WORDS:
        return "other"
    if word in _ORDER_WORDS:
        return "order"
    return "parcel" if word in _PARCEL_WORDS else ""


def _other_word(word: str) -> str:
    """Return an other-number word without a device's index ("imei1", "imei2": "imei")."""
    return word[:-1] if word[-1:] in ("1", "2") and word[:-1] in _OTHER_NUMBER_WORDS else word


def _next_label(labelled: str, piece: str) -> str:
    """Return the label a piece puts on the number after it (_label_of).

    A parcel word right after another label announces nothing: "Order number:" does not
    announce a parcel's number, and "Ваше замовлення: ТТН 2040…" is no order's number.
    """
    kind = _label_of(piece)
    if kind == "parcel" and labelled in ("phone", "other", "order"):
        return ""
    return kind


def _national_phone_length(digits: str) -> int:
    """Return how many digits a phone number written after a label ("тел.") has; 0 if unknown."""
    for prefix, length in _NATIONAL_PHONE_LENGTHS:
        if digits.startswith(prefix):
            return length
    return 0  # e.g. a Polish "600 123 456": nine digits pass no rule, so nothing to skip


def _cut(text: str) -> str:
    """Return the first _MAX_TEXT_CHARS of text without the word that straddles the cut."""
    end = _MAX_TEXT_CHARS
    # A number cut in half could pass a shorter format, so the last piece is dropped.
    while end > 0 and (text[end - 1].isalnum() or text[end - 1] in _DASHES):
        end -= 1
    return text[:end]


def extract_numbers(text: str, limit: int | None = None) -> list[str]:
    """Return the normalised tracking numbers found in free text, first seen first.

    Looks at most at the first 20,000 characters; `limit` stops after that many numbers.
    """
    if limit is not None and limit <= 0:
        return []
    if len(text) > _MAX_TEXT_CHARS:
        text = _cut(text)
    scanner = _Scanner(limit)
    scanner.text(text.translate(_ZERO_WIDTH_DELETE))
    return list(scanner.found)
