"""The bus over real sockets: replies, errors, retries applied once, CurveZMQ on TCP."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import zmq

from edge import envelope
from edge.bus import BusClient, Endpoints, Subscriber, curve
from edge.errors import BusTimeout, Conflict, InvalidRequest
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
