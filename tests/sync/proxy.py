"""A TCP proxy of ours between the box and HQ that cuts, drops, delays and duplicates traffic.

- ``cut``: refuses every connection (closes it at once) and breaks the live ones;
- ``drop``: the chance that an answer from HQ is thrown away and both sides closed,
  after HQ has processed the request (the box must resend; HQ must not duplicate);
- ``delay``: seconds each chunk from the box waits before it is forwarded;
- ``duplicate``: every byte from the box is also sent over a second connection to
  HQ, so HQ sees each request twice (a replay), and that answer is discarded;
- ``truncate``: the chance that a chunk from the box is cut short and the
  connection closed (a request that never arrives whole);
- ``corrupt``: the chance that one byte of a chunk is flipped, either way
  (headers, body or answer: a signature, digest or framing that no longer holds).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading


class FaultProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = False
        self.drop = 0.0
        self.delay = 0.0
        self.duplicate = False
        self.truncate = 0.0
        self.corrupt = 0.0
        self.stats = {"connections": 0, "refused": 0, "dropped": 0, "duplicated": 0, "truncated": 0, "corrupted": 0}
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._rng = random.Random(7)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(
        self,
        *,
        cut: bool = False,
        drop: float = 0.0,
        delay: float = 0.0,
        duplicate: bool = False,
        truncate: float = 0.0,
        corrupt: float = 0.0,
    ) -> None:
        self.cut, self.drop, self.delay, self.duplicate = cut, drop, delay, duplicate
        self.truncate, self.corrupt = truncate, corrupt
        if cut:
            with self._lock:
                live = list(self._live)
            for s in live:
                _close(s)

    def close(self) -> None:
        self._closed = True
        _close(self.listener)
        self.set(cut=True)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut:
                self.stats["refused"] += 1
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            self.stats["connections"] += 1
            shadow: list[socket.socket] = []
            with self._lock:
                self._live.update((client, upstream))
            threading.Thread(target=self._up, args=(client, upstream, shadow), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket, shadow: list[socket.socket]) -> None:
        try:
            while chunk := client.recv(65536):
                if self.delay:
                    threading.Event().wait(self.delay)
                if self.truncate and self._rng.random() < self.truncate:
                    self.stats["truncated"] += 1
                    upstream.sendall(chunk[: len(chunk) // 2])
                    break
                chunk = self._maybe_corrupt(chunk)
                upstream.sendall(chunk)
                if self.duplicate:
                    if not shadow:
                        shadow.append(socket.create_connection(self.upstream, timeout=5))
                        threading.Thread(target=_drain, args=(shadow[0],), daemon=True).start()
                    self.stats["duplicated"] += 1
                    shadow[0].sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (client, upstream, *shadow):
                self._forget(s)

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while chunk := upstream.recv(65536):
                if self.drop and self._rng.random() < self.drop:
                    self.stats["dropped"] += 1
                    break
                client.sendall(self._maybe_corrupt(chunk))
        except OSError:
            pass
        finally:
            self._forget(client)
            self._forget(upstream)

    def _maybe_corrupt(self, chunk: bytes) -> bytes:
        if not (self.corrupt and chunk and self._rng.random() < self.corrupt):
            return chunk
        self.stats["corrupted"] += 1
        i = self._rng.randrange(len(chunk))
        return chunk[:i] + bytes([chunk[i] ^ (1 << self._rng.randrange(8))]) + chunk[i + 1 :]

    def _forget(self, s: socket.socket) -> None:
        with self._lock:
            self._live.discard(s)
        _close(s)


def _drain(s: socket.socket) -> None:
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    finally:
        _close(s)


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
