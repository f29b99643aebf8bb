"""Nothing a client sends stops the core: a real core process, raw bytes on its request socket.

Every bad request gets an error reply naming the fault, and the next ticket is
issued with the next number: no transaction is left open, nothing is lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import zmq

from edge.bus import BusClient
from edge.errors import InvalidRequest
from edge.paths import Home
from tests.busutil import connected, wait_event
from tests.conftest import CoreProcess


def _env(topic: str = "ticket.issue", data: object = None, **fields: object) -> bytes:
    env: dict[str, object] = {"v": 1, "id": "bad-1", "ts": "t", "source": "attacker", "topic": topic}
    env["data"] = {"business": "A"} if data is None else data
    env.update(fields)
    return json.dumps(env).encode()


def _deep(depth: int) -> bytes:
    """The request of the field report: 2,260 bytes whose data nests lists ``depth`` deep."""
    head = b'{"v":1,"id":"deep","ts":"t","source":"s","topic":"ticket.issue","data":{"business":'
    return head + b"[" * depth + b"]" * depth + b"}}"


BAD: list[tuple[str, bytes, str]] = [
    ("deep nesting", _deep(1100), "more than 32 deep"),
    ("deep in a string is fine, deep outside is not", _deep(40), "more than 32 deep"),
    ("brackets that never close", b"[" * 100_000, "more than 32 deep"),
    ("brackets that do not pair up", b"[]" * 20 + b"]" * 5 + b"[" * 20, "brackets do not pair up"),
    ("huge for its topic", _env(data={"business": "A", "pad": "x" * (2 * 1024 * 1024)}), "more than the 1048576"),
    ("invalid UTF-8", b'{"v":1,"id":"u","ts":"t","source":"\xff\xfe","topic":"hall.ping","data":{}}', "not UTF-8"),
    ("not JSON", b"\x00\x01garbage", "not JSON"),
    ("a JSON list", b"[1, 2, 3]", "not a JSON object"),
    ("version true", _env(v=True), "version"),
    ("version 2", _env(v=2), "version"),
    ("id a number", _env(id=5), "'id' must be a non-empty string"),
    ("id too long", _env(id="i" * 65), "longer than 64"),
    ("topic a list", _env(topic=["ticket.issue"]), "'topic' must be a non-empty string"),
    ("topic not noun.verb", _env(topic="TICKET"), "noun.verb"),
    ("data a list", _env(data=[1]), "data must be a JSON object"),
    ("seq a string", _env(seq="1"), "seq must be an integer"),
    ("extra envelope key", _env(colour="red"), "unknown keys colour"),
    ("unknown topic", _env(topic="ticket.fly"), "unknown request topic 'ticket.fly'"),
    ("business a number", _env(data={"business": 5}), "business"),
    ("priority a list", _env(data={"business": "A", "priority": ["vip"]}), "priority"),
    ("customer a string", _env(data={"business": "A", "customer": "me"}), "customer"),
    ("NaN", b'{"v":1,"id":"n","ts":"t","source":"s","topic":"events.since","data":{"seq":NaN}}', "NaN"),
    ("infinity", b'{"v":1,"id":"n","ts":"t","source":"s","topic":"events.since","data":{"seq":1e999}}', "range"),
    (
        "a 5000-digit number",
        b'{"v":1,"id":"n","ts":"t","source":"s","topic":"events.since","data":{"seq":' + b"9" * 5000 + b"}}",
        "out of range",
    ),
    ("seq beyond SQLite", _env("events.since", {"seq": 2**63}), "out of range"),
    ("a lone surrogate", _env("event.publish", {"topic": "door.crossed", "data": {"x": "\ud800"}}), "surrogate"),
    ("a day that is no date", _env("ticket.list", {"day": "2026-13-45"}), "day"),
    ("an alert day that is no date", _env("alert.list", {"day": "2026-02-30"}), "day"),
    (
        "a bundle of a million empty lists",
        _env("bundle.apply", {"bundle": {"x": [[]] * 1_000_001}}),
        "more than 1000000",
    ),
    (
        "an event too large for HQ",
        _env("event.publish", {"topic": "door.crossed", "data": {"x": "y" * 300_000}}),
        "more than the 262144",
    ),
]


@pytest.fixture
def raw(core: CoreProcess) -> Iterator[zmq.Socket[bytes]]:
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(core.home.requests_endpoint)
    yield sock
    sock.close()


def _reply(sock: zmq.Socket[bytes]) -> dict[str, object]:
    assert sock.poll(5000), "the core did not answer"
    data: dict[str, object] = json.loads(sock.recv())["data"]
    return data


@pytest.mark.parametrize(("what", "message", "fault"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_request_is_answered_and_the_next_ticket_issued(
    raw: zmq.Socket[bytes], bus: BusClient, what: str, message: bytes, fault: str
) -> None:
    before = bus.request("ticket.issue", {"business": "B"})
    raw.send(message)
    reply = _reply(raw)
    assert reply["ok"] is False, f"{what} was accepted: {reply}"
    error = reply["error"]
    assert isinstance(error, dict) and error["code"] == "invalid", error
    assert fault in error["message"], error["message"]
    after = bus.request("ticket.issue", {"business": "B"})
    assert (before["number"], after["number"]) == ("B001", "B002")


def test_a_batch_of_garbage_and_good_requests_keeps_the_good_ones(raw: zmq.Socket[bytes], hall_home: Home) -> None:
    """Sent back to back, they share one batch (one transaction): each bad one undoes only itself."""
    sent = []
    for n, (_what, message, _fault) in enumerate(BAD):
        raw.send(message)
        good = _env(data={"business": "C"}, id=f"good-{n}")
        raw.send(good)
        sent.append(f"good-{n}")
    replies = [_reply(raw) for _ in range(2 * len(BAD))]
    good = {r["re"]: r for r in replies if isinstance(r["re"], str) and r["re"].startswith("good-")}
    assert sorted(good) == sorted(sent)
    assert all(r["ok"] for r in good.values()), [r for r in good.values() if not r["ok"]]
    numbers = sorted(r["result"]["number"] for r in good.values())  # type: ignore[index]
    assert numbers == [f"C{n:03d}" for n in range(1, len(BAD) + 1)]
    assert sum(1 for r in replies if not r["ok"]) == len(BAD)
    with BusClient("after", timeout=3.0) as bus:
        assert bus.request("ticket.issue", {"business": "C"})["number"] == f"C{len(BAD) + 1:03d}"


def test_an_event_too_large_for_hq_is_refused_and_replies_carrying_events_are_bounded(bus: BusClient) -> None:
    """256 KiB of data at most per event; events.since and sync.batch stop before 8 MiB of data."""
    body = "y" * (250_000 - len('{"x":""}'))  # data of exactly 250,000 bytes as JSON
    for _ in range(40):
        bus.request("event.publish", {"topic": "door.crossed", "data": {"x": body}})
    with pytest.raises(InvalidRequest, match=r"door\.crossed carries 300010 bytes of data, more than the 262144"):
        bus.request("event.publish", {"topic": "door.crossed", "data": {"x": "y" * 300_002}})
    logged = bus.request("events.since", {"seq": 0, "prefix": "door.", "limit": 5000})
    # 33 × 250,000 = 8,250,000 bytes fit in 8 MiB (8,388,608); a 34th would not
    assert len(logged) == 33
    batch = bus.request("sync.batch", {"lane": "analytics", "after": 0, "limit": 5000})
    assert len(batch["events"]) == 33
    rest = bus.request("sync.batch", {"lane": "analytics", "after": batch["events"][-1]["seq"], "limit": 5000})
    assert len(rest["events"]) == 7


def test_the_deepest_event_a_client_may_publish_comes_back_in_replies_and_on_the_bus(
    bus: BusClient, hall_home: Home
) -> None:
    deep: object = "leaf"
    for _ in range(29):  # envelope, data and the event's data are 3 levels: 3 + 29 = 32
        deep = [deep]
    with connected(bus, hall_home, ["door."]) as sub:
        bus.request("event.publish", {"topic": "door.crossed", "data": {"x": deep}})
        assert wait_event(sub, "door.crossed")["data"] == {"x": deep}
    assert bus.request("events.since", {"seq": 0, "prefix": "door."})[0]["data"] == {"x": deep}
    assert bus.request("sync.batch", {"lane": "analytics", "after": 0})["events"][0]["data"] == {"x": deep}
    with pytest.raises(InvalidRequest, match="more than 32 deep"):
        bus.request("event.publish", {"topic": "door.crossed", "data": {"x": [deep]}})
