"""Vision speed on this machine: the people pipeline and face detection, each beside a baseline.

People: milliseconds per frame of the whole per-camera pipeline (MOG2 blobs,
tracker, line, zones, seat, heatmap) on the sample video at 768×576, beside
OpenCV's HOG people detector on the same frames, in one thread and in two,
and the implied analysis frames per second of one camera.
Faces: milliseconds per image of the res10 SSD face detector on the group
photo, beside OpenCV's Haar cascade on the same image.

    .venv/bin/python benchmarks/bench_vision.py [--frames 200] [--repeat 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

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
    try:
        import vision.faces  # noqa: F401
    except ImportError:
        return
    for threads in (1, 2):
        cv2.setNumThreads(threads)
        ours_ms, haar_ms, n_ours, n_haar = faces(args.repeat)
        print(
            f"face detection, group photo 960 wide, {threads} thread(s): res10 SSD {ours_ms:6.2f} ms "
            f"({n_ours} faces)   Haar baseline {haar_ms:6.2f} ms ({n_haar} faces)   ratio {haar_ms / ours_ms:4.1f}x"
        )


if __name__ == "__main__":
    main()
