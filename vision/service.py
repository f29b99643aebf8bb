"""``hall vision``: the camera service, and offline tools on video files.

    hall vision [--config FILE]                         run one worker process per camera
    hall vision count VIDEO --line X1,Y1,X2,Y2 --json   in/out counts across a line
    hall vision heatmap VIDEO --out FILE.png            floor heatmap of a video (demo mapping)
    hall vision detect IMAGE… --json                    faces (box, score) in each image
    hall vision verify A B --json | --pairs FILE.csv    similarity and same/different
    hall vision enroll IMAGE… --id-ref REF --purpose P --screen S   consented enrolment (REF hashed on entry)
    hall vision gallery list|remove [ID]                list entries, withdraw one at once
    hall vision audit [--since T] [--json]              the face audit: matches, refusals, deletions
    hall vision emotion IMAGE… --json                   facial expression per face
    hall vision fetch                                   fetch and check the pinned models and media

The service starts one worker per configured camera (:mod:`vision.worker`),
restarts a worker that dies (waiting longer each time, up to a minute), and
keeps ``$HALL_HOME/vision/heatmap.png`` up to date from the ``heatmap.minute``
aggregates of the last ``HEATMAP_WINDOW`` periods, written atomically. With
``HALL_DEMO=1`` and no camera configured, the demo entrance camera plays the
sample pedestrian video in a loop.

Face identity (the kiosks' consents, tickets by face, the audit) is
:class:`~vision.faceservice.FaceDesk`'s. On a disk too full to open the face
audit or the gallery, the service counts people all the same and refuses face
work only: it says so in its log and as ``device.health`` of ``vision:faces``
(``fault``, then ``ok`` once it found room, looked for every
``FACE_CHECK_S``). At start-up the service refuses to run
when the face data is not private to its user (:func:`vision.gallery.check_private`),
or, under systemd, when it shares its user with the core (the gallery key must
be readable by the vision service's own account alone: ``hall-vision``).
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
from typing import TYPE_CHECKING, Any

from vision.config import VisionConfig

if TYPE_CHECKING:
    from edge.paths import Home

log = logging.getLogger("hall.vision")
HEATMAP_WINDOW = 60


def heatmap_path(home_root: Path) -> Path:
    return home_root / "vision" / "heatmap.png"


WITHDRAWAL_CHECK_S = 30.0  # a withdrawal missed on the bus is applied from the log within this
GALLERY_CHECK_S = 2.0  # how often the service looks for gallery changes to pass to the cameras
FACE_CHECK_S = 5.0  # how often, while face work is refused for want of room, the service looks for room
FACES_DEVICE = "vision:faces"


class Service:
    """Supervises the camera workers, renders the hall heatmap, and hosts the face desk."""

    def __init__(
        self,
        cfg: VisionConfig,
        home_root: Path,
        cameras: list[Any],
        *,
        faces: dict[str, Any] | None = None,
        hall_key: bytes | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        from vision.faceservice import FaceDesk
        from vision.heatmap import load_floorplan

        self.cfg = cfg
        self.home_root = home_root
        self.cameras = cameras
        self.faces = faces or {"retention_days": 180, "vip_tags": ["VIP"]}
        self.floorplan = load_floorplan(cfg.floorplan or None)
        self.floor_size = (int(self.floorplan.shape[1]), int(self.floorplan.shape[0]))
        self.stop = threading.Event()
        self.procs: dict[str, Any] = {}
        self.queues: dict[str, Any] = {}
        self.restarts: dict[str, tuple[int, float]] = {}
        self.window: deque[list[list[float]]] = deque(maxlen=HEATMAP_WINDOW)
        self.desk = FaceDesk(
            home_root,
            cameras,
            self.queues,
            retention_days=int(self.faces["retention_days"]),
            hall_key=hall_key,
            timezone=timezone,
        )

    def _spawn(self, camera: Any) -> None:
        import multiprocessing

        from vision import worker

        ctx = multiprocessing.get_context("spawn")
        self.queues[camera.name] = ctx.Queue()
        proc = ctx.Process(
            target=worker.run,
            args=(camera.model_dump(), self.cfg.model_dump(), self.floor_size, self.queues[camera.name], self.faces),
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

    def handle(self, env: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
        """One event from the bus; the events to publish in answer."""
        topic, data = env["topic"], dict(env["data"])
        if topic == "heatmap.minute":
            if data.get("cell") == self.cfg.cell:
                self.on_heatmap(data)
            return []
        if self.desk.refused:
            return self.desk.refusal(env)
        if topic == "consent.recorded":
            return self.desk.on_consent(data, str(env["ts"]))
        if topic == "face.match_requested":
            return self.desk.on_match_requested(data)
        if topic == "face.match_answered":
            return self.desk.on_match_answered(data)
        if topic == "face.audit.requested":
            return self.desk.on_audit_requested(data)
        if topic in ("card.id.read", "card.ic.read"):
            return self.desk.on_card_read(data, topic)
        return []

    def run(self) -> None:
        from edge import sdnotify
        from edge.bus import BusClient, Subscriber
        from edge.errors import HallError
        from vision.errors import NoRoom
        from vision.worker import Publisher

        sub = Subscriber(TOPICS)
        bus = BusClient("vision", timeout=2.0, retries=2)
        health = Publisher(BusClient("vision.health", timeout=2.0, retries=0)).start()  # waits for room itself
        next_catch_up = next_gallery = next_counts = 0.0
        next_face_check = time.monotonic() + FACE_CHECK_S
        faces = any(c.faces for c in self.cameras)
        said = ""  # the refusal of face work last reported ("" while face work runs)

        def publish(out: list[tuple[str, dict[str, Any], bool]]) -> None:
            for topic, data, durable in out:
                bus.request("event.publish", {"topic": topic, "data": data, "durable": durable})

        def report() -> None:
            nonlocal said, next_gallery
            refused = self.desk.refused
            if refused and not said:
                log.error("face work refused until there is room (people are still counted): %s", refused)
                health.publish("device.health", {"device": FACES_DEVICE, "state": "fault", "detail": refused}, True)
            elif said and not refused:
                log.info("face work resumed: the face audit and the gallery are open")
                ok = {"device": FACES_DEVICE, "state": "ok", "detail": "face work resumed"}
                health.publish("device.health", ok, True)
                next_gallery = 0.0
            said = refused

        sdnotify.ready(f"{len(self.cameras)} camera(s)")
        try:
            while not self.stop.is_set():
                sdnotify.alive()
                self.supervise()
                now = time.monotonic()
                try:
                    if self.desk.refused and now >= next_face_check:
                        next_face_check = now + FACE_CHECK_S
                        self.desk.check()
                    report()
                    if not self.desk.refused:
                        if faces and now >= next_gallery:
                            next_gallery = now + GALLERY_CHECK_S
                            self.desk.forward_gallery_changes()
                        if now >= next_catch_up:
                            next_catch_up = now + WITHDRAWAL_CHECK_S
                            publish(self.desk.catch_up_withdrawals(bus))
                        if now >= next_counts:
                            next_counts = now + COUNTS_CHECK_S
                            publish(self.desk.hourly_counts())
                            self.desk.counts_sent()
                except NoRoom as exc:
                    self.desk.refused = str(exc)
                except HallError as exc:
                    log.warning("periodic face work not done yet: %s", exc)
                env = sub.recv(timeout=0.5)
                if env is None:
                    continue
                try:
                    try:
                        out = self.handle(env)
                    except NoRoom as exc:  # found full while at work: this request and the next are refused
                        self.desk.refused = str(exc)
                        out = self.desk.refusal(env)
                    publish(out)
                except HallError as exc:
                    log.error("%s: %s", env["topic"], exc)
        finally:
            sub.close()
            bus.close()
            health.close(timeout=2.0)
            health.bus.close()
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
        self.desk.close()


TOPICS = ["heatmap.minute", "consent.recorded", "face.match_requested", "face.match_answered", "face.audit.requested",
          "card.id.read", "card.ic.read"]  # fmt: skip
COUNTS_CHECK_S = 60.0


def vision_home() -> Path:
    """The hall's home as the vision service uses it: it writes only ``vision/`` there (its own folder under
    systemd, ``StateDirectory=hall/vision``); the home itself is made here only on a development box."""
    from edge.errors import HallError
    from edge.paths import Home

    home = Home.from_env()
    if not home.root.exists():
        home.ensure()
    folder = home.root / "vision"
    try:
        folder.mkdir(mode=0o750, exist_ok=True)
    except OSError as exc:
        raise HallError(f"{folder} cannot be made: {exc.strerror}") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise HallError(f"{folder} is not writable by this user (the vision service's own folder)")
    return home.root


def read_hall_key(home: Home) -> bytes | None:
    """The customer key in force (HQ's, else the hall's own) if this user may read it (the hall's own made, as
    the core would, where there is none yet and this user may write the hall's folder: a development box); None
    otherwise."""
    from edge.errors import HallError
    from edge.identity import Keyring

    try:
        key = Keyring.load(home.customer_keys_path, home.secret_path).current.key
    except (OSError, ValueError, HallError):  # unreadable by this user, or damaged (the core names that)
        return None
    return key if len(key) == 32 else None


def startup_problems(home_root: Path) -> list[str]:
    """Why the vision service must not start: its face data not private to it, or, under systemd, a user
    shared with the core."""
    from vision.gallery import check_private

    problems = check_private(home_root)
    db = home_root / "hall.db"
    if os.environ.get("INVOCATION_ID") and db.exists() and db.stat().st_uid == os.geteuid():
        problems.append(
            f"the vision service runs as the core's user (the owner of {db}): the gallery key would be readable by "
            "every service of that user; run it as its own (systemd/hall.sysusers: hall-vision)"
        )
    return problems


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
        home = Home(vision_home())
        problems = startup_problems(home.root)
        if problems:
            for problem in problems:
                print(f"hall vision: {problem}", file=sys.stderr)
            return 2
        faces = {
            "retention_days": hall.faces.retention_days,
            "vip_tags": sorted(t.name for t in hall.tags if t.priority == "vip"),
        }
        service = Service(
            cfg,
            home.root,
            cameras,
            faces=faces,
            hall_key=read_hall_key(home),
            timezone=hall.hall.timezone,
        )
        service.desk.check()  # hashes raw references of older versions, or says why it cannot (a full disk: later)
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
