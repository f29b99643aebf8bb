"""A simulated network camera: MJPEG over HTTP (multipart/x-mixed-replace) on a local TCP port.

It can be unplugged (``drop``: the connection is cut and new ones are refused)
and plugged back (``restore``), like an IP camera losing power. With a
``scene`` (anything with ``frame(t)``, such as :class:`vision.synth.Person`) it
films that scene, ``t`` being the seconds since the camera started
(:meth:`MjpegCamera.now`); ``scene`` may be swapped while it runs (the customer
steps away, a photo is held up).
"""

from __future__ import annotations

import select
import socket
import threading
import time

import numpy as np


class MjpegCamera:
    def __init__(self, fps: float = 20.0, scene: object = None) -> None:
        self.fps = fps
        self.scene = scene
        self.started = time.monotonic()
        self.error: BaseException | None = None  # what stopped the camera, raised again by close()
        self.stop = threading.Event()
        self.up = threading.Event()
        self.server = self._listen(0)
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def _listen(self, port: int) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(4)
        s.settimeout(0.2)
        return s

    def now(self) -> float:
        """The scene's time: seconds since the camera started."""
        return time.monotonic() - self.started

    def start(self) -> MjpegCamera:
        self.up.set()
        self.thread.start()
        return self

    def drop(self) -> None:
        self.up.clear()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.server.close()
        if self.error is not None:
            raise RuntimeError(f"the simulated camera failed: {self.error!r}") from self.error

    def _serve(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a scene that cannot be filmed: the camera goes dark, close() says why
            self.error = exc

    def _loop(self) -> None:
        import cv2

        i = 0
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            if not self.up.is_set():
                conn.close()  # unplugged: refuse
                continue
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
                    # like a camera on a busy network: a frame the viewer is not ready for is dropped, never
                    # queued, so what the viewer sees is now, not seconds ago
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
                    while self.up.is_set() and not self.stop.is_set():
                        if not select.select([], [conn], [], 1 / self.fps)[1]:
                            continue
                        if self.scene is not None:
                            image = self.scene.frame(self.now())  # type: ignore[attr-defined]
                        else:
                            image = np.full((240, 320, 3), (i * 7) % 255, np.uint8)
                        _, jpg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
                        head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n"
                        conn.sendall(head.encode() + jpg.tobytes() + b"\r\n")
                        i += 1
                        time.sleep(1 / self.fps)
                except OSError:
                    pass
