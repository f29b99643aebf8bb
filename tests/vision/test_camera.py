"""Camera sources over a real transport: a network camera that drops is reported and reopened."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.vision.mjpeg_camera import MjpegCamera
from vision.camera import CameraSource, video_frames
from vision.errors import CameraError


@pytest.fixture
def ipcam() -> Iterator[MjpegCamera]:
    cam = MjpegCamera().start()
    yield cam
    cam.close()


def _next(q: queue.Queue[tuple[str, str]], timeout: float = 20.0) -> tuple[str, str]:
    return q.get(timeout=timeout)


def test_a_dropped_network_camera_is_reported_and_reopened(ipcam: MjpegCamera) -> None:
    health: queue.Queue[tuple[str, str]] = queue.Queue()
    stop = threading.Event()
    source = CameraSource(ipcam.url, fps=10, on_health=lambda s, d: health.put((s, d)), reopen_max_s=1, stop=stop)
    frames: list[float] = []
    thread = threading.Thread(target=lambda: frames.extend(t for t, _ in source.frames()), daemon=True)
    thread.start()
    try:
        assert _next(health)[0] == "ok"
        ipcam.drop()
        state, detail = _next(health)
        assert state == "offline" and ipcam.url.split("/")[2] in detail
        seen = len(frames)
        ipcam.restore()
        assert _next(health)[0] == "ok"
    finally:
        stop.set()
        thread.join(10)
    assert len(frames) > seen > 0
    assert not thread.is_alive()


def test_a_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    health: queue.Queue[tuple[str, str]] = queue.Queue()
    stop = threading.Event()
    source = CameraSource(str(tmp_path / "gone.avi"), fps=5, on_health=lambda s, d: health.put((s, d)), stop=stop)
    thread = threading.Thread(target=lambda: list(source.frames()), daemon=True)
    thread.start()
    try:
        assert _next(health) == ("offline", f"{tmp_path / 'gone.avi'}: no such video file")
    finally:
        stop.set()
        thread.join(10)


def test_video_frames_names_an_unreadable_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"\x00" * 4096)
    with pytest.raises(CameraError, match=r"junk\.avi"):
        list(video_frames(str(junk)))


class Clock:
    """A scene that shows the camera's own time: the frame's grey level is its tenth of a second (mod 256)."""

    def frame(self, t: float) -> np.ndarray:
        return np.full((120, 160, 3), int(t * 10) % 256, np.uint8)


def test_a_slow_analysis_gets_the_cameras_latest_frame_not_the_queued_ones() -> None:
    cam = MjpegCamera(fps=10.0, scene=Clock()).start()
    source = CameraSource(cam.url, fps=10)
    try:
        frames = source.frames()
        next(frames)
        threading.Event().wait(3.0)  # an analysis that took three seconds, while the camera kept sending
        _, frame = next(frames)
        shown = int(frame[60, 80, 0])  # the camera's time when it sent this frame, in tenths (JPEG: ±1)
        now = int(cam.now() * 10) % 256
        assert (now - shown) % 256 <= 8, f"a frame {((now - shown) % 256) / 10:.1f} s old"
    finally:
        source.stop.set()
        source.close()
        cam.close()
