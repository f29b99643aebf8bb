"""The unit files verify, and their hardening keeps the exposure score low."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")


def _copy(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at this checkout's hall (verify checks the binary exists)."""
    hall = Path(sys.executable).parent / "hall"
    for unit in UNITS.iterdir():
        if unit.suffix in (".service", ".target"):
            text = unit.read_text().replace("/opt/smart-hall/.venv/bin/hall", str(hall))
            (tmp_path / unit.name).write_text(text)
    return tmp_path


def test_every_service_has_a_unit() -> None:
    from edge.cli.main import services

    names = {p.stem.removeprefix("hall-") for p in UNITS.glob("hall-*.service")}
    missing = set(services()) - names
    assert not missing, f"services without a unit: {missing}"


@pytest.mark.parametrize("name", ["core", "devices", "vision", "sync", "ops"])
def test_services_that_ping_are_watched(name: str) -> None:
    """These services say READY=1 and ping from their main loop; their units must wait for it and watch it."""
    text = (UNITS / f"hall-{name}.service").read_text()
    assert re.search(r"^Type=notify$", text, re.M)
    assert re.search(r"^NotifyAccess=main$", text, re.M)
    watchdog = re.search(r"^WatchdogSec=(\d+)s$", text, re.M)
    assert watchdog and 10 <= int(watchdog.group(1)) <= 120


def test_units_verify(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    files = sorted(str(p) for p in d.iterdir())
    res = subprocess.run(["systemd-analyze", "verify", *files], capture_output=True, text=True, cwd=d, timeout=60)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("unit", sorted(p.name for p in UNITS.glob("hall-*.service")))
def test_exposure_is_low(tmp_path: Path, unit: str) -> None:
    d = _copy(tmp_path)
    res = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(d / unit)], capture_output=True, text=True, timeout=60
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", res.stdout)
    assert match, res.stdout[-500:] + res.stderr
    assert float(match.group(1)) <= 2.0, f"{unit} exposure {match.group(1)}"
