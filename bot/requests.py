"""Read tracking requests out of a message: numbers, their labels, and rejected look-alikes."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.carriers.detect import extract_numbers, looks_like_number, normalize

MAX_LABEL = 64
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
    if not numbers:
        rejected = tuple(token for token in text.split()[:200] if looks_like_number(token))[:5]
    return ParsedMessage(requests, max(0, len(numbers) - limit), rejected)


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
