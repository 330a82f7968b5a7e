"""What a wheel holds: every package, and the translation catalogs the bot reads at start.

Building a wheel needs setuptools from the package index, which tests never reach; instead the
tree a wheel would install is laid out from pyproject.toml's own lists, and the bot's catalogs
are loaded from it outside the source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from tests.process import ROOT

SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def source_of(package: str) -> Path:
    """Return the folder a listed package is built from (package-dir, else its own path)."""
    mapped = SETUPTOOLS.get("package-dir", {}).get(package)
    return ROOT / (mapped or package.replace(".", "/"))


def test_every_python_package_is_listed() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("bot", "storage")
        for init in (ROOT / top).rglob("__init__.py")
    }
    listed = set(SETUPTOOLS["packages"])
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"
    assert all(source_of(package).is_dir() for package in listed)


def test_the_catalogs_go_into_the_wheel() -> None:
    patterns = SETUPTOOLS["package-data"]["bot.locales"]
    catalogs = [
        path.relative_to(source_of("bot.locales")).as_posix()
        for path in source_of("bot.locales").rglob("*.po")
    ]
    assert sorted(catalogs) == [f"{lang}/LC_MESSAGES/messages.po" for lang in ("en", "ru", "uk")]
    assert all(any(fnmatch(path, pattern) for pattern in patterns) for path in catalogs)


def test_an_installed_bot_finds_its_catalogs(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    for package in SETUPTOOLS["packages"]:
        target = site / package.replace(".", "/")
        target.mkdir(parents=True, exist_ok=True)
        source = source_of(package)
        for module in source.glob("*.py"):
            shutil.copy(module, target)
        for pattern in SETUPTOOLS.get("package-data", {}).get(package, []):
            for data in source.glob(pattern):
                (target / data.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(data, target / data.relative_to(source))
    script = (
        "import bot.i18n as i18n; c = i18n.Catalogs.load(); "
        "print(i18n.LOCALES_DIR); print(c.get('uk').locale)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    where, locale = done.stdout.split()
    assert Path(where) == site / "bot" / "locales"
    assert locale == "uk"
