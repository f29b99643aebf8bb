"""``hall vision``: the camera service, and offline tools on video files.

    hall vision [--config FILE]                         run one worker process per camera
    hall vision count VIDEO --line X1,Y1,X2,Y2 --json   in/out counts across a line
    hall vision heatmap VIDEO --out FILE.png            floor heatmap of a video (demo mapping)
    hall vision detect IMAGE… --json                    faces (box, score) in each image
    hall vision verify A B --json | --pairs FILE.csv    similarity and same/different
    hall vision enroll IMAGE… --who --purpose --screen --id-ref   consented VIP enrolment
    hall vision gallery list|remove [ID]                list entries, withdraw one at once
    hall vision emotion IMAGE… --json                   facial expression per face
    hall vision fetch                                   fetch and check the pinned models and media

The service starts one worker per configured camera (:mod:`vision.worker`),
restarts a worker that dies (waiting longer each time, up to a minute), and
keeps ``$HALL_HOME/vision/heatmap.png`` up to date from the ``heatmap.minute``
aggregates of the last ``HEATMAP_WINDOW`` periods, written atomically. With
``HALL_DEMO=1`` and no camera configured, the demo entrance camera plays the
sample pedestrian video in a loop.

It also listens for the kiosks' ``consent.recorded`` events (purpose
``face_recognition``): a withdrawal deletes that customer's gallery entries at
once (``face.forgotten``); a grant sends the camera facing that kiosk
(``kiosk = "<id>"``, faces on) to take the enrolment faces.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from vision.config import VisionConfig

log = logging.getLogger("hall.vision")
HEATMAP_WINDOW = 60


def heatmap_path(home_root: Path) -> Path:
    return home_root / "vision" / "heatmap.png"


WITHDRAWAL_CHECK_S = 30.0  # a withdrawal missed on the bus is applied from the log within this
GALLERY_CHECK_S = 2.0  # how often the service looks for gallery changes to pass to the cameras


class Service:
    """Supervises the camera workers and renders the hall heatmap."""

    def __init__(self, cfg: VisionConfig, home_root: Path, cameras: list[Any]) -> None:
        from vision.heatmap import load_floorplan

        self.cfg = cfg
        self.home_root = home_root
        self.cameras = cameras
        self.floorplan = load_floorplan(cfg.floorplan or None)
        self.floor_size = (int(self.floorplan.shape[1]), int(self.floorplan.shape[0]))
        self.stop = threading.Event()
        self.procs: dict[str, Any] = {}
        self.queues: dict[str, Any] = {}
        self.restarts: dict[str, tuple[int, float]] = {}
        self.window: deque[list[list[float]]] = deque(maxlen=HEATMAP_WINDOW)
        self.gallery_seq: int | None = None

    def _spawn(self, camera: Any) -> None:
        import multiprocessing

        from vision import worker

        ctx = multiprocessing.get_context("spawn")
        self.queues[camera.name] = ctx.Queue()
        proc = ctx.Process(
            target=worker.run,
            args=(camera.model_dump(), self.cfg.model_dump(), self.floor_size, self.queues[camera.name]),
            name=f"vision-{camera.name}",
        )
        proc.start()
        self.procs[camera.name] = proc
        log.info("camera %s: worker %s started", camera.name, proc.pid)

    def supervise(self) -> None:
        """Restart dead workers with a growing delay (1 s doubling to 60 s)."""
        now = time.monotonic()
        for camera in self.cameras:
            proc = self.procs.get(camera.name)
            if proc is not None and proc.is_alive():
                continue
            count, due = self.restarts.get(camera.name, (0, 0.0))
            if proc is not None and due == 0.0:
                log.error("camera %s: worker exited with %s", camera.name, proc.exitcode)
                self.restarts[camera.name] = (count + 1, now + min(60.0, 2.0**count))
                continue
            if now >= due:
                self.restarts[camera.name] = (count, 0.0)
                self._spawn(camera)

    def on_heatmap(self, data: dict[str, Any]) -> Path:
        """Add one aggregate to the window and rewrite the PNG."""
        from vision.heatmap import HeatGrid, render, write_png

        self.window.append(list(data.get("cells", [])))
        grid = HeatGrid(self.floor_size[0], self.floor_size[1], self.cfg.cell)
        for cells in self.window:
            grid.merge(cells)
        return write_png(render(grid, self.floorplan), heatmap_path(self.home_root))

    def on_consent(self, data: dict[str, Any], ts: str) -> tuple[str, dict[str, Any], bool] | None:
        """Act on a kiosk's ``consent.recorded``: withdrawal deletes the customer's entries at once;
        a grant asks the camera facing that kiosk to enrol. Returns the event to publish, if any."""
        from vision.gallery import Gallery

        customer = data.get("customer") or {}
        ref, masked, kiosk = str(customer.get("hash", "")), str(customer.get("masked", "")), str(data.get("kiosk", ""))
        if data.get("purpose") not in (None, "face_recognition") or not ref:
            return None
        if data.get("decision") == "withdrawn":
            gallery = Gallery.at_home(self.home_root)
            try:
                removed = gallery.remove_ref(ref)
            finally:
                gallery.close()
            log.info("consent withdrawn at %s: %d gallery entries deleted", kiosk, removed)
            return "face.forgotten", {"customer": masked, "kiosk": kiosk, "removed": removed}, True
        if data.get("decision") != "granted":
            return None
        camera = next((c for c in self.cameras if c.faces and c.kiosk and c.kiosk == kiosk), None)
        if camera is None or camera.name not in self.queues:
            reason = f"no camera with faces on faces kiosk {kiosk or '?'}"
            return "face.enroll_failed", {"customer": masked, "kiosk": kiosk, "reason": reason}, False
        self.queues[camera.name].put(
            {"op": "enroll", "customer": {"hash": ref, "masked": masked}, "kiosk": kiosk, "when": ts}
        )
        return None

    def forward_gallery_changes(self) -> int:
        """Send enrolments and deletions since the last look to every face camera; return how many.

        Cameras load the gallery once and apply these changes, so none re-reads it while analysing."""
        from vision.gallery import Gallery

        gallery = Gallery.at_home(self.home_root)
        try:
            last = gallery.last_change()
            if self.gallery_seq is None:
                self.gallery_seq = last  # workers spawned now load the gallery as it is
                return 0
            if last <= self.gallery_seq:
                return 0
            changes = gallery.changes_since(self.gallery_seq)
        finally:
            gallery.close()
        self.gallery_seq = last
        for camera in self.cameras:
            if camera.faces and camera.name in self.queues:
                self.queues[camera.name].put({"op": "gallery", "changes": [list(c) for c in changes]})
        return len(changes)

    def catch_up_withdrawals(self, bus: Any) -> int:
        """Apply every withdrawal in the hall's log after the saved cursor (a missed event, or one
        recorded while this service was down, still deletes the face); return how many were read."""
        cursor_file = self.home_root / "vision" / "consent.cursor"
        try:
            cursor = int(cursor_file.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            cursor = 0
        read = 0
        while True:
            batch = bus.request("events.since", {"seq": cursor, "prefix": "consent.recorded", "limit": 500})
            for env in batch:
                cursor = int(env["seq"])
                read += 1
                data = dict(env["data"])
                if env["topic"] == "consent.recorded" and data.get("decision") == "withdrawn":
                    out = self.on_consent(data, str(env["ts"]))
                    if out is not None and out[1].get("removed"):
                        bus.request("event.publish", {"topic": out[0], "data": out[1], "durable": out[2]})
            if len(batch) < 500:
                break
        cursor_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cursor_file.with_suffix(".tmp")
        tmp.write_text(str(cursor))
        tmp.replace(cursor_file)
        return read

    def run(self) -> None:
        import time

        from edge import sdnotify
        from edge.bus import BusClient, Subscriber
        from edge.errors import HallError

        sub = Subscriber(["heatmap.minute", "consent.recorded"])
        bus = BusClient("vision", timeout=2.0, retries=2)
        next_catch_up = 0.0
        next_gallery = 0.0
        sdnotify.ready(f"{len(self.cameras)} camera(s)")
        try:
            if any(c.faces for c in self.cameras):
                self.forward_gallery_changes()  # the point the workers' first load is current to
            while not self.stop.is_set():
                sdnotify.alive()
                self.supervise()
                if any(c.faces for c in self.cameras) and time.monotonic() >= next_gallery:
                    next_gallery = time.monotonic() + GALLERY_CHECK_S
                    try:
                        self.forward_gallery_changes()
                    except HallError as exc:
                        log.warning("gallery changes not checked: %s", exc)
                if time.monotonic() >= next_catch_up:
                    next_catch_up = time.monotonic() + WITHDRAWAL_CHECK_S
                    try:
                        self.catch_up_withdrawals(bus)
                    except HallError as exc:
                        log.warning("withdrawals not checked yet: %s", exc)
                env = sub.recv(timeout=0.5)
                if env is None:
                    continue
                if env["topic"] == "heatmap.minute" and env["data"].get("cell") == self.cfg.cell:
                    self.on_heatmap(env["data"])
                elif env["topic"] == "consent.recorded":
                    try:
                        out = self.on_consent(dict(env["data"]), str(env["ts"]))
                        if out is not None:
                            topic, data, durable = out
                            bus.request("event.publish", {"topic": topic, "data": data, "durable": durable})
                    except HallError as exc:
                        log.error("consent %s: %s", env["data"].get("decision"), exc)
        finally:
            sub.close()
            bus.close()
            self.shutdown()

    def shutdown(self) -> None:
        for proc in self.procs.values():
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs.values():
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()


def _serve(args: argparse.Namespace) -> int:
    import faulthandler

    from edge import config
    from edge.errors import HallError
    from edge.paths import Home

    faulthandler.enable()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        hall = config.load(args.config)
        cfg = config.service_config(hall, "vision", VisionConfig)
        cameras: list[Any] = list(cfg.cameras)
        if not cameras and os.environ.get("HALL_DEMO") == "1":
            from vision.config import demo_camera

            cameras = [demo_camera()]
        home = Home.from_env().ensure()
        service = Service(cfg, home.root, cameras)
    except HallError as exc:
        print(f"hall vision: {exc}", file=sys.stderr)
        return 2
    from edge.proc import set_title

    set_title("hall vision")
    signal.signal(signal.SIGTERM, lambda signum, frame: service.stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: service.stop.set())
    log.info("vision: cameras %s", ", ".join(c.name for c in cameras) or "none")
    service.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hall vision", description="Cameras: people counts, zones, seats, heatmap.")
    parser.add_argument("--config", help="hall config file (TOML); default: embedded demo hall")
    sub = parser.add_subparsers(dest="cmd")
    from vision.tools import add_tools

    add_tools(sub)
    args = parser.parse_args(argv)
    if args.cmd is None:
        return _serve(args)
    from edge.errors import HallError

    try:
        code: int = args.func(args)
        return code
    except HallError as exc:
        print(f"hall vision {args.cmd}: {exc}", file=sys.stderr)
        return 1
