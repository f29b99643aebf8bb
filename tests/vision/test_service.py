"""``hall vision`` as a process beside a real core: facts from the sample video reach the bus."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.bus import BusClient, Endpoints, Subscriber
from tests.conftest import CoreProcess

pytestmark = pytest.mark.process


@pytest.fixture
def vision_proc(core: CoreProcess, vtest: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    cfg = tmp_path / "hall.toml"
    cfg.write_text(
        f"""
[services.vision]
heatmap_period_s = 2
reopen_max_s = 1

[[services.vision.cameras]]
name = "entrance"
source = "{vtest}"
fps = 10
line = [600, 0, 600, 576]
homography = {{ image = [[0, 520], [768, 520], [768, 140], [0, 140]], floor = [[200, 480], [600, 480], [600, 200], [200, 200]] }}

[[services.vision.cameras]]
name = "lobby"
source = "{vtest}"
fps = 2
faces = true

[[services.vision.cameras]]
name = "broken"
source = "{tmp_path / "missing.avi"}"
fps = 2
"""
    )
    env = {**os.environ, "HALL_HOME": str(core.home.root)}
    log = open(core.home.root / "vision.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "vision", "--config", str(cfg)], env=env, stdout=log, stderr=log
    )
    yield proc
    proc.terminate()
    try:
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_vision_publishes_crossings_heatmaps_and_camera_health(
    core: CoreProcess, vision_proc: subprocess.Popen[bytes]
) -> None:
    want = {"door.crossed", "heatmap.minute", "device.health"}
    seen: dict[str, list[dict[str, object]]] = {t: [] for t in want}
    with Subscriber(list(want), endpoints=Endpoints.local(core.home)) as sub:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (
            seen["door.crossed"]
            and seen["heatmap.minute"]
            and any(d["device"] == "camera:broken" for d in seen["device.health"])
            and any(d["device"] == "camera:lobby" for d in seen["device.health"])
        ):
            assert vision_proc.poll() is None, (core.home.root / "vision.log").read_text()[-2000:]
            env = sub.recv(timeout=1.0)
            if env is not None:
                seen[env["topic"]].append(env["data"])
    log_text = (core.home.root / "vision.log").read_text()[-2000:]
    assert seen["door.crossed"], log_text
    crossed = seen["door.crossed"][0]
    assert crossed["source"] == "camera:entrance" and crossed["direction"] in ("in", "out")
    assert seen["heatmap.minute"], log_text
    assert seen["heatmap.minute"][0]["camera"] == "entrance"
    assert seen["heatmap.minute"][0]["path"] == str(core.home.root / "vision" / "heatmap.png")
    broken = [d for d in seen["device.health"] if d["device"] == "camera:broken"]
    assert broken and broken[0]["state"] == "offline" and "no such video file" in str(broken[0]["detail"])
    assert any(d == {"device": "camera:entrance", "state": "ok", "detail": d["detail"]} for d in seen["device.health"])
    # Durable facts are in the hall's log, not only on the bus.
    with BusClient("test", endpoints=Endpoints.local(core.home)) as bus:
        events = bus.request("events.since", {"seq": 0, "prefix": "door."})
    assert any(e["topic"] == "door.crossed" for e in events)
    png = core.home.root / "vision" / "heatmap.png"
    deadline = time.monotonic() + 10
    while not png.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
