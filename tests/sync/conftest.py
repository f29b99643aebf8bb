"""Sync fixtures: a real PostgreSQL server, the HQ server and the agent as processes.

PostgreSQL comes from Debian's packages (``postgresql`` in debian-packages.txt):
the fixture runs ``initdb`` into a temporary directory and ``pg_ctl start`` on a
free port, as the ``postgres`` system user when the tests run as root (the server
refuses root), and drops it at the end of the session.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge.paths import Home
from sync.config import Credential
from sync.hq.store import Store, open_store
from tests.conftest import ChildProcess, CoreProcess

SYNC_TOML = """
[services.sync]
batch_events = 40
timeout_s = 3
backoff_initial_s = 0.05
backoff_max_s = 0.4
bundle_poll_s = 0.5
status_every_s = 0.3
refused_retry_s = 0.5
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(predicate: object, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Postgres:
    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            pytest.skip("PostgreSQL server binaries are not installed (make setup installs debian-packages.txt)")
        self.bin = Path(bins[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="hq-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres system user to run the server as")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "hq", "--no-sync", "-E", "UTF8")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start",
        )  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        out = subprocess.run([*self.user, str(self.bin / tool), *args], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"{tool} failed: {out.stdout[-1500:]}{out.stderr[-1500:]}")

    def new_database(self) -> str:
        import psycopg

        name = "hq_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"postgresql://hq@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://hq@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pg = Postgres()
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def hq_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty HQ store: a SQLite file, or a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "hq.db")
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.new_database()


def hall_cmd(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "edge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        input=stdin,
    )
    if out.returncode != 0:
        raise AssertionError(f"hall {' '.join(args)} exited {out.returncode}: {out.stderr}")
    return out.stdout


class HqServer(ChildProcess):
    """``hall hq serve`` as a child process on a fixed port, restartable; its key file beside its log."""

    def __init__(self, db: str, log: Path, key_file: Path | None = None, extra: list[str] | None = None) -> None:
        self.db = db
        self.port = free_port()
        self.log = log
        self.key_file = key_file or log.parent / "hq.key"
        self.extra = extra or []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HqServer:
        argv = [sys.executable, "-m", "edge", "hq", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.spawn([*argv, "--body-timeout", "2", *self.extra, *self.store_args()])
        wait_for(self._ready, 30, "the HQ server to answer /healthz")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"hq exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def store_args(self) -> list[str]:
        return ["--db", self.db, "--key-file", str(self.key_file)]

    def cmd(self, *args: str) -> str:
        """``hall hq ARGS…`` on this server's store; its output."""
        return hall_cmd("hq", *args, *self.store_args())

    def store(self) -> Store:
        return open_store(self.db, key_file=self.key_file)

    def add_hall(self, hall: str, url: str | None = None) -> Credential:
        line = self.cmd("hall", "add", hall, "--url", url or self.url)
        return Credential.from_json(line.strip())


@pytest.fixture
def hq(hq_db: str, tmp_path: Path) -> Iterator[HqServer]:
    server = HqServer(hq_db, tmp_path / "hq.log").start()
    yield server
    server.stop()


class AgentProcess(ChildProcess):
    """``hall sync`` as a child process."""

    def __init__(self, home: Home, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = env or {}
        self.log = home.root / "agent.log"

    def start(self) -> AgentProcess:
        env = {**os.environ, "HALL_HOME": str(self.home.root), **self.env}
        self.spawn([sys.executable, "-m", "edge", "sync"], env)
        return self


@pytest.fixture
def sync_core(hall_home: Home) -> Iterator[CoreProcess]:
    """A core whose hall config has a fast-retrying [services.sync] section."""
    hall_home.config_path.write_text(SYNC_TOML)
    proc = CoreProcess(hall_home).start()
    yield proc
    proc.stop()
