"""Who runs the hall's services, asked the same way whoever it is: systemd on the box, ``hall run`` elsewhere.

- **systemd** (production): ``systemctl show`` for what runs, ``systemctl
  restart hall-NAME.service`` (which waits for the service's ``READY=1``),
  ``journalctl -u hall-NAME.service`` for the logs. The console's account
  may restart the hall's units through a polkit rule and read their journal
  as a member of ``systemd-journal`` (see ``systemd/``).
- **hall run** (development and the demo): its control socket
  (:mod:`edge.control`) for what runs and restarts, and the log files it keeps
  in ``$HALL_HOME/log``.

:func:`find` picks the one that answers: ``hall run``'s socket first (it is
there only while it runs), else systemd when it is PID 1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from edge import control
from edge.console.terminal import ConsoleError
from edge.paths import Home

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}(@[A-Za-z0-9_-]{1,32})?$")  # a unit instance: pad@2
KNOWN = ("core", "devices", "vision", "sync", "ops", "panel", "kiosk")  # the box's services, for completion
SETTLE_S = 3.0  # a restarted unit that does not speak sd_notify counts as up once it stayed this long
STAMP_RE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


class Manager(Protocol):
    kind: str

    def services(self) -> list[dict[str, Any]]:
        """Each service: name, state, pid, since (epoch s or None), restarts, ready (or None), status."""

    def restart(self, name: str, timeout: float) -> dict[str, Any]:
        """Restart and wait until it is up; raises :class:`ConsoleError` naming why it is not."""

    def log_lines(self, name: str | None, lines: int) -> list[str]:
        """The last ``lines`` lines of one service's log, or of all of them."""

    def follow(self, name: str | None, stop: Callable[[], bool]) -> Iterator[str]:
        """New log lines as they come, until ``stop()`` is true."""


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ConsoleError(f"{name!r} is not a service name ({', '.join(KNOWN)}…)")
    return name


class Supervised:
    """``hall run``: its control socket and its log files."""

    kind = "hall run"

    def __init__(self, home: Home) -> None:
        self.socket = control.socket_path(home.run_dir)
        self.logs = home.root / "log"

    def services(self) -> list[dict[str, Any]]:
        reply = control.ask(self.socket, {"cmd": "services"})
        services: list[dict[str, Any]] = reply.get("services", [])
        return services

    def restart(self, name: str, timeout: float) -> dict[str, Any]:
        """As systemd queues a restart behind one under way, this waits (within ``timeout``) for a restart
        already under way (one a stopped console asked for) to end, then asks its own."""
        deadline = time.monotonic() + timeout
        while True:
            reply = control.ask(
                self.socket, {"cmd": "restart", "service": check_name(name), "timeout": timeout}, timeout + 15
            )
            if not reply.get("busy") or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        if not reply.get("ok"):
            raise ConsoleError(str(reply.get("error", "restart failed")))
        return reply

    def _files(self, name: str | None) -> list[Path]:
        if name is not None:
            path = self.logs / f"{check_name(name)}.log"
            if not path.exists():
                raise ConsoleError(f"no log of {name} in {self.logs}")
            return [path]
        return sorted(self.logs.glob("*.log"))

    def log_lines(self, name: str | None, lines: int) -> list[str]:
        out: list[tuple[str, int, str]] = []
        for path in self._files(name):
            tag = "" if name else f"{path.stem:<8} "
            older = path.with_name(path.name + ".1")
            tail: deque[str] = deque(_read_lines(older), maxlen=lines) if older.exists() else deque(maxlen=lines)
            tail.extend(_read_lines(path))
            for i, text in enumerate(tail):
                out.append((text[:23] if STAMP_RE.match(text) else "", len(out) + i, tag + text))
        if name is None:
            out.sort(key=lambda t: (t[0], t[1]))  # interleaved by time stamp; lines without one stay in order
        return [t[2] for t in out][-lines:]

    def follow(self, name: str | None, stop: Callable[[], bool]) -> Iterator[str]:
        files = {p: p.stat().st_size for p in self._files(name)}
        partial: dict[Path, bytes] = {}
        while not stop():
            if name is None:
                for path in self.logs.glob("*.log"):
                    files.setdefault(path, 0)
            for path, offset in list(files.items()):
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                if size < offset:  # rotated: start from the new file's beginning
                    offset = 0
                if size == offset:
                    continue
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = partial.pop(path, b"") + fh.read(size - offset)
                files[path] = size
                *whole, rest = data.split(b"\n")
                if rest:
                    partial[path] = rest
                for raw in whole:
                    yield ("" if name else f"{path.stem:<8} ") + raw.decode("utf-8", "replace")
            time.sleep(0.2)


class Systemd:
    """systemd: ``systemctl`` and ``journalctl``."""

    kind = "systemd"

    def __init__(
        self,
        run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.run = run
        self.sleep = sleep

    def _units(self) -> list[str]:
        res = self.run(
            ["systemctl", "list-units", "--type=service", "--all", "--plain", "--no-legend", "--no-pager", "hall-*"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]

    def services(self) -> list[dict[str, Any]]:
        units = self._units()
        if not units:
            return []
        props = "Id,ActiveState,SubState,MainPID,NRestarts,ActiveEnterTimestampMonotonic,StatusText,Type"
        res = self.run(
            ["systemctl", "show", f"--property={props}", "--no-pager", *units],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        return [_unit_view(block) for block in parse_show(res.stdout)]

    def restart(self, name: str, timeout: float) -> dict[str, Any]:
        unit = f"hall-{check_name(name)}.service"
        try:
            res = self.run(
                ["systemctl", "restart", unit], capture_output=True, text=True, timeout=timeout + 15, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ConsoleError(f"{unit} did not come up within {timeout:g} s") from exc
        if res.returncode != 0:
            raise ConsoleError(f"{unit} did not come up: {res.stderr.strip()[:300] or f'status {res.returncode}'}")
        state = self.run(["systemctl", "is-active", unit], capture_output=True, text=True, timeout=15, check=False)
        if state.stdout.strip() != "active":
            raise ConsoleError(f"{unit} is {state.stdout.strip() or 'not active'} after the restart")
        first = self._show(unit)
        if first.get("Type") != "notify":
            # systemctl returned once the process started, not once it serves: give it SETTLE_S to fall over
            self.sleep(SETTLE_S)
            then = self._show(unit)
            if then.get("ActiveState") != "active" or (then.get("MainPID"), then.get("NRestarts")) != (
                first.get("MainPID"),
                first.get("NRestarts"),
            ):
                raise ConsoleError(f"{unit} stopped again within {SETTLE_S:g} s of the restart")
        return {"ok": True}

    def _show(self, unit: str) -> dict[str, str]:
        res = self.run(
            ["systemctl", "show", "--property=Type,ActiveState,MainPID,NRestarts", "--no-pager", unit],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        blocks = parse_show(res.stdout)
        return blocks[0] if blocks else {}

    def _journal(self, name: str | None) -> list[str]:
        return [
            "journalctl",
            "--no-pager",
            "-o",
            "short-iso",
            "-u",
            f"hall-{check_name(name)}.service" if name else "hall-*",
        ]

    def log_lines(self, name: str | None, lines: int) -> list[str]:
        res = self.run(
            [*self._journal(name), "-n", str(lines)], capture_output=True, text=True, timeout=30, check=False
        )
        if res.returncode != 0:
            raise ConsoleError(f"journalctl: {res.stderr.strip()[:300]}")
        return res.stdout.splitlines()

    def follow(self, name: str | None, stop: Callable[[], bool]) -> Iterator[str]:
        proc = subprocess.Popen([*self._journal(name), "-f", "-n", "0"], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            os.set_blocking(proc.stdout.fileno(), False)
            buffered = ""
            while not stop() and proc.poll() is None:
                chunk = proc.stdout.read() or ""
                buffered += chunk
                *whole, buffered = buffered.split("\n")
                yield from whole
                if not chunk:
                    time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(5)


def parse_show(text: str) -> list[dict[str, str]]:
    """``systemctl show`` output (blank-line separated blocks of KEY=VALUE) as dicts.

    >>> parse_show("Id=hall-core.service\\nActiveState=active\\n\\nId=hall-sync.service\\nActiveState=failed\\n")
    [{'Id': 'hall-core.service', 'ActiveState': 'active'}, {'Id': 'hall-sync.service', 'ActiveState': 'failed'}]
    """
    blocks: list[dict[str, str]] = [{}]
    for line in text.splitlines():
        if not line.strip():
            if blocks[-1]:
                blocks.append({})
            continue
        key, _, value = line.partition("=")
        blocks[-1][key] = value
    return [b for b in blocks if b]


def _unit_view(props: dict[str, str]) -> dict[str, Any]:
    name = props.get("Id", "?").removeprefix("hall-").removesuffix(".service")
    active, sub = props.get("ActiveState", "?"), props.get("SubState", "?")
    state = {"active": "running", "activating": "starting", "failed": "failed"}.get(active, f"{active}/{sub}")
    pid = int(props.get("MainPID", "0") or 0) or None
    since = None
    mono = int(props.get("ActiveEnterTimestampMonotonic", "0") or 0)
    if mono and active == "active":
        since = time.time() - (time.monotonic() - mono / 1e6)
    return {
        "name": name,
        "state": state,
        "pid": pid,
        "ready": (active == "active") if props.get("Type") == "notify" else None,
        "since": since,
        "restarts": int(props.get("NRestarts", "0") or 0),
        "last_exit": None,
        "status": props.get("StatusText", ""),
    }


class NoManager:
    kind = "none"

    def _refuse(self) -> ConsoleError:
        return ConsoleError("no service manager: the hall runs neither under systemd nor under `hall run`")

    def services(self) -> list[dict[str, Any]]:
        raise self._refuse()

    def restart(self, name: str, timeout: float) -> dict[str, Any]:
        raise self._refuse()

    def log_lines(self, name: str | None, lines: int) -> list[str]:
        raise self._refuse()

    def follow(self, name: str | None, stop: Callable[[], bool]) -> Iterator[str]:
        raise self._refuse()


def find(home: Home) -> Manager:
    """``hall run`` when its control socket answers, else systemd when it runs this machine, else none."""
    supervised = Supervised(home)
    if supervised.socket.exists():
        try:
            supervised.services()
            return supervised
        except control.ControlError:
            pass
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        return Systemd()
    return NoManager()


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def uptime(since: float | None, now: float | None = None) -> str:
    """How long ago ``since`` was, the way ``systemctl status`` says it.

    >>> uptime(0, 3725), uptime(0, 59), uptime(0, 90061), uptime(None)
    ('1h 2min', '59s', '1d 1h', '-')
    """
    if since is None:
        return "-"
    s = int((time.time() if now is None else now) - since)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}min"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}min"
    return f"{s // 86400}d {s % 86400 // 3600}h"
