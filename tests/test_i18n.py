"""Catalogs: complete, placeholders consistent, plurals right, failures loud."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.carriers import gdeposylka, inpost, novaposhta, ukrposhta
from bot.carriers.models import ParcelStatus
from bot.i18n import LANGUAGES, LOCALES_DIR, Catalogs, I18nError, negotiate_language
from bot.status_labels import EVENT_LABELS, STATUS_LABELS

PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
TAG = re.compile(r"</?[a-z]+>")


def catalog(language: str):  # type: ignore[no-untyped-def]
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    messages = [m for m in catalog(language) if m.id]
    assert messages
    for message in messages:
        assert "fuzzy" not in message.flags, message.id
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            assert string, f"{language}: untranslated {ids[0]!r}"
            assert set(PLACEHOLDER.findall(string)) <= expected | set(
                PLACEHOLDER.findall(ids[0])
            ), (language, ids[0], string)
            assert sorted(TAG.findall(string)) == sorted(TAG.findall(ids[0])), (language, string)


def test_catalogs_hold_every_extracted_message() -> None:
    with (LOCALES_DIR / "messages.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    for language in LANGUAGES:
        assert template <= {m.id for m in catalog(language) if m.id}, language


@pytest.mark.parametrize(
    ("language", "forms"),
    [
        (
            "uk",
            {
                1: "посилк",
                2: "посилки",
                5: "посилок",
                11: "посилок",
                21: "посилк",
                22: "посилки",
                111: "посилок",
            },
        ),
        (
            "ru",
            {
                1: "посылк",
                2: "посылки",
                5: "посылок",
                11: "посылок",
                21: "посылк",
                22: "посылки",
                111: "посылок",
            },
        ),
        ("en", {1: "parcel:", 2: "parcels:", 5: "parcels:", 21: "parcels:"}),
    ],
)
def test_plural_forms(language: str, forms: dict[int, str]) -> None:
    tr = Catalogs.load().get(language)
    for n, word in forms.items():
        text = tr.ngettext(
            "This chat follows {count} parcel:", "This chat follows {count} parcels:", n
        ).format(count=n)
        assert str(n) in text
        assert word in text, (language, n, text)
    if language != "en":
        one = tr.ngettext(
            "This chat follows {count} parcel:", "This chat follows {count} parcels:", 1
        )
        few = tr.ngettext(
            "This chat follows {count} parcel:", "This chat follows {count} parcels:", 3
        )
        many = tr.ngettext(
            "This chat follows {count} parcel:", "This chat follows {count} parcels:", 5
        )
        assert len({one, few, many}) == 3


def test_every_status_and_known_carrier_code_has_a_label() -> None:
    assert set(STATUS_LABELS) == set(ParcelStatus)
    for module, carrier in (
        (ukrposhta, "ukrposhta"),
        (inpost, "inpost"),
        (novaposhta, "nova-poshta"),
        (gdeposylka, "gdeposylka"),
    ):
        for code in module.STATUS_BY_CODE:
            if (carrier, code) in {("nova-poshta", "3"), ("gdeposylka", "other")}:
                continue  # an outcome, not an event; "other" shows the carrier's own text
            assert (carrier, code) in EVENT_LABELS, (carrier, code)


def test_labels_differ_by_language() -> None:
    catalogs = Catalogs.load()
    labels = {lang: catalogs.get(lang).gettext("Ready for pickup") for lang in LANGUAGES}
    assert len(set(labels.values())) == 3


def test_dates_are_kyiv_time_in_the_readers_language() -> None:
    catalogs = Catalogs.load()
    moment = datetime(2025, 3, 30, 9, 5, tzinfo=UTC)  # the DST day
    assert catalogs.get("uk").datetime(moment) == "30 березня 2025, 12:05"
    assert catalogs.get("en").datetime(moment) == "30 March 2025, 12:05"
    assert catalogs.get("ru").datetime(moment) == "30 марта 2025, 12:05"


def test_missing_or_broken_catalog_fails_loudly(tmp_path: Path) -> None:
    copy = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, copy)
    (copy / "ru" / "LC_MESSAGES" / "messages.po").unlink()
    with pytest.raises(I18nError, match="ru"):
        Catalogs.load(copy)
    (copy / "ru" / "LC_MESSAGES" / "messages.po").write_text('msgid "x"\nmsgstr ', "utf-8")
    with pytest.raises(I18nError):
        Catalogs.load(copy)


@pytest.mark.parametrize(
    ("code", "default", "expected"),
    [
        ("uk", "uk", "uk"),
        ("uk-UA", "uk", "uk"),
        ("ru", "uk", "ru"),
        ("be", "uk", "ru"),
        ("kk", "en", "ru"),
        ("en-GB", "uk", "en"),
        ("pl", "uk", "en"),
        ("pl", "ru", "ru"),
        (None, "uk", "uk"),
        (None, "en", "en"),
        ("", "ru", "ru"),
    ],
)
def test_language_negotiation(code: str | None, default: str, expected: str) -> None:
    assert negotiate_language(code, default) == expected
