"""Logging: one line per event, and no secret ever reaches a log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from urllib.parse import quote

REDACTED = "***"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Redactor:
    """Mask every secret of at least 4 characters, also JSON-, repr- or URL-escaped."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in (s for s in secrets if len(s) >= 4):
            escaped = json.dumps(secret)[1:-1]  # a secret with quotes inside a JSON string
            forms |= {secret, escaped, json.dumps(escaped)[1:-1], repr(secret)[1:-1]}
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
            # In a URL: the bot token's ":" is "%3A" in file download links.
            forms |= {quote(secret, safe=""), quote(secret)}
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """Return the text with every secret replaced by ***."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class OneLineRedactingFormatter(logging.Formatter):
    """Format records on one line (tracebacks folded with " | ") and mask every secret."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(FORMAT)
        self._redact = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """Format, fold newlines, then redact (the traceback too)."""
        # Masked before folding, so a secret with a line break in it is still found.
        return self._redact(super().format(record)).replace("\r", "").replace("\n", " | ")


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    """Send every log record to stderr through the redacting one-line formatter."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineRedactingFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and Bot API URLs contain the token; even though
    # the formatter would mask it, these lines are noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
