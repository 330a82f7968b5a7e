"""A broadcast to 2,000 chats survives two SIGKILLs: everyone gets it once, plus ≤ 1 per kill."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from storage import open_storage
from tests.process import loopback_services, start_bot, stop_bot, wait_until

ADMIN = 7
CHATS = 2000
TEXT = "📣 <b>Planned maintenance</b> tonight"


async def test_broadcast_resumes_after_kills(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    storage = await open_storage(database)
    await storage.upsert_chat(ADMIN, "private", "en")
    recipients = list(range(10_000, 10_000 + CHATS))
    for chat_id in recipients:
        await storage.upsert_chat(chat_id, "private", "uk")
    await storage.create_broadcast(ADMIN, TEXT, "all", recipients)
    await storage.close()

    async with loopback_services(database, "123456:BROADCAST-TOKEN") as (api, _carriers, env):
        env.update(ADMIN_IDS=str(ADMIN), BROADCAST_RATE="400", POLL_TICK_SECONDS="3600")
        log = tmp_path / "bot.log"

        def copies() -> Counter[int]:
            return Counter(int(p["chat_id"]) for p in api.sent() if p.get("text") == TEXT)

        kills = 0
        process = None
        try:
            for threshold in (CHATS // 3, 2 * CHATS // 3):
                process = await start_bot(env, log)
                assert await wait_until(lambda t=threshold: sum(copies().values()) >= t, 60), (
                    log.read_text()[-3000:]
                )
                await stop_bot(process, signal.SIGKILL)
                kills += 1
            process = await start_bot(env, log)
            assert await wait_until(lambda: len(copies()) >= CHATS, 60), log.read_text()[-3000:]
            assert await wait_until(lambda: any("is finished" in t for t in api.texts(ADMIN)), 20)
            assert await stop_bot(process, signal.SIGTERM) == 0
        finally:
            if process is not None and process.returncode is None:
                await stop_bot(process, signal.SIGKILL)

    received = copies()
    assert set(received) == set(recipients)  # nobody skipped
    extra = sum(count - 1 for count in received.values())
    assert extra <= kills  # at most the one message in flight at each kill
    report = next(t for t in reversed(api.texts(ADMIN)) if "is finished" in t)
    assert f"Sent: {CHATS}" in report
