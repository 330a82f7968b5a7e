"""Webhook mode as a real process: registration, secret-token check, deregistration."""

from __future__ import annotations

import re
import signal
import socket
from pathlib import Path

import aiohttp

from tests.process import loopback_services, start_bot, stop_bot, wait_until

SECRET = "webhook-Secret_42"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def update(update_id: int, text: str) -> dict:  # type: ignore[type-arg]
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": 77, "type": "private"},
            "from": {"id": 77, "is_bot": False, "first_name": "W", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def test_webhook_mode(tmp_path: Path) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/telegram/hook"
    log = tmp_path / "bot.log"
    async with loopback_services(tmp_path / "bot.sqlite3", "123456:WEBHOOK-TOKEN") as (
        api,
        _carriers,
        env,
    ):
        env.update(WEBHOOK_URL=hook, WEBHOOK_SECRET=SECRET, PORT=str(port), LOG_LEVEL="DEBUG")
        process = await start_bot(env, log)
        try:
            assert await wait_until(lambda: bool(api.sent("setWebhook"))), log.read_text()
            [registered] = api.sent("setWebhook")
            assert registered["url"] == hook
            assert registered["secret_token"] == SECRET
            async with aiohttp.ClientSession() as session:
                for _ in range(100):  # the listener starts right after registration
                    try:
                        async with session.post(
                            hook,
                            json=update(1, "/help"),
                            headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                        ) as forged:
                            forged_status = forged.status
                        break
                    except aiohttp.ClientConnectionError:
                        await wait_until(lambda: False, 0.05)
                assert forged_status == 403
                async with session.post(
                    hook,
                    json=update(2, "/help"),
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                ) as genuine:
                    assert genuine.status == 200
            assert await wait_until(lambda: bool(api.texts(77))), log.read_text()
            assert len(api.texts(77)) == 1  # the forged update was not processed
            assert await stop_bot(process, signal.SIGTERM) == 0
        finally:
            if process.returncode is None:
                await stop_bot(process, signal.SIGKILL)
    assert api.sent("deleteWebhook")
    output = log.read_text()
    for secret in ("WEBHOOK-TOKEN", SECRET, "up-secret-token", "gp-secret-token"):
        assert secret not in output
    # One line per event: every line starts with its own timestamp, tracebacks included.
    assert all(re.match(r"\d{4}-\d\d-\d\d ", line) for line in output.splitlines())
