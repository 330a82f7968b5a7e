"""Admin alerts: credentials refused, a carrier paused and back, a quota used up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.alert_events import Alert, AlertKind
from bot.alerts import render_alert
from bot.i18n import Catalogs
from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent
from tests.telegram_fakes import make_message, make_user

UP = "0500100031143"
ADMINS = (900, 901)
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


@pytest.fixture
async def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_bot(tmp_path, ADMIN_IDS=",".join(map(str, ADMINS))) as bot_env:
        for admin, language in zip(ADMINS, ("uk", "en"), strict=True):  # each in their language
            await bot_env.app.bot_data.storage.upsert_chat(admin, "private", language)
        yield bot_env


def alerts(env: BotEnv) -> list[tuple[int, str]]:
    """Return the alerts sent to the admins (not their parcels' pushes), as (chat id, text)."""
    return [
        (call.params["chat_id"], call.text)
        for call in env.telegram.sent()
        if call.params["chat_id"] in ADMINS and call.text.startswith(("⚠️", "✅", "ℹ️"))
    ]


async def cycle_now(env: BotEnv, carrier: str) -> None:
    """Run a poll cycle as if the carrier's pause were over."""
    env.app.bot_data.poller._health(carrier).breaker.opened_until = None
    await env.cycle()


async def test_admins_hear_of_an_outage_once_and_of_its_end(env: BotEnv) -> None:
    await env.follow(900, "ukrposhta", UP, language="uk")
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    env.carriers.faults["ukrposhta"] = "500"
    for _ in range(2):
        await cycle_now(env, "ukrposhta")
    assert alerts(env) == []  # two failed batches are a hiccup
    for _ in range(3):
        await cycle_now(env, "ukrposhta")
    sent = alerts(env)
    assert [chat for chat, _ in sent] == [900, 901]  # once, while the outage goes on
    assert sent[0][1].startswith("⚠️ Укрпошта")
    assert sent[1][1].startswith("⚠️ Ukrposhta keeps failing: its checks are paused until ")
    assert "Last error: " in sent[1][1]
    env.telegram.clear()
    del env.carriers.faults["ukrposhta"]
    await cycle_now(env, "ukrposhta")
    await cycle_now(env, "ukrposhta")
    assert alerts(env) == [
        (900, "✅ Укрпошта знову відповідає: перевірки йдуть як завжди."),
        (901, "✅ Ukrposhta answers again: its checks go on as usual."),
    ]


async def test_refused_credentials_are_told_at_once_and_not_every_tick(env: BotEnv) -> None:
    await env.follow(1, "ukrposhta", UP)
    env.carriers.faults["ukrposhta"] = "401"
    await cycle_now(env, "ukrposhta")
    await cycle_now(env, "ukrposhta")
    sent = alerts(env)
    assert [chat for chat, _ in sent] == [900, 901]
    assert "refused the bot's credentials. Check UKRPOSHTA_TOKEN in the environment" in sent[1][1]
    secret = env.settings.ukrposhta.credential
    assert secret
    assert secret not in sent[1][1]  # the variable's name, never its value


async def test_a_used_up_quota_is_told_once_a_day(env: BotEnv) -> None:
    env.app.bot_data.budget.limit = 1  # GdePosylka: one new number a day
    for number in ("LM951174328CN", "RA067022855CN"):
        env.carriers.set("gdeposylka", number, FakeEvent("accepted", T0, "Shenzhen"))
        await env.follow(1, "gdeposylka/china-post", number)
    await env.cycle()
    await env.cycle()
    sent = alerts(env)
    assert [chat for chat, _ in sent] == [900, 901]
    assert sent[1][1].startswith("ℹ️ Today's quota of new GdePosylka numbers is used up")


async def test_an_admin_who_never_started_the_bot_does_not_stop_the_checks(
    env: BotEnv,
) -> None:
    env.telegram.blocked.update(ADMINS)  # no admin can be written to
    await env.follow(1, "ukrposhta", UP)
    env.carriers.faults["ukrposhta"] = "401"
    await cycle_now(env, "ukrposhta")
    assert env.app.bot_data.poller.health["ukrposhta"].last_error == "HTTP 401"


def test_every_alert_is_translated() -> None:
    catalogs = Catalogs.load()
    until = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    for carrier, kind in [("nova-poshta", k) for k in AlertKind] + [("inpost", AlertKind.AUTH)]:
        alert = Alert(carrier, kind, "HTTP 500 <html>", until)
        english = render_alert(alert, catalogs.get("en"))
        assert "&lt;html&gt;" in english or kind is not AlertKind.PAUSED
        for language in ("uk", "ru"):
            assert render_alert(alert, catalogs.get(language)) != english


async def test_an_outage_after_a_recovery_is_told_again(env: BotEnv) -> None:
    await env.follow(1, "ukrposhta", UP)
    env.carriers.set("ukrposhta", UP, FakeEvent("10100", T0, "KYIV 1"))
    for outage in range(2):
        env.carriers.faults["ukrposhta"] = "500"
        for _ in range(4):
            await cycle_now(env, "ukrposhta")
        del env.carriers.faults["ukrposhta"]
        await cycle_now(env, "ukrposhta")
        kinds = [text.split()[0] for chat, text in alerts(env) if chat == 901]
        assert kinds == ["⚠️", "✅"] * (outage + 1)


async def test_refused_credentials_of_a_carrier_asked_number_by_number(env: BotEnv) -> None:
    # GdePosylka answers each number on its own: a 401 for every one is refused credentials,
    # not an answer (no "answers again").
    env.carriers.set("gdeposylka", "LM951174328CN", FakeEvent("accepted", T0, "Shenzhen"))
    await env.follow(1, "gdeposylka/china-post", "LM951174328CN")
    env.carriers.faults["gdeposylka"] = "401"
    await cycle_now(env, "gdeposylka")
    sent = alerts(env)
    assert [chat for chat, _ in sent] == [900, 901]
    assert "refused the bot's credentials" in sent[1][1]
    assert env.app.bot_data.poller.health["gdeposylka"].breaker.failures >= 2


async def test_a_quota_used_up_by_a_user_is_told_too(env: BotEnv) -> None:
    env.app.bot_data.budget.limit = 1
    for number in ("LM951174328CN", "RA067022855CN"):
        env.carriers.set("gdeposylka", number, FakeEvent("accepted", T0, "Shenzhen"))
        await env.send(make_message(f"/track {number}", user=make_user(1, "en")))
    sent = alerts(env)
    assert [chat for chat, _ in sent] == [900, 901]
    assert sent[1][1].startswith("ℹ️ Today's quota of new GdePosylka numbers is used up")


async def test_a_failed_update_is_told_to_the_admins_once_an_hour(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = env.settings.telegram_token

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"boom with {token} inside")

    monkeypatch.setattr(env.app.bot_data.parcels, "resolve", broken)
    for _ in range(2):
        await env.send(make_message(UP, user=make_user(1, "en")))
    assert (
        env.telegram.texts(1)
        == ["Sorry, something went wrong on my side. Please try again later."] * 2
    )
    sent = alerts(env)
    assert [chat for chat, _ in sent] == [900, 901]
    assert "(RuntimeError: boom with *** inside)" in sent[1][1]
    assert token not in sent[0][1]


async def test_refused_credentials_beside_our_own_quota_are_no_recovery(env: BotEnv) -> None:
    env.app.bot_data.budget.limit = 1
    numbers = ("LM951174328CN", "RA067022855CN")
    env.carriers.set("gdeposylka", numbers[0], FakeEvent("accepted", T0, "Shenzhen"))
    await env.follow(1, "gdeposylka/china-post", numbers[0])
    env.carriers.faults["gdeposylka"] = "401"
    await cycle_now(env, "gdeposylka")  # the admitted number: refused credentials
    env.carriers.set("gdeposylka", numbers[1], FakeEvent("accepted", T0, "Shenzhen"))
    await env.follow(1, "gdeposylka/china-post", numbers[1])  # over today's quota
    await cycle_now(env, "gdeposylka")
    kinds = [text.split()[0] for chat, text in alerts(env) if chat == 901]
    assert "✅" not in kinds  # still refused: no "answers again"
    assert env.app.bot_data.poller.health["gdeposylka"].breaker.failures >= 2


async def test_a_failed_background_job_is_told_as_such(env: BotEnv) -> None:
    await env.app.process_error(None, RuntimeError("disk I/O error"))
    sent = alerts(env)
    assert [chat for chat, _ in sent] == [900, 901]
    assert sent[1][1].startswith("⚠️ A background job (checking parcels, sending messages or")
    assert "(RuntimeError: disk I/O error)" in sent[1][1]
