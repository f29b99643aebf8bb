"""pcscd, stopped and started under the IC-card reader, when this run may own the daemon.

pcscd's socket is one per machine, so the harness only ever stops a daemon it started itself:
it needs root, the pcscd binary, vsmartcard's virtual reader (``/etc/reader.conf.d/vpcd``), no
pcscd already running, and the lock other programs of ours take before they use the virtual
reader (``/tmp/smart-hall-vpcd.lock``). When any is missing the faults are skipped and
:attr:`Pcscd.reason` says why.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

VPCD_CONF = Path("/etc/reader.conf.d/vpcd")
LOCK = Path("/tmp/smart-hall-vpcd.lock")


def readers() -> list[str] | None:
    """The readers a running pcscd lists, or None when no pcscd answers."""
    try:
        from smartcard import scard
    except ImportError:
        return None
    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return None
    try:
        hresult, names = scard.SCardListReaders(ctx, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        return list(names) if hresult == scard.SCARD_S_SUCCESS else None
    finally:
        scard.SCardReleaseContext(ctx)


class Pcscd:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.reason = ""
        self._lock_fd: int | None = None

    @property
    def owned(self) -> bool:
        return self._lock_fd is not None

    def prepare(self) -> bool:
        """Start our own pcscd, or say why pcscd faults are skipped."""
        if shutil.which("pcscd") is None:
            self.reason = "pcscd is not installed"
        elif os.geteuid() != 0:
            self.reason = "not root, so pcscd cannot be started and stopped"
        elif not VPCD_CONF.exists():
            self.reason = f"no virtual reader for pcscd to serve ({VPCD_CONF} missing: vsmartcard-vpcd)"
        elif readers() is not None:
            self.reason = "a pcscd this run did not start is running; it is left alone"
        else:
            LOCK.touch(exist_ok=True)
            fd = os.open(LOCK, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self.reason = f"another program is using the virtual reader ({LOCK} is held)"
                return False
            self._lock_fd = fd
            if self.start():
                return True
            self.close()
            self.reason = "pcscd started but listed no reader within 15 s"
        return False

    def start(self) -> bool:
        self.proc = subprocess.Popen(
            ["pcscd", "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        return wait_until(lambda: bool(readers()), 15)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            stop_daemon(proc)

    def close(self) -> None:
        self.stop()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def stop_daemon(proc: subprocess.Popen[bytes]) -> bool:
    """Stop a pcscd this program started (its own child): whether it no longer answers within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return wait_until(lambda: readers() is None, 10)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, tick: float = 0.05) -> bool:
    """Whether ``predicate`` came true within ``timeout`` seconds, asking every ``tick``."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        pause.wait(tick)
    return True
