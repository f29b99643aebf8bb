"""Shared fixtures: a hall home per test, a real core process on a real bus."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.bus import BusClient, Endpoints
from edge.errors import BusError
from edge.paths import Home


@pytest.fixture
def hall_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """An empty HALL_HOME for this test (short path: ipc socket paths are limited to ~100 bytes)."""
    root = tmp_path / "home"
    monkeypatch.setenv("HALL_HOME", str(root))
    monkeypatch.delenv("HALL_CONFIG", raising=False)
    monkeypatch.delenv("HALL_BUS_REQUESTS", raising=False)
    monkeypatch.delenv("HALL_BUS_EVENTS", raising=False)
    return Home(root).ensure()


class ChildProcess:
    """A hall command as a child process, its output appended to ``log``; kill -9 or stop it."""

    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> int | None:
        """Terminate politely (10 s), then kill; the exit status, or None if never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


class CoreProcess(ChildProcess):
    """``hall core`` as a child process; start, kill -9 and restart it."""

    def __init__(self, home: Home, config: Path | None = None) -> None:
        self.home = home
        self.config = config
        self.log = home.root / "core.log"

    def start(self) -> CoreProcess:
        argv = [sys.executable, "-m", "edge", "core"]
        if self.config:
            argv += ["--config", str(self.config)]
        self.spawn(argv, {**os.environ, "HALL_HOME": str(self.home.root)})
        self.wait_ready()
        return self

    def wait_ready(self, attempts: int = 60) -> None:
        with BusClient("test", endpoints=Endpoints.local(self.home), timeout=0.25, retries=0) as bus:
            for _ in range(attempts):
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"core exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
                try:
                    bus.request("hall.ping")
                    return
                except BusError:
                    continue
        raise RuntimeError("core did not answer a ping")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB file system of its own, to fill (see tests/fulldisk.py)."""
    from tests.edge.test_disk_and_home import _mount, _unmount

    where = tmp_path / "disk"
    if not _mount(where, "size=6m,mode=0700"):
        pytest.skip("a size-limited tmpfs needs root (mount); run as root to fill a disk for real")
    yield where
    _unmount(where)


@pytest.fixture
def core(hall_home: Home) -> Iterator[CoreProcess]:
    proc = CoreProcess(hall_home).start()
    yield proc
    proc.stop()


@pytest.fixture
def bus(core: CoreProcess) -> Iterator[BusClient]:
    with BusClient("test", endpoints=Endpoints.local(core.home), timeout=3.0, retries=2) as client:
        yield client
