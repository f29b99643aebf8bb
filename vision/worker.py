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
import time
import uuid
from collections import deque
from typing import Any

log = logging.getLogger("hall.vision")
FACES_RETRY_S = 30.0  # how often a camera whose face work was refused for want of room tries again


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
    camera_json: dict[str, Any],
    cfg_json: dict[str, Any],
    floor_size: tuple[int, int],
    commands: Any = None,
    faces_json: dict[str, Any] | None = None,
) -> None:
    """Entry of a worker process (spawned): analyse one camera until SIGTERM.

    ``commands`` (a multiprocessing queue) brings, from the service: ``{"op": "identify", "kiosk",
    "request"}`` when a customer asks for a ticket by face at the kiosk this camera faces; ``{"op":
    "enrol", "kiosk", "request", "customer", "consent"}`` when one consented there; and ``{"op":
    "gallery", "changes": [[seq, op, entry], …]}`` when the gallery changed (the camera's copy is
    updated by them). ``faces_json`` holds the hall's face settings: ``retention_days`` and ``vip_tags``.
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
    settings = faces_json or {}
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
    lookups = BusClient(f"vision.{camera.name}.lookup", timeout=1.0, retries=0) if camera.faces else None

    def load_faces() -> Any:
        """The face stage; None (people still counted) while the disk is too full to open the audit or gallery."""
        from vision.errors import NoRoom

        try:
            return face_stage(camera, cfg, Home.from_env().root, settings, lookup=Lookup(lookups))
        except NoRoom as exc:
            log.error("%s: face work refused until there is room (people are still counted): %s", device, exc)
            return None

    faces = load_faces() if camera.faces else None
    next_faces = time.monotonic() + FACES_RETRY_S
    analyzer = Analyzer(camera, cfg, floor_size=floor_size, faces=faces)
    png = str(Home.from_env().root / "vision" / "heatmap.png")
    try:
        for t, frame in source.frames():
            if camera.faces and faces is None and time.monotonic() >= next_faces:
                next_faces = time.monotonic() + FACES_RETRY_S
                faces = analyzer.faces = load_faces()
            for cmd in _drain(commands):
                for fact in _command(faces, cmd, t, device):
                    out.publish(fact.topic, fact.data, fact.durable)
            if faces is not None and faces.kiosk is not None and faces.kiosk.busy:
                facts = faces.kiosk.step(frame, t)  # a customer at the kiosk: every frame is theirs until it answers
            else:
                facts = analyzer.step(frame, t)
            for fact in facts:
                data = {**fact.data, "path": png} if fact.topic == "heatmap.minute" else fact.data
                out.publish(fact.topic, data, fact.durable)
    finally:
        out.close()
        bus.close()
        if lookups is not None:
            lookups.close()


class Lookup:
    """HQ's tags and display name of a customer, asked of the core (``bundle.lookup``); None when it cannot say."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus

    def __call__(self, ref: str) -> tuple[list[str], str] | None:
        from edge.errors import HallError

        try:
            found = self.bus.request("bundle.lookup", {"customer_hash": ref})
        except HallError as exc:
            log.warning("customer tags not known now: %s", exc)
            return None
        return [str(t) for t in found.get("tags", [])], str(found.get("display_name", ""))


def face_stage(camera: Any, cfg: Any, home_root: Any, settings: dict[str, Any], *, lookup: Any = None) -> Any:
    """The camera's :class:`~vision.facetrack.FaceStage`, with the kiosk's face work when it faces one."""
    from vision.audit import AuditLog
    from vision.embed import FaceEncoder
    from vision.emotion import EmotionWindow
    from vision.facemesh import FaceMesh
    from vision.facetrack import FaceStage
    from vision.gallery import Gallery
    from vision.geometry import Polygon
    from vision.kioskface import KioskFaces

    audit = AuditLog.at_home(home_root)
    gallery = Gallery.at_home(home_root, audit=audit)
    encoder = FaceEncoder()
    retention = int(settings.get("retention_days", 180))
    kiosk = None
    if camera.kiosk:
        models = Models(encoder.detector, encoder.embedder, FaceMesh())

        def kiosk(index: Any) -> KioskFaces:
            return KioskFaces(
                camera.name,
                gallery,
                index,
                audit,
                models=models,
                retention_days=retention,
                lookup=lookup,
                match_threshold=cfg.match_threshold,
                timeout_s=cfg.identify_timeout_s,
            )

    return FaceStage(
        camera.name,
        gallery,
        encoder=encoder,
        zones=[(z.name, Polygon(z.polygon)) for z in camera.zones],
        emotions=EmotionWindow(f"camera:{camera.name}", cfg.emotion_window_s, cfg.emotion_min_people),
        match_threshold=cfg.match_threshold,
        every_s=cfg.face_every_s,
        counters={z.name: z.counter for z in camera.zones if z.counter},
        vip=camera.vip,
        audit=audit,
        lookup=lookup,
        vip_tags=frozenset(settings.get("vip_tags", ["VIP"])),
        kiosk=kiosk,
        retention_days=retention,
    )


class Models:
    """The networks a kiosk session uses: detector, embedder, face mesh."""

    def __init__(self, detector: Any, embedder: Any, mesher: Any) -> None:
        self.detector, self.embedder, self.mesher = detector, embedder, mesher


def _command(faces: Any, cmd: dict[str, Any], t: float, camera: str = "") -> list[Any]:
    """Act on one command from the service; the facts it gives at once (a kiosk's request to a camera whose
    face work is refused for want of room is answered at once: the kiosk offers the card)."""
    if faces is None:
        from vision.analysis import Fact

        base = {"kiosk": str(cmd.get("kiosk", "")), "request": str(cmd.get("request", "")), "source": camera}
        reason = "face work refused until there is room on the disk"
        if cmd.get("op") == "identify":
            return [Fact("face.abstained", {**base, "code": "unavailable", "reason": reason}, durable=False)]
        if cmd.get("op") == "enrol":
            customer = str((cmd.get("customer") or {}).get("masked", ""))
            data = {**base, "customer": customer, "code": "unavailable", "reason": reason}
            return [Fact("face.enroll_failed", data, durable=False)]
        return []
    op = cmd.get("op")
    if op == "gallery":
        faces.apply_changes([(int(a), str(b), str(c)) for a, b, c in cmd["changes"]])
        return []
    if faces.kiosk is None:
        return []
    if op == "identify":
        return list(faces.kiosk.identify(str(cmd["kiosk"]), str(cmd["request"]), t))
    if op == "enrol":
        return list(faces.kiosk.enrol(str(cmd["kiosk"]), str(cmd["request"]), t, cmd["customer"], cmd["consent"]))
    return []


def _drain(commands: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while commands is not None:
        try:
            out.append(commands.get_nowait())
        except queue.Empty:
            break
    return out
