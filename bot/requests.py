"""Read tracking requests out of a message: numbers, their labels, and rejected look-alikes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.carriers.detect import (
    SHORT_GROUP_CHARS,
    extract_numbers,
    is_other_number,
    is_word,
    looks_like_number,
    normalize,
)

MAX_LABEL = 64
_MIN_GROUPED = 11  # characters of a grouped look-alike worth calling an invalid number
_TRAILING = ".,;:!?)»\"'"
_LABEL_TRIM = " \t-–—:;,.()[]|#*•"


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
    requests = tuple(Request(n, labels.get(n)) for n in numbers[:limit])
    rejected: tuple[str, ...] = ()
    rejected_labels: dict[str, str] = {}
    if not numbers:
        tokens = [token for token in text.split()[:200] if looks_like_number(token)]
        rejected = tuple(dict.fromkeys([*tokens, *_grouped_lookalikes(text)]))[:5]
        for line in text.splitlines()[:200]:
            tokens = line.strip().split()[:40]
            if len(tokens) > 1 and looks_like_number(tokens[0]):
                label = " ".join(tokens[1:]).strip(_LABEL_TRIM)[:MAX_LABEL].strip()
                if label:
                    rejected_labels.setdefault(normalize(tokens[0]), label)
    return ParsedMessage(requests, max(0, len(numbers) - limit), rejected, rejected_labels)


def _grouped_lookalikes(text: str) -> list[str]:
    """Return runs of short groups that look like a number once joined ("0500 1000 3114 4").

    A grouped number with a typo is then answered as an invalid number, like an unbroken one.
    """
    found: list[str] = []
    for line in text.splitlines()[:200]:
        run: list[str] = []
        for token in [*line.split()[:40], ""]:
            group = token.rstrip(_TRAILING)
            # Words end a run ("ТТН 0500…"), but not a number's letters ("RA 067 … UA").
            if 0 < len(group) <= SHORT_GROUP_CHARS and group.isalnum() and not is_word(group):
                run.append(group)
                if group == token:
                    continue
            joined = "".join(run)
            # 11 or more characters: shorter runs are phone numbers, sizes, amounts.
            if (
                len(run) > 1
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
