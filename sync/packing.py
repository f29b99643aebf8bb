"""A batch as the core packs it (``sync.batch`` with ``packed``): inflated, scrubbed, and sent on as it came.

The core builds the batch HQ takes straight from the log's text and compresses
it; the agent inflates it and looks at every event's data for what
:func:`sync.privacy.scrub` removes (:func:`sync.privacy.suspects`). When nothing
is to be removed, the core's compressed bytes are the body sent to HQ, so no
event is parsed or written again on the box. Otherwise only the suspects are
parsed and scrubbed, and the batch is encoded anew with each clean event's text
as it was. A data text that is not a JSON object makes the whole batch
unreadable here: :func:`unpack` answers None and the agent reads it event by
event (:func:`scrubbed`), where such an event goes up with nothing of itself.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from typing import Any

import msgspec

from sync.client import encode_batch
from sync.privacy import ALLOWED, scrub, suspects


class _Event(msgspec.Struct):
    id: str
    ts: str
    source: str
    topic: str
    data: msgspec.Raw
    seq: int
    v: int = 1


class _Batch(msgspec.Struct):
    lane: str
    after: int
    head: int
    events: list[_Event]


_DECODER = msgspec.json.Decoder(_Batch)


def unpack(reply: dict[str, Any]) -> tuple[bytes, int, int] | None:
    """``(body, last seq, how many scrubbed)`` of the core's packed reply, else None (read it event by event)."""
    try:
        packed = base64.b64decode(reply["body"], validate=True)
        batch = _DECODER.decode(gzip.decompress(packed))
        texts = [str(e.data, "utf-8") for e in batch.events]
    except (binascii.Error, OSError, EOFError, zlib.error, msgspec.DecodeError, UnicodeDecodeError):
        return None
    if not batch.events or not all(t.startswith("{") for t in texts):
        return None
    todo = suspects(texts) | {i for i, e in enumerate(batch.events) if e.topic in ALLOWED}
    changed: dict[int, dict[str, Any]] = {}
    scrubbed = 0
    for i in sorted(todo):
        e = batch.events[i]
        try:
            data = json.loads(texts[i])
        except (ValueError, RecursionError):
            return None
        clean = scrub({"topic": e.topic, "data": data})
        if clean["data"] != data:
            changed[i] = clean["data"]
            scrubbed += "_scrubbed" in clean["data"]
    last = batch.events[-1].seq
    if not changed:
        return packed, last, 0
    events = [
        {"v": e.v, "id": e.id, "ts": e.ts, "source": e.source, "topic": e.topic, "data": changed.get(i, texts[i]),
         "seq": e.seq}
        for i, e in enumerate(batch.events)
    ]  # fmt: skip
    return encode_batch(batch.lane, batch.after, batch.head, events), last, scrubbed


def scrubbed(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The events with their data (JSON text from the log) passed through the privacy scrub.

    A clean event keeps its text as the log holds it; a scrubbed one carries its cleaned data. Also
    how many were scrubbed.
    """
    out = []
    count = 0
    for e in events:
        text = e["data"]
        try:
            parsed = {**e, "data": json.loads(text) if isinstance(text, str) else text}
        except (ValueError, RecursionError):  # not what the core writes: nothing of it goes up
            out.append({**e, "data": {"_scrubbed": ["data (unreadable in the log)"]}})
            count += 1
            continue
        clean = scrub(parsed)
        if clean is parsed:
            out.append(e)
            continue
        count += "_scrubbed" in clean["data"]
        out.append(clean)
    return out, count
