"""Read tracking requests out of a message: numbers, their labels, and rejected look-alikes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.carriers.detect import (
    SHORT_GROUP_CHARS,
    extract_numbers,
    fails_a_check,
    is_other_number,
    is_word,
    looks_like_number,
    names_other_number,
    names_parcel_number,
    normalize,
)

MAX_LABEL = 64
_MIN_GROUPED = 11  # characters of a grouped look-alike worth calling an invalid number
_TRAILING = ".,;:!?)»\"'"
_LEADING = "№#(«\"'"
_LABEL_TRIM = " \t-–—:;,.()[]|#*•\"'«»“”„"
# A line of at most this many words may be a number typed on its own ("трек RA… пж"); in a
# longer one, only what follows a word announcing a parcel is called a mistyped number.
_SHORT_LINE = 4


@dataclass(frozen=True, slots=True)
class Request:
    """One number the user wants followed, with an optional label."""

    number: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Everything found in one message."""

    requests: tuple[Request, ...]
    overflow: int = 0  # numbers beyond the cap, not processed
    rejected: tuple[str, ...] = field(default=())  # tokens that look like numbers but fail rules
    # Labels of rejected tokens that start a line ("AB1234567890XY phone case"), by number.
    rejected_labels: Mapping[str, str] = field(default_factory=dict)


def parse_message(text: str, limit: int) -> ParsedMessage:
    """Find every number in a message; a line that starts with a number labels it with the rest."""
    numbers = extract_numbers(text)
    labels: dict[str, str] = {}
    for line in text.splitlines()[:200]:
        found = _leading_number(line)
        if found:
            labels.setdefault(*found)
    rejected: tuple[str, ...] = ()
    rejected_labels: dict[str, str] = {}
    if numbers:
        # A mistyped number beside good ones is named too, so it is not dropped without a word.
        lookalikes = dict.fromkeys(_lookalike_tokens(text))
        rejected = tuple(t for t in lookalikes if not _holds_any(normalize(t), numbers))
        labels, rejected = _labels_or_typos(labels, rejected)
        rejected = rejected[:5]
    requests = tuple(Request(n, labels.get(n)) for n in numbers[:limit])
    if not numbers:
        rejected = tuple(dict.fromkeys([*_lookalike_tokens(text), *_grouped_lookalikes(text)]))[:5]
        for line in text.splitlines()[:200]:
            tokens = line.strip().split()[:40]
            if len(tokens) > 1 and looks_like_number(tokens[0]):
                label = " ".join(tokens[1:]).strip(_LABEL_TRIM)[:MAX_LABEL].strip()
                if label:
                    rejected_labels.setdefault(normalize(tokens[0]), label)
    return ParsedMessage(requests, max(0, len(numbers) - limit), rejected, rejected_labels)


def _labels_or_typos(
    labels: dict[str, str], rejected: tuple[str, ...]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Decide whether number-like words after a number are its label or mistyped numbers.

    A label made only of them ("2040… 0500100031144") is mistyped numbers, named as such; from
    one with a rule's exact shape and a failed check digit on, a label is mistyped numbers too
    ("0500100031143 boots 0500100031144": the label is "boots"); one with other words too
    ("RA… 12345678 order") is a label, and its numbers are not called typos.
    """
    typos = {normalize(t) for t in rejected}
    named: set[str] = set()
    kept: dict[str, str] = {}
    for number, label in labels.items():
        words = label.split()
        keys = [normalize(word.strip(_TRAILING)) for word in words]
        if set(keys) <= typos:
            continue
        failed = [i for i, key in enumerate(keys) if key in typos and fails_a_check(key)]
        if failed:
            words, keys = words[: failed[0]], keys[: failed[0]]
            label = " ".join(words).strip(_LABEL_TRIM)
            if not label or set(keys) <= typos:
                continue
        kept[number] = label
        named |= set(keys)
    return kept, tuple(t for t in rejected if normalize(t) not in named)


def _holds_any(token: str, numbers: list[str]) -> bool:
    """Tell whether a normalised token contains one of the numbers found ("RA…UA-1")."""
    return any(number in token for number in numbers)


def _lookalike_tokens(text: str) -> list[str]:
    """Return unbroken tokens that look like a mistyped number where the user meant one.

    Only on a short line ("трек RA067022856UA пж"), at the start of a line, or right after a
    word that announces a parcel ("ТТН …"): a shop e-mail's order numbers, IDs and codes are
    not typos, nor are phone numbers and IBANs.
    """
    found: list[str] = []
    for line in text.splitlines()[:200]:
        tokens = line.split()[:40]
        for index, token in enumerate(tokens):
            core = token.strip(_TRAILING).lstrip(_LEADING)
            if not looks_like_number(core) or is_other_number([core]):
                continue
            if names_other_number(_leading_letters(core)):
                continue  # "IMEI356938035643809", "ІПН3012584476": a label glued to its number
            if _meant(tokens, index):
                found.append(core)
    return found


def _leading_letters(token: str) -> str:
    """Return the letters a token starts with ("IMEI" of "IMEI356938035643809"; maybe none)."""
    end = 0
    while end < len(token) and token[end].isalpha():
        end += 1
    return token[:end]


def _meant(tokens: list[str], index: int) -> bool:
    """Tell whether the token at index was likely meant as a number: see _lookalike_tokens."""
    if any(names_other_number(word) for word in tokens[max(0, index - 2) : index]):
        return False  # "ЄДРПОУ 37193071", "Номер замовлення: 65f1a9…"
    if len(tokens) <= _SHORT_LINE or index == 0:
        return True
    return names_parcel_number(tokens[index - 1].strip(_LABEL_TRIM))


def _grouped_lookalikes(text: str) -> list[str]:
    """Return runs of short groups that look like a number once joined ("0500 1000 3114 4").

    A grouped number with a typo is then answered as an invalid number, like an unbroken one.
    """
    found: list[str] = []
    for line in text.splitlines()[:200]:
        run: list[str] = []
        tokens = line.split()[:40]
        meant = False
        for index, token in enumerate([*tokens, ""]):
            group = token.rstrip(_TRAILING)
            # Words end a run ("ТТН 0500…"), but not a number's letters ("RA 067 … UA"), and
            # neither does a label of another number ("IMEI 8686 8928 …" is no mistyped one).
            if (
                0 < len(group) <= SHORT_GROUP_CHARS
                and group.isalnum()
                and not is_word(group)
                and not names_other_number(group)
            ):
                if not run:
                    meant = _meant(tokens, index)
                run.append(group)
                if group == token:
                    continue
            joined = "".join(run)
            # 11 or more characters: shorter runs are phone numbers, sizes, amounts.
            if (
                meant
                and len(run) > 1
                and len(joined) >= _MIN_GROUPED
                and looks_like_number(joined)
                and not is_other_number(run)
            ):
                found.append(normalize(joined))
            run = []
    return found


def _leading_number(line: str) -> tuple[str, str] | None:
    """Return (number, label) when the line starts with exactly one number and has more text."""
    tokens = line.strip().split()[:40]
    for end in range(1, min(len(tokens), 8) + 1):
        head = " ".join(tokens[:end])
        found = extract_numbers(head)
        if len(found) == 1 and normalize(head) == found[0]:
            label = " ".join(tokens[end:]).strip(_LABEL_TRIM)[:MAX_LABEL].strip()
            if label and not extract_numbers(label):
                return found[0], label
            return None
    return None
