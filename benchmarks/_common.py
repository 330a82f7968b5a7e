"""Shared benchmark helpers: machine facts, valid tracking numbers, a carrier server process."""

from __future__ import annotations

import json
import os
import platform
import resource
import select
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SERVER_SCRIPT = Path(__file__).resolve().parent / "_carrier_server.py"


# --- machine and output -------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    """Return the facts RESULTS.md records next to every figure."""
    cpu = "unknown"
    memory = "unknown"
    with Path("/proc/cpuinfo").open() as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with Path("/proc/meminfo").open() as handle:
        for line in handle:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=False)
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "--no-optional-locks", "status", "--porcelain", "--", "bot", "storage", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    changed = len(dirty.stdout.splitlines())
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "uname": uname.stdout.strip(),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": memory,
        "python": platform.python_version(),
        "git_head": head.stdout.strip() or "unknown",
        "bot/storage/tests uncommitted": str(changed) + " files" if changed else "none",
    }


def print_machine() -> None:
    """Print the machine facts, one per line."""
    for key, value in machine_info().items():
        print(f"# {key}: {value}")


def print_command() -> None:
    """Print the command line this script was started with."""
    print(f"# command: {' '.join([Path(sys.executable).name, *sys.argv])}")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a Markdown table with right-aligned columns."""
    body = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for row in body:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def peak_rss_mb() -> float:
    """Return this process image's peak resident set size (VmHWM) in MiB.

    Not ru_maxrss: Linux carries the parent's high-water mark into a child across fork and
    exec (exec_mmap saves the old mm's peak into signal->maxrss), so a worker started by a
    parent that holds a 100k-subscription workload would report the parent's peak.
    """
    with Path("/proc/self/status").open() as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def ru_maxrss_mb() -> float:
    """Return getrusage's ru_maxrss in MiB (includes the parent's peak at fork, see above)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def thread_cpu() -> dict[str, float]:
    """Return CPU seconds (user + system) per thread of this process, keyed "name/tid"."""
    ticks = os.sysconf("SC_CLK_TCK")
    times: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        times[f"{name}/{task.name}"] = (int(fields[11]) + int(fields[12])) / ticks
    return times


def cpu_by_thread(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Return each thread's CPU seconds between two thread_cpu() readings (main thread first)."""
    main = f"/{os.getpid()}"
    delta = {key: after[key] - before.get(key, 0.0) for key in after}
    ordered = sorted(delta.items(), key=lambda item: (not item[0].endswith(main), -item[1]))
    return {("main" if key.endswith(main) else key): round(value, 2) for key, value in ordered}


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of values (0 < fraction <= 1)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, int(-(-fraction * len(ordered) // 1)))
    return ordered[min(rank, len(ordered)) - 1]


# --- tracking numbers that pass the bot's offline rules ---------------------------------

_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def _digits(rng: Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def s10(rng: Random, service: str, country: str) -> str:
    """Return a UPU S10 number with a valid check digit, e.g. RB123456785UA."""
    serial = _digits(rng, 8)
    remainder = sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    check = {0: 5, 1: 0}.get(remainder, 11 - remainder)
    return f"{service}{serial}{check}{country}"


def ukrposhta_13(rng: Random) -> str:
    """Return a 13-digit Ukrposhta barcode with the check digit the bot infers."""
    serial = "05" + _digits(rng, 10)
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(serial)))
    expected = 11 - total % 11
    return serial + str(0 if expected >= 10 else expected)


def nova_poshta(rng: Random) -> str:
    """Return a 14-digit Nova Poshta waybill starting with 20 or 59."""
    return rng.choice(("20", "59")) + _digits(rng, 12)


def inpost(rng: Random) -> str:
    """Return a 24-digit InPost number."""
    return "6" + _digits(rng, 23)


def postplus(rng: Random) -> str:
    """Return a PostPlus-shaped parcel number (PostPlus has no offline rule)."""
    return "LP" + _digits(rng, 8) + "PP"


def china_post(rng: Random) -> str:
    """Return a China Post S10 number (routed to GdePosylka, courier china-post)."""
    return s10(rng, rng.choice(("LM", "LP", "RR", "UJ")), "CN")


# --- the loopback carrier server in its own process ---------------------------------------


class CarrierServer:
    """Run tests/fake_carriers.py FakeCarriers in a child process, on 127.0.0.1."""

    def __init__(self, data_file: Path) -> None:
        self.data_file = data_file
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> CarrierServer:
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), "--data", str(self.data_file)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"carrier server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}/"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def env(self) -> dict[str, str]:
        """Return the environment variables pointing every carrier at the server."""
        return carrier_env(self.base_url)


def carrier_env(base_url: str) -> dict[str, str]:
    """Return the variables FakeCarriers.urls() gives, without importing the tests package."""
    base = base_url.rstrip("/")
    return {
        "UKRPOSHTA_BASE_URL": f"{base}/ukrposhta/",
        "UKRPOSHTA_TOKEN": "up-secret-token",
        "INPOST_BASE_URL": f"{base}/inpost/",
        "NOVAPOSHTA_BASE_URL": f"{base}/novaposhta/",
        "NOVAPOSHTA_API_KEY": "np-secret-key",
        "POSTPLUS_BASE_URL": f"{base}/postplus/",
        "POSTPLUS_API_KEY": "pp-secret-key",
        "GDEPOSYLKA_BASE_URL": f"{base}/gdeposylka/",
        "GDEPOSYLKA_TOKEN": "gp-secret-token",
    }


async def control(base_url: str, verb: str, **params: str) -> Any:
    """Call the server's benchmark control endpoint (hits, reset, advance)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base_url}_bench/{verb}", params=params) as response,
    ):
        response.raise_for_status()
        return await response.json()


def write_json(path: Path, data: object) -> None:
    """Write JSON compactly."""
    path.write_text(json.dumps(data, separators=(",", ":")))


def run_worker(command: list[str], timeout: float) -> dict[str, Any]:
    """Run a worker subprocess; return the JSON of its last stdout line, or why it failed."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as err:
        tail = (err.stderr or b"")[-2000:]
        return {
            "error": f"timed out after {timeout:.0f} s",
            "stderr": tail.decode() if isinstance(tail, bytes) else tail,
        }
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {
            "error": f"exit {done.returncode} after {time.monotonic() - started:.0f} s",
            "stderr": done.stderr[-3000:],
        }
    result: dict[str, Any] = json.loads(lines[-1])
    return result
