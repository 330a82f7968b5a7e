"""Entry point: ``python -m bot`` runs the bot, ``python -m bot track NUMBER`` looks one up."""

from __future__ import annotations

import logging
import os
import sys

from bot.config import ConfigError, Settings
from bot.i18n import Catalogs, I18nError


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the bot or to the ``track`` command and return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    # PTB 22 warns on every RetryAfter unless opted in to its future timedelta type.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    tracking_only = bool(args) and args[0] == "track"
    try:
        settings = Settings.from_env(require_token=not tracking_only)
        catalogs = Catalogs.load(default=settings.default_language)
    except (ConfigError, I18nError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if tracking_only:
        from bot.cli import run_track

        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        return run_track(args[1:], settings, catalogs)
    if args == ["webhook"] and settings.webhook_url is None:
        # The Procfile's web process: refuse to fall back to polling beside a worker.
        print("error: WEBHOOK_URL is not set: `python -m bot webhook` needs it.", file=sys.stderr)
        return 2
    if args and args != ["webhook"]:
        print(
            "usage: python -m bot [webhook | track NUMBER [--lang uk|en|ru] [--carrier SLUG]]",
            file=sys.stderr,
        )
        return 2
    from bot.app import run

    return run(settings, catalogs)


if __name__ == "__main__":
    sys.exit(main())
