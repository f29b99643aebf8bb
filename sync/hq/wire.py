"""A batch of events as it arrives at HQ, decoded in one pass (msgspec) with each event's data kept as text.

HQ stores an event's ``data`` as the JSON text the hall sent, so it never builds
the objects only to write them out again: the batch is decoded straight into
typed structs whose fields carry the same bounds as the documented model
(:class:`sync.hq.app.EventBatch`), and ``data`` stays raw bytes, checked to be a
JSON object in strict UTF-8. What a per-field pattern would cost on every event
of every batch is checked once per batch instead: the text fields are searched
for control characters all at once, and a topic is matched against its pattern
the first time it is seen (a hall sends a few dozen topics). A fault is one
sentence naming the field::

    >>> decode_batch(b'{"lane": "records", "after": 0, "head": 1, "events": [{"v": 1, "id": "e1", '
    ...              b'"ts": "t", "source": "core", "topic": "ticket.issued", "data": {"n": 1}, "seq": 1}]}')[3]
    [{'seq': 1, 'id': 'e1', 'ts': 't', 'source': 'core', 'topic': 'ticket.issued', 'data': '{"n": 1}'}]
    >>> decode_batch(b'{"lane": "records", "after": 0, "head": 1, "events": [{"v": 1, "id": "e1", '
    ...              b'"ts": "t", "source": "core", "topic": "ticket.issued", "data": [], "seq": 1}]}')
    Traceback (most recent call last):
    ...
    sync.hq.wire.Malformed: events[0].data: must be a JSON object
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

import msgspec

from edge.envelope import TOPIC_RE
from sync.errors import SyncError
from sync.hq.batch import MAX_EVENTS, MAX_SEQ

Seq = Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]
Cursor = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]


class Malformed(SyncError):
    """A request body HQ cannot take as it is; names the field at fault."""

    code = "malformed"

    def __init__(self, field: str | None, message: str, lane: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.lane = lane


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]  # one line: checked per batch (_check_text)
    ts: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    topic: Annotated[str, msgspec.Meta(max_length=64)]  # TOPIC_RE: checked once per topic (_check_topics)
    data: msgspec.Raw
    seq: Seq
    v: Literal[1] = 1


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    lane: Literal["alerts", "records", "analytics"]
    after: Cursor
    head: Cursor
    events: Annotated[list[_Event], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


_DECODER = msgspec.json.Decoder(_Batch)
_PATH = re.compile(r" - at `\$(.*)`$")
_LANE = re.compile(rb'"lane"\s*:\s*"(alerts|records|analytics)"')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # PostgreSQL takes no NUL; one line, no controls
_TOPICS: set[str] = set()  # topics seen to match TOPIC_RE (a hall's log uses a few dozen)
_TOPICS_MAX = 10_000
ONE_LINE = "must be text on one line, without control characters"


def decode_batch(body: bytes) -> tuple[str, int, int, list[dict[str, Any]]]:
    """``(lane, after, head, events)``, each event a dict whose ``data`` is its JSON text; else :class:`Malformed`."""
    try:
        batch = _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _malformed(body, exc) from None
    except UnicodeDecodeError:  # bytes that are not UTF-8, in a key or a text field
        raise _not_utf8(body) from None
    _check_text(batch)
    _check_topics(batch)
    try:
        events: list[dict[str, Any]] = [
            {"seq": e.seq, "id": e.id, "ts": e.ts, "source": e.source, "topic": e.topic, "data": str(e.data, "utf-8")}
            for e in batch.events
        ]
    except UnicodeDecodeError:
        for i, e in enumerate(batch.events):
            try:
                str(e.data, "utf-8")
            except UnicodeDecodeError as exc:
                raise Malformed(f"events[{i}].data", f"not UTF-8 at byte {exc.start}", batch.lane) from None
        raise
    if not all(e["data"][:1] == "{" for e in events):
        i = next(i for i, e in enumerate(events) if e["data"][:1] != "{")
        raise Malformed(f"events[{i}].data", "must be a JSON object", batch.lane)
    return batch.lane, batch.after, batch.head, events


def _not_utf8(body: bytes) -> Malformed:
    lane = _LANE.search(body[:4096])
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Malformed(None, f"body is not UTF-8 at byte {exc.start}", lane.group(1).decode() if lane else None)
    return Malformed(None, "body holds text that is not UTF-8", lane.group(1).decode() if lane else None)


def _check_text(batch: _Batch) -> None:
    """No control character in any event's id, ts, source or topic (whose pattern's ``$`` lets a last newline
    through): one search over them all, then who."""
    events = batch.events
    fields = ("id", "ts", "source", "topic")
    if not any(_CONTROL.search("".join([getattr(e, f) for e in events])) for f in fields):
        return
    for i, e in enumerate(events):
        for f in fields:
            if _CONTROL.search(getattr(e, f)):
                raise Malformed(f"events[{i}].{f}", ONE_LINE, batch.lane)


def _check_topics(batch: _Batch) -> None:
    """Every topic of the form noun.verb (each distinct topic matched once per process)."""
    for i, e in enumerate(batch.events):
        if e.topic in _TOPICS:
            continue
        if not TOPIC_RE.match(e.topic):
            raise Malformed(f"events[{i}].topic", f"expected str matching regex {TOPIC_RE.pattern!r}", batch.lane)
        if len(_TOPICS) < _TOPICS_MAX:
            _TOPICS.add(e.topic)


def _surrogate(body: bytes) -> str | None:
    """The field of a body that holds a lone UTF-16 surrogate escape (valid JSON, but not text), if one does."""
    try:
        batch = json.loads(body)
    except (ValueError, RecursionError):
        return None

    def text(value: Any) -> bool:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True

    if not isinstance(batch, dict):
        return None
    for key, value in batch.items():
        if not text(key):
            return "body"
        if key != "events" and not text(value):
            return str(key)
    events = batch.get("events")
    for i, event in enumerate(events if isinstance(events, list) else []):
        for key, value in event.items() if isinstance(event, dict) else ():
            if not text(key) or not text(value):
                return f"events[{i}].{key}" if text(key) else f"events[{i}]"
    return None


def _malformed(body: bytes, exc: Exception) -> Malformed:
    lane = _LANE.search(body[:4096])
    lane_name = lane.group(1).decode() if lane else None
    if isinstance(exc, RecursionError):
        return Malformed("body", "nests arrays and objects too deep", lane_name)
    text = str(exc)
    if "surrogate" in text and (field := _surrogate(body)) is not None:
        return Malformed(field, "holds a lone UTF-16 surrogate (\\udXXX), which is not text", lane_name)
    if not isinstance(exc, msgspec.ValidationError):
        return Malformed(None, f"body is not valid JSON: {text}", lane_name)
    where = _PATH.search(text)
    field = where.group(1).lstrip(".") if where else "body"
    message = _PATH.sub("", text).replace("`", "")
    return Malformed(field or "body", message[:1].lower() + message[1:], lane_name)
