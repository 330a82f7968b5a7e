"""The one place where HTTP failures become carrier errors."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.carriers.errors import (
    CarrierAuthError,
    CarrierRateLimited,
    CarrierResponseError,
    CarrierUnavailable,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5, sock_read=10)
MAX_BODY_BYTES = 5 * 1024 * 1024  # a tracking answer is kilobytes; more means something broke


@dataclass(frozen=True, slots=True)
class JsonResponse:
    """A decoded JSON answer and its HTTP status."""

    status: int
    body: Any


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    carrier: str,
    accept: frozenset[int] = frozenset(),
    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - aiohttp's own timeout
    **kwargs: Any,
) -> JsonResponse:
    """Send a request and return its JSON, mapping every failure into the carrier error tree.

    2xx answers and the statuses in ``accept`` (which a carrier interprets itself, e.g. 404 as
    "not found") are returned decoded. Credentials live in headers or bodies, never in what
    this function logs or raises.

    Raises:
        CarrierUnavailable: timeout, connection failure, 5xx, truncated body.
        CarrierRateLimited: HTTP 429.
        CarrierAuthError: HTTP 401 or 403.
        CarrierResponseError: any other status, or a body that is not JSON.
    """
    try:
        async with session.request(method, url, timeout=timeout, **kwargs) as response:
            status = response.status
            raw = await _read_limited(response, carrier)
            retry_after = response.headers.get("Retry-After")
    except TimeoutError as err:
        raise CarrierUnavailable(carrier, "timed out") from err
    except aiohttp.ClientError as err:
        raise CarrierUnavailable(carrier, f"network error: {type(err).__name__}") from err

    if status == 429:
        raise CarrierRateLimited(carrier, "HTTP 429", _seconds(retry_after))
    if status >= 500:
        raise CarrierUnavailable(carrier, f"HTTP {status}")
    if status in (401, 403) and status not in accept:
        raise CarrierAuthError(carrier, f"HTTP {status}")
    if not (200 <= status < 300 or status in accept):
        raise CarrierResponseError(carrier, f"unexpected HTTP {status}")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise CarrierResponseError(carrier, f"HTTP {status} with a body that is not JSON") from err
    return JsonResponse(status, body)


async def _read_limited(response: aiohttp.ClientResponse, carrier: str) -> bytes:
    """Read the body, refusing absurd sizes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise CarrierResponseError(carrier, "answer too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _seconds(value: str | None) -> float | None:
    """Read a Retry-After header given in seconds."""
    try:
        return float(value) if value else None
    except ValueError:
        return None


async def gather_limited(limit: int, *aws: Any) -> list[Any]:
    """Await coroutines with at most ``limit`` running at once, returning exceptions as values."""
    semaphore = asyncio.Semaphore(limit)

    async def run(aw: Any) -> Any:
        async with semaphore:
            return await aw

    return list(await asyncio.gather(*(run(aw) for aw in aws), return_exceptions=True))
