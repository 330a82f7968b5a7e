"""The status card's carrier details: route, pickup point, hours and expected delivery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.carriers.models import ParcelStatus, TrackingEvent, TrackingResult
from bot.formatting import render_result
from bot.i18n import Catalogs
from bot.transliteration import to_english, to_latin

SCANNED = datetime(2024, 11, 18, 9, 0, tzinfo=UTC)
NOVA_POSHTA = {
    "route_from": "Львів",
    "route_to": "Одеса",
    "pickup_point": "Відділення №25 <до 30 кг>",
    "scheduled_delivery_date": "2024-11-19T22:00:00+00:00",  # 20 November, Kyiv
}


def card(status: ParcelStatus, extras: dict[str, str], language: str = "en") -> str:
    event = TrackingEvent(SCANNED, status, "5")
    result = TrackingResult("nova-poshta", "20400048799000", (event,), extras)
    return render_result(result, Catalogs.load().get(language))


def test_the_card_shows_route_point_and_expected_day_escaped() -> None:
    text = card(ParcelStatus.IN_TRANSIT, NOVA_POSHTA)
    # English readers get the carrier's Ukrainian names in the official Latin spelling.
    assert "Route: Lviv → Odesa" in text
    assert "Pickup point: Branch No. 25 &lt;do 30 kg&gt;" in text
    assert "Expected delivery: 20 November 2024" in text
    ukrainian = card(ParcelStatus.IN_TRANSIT, NOVA_POSHTA, "uk")
    assert "Львів → Одеса" in ukrainian
    assert "Відділення №25 &lt;до 30 кг&gt;" in ukrainian


@pytest.mark.parametrize(
    ("written", "latin"),
    [
        # Examples of Ukraine's official romanization table (CMU resolution No. 55, 2010).
        ("Алушта", "Alushta"),
        ("Згурський", "Zghurskyi"),
        ("Гадяч", "Hadiach"),
        ("Ґорґани", "Gorgany"),
        ("Єнакієве", "Yenakiieve"),
        ("Їжакевич", "Yizhakevych"),
        ("Кадиївка", "Kadyivka"),
        ("Йосипівка", "Yosypivka"),
        ("Стрий", "Stryi"),
        ("Розгон", "Rozghon"),
        ("Щербухи", "Shcherbukhy"),
        ("Юрій", "Yurii"),
        ("Знам'янка", "Znamianka"),
        ("Короп’є", "Koropie"),
        ("Біла Церква", "Bila Tserkva"),
        ("УКРАЇНА м.Київ", "UKRAINA m.Kyiv"),
        ("вул. Хрещатик, 22", "vul. Khreshchatyk, 22"),
        ("Kraków, DKD KYIV", "Kraków, DKD KYIV"),
    ],
)
def test_place_names_are_romanized_as_ukraine_does(written: str, latin: str) -> None:
    assert to_latin(written) == latin


@pytest.mark.parametrize(
    ("written", "english"),
    [
        (
            "Відділення №5 (до 30 кг): вул. Хрещатик, 22",
            "Branch No. 5 (up to 30 kg): vul. Khreshchatyk, 22",
        ),
        (
            "Поштомат №5512: вул. Шевченка, 14, під'їзд 2, м. Біла Церква",
            "Parcel locker No. 5512: vul. Shevchenka, 14, entrance 2, Bila Tserkva",
        ),
        ("УКРАЇНА м.Київ", "Ukraine Kyiv"),
        ("Kraków", "Kraków"),
    ],
)
def test_branch_names_read_in_english(written: str, english: str) -> None:
    assert to_english(written) == english


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("uk", "Очікувана доставка: 20 листопада 2024"),
        ("ru", "Ожидаемая доставка: 20 ноября 2024"),
    ],
)
def test_the_expected_day_in_each_language(language: str, expected: str) -> None:
    assert expected in card(ParcelStatus.IN_TRANSIT, NOVA_POSHTA, language)


def test_no_expected_day_once_delivered_or_when_unreadable() -> None:
    assert "Expected delivery" not in card(ParcelStatus.DELIVERED, NOVA_POSHTA)
    damaged = NOVA_POSHTA | {"scheduled_delivery_date": "20-11-2024"}
    assert "Expected delivery" not in card(ParcelStatus.IN_TRANSIT, damaged)
    assert "Expected delivery" not in card(ParcelStatus.IN_TRANSIT, {})


def test_a_branch_named_as_the_latest_place_is_shown_as_the_pickup_point() -> None:
    event = TrackingEvent(SCANNED, ParcelStatus.READY_FOR_PICKUP, "7", location="Відділення №1")
    extras = {"pickup_point": "Відділення №1"}
    result = TrackingResult("nova-poshta", "20400048799000", (event,), extras)
    text = render_result(result, Catalogs.load().get("en"))
    assert "Pickup point: Branch No. 1" in text
    assert "Place:" not in text  # Nova Poshta names only the receiving branch: said once


def test_carrier_details_are_escaped_and_cut() -> None:
    extras = {
        "route_from": "A&B",
        "route_to": "<b>C</b>",
        "pickup_point": "KRA01M",
        "pickup_hint": "x" * 500,
        "pickup_hours": "<24/7>",
    }
    text = card(ParcelStatus.IN_TRANSIT, extras)
    assert "Route: A&amp;B → &lt;b&gt;C&lt;/b&gt;" in text
    assert "Opening hours: &lt;24/7&gt;" in text
    assert f"KRA01M ({'x' * 200})" in text
    assert "x" * 201 not in text


def test_no_expected_day_once_it_arrived_failed_or_turned_back() -> None:
    for status in (
        ParcelStatus.READY_FOR_PICKUP,
        ParcelStatus.DELIVERY_FAILED,
        ParcelStatus.RETURNING,
    ):
        assert "Expected delivery" not in card(status, NOVA_POSHTA), status
    assert "Expected delivery" in card(ParcelStatus.OUT_FOR_DELIVERY, NOVA_POSHTA)


def test_paid_storage_is_shown_while_the_parcel_waits_for_pickup() -> None:
    waiting = NOVA_POSHTA | {"paid_storage_from": "2024-11-26T22:00:00+00:00"}  # 27 Nov, Kyiv
    assert "Paid storage from: 27 November 2024" in card(ParcelStatus.READY_FOR_PICKUP, waiting)
    assert "Платне зберігання: з 27 листопада 2024" in card(
        ParcelStatus.READY_FOR_PICKUP, waiting, "uk"
    )
    assert "Paid storage" not in card(ParcelStatus.IN_TRANSIT, waiting)
    assert "Paid storage" not in card(ParcelStatus.DELIVERED, waiting)
    damaged = waiting | {"paid_storage_from": "27.11.2024"}
    assert "Paid storage" not in card(ParcelStatus.READY_FOR_PICKUP, damaged)
