"""A TCP proxy between the box and HQ that cuts, drops, delays, duplicates and garbles traffic.

The agent is given the proxy's URL instead of HQ's; whatever the proxy does to the bytes,
HQ must end up holding every event once, in order. Modes (any mix, changed live by :meth:`set`):

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

    proxy = FaultProxy(("127.0.0.1", 8470), seed=7)
    proxy.set(drop=0.3)          # lose 30 % of HQ's answers
    proxy.set()                  # a clean link again
    proxy.stats["dropped"]
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading

STATS = ("connections", "refused", "dropped", "duplicated", "truncated", "corrupted")


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], *, seed: int = 7, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream
        self.listener = socket.create_server((host, port))
        self.port: int = self.listener.getsockname()[1]
        self.cut = False
        self.drop = 0.0
        self.delay = 0.0
        self.duplicate = False
        self.truncate = 0.0
        self.corrupt = 0.0
        self.stats = dict.fromkeys(STATS, 0)
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._rng = random.Random(seed)
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()

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
        """Change the faults at once (everything not named goes back to clean)."""
        self.cut, self.drop, self.delay, self.duplicate = cut, drop, delay, duplicate
        self.truncate, self.corrupt = truncate, corrupt
        if cut:
            with self._lock:
                live = list(self._live)
            for s in live:
                _close(s)

    def mode(self) -> str:
        """The faults in force, as words: ``clean``, or e.g. ``drop 0.3, delay 0.2 s``."""
        parts = ["cut"] if self.cut else []
        parts += [f"drop {self.drop:g}"] if self.drop else []
        parts += [f"delay {self.delay:g} s"] if self.delay else []
        parts += ["duplicate"] if self.duplicate else []
        parts += [f"truncate {self.truncate:g}"] if self.truncate else []
        parts += [f"corrupt {self.corrupt:g}"] if self.corrupt else []
        return ", ".join(parts) or "clean"

    def close(self) -> None:
        self._closed = True
        _close(self.listener)
        self.set(cut=True)

    def _chance(self, p: float) -> bool:
        with self._lock:
            return bool(p) and self._rng.random() < p

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut:
                self._count("refused")
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            self._count("connections")
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
                if self._chance(self.truncate):
                    self._count("truncated")
                    upstream.sendall(chunk[: len(chunk) // 2])
                    break
                chunk = self._maybe_corrupt(chunk)
                upstream.sendall(chunk)
                if self.duplicate:
                    if not shadow:
                        shadow.append(socket.create_connection(self.upstream, timeout=5))
                        with self._lock:
                            self._live.add(shadow[0])
                        threading.Thread(target=_drain, args=(shadow[0],), daemon=True).start()
                    self._count("duplicated")
                    shadow[0].sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (client, upstream, *shadow):
                self._forget(s)

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while chunk := upstream.recv(65536):
                if self._chance(self.drop):
                    self._count("dropped")
                    break
                client.sendall(self._maybe_corrupt(chunk))
        except OSError:
            pass
        finally:
            self._forget(client)
            self._forget(upstream)

    def _maybe_corrupt(self, chunk: bytes) -> bytes:
        if not (chunk and self._chance(self.corrupt)):
            return chunk
        self._count("corrupted")
        with self._lock:
            i = self._rng.randrange(len(chunk))
            bit = 1 << self._rng.randrange(8)
        return chunk[:i] + bytes([chunk[i] ^ bit]) + chunk[i + 1 :]

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
