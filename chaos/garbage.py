"""Malformed and oversized requests: raw bytes on the core's request socket, bad HTTP at the panel.

:func:`bus_message` and :func:`panel_request` draw one bad request of a named kind from a seeded
random source; :class:`BusGarbage` and :class:`PanelGarbage` send bursts of them and count what came
back. Every answer from the core to garbage must be an error (a byte flipped in a harmless read may
leave a valid request, which may then be answered); the panel must answer with a 4xx, or 503 while
the core or the disk is away, never with a 500.

    >>> import random
    >>> kind, raw, answered = bus_message(random.Random(1), "deep nesting")
    >>> raw.count(b"[") > 1000, answered
    (True, True)
"""

from __future__ import annotations

import json
import random
import socket
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from edge import envelope

OVERSIZED = envelope.MAX_BYTES + 1024  # past any message's bound: the core drops it unanswered


def _env(topic: Any = "ticket.issue", data: Any = None, **fields: Any) -> bytes:
    env: dict[str, Any] = {"v": 1, "id": envelope.new_id(), "ts": "t", "source": "chaos", "topic": topic}
    env["data"] = {"business": "A"} if data is None else data
    env.update(fields)
    return json.dumps(env).encode()


def _deep(depth: int) -> bytes:
    head = b'{"v":1,"id":"deep","ts":"t","source":"chaos","topic":"ticket.issue","data":{"business":'
    return head + b"[" * depth + b"]" * depth + b"}}"


def _flip(rng: random.Random) -> bytes:
    good = envelope.encode(envelope.make(rng.choice(["hall.ping", "queue.status"]), {}, source="chaos"))
    i = rng.randrange(len(good))
    return good[:i] + bytes([good[i] ^ (1 << rng.randrange(8))]) + good[i + 1 :]


# name → (bytes, whether an answer is expected)
BUS_KINDS: dict[str, Callable[[random.Random], tuple[bytes, bool]]] = {
    "deep nesting": lambda r: (_deep(r.randint(40, 5000)), True),
    "brackets never closed": lambda r: (b"[" * r.randint(1000, 200_000), True),
    "huge for its topic": lambda r: (_env(data={"business": "A", "pad": "x" * (2 * 1024 * 1024)}), True),
    "over every bound": lambda r: (b'{"v":1,"data":"' + b"x" * OVERSIZED + b'"}', False),
    "invalid UTF-8": lambda r: (
        b'{"v":1,"id":"u","ts":"t","source":"\xff\xfe","topic":"ticket.issue","data":{"business":"A"}}',
        True,
    ),
    "not JSON": lambda r: (bytes(r.getrandbits(8) for _ in range(r.randint(1, 300))), True),
    "a JSON list": lambda r: (b"[1, 2, 3]", True),
    "wrong types": lambda r: (
        r.choice(
            [
                _env(v=True),
                _env(id=5),
                _env(topic=["ticket.issue"]),
                _env(data=[1]),
                _env(seq="1"),
                _env(data={"business": 5}),
                _env(data={"business": "A", "priority": ["vip"]}),
                _env(data={"business": "A", "customer": "me"}),
                _env("counter.call", {"counter": {"id": 1}}),
                _env("ticket.list", {"day": "2026-13-45"}),
            ]
        ),
        True,
    ),
    "unknown topic": lambda r: (_env(r.choice(["ticket.fly", "hall.explode", "x.y", "sync.nothing"]), {}), True),
    "numbers out of range": lambda r: (
        r.choice(
            [
                b'{"v":1,"id":"n","ts":"t","source":"s","topic":"events.since","data":{"seq":NaN}}',
                b'{"v":1,"id":"n","ts":"t","source":"s","topic":"events.since","data":{"seq":1e999}}',
                _env("events.since", {"seq": 2**63}),
            ]
        ),
        True,
    ),
    "lone surrogate": lambda r: (_env("event.publish", {"topic": "door.crossed", "data": {"x": "\ud800"}}), True),
    "an event too large": lambda r: (
        _env("event.publish", {"topic": "door.crossed", "data": {"x": "y" * 300_000}}),
        True,
    ),
    "the core's own topic": lambda r: (_env("event.publish", {"topic": "ticket.issued", "data": {}}), True),
    "a flipped byte": lambda r: (_flip(r), True),
}
FLIPPED = "a flipped byte"


def bus_message(rng: random.Random, kind: str | None = None) -> tuple[str, bytes, bool]:
    """One bad message: its kind, its bytes, and whether the core should answer it."""
    kind = kind or rng.choices(list(BUS_KINDS), [1 if k == "over every bound" else 6 for k in BUS_KINDS])[0]
    raw, answered = BUS_KINDS[kind](rng)
    return kind, raw, answered


@dataclass
class Tally:
    """What a burst of garbage got back."""

    sent: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)  # "error", "accepted", "none", or an HTTP status
    wrong: list[str] = field(default_factory=list)  # answers that break the rule, one line each

    def add(self, other: Tally) -> None:
        self.sent.update(other.sent)
        self.answers.update(other.answers)
        self.wrong.extend(other.wrong)


class BusGarbage:
    """Bursts of bad messages on a raw DEALER socket to the core's request endpoint."""

    def __init__(self, endpoint: str, wait_s: float = 1.0) -> None:
        self.endpoint = endpoint
        self.wait_ms = int(wait_s * 1000)

    def burst(self, rng: random.Random, count: int) -> Tally:
        tally = Tally()
        sock = self._dealer()
        try:
            for _ in range(count):
                kind, raw, expect = bus_message(rng)
                tally.sent[kind] += 1
                sock.send(raw)
                if not expect:
                    continue
                if not sock.poll(self.wait_ms):
                    tally.answers["none"] += 1  # the core is away (killed, restarting): no fault of the garbage
                    sock.close(linger=0)
                    sock = self._dealer()
                    continue
                reply = envelope.parse(sock.recv(), max_depth=envelope.REPLY_DEPTH)["data"]
                if reply.get("ok"):
                    tally.answers["accepted"] += 1
                    if kind != FLIPPED:
                        tally.wrong.append(f"the core accepted {kind}: {raw[:80]!r}")
                else:
                    tally.answers["error"] += 1
        finally:
            sock.close(linger=0)
        return tally

    def _dealer(self) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(self.endpoint)
        return sock


# -- the panel -----------------------------------------------------------------------------------

PanelRequest = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body
JSON = {"content-type": "application/json"}


def _nested(depth: int) -> bytes:
    return b'{"name":' + b"[" * depth + b"]" * depth + b',"password":"x"}'


PANEL_KINDS: dict[str, Callable[[random.Random], PanelRequest]] = {
    "not JSON": lambda r: ("POST", "/api/login", JSON, bytes(r.getrandbits(8) for _ in range(r.randint(1, 200)))),
    "invalid UTF-8": lambda r: ("POST", "/api/login", JSON, b'{"name":"\xff\xfe","password":"x"}'),
    "deep nesting": lambda r: ("POST", "/api/login", JSON, _nested(r.randint(1000, 20_000))),
    "over the body limit": lambda r: ("POST", "/api/login", JSON, b'{"name":"' + b"n" * (1 << 20) + b'"}'),
    "wrong types": lambda r: ("POST", "/api/login", JSON, r.choice([b'{"name":5,"password":[]}', b"[]", b"null"])),
    "wrong content type": lambda r: ("POST", "/api/login", {"content-type": "text/plain"}, b"name=a&password=b"),
    "unknown path": lambda r: (r.choice(["GET", "POST", "DELETE"]), r.choice(["/api/nothing", "/%00", "/.."]), {}, b""),
    "bad counter action": lambda r: ("POST", f"/api/counters/{r.choice(['1', 'x' * 300, '%ff'])}/fly", JSON, b"{}"),
    "bad counter body": lambda r: ("POST", "/api/counters/1/transfer", JSON, r.choice([b'{"business":[[[]]]}', b"{"])),
    "bad rules": lambda r: ("PUT", "/api/rules", JSON, r.choice([b'{"rules":"all"}', b'{"longest_wait":-1e999}'])),
    "bad user": lambda r: ("POST", "/api/users", JSON, b'{"name":"\\ud800","role":"god","password":7}'),
    "lone surrogate": lambda r: ("POST", "/api/login", JSON, b'{"name":"\\udfff","password":"\\ud800"}'),
}


def panel_request(rng: random.Random, kind: str | None = None) -> tuple[str, PanelRequest]:
    kind = kind or rng.choice(list(PANEL_KINDS))
    return kind, PANEL_KINDS[kind](rng)


class PanelGarbage:
    """Bad requests to the panel over HTTPS, as a signed-in manager when it can sign in, and raw bytes."""

    def __init__(self, port: int, cafile: str, user: str, password: str) -> None:
        self.port = port
        self.cafile = cafile
        self.user = user
        self.password = password

    def burst(self, rng: random.Random, count: int) -> Tally:
        import httpx

        tally = Tally()
        base = f"https://127.0.0.1:{self.port}"
        try:
            client = httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=self.cafile), timeout=10)
        except (OSError, ssl.SSLError):  # no certificate yet: the panel has not started
            client = httpx.Client(base_url=base, verify=False, timeout=10)  # our own panel, on loopback
        with client:
            headers = self._sign_in(client)
            for _ in range(count):
                if rng.random() < 0.1:
                    tally.sent["raw bytes"] += 1
                    tally.answers[self._raw(rng)] += 1
                    continue
                kind, (method, path, extra, body) = panel_request(rng)
                tally.sent[kind] += 1
                try:
                    reply = client.request(method, path, headers={**headers, **extra}, content=body)
                except httpx.HTTPError:
                    tally.answers["none"] += 1
                    continue
                tally.answers[str(reply.status_code)] += 1
                if reply.status_code >= 500 and reply.status_code != 503:
                    tally.wrong.append(f"the panel answered {kind} ({method} {path[:40]}) with {reply.status_code}")
        return tally

    def _sign_in(self, client: Any) -> dict[str, str]:
        import httpx

        try:
            reply = client.post("/api/login", json={"name": self.user, "password": self.password})
            if reply.status_code != 200:
                return {}
            me = client.get("/api/me").json()
            return {"x-csrf-token": str(me.get("csrf", ""))}
        except (httpx.HTTPError, ValueError):
            return {}

    def _raw(self, rng: random.Random) -> str:
        """Bytes that are not TLS on the HTTPS port: the connection must be closed, the panel unharmed."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=3) as s:
                s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000))))
                s.settimeout(3)
                s.recv(1024)
            return "closed"
        except OSError:
            return "closed"
