"""A simulated ESC/POS printer at the far end of a real transport (pty or TCP).

It interprets the byte stream, answers ``DLE EOT`` and writes each cut ticket
as ``ticket-NNNN.png`` (and ``ticket-NNNN.txt`` with its text and QR data)
into ``out_dir``. Paper and cover are set with :meth:`set_state`::

    sim = SimulatedPrinter(Path("/tmp/tickets"), paper=80)
    url = sim.serve_pty()          # e.g. "/dev/pts/7": open it with serial_for_url
    sim.set_state(paper_out=True)  # the driver now sees paper end and goes to fault

``answers_status=False`` makes it a model without real-time status: it prints, and leaves
``DLE EOT`` unanswered (``status_asked`` counts the requests all the same).

With a ``link`` the pty's path is a symlink (like a udev ``/dev/serial/by-id``
link), and :meth:`SimulatedPrinter.unplug_pty` / :meth:`~SimulatedPrinter.replug_pty`
pull the cable and put it back behind the same path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import tty
from collections.abc import Callable
from pathlib import Path

from drivers.errors import DeviceUnavailable
from drivers.printer.interpreter import Interpreter, Page
from drivers.printer.render import render_png
from drivers.printer.ticket import DOTS

log = logging.getLogger(__name__)


class SimulatedPrinter:
    def __init__(self, out_dir: Path, *, paper: int = 80, render: bool = True, answers_status: bool = True) -> None:
        self.out_dir = out_dir
        self.answers_status = answers_status  # False: a model without real-time status (DLE EOT goes unanswered)
        self.status_asked = 0
        self.paper_dots = DOTS.get(paper, 576)
        self.render = render
        self.interp = Interpreter()
        self.interp.on_page = self._on_page  # type: ignore[method-assign]
        self.printed: list[Path] = []
        self.unsaved = 0  # pages whose picture could not be written (a full disk)
        self.received = 0
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._fds: list[int] = []
        self._server: socket.socket | None = None
        self._link: Path | None = None
        self._linked: tuple[int, int, threading.Event, threading.Thread] | None = None

    # -- state ----------------------------------------------------------------------
    def set_state(
        self,
        *,
        paper_out: bool | None = None,
        paper_near_end: bool | None = None,
        cover_open: bool | None = None,
        unplugged: bool | None = None,
    ) -> None:
        """Paper, cover, and (for a pty served with a link) the cable: ``unplugged`` pulls or replugs it."""
        with self.changed:
            if paper_out is not None:
                self.interp.paper_out = paper_out
            if paper_near_end is not None:
                self.interp.paper_near_end = paper_near_end
            if cover_open is not None:
                self.interp.cover_open = cover_open
        if unplugged is not None and self._link is not None:
            if unplugged:
                self.unplug_pty()
            elif self._linked is None:
                self.replug_pty()

    @property
    def pages(self) -> list[Page]:
        return self.interp.pages

    def wait_pages(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` tickets have been cut."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.interp.pages) >= count, timeout)

    def _on_page(self, page: Page) -> None:
        n = len(self.interp.pages)
        stem = self.out_dir / f"ticket-{n:04d}"
        if self.render:
            try:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                lines = [*page.text, *(f"qr: {d.decode('utf-8', 'replace')}" for d in page.qr)]
                stem.with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
                self.printed.append(render_png(page, stem.with_suffix(".png"), self.paper_dots))
            except OSError as exc:  # a full disk: the paper still came out, only its picture is missing
                self.unsaved += 1
                log.warning("simulated printer: ticket %d printed, its picture not kept: %s", n, exc)
        self.changed.notify_all()

    def consume(self, data: bytes) -> bytes:
        with self.changed:
            self.received += len(data)
            reply = self.interp.feed(data)
            self.status_asked += len(reply)
            return reply if self.answers_status else b""

    # -- transports -------------------------------------------------------------------
    def serve_pty(self, link: Path | None = None) -> str:
        """Open a pty, serve its master side; return the path for the driver to open (``link`` if given)."""
        if link is not None:
            self._link = link
            self.replug_pty()
            return str(link)
        master, slave = os.openpty()
        tty.setraw(slave)
        path = os.ttyname(slave)
        self._fds += [master, slave]
        self._spawn(self._pty_loop, master, self._stop)
        return path

    def unplug_pty(self) -> None:
        """The cable is pulled: the linked pty closes and its path disappears."""
        if self._linked is None:
            return
        master, slave, stop, thread = self._linked
        self._linked = None
        stop.set()
        thread.join(2)
        if self._link is not None:
            self._link.unlink(missing_ok=True)
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def replug_pty(self) -> None:
        """The cable is back: a fresh pty behind the same link."""
        assert self._link is not None, "replug_pty needs serve_pty(link=...) first"
        self.unplug_pty()
        master, slave = os.openpty()
        tty.setraw(slave)
        tmp = self._link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self._link)
        stop = threading.Event()
        thread = threading.Thread(target=self._pty_loop, args=(master, stop), name="sim-printer", daemon=True)
        thread.start()
        self._linked = (master, slave, stop, thread)

    def _pty_loop(self, fd: int, stop: threading.Event) -> None:
        while not (stop.is_set() or self._stop.is_set()):
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            reply = self.consume(data)
            if reply:
                with contextlib.suppress(OSError):
                    os.write(fd, reply)

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen like a network printer's raw port (9100 in the field); return the port."""
        try:
            server = socket.create_server((host, port))
        except OSError as exc:
            raise DeviceUnavailable(f"cannot listen on {host}:{port}: {exc}") from exc
        server.settimeout(0.1)
        self._server = server
        self._spawn(self._tcp_loop)
        port_: int = server.getsockname()[1]
        return port_

    def _tcp_loop(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                conn, _addr = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.1)
                while not self._stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    reply = self.consume(data)
                    if reply:
                        try:
                            conn.sendall(reply)
                        except OSError:
                            break

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, name="sim-printer", daemon=True)
        t.start()
        self._threads.append(t)

    def close(self) -> None:
        self.unplug_pty()
        self._stop.set()
        for t in self._threads:
            t.join(2)
        if self._server is not None:
            self._server.close()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
