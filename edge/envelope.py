"""The one JSON envelope used on the bus, in the log and towards HQ.

``{"v": 1, "id", "ts", "source", "topic", "data"}``. Topics are ``noun.verb``:
past tense for events (``ticket.issued``), imperative for requests
(``ticket.issue``)::

    >>> env = make("ticket.issue", {"business": "A"}, source="kiosk")
    >>> parse(encode(env))["topic"]
    'ticket.issue'
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from edge.errors import InvalidRequest

VERSION = 1
TOPIC_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
KEYS = ("v", "id", "ts", "source", "topic", "data")
OPTIONAL = ("seq",)  # events from the log carry their position in it

Envelope = dict[str, Any]


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso(ts: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def new_id() -> str:
    return uuid.uuid4().hex


def make(topic: str, data: dict[str, Any] | None = None, *, source: str, id: str | None = None) -> Envelope:
    if not TOPIC_RE.match(topic):
        raise InvalidRequest(f"topic {topic!r} is not of the form noun.verb")
    return {
        "v": VERSION,
        "id": id or new_id(),
        "ts": now_iso(),
        "source": source,
        "topic": topic,
        "data": data if data is not None else {},
    }


def encode(env: Envelope) -> bytes:
    return json.dumps(env, ensure_ascii=False, separators=(",", ":")).encode()


def parse(raw: bytes) -> Envelope:
    """Decode and check an envelope; raise :class:`InvalidRequest` naming the fault."""
    try:
        env = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"message is not JSON: {exc}") from exc
    if not isinstance(env, dict):
        raise InvalidRequest("message is not a JSON object")
    missing = [k for k in KEYS if k not in env]
    if missing:
        raise InvalidRequest(f"envelope lacks {', '.join(missing)}")
    extra = sorted(set(env) - set(KEYS) - set(OPTIONAL))
    if extra:
        raise InvalidRequest(f"envelope has unknown keys {', '.join(extra)}")
    if env["v"] != VERSION:
        raise InvalidRequest(f"envelope version {env['v']!r} is not supported (want {VERSION})")
    for key in ("id", "ts", "source", "topic"):
        if not isinstance(env[key], str) or not env[key]:
            raise InvalidRequest(f"envelope field {key!r} must be a non-empty string")
    if len(env["id"]) > 64:
        raise InvalidRequest("envelope id is longer than 64 characters")
    if not TOPIC_RE.match(env["topic"]):
        raise InvalidRequest(f"topic {env['topic']!r} is not of the form noun.verb")
    if not isinstance(env["data"], dict):
        raise InvalidRequest("envelope data must be a JSON object")
    return env
