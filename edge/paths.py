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
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        return self
