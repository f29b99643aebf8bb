"""Camera sources: USB index, RTSP/HTTP URL or a looped video file, reopened with backoff.

:class:`CameraSource` yields ``(t, frame)`` at the analysis rate. A file is
paced by its own frame rate (frames between analysed ones are skipped) and
starts again at its end; a live source is read continuously and the freshest
frame analysed (frames that queued while an analysis ran are dropped), so no backlog builds up in the
driver's or the network's buffer; a live source that fails is released and reopened
after 1, 2, 4 … seconds up to ``reopen_max_s``. Each change of state is
passed to ``on_health(state, detail)`` with state ``ok`` or ``offline``.
Frames stay in memory: nothing here writes them anywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vision.errors import CameraError

Health = Callable[[str, str], None]


def _target(source: str) -> int | str:
    return int(source) if source.isdigit() else source


def is_file(source: str) -> bool:
    return not source.isdigit() and "://" not in source


class CameraSource:
    def __init__(
        self,
        source: str,
        fps: float,
        *,
        on_health: Health | None = None,
        reopen_max_s: float = 30.0,
        stop: threading.Event | None = None,
        realtime: bool = True,
    ) -> None:
        self.source = source
        self.fps = fps
        self.on_health = on_health or (lambda state, detail: None)
        self.reopen_max_s = reopen_max_s
        self.stop = stop or threading.Event()
        self.realtime = realtime
        self.cap: Any = None
        self.state = ""
        self.file_fps = 0.0

    def _report(self, state: str, detail: str) -> None:
        if state != self.state:
            self.state = state
            self.on_health(state, detail)

    def open(self) -> None:
        """Open the source once; raise :class:`CameraError` naming it if it gives no frame."""
        import cv2

        if is_file(self.source) and not Path(self.source).is_file():
            raise CameraError(f"{self.source}: no such video file")
        cap = cv2.VideoCapture(_target(self.source))
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"{self.source}: cannot open")
        self.cap = cap
        self.file_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) if is_file(self.source) else 0.0

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def _read(self) -> np.ndarray | None:
        import cv2

        ok, frame = self.cap.read()
        if ok:
            return np.asarray(frame)
        if is_file(self.source):
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # loop
            ok, frame = self.cap.read()
            if ok:
                return np.asarray(frame)
        return None

    def _drain(self, period: float) -> np.ndarray | None:
        """Drop the frames that queued in the driver's and the network's buffers while analysis was behind:
        a frame that comes at once was waiting; the first that takes a while is the camera's next, returned."""
        for _ in range(max(1, int(4 / period))):  # at most four seconds' worth
            started = time.monotonic()
            if not self.cap.grab():
                return None
            if time.monotonic() - started > period / 4:
                ok, frame = self.cap.retrieve()
                return np.asarray(frame) if ok else None
        return None

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """``(t, frame)`` pairs at about ``fps`` until ``stop`` is set; never raises for a dropped source."""
        backoff = 1.0
        period = 1.0 / self.fps
        next_t = time.monotonic()
        while not self.stop.is_set():
            if self.cap is None:
                try:
                    self.open()
                except CameraError as exc:
                    self._report("offline", str(exc))
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, self.reopen_max_s)
                    continue
                self._report("ok", f"{self.source} opened")
                backoff = 1.0
                next_t = time.monotonic()  # nothing queued yet: the first frame at once
            frame = None
            if self.realtime and self.file_fps == 0:
                # a live source: keep taking frames until the next analysis time, so the one analysed is fresh
                behind = time.monotonic() > next_t + period  # an analysis overran: frames queued meanwhile
                while time.monotonic() < next_t and not self.stop.is_set() and self.cap.grab():
                    pass
                if behind:
                    frame = self._drain(period)
            if frame is None:
                frame = self._read()
            if frame is None:
                self.close()
                self._report("offline", f"{self.source}: no frame")
                continue
            if self.file_fps > 0:
                skip = max(0, round(self.file_fps / self.fps) - 1)
                for _ in range(skip):
                    if not self.cap.grab():
                        break
                if self.realtime:
                    now = time.monotonic()
                    if now < next_t:
                        self.stop.wait(next_t - now)
            if self.realtime:
                next_t = max(next_t + period, time.monotonic() - period)
            yield time.time(), frame
        self.close()


def video_frames(path: str, max_frames: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Every frame of a video file with its index and video time; :class:`CameraError` if unreadable."""
    import cv2

    if not Path(path).is_file():
        raise CameraError(f"{path}: no such video file")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise CameraError(f"{path}: not a readable video")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 10.0
    n = 0
    try:
        while max_frames is None or n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            yield n, n / fps, np.asarray(frame)
            n += 1
    finally:
        cap.release()
    if n == 0:
        raise CameraError(f"{path}: no frame could be decoded")
