"""A pcscd with vsmartcard's vpcd reader for the IC-card tests.

pcscd's socket path is fixed (/run/pcscd/pcscd.comm), so there is one daemon
per machine: a running one is used as it is; otherwise the fixture starts
``pcscd --foreground`` (needs root) and stops it at the end. vpcd's first slot
listens on TCP 35963 for one virtual card at a time, so test sessions that run
at the same time take turns through a lock file.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

VPCD_CONF = Path("/etc/reader.conf.d/vpcd")
VPCD_READER = "Virtual PCD 00 00"
LOCK = Path("/tmp/smart-hall-vpcd.lock")


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        tick.wait(0.05)
    return True


def card_present(reader: str = VPCD_READER) -> bool:
    """Whether pcscd shows a card in ``reader`` now."""
    from smartcard import scard

    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return False
    try:
        hresult, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        return hresult == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(ctx)


def pcsc_readers() -> list[str] | None:
    """The readers pcscd lists, or None when pcscd cannot be reached."""
    from smartcard import scard

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
    """The daemon; ``owned`` when this session started it (then it may be restarted)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        return self.proc is not None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(["pcscd", "--foreground"], stdout=out, stderr=subprocess.STDOUT)
        if not wait_until(lambda: VPCD_READER in (pcsc_readers() or []), 15):
            raise RuntimeError(f"pcscd did not list {VPCD_READER}: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    pytest.importorskip("smartcard", reason="pyscard is not installed")
    if not VPCD_CONF.exists():
        pytest.skip("vsmartcard-vpcd is not installed (make setup installs it from debian-packages.txt)")
    LOCK.touch(exist_ok=True)
    with open(LOCK) as lock:
        if not wait_until(lambda: _try_lock(lock.fileno()), 120):
            pytest.skip("another test session has held vpcd's port for two minutes")
        daemon = Pcscd(tmp_path_factory.mktemp("pcscd") / "pcscd.log")
        readers = pcsc_readers()
        if readers is None:
            if shutil.which("pcscd") is None or os.geteuid() != 0:
                pytest.skip("pcscd is not running and cannot be started here (not installed, or not root)")
            daemon.start()
        elif VPCD_READER not in readers:
            pytest.skip(f"the running pcscd has no {VPCD_READER} reader")
        try:
            yield daemon
        finally:
            daemon.stop()
