"""Admin broadcast and stats: the conversation, delivery, pacing, failures, and secrecy."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Chat
from telegram.error import Forbidden, RetryAfter, TimedOut

from bot.broadcast import BroadcastRunner, html_problem
from bot.i18n import Catalogs
from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent
from tests.telegram_fakes import make_callback, make_chat, make_message, make_user

ADMIN = 7


@pytest.fixture
async def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_bot(tmp_path, ADMIN_IDS=str(ADMIN), BROADCAST_RATE="200") as bot_env:
        storage = bot_env.storage
        await storage.upsert_chat(ADMIN, "private", "en")
        for chat_id, kind, language in (
            (1, "private", "uk"),
            (2, "private", "en"),
            (3, "private", "ru"),
            (-10, "supergroup", "uk"),
            (-11, "group", "en"),
        ):
            await storage.upsert_chat(chat_id, kind, language)
        yield bot_env


def admin_says(text: str):  # type: ignore[no-untyped-def]
    return make_message(text, user=make_user(ADMIN, "en"))


def admin_presses(data: str):  # type: ignore[no-untyped-def]
    return make_callback(data, user=make_user(ADMIN, "en"))


def buttons(params: dict) -> list[str]:  # type: ignore[type-arg]
    markup = params.get("reply_markup")
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return [b["callback_data"] for row in (markup or {}).get("inline_keyboard", []) for b in row]


async def wait_finished(env: BotEnv) -> None:
    for _ in range(200):
        if not await env.storage.running_broadcasts():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the broadcast did not finish")


async def test_admin_commands_are_unknown_commands_for_everyone_else(env: BotEnv) -> None:
    await env.send(make_message("/nonsense", user=make_user(1)))
    unknown = env.telegram.texts()[-1]
    for command in ("/broadcast", "/broadcast hi", "/stats", "/broadcast_cancel"):
        env.telegram.clear()
        await env.send(make_message(command, user=make_user(1)))
        assert env.telegram.texts() == [unknown], command
    group = make_chat(-10, Chat.SUPERGROUP)
    env.telegram.clear()
    await env.send(make_message("/stats", chat=group, user=make_user(ADMIN)))  # not private
    assert env.telegram.calls == []


async def test_admin_commands_are_only_in_the_admins_menu(tmp_path: Path) -> None:
    async with running_bot(tmp_path, ADMIN_IDS=f"{ADMIN}") as bot_env:
        menus = bot_env.telegram.sent("setMyCommands")
        public = (
            [c for c in menus if json.loads(c.params["scope"])["type"] != "chat"]
            if isinstance(menus[0].params["scope"], str)
            else [c for c in menus if c.params["scope"]["type"] != "chat"]
        )
        assert public
        for call in public:
            assert "broadcast" not in json.dumps(call.params["commands"])
        own = [c for c in menus if c not in public]
        assert own
        assert all("broadcast" in json.dumps(c.params["commands"]) for c in own)


async def test_invalid_html_is_refused_before_anything_is_sent(env: BotEnv) -> None:
    await env.send(admin_says("/broadcast"))
    for bad in ("<b>unclosed", "<script>x</script>", "a < b", "Tom & Jerry", "<i>x</b></i>"):
        env.telegram.clear()
        await env.send(admin_says(bad))
        [answer] = env.telegram.sent()
        assert "cannot send" in answer.text, bad
    assert await env.storage.running_broadcasts() == []


async def test_preview_then_cancel_sends_nothing(env: BotEnv) -> None:
    await env.send(admin_says("/broadcast <b>Maintenance</b> tonight"))
    assert buttons(env.telegram.sent()[-1].params)[0] == "ba:all"
    env.telegram.clear()
    await env.send(admin_presses("ba:uk"))
    preview, question = env.telegram.sent()
    assert preview.text == "<b>Maintenance</b> tonight"
    assert int(preview.params["chat_id"]) == ADMIN
    assert "2 chats" in question.text  # chats 1 and -10 speak Ukrainian
    env.telegram.clear()
    await env.send(admin_presses("bc:no"))
    await asyncio.sleep(0.1)
    assert [c for c in env.telegram.sent() if int(c.params["chat_id"]) != ADMIN] == []


async def test_a_picture_instead_of_the_announcement_is_answered(env: BotEnv) -> None:
    from telegram import Message, PhotoSize, Update

    await env.send(admin_says("/broadcast"))
    env.telegram.clear()
    photo = Message(
        5_000,
        datetime.now(UTC),
        make_chat(ADMIN),
        from_user=make_user(ADMIN, "en"),
        photo=[PhotoSize("f", "u", 9, 9)],
        caption="Hello",
    )
    await env.send(Update(5_001, message=photo))
    assert [c.text for c in env.telegram.sent()] == [
        "A broadcast is text only: send it as a message, or /cancel."
    ]
    await env.send(admin_says("Maintenance tonight"))  # the flow still waits for the text
    assert buttons(env.telegram.sent()[-1].params)[0] == "ba:all"


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ("all", {ADMIN, 1, 2, 3, -10, -11}),
        ("private", {ADMIN, 1, 2, 3}),
        ("groups", {-10, -11}),
        ("ru", {3}),
        ("en", {ADMIN, 2, -11}),
    ],
)
async def test_confirmed_broadcast_reaches_its_audience_once(
    env: BotEnv, audience: str, expected: set[int]
) -> None:
    await env.send(admin_says("/broadcast"))
    await env.send(admin_says("New: <i>InPost</i> is supported"))
    await env.send(admin_presses(f"ba:{audience}"))
    env.telegram.clear()
    await env.send(admin_presses("bc:yes"))
    await wait_finished(env)
    copies = Counter(
        int(c.params["chat_id"])
        for c in env.telegram.sent()
        if c.text == "New: <i>InPost</i> is supported"
    )
    assert set(copies) == expected
    assert set(copies.values()) == {1}
    reports = [t for t in env.telegram.texts(ADMIN) if "is finished" in t]
    assert reports
    assert f"Sent: {len(expected)}" in reports[-1]


async def test_blocked_recipients_are_counted_and_marked(env: BotEnv) -> None:
    env.telegram.blocked.add(2)
    await env.send(admin_says("/broadcast Hello"))
    await env.send(admin_presses("ba:private"))
    await env.send(admin_presses("bc:yes"))
    await wait_finished(env)
    assert (await env.storage.get_chat(2)).blocked
    report = [t for t in env.telegram.texts(ADMIN) if "is finished" in t][-1]
    assert "blocked: 1" in report
    assert "Sent: 3" in report


async def test_stats_for_the_admin(env: BotEnv) -> None:
    storage = env.storage
    unknown = await storage.get_or_create_parcel("gdeposylka/china-post", "LM951174328CN")
    subscription = await storage.subscribe(1, unknown.id, None, 1)
    found = await storage.get_or_create_parcel("ukrposhta", "LM951174328CN")
    await storage.move_subscriptions(unknown.id, found.id)  # a carrier correction
    await storage.enqueue(1, "switched", "{}", True, subscription.id, found.id)
    await storage.enqueue(1, "events", "[]", False, subscription.id, found.id)
    await storage.enqueue(2, "events", "[]", False)
    await storage.set_chat_blocked(2, True)  # its row will never go out: not "waiting"
    await env.send(admin_says("/stats"))
    [stats] = env.telegram.sent()
    assert "Chats" in stats.text
    assert "6" in stats.text  # six chats in total
    assert "Ukrposhta" in stats.text
    assert "GdePosylka new numbers left today: 2000" in stats.text
    assert "<b>Notifications waiting</b> to be sent: 2" in stats.text
    assert "<b>Parcels moved to another carrier</b> in the last 24 h: 1" in stats.text


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class FakeBot:
    """Records sends with the fake time; chats can be made to fail."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sends: list[tuple[float, int]] = []
        self.edits: list[tuple[float, str]] = []
        self.reports: list[str] = []
        self.forbidden: set[int] = set()
        self.retry_once: set[int] = set()
        self.network_errors: dict[int, int] = {}  # chat -> how many sends fail on the network
        self.on_send = None

    async def send_message(self, chat_id: int, text: str, **_: object) -> None:
        if chat_id == ADMIN:
            self.reports.append(text)
            return
        if chat_id in self.forbidden:
            raise Forbidden("Forbidden: bot was blocked by the user")
        if chat_id in self.retry_once:
            self.retry_once.discard(chat_id)
            raise RetryAfter(timedelta(seconds=2))
        if self.network_errors.get(chat_id, 0) > 0:
            self.network_errors[chat_id] -= 1
            raise TimedOut("Timed out")
        self.clock.now += 0.001  # a send takes a little time
        self.sends.append((self.clock.now, chat_id))
        if self.on_send is not None:
            self.on_send(len(self.sends))

    async def edit_message_text(self, text: str, **_: object) -> None:
        self.edits.append((self.clock.now, text))


def fake_time_runner(env: BotEnv, bot: FakeBot, rate: float) -> BroadcastRunner:
    """Build a runner that sends through the fake bot and sleeps on the bot's fake clock."""
    return BroadcastRunner(
        env.storage,
        bot,
        Catalogs.load(),
        rate,  # type: ignore[arg-type]
        clock=bot.clock,
        sleep=bot.clock.sleep,
    )


async def make_broadcast(env: BotEnv, count: int) -> int:
    for chat_id in range(100, 100 + count):
        await env.storage.upsert_chat(chat_id, "private", "uk")
    recipients = list(range(100, 100 + count))
    broadcast = await env.storage.create_broadcast(ADMIN, "Hi", "all", recipients)
    await env.storage.set_progress_message(broadcast.id, 555)
    return broadcast.id


async def test_rate_is_respected_and_progress_is_reported(env: BotEnv) -> None:
    clock = FakeClock()
    bot = FakeBot(clock)
    bot.forbidden.add(110)
    bot.retry_once.add(120)
    broadcast_id = await make_broadcast(env, 100)
    runner = fake_time_runner(env, bot, 10.0)
    await runner.run(broadcast_id)
    per_second = Counter(int(at) for at, _ in bot.sends)
    assert max(per_second.values()) <= 11  # 10/s, plus at most one catch-up slot after a pause
    assert sum(1 for count in per_second.values() if count > 10) <= 1
    assert len(bot.sends) == 99
    assert Counter(chat for _, chat in bot.sends)[120] == 1  # retried after RetryAfter, once
    assert 9.0 <= clock.now <= 12.0  # 100 recipients at 10/s, plus the 2 s RetryAfter pause
    assert len(bot.edits) >= 3  # progress every 3 s of a ~10 s broadcast
    assert "remaining" in bot.edits[0][1]
    counts = await env.storage.broadcast_counts(broadcast_id)
    assert (counts.sent, counts.blocked, counts.failed, counts.pending) == (99, 1, 0, 0)
    assert (await env.storage.get_chat(110)).blocked
    assert "is finished" in bot.reports[-1]


async def test_cancel_stops_and_resume_skips_sent_chats(env: BotEnv) -> None:
    clock = FakeClock()
    bot = FakeBot(clock)
    broadcast_id = await make_broadcast(env, 60)
    runner = fake_time_runner(env, bot, 1000.0)
    bot.on_send = lambda n: runner.cancel(broadcast_id) if n == 25 else None
    await runner.run(broadcast_id)
    assert len(bot.sends) == 25
    counts = await env.storage.broadcast_counts(broadcast_id)
    assert counts.sent == 25
    assert counts.pending == 35
    # A restart resumes where it stopped: the 25 are not sent again.
    resumed = fake_time_runner(env, bot, 1000.0)
    await resumed.run(broadcast_id)
    assert len(bot.sends) == 60
    assert len({chat for _, chat in bot.sends}) == 60


def test_html_checker() -> None:
    tr = Catalogs.load().get("en")
    good = [
        '<b>bold</b> <i>it</i> <a href="https://x.y/?a=1&amp;b=2">link</a>',
        "<tg-spoiler>s</tg-spoiler> <code>c</code> <pre>p</pre> &lt;3 &#128512;",
        '<span class="tg-spoiler">x</span> <blockquote expandable>q</blockquote>',
    ]
    for text in good:
        assert html_problem(text, tr) is None, text
    bad = ["", "<b>x", "</b>", "<div>x</div>", '<a onclick="x">y</a>', "1 < 2", "R&D", "x" * 4097]
    for text in bad:
        assert html_problem(text, tr) is not None, text


def migrating_bot(old: int, new: int) -> FakeBot:
    """Return a fake bot for which the group ``old`` has become the supergroup ``new``."""
    from telegram.error import ChatMigrated

    bot = FakeBot(FakeClock())
    original = bot.send_message

    async def migrating(chat_id: int, text: str, **kwargs: object) -> None:
        if chat_id == old:
            raise ChatMigrated(new)
        await original(chat_id, text, **kwargs)

    bot.send_message = migrating  # type: ignore[method-assign]
    return bot


async def test_a_migrated_group_gets_the_broadcast_once(env: BotEnv) -> None:
    bot = migrating_bot(-5, -1005)
    await env.storage.upsert_chat(-5, "group", "uk")
    await env.storage.upsert_chat(100, "private", "uk")
    broadcast = await env.storage.create_broadcast(ADMIN, "Hi", "all", [-5, 100])
    runner = fake_time_runner(env, bot, 100.0)
    await runner.run(broadcast.id)
    assert Counter(chat for _, chat in bot.sends) == {-1005: 1, 100: 1}
    counts = await env.storage.broadcast_counts(broadcast.id)
    assert (counts.sent, counts.pending) == (2, 0)


async def test_network_hiccups_are_retried_not_failed(env: BotEnv) -> None:
    clock = FakeClock()
    bot = FakeBot(clock)
    bot.network_errors = {101: 2, 102: 99}  # 101 recovers, 102's network never does
    broadcast_id = await make_broadcast(env, 3)
    await fake_time_runner(env, bot, 100.0).run(broadcast_id)
    assert sorted(chat for _, chat in bot.sends) == [100, 101]
    counts = await env.storage.broadcast_counts(broadcast_id)
    assert (counts.sent, counts.failed, counts.pending) == (2, 1, 0)


async def test_a_resumed_broadcast_runs_even_when_the_job_queue_starts_late(
    env: BotEnv,
) -> None:
    from types import SimpleNamespace

    from bot.handlers.admin import start_delivery

    start_delivery(SimpleNamespace(job_queue=env.app.job_queue), 42)
    [job] = [j for j in env.app.job_queue.jobs() if j.name == "broadcast-42"]
    assert job.job.misfire_grace_time is None
    job.schedule_removal()


async def test_an_unexpected_error_fails_one_recipient_not_the_broadcast(env: BotEnv) -> None:
    clock = FakeClock()
    bot = FakeBot(clock)
    original = bot.send_message

    async def broken_for_101(chat_id: int, text: str, **kwargs: object) -> None:
        if chat_id == 101:
            raise ValueError("a damaged answer")
        await original(chat_id, text, **kwargs)

    bot.send_message = broken_for_101  # type: ignore[method-assign]
    broadcast_id = await make_broadcast(env, 3)
    await fake_time_runner(env, bot, 100.0).run(broadcast_id)
    counts = await env.storage.broadcast_counts(broadcast_id)
    assert (counts.sent, counts.failed, counts.pending) == (2, 1, 0)
    broadcast = await env.storage.get_broadcast(broadcast_id)
    assert broadcast is not None
    assert broadcast.status == "done"


async def test_a_broadcast_stopped_by_an_error_is_resumed_later(env: BotEnv) -> None:
    from types import SimpleNamespace

    from bot.handlers.admin import MAX_RESUMES, RESUME_AFTER, deliver_broadcast

    async def failing_run(broadcast_id: int) -> None:
        raise RuntimeError("database is locked")

    runner = env.app.bot_data.broadcasts
    runner.run = failing_run  # type: ignore[method-assign]
    context = SimpleNamespace(
        job=SimpleNamespace(data=7),
        job_queue=env.app.job_queue,
        bot_data=SimpleNamespace(broadcasts=runner),
    )
    await deliver_broadcast(context)  # type: ignore[arg-type]
    [job] = [j for j in env.app.job_queue.jobs() if j.name == "broadcast-7"]
    assert job.data == 7
    assert job.next_t is not None
    assert job.next_t - datetime.now(UTC) > timedelta(seconds=RESUME_AFTER - 5)
    job.schedule_removal()
    # A lasting fault: after MAX_RESUMES runs it waits for the next start.
    for _ in range(MAX_RESUMES):
        runner.failed_run(7)
    await deliver_broadcast(context)  # type: ignore[arg-type]
    assert not [j for j in env.app.job_queue.jobs() if j.name == "broadcast-7" and j.enabled]


async def test_raw_sends_the_carriers_answers_with_credentials_masked(env: BotEnv) -> None:
    env.carriers.set(
        "nova-poshta", "20400048799000", FakeEvent("7", datetime.now(UTC), "Відділення №1")
    )
    await env.send(admin_says("/raw 20400048799000"))
    [call] = env.telegram.sent("sendDocument")
    assert (
        "1 carrier request for 20400048799000; credentials are masked." in call.params["caption"]
    )
    content = next(iter(call.files.values())).decode()
    report = json.loads(content)
    [lookup] = report["lookups"]
    assert (lookup["carrier"], lookup["status"]) == ("nova-poshta", "ready_for_pickup")
    assert lookup["events"][0]["location"] == "Відділення №1"
    [request] = report["requests"]
    assert request["status"] == 200
    assert "20400048799000" in request["request"]
    assert "***" in request["request"]
    assert "Відділення №1" in str(json.loads(request["answer"]))  # the body as it came
    for secret in env.settings.secrets:
        assert secret not in content
    assert await env.storage.parcels_by_number("20400048799000") == []  # nothing stored


async def test_raw_asks_every_client_a_number_may_belong_to(env: BotEnv) -> None:
    env.carriers.faults["gdeposylka"] = "500"
    await env.send(admin_says("/raw LM951174328CN"))
    [call] = env.telegram.sent("sendDocument")
    report = json.loads(next(iter(call.files.values())))
    assert [(item["carrier"], "error" in item) for item in report["lookups"]] == [
        ("gdeposylka/china-post", True),
        ("ukrposhta", True),  # not found there
    ]
    assert [r["status"] for r in report["requests"]] == [500, 404]


async def test_raw_explains_its_arguments(env: BotEnv) -> None:
    await env.send(admin_says("/raw"))
    await env.send(admin_says("/raw 20400048799000 dhl"))
    await env.send(admin_says("/raw hello"))
    texts = [call.text for call in env.telegram.sent()]
    assert texts[0].startswith("Send /raw NUMBER, or /raw NUMBER CARRIER")
    assert texts[1].startswith("I do not know the carrier dhl.")
    assert texts[2] == "No carrier of this bot was asked about HELLO."
    assert env.telegram.sent("sendDocument") == []
    await env.send(make_message("/raw 20400048799000", user=make_user(1, "en")))  # no admin
    assert env.telegram.sent("sendDocument") == []
    assert sum(env.carriers.hits.values()) == 0


async def test_a_group_migrating_onto_a_recipient_that_got_it_is_not_sent_twice(
    env: BotEnv,
) -> None:
    bot = migrating_bot(-5, -1005)
    await env.storage.upsert_chat(-5, "group", "uk")
    await env.storage.upsert_chat(-1005, "supergroup", "uk")  # known already: its own row
    broadcast = await env.storage.create_broadcast(ADMIN, "Hi", "all", [-1005, -5])
    await fake_time_runner(env, bot, 100.0).run(broadcast.id)
    assert [chat for _, chat in bot.sends] == [-1005]
    counts = await env.storage.broadcast_counts(broadcast.id)
    assert (counts.sent, counts.pending) == (1, 0)


async def test_raw_masks_secrets_that_json_would_escape(tmp_path: Path) -> None:
    key = 'np"key\\with-quote'
    async with running_bot(tmp_path, ADMIN_IDS=str(ADMIN), NOVAPOSHTA_API_KEY=key) as env:
        await env.storage.upsert_chat(ADMIN, "private", "en")
        await env.send(admin_says("/raw 20400048799000"))
        [call] = env.telegram.sent("sendDocument")
        content = next(iter(call.files.values())).decode()
        assert "with-quote" not in content
        assert "***" in json.loads(content)["requests"][0]["request"]


async def test_progress_forgets_the_errors_of_earlier_runs(env: BotEnv) -> None:
    broadcast_id = await make_broadcast(env, 2)
    runner = fake_time_runner(env, FakeBot(FakeClock()), 100.0)
    for _ in range(29):
        runner.failed_run(broadcast_id)
    await runner.run(broadcast_id)  # sends: the next error is the first since progress
    assert runner.failed_run(broadcast_id) == 1
