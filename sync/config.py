"""``[services.sync]`` in the hall config, and the hall's HQ credential.

The credential is what ``hall hq hall add HALL_ID`` prints on HQ: one JSON line
``{"hall", "url", "key"}``. ``hall sync credential FILE`` (``-`` for stdin) stores it as
``$HALL_HOME/sync.credential`` (mode 0600). Without it the agent does not talk
to HQ at all: there is no default secret.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from edge.paths import Home
from sync.errors import SyncError


class SyncConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        None,
        title="HQ URL",
        description="Base URL of the HQ sync API; overrides the URL in the credential.",
        pattern=r"^https?://[^\s]+$",
        max_length=300,
    )
    batch_events: int = Field(5000, ge=1, le=5000, title="Batch size", description="Most events per batch sent.")
    timeout_s: float = Field(15.0, ge=0.5, le=300, title="Timeout", description="Seconds to wait for HQ's answer.")
    backoff_initial_s: float = Field(
        0.5, ge=0.01, le=60, title="First retry", description="Seconds before the first retry after a failure."
    )
    backoff_max_s: float = Field(
        10.0, ge=0.05, le=600, title="Longest retry", description="Retries back off (with jitter) up to this."
    )
    keep_acked_days: float = Field(
        7.0, ge=0, le=366, title="Keep acknowledged", description="Days acknowledged events stay in the local log."
    )
    min_free_mb: int = Field(
        200, ge=0, le=1_000_000, title="Minimum free disk", description="Below this, analytics events are shed."
    )
    shed_events: int = Field(
        10_000, ge=1, le=10_000_000, title="Shed step", description="Analytics events dropped per shedding step."
    )
    bundle_poll_s: float = Field(
        60.0, ge=0.1, le=86_400, title="Bundle poll", description="Seconds between asking HQ for a newer bundle."
    )
    refused_retry_s: float = Field(
        300.0,
        ge=0.1,
        le=86_400,
        title="Refused lane retry",
        description="Seconds before a lane whose batch HQ refused as inconsistent is tried again.",
    )
    status_every_s: float = Field(
        5.0, ge=0.1, le=3600, title="Status interval", description="Seconds between sync.status events."
    )


HALL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Credential:
    hall: str
    url: str
    key: bytes

    def to_json(self) -> str:
        return json.dumps({"hall": self.hall, "url": self.url, "key": self.key.hex()})

    @classmethod
    def from_json(cls, text: str) -> Credential:
        try:
            raw = json.loads(text)
            hall, url, key = raw["hall"], raw["url"], bytes.fromhex(raw["key"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SyncError(f"credential is not the JSON line `hall hq hall add` printed: {exc}") from exc
        if not isinstance(hall, str) or not HALL_RE.match(hall):
            raise SyncError(f"credential hall {hall!r} is not a hall id")
        if not isinstance(url, str) or not re.match(r"^https?://\S+$", url):
            raise SyncError(f"credential url {url!r} is not an http(s) URL")
        if len(key) < 32:
            raise SyncError("credential key is shorter than 32 bytes")
        return cls(hall, url.rstrip("/"), key)


def credential_path(home: Home) -> Path:
    return home.root / "sync.credential"


def load_credential(home: Home) -> Credential | None:
    path = credential_path(home)
    try:
        return Credential.from_json(path.read_text())
    except FileNotFoundError:
        return None


def save_credential(home: Home, cred: Credential) -> Path:
    path = credential_path(home)
    home.root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(cred.to_json() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
