"""Shared fixtures: an aiohttp client session and the fixtures folder."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

FIXTURES = Path(__file__).parent / "fixtures"

# As in production (bot.__main__): RetryAfter.retry_after is a timedelta, without warnings.
os.environ.setdefault("PTB_TIMEDELTA", "1")


def load_fixture(carrier: str, name: str) -> Any:
    """Return a JSON fixture copied from a carrier's documents."""
    return json.loads((FIXTURES / carrier / name).read_text(encoding="utf-8"))


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session
