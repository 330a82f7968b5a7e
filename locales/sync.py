"""Refresh the catalogs after changing strings: extract, merge, and fill English from the source.

Usage: python locales/sync.py   (then translate the new empty entries in uk and ru)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> int:
    """Extract messages, update uk/en/ru, and copy English source strings into the en catalog."""
    pybabel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run(
        [
            *pybabel,
            "extract",
            "-F",
            str(HERE / "babel.cfg"),
            "-k",
            "N_",
            "--no-location",
            "--sort-output",
            "--omit-header",
            "-o",
            str(HERE / "messages.pot"),
            str(ROOT),
        ],
        check=True,
    )
    for language in ("uk", "en", "ru"):
        po = HERE / language / "LC_MESSAGES" / "messages.po"
        action = "update" if po.exists() else "init"
        extra = ["--no-fuzzy-matching", "--ignore-obsolete"] if action == "update" else []
        subprocess.run(
            [
                *pybabel,
                action,
                "-i",
                str(HERE / "messages.pot"),
                "-d",
                str(HERE),
                "-l",
                language,
                *extra,
            ],
            check=True,
        )
    _fill_english(HERE / "en" / "LC_MESSAGES" / "messages.po")
    return 0


def _fill_english(path: Path) -> None:
    """English is the source language: every msgstr equals its msgid."""
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            message.string = (message.id[0], message.id[1])
        else:
            message.string = message.id
        message.flags.discard("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog, omit_header=False, sort_output=True, no_location=True)


if __name__ == "__main__":
    sys.exit(main())
