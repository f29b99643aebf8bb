"""``hall pad`` as a command: the PNG tour, the counter it must be given, its config section."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from edge import config
from edge.errors import ConfigError
from kiosk_ui.pad.config import PadConfig

SCREENS = (
    "idle",
    "called",
    "form",
    "form-correction-asked",
    "form-corrected",
    "signature-too-short",
    "signature",
    "signed",
    "rating",
    "form-english",
    "form-cancelled",
    "bus-lost",
)


def _no_display() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "HALL_DEMO", "KIVY_HOME", "HALL_CONFIG"):
        env.pop(key, None)
    return env


@pytest.mark.process
def test_tour_renders_each_screen_with_its_name(tmp_path: Path) -> None:
    out = tmp_path / "tour"
    res = subprocess.run(
        [sys.executable, "-m", "edge", "pad", "--tour", str(out)],
        env={**_no_display(), "HALL_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    written = sorted(out.glob("*.png"))
    assert [Path(p).name for p in res.stdout.split()] == [p.name for p in written]
    names = [re.sub(r"^\d+-", "", p.stem) for p in written]
    assert set(SCREENS) <= set(names), f"missing: {set(SCREENS) - set(names)}"
    assert names[-1] == "bus-lost"
    for path in written:
        with Image.open(path) as img:
            assert img.size == (1280, 800)
            colours = img.convert("RGB").getcolors(maxcolors=1 << 20) or []
            assert len(colours) > 50, f"{path.name} looks blank"


def test_a_pad_must_be_told_its_counter(tmp_path: Path) -> None:
    env = {**_no_display(), "HALL_HOME": str(tmp_path / "home")}
    res = subprocess.run([sys.executable, "-m", "edge", "pad"], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "which counter does this pad face" in res.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "edge", "pad", "--counter", "2;rm"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "a counter id is 1 to 16 letters" in bad.stderr


def test_config_section_is_registered_and_checked() -> None:
    assert config.service_model("pad") is PadConfig
    cfg = config.load_text('[hall]\nid = "h"\nname = "厅"\n\n[services.pad]\ncounter = "3"\nform_timeout_s = 600\n')
    pad = config.service_config(cfg, "pad", PadConfig)
    assert (pad.counter, pad.form_timeout_s) == ("3", 600)
    with pytest.raises(ConfigError, match=r"x.toml:6: services.pad.form_timeout_s"):
        config.load_text('[hall]\nid = "h"\nname = "厅"\n\n[services.pad]\nform_timeout_s = 5\n', "x.toml")
    with pytest.raises(ConfigError, match=r"services\.pad\.signature: unknown key"):
        config.load_text("[services.pad]\nsignature = true\n", "x.toml")


def test_hash_pin_and_help() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "edge", "pad", "--hash-pin"], input="13579246\n", capture_output=True, text=True
    )
    assert res.returncode == 0 and PadConfig(technician_pin_hash=res.stdout.strip()).technician_pin_hash
    listed = subprocess.run([sys.executable, "-m", "edge", "--help"], capture_output=True, text=True).stdout
    assert re.search(r"^\s+pad\s", listed, re.MULTILINE)
