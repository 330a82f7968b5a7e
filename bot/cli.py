"""``python -m bot track NUMBER``: look a parcel up from the command line, without Telegram."""

from __future__ import annotations

import argparse
import asyncio
import sys
from enum import IntEnum

import aiohttp

from bot.carriers.errors import (
    CarrierAuthError,
    CarrierError,
    CarrierNotConfigured,
    CarrierUnavailable,
    NotTrackable,
    ParcelNotFound,
)
from bot.carriers.registry import build_carriers
from bot.config import LANGUAGES, Settings
from bot.explain import detection_unavailable, explain
from bot.formatting import render_result
from bot.i18n import Catalogs, Translator
from bot.routing import CLIENT_NAMES
from bot.status_labels import CARRIER_NAMES, carrier_name
from bot.tracking import TrackingService


class ExitCode(IntEnum):
    """Distinct exit codes, so scripts can tell the reasons apart."""

    OK = 0
    USAGE = 2  # bad arguments or configuration
    INVALID_NUMBER = 3
    NOT_FOUND_YET = 4
    NOT_CONFIGURED = 5
    NOT_TRACKABLE = 6
    UNREACHABLE = 7
    AUTH_FAILED = 8
    BAD_RESPONSE = 9


def build_parser() -> argparse.ArgumentParser:
    """Describe the ``track`` command's arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m bot track", description="Show a parcel's carrier, status and history."
    )
    parser.add_argument("number", nargs="+", help="tracking number, spaces and dashes allowed")
    parser.add_argument("--lang", choices=LANGUAGES, default=None, help="output language")
    parser.add_argument(
        "--carrier",
        choices=sorted(CLIENT_NAMES | set(CARRIER_NAMES)),
        help="force a carrier even when no offline rule recognizes the number",
    )
    return parser


def run_track(argv: list[str], settings: Settings, catalogs: Catalogs) -> int:
    """Run the command and return its exit code."""
    args = build_parser().parse_args(argv)
    tr = catalogs.get(args.lang or settings.default_language)
    code, text = asyncio.run(_track(" ".join(args.number), args.carrier, settings, tr))
    stream = sys.stdout if code is ExitCode.OK else sys.stderr
    print(text, file=stream)
    return int(code)


async def _track(
    number: str, forced: str | None, settings: Settings, tr: Translator
) -> tuple[ExitCode, str]:
    """Resolve and look up one number, turning every failure into a one-line reason."""
    _ = tr.gettext
    async with aiohttp.ClientSession() as session:
        service = TrackingService(build_carriers(settings, session))
        resolution = await service.resolve(number, forced)
        if resolution.undetected:
            return ExitCode.UNREACHABLE, detection_unavailable(resolution.number, tr)
        if not resolution.candidates:
            return ExitCode.INVALID_NUMBER, _(
                "{number} is not a tracking number I recognize: check for typos."
            ).format(number=number.strip())
        candidate = resolution.candidates[0]
        try:
            result = await service.lookup(resolution.number, candidate, tr.language)
        except CarrierError as err:
            text = explain(err, resolution.number, tr)
            if isinstance(err, CarrierNotConfigured):
                text += " " + _("Set {variables} to enable it.").format(variables=err.message)
            return _exit_code(err), text
    text = render_result(result, tr, as_html=False, max_events=1000)
    others = [carrier_name(c.carrier, _) for c in resolution.candidates[1:]]
    if others:
        text += "\n\n" + _("Could also be: {carriers} (use --carrier to choose).").format(
            carriers=", ".join(others)
        )
    return ExitCode.OK, text


def _exit_code(err: CarrierError) -> ExitCode:
    """Map a carrier error to the command's exit code."""
    for kind, code in _EXIT_CODES:
        if isinstance(err, kind):
            return code
    return ExitCode.BAD_RESPONSE


_EXIT_CODES: tuple[tuple[type[CarrierError], ExitCode], ...] = (
    (ParcelNotFound, ExitCode.NOT_FOUND_YET),
    (CarrierNotConfigured, ExitCode.NOT_CONFIGURED),
    (NotTrackable, ExitCode.NOT_TRACKABLE),
    (CarrierUnavailable, ExitCode.UNREACHABLE),
    (CarrierAuthError, ExitCode.AUTH_FAILED),
)
