"""What HQ reads from a hall: a signed batch of one lane, through the very ASGI app ``hall hq serve`` runs.

Each case is one POST to ``/v1/halls/h1/events`` of a hall whose key signs it, called on the app in
this process (no socket): the signature guard, gzip, FastAPI's body parsing and models, the batch
checks and the store (SQLite in memory). HQ must answer every request, and below 500; a refused one
(4xx, named in ``detail``) leaves the store as it was; a well-formed batch that follows HQ's cursor is
taken whole and read back from the store as it was sent.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

from hypothesis import strategies as st

from edge.schemas.sync import LANES, lane_of
from sync import auth
from sync.hq.app import create_app
from sync.hq.store import Store, open_store
from tests.fuzz.core import Case, Target, json_bytes, json_near_miss, json_values, mutated, odd_placed, raw, valid

HALL = "h1"
KEY = bytes(range(32))
PATH = f"/v1/halls/{HALL}/events"
TOPICS = {
    "alerts": ["alert.raised", "alert.cleared"],
    "records": ["ticket.issued", "counter.opened", "sync.gap", "evaluation.recorded"],
    "analytics": ["flow.counted", "door.crossed", "heatmap.minute"],
}


class Refused(Exception):
    """HQ answered 4xx: the detail it gave."""


class Hq:
    """HQ's app and a store in memory, with one hall; requests go to the app without a socket."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.now = 1_800_000_000.0
        self.store: Store | None = None
        self.app: Any = None

    def reset(self) -> None:
        self.close()
        self.loop = asyncio.new_event_loop()
        self.store = open_store(":memory:")
        self.store.add_hall(HALL, KEY)
        self.app = create_app(self.store, clock=lambda: self.now)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.loop is not None:
            self.loop.close()
            self.loop = None

    def cursor(self, lane: str) -> int:
        assert self.store is not None
        return self.store.cursors(HALL)[lane]

    def post(self, body: bytes, *, coding: str = "", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        sent = gzip.compress(body, compresslevel=1) if coding == "gzip" else body
        signed = auth.sign_request(KEY, "POST", PATH, HALL, sent, now=self.now)
        signed.update({"content-type": "application/json", "content-length": str(len(sent))})
        if coding:
            signed["content-encoding"] = coding
        signed.update(headers or {})
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in signed.items()],
            "client": ("127.0.0.1", 40000),
            "server": ("hq", 8470),
        }
        chunks = [sent]
        out: dict[str, Any] = {"status": 0, "body": b""}

        async def receive() -> dict[str, Any]:
            if chunks:
                return {"type": "http.request", "body": chunks.pop(), "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        self.now += 0.001
        assert self.loop is not None, "reset() first"
        self.loop.run_until_complete(self.app(scope, receive, send))
        return int(out["status"]), bytes(out["body"])


HQ = Hq()
items = st.lists(
    st.tuples(st.integers(1, 3), st.integers(0, 3), st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
    min_size=1,
    max_size=6,
)


def event(seq: int, topic: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"v": 1, "id": f"e{seq}", "ts": "2026-03-02T08:00:00.000+00:00", "source": "core", "topic": topic,
            "data": data, "seq": seq}  # fmt: skip


def laid_out(lane: str, picks: list[tuple[int, int, dict[str, Any]]], after: int, top: int) -> dict[str, Any]:
    """A batch of ``lane`` following ``after``, its seqs laid out above ``top`` (the last seq HQ holds)."""
    sent, seq = [], top
    for gap, pick, data in picks:
        seq += gap
        sent.append(event(seq, TOPICS[lane][pick % len(TOPICS[lane])], data))
    return {"lane": lane, "after": after, "head": seq + 2, "events": sent}


def hq_raw(case: Case) -> bytes:
    if case.kind == "raw":
        return bytes(case.data[0])
    lane, picks, _ = case.data
    return json.dumps(laid_out(lane, picks, 0, 0)).encode()


def odd_batch(lane: str, after: int, head: int, seqs: list[int], data: Any) -> dict[str, Any]:
    events = [
        event(s, TOPICS[lane][s % len(TOPICS[lane])], data if isinstance(data, dict) else {"x": data}) for s in seqs
    ]
    return {"lane": lane, "after": after, "head": head, "events": events}


def hq_inputs() -> st.SearchStrategy[Case]:
    lanes = st.sampled_from(LANES)
    batches = st.builds(
        odd_batch,
        lanes,
        st.integers(0, 8),
        st.integers(0, 40),
        st.lists(st.integers(1, 30), min_size=1, max_size=5),
        json_values,
    )
    headers = st.dictionaries(
        st.sampled_from([auth.H_TS, auth.H_NONCE, auth.H_HALL, auth.H_BODY, "content-length", "content-encoding"]),
        st.sampled_from(["", "nan", "inf", "1e999", "-1", "9" * 30, "h2", "gzip", "deflate", "0", " 1", "é"]),
        min_size=1,
        max_size=2,
    )
    codings = st.sampled_from(["", "gzip"])
    return st.one_of(
        st.tuples(lanes, items, codings).map(lambda t: valid(t, None)),  # seqs are laid after HQ's cursor at run time
        st.tuples(odd_placed(batches).map(json_bytes), codings).map(lambda t: raw((t[0], t[1], {}))),
        st.tuples(mutated(batches.map(json_bytes)), codings).map(lambda t: raw((t[0], t[1], {}))),
        st.tuples(batches.map(json_bytes), headers).map(lambda t: raw((t[0], "", t[1]))),
        st.binary(max_size=200).map(lambda b: raw((b, "", {}))),
    )


def run_hq(case: Case) -> None:
    assert HQ.store is not None, "setup() first"
    if case.kind == "valid":
        lane, picks, coding = case.data
        after = HQ.cursor(lane)
        batch = laid_out(lane, picks, after, max(HQ.store.cursors(HALL).values(), default=0))
        sent, seq = batch["events"], batch["events"][-1]["seq"]
        status, answer = HQ.post(json.dumps(batch).encode(), coding=coding)
        assert status == 200, f"{status} {answer[:300]!r}"
        assert json.loads(answer) == {"lane": lane, "cursor": seq}
        held = [e for e in HQ.store.events(HALL, after, 1000) if lane_of(e["topic"]) == lane]
        assert held == sent  # held as sent
        return
    body, coding, headers = case.data
    before = HQ.store.counts()
    status, answer = HQ.post(body, coding=coding, headers=headers)
    assert 200 <= status < 500, f"HQ answered {status}: {answer[:300]!r}"
    if status >= 400:
        assert HQ.store.counts() == before, "a refused batch changed HQ's store"
        detail = json.loads(answer)["detail"]
        assert isinstance(detail, str) and detail
        raise Refused(detail)


TARGETS = [
    Target(
        "hq-batch",
        "HQ: signed POST /events bytes → guard → gzip → FastAPI model → batch checks → store",
        hq_inputs(),
        run_hq,
        (Refused,),
        hq_raw,
        setup=HQ.reset,
        teardown=HQ.close,
        reread=lambda data: raw((data, "", {})),
        near_miss=json_near_miss,
    ),
]
