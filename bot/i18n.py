"""Translation catalogs (uk, en, ru) compiled in memory at start-up, and locale helpers."""

from __future__ import annotations

import datetime as dt
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from bot.carriers.models import KYIV

logger = logging.getLogger(__name__)

LANGUAGES = ("uk", "en", "ru")
# The source tree keeps the catalogs at the top (locales/); a wheel installs them as bot/locales.
_SOURCE_LOCALES = Path(__file__).resolve().parent.parent / "locales"
LOCALES_DIR = _SOURCE_LOCALES if _SOURCE_LOCALES.is_dir() else Path(__file__).parent / "locales"
DOMAIN = "messages"
_RUSSIAN_SPEAKING = frozenset({"ru", "be", "kk"})


class I18nError(Exception):
    """A catalog is missing or broken; the bot must not start with untranslated text."""


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now."""
    return message


@dataclass(frozen=True, slots=True)
class Translator:
    """Everything needed to speak one language: gettext, plurals and dates."""

    language: str
    translations: Translations

    def gettext(self, message: str) -> str:
        """Translate a message."""
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Translate a message whose form depends on a count."""
        return self.translations.ngettext(singular, plural, n)

    def datetime(self, moment: dt.datetime) -> str:
        """Format an aware time as Kyiv wall-clock time in this language."""
        return format_datetime(moment, "d MMMM y, HH:mm", tzinfo=KYIV, locale=self.locale)

    def date(self, moment: dt.datetime) -> str:
        """Format the Kyiv calendar day of an aware time in this language."""
        return format_datetime(moment, "d MMMM y", tzinfo=KYIV, locale=self.locale)

    def short_datetime(self, moment: dt.datetime) -> str:
        """Format an aware time compactly, for lists and histories."""
        return format_datetime(moment, "dd.MM.yy HH:mm", tzinfo=KYIV, locale=self.locale)

    def when(self, moment: dt.datetime, now: dt.datetime) -> str:
        """Format an aware time briefly: the Kyiv time of day if it is today, else day and time."""
        same_day = moment.astimezone(KYIV).date() == now.astimezone(KYIV).date()
        pattern = "HH:mm" if same_day else "d MMM, HH:mm"
        return format_datetime(moment, pattern, tzinfo=KYIV, locale=self.locale)

    @property
    def locale(self) -> Locale:
        """Return the Babel locale of this language."""
        return Locale.parse(self.language)


class Catalogs:
    """The three compiled catalogs, looked up by language code."""

    def __init__(self, translators: dict[str, Translator], default: str = "uk") -> None:
        self._translators = translators
        self.default = default

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR, default: str = "uk") -> Catalogs:
        """Compile every ``.po`` file in memory.

        Raises:
            I18nError: a language's catalog is missing or cannot be parsed.
        """
        translators = {lang: Translator(lang, _compile(directory, lang)) for lang in LANGUAGES}
        return cls(translators, default)

    def get(self, language: str | None) -> Translator:
        """Return the translator for a language, or the default one."""
        return self._translators.get(language or "", self._translators[self.default])


def _compile(directory: Path, language: str) -> Translations:
    """Read one ``.po`` file and turn it into a Translations object without touching disk."""
    path = directory / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with path.open("rb") as po_file:
            catalog = read_po(po_file, locale=language, abort_invalid=True)
    except OSError as err:
        raise I18nError(f"translation catalog {path} cannot be read: {err.strerror}") from err
    except Exception as err:  # Babel raises assorted errors on malformed catalogs
        raise I18nError(f"translation catalog {path} is malformed: {err}") from err
    if not any(message.id and message.string for message in catalog):
        raise I18nError(f"translation catalog {path} holds no translations")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def negotiate_language(language_code: str | None, default: str = "uk") -> str:
    """Choose uk, en or ru from a Telegram user's ``language_code``."""
    code = (language_code or "").lower().split("-")[0]
    if not code:
        return default
    if code == "uk":
        return "uk"
    if code in _RUSSIAN_SPEAKING:
        return "ru"
    if code == "en":
        return "en"
    # Other languages (pl, de ...) get English, unless the operator moved the default away
    # from Ukrainian, in which case that explicit choice wins.
    return "en" if default == "uk" else default
