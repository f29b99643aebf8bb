"""The control channel of ``hall run``: what runs, and restarting one service, asked over a unix socket.

``$HALL_HOME/run/supervisor.sock`` (in the 0700 run directory: only the
hall's own account reaches it) takes one JSON object per line and answers
with one JSON line:

    {"cmd": "services"}                                 → {"ok": true, "services": [{name, state, pid, ready, …}]}
    {"cmd": "restart", "service": "core", "timeout": 30} → {"ok": true, "pid": 4242, "ready": true}
                                                           or {"ok": false, "error": "core exited with status 2 …"}

The technicians' console uses it where systemd does not run the services
(the development and demo setup); under systemd it asks ``systemctl``.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.errors import HallError

log = logging.getLogger("hall.supervisor")
MAX_LINE = 64 * 1024


class ControlError(HallError):
    """The supervisor cannot be reached, or refused the command."""

    code = "control"


class ControlServer:
    """Serve ``handle(request) -> reply`` on a unix stream socket, one thread per connection."""

    def __init__(self, path: Path, handle: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.path = path
        self.handle = handle
        path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.bind(str(path))
        path.chmod(0o600)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._accept, name="control", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), name="control-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as stream:
            line = stream.readline(MAX_LINE + 1)
            try:
                request = json.loads(line)
                if not isinstance(request, dict) or len(line) > MAX_LINE:
                    raise ValueError("one JSON object per line, at most 64 KiB")
                reply = self.handle(request)
            except ValueError as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            except Exception as exc:  # the supervisor must outlive a bad command
                log.exception("control command failed")
                reply = {"ok": False, "error": f"internal error: {exc}"}
            try:
                stream.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
                stream.flush()
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


def ask(path: Path, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """One command to the supervisor at ``path``; its reply. :class:`ControlError` when nobody answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            with sock.makefile("rb") as stream:
                line = stream.readline(16 * MAX_LINE)
    except (OSError, TimeoutError) as exc:
        raise ControlError(f"the supervisor at {path} does not answer: {exc}") from exc
    try:
        reply = json.loads(line)
    except ValueError as exc:
        raise ControlError(f"the supervisor answered something that is not JSON: {line[:80]!r}") from exc
    if not isinstance(reply, dict):
        raise ControlError("the supervisor's answer is not a JSON object")
    return reply


def socket_path(run_dir: Path) -> Path:
    return run_dir / "supervisor.sock"
