"""The Docker image's files: the bot starts from exactly what the Dockerfile copies.

No Docker engine runs where the tests run, so the image itself is never built here. What can be
checked is checked: the copied tree holds everything the bot needs to start and answer, the
command is the Procfile's worker, and the database lives on the declared volume.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path

from tests.fake_carriers import FakeEvent
from tests.process import ROOT, loopback_services, start_bot, stop_bot, wait_until

NUMBER = "0500100031143"


def instructions() -> list[tuple[str, str]]:
    """Return the Dockerfile's instructions (continuation lines joined, comments dropped)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def copy_image_tree(target: Path) -> None:
    """Copy into ``target`` what the Dockerfile's COPY instructions copy into WORKDIR."""
    for kind, args in instructions():
        if kind != "COPY":
            continue
        *sources, destination = args.split()
        for source in sources:
            path = ROOT / source
            place = target / destination if destination not in ("./", ".") else target
            if path.is_dir():
                shutil.copytree(path, place, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                place.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, place / path.name)


def test_the_dependency_step_installs_what_pyproject_declares(tmp_path: Path) -> None:
    [install] = [args for kind, args in instructions() if kind == "RUN"]
    step = install.split("&&")[0].strip()  # python -c "…" > requirements.txt
    assert step.startswith("python -c "), step  # never run an install here
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    subprocess.run(
        ["sh", "-c", step.replace("python ", f"{sys.executable} ", 1)],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    written = (tmp_path / "requirements.txt").read_text().split("\n")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [line for line in written if line] == declared


def test_dockerignore_keeps_what_the_image_copies() -> None:
    ignored = [
        line.strip().strip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        source for kind, args in instructions() if kind == "COPY" for source in args.split()[:-1]
    ]
    assert copied
    paths = [
        path.relative_to(ROOT).as_posix()
        for source in copied
        for path in [ROOT / source, *(ROOT / source).rglob("*")]
        if "__pycache__" not in path.parts and not path.name.endswith(".mo")
    ]
    for path in paths:
        parents = [path, *(parent.as_posix() for parent in Path(path).parents if parent.name)]
        for candidate in parents:
            hits = [p for p in ignored if fnmatch(candidate, p) or fnmatch(candidate, f"**/{p}")]
            assert not hits, (path, hits)


def test_command_is_the_procfile_worker_and_the_database_is_on_the_volume() -> None:
    steps = dict(instructions())
    command = json.loads(steps["CMD"])
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert command == shlex.split(procfile["worker"])
    assert "DATABASE_PATH=/data/" in steps["ENV"]
    assert "PYTHONPATH=/app" in steps["ENV"]  # any working directory finds the code
    assert json.loads(steps["VOLUME"]) == ["/data"]
    assert steps["USER"] != "root"


async def test_the_bot_starts_and_answers_from_the_copied_files(tmp_path: Path) -> None:
    tree = tmp_path / "app"
    copy_image_tree(tree)
    assert not (tree / "tests").exists()
    # The copy, not the checkout, is what runs (python -m puts the working directory first).
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import bot, storage; print(bot.__file__, storage.__file__)",
        cwd=tree,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await asyncio.wait_for(probe.communicate(), 60)
    where = output.decode().split()
    assert all(Path(path).is_relative_to(tree) for path in where), where
    log = tmp_path / "bot.log"
    async with loopback_services(tmp_path / "data" / "bot.sqlite3", "123456:DOCKER") as (
        api,
        carriers,
        env,
    ):
        carriers.set(
            "ukrposhta", NUMBER, FakeEvent("21700", datetime(2026, 7, 28, tzinfo=UTC), "ODESA 1")
        )
        process = await start_bot(env, log, cwd=tree)
        api.push_text(42, NUMBER)
        assert await wait_until(lambda: any(NUMBER in t for t in api.texts(42))), log.read_text()
        card = next(t for t in api.texts(42) if NUMBER in t)
        assert "ODESA" in card
        assert "Готово до отримання" in card  # the Ukrainian catalog came along
        assert await stop_bot(process, signal.SIGTERM) == 0
    assert "Traceback" not in log.read_text()
