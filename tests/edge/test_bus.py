"""The bus over real sockets: replies, errors, retries applied once, CurveZMQ on TCP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq

from edge import envelope
from edge.bus import BusClient, Endpoints, Subscriber, curve
from edge.errors import BusDown, BusTimeout, Conflict, InvalidRequest
from edge.paths import Home
from tests.conftest import CoreProcess


def test_retried_request_is_applied_once(bus: BusClient) -> None:
    first = bus.request("ticket.issue", {"business": "A"}, request_id="retry-1")
    again = bus.request("ticket.issue", {"business": "A"}, request_id="retry-1")
    other = bus.request("ticket.issue", {"business": "A"}, request_id="retry-2")
    assert first == again
    assert (first["number"], other["number"]) == ("A001", "A002")
    assert len(bus.request("ticket.list")) == 2


def test_retry_after_a_crash_gets_the_first_reply(core: CoreProcess, bus: BusClient) -> None:
    first = bus.request("ticket.issue", {"business": "B"}, request_id="crash-1")
    core.kill9()
    core.start()
    again = bus.request("ticket.issue", {"business": "B"}, request_id="crash-1")
    assert again == first
    assert [t["number"] for t in bus.request("ticket.list")] == ["B001"]


def test_lazy_pirate_resends_until_the_core_is_back(core: CoreProcess, hall_home: Home) -> None:
    import threading

    core.kill9()
    restarter = threading.Timer(0.5, core.start)
    restarter.start()
    try:
        with BusClient("test", endpoints=Endpoints.local(hall_home), timeout=0.3, retries=100) as client:
            ticket = client.request("ticket.issue", {"business": "C"})
        assert ticket["number"] == "C001"
    finally:
        restarter.join()


def test_malformed_and_unknown_requests_get_errors_and_the_core_keeps_serving(bus: BusClient, hall_home: Home) -> None:
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(hall_home.requests_endpoint)
    try:
        for junk in (
            b"\xff\xfe not json",
            b"[1, 2]",
            b'{"v": 1}',
            b'{"v":9,"id":"x","ts":"t","source":"s","topic":"a.b","data":{}}',
        ):
            raw.send(junk)
            assert raw.poll(3000), f"no reply to {junk!r}"
            reply = envelope.parse(raw.recv())
            assert reply["data"]["ok"] is False
            assert reply["data"]["error"]["code"] == "invalid"
    finally:
        raw.close()
    with pytest.raises(InvalidRequest, match=r"unknown request topic 'ticket\.fly'"):
        bus.request("ticket.fly", {})
    with pytest.raises(InvalidRequest, match="business"):
        bus.request("ticket.issue", {})
    assert bus.request("hall.ping")["hall"] == "demo-001"


def test_other_services_publish_facts_through_the_core(bus: BusClient, hall_home: Home) -> None:
    with Subscriber(["door."], endpoints=Endpoints.local(hall_home)) as sub:
        # a subscription needs a moment to reach the publisher: publish until one arrives
        got = None
        for _ in range(50):
            bus.request("event.publish", {"topic": "door.crossed", "data": {"direction": "in"}, "durable": False})
            got = sub.recv(timeout=0.1)
            if got:
                break
        assert got is not None and got["data"] == {"direction": "in"} and got["source"] == "test"
    logged = bus.request("event.publish", {"topic": "door.crossed", "data": {"direction": "out"}})
    events = bus.request("events.since", {"seq": 0, "prefix": "door."})
    assert [e["data"]["direction"] for e in events] == ["out"]  # only durable ones are in the log
    assert events[0]["seq"] == logged["seq"]
    for forged in ("ticket.issued", "alert.raised", "alert.anything", "bundle.applied", "sync.gap"):
        with pytest.raises(Conflict, match="belongs to the core"):
            bus.request("event.publish", {"topic": forged, "data": {}})
    with (
        BusClient("core", endpoints=Endpoints.local(hall_home)) as impostor,
        pytest.raises(Conflict, match="only the core"),
    ):
        impostor.request("event.publish", {"topic": "door.crossed", "data": {"direction": "in"}})
    with pytest.raises(InvalidRequest, match=r"device\.health"):
        bus.request("event.publish", {"topic": "device.health", "data": {"device": "printer", "state": "online"}})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tcp_endpoints_require_an_authorised_curve_key(hall_home: Home, tmp_path: Path) -> None:
    req_port, ev_port = _free_port(), _free_port()
    cfg = tmp_path / "hall.toml"
    cfg.write_text(f'[bus]\ntcp_requests = "tcp://127.0.0.1:{req_port}"\ntcp_events = "tcp://127.0.0.1:{ev_port}"\n')
    # a technician authorises a client by copying its public key into keys/clients/
    client_keys = tmp_path / "client-keys"
    curve.ensure_keypair(client_keys, "client")
    curve.ensure_keypair(hall_home.keys_dir, "server")
    (curve.clients_dir(hall_home.keys_dir) / "client.key").write_bytes((client_keys / "client.key").read_bytes())
    (client_keys / "server.key").write_bytes((hall_home.keys_dir / "server.key").read_bytes())
    core = CoreProcess(hall_home, cfg).start()
    try:
        tcp = Endpoints.curve(f"tcp://127.0.0.1:{req_port}", f"tcp://127.0.0.1:{ev_port}", client_keys)
        with BusClient("remote", endpoints=tcp, timeout=3, retries=1) as ok:
            assert ok.request("hall.ping")["hall"] == "demo-001"
        stranger_keys = tmp_path / "stranger"
        curve.ensure_keypair(stranger_keys, "client")
        (stranger_keys / "server.key").write_bytes((hall_home.keys_dir / "server.key").read_bytes())
        stranger = Endpoints.curve(f"tcp://127.0.0.1:{req_port}", f"tcp://127.0.0.1:{ev_port}", stranger_keys)
        with BusClient("stranger", endpoints=stranger, timeout=0.5, retries=1) as bad, pytest.raises(BusTimeout):
            bad.request("hall.ping")
        plain = Endpoints(f"tcp://127.0.0.1:{req_port}", f"tcp://127.0.0.1:{ev_port}")
        with BusClient("plain", endpoints=plain, timeout=0.5, retries=0) as bad, pytest.raises(BusTimeout):
            bad.request("hall.ping")
    finally:
        core.stop()


def test_an_oversized_message_is_dropped_and_the_core_keeps_serving(bus: BusClient, hall_home: Home) -> None:
    from edge.core.hub import MAX_REQUEST_BYTES

    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(hall_home.requests_endpoint)
    try:
        raw.send(b"x" * (MAX_REQUEST_BYTES + 1))
        assert not raw.poll(500), "an oversized message must not be answered"
    finally:
        raw.close()
    assert bus.request("hall.ping")["hall"] == "demo-001"
    assert bus.request("ticket.issue", {"business": "A"})["number"] == "A001"


class HeldCore:
    """A peer on the core's request socket that takes requests and answers only when told (a slow core),
    or never (a core that hangs)."""

    def __init__(self, home: Home) -> None:
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.bind(home.requests_endpoint)

    def take(self, timeout: float = 5.0) -> tuple[bytes, envelope.Envelope]:
        assert self.sock.poll(int(timeout * 1000)), "no request arrived"
        ident, raw = self.sock.recv_multipart()
        return ident, envelope.parse(raw)

    def answer(self, ident: bytes, request: envelope.Envelope, result: object) -> None:
        reply = envelope.make(request["topic"], {"re": request["id"], "ok": True, "result": result}, source="core")
        self.sock.send_multipart([ident, envelope.encode(reply)])

    def idle(self) -> bool:
        return not self.sock.poll(0)

    def close(self) -> None:
        self.sock.close(linger=0)


def test_requests_from_several_threads_are_in_flight_together(hall_home: Home) -> None:
    core = HeldCore(hall_home)
    results: dict[str, object] = {}
    client = BusClient("test", endpoints=Endpoints.local(hall_home), timeout=10.0, retries=0)

    def ask(name: str) -> None:
        results[name] = client.request("hall.ping", {}, request_id=name)

    threads = [threading.Thread(target=ask, args=(name,)) for name in ("first", "second")]
    try:
        for t in threads:
            t.start()
        # both reach the core while neither has had its answer: a slow request holds up no other
        taken = dict((env["id"], (ident, env)) for ident, env in (core.take(), core.take()))
        assert set(taken) == {"first", "second"}
        for name in ("second", "first"):  # answered in the other order, each reaches its own asker
            core.answer(*taken[name], {"answer_to": name})
        for t in threads:
            t.join(10)
        assert results == {"first": {"answer_to": "first"}, "second": {"answer_to": "second"}}
    finally:
        client.close()
        core.close()


def test_a_client_that_knows_the_core_is_down_fails_at_once_without_sending(hall_home: Home) -> None:
    core = HeldCore(hall_home)  # takes requests and never answers: a hung core
    client = BusClient("test", endpoints=Endpoints.local(hall_home), timeout=0.2, retries=1, down_s=60.0)
    try:
        with pytest.raises(BusTimeout, match="after 2 attempt"):
            client.request("hall.ping", request_id="one")
        assert [core.take()[1]["id"] for _ in range(2)] == ["one", "one"]  # resent with the same id
        with pytest.raises(BusDown, match=r"ticket.issue not sent: no reply from the core to hall.ping"):
            client.request("ticket.issue", {"business": "A"})
        assert core.idle()  # nothing of it reached the core
    finally:
        client.close()
        core.close()


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline, tick = time.monotonic() + timeout, threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        tick.wait(0.05)
    return True


def test_the_down_window_ends_and_a_reply_clears_it(hall_home: Home) -> None:
    core = HeldCore(hall_home)
    client = BusClient("test", endpoints=Endpoints.local(hall_home), timeout=0.2, retries=0, down_s=0.3)
    try:
        with pytest.raises(BusTimeout):
            client.request("hall.ping", request_id="lost")
        core.take()
        answered: list[object] = []

        def ask() -> bool:  # failed at once while the window lasts, then sent and answered
            try:
                answered.append(client.request("hall.ping", request_id="later", timeout=5.0))
            except BusDown:
                return False
            return True

        asker = threading.Thread(target=lambda: wait_until(ask, 10.0))
        asker.start()
        ident, env = core.take(10.0)
        assert env["id"] == "later"
        core.answer(ident, env, {"ok": 1})
        asker.join(10)
        assert answered == [{"ok": 1}]
        with pytest.raises(BusTimeout) as unanswered:  # the reply ended the window: the next one is sent
            client.request("hall.ping", request_id="after", timeout=0.2, retries=0)
        assert not isinstance(unanswered.value, BusDown) and core.take()[1]["id"] == "after"
    finally:
        client.close()
        core.close()
