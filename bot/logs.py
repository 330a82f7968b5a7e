"""Logging: one line per event, and no secret ever reaches a log line."""

from __future__ import annotations

import logging
from collections.abc import Iterable

REDACTED = "***"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class OneLineRedactingFormatter(logging.Formatter):
    """Format records on one line (tracebacks folded with " | ") and mask every secret."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(FORMAT)
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        """Format, fold newlines, then redact (the traceback too)."""
        text = super().format(record).replace("\r", "").replace("\n", " | ")
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


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
