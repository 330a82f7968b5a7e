"""Settings read from the environment: the only module that looks at ``os.environ``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

LANGUAGES = ("uk", "en", "ru")
T = TypeVar("T", int, float)
DEFAULT_URLS = {
    "ukrposhta": "https://www.ukrposhta.ua/status-tracking/0.0.1/",
    "inpost": "https://api-shipx-pl.easypack24.net/v1/",
    "gdeposylka": "https://gdeposylka.ru/api/v4/",
    "novaposhta": "https://api.novaposhta.ua/v2.0/json/",
}


class ConfigError(Exception):
    """The environment does not describe a runnable bot; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class CarrierSettings:
    """Where one carrier lives and the credential it needs (``None`` when not given)."""

    base_url: str
    credential: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the bot and the CLI are configured with."""

    telegram_token: str = ""
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    database_path: Path = Path("data/bot.sqlite3")
    admin_ids: frozenset[int] = frozenset()
    default_language: str = "uk"
    log_level: str = "INFO"
    ukrposhta: CarrierSettings = CarrierSettings("https://www.ukrposhta.ua/status-tracking/0.0.1/")
    inpost: CarrierSettings = CarrierSettings("https://api-shipx-pl.easypack24.net/v1/")
    postplus: CarrierSettings | None = None  # needs both a key and a base URL
    gdeposylka: CarrierSettings = CarrierSettings("https://gdeposylka.ru/api/v4/")
    novaposhta: CarrierSettings = CarrierSettings("https://api.novaposhta.ua/v2.0/json/")
    carrier_timeout: float = 15.0  # seconds for one carrier request, body included
    max_numbers_per_message: int = 20
    max_parcels_per_chat: int = 100
    poll_tick_seconds: float = 60.0
    check_interval_scale: float = 1.0
    broadcast_rate: float = 25.0
    webhook_url: str | None = None
    webhook_secret: str | None = None
    port: int = 8443
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, require_token: bool = True
    ) -> Settings:
        """Build and validate settings from environment variables.

        Raises:
            ConfigError: a variable is missing or malformed; the message names it.
        """
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        token = get("TELEGRAM_BOT_TOKEN") or ""
        if require_token and not token:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token."
            )
        language = (get("DEFAULT_LANGUAGE") or "uk").lower()
        if language not in LANGUAGES:
            raise ConfigError(
                f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}, not {language!r}."
            )
        postplus_key, postplus_url = get("POSTPLUS_API_KEY"), get("POSTPLUS_BASE_URL")
        credentials = (
            token,
            get("UKRPOSHTA_TOKEN"),
            postplus_key,
            get("GDEPOSYLKA_TOKEN"),
            get("NOVAPOSHTA_API_KEY"),
            get("WEBHOOK_SECRET"),
        )
        return cls(
            telegram_token=token,
            telegram_api_base_url=get("TELEGRAM_API_BASE_URL") or "https://api.telegram.org/bot",
            database_path=Path(get("DATABASE_PATH") or "data/bot.sqlite3"),
            admin_ids=_int_set(get("ADMIN_IDS"), "ADMIN_IDS"),
            default_language=language,
            log_level=_log_level(get("LOG_LEVEL")),
            ukrposhta=CarrierSettings(
                _url(get("UKRPOSHTA_BASE_URL") or DEFAULT_URLS["ukrposhta"], "UKRPOSHTA_BASE_URL"),
                get("UKRPOSHTA_TOKEN"),
            ),
            inpost=CarrierSettings(
                _url(get("INPOST_BASE_URL") or DEFAULT_URLS["inpost"], "INPOST_BASE_URL")
            ),
            postplus=(
                CarrierSettings(_url(postplus_url, "POSTPLUS_BASE_URL"), postplus_key)
                if postplus_key and postplus_url
                else None
            ),
            gdeposylka=CarrierSettings(
                _url(
                    get("GDEPOSYLKA_BASE_URL") or DEFAULT_URLS["gdeposylka"], "GDEPOSYLKA_BASE_URL"
                ),
                get("GDEPOSYLKA_TOKEN"),
            ),
            novaposhta=CarrierSettings(
                _url(
                    get("NOVAPOSHTA_BASE_URL") or DEFAULT_URLS["novaposhta"], "NOVAPOSHTA_BASE_URL"
                ),
                get("NOVAPOSHTA_API_KEY"),
            ),
            carrier_timeout=_number(env, "CARRIER_TIMEOUT_SECONDS", 15.0, float),
            max_numbers_per_message=_number(env, "MAX_NUMBERS_PER_MESSAGE", 20, int),
            max_parcels_per_chat=_number(env, "MAX_PARCELS_PER_CHAT", 100, int),
            poll_tick_seconds=_number(env, "POLL_TICK_SECONDS", 60.0, float),
            check_interval_scale=_number(env, "CHECK_INTERVAL_SCALE", 1.0, float),
            broadcast_rate=_number(env, "BROADCAST_RATE", 25.0, float),
            webhook_url=_webhook_url(get("WEBHOOK_URL")),
            webhook_secret=_webhook_secret(get("WEBHOOK_URL"), get("WEBHOOK_SECRET")),
            port=_number(env, "PORT", 8443, int),
            secrets=tuple(s for s in credentials if s),
        )


def _url(value: str | None, name: str) -> str:
    """Check a base URL and make sure it ends with a slash, so relative paths join under it."""
    if not value or not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, not {value!r}.")
    return value if value.endswith("/") else value + "/"


def _webhook_url(value: str | None) -> str | None:
    """Check WEBHOOK_URL (unset means long polling)."""
    if value is None:
        return None
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"WEBHOOK_URL must be an http(s) URL, not {value!r}.")
    return value


def _webhook_secret(url: str | None, secret: str | None) -> str | None:
    """Require a secret in webhook mode, in the alphabet Telegram allows."""
    if url is None:
        return secret
    if not secret or not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise ConfigError(
            "WEBHOOK_SECRET must be set with WEBHOOK_URL: 1-256 characters A-Z, a-z, 0-9, _ or -."
        )
    return secret


def _int_set(value: str | None, name: str) -> frozenset[int]:
    """Parse a comma-separated list of integer ids."""
    if not value:
        return frozenset()
    try:
        return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
    except ValueError as err:
        raise ConfigError(f"{name} must be comma-separated numeric Telegram user ids.") from err


def _number(env: Mapping[str, str], name: str, default: T, kind: type[T]) -> T:
    """Read a positive number, or the default when the variable is unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError as err:
        raise ConfigError(f"{name} must be a number, not {raw!r}.") from err
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero.")
    return value


def _log_level(value: str | None) -> str:
    """Check LOG_LEVEL against the standard names."""
    level = (value or "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(
            f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {value!r}."
        )
    return level
