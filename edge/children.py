"""One supervised service process of ``hall run``: its output kept in a log file, its readiness and watchdog.

Each child gets its own notification socket (``NOTIFY_SOCKET``, the sd_notify
protocol of :mod:`edge.sdnotify`) and, when the supervisor has a watchdog,
``WATCHDOG_USEC``. A child that said ``READY=1`` and then stops sending
``WATCHDOG=1`` for longer than the watchdog period is killed with SIGABRT (its
faulthandler prints every thread's stack into its log), then SIGKILL, and is
restarted like a crashed one: a hung service is treated as a dead one, the
way systemd treats it. A child that never speaks the protocol (the panel, the
kiosk) is never killed for silence.

Its standard output and error go, line by line, to ``$HALL_HOME/log/NAME.log``
(kept below ``LOG_MAX_BYTES``, one older file ``NAME.log.1``) and on to the
supervisor's standard error, so ``hall run`` in a terminal shows them as before.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from edge.sdnotify import parse

LOG_MAX_BYTES = 2 * 1024 * 1024
ABORT_GRACE_S = 5.0  # after SIGABRT, SIGKILL (systemd's TimeoutAbortSec)
SUN_PATH_MAX = 107


class LogFile:
    """Append lines to ``path``; past ``max_bytes`` the file becomes ``path.1`` and a new one starts."""

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        self._fh: IO[bytes] = open(path, "ab")  # noqa: SIM115 - held open for the child's life

    def write(self, line: bytes) -> None:
        with self.lock:
            if self._fh.tell() + len(line) > self.max_bytes:
                self._fh.close()
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                self._fh = open(self.path, "ab")  # noqa: SIM115
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        with self.lock:
            self._fh.close()


@dataclass
class Child:
    name: str
    argv: list[str]
    log_dir: Path | None = None  # None: the child writes to the supervisor's own stdout and stderr
    notify_dir: Path | None = None  # None: no notification socket
    watchdog_s: float | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: deque[float] = field(default_factory=deque)
    next_start: float = 0.0
    given_up: bool = False
    held: bool = False  # restarted on request right now: the watch loop leaves it alone
    ready: bool = False
    speaks_notify: bool = False  # it said READY=1 at least once: its readiness and watchdog count
    status: str = ""
    last_ping: float = 0.0
    started_at: float = 0.0  # wall clock, for people
    restarts: int = 0
    last_exit: int | None = None
    abort_sent: float = 0.0
    _sock: socket.socket | None = None
    _address: str | None = None
    _log: LogFile | None = None
    output: IO[str] | None = None  # with no log_dir: where the child's output and our lines about it go

    def start(self, env: dict[str, str]) -> None:
        child_env = {k: v for k, v in env.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        address = self._notify_socket()
        if address is not None:
            child_env["NOTIFY_SOCKET"] = address
            if self.watchdog_s:
                child_env["WATCHDOG_USEC"] = str(int(self.watchdog_s * 1e6))
        out: Any = self.output
        if self.log_dir is not None:
            if self._log is None:
                self._log = LogFile(self.log_dir / f"{self.name}.log")
            out = subprocess.PIPE
        self.ready = False
        self.status = ""
        self.abort_sent = 0.0
        self.last_ping = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv, env=child_env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT if out else None
        )
        if self.proc.stdout is not None:
            threading.Thread(target=self._pump, args=(self.proc.stdout,), name=f"log-{self.name}", daemon=True).start()
        if self.starts:
            self.restarts += 1
        self.starts.append(time.monotonic())
        self.started_at = time.time()
        say(f"started {self.name} (pid {self.proc.pid})", self.output)

    def _pump(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            if self._log is not None:
                try:
                    self._log.write(line)
                except OSError:
                    pass  # a full disk must not stop the service: its output still reaches the terminal
            try:
                sys.stderr.buffer.write(line)
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
        stream.close()

    def _notify_socket(self) -> str | None:
        if self.notify_dir is None:
            return None
        if self._address is not None:
            return self._address
        self.notify_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.notify_dir / f"{self.name}.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        if len(str(path).encode()) <= SUN_PATH_MAX:
            path.unlink(missing_ok=True)
            sock.bind(str(path))
            self._address = str(path)
        else:  # a deep HALL_HOME: an abstract socket with a name nobody guesses
            name = f"hall-notify-{secrets.token_hex(8)}-{self.name}"
            sock.bind("\0" + name)
            self._address = "@" + name
        sock.setblocking(False)
        self._sock = sock
        return self._address

    def read_notifications(self, now: float) -> None:
        """Take every datagram waiting on the child's socket."""
        if self._sock is None:
            return
        while True:
            try:
                data = self._sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            fields = parse(data)
            if fields.get("READY") == "1":
                if not self.ready:
                    say(
                        f"{self.name} is ready" + (f": {fields['STATUS']}" if fields.get("STATUS") else ""), self.output
                    )
                self.ready = self.speaks_notify = True
                self.last_ping = now
            if fields.get("WATCHDOG") == "1":
                self.last_ping = now
            if "STATUS" in fields:
                self.status = fields["STATUS"]

    def check_watchdog(self, now: float) -> None:
        """Abort a ready child that stopped pinging; kill it if SIGABRT did not end it."""
        if not (self.watchdog_s and self.ready and self.proc is not None and self.proc.poll() is None):
            return
        if self.abort_sent:
            if now - self.abort_sent >= ABORT_GRACE_S:
                say(f"{self.name} did not end on SIGABRT; killing it", self.output)
                self._signal(signal.SIGKILL)
            return
        silent = now - self.last_ping
        if silent > self.watchdog_s:
            say(
                f"{self.name} sent no watchdog ping for {silent:.1f} s (limit {self.watchdog_s:g} s); aborting it",
                self.output,
            )
            self.abort_sent = now
            self._signal(signal.SIGABRT)
            self._signal(signal.SIGCONT)  # a stopped process acts on SIGABRT only once it runs again

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        try:
            self.proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def state(self) -> str:
        """``running``, ``starting`` (not ready yet), ``restarting`` (waiting to start again) or ``failed``."""
        if self.given_up:
            return "failed"
        if self.proc is None or self.proc.poll() is not None:
            return "restarting"
        if self.speaks_notify and not self.ready:
            return "starting"
        return "running"

    def describe(self) -> dict[str, object]:
        alive = self.proc is not None and self.proc.poll() is None
        return {
            "name": self.name,
            "state": self.state(),
            "pid": self.proc.pid if alive and self.proc is not None else None,
            "ready": self.ready if self.speaks_notify else None,
            "watchdog_s": self.watchdog_s if self.speaks_notify else None,
            "since": self.started_at if alive else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "status": self.status,
        }

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            if self._address and not self._address.startswith("@"):
                Path(self._address).unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()


def say(msg: str, out: IO[str] | None = None) -> None:
    print(f"{time.strftime('%H:%M:%S')} hall: {msg}", file=out or sys.stderr, flush=True)
