"""The one JSON envelope used on the bus, in the log and towards HQ.

``{"v": 1, "id", "ts", "source", "topic", "data"}``. Topics are ``noun.verb``:
past tense for events (``ticket.issued``), imperative for requests
(``ticket.issue``)::

    >>> env = make("ticket.issue", {"business": "A"}, source="kiosk")
    >>> parse(encode(env))["topic"]
    'ticket.issue'

Whatever bytes :func:`parse` is given, it returns an envelope or raises
:class:`~edge.errors.InvalidRequest` naming the fault, never another error.
Size and nesting are bounded before the JSON is parsed (:func:`check_bounds`),
so no message can make the parser recurse without limit::

    >>> parse(b'{"v": 1, "data": ' + b"[" * 1100 + b"]" * 1100 + b"}")
    Traceback (most recent call last):
    ...
    edge.errors.InvalidRequest: message nests arrays and objects more than 32 deep
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from edge.errors import InvalidRequest

VERSION = 1
TOPIC_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
KEYS = ("v", "id", "ts", "source", "topic", "data")
OPTIONAL = ("seq",)  # events from the log carry their position in it

MAX_BYTES = 32 * 1024 * 1024  # any one message (HQ's down bundles are the largest)
MAX_DEPTH = 32  # arrays and objects inside one another, the envelope itself counting as one
REPLY_DEPTH = 2 * MAX_DEPTH  # what clients take from the core: replies nest published events a few levels down
MAX_CONTAINERS = 1_000_000  # arrays and objects in one message: a large bundle has a few hundred thousand
MAX_INT = 2**63 - 1  # what SQLite stores and every JSON reader takes exactly
FIELD_LIMITS = {"id": 64, "ts": 40, "source": 64, "topic": 64}

Envelope = dict[str, Any]

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_ONE_KIND = bytes.maketrans(b"{}", b"[]")  # depth is all that is counted here; json.loads checks the pairing
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")


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
    """The envelope as compact UTF-8 JSON; :class:`InvalidRequest` if it holds what JSON cannot say.

    >>> encode(make("door.crossed", {"x": float("nan")}, source="t"))
    Traceback (most recent call last):
    ...
    edge.errors.InvalidRequest: door.crossed cannot be sent as JSON: Out of range float values are not JSON compliant...
    """
    try:
        return json.dumps(env, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        raise InvalidRequest(f"{env.get('topic', 'message')} cannot be sent as JSON: {exc}") from exc


def brackets_of(raw: bytes) -> bytes:
    """The array and object brackets of JSON text, outside its strings, all written ``[`` and ``]``.

    >>> brackets_of(b'{"a": [1, {"b": "]]]"}]}')
    b'[[[]]]'
    """
    return _STRING.sub(b"", raw).translate(_ONE_KIND, _NOT_BRACKET)


def _outside_strings(raw: bytes) -> bytes:
    return _STRING.sub(b"", raw)


def nesting_depth_within(brackets: bytes, limit: int) -> bool | None:
    """Whether :func:`brackets_of` some JSON nest at most ``limit`` deep; None when they cannot pair up.

    The innermost pairs are removed, one level per pass, in at most ``limit`` passes of ``bytes.replace``::

        >>> nesting_depth_within(b"[[[]]]", 3), nesting_depth_within(b"[[[[]]]]", 3)
        (True, False)
        >>> nesting_depth_within(b"[][][][]]", 3) is None
        True
    """
    too_deep = b"[" * (limit + 1)
    for _ in range(limit):
        if not brackets:
            return True
        if too_deep in brackets:
            return False
        inner = brackets.replace(b"[]", b"")
        if len(inner) == len(brackets):
            return None
        brackets = inner
    return not brackets


def check_bounds(
    raw: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH, max_containers: int = MAX_CONTAINERS
) -> bytes:
    """Refuse a message larger than ``max_bytes``, nested deeper than ``max_depth`` or holding more than
    ``max_containers`` arrays and objects (each costs memory once parsed), before parsing it.

    Returns the text the numbers are in: the message outside its strings (or all of it, when small).
    """
    if len(raw) > max_bytes:
        raise InvalidRequest(f"message is {len(raw)} bytes, more than the {max_bytes} allowed")
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return raw  # nests at most that deep, and holds at most that many
    outside = _outside_strings(raw)
    brackets = outside.translate(_ONE_KIND, _NOT_BRACKET)
    if brackets.count(b"[") > max_containers:
        raise InvalidRequest(f"message holds more than {max_containers} arrays and objects")
    within = nesting_depth_within(brackets, max_depth)
    if within is None:
        raise InvalidRequest("message is not JSON: its brackets do not pair up")
    if not within:
        raise InvalidRequest(f"message nests arrays and objects more than {max_depth} deep")
    return outside


def _may_be_out_of_range(numbers: bytes) -> bool:
    """Whether JSON text (best outside its strings) may hold an integer past 2^63-1 or a float past its range.

    Only then are its numbers read one by one (:func:`_int`, :func:`_float`); two C-speed scans decide::

        >>> _may_be_out_of_range(b'{"a":[1,2.5,true,false]}'), _may_be_out_of_range(b'{"a":1e999}')
        (False, True)
        >>> _may_be_out_of_range(b'{"a":9223372036854775808}')
        True
    """
    if b"0" * 19 in numbers.translate(_DIGITS_AS_ZERO):  # 19 digits in a row may pass 2^63-1
        return True
    words = numbers.replace(b"true", b"").replace(b"false", b"")
    return b"e" in words or b"E" in words  # an exponent


def _int(text: str) -> int:
    value = int(text) if len(text) <= 20 else MAX_INT + 1
    if abs(value) > MAX_INT:
        raise InvalidRequest(f"message is not usable: the number {text[:24]}… is out of range (at most 2^63-1)")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidRequest(f"message is not usable: the number {text[:24]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise InvalidRequest(f"message is not JSON: {name} is not a JSON value")


_PLAIN = json.JSONDecoder(parse_constant=_constant)
_CHECKING = json.JSONDecoder(parse_constant=_constant, parse_int=_int, parse_float=_float)


def parse(raw: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Envelope:
    """Decode and check an envelope; raise :class:`InvalidRequest` naming the fault (and nothing else)."""
    if not isinstance(raw, bytes):
        raise InvalidRequest(f"message is {type(raw).__name__}, not bytes")
    numbers = check_bounds(raw, max_bytes=max_bytes, max_depth=max_depth)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"message is not UTF-8: byte {exc.start} ({raw[exc.start]:#04x}) is invalid") from exc
    # numbers that could leave SQLite's range or be infinite are looked at one by one, only when some may be
    checked = _may_be_out_of_range(numbers)
    try:
        env = (_CHECKING if checked else _PLAIN).decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"message is not JSON: {exc}") from exc
    except (ValueError, RecursionError, MemoryError) as exc:  # the bounds above keep these away; never let one out
        raise InvalidRequest(f"message is not usable JSON: {type(exc).__name__}") from exc
    if not isinstance(env, dict):
        raise InvalidRequest("message is not a JSON object")
    missing = [k for k in KEYS if k not in env]
    if missing:
        raise InvalidRequest(f"envelope lacks {', '.join(missing)}")
    extra = sorted(set(env) - set(KEYS) - set(OPTIONAL))
    if extra:
        raise InvalidRequest(f"envelope has unknown keys {', '.join(extra)[:200]}")
    if type(env["v"]) is not int or env["v"] != VERSION:
        raise InvalidRequest(f"envelope version {str(env['v'])[:16]!r} is not supported (want {VERSION})")
    for key, limit in FIELD_LIMITS.items():
        if not isinstance(env[key], str) or not env[key]:
            raise InvalidRequest(f"envelope field {key!r} must be a non-empty string")
        if len(env[key]) > limit:
            raise InvalidRequest(f"envelope field {key!r} is longer than {limit} characters")
    if not TOPIC_RE.match(env["topic"]):
        raise InvalidRequest(f"topic {env['topic']!r} is not of the form noun.verb")
    if not isinstance(env["data"], dict):
        raise InvalidRequest("envelope data must be a JSON object")
    if "seq" in env and type(env["seq"]) is not int:
        raise InvalidRequest("envelope seq must be an integer")
    if _SURROGATE.search(raw):  # a lone UTF-16 surrogate escape cannot be stored or sent on
        encode(env)
    return env
