"""One camera's worker process: capture, analyse, publish facts through the core.

Frames never leave this process. Facts go to the core as ``event.publish``
requests from a sender thread, so a slow or restarting core never stalls the
analysis: durable facts wait in a bounded queue and are resent (the same
envelope id, so the core applies each once); other facts are dropped when the
core cannot be reached. The camera's state is published as ``device.health``
``{"device": "camera:<name>", "state": "ok"|"offline", "detail"}``.
"""

from __future__ import annotations

import faulthandler
import logging
import queue
import signal
import threading
import uuid
from collections import deque
from typing import Any

log = logging.getLogger("hall.vision")


class Publisher:
    """Sends facts to the core on its own thread; at most ``limit`` durable facts wait."""

    def __init__(self, bus: Any, limit: int = 5000) -> None:
        self.bus = bus
        self.pending: deque[tuple[str, str, dict[str, Any], bool]] = deque(maxlen=limit)
        self.inbox: queue.Queue[tuple[str, dict[str, Any], bool] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="vision-publish", daemon=True)
        self.sent = 0
        self.deferred = 0  # tries put off because the core was away or its disk full

    def start(self) -> Publisher:
        self.thread.start()
        return self

    def publish(self, topic: str, data: dict[str, Any], durable: bool) -> None:
        self.inbox.put((topic, data, durable))

    def close(self, timeout: float = 5.0) -> None:
        self.inbox.put(None)
        self.thread.join(timeout)

    def _run(self) -> None:
        from edge.errors import BusError, DiskFull, HallError

        closing = False
        while not (closing and not self.pending):
            try:
                item = self.inbox.get(timeout=1.0 if self.pending else None)
            except queue.Empty:
                item = None
            else:
                if item is None:
                    closing = True
                else:
                    self.pending.append((uuid.uuid4().hex, *item))
            while self.pending:
                rid, topic, data, durable = self.pending[0]
                try:
                    self.bus.request(
                        "event.publish", {"topic": topic, "data": data, "durable": durable}, request_id=rid
                    )
                    self.sent += 1
                except (BusError, DiskFull) as exc:  # the core is away or has no room yet: durable facts wait
                    if not durable:
                        self.pending.popleft()
                        continue
                    self.deferred += 1
                    log.warning("cannot publish %s yet: %s", topic, exc)
                    if closing:
                        return
                    break
                except HallError as exc:
                    log.error("core refused %s: %s", topic, exc)
                self.pending.popleft()


def run(
    camera_json: dict[str, Any], cfg_json: dict[str, Any], floor_size: tuple[int, int], commands: Any = None
) -> None:
    """Entry of a worker process (spawned): analyse one camera until SIGTERM.

    ``commands`` (a multiprocessing queue) brings ``{"op": "enroll", "customer", "kiosk", "when"}``
    from the service when a customer consents at the kiosk this camera faces, and ``{"op": "gallery",
    "changes": [[seq, op, entry], …]}`` when the gallery changed (the camera's copy is updated by them).
    """
    import multiprocessing
    import os

    from edge.proc import die_with_parent

    parent = multiprocessing.parent_process()
    die_with_parent(parent.pid if parent else None)  # a service killed by -9 leaves no camera running twice
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):  # one camera, one core: before numpy loads
        os.environ.setdefault(var, "1")
    faulthandler.enable()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    import cv2

    cv2.setNumThreads(1)
    from edge.bus import BusClient
    from edge.paths import Home
    from vision.analysis import Analyzer
    from vision.camera import CameraSource
    from vision.config import Camera, VisionConfig

    camera = Camera.model_validate(camera_json)
    cfg = VisionConfig.model_validate(cfg_json)
    from edge.proc import set_title

    set_title(f"hall vision: camera {camera.name}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    bus = BusClient(f"vision.{camera.name}", timeout=2.0, retries=0)
    out = Publisher(bus).start()
    device = f"camera:{camera.name}"

    def health(state: str, detail: str) -> None:
        log.info("%s %s: %s", device, state, detail)
        out.publish("device.health", {"device": device, "state": state, "detail": detail}, True)

    source = CameraSource(camera.source, camera.fps, on_health=health, reopen_max_s=cfg.reopen_max_s, stop=stop)
    faces = None
    if camera.faces:
        from vision.emotion import EmotionWindow
        from vision.facetrack import FaceStage
        from vision.gallery import Gallery
        from vision.geometry import Polygon

        faces = FaceStage(
            camera.name,
            Gallery.at_home(Home.from_env().root),
            zones=[(z.name, Polygon(z.polygon)) for z in camera.zones],
            emotions=EmotionWindow(f"camera:{camera.name}", cfg.emotion_window_s, cfg.emotion_min_people),
            match_threshold=cfg.match_threshold,
            every_s=cfg.face_every_s,
            counters={z.name: z.counter for z in camera.zones if z.counter},
        )
    analyzer = Analyzer(camera, cfg, floor_size=floor_size, faces=faces)
    png = str(Home.from_env().root / "vision" / "heatmap.png")
    try:
        for t, frame in source.frames():
            for cmd in _drain(commands):
                if cmd.get("op") == "enroll" and faces is not None:
                    until = t + cfg.enrol_timeout_s
                    faces.request_enrolment(cmd["customer"], cmd["kiosk"], cmd["when"], until, cfg.enrol_days)
                elif cmd.get("op") == "gallery" and faces is not None:
                    faces.apply_changes([(int(a), str(b), str(c)) for a, b, c in cmd["changes"]])
            for fact in analyzer.step(frame, t):
                data = {**fact.data, "path": png} if fact.topic == "heatmap.minute" else fact.data
                out.publish(fact.topic, data, fact.durable)
    finally:
        out.close()
        bus.close()


def _drain(commands: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while commands is not None:
        try:
            out.append(commands.get_nowait())
        except queue.Empty:
            break
    return out
