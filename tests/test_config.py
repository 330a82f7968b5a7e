"""Settings from the environment: defaults, validation and secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings


def test_defaults() -> None:
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x"})
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert settings.database_path == Path("data/bot.sqlite3")
    assert settings.default_language == "uk"
    assert settings.ukrposhta.base_url == "https://www.ukrposhta.ua/status-tracking/0.0.1/"
    assert settings.ukrposhta.credential is None
    assert settings.inpost.base_url == "https://api-shipx-pl.easypack24.net/v1/"
    assert settings.gdeposylka.base_url == "https://gdeposylka.ru/api/v4/"
    assert settings.novaposhta.base_url == "https://api.novaposhta.ua/v2.0/json/"
    assert settings.postplus is None
    assert settings.max_numbers_per_message == 20
    assert settings.max_parcels_per_chat == 100


def test_everything_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": "1:x",
            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot",
            "DATABASE_PATH": "/tmp/x.db",
            "ADMIN_IDS": "1, 2,3",
            "DEFAULT_LANGUAGE": "EN",
            "UKRPOSHTA_TOKEN": "u",
            "UKRPOSHTA_BASE_URL": "http://h/up",
            "POSTPLUS_API_KEY": "p",
            "POSTPLUS_BASE_URL": "http://h/pp/",
            "GDEPOSYLKA_TOKEN": "g",
            "NOVAPOSHTA_API_KEY": "n",
        }
    )
    assert settings.admin_ids == frozenset({1, 2, 3})
    assert settings.default_language == "en"
    assert settings.ukrposhta.base_url == "http://h/up/"
    assert settings.postplus is not None
    assert settings.postplus.credential == "p"
    assert set(settings.secrets) == {"1:x", "u", "p", "g", "n"}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "ADMIN_IDS": "alice"}, "ADMIN_IDS"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "DEFAULT_LANGUAGE": "de"}, "DEFAULT_LANGUAGE"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "INPOST_BASE_URL": "ftp://x"}, "INPOST_BASE_URL"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "MAX_PARCELS_PER_CHAT": "0"}, "MAX_PARCELS_PER_CHAT"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "POLL_TICK_SECONDS": "soon"}, "POLL_TICK_SECONDS"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_cli_needs_no_token() -> None:
    assert Settings.from_env({}, require_token=False).telegram_token == ""


def test_webhook_mode_needs_a_valid_secret() -> None:
    base = {"TELEGRAM_BOT_TOKEN": "1:x", "WEBHOOK_URL": "https://bot.example.com/hook"}
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        Settings.from_env(base)
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        Settings.from_env({**base, "WEBHOOK_SECRET": "has spaces"})
    settings = Settings.from_env({**base, "WEBHOOK_SECRET": "ok_secret-1", "PORT": "8080"})
    assert settings.webhook_url == "https://bot.example.com/hook"
    assert settings.port == 8080
    assert "ok_secret-1" in settings.secrets


def test_log_lines_are_single_and_redacted() -> None:
    import logging

    from bot.logs import OneLineRedactingFormatter

    formatter = OneLineRedactingFormatter(["123456:SECRET", "carrier-key"])
    try:
        raise ValueError("boom with carrier-key inside")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "bot",
            logging.ERROR,
            __file__,
            1,
            "token %s failed",
            ("123456:SECRET",),
            sys.exc_info(),
        )
    line = formatter.format(record)
    assert "\n" not in line
    assert "SECRET" not in line
    assert "carrier-key" not in line
    assert "***" in line
    assert "ValueError" in line


def test_secrets_are_masked_however_they_are_escaped() -> None:
    import json

    from bot.logs import Redactor

    secret = 'ключ"with\\quote\nand-line'
    redact = Redactor([secret])
    for text in (
        secret,
        json.dumps({"key": secret}),
        json.dumps({"key": secret}, ensure_ascii=False),
        json.dumps(json.dumps({"key": secret})),
        repr(secret),
    ):
        masked = redact(text)
        assert "with" not in masked, text
        assert "***" in masked


def test_a_bot_token_in_a_file_url_is_masked() -> None:
    from urllib.parse import quote

    from bot.logs import Redactor

    token = "123456:ABC-secret_token"
    url = f"https://api.telegram.org/file/bot{quote(token, safe='')}/photos/file_1.jpg"
    assert Redactor([token])(url) == "https://api.telegram.org/file/bot***/photos/file_1.jpg"


def test_file_downloads_follow_the_bot_api_base_url() -> None:
    from bot.app import TELEGRAM_FILES, file_url

    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://127.0.0.1:8081/bot/") == "http://127.0.0.1:8081/file/bot"
    assert (
        file_url("https://api.telegram.org/bot{token}/test")
        == "https://api.telegram.org/file/bot{token}/test"
    )
    assert file_url("https://proxy.example/telegram") == TELEGRAM_FILES
