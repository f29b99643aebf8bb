"""A pcscd with vsmartcard's vpcd reader for the IC-card tests.

pcscd's socket path is fixed (/run/pcscd/pcscd.comm), so there is one daemon
per machine: a running one is used as it is; otherwise the fixture starts
``pcscd --foreground --auto-exit`` (needs root) and stops it when the session
ends. vpcd's first slot listens on TCP 35963 for one virtual card at a
time, so tests of sessions that run at the same time take turns through a lock
file. A test holds a PC/SC context of its own while it runs, so a daemon
started with ``--auto-exit`` by another session does not leave under it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from chaos.pcscd import LOCK, VPCD_CONF, stop_daemon, wait_until
from chaos.pcscd import readers as pcsc_readers

VPCD_READER = "Virtual PCD 00 00"
__all__ = ["LOCK", "VPCD_CONF", "VPCD_READER", "Pcscd", "card_present", "pcsc_readers", "wait_until"]


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


class Pcscd:
    """The daemon. ``owned`` while the one running is the child this session started (then tests may
    restart it). It runs with ``--auto-exit`` so that even an orphan leaves a minute after its last client.
    """

    proc: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure(self) -> None:
        readers = pcsc_readers()
        if readers is None:
            if shutil.which("pcscd") is None or os.geteuid() != 0:
                pytest.skip("pcscd is not running and cannot be started here (not installed, or not root)")
            self.start()
        elif VPCD_READER not in readers:
            pytest.skip(f"the running pcscd has no {VPCD_READER} reader")

    def start(self) -> None:
        Pcscd.proc = subprocess.Popen(
            ["pcscd", "--foreground", "--auto-exit"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not wait_until(lambda: VPCD_READER in (pcsc_readers() or []), 15):
            raise RuntimeError(f"pcscd started but does not list {VPCD_READER}")

    def stop(self) -> None:
        """Stop the daemon this session started (its own child, by pid)."""
        assert self.proc is not None, "only a pcscd these tests started is stopped"
        if not stop_daemon(self.proc):
            raise RuntimeError("pcscd still answers after being stopped")


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@pytest.fixture(scope="session")
def pcscd_session() -> Iterator[Pcscd]:
    """At the end of the session, stop the pcscd it started, once no other session's test is using vpcd."""
    daemon = Pcscd()
    yield daemon
    if daemon.owned:
        LOCK.touch(exist_ok=True)
        with open(LOCK) as lock:
            wait_until(lambda: _try_lock(lock.fileno()), 120)
            daemon.stop()


@pytest.fixture
def pcscd(pcscd_session: Pcscd) -> Iterator[Pcscd]:
    """pcscd with the vpcd reader, and vpcd's port to ourselves for the length of one test."""
    pytest.importorskip("smartcard", reason="pyscard is not installed")
    if not VPCD_CONF.exists():
        pytest.skip("vsmartcard-vpcd is not installed (make setup installs it from debian-packages.txt)")
    LOCK.touch(exist_ok=True)
    with open(LOCK) as lock:
        if not wait_until(lambda: _try_lock(lock.fileno()), 120):
            pytest.skip("another test session has held vpcd's port for two minutes")
        pcscd_session.ensure()
        from smartcard import scard

        hresult, keep_alive = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        try:
            yield pcscd_session
        finally:
            if hresult == scard.SCARD_S_SUCCESS:
                scard.SCardReleaseContext(keep_alive)
