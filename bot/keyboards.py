"""Inline keyboards and their short callback data: one prefix per action, parsed in one place."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translator
from bot.routing import Candidate
from bot.status_labels import carrier_name

# Prefixes (≤ 2 chars) keep callback data far below Telegram's 64-byte limit.
CARD, HISTORY, REFRESH, RENAME, STOP, PAGE, PICK, LANGUAGE = "c", "h", "r", "n", "x", "l", "p", "g"
STOP_ALL, FORGET, KEEP, ARCHIVE_PAGE, DETECT, RECEIVED = "sa", "fg", "k", "a", "dt", "v"
SCANNED, ALL_SCANNED = "b", "all"  # follow a number read from a picture, or all of them
DELETE = "d"  # an archived parcel's Delete: its own action, so an old Stop cannot delete it

_PATTERN = re.compile(r"^([a-z]{1,2}):([A-Za-z0-9:_-]{1,60})$")
SUBSCRIPTION_PATTERN = re.compile(
    rf"^(?:{CARD}|{HISTORY}|{REFRESH}|{STOP}|{RECEIVED}|{DELETE}):[0-9]{{1,12}}$"
)
RENAME_PATTERN = re.compile(rf"^{RENAME}:[0-9]{{1,12}}$")
PAGE_PATTERN = re.compile(rf"^(?:{PAGE}|{ARCHIVE_PAGE}):[0-9]{{1,4}}$")
PICK_PATTERN = re.compile(rf"^{PICK}:[0-9]:[A-Z0-9]{{6,40}}$")
LANGUAGE_PATTERN = re.compile(rf"^{LANGUAGE}:(?:uk|en|ru)$")
STOP_ALL_PATTERN = re.compile(rf"^{STOP_ALL}:(?:yes|no)$")
FORGET_PATTERN = re.compile(rf"^{FORGET}:(?:yes|no)$")
CONFIRM_PATTERN = re.compile(rf"^(?:{STOP_ALL}|{FORGET}):(?:yes|no)$")  # either question
KEEP_PATTERN = re.compile(rf"^{KEEP}:[0-9]{{1,12}}:(?:yes|no)$")
DETECT_PATTERN = re.compile(rf"^{DETECT}:[A-Z0-9]{{8,40}}$")
# 41: the longest number a detection rule accepts (DHL eCommerce prefixes).
SCANNED_PATTERN = re.compile(rf"^{SCANNED}:(?:{ALL_SCANNED}|[A-Z0-9]{{8,41}})$")


@dataclass(frozen=True, slots=True)
class Callback:
    """Parsed callback data: an action prefix and its argument."""

    action: str
    argument: str

    @property
    def number(self) -> int:
        """Return the argument as an id."""
        return int(self.argument.split(":")[0])


def parse(data: str | None) -> Callback | None:
    """Parse callback data, or return None for anything malformed or forged."""
    match = _PATTERN.fullmatch(data or "")
    return Callback(match.group(1), match.group(2)) if match else None


def track_link(bot_username: str, number: str) -> str:
    """Return the deep link that follows a number in the bot (``/start NUMBER``).

    Numbers are upper-case letters and digits, as a deep link's payload requires.
    """
    return f"https://t.me/{bot_username}?start={number}"


def share_button(bot_username: str, number: str, tr: Translator) -> InlineKeyboardButton:
    """Return a button that shares a number's deep link through Telegram's own share sheet.

    The person it is sent to follows the parcel with one tap, without inline mode.
    """
    text = tr.gettext("Follow parcel {number} with me").format(number=number)
    query = urlencode({"url": track_link(bot_username, number), "text": text}, quote_via=quote)
    return InlineKeyboardButton(tr.gettext("📤 Share"), url=f"https://t.me/share/url?{query}")


def card_keyboard(
    subscription_id: int,
    tr: Translator,
    *,
    archived: bool = False,
    share: InlineKeyboardButton | None = None,
) -> InlineKeyboardMarkup:
    """Return the status card's buttons (an archived parcel: its history, or delete it)."""
    _ = tr.gettext
    if archived:
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        _("📜 History"), callback_data=f"{HISTORY}:{subscription_id}"
                    ),
                    InlineKeyboardButton(
                        _("🗑 Delete from archive"), callback_data=f"{DELETE}:{subscription_id}"
                    ),
                ]
            ]
        )
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    _("📜 History"), callback_data=f"{HISTORY}:{subscription_id}"
                ),
                InlineKeyboardButton(
                    _("🔄 Refresh"), callback_data=f"{REFRESH}:{subscription_id}"
                ),
            ],
            [
                InlineKeyboardButton(_("✏️ Rename"), callback_data=f"{RENAME}:{subscription_id}"),
                InlineKeyboardButton(
                    _("✅ I have it"), callback_data=f"{RECEIVED}:{subscription_id}"
                ),
            ],
            *([[share]] if share else []),  # its own row: uk/ru labels are long
            [
                InlineKeyboardButton(
                    _("🛑 Stop tracking"), callback_data=f"{STOP}:{subscription_id}"
                )
            ],
        ]
    )


def pick_keyboard(
    number: str, candidates: Sequence[Candidate], tr: Translator
) -> list[list[InlineKeyboardButton]]:
    """Return one row of carrier choices for an ambiguous number."""
    return [
        [
            InlineKeyboardButton(
                candidate.name or carrier_name(candidate.carrier, tr.gettext),
                callback_data=f"{PICK}:{index}:{number}",
            )
            for index, candidate in enumerate(candidates[:5])
        ]
    ]


def list_keyboard(
    rows: Sequence[tuple[int, str]],
    page: int,
    has_next: bool,
    tr: Translator,
    *,
    archived: bool = False,
) -> InlineKeyboardMarkup:
    """Return one button per listed parcel and the page arrows (of the list or the archive)."""
    buttons = [[InlineKeyboardButton(text, callback_data=f"{CARD}:{sid}")] for sid, text in rows]
    prefix = ARCHIVE_PAGE if archived else PAGE
    arrows = []
    if page > 0:
        arrows.append(
            InlineKeyboardButton(tr.gettext("◀️ Back"), callback_data=f"{prefix}:{page - 1}")
        )
    if has_next:
        arrows.append(
            InlineKeyboardButton(tr.gettext("Next ▶️"), callback_data=f"{prefix}:{page + 1}")
        )
    if arrows:
        buttons.append(arrows)
    return InlineKeyboardMarkup(buttons)


def detect_keyboard(numbers: Sequence[str]) -> InlineKeyboardMarkup:
    """Return one "ask the detection service" button per unknown number."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(f"🔎 {n}", callback_data=f"{DETECT}:{n}")] for n in numbers]
    )


def scanned_keyboard(numbers: Sequence[str], tr: Translator) -> InlineKeyboardMarkup:
    """Return "follow" buttons for numbers read from a picture, and "follow all" for several.

    "All" carries no numbers (64 bytes would not hold them): they are read back from the
    offer's own text.
    """
    rows = [
        [
            InlineKeyboardButton(
                tr.gettext("✅ Follow {number}").format(number=n), callback_data=f"{SCANNED}:{n}"
            )
        ]
        for n in numbers
    ]
    if len(numbers) > 1:
        rows.append(
            [
                InlineKeyboardButton(
                    tr.gettext("✅ Follow all"), callback_data=f"{SCANNED}:{ALL_SCANNED}"
                )
            ]
        )
    return InlineKeyboardMarkup(rows)


def language_keyboard() -> InlineKeyboardMarkup:
    """Return the language choice; each language is named in itself."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("🇺🇦 Українська", callback_data=f"{LANGUAGE}:uk"),
                InlineKeyboardButton("🇬🇧 English", callback_data=f"{LANGUAGE}:en"),
                # No flag on purpose: the bot's Russian readers are mostly in Ukraine, for whom
                # a language is not a state's flag.
                InlineKeyboardButton("Русский", callback_data=f"{LANGUAGE}:ru"),
            ]
        ]
    )


def confirm_keyboard(prefix: str, tr: Translator) -> InlineKeyboardMarkup:
    """Return Yes / No buttons for a destructive action."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(tr.gettext("Yes"), callback_data=f"{prefix}:yes"),
                InlineKeyboardButton(tr.gettext("No"), callback_data=f"{prefix}:no"),
            ]
        ]
    )


def keep_buttons(subscription_id: int, name: str, tr: Translator) -> list[InlineKeyboardButton]:
    """Return one row answering "keep tracking?" for a parcel, named in the first button."""
    keep = tr.gettext("Keep tracking")  # outside an f-string, where extraction finds it
    return [
        InlineKeyboardButton(
            (keep + " · " + name)[:60],
            callback_data=f"{KEEP}:{subscription_id}:yes",
        ),
        InlineKeyboardButton(tr.gettext("Stop"), callback_data=f"{KEEP}:{subscription_id}:no"),
    ]


BUTTON_NAME = 20  # characters of a label or number on a button that shares its row


def button_name(label: str | None, number: str) -> str:
    """Return a parcel's name for a button: its label cut at a word, or its number's end.

    Telegram cuts long button texts at the end, where numbers differ.
    """
    if label:
        if len(label) <= BUTTON_NAME:
            return label
        cut = label[:BUTTON_NAME]
        words = cut.rsplit(" ", 1)[0].rstrip(" ,.;:-")
        return (words or cut) + "…"
    return number if len(number) <= BUTTON_NAME else "…" + number[-8:]


# A parcel on a button: its subscription id, label and number.
Named = tuple[int, str | None, str]


def _names(parcels: Sequence[Named]) -> list[str]:
    """Name parcels for buttons side by side so that no two read the same (number's end)."""
    names = [button_name(label, number) for _, label, number in parcels]
    repeated = {name for name in names if names.count(name) > 1}
    return [
        f"{name} · {number[-4:]}" if name in repeated else name
        for name, (_, _, number) in zip(names, parcels, strict=True)
    ]


def card_buttons(parcels: Sequence[Named]) -> list[list[InlineKeyboardButton]]:
    """Return "📄 name" buttons opening parcels' cards, two a row."""
    buttons = [
        InlineKeyboardButton(f"📄 {name}", callback_data=f"{CARD}:{sub}")
        for (sub, _, _), name in zip(parcels, _names(parcels), strict=True)
    ]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def stop_buttons(parcels: Sequence[Named], tr: Translator) -> list[list[InlineKeyboardButton]]:
    """Return "🛑 Stop name" buttons, one a row, that stop following parcels."""
    return [
        [
            InlineKeyboardButton(
                tr.gettext("🛑 Stop {number}").format(number=name)[:60],
                callback_data=f"{STOP}:{sub}",
            )
        ]
        for (sub, _, _), name in zip(parcels, _names(parcels), strict=True)
    ]


def push_buttons(
    subscription_id: int, tr: Translator, *, have_it: bool
) -> list[InlineKeyboardButton]:
    """Return the row under a push about one parcel: its card, and what the news asks for.

    ``have_it``: the parcel is (about to be) in the user's hands: "I have it" (to the archive
    now) instead of Stop. Short texts: the two share a row.
    """
    card = InlineKeyboardButton(tr.gettext("📄 Card"), callback_data=f"{CARD}:{subscription_id}")
    if have_it:
        action = InlineKeyboardButton(
            tr.gettext("✅ I have it"), callback_data=f"{RECEIVED}:{subscription_id}"
        )
    else:
        stop = "🛑 " + tr.gettext("Stop")
        action = InlineKeyboardButton(stop, callback_data=f"{STOP}:{subscription_id}")
    return [card, action]
