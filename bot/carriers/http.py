"""The one place where HTTP failures become carrier errors."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
MAX_CAPTURED_CHARS = 200_000  # of one answer in an admin's capture


@dataclass(frozen=True, slots=True)
class Exchange:
    """One carrier request as an admin's capture keeps it (headers, with credentials, are not)."""

    carrier: str
    method: str
    url: str
    request: str | None  # the JSON or form body sent, if any
    status: int | None  # None when no answer came
    answer: str  # the body as text, or what went wrong


_CAPTURE: ContextVar[list[Exchange] | None] = ContextVar("carrier_capture", default=None)


@contextmanager
def captured() -> Iterator[list[Exchange]]:
    """Record every carrier request made inside the block, and in the tasks it starts."""
    exchanges: list[Exchange] = []
    token = _CAPTURE.set(exchanges)
    try:
        yield exchanges
    finally:
        _CAPTURE.reset(token)


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
    capture = _CAPTURE.get()
    try:
        async with session.request(method, url, timeout=timeout, **kwargs) as response:
            status = response.status
            raw = await _read_limited(response, carrier)
            retry_after = response.headers.get("Retry-After")
            if capture is not None:  # an admin's /raw: off on every other path
                capture.append(_exchange(carrier, method, str(response.url), kwargs, status, raw))
    except TimeoutError as err:
        if capture is not None:
            capture.append(_exchange(carrier, method, url, kwargs, None, b"timed out"))
        raise CarrierUnavailable(carrier, "timed out") from err
    except aiohttp.ClientError as err:
        if capture is not None:
            capture.append(_exchange(carrier, method, url, kwargs, None, repr(err).encode()))
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


def _exchange(
    carrier: str, method: str, url: str, kwargs: dict[str, Any], status: int | None, raw: bytes
) -> Exchange:
    """Describe one request for a capture."""
    sent = kwargs.get("json", kwargs.get("data"))
    request = None if sent is None else json.dumps(sent, ensure_ascii=False, default=str)
    answer = raw.decode("utf-8", "replace")[:MAX_CAPTURED_CHARS]
    return Exchange(carrier, method, url, request, status, answer)


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
