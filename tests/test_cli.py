"""``python -m bot track`` as a real process against loopback carriers: output and exit codes."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestServer

from tests.fake_carriers import FakeCarriers, FakeEvent
from tests.process import ROOT

T0 = datetime(2026, 7, 27, 13, 33, tzinfo=UTC)


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def carriers():  # type: ignore[no-untyped-def]
    fake = FakeCarriers(delay=3.0)
    fake.set(
        "ukrposhta",
        "0500100031143",
        FakeEvent("10100", T0, "DKD KYIV"),
        FakeEvent("21700", T0 + timedelta(days=1), "ODESA 1"),
    )
    fake.set("inpost", "612345678901234567890123", FakeEvent("delivered", T0, "Kraków"))
    fake.set("nova-poshta", "20400048799000", FakeEvent("9", T0, "Відділення №1"))
    fake.set("postplus", "LP00000005PP", FakeEvent("DELIVERED", T0, "Kyiv"))
    fake.set("gdeposylka", "LM951174328CN", FakeEvent("delivered", T0, "Воронеж 88"))
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.env = fake.urls(str(server.make_url("/")))  # type: ignore[attr-defined]
    yield fake
    await server.close()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["0500 1000 3114 3", "--lang", "en"], ["Ukrposhta", "Ready for pickup", "ODESA 1"]),
        (["0500100031143", "--lang", "ru"], ["Укрпочта", "DKD KYIV"]),
        (["0500100031143", "--lang", "uk"], ["Укрпошта", "ODESA 1"]),
        (["612345678901234567890123", "--lang", "en"], ["InPost", "Delivered"]),
        (["20400048799000", "--lang", "en"], ["Nova Poshta", "Delivered"]),
        (["LP00000005PP", "--carrier", "postplus", "--lang", "en"], ["PostPlus", "Delivered"]),
        (["LM951174328CN", "--lang", "en"], ["Delivered", "Voronezh 88"]),
    ],
)
async def test_found_parcels_print_status_and_history(
    carriers: FakeCarriers, args: list[str], expected: list[str]
) -> None:
    code, out, err = await run_cli(carriers.env, "track", *args)  # type: ignore[attr-defined]
    assert code == 0, err
    for text in expected:
        assert text in out


@pytest.mark.parametrize(
    ("args", "fault", "code"),
    [
        (["0500100031144"], None, 3),  # wrong check digit
        (["hello"], None, 3),
        (["0500100031135"], None, 4),  # not registered yet
        (["RA067022855UA"], "500", 7),
        (["612345678901234567890123"], "timeout", 7),
        (["612345678901234567890123"], "html", 9),
        (["0500100031143"], "401", 8),
        (["AB1234567890XY"], None, 3),  # GdePosylka's detection does not know it
        (["AB1234567890XY"], "500", 7),  # GdePosylka's detection is down: not "invalid"
    ],
)
async def test_failures_are_one_line_with_distinct_codes(
    carriers: FakeCarriers, args: list[str], fault: str | None, code: int
) -> None:
    if fault:
        for name in ("ukrposhta", "inpost", "gdeposylka"):
            carriers.faults[name] = fault
    env = {**carriers.env, "UKRPOSHTA_TOKEN": "t", "CARRIER_TIMEOUT_SECONDS": "0.5"}  # type: ignore[attr-defined]
    got, out, err = await run_cli(env, "track", *args, "--lang", "en")
    assert got == code, err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


async def test_wrong_check_digit_costs_no_request(carriers: FakeCarriers) -> None:
    code, _, _ = await run_cli(carriers.env, "track", "RA067022856UA")  # type: ignore[attr-defined]
    assert code == 3
    assert sum(carriers.hits.values()) == 0


async def test_unconfigured_carriers_are_named(carriers: FakeCarriers) -> None:
    env = {k: v for k, v in carriers.env.items() if "TOKEN" not in k}  # type: ignore[attr-defined]
    code, _, err = await run_cli(env, "track", "0500100031143", "--lang", "en")
    assert code == 5
    assert "UKRPOSHTA_TOKEN" in err
    code, _, err = await run_cli(env, "track", "1Z5R89390357567127", "--lang", "en")
    assert code == 6
    assert "UPS" in err


async def test_bot_without_token_exits_2_with_one_line() -> None:
    code, _out, err = await run_cli({})
    assert code == 2
    assert "TELEGRAM_BOT_TOKEN" in err
    assert len(err.strip().splitlines()) == 1


async def test_bad_setting_exits_2_with_one_line() -> None:
    code, _, err = await run_cli({"TELEGRAM_BOT_TOKEN": "1:x", "ADMIN_IDS": "alice"})
    assert code == 2
    assert "ADMIN_IDS" in err
    assert "Traceback" not in err


async def test_webhook_process_refuses_to_poll() -> None:
    code, _out, err = await run_cli({"TELEGRAM_BOT_TOKEN": "1:x"}, "webhook")
    assert code == 2
    assert "WEBHOOK_URL" in err
