"""``hall kiosk`` as a command: the PNG tour, running with no display, the PIN hash, its config section."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from PIL import Image

from edge import config
from edge.bus import BusClient, Endpoints
from edge.errors import BusError, ConfigError
from kiosk_ui.i18n import Catalogue
from kiosk_ui.kiosk.config import KioskConfig
from tests.conftest import CoreProcess

STATES = (
    "attract",
    "businesses",
    "identified",
    "ticket-printed",
    "printer-down",
    "ticket-no-counter",
    "lookups",
    "lookup-bill",
    "lookup-usage",
    "lookup-outages",
    "repair-form",
    "repair-sent",
    "my-repair",
    "evaluation",
    "consent",
    "elderly",
    "core-unreachable",
)


def _no_display() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "HALL_DEMO", "KIVY_HOME"):
        env.pop(key, None)
    return env


@pytest.mark.process
def test_tour_renders_every_screen_and_state_without_a_display(tmp_path: Path) -> None:
    out = tmp_path / "tour"
    res = subprocess.run(
        [sys.executable, "-m", "edge", "kiosk", "--tour", str(out)],
        env={**_no_display(), "HALL_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    written = sorted(out.glob("*.png"))
    assert [Path(p).name for p in res.stdout.split()] == [p.name for p in written]
    names = {re.sub(r"^\d+-", "", p.stem) for p in written}
    assert set(STATES) <= names, f"missing: {set(STATES) - names}"
    for path in written:
        with Image.open(path) as img:
            assert img.size == (1280, 800)
            colours = img.convert("RGB").getcolors(maxcolors=1 << 20) or []
            assert len(colours) > 50, f"{path.name} looks blank"


@pytest.mark.process
def test_without_a_display_the_demo_kiosk_runs_offscreen_and_stops_cleanly(core: CoreProcess) -> None:
    env = {**_no_display(), "HALL_HOME": str(core.home.root), "HALL_DEMO": "1"}
    log = core.home.root / "kiosk.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "edge", "kiosk"], env=env, stderr=err, stdout=subprocess.DEVNULL)
    try:
        version = None
        with BusClient("test", endpoints=Endpoints.local(core.home), timeout=1.0, retries=0) as bus:
            deadline = time.monotonic() + 120
            while version is None and time.monotonic() < deadline and proc.poll() is None:
                try:
                    version = bus.request("bundle.status")["version"]
                except BusError:
                    continue
                if version is None:
                    bus.request("hall.ping")  # paces the loop on a round trip to the core
        assert proc.poll() is None, "the kiosk exited instead of running offscreen"
        assert version == 1  # the demo's sample bundle, applied through the core
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "no display" in log.read_text()


def test_hash_pin_prints_an_argon2_hash_the_kiosk_accepts() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "edge", "kiosk", "--hash-pin"], input="246810\n", capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    hashed = res.stdout.strip()
    assert PasswordHasher().verify(hashed, "246810")
    assert KioskConfig(technician_pin_hash=hashed).technician_pin_hash == hashed
    short = subprocess.run(
        [sys.executable, "-m", "edge", "kiosk", "--hash-pin"], input="12\n", capture_output=True, text=True
    )
    assert short.returncode == 2 and "6 to 12 digits" in short.stderr


def test_config_section_is_registered_and_checked() -> None:
    assert config.service_model("kiosk") is KioskConfig
    cfg = config.load_text('[hall]\nid = "h"\nname = "厅"\n\n[services.kiosk]\nevaluation_counter = "2"\n')
    assert config.service_config(cfg, "kiosk", KioskConfig).evaluation_counter == "2"
    with pytest.raises(ConfigError, match=r"x.toml:6: services.kiosk.idle_timeout_s"):
        config.load_text('[hall]\nid = "h"\nname = "厅"\n\n[services.kiosk]\nidle_timeout_s = 2\n', "x.toml")
    with pytest.raises(ConfigError, match="technician_pin_hash"):  # a plain PIN is refused: only its hash
        config.load_text('[services.kiosk]\ntechnician_pin_hash = "123456"\n', "x.toml")
    # the retention a customer is told is the hall's one setting: the kiosk's old copy of it says where it went
    with pytest.raises(ConfigError, match=r"face_retention_days is \[faces\] retention_days now"):
        config.load_text("[services.kiosk]\nface_retention_days = 365\n", "x.toml")


def test_every_text_the_screens_ask_for_is_in_both_catalogues() -> None:
    cat = Catalogue.load()
    assert set(cat.texts["zh"]) == set(cat.texts["en"])
    source = "\n".join(p.read_text() for p in Path("kiosk_ui").rglob("*.py"))
    keys = set(
        re.findall(
            r"""\b\w+\.t\(\s*"([a-z_.]+)"|\.say\(\s*"([a-z_.]+)"|\("([a-z]+\.[a-z_.]+)",\s*"[a-z]+"(?:\)|, (?:None|"[a-z._]+")\))""",
            source,
        )
    )
    used = {k for group in keys for k in group if k}
    assert used, "no keys found"
    missing = sorted(k for k in used if k not in cat.texts["zh"])
    assert not missing, f"keys used but not in the catalogue: {missing}"


def test_docstring_examples() -> None:
    import doctest

    import kiosk_ui.i18n
    import kiosk_ui.kiosk.config

    for module in (kiosk_ui.kiosk.config, kiosk_ui.i18n):
        result = doctest.testmod(module)
        assert result.attempted and not result.failed, module.__name__
