"""``hall vision`` offline tools: counting, heatmaps, faces, verification, the face gallery and its audit.

Each works on files only (no camera, no bus) and prints JSON with ``--json``;
bad input is a message naming the file or option and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from vision.config import VisionConfig


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


def _people(args: argparse.Namespace) -> int:
    from vision.people_cli import people_lines

    for obj in people_lines(args.sources, max_seconds=args.max_seconds, draw=args.draw):
        if args.json:
            print(json.dumps(obj), flush=True)
        else:
            print(f"{obj['source']} t={obj['t']:g}: {len(obj['people'])} people", flush=True)
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
            if args.quality or args.draw:
                q = quality(image, face)
                item["usable"] = q.ok
                if not q.ok:
                    item["reason"] = q.reason
            items.append(item)
        results.append({"image": name, "faces": items})
        if args.draw:
            from vision.heatmap import write_png
            from vision.overlay import draw_faces

            write_png(draw_faces(image, items), Path(args.draw) / f"{Path(name).stem}-faces.png")
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


def _calibrate(args: argparse.Namespace) -> int:
    import csv

    from vision.calibrate import threshold_for_far
    from vision.embed import FaceEncoder, verify_images

    try:
        with open(args.pairs, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        print(f"hall vision calibrate: {args.pairs}: {exc.strerror}", file=sys.stderr)
        return 2
    if not rows or not {"a", "b", "same"} <= set(rows[0]):
        print(f"hall vision calibrate: {args.pairs}: needs columns a,b,same and at least one row", file=sys.stderr)
        return 2
    encoder = FaceEncoder()
    genuine: list[float] = []
    impostor: list[float] = []
    unusable = 0
    for row in rows:
        result = verify_images(encoder, row["a"], row["b"])
        if "reason" in result:
            unusable += 1
            continue
        (genuine if row["same"].strip() in ("1", "true", "yes") else impostor).append(float(result["similarity"]))
    try:
        cal = threshold_for_far(genuine, impostor, args.far)
    except ValueError as exc:
        print(f"hall vision calibrate: {exc}", file=sys.stderr)
        return 2
    out = {**cal.to_dict(), "unusable_pairs": unusable, "config": f"match_threshold = {cal.threshold:.4f}"}
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"threshold {cal.threshold:.4f}: {cal.false_accepts}/{cal.impostor} impostors accepted, "
            f"{cal.false_rejects}/{cal.genuine} genuine pairs missed ({unusable} pairs without a usable face)"
        )
        if not cal.enough:
            print(f"too few impostor pairs to show a false-accept rate of {args.far}: label more", file=sys.stderr)
        print(f"put under [services.vision]: {out['config']}")
    return 0


def _open(home_root: Path) -> tuple[Any, Any]:
    """The gallery (hashing old raw references when the hall's key is readable) and the audit."""
    from edge.paths import Home
    from vision.audit import AuditLog
    from vision.gallery import Gallery
    from vision.service import read_hall_key

    audit = AuditLog.at_home(home_root)
    try:
        return Gallery.at_home(home_root, audit=audit, hall_key=read_hall_key(Home(home_root))), audit
    except BaseException:
        audit.close()
        raise


def _reference(text: str, home_root: Path) -> dict[str, str]:
    """``--id-ref``: a keyed hash as it is, or a card number (``id:NUMBER[:NAME]``, ``ic:ACCOUNT``, a bare
    ID number) hashed here with the hall's key; the number is stored nowhere."""
    from edge.errors import InvalidRequest
    from edge.identity import HASH_RE, parse_ref_arg
    from edge.paths import Home
    from vision.service import read_hall_key

    text = text.strip()
    if HASH_RE.match(text):
        return {"kind": "id", "hash": text, "masked": "", "name_masked": ""}
    key = read_hall_key(Home(home_root))
    if key is None:
        raise InvalidRequest(
            f"--id-ref: a card number is hashed with the hall's key, and {Home(home_root).secret_path} cannot be read "
            "by this user (give the keyed hash instead, or run as a user in the hall's group)"
        )
    try:
        return parse_ref_arg(text, key=key).to_dict()
    except InvalidRequest as exc:
        raise InvalidRequest(f"--id-ref: {exc}") from None


def _enroll(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    import numpy as np
    from pydantic import ValidationError

    from edge import config
    from edge.errors import InvalidRequest
    from edge.identity import mask_name
    from edge.paths import Home
    from vision.embed import FaceEncoder
    from vision.enrolment import EnrolmentRefused, capture, check_agreement
    from vision.faces import read_image
    from vision.gallery import Consent
    from vision.matching import MATCH_THRESHOLD
    from vision.service import vision_home

    home = Home(vision_home())
    try:
        customer = _reference(args.id_ref, home.root)
    except InvalidRequest as exc:
        print(f"hall vision enroll: {exc}", file=sys.stderr)
        return 2
    if args.who:
        customer["name_masked"] = args.who if "*" in args.who else mask_name(args.who)
    who = customer["name_masked"] or customer["masked"] or "customer"
    purposes = [p.strip() for item in args.purpose for p in item.split(",") if p.strip()]
    when = args.when or datetime.now(UTC).isoformat(timespec="seconds")
    try:
        consent = Consent(who=who[:32], when=when, purposes=purposes, screen=args.screen)
    except ValidationError as exc:
        problems = "; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        print(f"hall vision enroll: {problems}", file=sys.stderr)
        return 2
    if not 1 <= len(args.images) <= 5:
        print("hall vision enroll: give one to five photos", file=sys.stderr)
        return 2
    hall = config.load(getattr(args, "config", None))
    encoder = FaceEncoder()
    gallery, audit = _open(home.root)
    try:
        try:
            vectors = [capture(encoder, read_image(name), name) for name in args.images]
            check_agreement(vectors, list(args.images))
            mean = np.mean(vectors, axis=0)
            mean /= max(float(np.linalg.norm(mean)), 1e-9)
            for entry in gallery.entries():
                got = gallery.entry(entry.id)
                if (
                    got is not None
                    and entry.ref != customer["hash"]
                    and float((got[1] @ mean).max()) >= MATCH_THRESHOLD
                ):
                    raise EnrolmentRefused(
                        f"refused: this face is already enrolled for another customer (entry {entry.id})"
                    )
        except EnrolmentRefused as exc:
            audit.record(place="cli", purpose="enrolment", decision="refused", ref=customer["hash"], reason=str(exc))
            print(f"hall vision enroll: {exc}", file=sys.stderr)
            return 1
        entry_id = gallery.enroll(np.stack(vectors), consent, customer, hall.faces.retention_days)
        audit.record(
            place="cli",
            purpose="enrolment",
            decision="enrolled",
            ref=customer["hash"],
            reason=f"{len(vectors)} photos, purposes {', '.join(consent.purposes)}",
        )
    finally:
        gallery.close()
        audit.close()
    print(json.dumps({"id": entry_id, "ref": customer["hash"]}) if args.json else entry_id)
    return 0


def _gallery_cmd(args: argparse.Namespace) -> int:

    from vision.service import vision_home

    gallery, audit = _open(vision_home())
    try:
        if args.action == "remove":
            if not args.id:
                print("hall vision gallery remove: give the entry id", file=sys.stderr)
                return 2
            got = gallery.entry(args.id)
            if got is None:
                print(f"hall vision gallery remove: no entry {args.id}", file=sys.stderr)
                return 1
            gallery.remove_ref_audited(got[0].ref, place="cli", reason="removed by an operator")
            print(f"removed {args.id}")
            return 0
        entries = gallery.entries()
    finally:
        gallery.close()
        audit.close()
    if args.json:
        print(json.dumps([e.public() for e in entries]))
    else:
        for e in entries:
            until = time.strftime("%Y-%m-%d", time.localtime(e.expires))
            print(f"{e.id}  until {until}  {e.consent['who']}  {','.join(e.purposes)}")
    return 0


def _audit_cmd(args: argparse.Namespace) -> int:
    from vision.audit import AuditLog

    since = 0.0
    if args.since:
        try:
            since = _since(args.since)
        except ValueError as exc:
            print(f"hall vision audit: --since: {exc}", file=sys.stderr)
            return 2
    from vision.service import vision_home

    audit = AuditLog.at_home(vision_home())
    try:
        rows = audit.since(since, args.limit) if since else audit.latest(args.limit)
    finally:
        audit.close()
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["at"]))
            score = "" if row["score"] is None else f" {row['score']:.3f}"
            ref = f" {row['ref'][:12]}…" if row["ref"] else ""
            print(f"{when}  {row['place']:<16} {row['purpose']:<11} {row['decision']:<10}{ref}{score}  {row['reason']}")
    return 0


def _since(text: str) -> float:
    """``--since``: an ISO date or time (hall-local when it has no offset), or a duration back from now
    (``30m``, ``12h``, ``7d``)."""
    from datetime import datetime

    text = text.strip()
    units = {"m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO date/time nor a duration like 30m, 12h or 7d") from None


def _emotion(args: argparse.Namespace) -> int:
    from vision.emotion import CLASSES, ExpressionModel, label
    from vision.faces import FaceDetector, quality, read_image

    detector, model = FaceDetector(), ExpressionModel()
    results = []
    for name in args.images:
        image = read_image(name)
        faces = []
        for face in detector.detect(image):
            scores = model.scores(image, face.box)
            q = quality(image, face)
            item = {
                **face.to_dict(),
                "emotion": CLASSES[int(scores.argmax())],
                "group": label(scores),
                "scores": {c: round(float(p), 3) for c, p in zip(CLASSES, scores.tolist(), strict=True)},
                "usable": q.ok,
            }
            faces.append(item)
        results.append({"image": name, "faces": faces})
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            print(f"{r['image']}: " + ", ".join(f["emotion"] for f in r["faces"]))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from vision import assets

    return assets.main()


def add_tools(sub: Any) -> None:
    """Register the tools as subcommands of ``hall vision``."""
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
    p = sub.add_parser("people", help="people (box, score, track) in images, or in videos second by second")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image or video files")
    p.add_argument(
        "--json",
        action="store_true",
        help='one line per image and per second of video: {"source", "t", "people": [{"box": [x,y,w,h], "score", "track"}]}',
    )
    p.add_argument("--max-seconds", type=float, default=None, help="stop each video after this many seconds")
    p.add_argument("--draw", default=None, metavar="DIR", help="also write each result drawn on its frame as a PNG")
    p.set_defaults(func=_people)
    p = sub.add_parser("detect", help="find faces in image files")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--quality", action="store_true", help="also say whether each face passes the quality gate")
    p.add_argument("--draw", default=None, metavar="DIR", help="also write each image with its faces drawn as a PNG")
    p.add_argument("--json", action="store_true", help='print [{"image", "faces": [{"box": [x,y,w,h], "score"}]}]')
    p.set_defaults(func=_detect)
    p = sub.add_parser("verify", help="are two pictures of the same person?")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("--pairs", help="CSV file with columns a,b: one JSON line per pair, in order")
    p.add_argument("--json", action="store_true", help='print {"similarity", "same"} (and "reason")')
    p.set_defaults(func=_verify)
    p = sub.add_parser("calibrate", help="the match threshold for a target false-accept rate, from labelled pairs")
    p.add_argument("--pairs", required=True, help="CSV file with columns a,b,same (same: 1 or 0)")
    p.add_argument("--far", type=float, default=0.001, help="target false-accept rate (default 0.001)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_calibrate)
    p = sub.add_parser("enroll", help="add a consenting customer's face to the gallery (one person, 1-5 photos)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="one to five photos, each of the customer alone")
    p.add_argument(
        "--id-ref",
        required=True,
        help="the customer's card: the keyed hash, or the number (id:NUMBER[:NAME], ic:ACCOUNT), hashed here",
    )
    p.add_argument(
        "--purpose",
        action="append",
        required=True,
        help="what the customer consented to: ticket, vip_arrival (repeat or comma-separate)",
    )
    p.add_argument("--screen", required=True, help="the kiosk or screen that took the consent")
    p.add_argument("--who", default="", help="the customer's name as signed (kept masked: 张*三)")
    p.add_argument("--when", default="", help="ISO time of the consent (default: now)")
    p.add_argument("--json", action="store_true", help='print {"id": ..., "ref": ...}')
    p.set_defaults(func=_enroll)
    p = sub.add_parser("gallery", help="list the gallery's entries (no embedding, no number), or remove one")
    p.add_argument("action", choices=["list", "remove"])
    p.add_argument("id", nargs="?", help="entry id (remove)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_gallery_cmd)
    p = sub.add_parser("audit", help="the face audit: every match, refusal, enrolment and deletion on this box")
    p.add_argument("--since", default="", help="an ISO date or time, or a duration back from now (30m, 12h, 7d)")
    p.add_argument("--limit", type=int, default=500, help="at most this many records (default 500)")
    p.add_argument("--json", action="store_true", help="one JSON record per line")
    p.set_defaults(func=_audit_cmd)
    p = sub.add_parser("emotion", help="facial expression of each face in image files")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument(
        "--json", action="store_true", help='print [{"image", "faces": [{"box", "emotion", "group", "scores"}]}]'
    )
    p.set_defaults(func=_emotion)
    p = sub.add_parser("fetch", help="fetch and check the pinned models and test media")
    p.set_defaults(func=_fetch)
