"""Tests for offline tracking-number detection (bot.carriers.detect)."""

from __future__ import annotations

import dataclasses
import logging
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.carriers.countries import ISO_COUNTRY_CODES
from bot.carriers.detect import (
    CARRIERS,
    Match,
    extract_numbers,
    identify,
    looks_like_number,
    names_other_number,
    names_parcel_number,
    normalize,
)

BROAD = "dhl-ecommerce"  # its rules have no checksum and may match alongside any carrier

# Every example from docs/tracking-number-formats.md: number, carrier, rule, check digit?
VALID = [
    ("RA067022855UA", "upu-s10", "s10", True),
    ("LM951174328CN", "upu-s10", "s10", True),
    ("0500100031143", "ukrposhta", "ukrposhta-13", True),
    ("0500100031135", "ukrposhta", "ukrposhta-13", True),
    ("20400048799000", "nova-poshta", "nova-poshta-waybill", False),
    ("59000777777777", "nova-poshta", "nova-poshta-waybill", False),
    ("EV00000000000543NPI", "nova-poshta", "nova-poshta-global", False),
    ("OG0212001001NPG", "nova-poshta", "nova-poshta-global", False),
    ("SHPL6145344878", "nova-poshta", "nova-post-europe", False),
    ("612345678901234567890123", "inpost", "inpost-24", False),
    ("523000015802677003881245", "inpost", "inpost-24", False),
    ("MYCV123456789PL", "meest", "meest-mycv", False),
    ("1Z5R89390357567127", "ups", "ups-1z", True),
    ("K1506235620", "ups", "ups-waybill", True),
    ("986578788855", "fedex", "fedex-express-12", True),
    ("041441760228964", "fedex", "fedex-ground-15", True),
    ("000123450000000027", "fedex", "fedex-sscc-18", True),
    ("9611020987654312345672", "fedex", "fedex-ground-96", True),
    ("9622001900000000000000776632517510", "fedex", "fedex-gsn-34", True),
    ("1001921334250001000300779017972697", "fedex", "fedex-express-34", True),
    ("32971514560102447849175802862014", "fedex", "fedex-astra-32", True),
    ("9361289878909410176578", "usps", "usps-impb", True),
    ("03071790000523483741", "usps", "usps-20", True),
    ("3318810025", "dhl", "dhl-express", True),
    ("73891051146", "dhl", "dhl-express", True),
    ("JJD0099999999", "dhl", "dhl-piece-id", False),
    ("GM2951173225174494", "dhl-ecommerce", "dhl-ecommerce-prefix", False),
    ("TBM502887274000", "amazon", "amazon-logistics", False),
    ("C1004444443", "amazon", "amazon-international", False),
    ("09980000020033F", "dpd", "dpd-15", True),
    ("008182709980000020033350276C", "dpd", "dpd-28", True),
    ("YT2229521272164446", "yunexpress", "yunexpress", False),
]

# More test numbers of tracking_number_data for formats the doc gives one example of.
MORE_VALID = [
    ("9400111201080805483016", "usps"),
    ("9405803699300124287899", "usps"),
    ("92748931507708513018050063", "usps"),
    ("9505511069605048600624", "usps"),
    ("9101123456789000000013", "usps"),
    ("7196901075600307738 5", "usps"),  # valid only with the implied "91" prefix
    ("42022153 9101026837331000039521", "usps"),
    ("4201002334249200190132607600833457", "usps"),
    ("477179081230", "fedex"),
    ("568283610012734", "fedex"),
    ("9632001560123456789900794808390594", "fedex"),
    ("33810799560000004380417923803212", "fedex"),
    ("J4603636537", "ups"),
    ("V0490119172", "ups"),
    ("RR473124829GB", "upu-s10"),
]

# (valid number, index of its check character, rule, alphabet of the check character)
CHECKED = [
    (number, len(number) - 1, rule, string.digits)
    for number, _, rule, checked in VALID
    if checked and rule not in {"s10", "dpd-15", "dpd-28", "fedex-astra-32"}
]
CHECKED += [
    ("RA067022855UA", 10, "s10", string.digits),
    ("LM951174328CN", 10, "s10", string.digits),
    ("32971514560102447849175802862014", 27, "fedex-astra-32", string.digits),
    ("09980000020033F", 14, "dpd-15", string.digits + string.ascii_uppercase),
    ("008182709980000020033350276C", 27, "dpd-28", string.digits + string.ascii_uppercase),
]

S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """Reference S10 check digit, written from the UPU rule independently of the code."""
    remainder = sum(int(d) * w for d, w in zip(serial, S10_WEIGHTS, strict=True)) % 11
    if remainder == 0:
        return 5
    if remainder == 1:
        return 0
    return 11 - remainder


def s10(service: str, serial: str, country: str) -> str:
    return f"{service}{serial}{s10_check_digit(serial)}{country}"


INVALID = [
    # placeholders and sandbox numbers that fail their check digit
    "UU123456789CN",
    "LO123456789FR",
    "CA123456789UA",
    "1Z12345E0291980793",
    # S10 with a correct check digit but a suffix that is not an assigned ISO code
    s10("AA", "12345678", "ZZ"),
    s10("RA", "12345678", "XA"),
    s10("RA", "12345678", "QM"),
    s10("RA", "12345678", "YP"),  # Yanwen's pseudo-country
    s10("LX", "12345678", "AA"),  # a DHL eCommerce prefix does not rescue it either
    # wrong check digit, one per checked format
    "RA067022856UA",
    "LM951174327CN",
    "0500100031144",
    "1Z5R89390357567128",
    "K1506235621",
    "986578788856",
    "041441760228965",
    "000123450000000028",
    "9611020987654312345673",
    "9622001900000000000000776632517511",
    "1001921334250001000300779017972698",
    "32971514560102447849175802872014",
    "9361289878909410176579",
    "03071790000523483742",
    "3318810026",
    "73891051147",
    "09980000020033G",
    "008182709980000020033350276D",
    # wrong format or length
    "RAA12345678UA",
    "RAB123456785UA",
    "RA06702285UA",
    "RA0670228555UA",
    "LM95117432CN",
    "050010003114",
    "2040004879900",
    "1Z5R8939035756712",
    "1Z5R893903575671277",
    "LP00000005PP",
    "RA067022855UA" * 2,
    "RA067022855UA RA067022855UA",
    "1" * 100,
    # phone numbers, dates, amounts
    "+380501234567",
    "+380 50 123 45 67",
    "+48 123 456 789",
    "2024-01-15",
    "15.01.2024",
    "100.50",
    "1 250,00 грн",
    # garbage
    "",
    "   ",
    "\x00",
    "\x00" * 13,
    "hello",
    "Привіт",
    "ТТН",
    "/start",
    "/track",
    "<script>alert(1)</script>",
    "'; DROP TABLE parcels; --",
    "{{ number }}",
    "🎉📦",
    "https://example.com/track",
    "user@example.com",
]


@pytest.mark.parametrize(("number", "carrier", "rule", "checked"), VALID)
def test_valid_example_matches_its_own_carrier_first(
    number: str, carrier: str, rule: str, checked: bool
) -> None:
    matches = identify(number)
    assert matches, number
    assert matches[0].carrier == carrier
    assert matches[0].rule == rule
    assert matches[0].checked is checked
    assert {m.carrier for m in matches} <= {carrier, BROAD}


@pytest.mark.parametrize(("number", "carrier"), MORE_VALID)
def test_more_tracking_number_data_examples(number: str, carrier: str) -> None:
    assert [m.carrier for m in identify(number)] == [carrier]


def test_every_slug_is_known() -> None:
    slugs = {m.carrier for number, *_ in VALID for m in identify(number)}
    assert slugs <= CARRIERS
    assert CARRIERS - slugs == {"postplus"}  # PostPlus has no offline rule


@pytest.mark.parametrize(("number", "index", "rule", "alphabet"), CHECKED)
def test_every_wrong_check_character_fails_the_rule(
    number: str, index: int, rule: str, alphabet: str
) -> None:
    variants = [number[:index] + c + number[index + 1 :] for c in alphabet if c != number[index]]
    assert len(variants) == len(alphabet) - 1
    for variant in variants:
        assert rule not in {m.rule for m in identify(variant)}, variant


@pytest.mark.parametrize("text", INVALID)
def test_invalid_input_matches_nothing(text: str) -> None:
    assert identify(text) == []


def test_s10_placeholders_would_need_check_digit_five() -> None:
    assert s10_check_digit("12345678") == 5
    assert identify(s10("CA", "12345678", "UA")) == [Match("upu-s10", "UA", "s10", True)]


def test_s10_check_digit_special_cases_from_the_doc() -> None:
    assert s10_check_digit("06702285") == 5  # remainder 0
    assert s10_check_digit("47312482") == 9  # Wikipedia's example
    remainder_one = next(
        f"{n:08d}"
        for n in range(10**6)
        if sum(int(d) * w for d, w in zip(f"{n:08d}", S10_WEIGHTS, strict=True)) % 11 == 1
    )
    number = s10("RR", remainder_one, "GB")
    assert number[10] == "0"
    assert identify(number)[0].carrier == "upu-s10"


@pytest.mark.parametrize("country", ["TW", "MO", "FO", "UA", "PL", "GB", "US", "CN"])
def test_s10_accepts_every_iso_country(country: str) -> None:
    assert identify(s10("RB", "12345678", country)) == [Match("upu-s10", country, "s10", True)]


def test_country_list_is_the_full_iso_list() -> None:
    assert len(ISO_COUNTRY_CODES) == 249
    assert {"TW", "MO", "FO", "UA", "XK"} & ISO_COUNTRY_CODES == {"TW", "MO", "FO", "UA"}
    user_assigned = {
        "AA",
        "ZZ",
        *(f"Q{c}" for c in "MNOPQRSTUVWXYZ"),
        *(f"X{c}" for c in string.ascii_uppercase),
    }
    assert not user_assigned & ISO_COUNTRY_CODES
    assert all(len(code) == 2 and code.isalpha() and code.isupper() for code in ISO_COUNTRY_CODES)


@pytest.mark.parametrize(
    ("number", "carriers"),
    [
        ("LX123456785CN", ["upu-s10", "dhl-ecommerce"]),  # S10 before the DHL prefix rule
        ("20400048799000", ["nova-poshta", "dhl-ecommerce"]),  # waybill before any-14-digits
        ("4201028200009261290113185417468510", ["usps", "fedex"]),  # SmartPost IMpb
        ("A1000000009", ["ups", "amazon"]),  # UPS Waybill passes, Amazon International
        ("A1000000008", ["amazon"]),  # UPS Waybill check fails: format-only Amazon stays
        ("100000000000023", ["fedex", "dpd"]),  # both 15-character checks pass
        ("71969010756003077385", ["usps"]),  # USPS 20 and legacy are one carrier
        ("60120172242323", ["dhl-ecommerce"]),
    ],
)
def test_collisions_are_ranked(number: str, carriers: list[str]) -> None:
    assert [m.carrier for m in identify(number)] == carriers


def test_ukrposhta_rejection_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="bot.carriers.detect"):
        assert identify("0500100031144") == []
    assert "0500100031144" in caplog.text


def test_match_is_an_immutable_value() -> None:
    match = identify("RA067022855UA")[0]
    assert match == Match(carrier="upu-s10", country="UA", rule="s10", checked=True)
    assert hash(match) == hash(Match("upu-s10", "UA", "s10", True))
    with pytest.raises(dataclasses.FrozenInstanceError):
        match.carrier = "ups"  # type: ignore[misc]
    assert not hasattr(match, "__dict__")
    assert Match("dhl") == Match("dhl", None, "", False)


DASHES = ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\uff0d"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("RA 067 022 855 UA", "RA067022855UA"),
        ("\tRA\u00a0067\u202f022\n855\r\nUA  ", "RA067022855UA"),
        ("0500 1000 3113 5", "0500100031135"),
        ("lm951174328cn", "LM951174328CN"),
        ("1z5r89390357567127", "1Z5R89390357567127"),
        ("RА067022855UА", "RA067022855UA"),  # Cyrillic А
        ("АВСЕНІКМОРТХ", "ABCEHIKMOPTX"),
        ("авсенікмортх", "ABCEHIKMOPTX"),
        ("０５００１０００３１１４３", "0500100031143"),  # full-width digits
        ("ＲＡ０６７０２２８５５ＵＡ", "RA067022855UA"),  # full-width letters
        ("٠٥٠٠١٠٠٠٣١١٤٣", "0500100031143"),  # Arabic-Indic
        ("۰۵۰۰۱۰۰۰۳۱۱۴۳", "0500100031143"),  # Extended Arabic-Indic
        ("०५००१०००३११४३", "0500100031143"),  # Devanagari
        ("+380 50 123 45 67", "+380501234567"),  # the plus stays: it marks a phone number
        ("ТТН", "TTH"),
        ("", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("dash", DASHES)
def test_normalize_removes_every_dash(dash: str) -> None:
    assert normalize(dash.join(["0500", "1000", "3114", "3"])) == "0500100031143"
    assert identify(dash.join(["2040", "0048", "7990", "00"]))[0].carrier == "nova-poshta"


@pytest.mark.parametrize("zero_width", ZERO_WIDTH)
def test_normalize_removes_zero_width_characters(zero_width: str) -> None:
    raw = zero_width + "RA067" + zero_width + "022855UA" + zero_width
    assert normalize(raw) == "RA067022855UA"
    assert extract_numbers(f"Трек {raw}.") == ["RA067022855UA"]


@pytest.mark.parametrize(
    "raw",
    [
        "RА067022855UА",
        "rа067022855uа",
        " RA 067 022 855 UA ",
        "RA-067-022-855-UA",
        "ＲＡ０６７０２２８５５ＵＡ",
        "RA٠٦٧٠٢٢٨٥٥UA",
    ],
)
def test_identify_normalises_first(raw: str) -> None:
    assert identify(raw) == [Match("upu-s10", "UA", "s10", True)]


def test_unicode_digits_never_reach_the_result_unnormalised() -> None:
    assert extract_numbers("ТТН ٢٠٤٠٠٠٤٨٧٩٩٠٠٠") == ["20400048799000"]
    assert extract_numbers("ТТН ２０４０００４８７９９０００") == ["20400048799000"]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("RA067022856UA", True),  # wrong check digit, but shaped like a number
        ("12345678", True),
        ("0500 1000 3114 4", True),
        ("ТТН20400048799001", True),
        ("1234567", False),  # too short
        ("ABCDE12345", False),  # only 5 digits
        ("1" * 41, False),
        ("hello", False),
        ("ТТН", False),
        ("Привіт12345678", False),  # not ASCII after normalisation
        ("+380501234567", False),
        ("/start", False),
        ("", False),
        ("1" * 10_000, False),
    ],
)
def test_looks_like_number(token: str, expected: bool) -> None:
    assert looks_like_number(token) is expected


# --- extract_numbers -----------------------------------------------------------------------

SMS_UK = (
    "Нова пошта: посилка за ТТН 20400048799000 прибула у відділення №12. "
    "Сума до сплати 1250.00 грн. Дата 2024-01-15. Тел. +380501234567"
)
EMAIL_PL = (
    "Dzień dobry!\n"
    "Twoje zamówienie #12345 z dnia 15.01.2024 zostało wysłane (wartość 149,99 zł).\n"
    "Paczka 1: RA 067 022 855 UA\n"
    "Paczka 2 (InPost): 612345678901234567890123\n"
    "Śledzenie: https://sklep.example.com/track?barcode=LM951174328CN&lang=pl\n"
    "Pozdrawiamy, +48 123 456 789"
)
EMAIL_EN = (
    "Hi! Your order has shipped in 2 parcels.\r\n"
    "UPS: 1Z5R89390357567127\r\n"
    'Track it at <a href="https://shop.example/t/0500100031143?lang=en">here</a>.\r\n'
    "Reference: 1Z5R89390357567127 (same parcel)."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SMS_UK, ["20400048799000"]),
        (EMAIL_PL, ["RA067022855UA", "612345678901234567890123", "LM951174328CN"]),
        (EMAIL_EN, ["1Z5R89390357567127", "0500100031143"]),
        ("Ваша посилка RA067022855UA прибула", ["RA067022855UA"]),
        ("ТТН: 20400048799000", ["20400048799000"]),
        ("ТТН 2040 0048 7990 00", ["20400048799000"]),
        ("Відправлення 0500 1000 3113 5 вже в дорозі", ["0500100031135"]),
        ("China Post: LM 951 174 328 CN.", ["LM951174328CN"]),
        ("(RA 067 022 855 UA), 0500-1000-3114-3", ["RA067022855UA", "0500100031143"]),
        ("2040\u20110048\u20117990\u201100", ["20400048799000"]),
        ("Трек: RА067022855UА", ["RA067022855UA"]),  # Cyrillic А
        ("rа067022855uа ra067022855ua RA067022855UA", ["RA067022855UA"]),  # repeated
        ("https://tracking.example.com/parcels/0500100031143/details", ["0500100031143"]),
        ("https://x.example/t?b=RA+067+022+855+UA", ["RA067022855UA"]),
        (
            "https://x.example/t?u=https%3A%2F%2Fy.example%2F%3Fn%3DLM951174328CN",
            ["LM951174328CN"],
        ),
        ("www.example.com/#/track/20400048799000", ["20400048799000"]),
        ("/track RA067022855UA", ["RA067022855UA"]),
        ("http://[::1/RA067022855UA", ["RA067022855UA"]),  # urlsplit raises on this host
        ("İwww.x.example/RA067022855UA", ["RA067022855UA"]),  # "İ".lower() has 2 characters
        ("LX 123 456 785 CN 12", ["LX123456785CN"]),  # the checked S10 join wins
        ("9865 7878 8855 4", ["9865787888554"]),  # not its 12-digit FedEx prefix
        ("in 6012 0172 2423 23", ["60120172242323"]),  # "in" is a word, not a DHL prefix
        ("DHL 0441234566", ["0441234566"]),  # mod 7 decides for 10 digits (formats doc §4)
        ("DHL 044 123 45 66", ["0441234566"]),  # ... also printed in groups after a name
        ("Дзвоніть 044 123 45 66", []),  # ... but printed like a phone after a word, a phone
        ("мій номер 0962754693", []),  # a mobile operator's code: a phone (our choice)
        ("IMEI 356938035643809", []),  # passes FedEx Ground's check; labelled as a device
        ("ІПН 3012584476, ТТН 20400048799000", ["20400048799000"]),
        # ... but printed groups after such a word are read as usual, never cut
        ("Ваше замовлення: 6740 5734 8945 9357 6016 5124", ["674057348945935760165124"]),
        ("Дзвоніть +38 050 123 45 65", []),  # the same digits after "+38" are a phone
        ("ТТН ТТН ТТН", []),
        ("XRA067022855UA RA067022855UAX RA067022855UA2", []),  # runs are never cut
        ("RA067022855UA" * 3, []),
        ("Дзвоніть +380 50 123 45 67, +38 0501234567 або +380501234567", []),
        ("2024-01-15 о 10:30, сума 100.50 грн", []),
        ("", []),
        ("/start", []),
        ("<b>\x00\x07</b> 🎉📦 '; DROP TABLE parcels; --", []),
    ],
)
def test_extract_numbers(text: str, expected: list[str]) -> None:
    assert extract_numbers(text) == expected


# How printed groups are read (tracking-number-formats.md §1, §4): a typo is never guessed
# into a substring, a stray quantity does not change the number, lines and dashed dates
# stand alone, a phone number ends at its country's length.
GROUPED = [
    # a typo in a grouped number: no fragment of it is taken (§1 "Never guess")
    ("1Z 5R8 939 035 756 712 8", []),
    ("1Z5R 8939 0357 5671 20", []),
    ("9361 2898 7890 9410 1765 71", []),
    ("1Z 5R8 939 035 756 712 7", ["1Z5R89390357567127"]),
    # a quantity next to the number
    ("Кількість 1 0500 1000 3113 5", ["0500100031135"]),
    ("2040 0048 7990 00 3 шт", ["20400048799000"]),
    ("5900 0777 7777 77 1 шт", ["59000777777777"]),
    ("20 4000 4879 9000", ["20400048799000"]),
    # lines are separate
    ("2040 0048 7990 00\n067 123 45 67", ["20400048799000"]),
    ("9865 7878 8855\n4771 7908 1230", ["986578788855", "477179081230"]),
    # dashed pieces are one candidate
    ("2024-01-15 2024-02-16", []),
    ("15-01-2024 16-02-2024", []),
    ("Дата: 2024-05-20 2024-05-21 2024-05-22", []),
    # an IBAN in groups
    ("IBAN: UA21 3223 1300 0002 6007 2335 6600 1", []),
    # phone numbers end at their country's length
    ("+48 123 456 789 0500 1000 3113 5", ["0500100031135"]),
    ("+380 67 123 45 67 2040 0048 7990 00", ["20400048799000"]),
    ("+48 123 456 789\n6123 4567 8901 2345 6789 0123", ["612345678901234567890123"]),
    # irregular joins without a check digit
    ("067 123 45 67 050 123 45 67", []),
    ("Тел 067 123 45 67 1234", []),
    ("а 067 123 45 67", []),
    ("с 100 444 4443", []),
    # two numbers in one run
    ("0500 1000 3113 5 0500 1000 3114 3", ["0500100031135", "0500100031143"]),
    # a mistyped Ukrposhta number is not cut into a 12-digit one that passes FedEx's check
    ("Трек 0500 1000 3114 4 дякую", []),
    # a quantity after a waybill; a price after a UPS waybill
    ("20 4000 4879 9000 2 шт", ["20400048799000"]),
    ("K 15 06 23 56 20 450 грн", ["K1506235620"]),
    # a regularly printed number is not cut for a Nova Poshta-shaped piece of it
    ("YT 20 56 56 16 24 61 55 88", ["YT2056561624615588"]),
    ("UPS 1Z Y21 167 90 7579 3834", ["1ZY211679075793834"]),
    ("MYCV 123 456 789 PL", ["MYCV123456789PL"]),
    # words dashed to a number, a dashed number with its words
    ("ТТН-20400048799000", ["20400048799000"]),
    ("order-2040-0048-7990-00", ["20400048799000"]),
    ("RA-067-022-855-UA", ["RA067022855UA"]),
    ("0998-0000-0200-33-F", ["09980000020033F"]),
    # dates, times, prices and order numbers beside grouped numbers
    ("Відправлено 15.01.2024 2040 0048 7990 00", ["20400048799000"]),
    ("10:30 0500 1000 3113 5", ["0500100031135"]),
    ("Order #4522 9865 7878 8855", ["986578788855"]),
    ("6123 4567 8901 2345 6789 0123 1250,00 zł", ["612345678901234567890123"]),
    # a tracking number that merely starts like an IBAN
    ("GM29 5117 3225 1744 94", ["GM2951173225174494"]),
    # a number printed in pairs, up to 34 digits
    ("61 23 45 67 89 01 23 45 67 89 01 23", ["612345678901234567890123"]),
    # words typed before a number are not part of it; a number's own letters are
    ("Your tracking number is EV0 000 000 000 054 3NP I.", ["EV00000000000543NPI"]),
    ("EV 00 00 00 00 00 05 43 NP I", ["EV00000000000543NPI"]),
    ("GM 29 51 17 32 25 17 44 94", ["GM2951173225174494"]),
    ("ТТН-EV00000000000543NPI", ["EV00000000000543NPI"]),
    # a dashed reading of the best rule wins: a number with an index or an order number
    ("0500100031143-1", ["0500100031143"]),
    ("59000777777777-1", ["59000777777777"]),
    ("Замовлення 4521-3318810025", ["3318810025"]),
    ("Замовлення 4521-03071790000523483741", ["03071790000523483741"]),
    # a label glued to the number by a colon is not a date or a time
    ("ТТН:2040 0048 7990 00", ["20400048799000"]),
    ("ТТН:20 4000 4879 9000", ["20400048799000"]),
    ("Nr:0500 1000 3113 5", ["0500100031135"]),
    # a word after a number is not part of it
    ("GM 2951 1732 2517 4494 Razem", ["GM2951173225174494"]),
    # "+38" phone numbers are Ukrainian ones
    ("+38 050 123 45 67 20 4000 4879 9000", ["20400048799000"]),
    # account numbers: a Polish NRB without "PL", an IBAN with a space after the country
    ("Numer konta: 61 1090 1014 0000 0712 1981 2874", []),
    ("р/р UA 21 3223 1300 0002 6007 2335 6600 1", []),
    ("61 2345 6789 0123 4567 8901 23", ["612345678901234567890123"]),
]


@pytest.mark.parametrize(("text", "expected"), GROUPED)
def test_printed_groups(text: str, expected: list[str]) -> None:
    assert extract_numbers(text) == expected


def test_extract_numbers_keeps_wrong_numbers_out() -> None:
    assert extract_numbers("Трек RA067022856UA, UU123456789CN, CA 123 456 789 UA") == []


def test_extract_numbers_limit() -> None:
    assert extract_numbers(EMAIL_PL, limit=2) == ["RA067022855UA", "612345678901234567890123"]
    assert extract_numbers(EMAIL_PL, limit=0) == []
    assert extract_numbers(EMAIL_PL, limit=None) == extract_numbers(EMAIL_PL)


def test_extract_numbers_ignores_text_after_the_bound() -> None:
    filler = "Ваша посилка в дорозі, чекайте. " * 4000  # about 128 KB
    found = extract_numbers("RA067022855UA " + filler + " LM951174328CN")
    assert found == ["RA067022855UA"]


def test_extract_numbers_does_not_cut_a_number_at_the_bound() -> None:
    near_the_end = "x " * 9990 + "RA067022855UA"  # ends before 20,000 characters
    assert extract_numbers(near_the_end) == ["RA067022855UA"]
    straddling = "x " * 9995 + "RA067022855UA"  # the cut falls inside the number
    assert extract_numbers(straddling) == []


@pytest.mark.parametrize(
    "text",
    [
        "2040 0048 7990 00 " * 6000,
        "1 " * 50_000,
        "a" * 100_000,
        "-+" * 50_000,
        "http://x.example/?u=" * 5000 + " RA067022855UA",
        " ".join(f"{n % 1000:03d}" for n in range(25_000)),
        "a" * 19_990 + " x",  # long words must not make any search quadratic
        "a." * 9_990 + " x",
        "a-" * 9_990 + " x",
        "a" * 19_990 + "://x",
    ],
)
def test_extract_numbers_on_100_kb_returns_a_bounded_list(text: str) -> None:
    found = extract_numbers(text)
    assert isinstance(found, list)
    assert len(found) <= 20_000 // 10
    assert len(found) == len(set(found))
    assert all(identify(number) for number in found)


# --- properties ---------------------------------------------------------------------------

TRACKING_ALPHABET = st.sampled_from(
    list("0123456789RAUCNLMZX1 -\u2013+/.?=&:,#\n\u00a0\u200bАТНіо")
)


def check_extracted(found: list[str]) -> None:
    assert len(found) == len(set(found))
    for number in found:
        assert normalize(number) == number
        assert number.isascii()
        assert identify(number)


@given(st.text())
def test_never_raises_on_arbitrary_text(text: str) -> None:
    check_extracted(extract_numbers(text))
    assert isinstance(identify(text), list)
    assert isinstance(looks_like_number(text), bool)


@given(st.text(alphabet=TRACKING_ALPHABET, max_size=300))
def test_never_raises_on_number_like_text(text: str) -> None:
    check_extracted(extract_numbers(text))
    check_extracted(extract_numbers(text, limit=1))
    assert isinstance(identify(text), list)


@st.composite
def s10_with_wrong_check_digit(draw: st.DrawFn) -> str:
    service = draw(st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2))
    serial = draw(st.text(alphabet=string.digits, min_size=8, max_size=8))
    country = draw(st.sampled_from(sorted(ISO_COUNTRY_CODES)))
    wrong = draw(st.sampled_from([d for d in range(10) if d != s10_check_digit(serial)]))
    return f"{service}{serial}{wrong}{country}"


@given(s10_with_wrong_check_digit())
def test_s10_with_wrong_check_digit_is_never_accepted(number: str) -> None:
    spaced = f"{number[:2]} {number[2:5]} {number[5:8]} {number[8:11]} {number[11:]}"
    for candidate in (number, number.lower(), spaced):
        assert identify(candidate) == []
    assert extract_numbers(f"Посилка {number} прибула") == []
    assert extract_numbers(f"Посилка {spaced} прибула") == []
    assert extract_numbers(f"https://example.com/track?barcode={number}") == []


@given(
    st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2),
    st.text(alphabet=string.digits, min_size=8, max_size=8),
    st.sampled_from(sorted(ISO_COUNTRY_CODES)),
)
def test_s10_with_right_check_digit_is_found(service: str, serial: str, country: str) -> None:
    number = s10(service, serial, country)
    assert identify(number)[0] == Match("upu-s10", country, "s10", True)
    assert extract_numbers(f"Посилка {number.lower()} прибула") == [number]


def test_printed_groups_are_joined_whole_even_if_a_prefix_passes_a_check_digit() -> None:
    # The first 12 digits pass FedEx Express's check by chance; the 14 belong together.
    assert identify("205119197541")[0].carrier == "fedex"
    assert extract_numbers("ТТН 2051 1919 7541 40, дякую") == ["20511919754140"]


def test_a_twelve_character_dhl_ecommerce_number_is_recognised() -> None:
    # tracking-number-formats.md 3.10: a prefix, then 10-39 characters starting with a digit.
    assert any(match.carrier == "dhl-ecommerce" for match in identify("GM1234567890"))


def test_a_grouped_number_with_a_typo_is_answered_as_invalid() -> None:
    from bot.requests import parse_message

    assert parse_message("0500 1000 3114 4", 5).rejected == ("0500100031144",)
    assert parse_message("ТТН 0500 1000 3114 4.", 5).rejected == ("0500100031144",)
    assert parse_message("RA 067 022 856 UA, дякую", 5).rejected == ("RA067022856UA",)
    # Phone numbers, sizes and ordinary text are not called invalid numbers.
    for text in (
        "привіт, як справи?",
        "Мій телефон 067 123 45 67",
        "Дзвоніть +380 50 123 45 67",
        "Тел. +48 600 123 456",
        "Розміри 38 39 40 41 42",
        "Size 42 43 44 45",
        # nor payment cards, IBANs, or phone numbers written without their plus
        "Оплата на картку 4441 4902 6730 4329",
        "IBAN UA21 3223 1300 0002 6007 2335 6600 1",
        "тел. 38 050 123 45 67",
        "38 096 515 34 16",
    ):
        assert parse_message(text, 5).rejected == (), text


def test_ukrposhta_is_not_offered_for_foreign_u_numbers() -> None:
    from bot.routing import offline_candidates

    [china_u] = offline_candidates("UB123456785CN")
    assert china_u.routes == ("gdeposylka",)
    [china_l] = offline_candidates("LP123456785CN")
    assert china_l.routes == ("gdeposylka", "ukrposhta")


# Payment cards and phone numbers are not parcels, even where a piece of them passes a check.
@pytest.mark.parametrize(
    "text",
    [
        "4441 4902 6730 4329",  # "490267304329" passes FedEx Express's check
        "Оплата на картку 5375 7070 4999 6222, дякую",
        "6240 0917 1452 1178 501",  # 19 digits
        "3717 160790 96691",  # American Express: 15 digits that pass FedEx Ground's check
        "096 515 34 16",  # passes DHL Express's mod 7 printed as one run
        "096-515-34-16",
        "38 099 142 20 70",
        "380965153416",  # "+380…" without its plus; passes FedEx Express's check
        "тел. 0634580730",  # a phone label before national digits
        "Телефон: 063 458 07 30",
    ],
)
def test_cards_and_phones_are_not_numbers(text: str) -> None:
    assert extract_numbers(text) == []


def _luhn(digits: str) -> bool:
    """The payment cards' check (ISO/IEC 7812), written out independently of detect.py."""
    doubled = [int(d) * 2 for d in digits[-2::-2]]
    return (sum(int(d) for d in digits[::-2]) + sum(d // 10 + d % 10 for d in doubled)) % 10 == 0


def test_a_card_check_needs_the_card_printed_alone() -> None:
    # Six groups of four are a longer number (InPost), not a card followed by more digits,
    # although the first sixteen digits pass the cards' Luhn check.
    assert _luhn("6123456789012245")
    assert extract_numbers("6123 4567 8901 2245 6789 0123") == ["612345678901224567890123"]
    # A phone label covers only the phone: the waybill after it is found.
    assert extract_numbers("тел. 0634580730 ТТН 2040 0048 7990 00") == ["20400048799000"]
    assert extract_numbers("Тел. 20400048799000") == ["20400048799000"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an unbroken middle with its letters printed apart
        ("RA 067022855 UA", ["RA067022855UA"]),
        ("Трек: RA067022855 UA, дякую", ["RA067022855UA"]),
        ("RA 067022855UA", ["RA067022855UA"]),
        ("EV 00000000000543 NPI", ["EV00000000000543NPI"]),
        ("ТТН 20400048799000 UA", ["20400048799000"]),  # whole already: the letters stay out
        ("RA 067022855, UA", []),  # punctuation ends it
        # a house or flat number before a number is not part of it
        ("кв. 5 EV 00 00 00 00 00 05 43 NP I", ["EV00000000000543NPI"]),
        ("Flat 7 OG02 1200 1001 NPG", ["OG0212001001NPG"]),
        # "any 14 digits" (DHL eCommerce) only when its groups are printed by themselves
        ("вул. Шевченка 12 714 890 643 909", []),
        ("ТТН 6012 0172 2423 23", ["60120172242323"]),
    ],
)
def test_letters_and_house_numbers_around_numbers(text: str, expected: list[str]) -> None:
    assert extract_numbers(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a number hard-wrapped in an e-mail is read across the line break...
        ("Трек-номер: 0500 1000\n3114 3", ["0500100031143"]),
        ("ТТН 2040 0048\n7990 00, дякую", ["20400048799000"]),
        ("RA06 7022\n855U A", ["RA067022855UA"]),
        # ...but each line's own numbers come first, a blank line ends it, and short digit
        # groups on two lines are amounts, not a wrapped number
        ("0500 1000 3113 5\n0500 1000 3114 3", ["0500100031135", "0500100031143"]),
        (
            "ТТН 719 690 107 560 030 773 85\n92 0559 4134 6836 7322 1376",
            ["71969010756003077385", "9205594134683673221376"],
        ),
        ("0500 1000\n\n3114 3", []),
        ("232 675\n690 695", []),
        ("Замовлення 4521\n2040 0048 7990 00", ["20400048799000"]),
        # a phone number ends with its line
        ("тел. 067 123 45 67\n0500 1000 3114 3", ["0500100031143"]),
        ("тел.\n0500 1000 3114 3", ["0500100031143"]),
    ],
)
def test_numbers_wrapped_across_lines(text: str, expected: list[str]) -> None:
    assert extract_numbers(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a longer number led by a shorter group keeps its Nova Poshta-shaped start
        ("2016 53306 80353 72332 25838", ["201653306803537233225838"]),
        # capitals around an unbroken run join it only for a specific rule, never DHL's broad one
        ("GM2951173225174494 PL", ["GM2951173225174494"]),
        ("PAID IN 12345678901", []),
        ("ORDER SG 1234567890 OK", []),
        # sixteen digits after a prefix, or with more digits after them, are no card
        ("YT 4111 1111 1111 1111", ["YT4111111111111111"]),
        ("Tracking GM 2757 3467 1325 5071", ["GM2757346713255071"]),
        ("YT 2229 5212 7216 4446 450 грн", ["YT2229521272164446"]),
        ("Карта 4441 4902 6730 4329 12/27", []),
        # a phone shape inside a longer number is no phone, nor is the number's last "38" a
        # phone's country code
        ("K15 062 356 20 10 шт", ["K1506235620"]),
        ("20 16 53 30 68 03 53 72 33 22 58 38 067 123 45 67", ["201653306803537233225838"]),
        # a phone label is not carried into a link
        ("тел https://example.com/0441234566", ["0441234566"]),
    ],
)
def test_longer_numbers_keep_their_card_phone_or_prefix_shapes(
    text: str, expected: list[str]
) -> None:
    assert extract_numbers(text) == expected


def test_only_numbers_meant_as_numbers_are_called_invalid() -> None:
    from bot.requests import parse_message

    # A shop e-mail's order numbers, tax numbers, passwords and ids are not mistyped parcels.
    for text in (
        "Замовлення #348269059 на Prom.ua\nПокупець: Олег, 0507150885",
        "ROZETKA: чек по замовленню № 377594580\nТОВ «Розетка.УА», ЄДРПОУ 37193071\n"
        "Артикул 4820024700016",
        "Wi-Fi: Kyivstar_5G_2024, пароль 58291047",
        "IBAN: UA213223130000026007233566001",
        "Номер замовлення: 65f1a9c2e4b0d71234ab56cd",
        "Телефон: 067-781-92-26 або 050 715 08 85",
        "Замовлення 2911929743470853 ще не відправлене, очікуйте повідомлення",
        "Номер відправлення: 59005227376717\nID оголошення: 798694111",
        "IBAN: UA213223130000026007233566001\nЄДРПОУ/РНОКПП: 3012584476",
    ):
        assert parse_message(text, 5).rejected == (), text
    # ... while a mistyped number on its own, first on a line, or after "ТТН" still is.
    assert parse_message("Посилка з Китаю, номер LP00624358129845, де вона?", 5).rejected == (
        "LP00624358129845",
    )
    assert parse_message("№RA067022856UA", 5).rejected == ("RA067022856UA",)
    assert parse_message("IMEI 8686 8928 2298 570", 5).rejected == ()
    assert parse_message("IMEI356938035643809", 5).rejected == ()  # the label glued on
    # Mistyped numbers after a good one are named, not taken for its label, even among words.
    typos = parse_message("0500100031143 0500100031144 and 0500100031136", 5)
    assert typos.rejected == ("0500100031144", "0500100031136")
    assert typos.requests[0].label is None
    # The words before a mistyped number are still the good number's label.
    boots = parse_message("0500100031143 boots, 0500100031144", 5)
    assert boots.requests[0].label == "boots"
    assert boots.rejected == ("0500100031144",)
    labelled = parse_message("RA067022855UA 12345678 order", 5)
    assert labelled.rejected == ()
    assert labelled.requests[0].label == "12345678 order"
    long_line = "Добрий день, ось ТТН 0500 1000 3114 4 для вашого замовлення"
    assert parse_message(long_line, 5).rejected == ("0500100031144",)


def test_online_detection_is_not_offered_for_ids() -> None:
    from bot.routing import may_ask_online

    assert not may_ask_online("3C9D2E10E4A211EE8F5A9B7E6D1C2A34")  # a UUID
    assert not may_ask_online("65F1A9C2E4B0D71234AB56CD")  # a database id
    assert may_ask_online("LP00624358129845")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an InPost number (no check digit) is read across a line break right after a word
        # announcing a parcel's number on the first line...
        ("Numer przesyłki: 6123 4567 8901\n2345 6789 0123", ["612345678901234567890123"]),
        ("Numer przesyłki: 6123\n4567 8901 2345 6789 0123", ["612345678901234567890123"]),
        # its first 16 digits pass a payment card's Luhn check by chance
        ("Numer przesyłki: 6957 4480 8716 6857\n6409 0753", ["695744808716685764090753"]),
        ("ТТН 4441 4902 6730 4329\n12 шт", []),  # a card after all: no piece of it
        (
            "Numer paczki 5230 0001 5802\n6770 0388 1245, dziękujemy",
            ["523000015802677003881245"],
        ),
        ("ТТН 6123 4567 8901\n2345 6789 0123", ["612345678901234567890123"]),
        ("Трек-номер: 61 23 45 67 89 01\n23 45 67 89 01 23", ["612345678901234567890123"]),
        # ... also when its first line alone passes FedEx Express's check
        ("Your tracking number: 3690 7093 3302\n9250 7469 4711", ["369070933302925074694711"]),
        # ... but not without the word, nor with the word on a line of its own, nor after an
        # order word, nor with more digits after it, nor across three lines, nor irregularly
        ("6123 4567 8901\n2345 6789 0123", []),
        ("Numer przesyłki:\n6123 4567 8901\n2345 6789 0123", []),
        ("Order number: 6123 4567 8901\n2345 6789 0123", []),
        ("Numer przesyłki: 6123 4567 8901\n2345 6789 0123 4567", []),
        ("Numer przesyłki: 6123 4567\n8901 2345\n6789 0123", []),
        ("ТТН 612 345 678 901\n2345 6789 0123", []),
        # two lines that are each a number with a check digit stay two numbers
        ("ТТН 9865 7878 8855\n4771 7908 1230", ["986578788855", "477179081230"]),
    ],
)
def test_an_announced_inpost_number_is_read_across_a_line_break(
    text: str, expected: list[str]
) -> None:
    assert extract_numbers(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a checked number led by a group starting with 0 is not a waybill after a "0" (no
        # house number or quantity starts with 0): FedEx Ground printed in pairs from the right
        ("0 20 04 95 92 76 02 79", ["020049592760279"]),
        ("ТТН 0 59 81 23 45 67 89 07", ["059812345678907"]),
        # ... and mistyped, it is no waybill either (formats doc §1: never guess)
        ("0 20 04 95 92 76 02 09", []),
        # an SSCC-18 and a USPS 20 in pairs keep their leading zeros
        ("00 00 20 51 23 45 67 89 04", ["000020512345678904"]),
        ("03 07 17 59 00 12 34 56 78 91", ["03071759001234567891"]),
        # a flat number or a quantity before a waybill stays out, although the 15 digits
        # pass FedEx Ground's check; so does a quantity after one
        ("кв. 5 20 04 95 92 76 02 74", ["20049592760274"]),
        ("2 20 04 95 92 76 02 77", ["20049592760277"]),
        ("2040 0048 7990 00 3 шт", ["20400048799000"]),
        # only a head left by equal groups from the right is a number's: "0 2029 …" is not
        ("Знижка 0 2029 6360 6934 24", ["20296360693424"]),
        ("0 2040 0048 7990 00", ["20400048799000"]),
    ],
)
def test_a_waybill_shape_after_a_leading_zero_is_a_piece(text: str, expected: list[str]) -> None:
    assert extract_numbers(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a device's or a tax number's word covers every group printed after it...
        ("IMEI: 86 867565 088995 9", []),  # 15 digits that pass FedEx Ground's check
        ("IMEI 86-867565-088995-9", []),
        ("ЄДРПОУ 12 34 56 78 90 12 34", []),
        ("ІПН 3104 5172 90", []),  # passes DHL Express's mod 7
        # ... up to punctuation, a line break or a number's letters
        ("ЄДРПОУ 12 34 56 78, ТТН 2040 0048 7990 00", ["20400048799000"]),
        ("IMEI (86 867565 088995 9), ТТН 2040 0048 7990 00", ["20400048799000"]),
        ("IMEI: 86 867565 088995 9\nТТН 2040 0048 7990 00", ["20400048799000"]),
        ("ІПН 3012584476 RA 067 022 855 UA", ["RA067022855UA"]),
        # ... or its length: what follows without a word is read (a piece longer than the
        # number may be is not it; a word without a length covers one piece)
        ("ЄДРПОУ 12345678 2040 0048 7990 00", ["20400048799000"]),
        ("ФОП Коваль О.П. РНОКПП 3012584476 20400048799000", ["20400048799000"]),
        ("Dane: PESEL 85010112345 612345678901234567890123", ["612345678901234567890123"]),
        ("IMEI 356938035643809 1Z5R89390357567127", ["1Z5R89390357567127"]),
        ("ЄДРПОУ 12345678 1Z51 E305 4282 8489 90", ["1Z51E3054282848990"]),
        ("Артикул 123456 2040 0048 7990 00", ["20400048799000"]),
        ("пароль 1234 0500 1000 3114 3", ["0500100031143"]),
        ("Номер оголошення 798694111 20400048799000", ["20400048799000"]),
        ("покупець оплатив оголошення 20400048799000", ["20400048799000"]),
        ("IMEI 96 11 02 09\n87 65 43 12 34 56 72", []),  # wrapped: its tail is no number
        # covering ends at the first length reached; a listing's id is one unbroken piece
        ("ИНН 3012584476 20 4000 4879 9000", ["20400048799000"]),
        ("REGON 123456789 6123 4567 8901 2345 6789 0123", ["612345678901234567890123"]),
        ("EAN 59012341 2040 0048 7990 00", ["20400048799000"]),
        ("ИНН 3012 5844 7612", []),
        ("Оплатили оголошення 2040 0048 7990 00", ["20400048799000"]),
        ("ID оголошення 798694111 0 500 189 204 984", ["0500189204984"]),
        ("IMEI1 356938035643809\nIMEI2 356938035643817", []),  # a dual-SIM phone
        ("EAN-13: 5901234123457", []),
        # an order word covers only an unbroken number: its printed groups are read
        ("Ваше замовлення: 6740 5734 8945 9357 6016 5124", ["674057348945935760165124"]),
        ("Ваше замовлення: ТТН 20400048799000", ["20400048799000"]),
    ],
)
def test_an_other_number_word_covers_the_groups_after_it(text: str, expected: list[str]) -> None:
    assert extract_numbers(text) == expected


@pytest.mark.parametrize(
    ("word", "parcel", "other"),
    [
        ("ТТН:", True, False),
        ("przesyłki", True, False),
        ("IMEI", False, True),
        ("«Order»", False, True),
        ("дякую", False, False),
    ],
)
def test_label_words(word: str, parcel: bool, other: bool) -> None:
    assert names_parcel_number(word) is parcel
    assert names_other_number(word) is other
