"""What makes a batch of one lane consistent, before HQ's store is touched.

A batch says: "these are the events of ``lane`` that follow seq ``after``, and the
box's log reached seq ``head`` when they were read". So its seqs are strictly
increasing and above ``after``; every event's topic belongs to the lane; ``head``
is at least the last seq; and no number is beyond :data:`MAX_SEQ`. Gaps between
seqs are normal (the other lanes' events lie between). What only the store can
tell (a seq already held in another lane, a batch that skips HQ's cursor) is
checked by :meth:`sync.hq.store.Store.ingest`. Every refusal names the lane, the
field and, where there is one, the seq::

    >>> ev = lambda seq, topic="ticket.issued": {"seq": seq, "topic": topic}
    >>> check("records", 0, 9, [ev(1), ev(5)])
    >>> check("records", 0, 9, [ev(5), ev(5)])
    Traceback (most recent call last):
    ...
    sync.errors.Inconsistent: lane records: events[1].seq: seq 5 does not follow seq 5 (seqs must increase strictly within a batch)
    >>> check("records", 0, 2**62, [ev(1)])
    Traceback (most recent call last):
    ...
    sync.errors.Inconsistent: lane records: head: 4611686018427387904 is beyond 1099511627776 (2^40), the largest seq HQ takes
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edge.schemas.sync import LANES, lane_of
from sync.errors import Inconsistent

MAX_SEQ = 2**40  # ~10^12 events: centuries of a busy hall's log, and exact in every JSON reader
MAX_EVENTS = 5000


def check(lane: str, after: int, head: int, events: Sequence[dict[str, Any]]) -> None:
    """Refuse (:class:`~sync.errors.Inconsistent`) a batch that contradicts itself."""
    if lane not in LANES:
        raise Inconsistent(lane, "lane", f"{lane!r} is not a lane ({', '.join(LANES)})")
    for name, value in (("after", after), ("head", head)):
        if not 0 <= value <= MAX_SEQ:
            raise Inconsistent(lane, name, f"{value} is beyond {MAX_SEQ} (2^40), the largest seq HQ takes")
    if not events:
        raise Inconsistent(lane, "events", "a batch holds at least one event")
    if len(events) > MAX_EVENTS:
        raise Inconsistent(lane, "events", f"{len(events)} events, more than {MAX_EVENTS} in one batch")
    last = after
    for i, ev in enumerate(events):
        seq = ev["seq"]
        if not 1 <= seq <= MAX_SEQ:
            raise Inconsistent(
                lane, f"events[{i}].seq", f"{seq} is outside 1…{MAX_SEQ} (2^40), the seqs HQ takes", seq=seq
            )
        if seq <= last:
            why = (
                f"seq {seq} does not follow seq {last} (seqs must increase strictly within a batch)"
                if i
                else f"seq {seq} is not above the batch's after ({after})"
            )
            raise Inconsistent(lane, f"events[{i}].seq", why, seq=seq)
        own = lane_of(ev["topic"])
        if own != lane:
            raise Inconsistent(
                lane, f"events[{i}].topic", f"event {seq} ({ev['topic']}) belongs to lane {own}", seq=seq
            )
        last = seq
    if head < last:
        raise Inconsistent(lane, "head", f"head {head} is below the batch's last seq {last}", seq=last)
