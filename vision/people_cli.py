"""``hall vision people``: the people a camera would see in image and video files.

An image gives one result; a video gives one result per second of video time,
from the same tracker a camera runs (the detector every ``detect_every_s``,
ByteTrack between, blobs as the motion gate)::

    {"source": "hall.mp4", "t": 3.0, "people": [{"box": [x, y, w, h], "score": 0.71, "track": 4}]}

For an image ``track`` is null. With ``draw``, each result is also drawn on
its frame (boxes, scores, track ids) and written as a PNG.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vision.config import VisionConfig

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def people_lines(
    sources: list[str], *, max_seconds: float | None = None, draw: str | None = None, cfg: VisionConfig | None = None
) -> Iterator[dict[str, Any]]:
    """One result per image, and one per second of each video, in order."""
    from vision.detector import PersonDetector

    cfg = cfg or VisionConfig()
    detector = PersonDetector(threshold=cfg.person_threshold)
    for source in sources:
        if Path(source).suffix.lower() in IMAGE_SUFFIXES:
            from vision.faces import read_image

            image = read_image(source)
            people = [{"box": list(d.box), "score": round(d.score, 3), "track": None} for d in detector.detect(image)]
            result = {"source": source, "t": 0.0, "people": people}
            _draw(draw, source, image, result)
            yield result
        else:
            yield from _video(source, detector, cfg, max_seconds, draw)


def _video(
    source: str, detector: Any, cfg: VisionConfig, max_seconds: float | None, draw: str | None
) -> Iterator[dict[str, Any]]:
    from vision.camera import video_frames
    from vision.people import BlobDetector
    from vision.tracking import PeopleTracker

    tracker = PeopleTracker(
        detector,
        detect_every_s=cfg.detect_every_s,
        idle_every_s=cfg.idle_every_s,
        lost_s=cfg.lost_s,
        threshold=cfg.person_threshold,
    )
    blobs = BlobDetector()
    next_t = 0.0
    for _, t, frame in video_frames(source):
        if max_seconds is not None and t > max_seconds:
            break
        tracks = tracker.update(frame, t, motion=blobs.moving(frame))
        if t + 1e-6 < next_t:
            continue
        people = [
            {"box": list(tr.box), "score": round(float(tr.memo.get("score", 0.0)), 3), "track": tr.id} for tr in tracks
        ]
        result = {"source": source, "t": round(next_t, 3), "people": people}
        _draw(draw, source, frame, result)
        yield result
        next_t += 1.0


def _draw(folder: str | None, source: str, frame: np.ndarray, result: dict[str, Any]) -> None:
    if folder is None:
        return
    from vision.heatmap import write_png
    from vision.overlay import draw_people

    stem = Path(source).stem
    name = f"{stem}.png" if result["people"] is not None and Path(source).suffix.lower() in IMAGE_SUFFIXES else None
    name = name or f"{stem}-{int(result['t']):05d}.png"
    write_png(draw_people(frame, result["people"]), Path(folder) / name)
