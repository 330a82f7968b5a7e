"""Fuzz: 10,000 generated updates through the real handlers; no crash, no cross-chat access.

The run is seeded (FUZZ_SEED overrides the default), so a failure replays exactly. Every chat
labels its parcels "LBL-<its tag>-..." and has tracking numbers nobody else uses, so a label or
number of another chat in anything the bot sends is a leak. Two chats that are never active
("victims") hold parcels whose ids are the targets of forged buttons; their data must not change.

"No unhandled exception" means: nothing logged at ERROR, no apology or traceback sent, and no
call the real Bot API would refuse (bad HTML, over 4096 characters, oversized callback data),
because the recording fake accepts everything and such a refusal is an exception in production.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import re
import string
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import count
from pathlib import Path
from random import Random
from typing import Any

import pytest
from telegram import (
    CallbackQuery,
    Chat,
    InaccessibleMessage,
    InlineQuery,
    Message,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)
from telegram.ext import AIORateLimiter

from bot.carriers.detect import extract_numbers, normalize
from bot.context import LANGUAGE_KEY
from bot.routing import offline_candidates
from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent
from tests.telegram_fakes import BOT_ID, BOT_USERNAME, Call, make_membership, make_message

SEED = int(os.environ.get("FUZZ_SEED", "20260727"))
UPDATES = 10_000
SEND_TIMEOUT = 15.0  # seconds one update may take; loopback carriers answer in milliseconds

T0 = datetime(2026, 7, 27, 13, 33, tzinfo=UTC)
UP = "0500100031143"
INPOST = "612345678901234567890123"
NP = "20400048799000"
AMBIGUOUS = "A1234567895"  # UPS waybill or Amazon: the bot asks which
SHARED = frozenset({UP, INPOST, NP, AMBIGUOUS})
ANONYMOUS_ADMIN = 1087968824  # GroupAnonymousBot: anonymous group admins write as this user
ADMINS = frozenset({104, 107})  # chat admins in every group (getChatMember answers so)
USERS: dict[int, str | None] = {
    101: "uk", 102: "en", 103: "ru", 104: "pl", 105: None, 106: "uk", 107: "en", 108: "ru",
    301: "en", 302: "uk",
}  # fmt: skip

# Telegram's limits and HTML subset (core.telegram.org/bots/api#formatting-options).
MESSAGE_LIMIT = 4096
ANSWER_LIMIT = 200
CALLBACK_DATA_LIMIT = 64
HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a"}
    | {"tg-emoji", "code", "pre", "blockquote"}
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9A-Fa-f]+);")
_LABEL_TAG = re.compile(r"LBL-([A-Z]+)-")
_TOKEN = re.compile(r"[0-9A-Z]{8,40}")
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_SUBSCRIPTION_DATA = re.compile(r"^[chrxn]:([0-9]+)$")


@dataclass(frozen=True)
class ChatSpec:
    """One chat of the simulation: its id, type, label tag and who writes in it."""

    id: int
    kind: str
    tag: str
    members: tuple[int, ...]

    @property
    def private(self) -> bool:
        return self.kind == Chat.PRIVATE

    def telegram(self) -> Chat:
        title = None if self.private else f"Family {self.tag}"
        return Chat(self.id, self.kind, title=title)


ACTIVE = (
    ChatSpec(101, Chat.PRIVATE, "ALPHA", (101,)),
    ChatSpec(102, Chat.PRIVATE, "BRAVO", (102,)),
    ChatSpec(103, Chat.PRIVATE, "CHARLIE", (103,)),
    ChatSpec(104, Chat.PRIVATE, "DELTA", (104,)),
    ChatSpec(105, Chat.PRIVATE, "ECHO", (105,)),
    ChatSpec(106, Chat.PRIVATE, "FOXTROT", (106,)),
    ChatSpec(-201, Chat.GROUP, "GOLF", (101, 102, 107)),
    ChatSpec(-1000000000202, Chat.SUPERGROUP, "HOTEL", (103, 104, 105, 108)),
    ChatSpec(-1000000000203, Chat.SUPERGROUP, "INDIA", (101, 106, 107, 108)),
    ChatSpec(-204, Chat.GROUP, "JULIET", (102, 103, 104, 105, 106)),
)
VICTIMS = (
    ChatSpec(301, Chat.PRIVATE, "KILO", (301,)),
    ChatSpec(-1000000000399, Chat.SUPERGROUP, "LIMA", (302,)),
)
CHANNEL = ChatSpec(-1000000000505, Chat.CHANNEL, "MIKE", ())

# Update kinds and their weights (percent). Only number, fresh, paste, overflow and ambiguous
# messages (and picks) can reach a carrier: about 12 % of the updates.
KINDS: dict[str, float] = {
    "text": 13, "long": 3, "number": 8, "fresh": 2, "paste": 1, "overflow": 0.4, "typo": 6,
    "ambiguous": 1, "command": 22, "admin": 3, "reply": 3, "edit": 6, "caption": 1,
    "own_button": 14, "forged": 10, "forged_pick": 1, "garbage": 5, "membership": 1.5,
    "channel": 0.5, "service": 0.5, "inline": 3,
}  # fmt: skip

EMOJI = ("📦", "🎁", "🇺🇦", "👨‍👩‍👧‍👦", "❤️", "🔥", "🤖", "🧪", "🫠")
ODD = (
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u202d", "\u061c", "\u00a0",
    "\u3000", "\t", "\r\n", "\x07", "\x1b[31m", "\u0301", "\ufdfa", "\u2028", "\x7f", "\U000e0041",
)  # fmt: skip
SCRIPTS = (
    "Привіт, де моя посилка?", "Dzień dobry, gdzie paczka?", "مرحبا بالعالم", "שלום עולם",
    "你好，包裹在哪里", "こんにちは", "Ελληνικά γράμματα", "ÆØÅ æøå", "𝓯𝓪𝓷𝓬𝔂 𝕥𝕖𝕩𝕥",
    "z̷̢̛a̶l̷g̸o̵ t̴e̷x̸t", "Ёжик в тумане", "ґанок їжак єнот",
)  # fmt: skip
INJECTIONS = (
    "'; DROP TABLE subscriptions; --", '" OR 1=1 --', "<b>bold</b>", "<script>alert(1)</script>",
    "</code></b>", "&amp; &lt; & &#0; &#x110000;", '<a href="tg://user?id=1">x</a>',
    "{number} {label} {0} {} %s %d %(x)s", "${jndi:ldap://x}", "../../etc/passwd", "NULL",
    "<<<>>>", "<i>unclosed", "\\x00\\n", "SELECT * FROM chats", "<tg-spoiler>", "]]><!--",
)  # fmt: skip
LABEL_WORDS = ("gift", "shoes", "телефон", "книги", "🎁box", "mama", "𝔣𝔞𝔫𝔠𝔶", "قميص", "ÜBER")
LABEL_TAILS = (
    "", "", "", " <b>bold</b>", " & co", " {label} {number}", " \u202eevil", " \u200bzw",
    " " + "x" * 70, " \"quoted\" 'single'", " </code>", " 🎁🎁",
)  # fmt: skip
GARBAGE_DATA = (
    "", " ", "x:", "x:-1", "x:1e9", "h:" + "9" * 13, "c:0", "x:abc", "zz:1", "l:-1", "l:99999",
    "g:de", "g:", "sa:maybe", "fg:", "k:1:maybe", "k::yes", "ba:all", "bc:yes", "bc:no",
    " x:1", "x:1 ", "x:١٢", "p:9:" + "A" * 41, "p:x:0500100031143", "n:", "r:0", "h:000000000001",
    "🤖", "x:1\n", "c:" + "1" * 12, "l:0:0", "p:0:", "DROP TABLE", "\u202ex:1", "a:-1", "a:99999",
)  # fmt: skip
KNOWN_PREFIXES = frozenset(
    {"c", "h", "r", "x", "d", "n", "k", "l", "a", "p", "g", "sa", "fg", "ba", "bc", "dt"}
)
FAULTS = ("500", "429", "401", "html", "badjson")
CARRIER_NAMES = ("ukrposhta", "inpost", "nova-poshta", "gdeposylka")


def ukrposhta_check(serial: str) -> str:
    """Return the check digit of a 12-digit Ukrposhta serial (bot.carriers.detect's rule)."""
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(serial[::-1]))
    expected = 11 - total % 11
    return str(0 if expected >= 10 else expected)


def carrier_of(number: str) -> str | None:
    """Return the single offline carrier of a number, or None when it is invalid or ambiguous."""
    candidates = offline_candidates(number)
    return candidates[0].carrier if len(candidates) == 1 else None


def visible_html(text: str) -> tuple[str | None, str]:
    """Parse Telegram HTML into (problem, visible text); no problem means Telegram accepts it."""
    visible: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            tag = _TAG.match(text, i)
            if tag is None or tag.group(2).lower() not in HTML_TAGS:
                return f"unsupported tag or unescaped '<' at {i}: {text[i : i + 20]!r}", ""
            name = tag.group(2).lower()
            if tag.group(1):
                if not stack or stack.pop() != name:
                    return f"unbalanced </{name}> at {i}", ""
            else:
                stack.append(name)
            i = tag.end()
        elif ch == "&":
            entity = _ENTITY.match(text, i)
            if entity is None:
                return f"unescaped '&' at {i}: {text[i : i + 12]!r}", ""
            visible.append(html.unescape(entity.group()))
            i = entity.end()
        else:
            visible.append(ch)
            i += 1
    if stack:
        return f"unclosed <{stack[-1]}>", ""
    return None, "".join(visible)


def telegram_problems(call: Call) -> list[str]:
    """Return what the real Bot API would refuse in a call (the recording fake accepts all)."""
    params = call.params
    problems: list[str] = []
    if call.method in {"sendMessage", "editMessageText"}:
        text = str(params.get("text", ""))
        problem, visible = (
            visible_html(text) if params.get("parse_mode") == "HTML" else (None, text)
        )
        if problem:
            problems.append(f"{call.method}: HTML {problem}")
        elif not visible.strip():
            problems.append(f"{call.method}: empty text")
        elif len(visible) > MESSAGE_LIMIT:
            problems.append(f"{call.method}: {len(visible)} characters > {MESSAGE_LIMIT}")
    if call.method == "answerCallbackQuery" and len(str(params.get("text") or "")) > ANSWER_LIMIT:
        problems.append(f"answerCallbackQuery: text over {ANSWER_LIMIT} characters")
    markup = params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if not str(button.get("text", "")).strip():
                problems.append(f"{call.method}: a button without text")
            if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                problems.append(f"{call.method}: callback_data {data!r} over 64 bytes")
    return problems


def buttons_of(params: dict[str, Any]) -> list[str]:
    """Return the callback data of a call's inline keyboard."""
    markup = params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    rows = (markup or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


def mentioned_tokens(text: str) -> set[str]:
    """Return every number-like token a chat reveals by sending this text."""
    found = set(extract_numbers(text))
    found |= set(_TOKEN.findall(text.upper()))
    found |= set(_TOKEN.findall(normalize(text[:20_000])))
    return found


@dataclass
class Planned:
    """One generated update and what the checks need to know about it."""

    kind: str
    chat: ChatSpec
    update: Update
    user_id: int | None
    text: str = ""  # message text (and replied text) that may carry numbers
    is_message: bool = False
    forged_sub: int | None = None  # a subscription of another chat the data points at
    unknown_command: bool = False  # must get exactly the unknown-command answer
    silent: bool = False  # must get no answer at all


@dataclass
class Fuzzer:
    """Generates updates for a fixed cast of chats and checks every answer the bot makes."""

    env: BotEnv
    rng: Random
    ids: count[int] = field(default_factory=lambda: count(50_000_000))
    pools: dict[int, list[str]] = field(default_factory=dict)  # chat -> its own numbers
    owner: dict[str, int] = field(default_factory=dict)  # number -> the chat that owns it
    mentioned: dict[int, set[str]] = field(default_factory=dict)  # tokens a chat sent itself
    actors: dict[int, set[int]] = field(default_factory=dict)  # users who acted in a chat
    buttons: dict[int, deque[str]] = field(default_factory=dict)  # callback data shown to a chat
    recent: dict[int, deque[tuple[int, int, str]]] = field(default_factory=dict)
    query_chat: dict[str, int] = field(default_factory=dict)
    aliases: dict[int, int] = field(default_factory=dict)  # migrated-to id -> the group's id
    followups: list[Callable[[], Planned]] = field(default_factory=list)  # answers to prompts
    violations: list[str] = field(default_factory=list)
    history: deque[str] = field(default_factory=lambda: deque(maxlen=25))
    kinds: Counter[str] = field(default_factory=Counter)
    pressed: Counter[str] = field(default_factory=Counter)  # callback data prefixes
    forged_checked: int = 0
    typo_checked: int = 0
    unknown_checked: int = 0
    own_labels_seen: int = 0  # answers that showed a chat its own labels
    inline_checked: int = 0
    call_index: int = 0
    step_no: int = -1  # -1 during the setup
    sorry_texts: frozenset[str] = frozenset()
    unknown_texts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        catalogs = self.env.app.bot_data.catalogs
        languages = ("uk", "en", "ru")
        self.sorry_texts = frozenset(
            catalogs.get(lang).gettext(
                "Sorry, something went wrong on my side. Please try again later."
            )
            for lang in languages
        )
        self.unknown_texts = {
            lang: catalogs.get(lang).gettext(
                "I do not know this command. /help lists what I can do."
            )
            for lang in languages
        }
        for spec in (*ACTIVE, *VICTIMS, CHANNEL):
            self.pools[spec.id] = []
            self.mentioned[spec.id] = set()
            self.actors[spec.id] = set()
            self.buttons[spec.id] = deque(maxlen=80)
            self.recent[spec.id] = deque(maxlen=12)

    # --- numbers and texts ----------------------------------------------------------------

    def new_number(self, carrier: str | None = None) -> str:
        """Return a valid number nobody has used yet."""
        rng = self.rng
        while True:
            kind = carrier or rng.choice(("ukrposhta", "nova-poshta", "inpost"))
            if kind == "ukrposhta":
                serial = "05" + "".join(rng.choices(string.digits, k=10))
                number = serial + ukrposhta_check(serial)
            elif kind == "nova-poshta":
                number = rng.choice(("20", "59")) + "".join(rng.choices(string.digits, k=12))
            else:
                number = "6" + "".join(rng.choices(string.digits, k=23))
            if number not in self.owner and number not in SHARED and carrier_of(number) == kind:
                return number

    def give(self, chat_id: int, number: str) -> str:
        """Make a number one chat's own."""
        self.owner[number] = chat_id
        self.pools[chat_id].append(number)
        return number

    def label(self, spec: ChatSpec) -> str:
        return f"LBL-{spec.tag}-{self.rng.choice(LABEL_WORDS)}{self.rng.choice(LABEL_TAILS)}"

    def dress(self, number: str) -> str:
        """Write a number the ways people paste it."""
        rng = self.rng
        style = rng.random()
        if style < 0.6:
            return number
        if style < 0.7:
            return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        if style < 0.75:
            return "-".join(number[i : i + 3] for i in range(0, len(number), 3))
        if style < 0.8:
            cut = rng.randrange(1, len(number))
            return number[:cut] + rng.choice(("\u200b", "\u2060", "\ufeff")) + number[cut:]
        if style < 0.85:
            return number.translate(str.maketrans(string.digits, "０１２３４５６７８９"))
        if style < 0.9:
            return number.translate(str.maketrans(string.digits, "٠١٢٣٤٥٦٧٨٩"))
        if style < 0.95:
            return f"https://novaposhta.ua/tracking/?cargo_number={number}"
        return f"ТТН:{number}, дякую!"

    def typo(self, number: str) -> str:
        """Return a mistyped variant of a number that no rule accepts."""
        rng = self.rng
        for _ in range(50):
            i = rng.randrange(len(number))
            how = rng.random()
            if how < 0.6:
                wrong = rng.choice([d for d in string.digits if d != number[i]])
                variant = number[:i] + wrong + number[i + 1 :]
            elif how < 0.8:
                variant = number[:i] + number[i + 1 :]
            elif how < 0.9 and i + 1 < len(number):
                variant = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
            else:
                variant = number[:i] + number[i] + number[i:]
            if not extract_numbers(variant):
                return variant
        return number[:-1] + "X"  # no rule accepts a trailing letter here

    def random_text(self, max_len: int = 120) -> str:
        rng = self.rng
        parts: list[str] = []
        while sum(map(len, parts)) < rng.randint(1, max_len):
            pick = rng.random()
            if pick < 0.25:
                parts.append(rng.choice(SCRIPTS))
            elif pick < 0.4:
                parts.append(rng.choice(EMOJI))
            elif pick < 0.55:
                parts.append(rng.choice(ODD))
            elif pick < 0.7:
                parts.append(rng.choice(INJECTIONS))
            elif pick < 0.8:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 7))))
            else:
                parts.append(self.random_chars(rng.randint(1, 20)))
            parts.append(rng.choice((" ", "", "\n", "  ")))
        return "".join(parts)

    def random_chars(self, n: int) -> str:
        ranges = (
            (0x21, 0x7E), (0x400, 0x4FF), (0x600, 0x6FF), (0x1F300, 0x1F64F),
            (0x2000, 0x206F), (0x4E00, 0x4FFF), (0x1, 0x1F), (0x300, 0x36F),
        )  # fmt: skip
        chars = []
        for _ in range(n):
            low, high = self.rng.choice(ranges)
            chars.append(chr(self.rng.randint(low, high)))
        return "".join(chars)

    def long_text(self) -> str:
        rng = self.rng
        size = rng.choice((1000, 4000, 4096, 4096, 5000, 12_000, 25_000))
        unit = rng.choice(("а", "x", "📦", "\u200b", "ﷺ", "<b>", "&", "1", "12 ", "A1 ", "0500 "))
        text = (unit * (size // len(unit) + 1))[:size]
        if rng.random() < 0.3:  # a number at the very end of a huge paste
            text = text[: size - 30] + " " + rng.choice((UP, NP, INPOST))
        return text

    def own_number(self, spec: ChatSpec) -> str:
        pool = self.pools[spec.id]
        if pool and self.rng.random() < 0.65:
            return self.rng.choice(pool)
        return self.rng.choice((UP, NP, INPOST))

    # --- update builders ------------------------------------------------------------------

    def user(self, user_id: int) -> User:
        if user_id == ANONYMOUS_ADMIN:
            return User(user_id, "Group", True, username="GroupAnonymousBot")
        return User(user_id, f"User{user_id}", False, language_code=USERS.get(user_id))

    def pick_user(self, spec: ChatSpec) -> int:
        if not spec.private and self.rng.random() < 0.03:
            return ANONYMOUS_ADMIN
        return self.rng.choice(spec.members)

    def message(
        self,
        spec: ChatSpec,
        user_id: int | None,
        text: str | None,
        *,
        caption: str | None = None,
        reply_to: Message | None = None,
        message_id: int | None = None,
        edited: bool = False,
        **fields: Any,
    ) -> Message:
        entities = []
        command = _COMMAND.match(text or "")
        if command:
            entities = [MessageEntity(MessageEntity.BOT_COMMAND, 0, len(command.group()))]
        now = datetime.now(UTC)
        return Message(
            message_id or next(self.ids),
            now - timedelta(minutes=5) if edited else now,
            spec.telegram(),
            from_user=self.user(user_id) if user_id is not None else None,
            sender_chat=spec.telegram() if user_id is None else None,
            text=text,
            entities=entities,
            caption=caption,
            photo=(PhotoSize("photo", "photo-unique", 90, 90),) if caption is not None else (),
            reply_to_message=reply_to,
            edit_date=now if edited else None,
            **fields,
        )

    def bot_message(self, spec: ChatSpec, text: str = "card") -> Message:
        bot_user = User(BOT_ID, "Parcel", True, username=BOT_USERNAME)
        return Message(next(self.ids), datetime.now(UTC), spec.telegram(), bot_user, text=text)

    def text_update(
        self, kind: str, spec: ChatSpec, user_id: int, text: str, **extra: Any
    ) -> Planned:
        message = self.message(spec, user_id, text, **extra)
        self.recent[spec.id].append((message.message_id, user_id, text))
        update = Update(next(self.ids), message=message)
        replied = extra.get("reply_to")
        scan = text + "\n" + ((replied.text or replied.caption or "") if replied else "")
        return Planned(kind, spec, update, user_id, text=scan, is_message=True)

    def callback(
        self, kind: str, spec: ChatSpec, user_id: int, data: str | None, **extra: Any
    ) -> Planned:
        query_id = str(next(self.ids))
        self.query_chat[query_id] = spec.id
        prefix = (data or "").partition(":")[0]
        self.pressed[prefix if prefix in KNOWN_PREFIXES else "garbage"] += 1
        # A button under a message too old for Telegram to include it (date 0, no text).
        old = self.rng.random() < 0.05
        message = InaccessibleMessage(spec.telegram(), next(self.ids)) if old else None
        query = CallbackQuery(
            query_id,
            self.user(user_id),
            f"instance-{spec.id}",
            data=data,
            game_short_name=None if data is not None else "fuzz_game",
            message=message or self.bot_message(spec),
        )
        return Planned(kind, spec, Update(next(self.ids), callback_query=query), user_id, **extra)

    # --- generators per kind --------------------------------------------------------------

    async def plan(self, kind: str, spec: ChatSpec) -> Planned | None:
        rng = self.rng
        user_id = self.pick_user(spec)
        track = "/track" if rng.random() < 0.7 else f"/track@{BOT_USERNAME}"
        if kind == "text":
            return self.text_update(kind, spec, user_id, self.random_text())
        if kind == "long":
            return self.text_update(kind, spec, user_id, self.long_text())
        if kind in {"number", "fresh", "ambiguous"}:
            if kind == "fresh":
                number = self.give(spec.id, self.new_number())
            elif kind == "ambiguous":
                number = AMBIGUOUS
            else:
                number = self.own_number(spec)
            body = self.dress(number)
            if rng.random() < 0.6:
                body += " " + self.label(spec)
            if spec.private:
                text = rng.choice((body, body, body, f"{track} {body}", f"/start {number}"))
            else:
                text = f"{track} {body}"
            return self.text_update(kind, spec, user_id, text)
        if kind in {"paste", "overflow"}:
            if kind == "overflow":
                numbers = [
                    self.give(spec.id, self.new_number()) for _ in range(rng.randint(21, 25))
                ]
            else:
                numbers = [self.own_number(spec) for _ in range(rng.randint(2, 5))]
            lines = ["Ваше замовлення:"]
            for number in numbers:
                lines.append(f"{self.dress(number)} {self.label(spec)}")
                if rng.random() < 0.3:
                    lines.append(self.random_text(40))
            text = "\n".join(lines)
            if not spec.private:
                text = f"{track} {text}"
            return self.text_update(kind, spec, user_id, text)
        if kind == "typo":
            wrong = self.typo(self.own_number(spec) if rng.random() < 0.8 else UP)
            body = wrong if rng.random() < 0.5 else f"{wrong} {self.label(spec)}"
            text = body if spec.private and rng.random() < 0.8 else f"{track} {body}"
            return self.text_update(kind, spec, user_id, text)
        if kind == "command":
            return self.text_update(kind, spec, user_id, self.command(spec))
        if kind == "admin":
            text = rng.choice(
                (
                    "/broadcast",
                    "/broadcast <b>Hi</b> all",
                    "/stats",
                    "/ban 101",
                    "/unban 1",
                    "/bans",
                )
            )
            if rng.random() < 0.2:
                text = "/broadcast_cancel"
            planned = self.text_update(kind, spec, user_id, text)
            planned.unknown_command = spec.private
            planned.silent = not spec.private
            return planned
        if kind == "reply":
            return self.reply(spec, user_id, track)
        if kind == "edit":
            return self.edit(spec)
        if kind == "caption":
            caption = rng.choice((self.random_text(60), self.dress(self.own_number(spec))))
            message = self.message(spec, user_id, None, caption=caption)
            update = Update(next(self.ids), message=message)
            return Planned(kind, spec, update, user_id, text=caption, is_message=True)
        if kind == "own_button":
            return self.own_button(spec, user_id)
        if kind == "forged":
            return await self.forged(spec, user_id)
        if kind == "forged_pick":
            others = [n for n, chat in self.owner.items() if chat != spec.id]
            number = rng.choice(others) if others else UP
            if rng.random() < 0.2:
                number = "".join(rng.choices(string.ascii_uppercase + string.digits, k=12))
            pick = f"p:{rng.randint(0, 2)}:{number}"
            self.mentioned[spec.id] |= mentioned_tokens(pick)
            return self.callback(kind, spec, user_id, pick)
        if kind == "garbage":
            garbage: str | None = rng.choice(GARBAGE_DATA)
            if rng.random() < 0.4:
                garbage = self.random_chars(rng.randint(0, 64))
            if rng.random() < 0.05:
                garbage = None  # a game button: no data at all
            return self.callback(kind, spec, user_id, garbage)
        if kind == "membership":
            gone = rng.random() < 0.5
            change = make_membership(
                spec.telegram(), self.user(user_id), blocked=gone, was_blocked=not gone
            )
            return Planned(kind, spec, change, user_id)
        if kind == "service":
            return self.service(spec, user_id)
        if kind == "inline":
            return self.inline(spec, user_id)
        if kind == "channel":
            text = rng.choice((self.random_text(), f"/track {UP}", "/start", "/list"))
            message = self.message(CHANNEL, None, text)
            return Planned(kind, CHANNEL, Update(next(self.ids), channel_post=message), None)
        raise AssertionError(kind)

    def inline(self, spec: ChatSpec, user_id: int) -> Planned:
        """Type ``@bot ...`` anywhere: the answer may show only the user's own private parcels."""
        rng = self.rng
        others = [n for n, chat in self.owner.items() if chat != user_id]
        text = rng.choice(
            (
                "",
                "",
                self.random_text(30),
                "LBL",
                rng.choice(others)[:8] if others else UP,  # another chat's number: no match
                self.own_number(spec)[:6],
                "x" * 300,
            )
        )
        offset = rng.choice(("", "", "20", "abc", "²", "-1", "99999", "0" * 70))
        query_id = f"inline-{next(self.ids)}"
        self.query_chat[query_id] = user_id  # answers belong to the user's private chat
        query = InlineQuery(query_id, self.user(user_id), text, offset)
        update = Update(next(self.ids), inline_query=query)
        return Planned("inline", spec, update, user_id, silent=True)

    def migrated(self, spec: ChatSpec) -> int:
        """Return the supergroup id a group moves to (its own, so two groups never merge)."""
        new_id = -1_000_000_000_000 - abs(spec.id)
        self.aliases[new_id] = spec.id  # its parcels follow it there: still the same chat
        return new_id

    def service(self, spec: ChatSpec, user_id: int) -> Planned:
        """Build a service message: members joining or leaving, a new title, a migration."""
        rng = self.rng
        someone = self.user(rng.choice(spec.members))
        bot_user = User(BOT_ID, "Parcel", True, username=BOT_USERNAME)
        fields: dict[str, Any] = rng.choice(
            (
                {"new_chat_members": (someone, bot_user)},
                {"left_chat_member": someone},
                {"new_chat_title": self.random_text(30) or "t"},
                {"group_chat_created": True},
                {"migrate_to_chat_id": self.migrated(spec)} if spec.kind == Chat.GROUP else {},
                {"pinned_message": self.bot_message(spec, "card")},
            )
        )
        message = self.message(spec, user_id, None, **fields)
        return Planned("service", spec, Update(next(self.ids), message=message), user_id)

    def command(self, spec: ChatSpec) -> str:
        rng = self.rng
        number = self.own_number(spec)
        followed = rng.choice(self.pools[spec.id] or [UP])
        options = (
            "/start", f"/start {number}", "/start ref_abc-123", "/start " + self.random_text(30),
            "/help", "/help me please", "/privacy", "/language", "/list", "/list 2", "/archive",
            "/stop", f"/stop {followed}", f"/stop {self.dress(number)}", "/stop nothing",
            "/stop " + self.random_text(80), "/stopall", "/forget", "/quiet", "/quiet 22-8",
            "/quiet off", "/quiet 23:30-07:00", "/quiet 25-99", "/quiet 7-7", "/quiet абв",
            "/cancel", "/track", f"/track {self.dress(number)} {self.label(spec)}",
            f"/track@{BOT_USERNAME} {number}", f"/track@other_bot {number}", "/start@other_bot",
            "/nonsense", "/TRACK", "/Help", "/track_me", "/" + "a" * 40, "/ ", "//", "/😀",
            f"/track {self.typo(number)}", "/stop@" + BOT_USERNAME,
        )  # fmt: skip
        text = rng.choice(options)
        if rng.random() < 0.02:  # Telegram delivers up to 4096 characters
            text = "/stop " + self.long_text()[:4090]
        return text

    def reply(self, spec: ChatSpec, user_id: int, track: str) -> Planned:
        rng = self.rng
        if spec.private:
            prompt = self.bot_message(spec, "Send the new label (or /cancel).")
            text = self.label(spec) if rng.random() < 0.6 else self.random_text(50)
            return self.text_update("reply", spec, user_id, text, reply_to=prompt)
        author = rng.choice(spec.members)
        content = rng.choice(
            (
                f"Номер {self.dress(self.own_number(spec))} {self.label(spec)}",
                f"{self.own_number(spec)}\n{self.own_number(spec)} {self.label(spec)}",
                self.random_text(60),
                f"Номер {self.typo(self.own_number(spec))}",
            )
        )
        if rng.random() < 0.3:
            replied = self.message(spec, author, None, caption=content)
        else:
            replied = self.message(spec, author, content)
        text = track if rng.random() < 0.8 else rng.choice(("/list", "/stop", "thanks!"))
        return self.text_update("reply", spec, user_id, text, reply_to=replied)

    def edit(self, spec: ChatSpec) -> Planned | None:
        if not self.recent[spec.id]:
            return None
        message_id, user_id, old = self.rng.choice(self.recent[spec.id])
        rng = self.rng
        choice = rng.random()
        if choice < 0.3:
            text = old + " " + self.random_text(30)
        elif choice < 0.5:
            text = self.command(spec)
        elif choice < 0.7:
            text = f"{self.typo(self.own_number(spec))}"
        elif choice < 0.85:
            text = f"{self.own_number(spec)} {self.label(spec)}"
            if not spec.private:
                text = "/track " + text
        else:
            text = self.random_text()
        message = self.message(spec, user_id, text, message_id=message_id, edited=True)
        update = Update(next(self.ids), edited_message=message)
        return Planned("edit", spec, update, user_id, text=text, is_message=True)

    def own_button(self, spec: ChatSpec, user_id: int) -> Planned:
        rng = self.rng
        shown = self.buttons[spec.id]
        if shown and rng.random() < 0.85:
            data = rng.choice(shown)
        else:
            own_ids = [int(m.group(1)) for d in shown if (m := _SUBSCRIPTION_DATA.match(d))]
            data = rng.choice(
                (
                    f"l:{rng.randint(0, 12)}",
                    f"g:{rng.choice(('uk', 'en', 'ru'))}",
                    "sa:no",
                    "fg:no",
                    f"k:{rng.choice(own_ids or [1])}:{rng.choice(('yes', 'no'))}",
                )
            )
        return self.callback("own_button", spec, user_id, data)

    async def forged(self, spec: ChatSpec, user_id: int) -> Planned:
        """Press a button that names a subscription of another chat."""
        rng = self.rng
        storage = self.env.storage
        others = [c for c in (*ACTIVE, *VICTIMS) if c.id != spec.id]
        target = rng.choice(VICTIMS) if rng.random() < 0.4 else rng.choice(others)
        views = await storage.list_subscriptions(target.id, limit=50)
        views += await storage.list_subscriptions(target.id, archived=True, limit=10)
        if not views:  # only when a victim lost its parcels, which the final checks report
            return self.callback("forged", spec, user_id, rng.choice(GARBAGE_DATA))
        view = rng.choice(views)
        action = rng.choice(("c", "h", "r", "x", "d", "n", "k", "v"))
        data = f"{action}:{view.id}"
        if action == "k":
            data += f":{rng.choice(('yes', 'no'))}"
        owner = view.chat_id
        return self.callback(
            "forged", spec, user_id, data, forged_sub=view.id if owner != spec.id else None
        )

    # --- running and checking -------------------------------------------------------------

    def violation(self, planned: Planned | None, message: str) -> None:
        number = f"#{self.step_no}" if self.step_no >= 0 else "of the setup"
        where = f"update {number} ({planned.kind} in {planned.chat.tag})" if planned else ""
        self.violations.append(f"{where}: {message}")

    async def run_one(self, planned: Planned) -> None:
        env = self.env
        spec = planned.chat
        if planned.user_id is not None:
            self.actors[spec.id].add(planned.user_id)
        if planned.text:
            self.mentioned[spec.id] |= mentioned_tokens(planned.text)
        query = planned.update.callback_query
        if query is not None and query.data:
            self.mentioned[spec.id] |= mentioned_tokens(query.data)
        before_sub = (
            await env.storage.get_subscription(planned.forged_sub)
            if planned.forged_sub is not None
            else None
        )
        if before_sub is not None and before_sub.chat_id == spec.id:
            before_sub = None  # the id was reused by this chat meanwhile: not forged any more
        hits_before = sum(env.carriers.hits.values())
        count_before = await env.storage.count_subscriptions(spec.id)
        self.history.append(f"#{self.step_no} {self.describe(planned)}")
        try:
            await asyncio.wait_for(env.send(planned.update), SEND_TIMEOUT)
        except TimeoutError:
            self.violation(planned, f"no answer within {SEND_TIMEOUT} s")
        calls = self.new_calls()
        self.check_calls(calls, planned)
        if before_sub is not None and query is not None:
            self.forged_checked += 1
            after = await env.storage.get_subscription(before_sub.id)
            fields = ("chat_id", "label", "added_by", "archived_at")
            if after is None or any(getattr(after, f) != getattr(before_sub, f) for f in fields):
                self.violation(planned, f"forged {query.data!r} changed {before_sub} -> {after}")
            spoken = [c.method for c in calls if c.method not in {"answerCallbackQuery"}]
            if spoken:
                self.violation(planned, f"forged {query.data!r} made the bot call {spoken}")
        if planned.is_message and not extract_numbers(planned.text):
            if sum(env.carriers.hits.values()) != hits_before:
                self.violation(planned, "a message without a valid number reached a carrier")
            if await env.storage.count_subscriptions(spec.id) > count_before:
                self.violation(planned, "a message without a valid number added a parcel")
            if planned.kind == "typo":
                self.typo_checked += 1
        if planned.kind == "inline":
            self.inline_checked += 1
            if sum(env.carriers.hits.values()) != hits_before:
                self.violation(planned, "an inline query reached a carrier")
            if not any(c.method == "answerInlineQuery" for c in calls):
                self.violation(planned, "an inline query got no answer")
        sent = [c for c in calls if c.method in {"sendMessage", "editMessageText"}]
        if planned.silent and sent:
            self.violation(planned, f"expected silence, got {[c.text[:60] for c in sent]}")
        if planned.unknown_command:
            language = self.env.app.chat_data[spec.id].get(LANGUAGE_KEY) or "uk"
            expected = self.unknown_texts[language]
            self.unknown_checked += 1
            if [c.text for c in sent] != [expected]:
                self.violation(planned, f"admin command answered {[c.text[:80] for c in sent]}")
        self.schedule_followups(planned, calls)

    def describe(self, planned: Planned) -> str:
        update = planned.update
        if update.callback_query is not None:
            what = f"data={update.callback_query.data!r}"
        elif update.effective_message is not None:
            message = update.effective_message
            body = message.text if message.text is not None else f"caption={message.caption!r}"
            what = f"{'edited ' if update.edited_message else ''}{str(body)[:100]!r}"
        elif update.inline_query is not None:
            query = update.inline_query
            what = f"inline {query.query[:60]!r} offset={query.offset!r}"
        else:
            what = "membership change"
        return f"{planned.kind} chat={planned.chat.id} user={planned.user_id} {what}"

    def new_calls(self) -> list[Call]:
        calls = self.env.telegram.calls[self.call_index :]
        self.call_index = len(self.env.telegram.calls)
        return calls

    def chat_of(self, call: Call) -> int | None:
        if "chat_id" in call.params:
            chat_id = int(call.params["chat_id"])
            return self.aliases.get(chat_id, chat_id)
        query_id = call.params.get("callback_query_id") or call.params.get("inline_query_id")
        return self.query_chat.get(str(query_id)) if query_id is not None else None

    def check_calls(self, calls: list[Call], planned: Planned | None) -> None:
        tags = {spec.id: spec.tag for spec in (*ACTIVE, *VICTIMS, CHANNEL)}
        for call in calls:
            for problem in telegram_problems(call):
                self.violation(planned, f"{problem}; text={call.text[:120]!r}")
            chat_id = self.chat_of(call)
            if chat_id is None:
                continue
            dumped = json.dumps(call.params, ensure_ascii=False, default=str)
            if "Traceback" in dumped or any(s in dumped for s in self.sorry_texts):
                self.violation(planned, f"error text sent to {chat_id}: {call.text[:200]!r}")
            for tag in set(_LABEL_TAG.findall(dumped)):
                self.own_labels_seen += tag == tags.get(chat_id)
                if tag != tags.get(chat_id):
                    self.violation(
                        planned, f"label of {tag} sent to chat {chat_id}: {dumped[:300]}"
                    )
            for token in set(_TOKEN.findall(dumped)):
                owner = self.owner.get(token)
                if owner is not None and owner != chat_id and token not in self.mentioned[chat_id]:
                    self.violation(planned, f"number {token} of chat {owner} sent to {chat_id}")
            if chat_id in self.buttons:
                self.buttons[chat_id].extend(buttons_of(call.params))

    def schedule_followups(self, planned: Planned, calls: list[Call]) -> None:
        """Answer the bot's questions the way a person would, most of the time."""
        spec, user_id = planned.chat, planned.user_id
        if user_id is None or spec is CHANNEL:
            return
        for call in calls:
            if call.method != "sendMessage" or self.chat_of(call) != spec.id:
                continue
            markup = call.params.get("reply_markup") or {}
            if isinstance(markup, str):
                markup = json.loads(markup)
            data = buttons_of(call.params)
            if markup.get("force_reply") and self.rng.random() < 0.7:
                text = self.label(spec) if self.rng.random() < 0.8 else "/cancel"
                self.followups.append(partial(self.text_update, "followup", spec, user_id, text))
            elif any(d.startswith(("sa:", "fg:")) for d in data) and self.rng.random() < 0.6:
                answer = "yes" if self.rng.random() < 0.25 else "no"
                choice = next(d for d in data if d.endswith(answer))
                self.followups.append(partial(self.callback, "followup", spec, user_id, choice))

    async def step(self) -> None:
        rng = self.rng
        planned: Planned | None = None
        if self.followups and rng.random() < 0.8:
            planned = self.followups.pop(0)()
        else:
            self.followups.clear()  # the person walked away from the question
            kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
            planned = await self.plan(kind, rng.choice(ACTIVE))
            if planned is None:  # nothing to edit yet
                planned = await self.plan("text", rng.choice(ACTIVE))
        assert planned is not None
        self.kinds[planned.kind] += 1
        await self.run_one(planned)

    async def drain(self) -> None:
        """Send queued notifications (refresh buttons queue them for the other subscribers)."""
        await self.env.app.bot_data.notifier.drain()
        self.check_calls(self.new_calls(), None)


async def setup_world(fuzzer: Fuzzer) -> dict[int, list[tuple[Any, ...]]]:
    """Give every chat its numbers, let the victims follow parcels, and snapshot the victims."""
    env = fuzzer.env
    env.carriers.set(
        "ukrposhta",
        UP,
        FakeEvent("10100", T0, "DKD KYIV", "Прийнято <b>&"),
        FakeEvent("21700", T0 + timedelta(days=1), "ODESA 1 <script>"),
    )
    env.carriers.set("inpost", INPOST, FakeEvent("ready_to_pickup", T0, "Kraków & <Wawel>"))
    env.carriers.set("nova-poshta", NP, FakeEvent("7", T0, "Відділення №1 <i>"))
    env.carriers.set("gdeposylka", AMBIGUOUS, FakeEvent("delivered", T0, "Warsaw"))
    for spec in (*ACTIVE, *VICTIMS):
        for carrier in ("ukrposhta", "nova-poshta", "inpost", "ukrposhta", "inpost"):
            fuzzer.give(spec.id, fuzzer.new_number(carrier))
        up, np, inpost = fuzzer.pools[spec.id][:3]
        env.carriers.set("ukrposhta", up, FakeEvent("21700", T0, f"{spec.tag} POST"))
        env.carriers.set("nova-poshta", np, FakeEvent("9", T0, "Відділення №7"))
        env.carriers.set("inpost", inpost, FakeEvent("delivered", T0, "Paczkomat"))
    kilo, lima = VICTIMS
    kilo_up, kilo_np, kilo_inpost = fuzzer.pools[kilo.id][:3]
    lima_up = fuzzer.pools[lima.id][0]
    setup = [
        (kilo, 301, f"{UP} LBL-KILO-parcel"),
        (kilo, 301, f"{kilo_np} LBL-KILO-gift"),
        (kilo, 301, f"{kilo_inpost}\n{kilo_up} LBL-KILO-shoes"),
        (kilo, 301, "/quiet 23-7"),
        (lima, 302, f"/track {NP} LBL-LIMA-office"),
        (lima, 302, f"/track {lima_up} LBL-LIMA-chairs"),
        (lima, 302, f"/track {INPOST} LBL-LIMA-box"),
    ]
    for spec, user_id, text in setup:
        await fuzzer.run_one(fuzzer.text_update("setup", spec, user_id, text))
    return {spec.id: await snapshot(env, spec.id) for spec in VICTIMS}


async def snapshot(env: BotEnv, chat_id: int) -> list[tuple[Any, ...]]:
    """Return everything stored about a chat's subscriptions and settings."""
    storage = env.storage
    views = await storage.list_subscriptions(chat_id, limit=10_000)
    views += await storage.list_subscriptions(chat_id, archived=True, limit=10_000)
    chat = await storage.get_chat(chat_id)
    rows: list[tuple[Any, ...]] = [
        (v.id, v.label, v.added_by, v.archived_at, v.parcel.number) for v in views
    ]
    assert chat is not None
    rows.append((chat.language, chat.quiet_start, chat.quiet_end, chat.blocked, chat.active))
    return sorted(rows, key=repr)


async def make_refresh_find_news(fuzzer: Fuzzer, round_no: int) -> None:
    """Backdate the shared parcels' last check and give them a new event.

    The next Refresh press then asks the carrier and queues notifications for every other
    chat that follows the parcel, so the notifier's answers are checked as well.
    """
    env = fuzzer.env
    past = datetime.now(UTC) - timedelta(minutes=10)
    for carrier, number, code in (
        ("ukrposhta", UP, "41000"),
        ("inpost", INPOST, "delivered" if round_no % 2 else "out_for_delivery"),
        ("nova-poshta", NP, "9" if round_no % 2 else "101"),
    ):
        env.carriers.add(carrier, number, FakeEvent(code, T0 + timedelta(days=round_no + 2)))
        views = await env.storage.list_subscriptions(VICTIMS[0].id, limit=100)
        views += await env.storage.list_subscriptions(VICTIMS[1].id, limit=100)
        for view in views:
            if view.parcel.number == number:
                await env.storage.record_lookup(
                    view.parcel.id,
                    checked_at=past,
                    status=view.parcel.status,
                    next_check_at=past + timedelta(days=1),
                    check_interval=60.0,
                    notify=False,
                )
                break


async def final_checks(fuzzer: Fuzzer, victims: dict[int, list[tuple[Any, ...]]]) -> None:
    """Check what storage holds after the run: every row belongs where it was written."""
    env = fuzzer.env
    storage = env.storage
    total = 0
    for spec in (*ACTIVE, *VICTIMS, CHANNEL):
        ids = [spec.id, *(new for new, old in fuzzer.aliases.items() if old == spec.id)]
        views = []
        for chat_id in ids:
            views += await storage.list_subscriptions(chat_id, limit=10_000)
            views += await storage.list_subscriptions(chat_id, archived=True, limit=10_000)
        total += len(views)
        for view in views:
            where = f"subscription {view.id} of chat {spec.tag}"
            if view.chat_id not in ids:
                fuzzer.violation(None, f"{where} is stored under chat {view.chat_id}")
            foreign = {t for t in _LABEL_TAG.findall(view.label or "") if t != spec.tag}
            if foreign:
                fuzzer.violation(None, f"{where} carries a label of {foreign}: {view.label!r}")
            if view.added_by is not None and view.added_by not in fuzzer.actors[spec.id]:
                fuzzer.violation(None, f"{where} was added by {view.added_by}, not a chat member")
            number = view.parcel.number
            if number not in SHARED and number not in fuzzer.mentioned[spec.id]:
                fuzzer.violation(None, f"{where} follows {number}, which the chat never sent")
    totals = await storage.subscription_totals()
    if totals["active"] + totals["archived"] != total:
        fuzzer.violation(
            None, f"storage holds subscriptions of unknown chats: {totals} vs {total}"
        )
    for spec in VICTIMS:
        after = await snapshot(env, spec.id)
        if after != victims[spec.id]:
            fuzzer.violation(None, f"victim {spec.tag} changed: {victims[spec.id]} -> {after}")


async def test_fuzzed_updates_never_crash_nor_cross_chats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The fake Bot API answers at once; Telegram's flood limits (30 messages/s, 20 per minute
    # in a group) would turn 10,000 updates into hours and are not what this test is about.
    monkeypatch.setattr(
        "bot.app.AIORateLimiter",
        lambda **options: AIORateLimiter(
            overall_max_rate=0, group_max_rate=0, max_retries=options.get("max_retries", 0)
        ),
    )
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    async with running_bot(tmp_path) as env:
        env.telegram.admins.update(ADMINS)
        fuzzer = Fuzzer(env, Random(SEED))
        victims = await setup_world(fuzzer)
        for fuzzer.step_no in range(UPDATES):
            await fuzzer.step()
            if fuzzer.step_no % 250 == 249:
                await fuzzer.drain()
            if fuzzer.step_no % 1000 == 500:
                await make_refresh_find_news(fuzzer, fuzzer.step_no // 1000)
            if fuzzer.step_no % 700 == 350:
                env.carriers.faults.clear()
                if fuzzer.rng.random() < 0.5:
                    carrier = fuzzer.rng.choice(CARRIER_NAMES)
                    env.carriers.faults[carrier] = fuzzer.rng.choice(FAULTS)
        env.carriers.faults.clear()
        await fuzzer.drain()
        await final_checks(fuzzer, victims)
        sent = len(env.telegram.sent()) + len(env.telegram.sent("editMessageText"))
        hits = sum(env.carriers.hits.values())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    for record in errors[:5]:
        fuzzer.violation(None, f"logged {record.levelname} {record.name}: {record.getMessage()}")
    elapsed = time.monotonic() - started
    print(
        f"\nfuzz seed={SEED}: {sum(fuzzer.kinds.values())} updates in {elapsed:.1f} s, "
        f"{sent} messages sent or edited, {hits} carrier requests, "
        f"{fuzzer.forged_checked} forged buttons checked, {fuzzer.typo_checked} typos checked, "
        f"{fuzzer.unknown_checked} admin commands checked, "
        f"{fuzzer.own_labels_seen} answers showing a chat its own labels"
    )
    print("mix:", dict(fuzzer.kinds.most_common()))
    print("buttons pressed:", dict(fuzzer.pressed.most_common()))
    assert sum(fuzzer.kinds.values()) == UPDATES
    assert fuzzer.forged_checked > 500, "too few forged buttons pointed at another chat"
    assert fuzzer.typo_checked > 300, "too few mistyped numbers were checked"
    assert fuzzer.inline_checked > 150, "too few inline queries were checked"
    assert fuzzer.own_labels_seen > 500, "too few answers carried labels to check for leaks"
    assert not fuzzer.violations, (
        f"seed={SEED} (replay with FUZZ_SEED={SEED}): {len(fuzzer.violations)} problems, "
        + f"{len(errors)} errors logged:\n"
        + "\n".join(fuzzer.violations[:25])
        + "\nlast updates:\n"
        + "\n".join(fuzzer.history)
    )


@pytest.mark.parametrize(
    "argument",
    [
        "&" * 4090,  # the whole message is 4096 characters, as much as Telegram delivers
        "\ufdfa" * 300,  # NFKC turns each of these into 18 characters
    ],
    ids=["ampersands", "nfkc-expansion"],
)
async def test_stop_with_an_unknown_argument_fits_one_message(
    tmp_path: Path, argument: str
) -> None:
    # Found by the fuzz test: "/stop X" answers "This chat does not follow X." with X in full,
    # which Telegram refuses ("message is too long") once X is long enough.
    async with running_bot(tmp_path) as env:
        await env.send(make_message(f"/stop {argument}"))
        [answer] = env.telegram.sent()
        assert telegram_problems(answer) == []
