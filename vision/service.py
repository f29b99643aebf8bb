"""``hall vision``: the camera service, and offline tools on video files.

    hall vision [--config FILE]                         run one worker process per camera
    hall vision count VIDEO --line X1,Y1,X2,Y2 --json   in/out counts across a line
    hall vision heatmap VIDEO --out FILE.png            floor heatmap of a video (demo mapping)
    hall vision detect IMAGE… --json                    faces (box, score) in each image
    hall vision verify A B --json | --pairs FILE.csv    similarity and same/different
    hall vision enroll IMAGE… --who --purpose --screen --id-ref   consented VIP enrolment
    hall vision gallery list|remove [ID]                list entries, withdraw one at once
    hall vision fetch                                   fetch and check the pinned models and media

The service starts one worker per configured camera (:mod:`vision.worker`),
restarts a worker that dies (waiting longer each time, up to a minute), and
keeps ``$HALL_HOME/vision/heatmap.png`` up to date from the ``heatmap.minute``
aggregates of the last ``HEATMAP_WINDOW`` periods, written atomically. With
``HALL_DEMO=1`` and no camera configured, the demo entrance camera plays the
sample pedestrian video in a loop.
"""

from __future__ import annotations

import argparse
import json
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
        self.restarts: dict[str, tuple[int, float]] = {}
        self.window: deque[list[list[float]]] = deque(maxlen=HEATMAP_WINDOW)

    def _spawn(self, camera: Any) -> None:
        import multiprocessing

        from vision import worker

        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(
            target=worker.run,
            args=(camera.model_dump(), self.cfg.model_dump(), self.floor_size),
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

    def run(self) -> None:
        from edge.bus import Subscriber

        sub = Subscriber(["heatmap.minute"])
        try:
            while not self.stop.is_set():
                self.supervise()
                env = sub.recv(timeout=0.5)
                if env is not None and env["data"].get("cell") == self.cfg.cell:
                    self.on_heatmap(env["data"])
        finally:
            sub.close()
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
    try:
        import setproctitle

        setproctitle.setproctitle("hall vision")
    except ImportError:
        pass
    signal.signal(signal.SIGTERM, lambda signum, frame: service.stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: service.stop.set())
    log.info("vision: cameras %s", ", ".join(c.name for c in cameras) or "none")
    service.run()
    return 0


def _count(args: argparse.Namespace) -> int:
    from vision.camera import video_frames
    from vision.geometry import Line
    from vision.people import BlobDetector, LineCounter, Tracker

    try:
        line = Line.parse(args.line)
    except ValueError as exc:
        print(f"hall vision count: --line: {exc}", file=sys.stderr)
        return 2
    detector, tracker, counter = BlobDetector(), Tracker(), LineCounter(line)
    for _, t, frame in video_frames(args.video, args.max_frames):
        counter.update(tracker.update(detector.detect(frame), t), t)
    if args.json:
        print(json.dumps(counter.counts))
    else:
        print(f"in {counter.counts['in']}  out {counter.counts['out']}")
    return 0


def _heatmap(args: argparse.Namespace) -> int:
    from vision.analysis import Analyzer
    from vision.camera import video_frames
    from vision.config import demo_camera
    from vision.heatmap import HeatGrid, load_floorplan, render, write_png

    cfg = VisionConfig(heatmap_period_s=3600.0)
    plan = load_floorplan(args.floorplan)
    floor = (int(plan.shape[1]), int(plan.shape[0]))
    camera = demo_camera().model_copy(update={"source": args.video})
    analyzer = Analyzer(camera, cfg, floor_size=floor)
    for _, t, frame in video_frames(args.video, args.max_frames):
        analyzer.step(frame, t)
    grid: HeatGrid = analyzer.heat
    write_png(render(grid, plan), Path(args.out))
    print(json.dumps({"out": args.out, "person_seconds": round(grid.total(), 1), "cells": len(grid.cells())}))
    return 0


def _detect(args: argparse.Namespace) -> int:
    from vision.faces import FaceDetector, quality, read_image

    detector = FaceDetector()
    results = []
    for name in args.images:
        image = read_image(name)
        faces = detector.detect(image)
        items = []
        for face in faces:
            item = face.to_dict()
            if args.quality:
                q = quality(image, face)
                item["usable"] = q.ok
                if not q.ok:
                    item["reason"] = q.reason
            items.append(item)
        results.append({"image": name, "faces": items})
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            print(f"{r['image']}: {len(r['faces'])} face(s)")
    return 0


def _verify(args: argparse.Namespace) -> int:
    import csv

    from vision.embed import FaceEncoder, verify_images

    if args.pairs:
        try:
            with open(args.pairs, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            print(f"hall vision verify: {args.pairs}: {exc.strerror}", file=sys.stderr)
            return 2
        if rows and not {"a", "b"} <= set(rows[0]):
            print(f"hall vision verify: {args.pairs}: needs columns a,b", file=sys.stderr)
            return 2
        pairs = [(r["a"], r["b"]) for r in rows]
    elif len(args.images) == 2:
        pairs = [(args.images[0], args.images[1])]
    else:
        print("hall vision verify: give two images, or --pairs FILE.csv", file=sys.stderr)
        return 2
    encoder = FaceEncoder()
    for a, b in pairs:
        result = verify_images(encoder, a, b)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            verdict = "same" if result["same"] else "different"
            print(f"{a} {b}: {verdict} ({result['similarity']}) {result.get('reason', '')}".rstrip())
    return 0


def _gallery(home_root: Path) -> Any:
    from vision.gallery import Gallery

    return Gallery.at_home(home_root)


def _enroll(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    import numpy as np
    from pydantic import ValidationError

    from edge.paths import Home
    from vision.embed import FaceEncoder
    from vision.faces import read_image
    from vision.gallery import Consent

    when = args.when or datetime.now(UTC).isoformat(timespec="seconds")
    try:
        consent = Consent(who=args.who, when=when, purpose=args.purpose, screen=args.screen)
    except ValidationError as exc:
        problems = "; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        print(f"hall vision enroll: {problems}", file=sys.stderr)
        return 2
    encoder = FaceEncoder()
    vectors = []
    for name in args.images:
        vec, why = encoder.encode(read_image(name))
        if vec is None:
            print(f"hall vision enroll: {name}: refused: {why}", file=sys.stderr)
            return 1
        vectors.append(vec)
    gallery = _gallery(Home.from_env().ensure().root)
    try:
        entry_id = gallery.enroll(np.stack(vectors), consent, args.id_ref, args.days)
    finally:
        gallery.close()
    print(json.dumps({"id": entry_id}) if args.json else entry_id)
    return 0


def _gallery_cmd(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from edge.paths import Home

    gallery = _gallery(Home.from_env().ensure().root)
    try:
        if args.action == "remove":
            if not args.id:
                print("hall vision gallery remove: give the entry id", file=sys.stderr)
                return 2
            if not gallery.remove(args.id):
                print(f"hall vision gallery remove: no entry {args.id}", file=sys.stderr)
                return 1
            print(f"removed {args.id}")
            return 0
        entries = gallery.entries()
    finally:
        gallery.close()
    if args.json:
        print(json.dumps([asdict(e) for e in entries]))
    else:
        for e in entries:
            print(f"{e.id}  expires {time.strftime('%Y-%m-%d', time.localtime(e.expires))}  {e.consent['who']}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from vision import assets

    return assets.main()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hall vision", description="Cameras: people counts, zones, seats, heatmap.")
    parser.add_argument("--config", help="hall config file (TOML); default: embedded demo hall")
    sub = parser.add_subparsers(dest="cmd")
    p = sub.add_parser("count", help="count people crossing a line in a video file")
    p.add_argument("video")
    p.add_argument("--line", required=True, help="X1,Y1,X2,Y2 in frame pixels; 'in' is toward the left of P1→P2")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--json", action="store_true", help='print {"in": n, "out": m}')
    p.set_defaults(func=_count)
    p = sub.add_parser("heatmap", help="render a video's floor heatmap (demo camera mapping) to a PNG")
    p.add_argument("video")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--floorplan", default=None, help="floor-plan image (default: the demo hall's)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.set_defaults(func=_heatmap)
    p = sub.add_parser("detect", help="find faces in image files")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--quality", action="store_true", help="also say whether each face passes the quality gate")
    p.add_argument("--json", action="store_true", help='print [{"image", "faces": [{"box": [x,y,w,h], "score"}]}]')
    p.set_defaults(func=_detect)
    p = sub.add_parser("verify", help="are two pictures of the same person?")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("--pairs", help="CSV file with columns a,b: one JSON line per pair, in order")
    p.add_argument("--json", action="store_true", help='print {"similarity", "same"} (and "reason")')
    p.set_defaults(func=_verify)
    p = sub.add_parser("enroll", help="add a consenting customer's face to the VIP gallery")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="one to five photos, each with one usable face")
    p.add_argument("--who", required=True, help="the customer, as they signed the consent")
    p.add_argument("--purpose", required=True, help="what the face is used for")
    p.add_argument("--screen", required=True, help="the kiosk or screen that took the consent")
    p.add_argument("--when", default="", help="ISO time of the consent (default: now)")
    p.add_argument("--id-ref", required=True, help="reference of the checked ID card")
    p.add_argument("--days", type=int, default=365, help="days until the entry expires")
    p.add_argument("--json", action="store_true", help='print {"id": ...}')
    p.set_defaults(func=_enroll)
    p = sub.add_parser("gallery", help="list or remove VIP gallery entries")
    p.add_argument("action", choices=["list", "remove"])
    p.add_argument("id", nargs="?", help="entry id (remove)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_gallery_cmd)
    p = sub.add_parser("fetch", help="fetch and check the pinned models and test media")
    p.set_defaults(func=_fetch)
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
