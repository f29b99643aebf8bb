"""``hall vision`` as a process beside a real core: facts from the sample video reach the bus."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.bus import BusClient, Endpoints, Subscriber
from tests.conftest import CoreProcess
from tests.fulldisk import hall_on_a_full_disk

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


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(stat.parent.name))
    return kids


def _gone(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_camera_worker_ends_with_its_service_even_one_killed_by_kill_9(
    core: CoreProcess, vtest: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "hall.toml"
    cfg.write_text(f'[[services.vision.cameras]]\nname = "entrance"\nsource = "{vtest}"\nfps = 2\n')
    env = {**os.environ, "HALL_HOME": str(core.home.root)}
    with open(core.home.root / "vision.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "vision", "--config", str(cfg)], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and not workers:  # the worker, not multiprocessing's resource tracker
            workers = [p for p in _children(proc.pid) if "camera" in Path(f"/proc/{p}/cmdline").read_text()]
            time.sleep(0.2)
        assert workers, (core.home.root / "vision.log").read_text()[-2000:]
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(_gone(w) for w in workers):
            time.sleep(0.2)
        assert all(_gone(w) for w in workers), "the camera worker runs on without its service"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers:
            if not _gone(w):
                os.kill(w, signal.SIGKILL)


def test_facts_seen_while_the_disk_is_full_reach_the_log_once_space_returns(small_disk: Path) -> None:
    from vision.worker import Publisher

    with hall_on_a_full_disk(small_disk) as hall:
        out = Publisher(BusClient("vision.entrance", endpoints=Endpoints.local(hall.home), timeout=2.0, retries=0))
        try:
            out.start()
            for direction in ("in", "out"):
                out.publish("door.crossed", {"direction": direction, "source": "camera:entrance"}, True)
            deadline = time.monotonic() + 20
            while out.deferred == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert out.deferred > 0, "the core never refused the worker's fact"
            hall.free()
            out.close(timeout=20)
            logged = [e["data"]["direction"] for e in hall.bus.request("events.since", {"seq": 0, "prefix": "door."})]
            assert logged == ["in", "out"]
        finally:
            out.bus.close()


def test_vision_started_on_a_full_disk_counts_people_and_refuses_face_work_until_there_is_room(
    small_disk: Path, vtest: Path, tmp_path: Path
) -> None:
    from tests.busutil import wait_event

    with hall_on_a_full_disk(small_disk) as hall:
        cfg = tmp_path / "hall.toml"
        cfg.write_text(
            f'[[services.vision.cameras]]\nname = "entrance"\nsource = "{vtest}"\nfps = 10\nline = [600, 0, 600, 576]\n'
            f'[[services.vision.cameras]]\nname = "lobby"\nsource = "{vtest}"\nfps = 2\nfaces = true\nkiosk = "k1"\n'
        )
        env = {**os.environ, "HALL_HOME": str(hall.home.root)}
        log = tmp_path / "vision.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "edge", "vision", "--config", str(cfg)], env=env, stdout=out, stderr=out
            )
        sub = hall.subscribe(["face."])
        try:
            deadline = time.monotonic() + 60
            while "face work refused until there is room" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()[-2000:]
                time.sleep(0.2)
            assert "face work refused until there is room" in log.read_text(), log.read_text()[-2000:]
            # a ticket by face is refused at once, so the kiosk offers the ID card instead of waiting
            request = {"kiosk": "k1", "request": "full-1"}
            hall.say("face.match_requested", request)
            refused = wait_event(sub, "face.abstained", lambda d: d["request"] == "full-1")["data"]
            assert refused["code"] == "unavailable" and "disk is full" in refused["reason"]
            hall.free()
            with BusClient("test", endpoints=Endpoints.local(hall.home), timeout=5.0) as bus:

                def faces_health() -> list[str]:
                    events = bus.request("events.since", {"seq": 0, "prefix": "device.health"})
                    return [e["data"]["state"] for e in events if e["data"]["device"] == "vision:faces"]

                deadline = time.monotonic() + 60
                while faces_health() != ["fault", "ok"] and time.monotonic() < deadline:
                    assert proc.poll() is None, log.read_text()[-2000:]
                    time.sleep(0.5)
                assert faces_health() == ["fault", "ok"], log.read_text()[-2000:]
                # people were counted all along, by the worker started on the full disk (none restarted)
                deadline = time.monotonic() + 60
                while not bus.request("events.since", {"seq": 0, "prefix": "door."}) and time.monotonic() < deadline:
                    time.sleep(0.5)
                crossed = bus.request("events.since", {"seq": 0, "prefix": "door."})
                assert crossed and crossed[0]["data"]["source"] == "camera:entrance", log.read_text()[-2000:]
                # the audit, which only the service reads, is open again
                hall.say("face.audit.requested", {"request": "audit-1"})
                listed = wait_event(sub, "face.audit.listed", lambda d: d["request"] == "audit-1", timeout=30)
                assert listed["data"]["records"] == []  # the refusal at the kiosk could not be, and was not, audited
            text = log.read_text()
            assert "face work resumed" in text and "worker exited" not in text, text[-2000:]
        finally:
            sub.close()
            proc.terminate()
            assert proc.wait(20) == 0, log.read_text()[-2000:]
