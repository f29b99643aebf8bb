"""Where a hall keeps its data and where its bus listens.

``HALL_HOME`` (environment) selects the data directory; the bus's default
endpoints are ipc sockets inside it, so two halls with two homes run side by
side without touching each other::

    >>> Home(Path("/tmp/hall-a")).events_endpoint
    'ipc:///tmp/hall-a/run/events.sock'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge.errors import HomeUnusable

DEFAULT_HOME = Path.home() / ".local" / "share" / "smart-hall"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls) -> Home:
        return cls(Path(os.environ.get("HALL_HOME") or DEFAULT_HOME).absolute())

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def db_path(self) -> Path:
        return self.root / "hall.db"

    @property
    def config_path(self) -> Path:
        return self.root / "hall.toml"

    @property
    def secret_path(self) -> Path:
        return self.root / "secret.key"

    @property
    def customer_keys_path(self) -> Path:
        """HQ's customer keys as the sync agent installed them (see :class:`edge.identity.Keyring`)."""
        return self.root / "customer.keys"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def lock_path(self) -> Path:
        return self.run_dir / "core.lock"

    @property
    def events_endpoint(self) -> str:
        return f"ipc://{self.run_dir / 'events.sock'}"

    @property
    def requests_endpoint(self) -> str:
        return f"ipc://{self.run_dir / 'requests.sock'}"

    def ensure(self) -> Home:
        """Create the home and its ``run/`` when missing; :class:`HomeUnusable` when it cannot be written.

        The socket folder is the hall's group's (0750): the vision service runs under a user of its own in
        that group and reaches the bus, nobody else does."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.run_dir.mkdir(mode=0o750, exist_ok=True)
            if self.run_dir.stat().st_uid == os.geteuid():
                os.chmod(self.run_dir, 0o750)
        except OSError as exc:
            raise HomeUnusable(f"HALL_HOME {self.root} cannot be used: {_reason(exc)}") from exc
        for folder in (self.root, self.run_dir):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise HomeUnusable(f"HALL_HOME {self.root} cannot be used: {_why_not_writable(folder)}")
        return self


def _reason(exc: OSError) -> str:
    return f"{exc.filename}: {exc.strerror or exc}; set HALL_HOME to a writable directory"


def _why_not_writable(folder: Path) -> str:
    try:
        readonly = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        readonly = False
    what = "its file system is read-only" if readonly else f"{folder} is not writable by this user"
    return f"{what}; set HALL_HOME to a writable directory"


def write_durably(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` whole: a temporary file beside it, fsynced, renamed, the folder fsynced.

    A reader sees the old file or the new one, never a part, even after a power cut; OSError is the caller's.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
