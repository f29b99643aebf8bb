"""Vision speed on this machine, each figure beside a baseline measured in the same run.

- People: ms per frame of the per-camera pipeline (MOG2 blobs, tracker, line,
  zones, seat, heatmap) on the sample video at 768×576, beside OpenCV's HOG
  people detector on the same frames, in one thread and in two.
- Whole pipeline with faces on (face detection, VIP matching, expression) on
  the same frames: the analysis rate one camera can sustain on one core.
- Faces: ms per image of the res10 SSD detector on the group photo, beside
  OpenCV's Haar cascade; detect + align + embed per face.
- Identification of one face against a 10,000-entry gallery (matrix product),
  beside a per-entry Python loop.

    .venv/bin/python benchmarks/bench_vision.py [--frames 200] [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in a camera worker: one core per camera
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np

from vision import assets
from vision.analysis import Analyzer
from vision.camera import video_frames
from vision.config import VisionConfig, demo_camera


def frames(n: int) -> list[np.ndarray]:
    return [f for _, _, f in video_frames(str(assets.path("vtest.avi")), n)]


def per_frame_ms(run: Callable[[np.ndarray, float], object], clip: list[np.ndarray]) -> float:
    times = []
    for i, frame in enumerate(clip):
        t0 = time.perf_counter()
        run(frame, i / 10)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[len(times) // 4 :]) * 1000  # skip the background model's warm-up


def people(clip: list[np.ndarray]) -> tuple[float, float]:
    analyzer = Analyzer(demo_camera(), VisionConfig())
    ours = per_frame_ms(analyzer.step, clip)
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    baseline = per_frame_ms(lambda f, t: hog.detectMultiScale(f, winStride=(8, 8), padding=(8, 8), scale=1.05), clip)
    return ours, baseline


def faces(repeat: int) -> tuple[float, float, int, int]:
    from vision.faces import FaceDetector

    image = cv2.imread(str(assets.path("group5.jpg", fetch=True)))
    image = cv2.resize(image, (960, round(image.shape[0] * 960 / image.shape[1])))
    det = FaceDetector()
    haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ours, base = [], []
    n_ours = n_base = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n_ours = len(det.detect(image))
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n_base = len(haar.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30)))
        base.append(time.perf_counter() - t0)
    return statistics.median(ours) * 1000, statistics.median(base) * 1000, n_ours, n_base


def faces_on(clip: list[np.ndarray], tmp: str, repeat: int) -> tuple[float, float]:
    """ms per frame of the whole pipeline with faces on (sample video, whose people are too small
    for a usable face), and ms of the face stage for one person whose face is usable."""
    from pathlib import Path

    from vision.emotion import EmotionWindow
    from vision.facetrack import FaceStage
    from vision.gallery import Consent, Gallery
    from vision.people import Track

    gallery = Gallery(Path(tmp) / "g.db", Path(tmp) / "g.key")
    consent = Consent(who="bench", when="2026-01-01T00:00:00", purpose="benchmark", screen="none")
    gallery.enroll(np.random.default_rng(1).normal(size=(1, 192)).astype(np.float32), consent, "REF", 1)
    stage = FaceStage("bench", gallery, emotions=EmotionWindow("camera:bench"))
    analyzer = Analyzer(demo_camera(), VisionConfig(), faces=stage)
    whole = per_frame_ms(analyzer.step, clip)
    photo = cv2.imread(str(assets.path("obama3.jpg", fetch=True)))
    crop = cv2.resize(photo[: int(photo.shape[0] * 0.45)], None, fx=0.3, fy=0.3)
    frame = np.full((576, 768, 3), 90, np.uint8)
    frame[100 : 100 + crop.shape[0], 100 : 100 + crop.shape[1]] = crop
    times = []
    for i in range(repeat):
        track = Track(1000 + i, (100, 100, crop.shape[1], 460), hits=5, confirmed=True)
        t0 = time.perf_counter()
        stage.step(frame, [track], float(i))
        times.append(time.perf_counter() - t0)
    gallery.close()
    return whole, statistics.median(times) * 1000


def embed_per_face(repeat: int) -> tuple[float, float]:
    from vision.embed import FaceEncoder

    image = cv2.imread(str(assets.path("obama.jpg", fetch=True)))
    image = cv2.resize(image, (640, round(image.shape[0] * 640 / image.shape[1])))
    enc = FaceEncoder()
    haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ours, base = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        vec, _ = enc.encode(image)
        ours.append(time.perf_counter() - t0)
        assert vec is not None
        t0 = time.perf_counter()
        haar.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))
        base.append(time.perf_counter() - t0)
    return statistics.median(ours) * 1000, statistics.median(base) * 1000


def identify(n: int = 10_000, repeat: int = 100) -> tuple[float, float]:
    from vision.gallery import best_two

    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(n, 192)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ids = np.asarray([f"e{i}" for i in range(n)])
    probe = matrix[1234] + 0.01
    ours, base = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        best, _, _ = best_two(ids, matrix, probe)
        ours.append(time.perf_counter() - t0)
        assert best == "e1234"
    rows = matrix.tolist()
    p = probe.tolist()
    for _ in range(max(3, repeat // 5)):
        t0 = time.perf_counter()
        max(range(n), key=lambda i: sum(a * b for a, b in zip(rows[i], p, strict=True)))
        base.append(time.perf_counter() - t0)
    return statistics.median(ours) * 1000, statistics.median(base) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    clip = frames(args.frames)
    print(f"people pipeline, {len(clip)} frames of vtest.avi 768x576 (median ms per frame after warm-up)")
    for threads in (1, 2):
        cv2.setNumThreads(threads)
        ours, hog = people(clip)
        print(
            f"  {threads} thread(s): pipeline {ours:6.2f} ms ({1000 / ours:5.0f} fps)   "
            f"HOG baseline {hog:7.2f} ms   ratio {hog / ours:5.1f}x"
        )
    import tempfile

    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        whole, per_person = faces_on(clip[: min(len(clip), 120)], tmp, args.repeat)
    print(
        f"whole pipeline with faces on, 1 thread: {whole:6.2f} ms per frame; plus {per_person:5.1f} ms per person "
        f"with a usable face (find, check, embed, match, expression)"
    )
    two = 2 * 10 * (whole + per_person) / 10
    print(f"  two cameras at 10 fps, one usable face per frame each: {two:4.0f}% of one core (2 cores = 200%)")
    for threads in (1, 2):
        cv2.setNumThreads(threads)
        ours_ms, haar_ms, n_ours, n_haar = faces(args.repeat)
        print(
            f"face detection, group photo 960 wide, {threads} thread(s): res10 SSD {ours_ms:6.2f} ms "
            f"({n_ours} faces)   Haar baseline {haar_ms:6.2f} ms ({n_haar} faces)   ratio {haar_ms / ours_ms:4.1f}x"
        )
    cv2.setNumThreads(1)
    per_face, haar_ms = embed_per_face(args.repeat)
    print(
        f"detect + quality + align + embed, one face in a 640-wide photo: {per_face:6.1f} ms   "
        f"Haar detection alone {haar_ms:6.1f} ms   ratio {haar_ms / per_face:4.2f}x"
    )
    ours_ms, loop_ms = identify()
    print(
        f"identify one face in a 10,000-entry gallery: {ours_ms:6.2f} ms   "
        f"per-entry Python loop {loop_ms:7.1f} ms   ratio {loop_ms / ours_ms:5.0f}x"
    )


if __name__ == "__main__":
    main()
