"""HTTPS, the redirect, where the panel listens, and bodies too large to read."""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
from collections.abc import Iterable

import httpx
import pytest

from edge.bus import BusClient
from tests.conftest import CoreProcess
from tests.panel.busutil import connected, wait_event
from tests.panel.conftest import Client, PanelProcess


def raw_exchange(panel: PanelProcess, head: bytes, body: Iterable[bytes]) -> tuple[int, bytes]:
    """Send a request by hand over TLS (the body may stop early) and read the status and body of the answer."""
    with (
        socket.create_connection(("127.0.0.1", panel.port), timeout=15) as raw,
        panel.ssl().wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head)
        for chunk in body:
            try:
                tls.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.find(b"\r\n\r\n") + 4 + _length(data):
            try:
                more = tls.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not more:
                break
            data += more
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def _length(data: bytes) -> int:
    found = re.search(rb"content-length: (\d+)", data, re.I)
    return int(found.group(1)) if found else 0


def test_huge_bodies_are_refused_unread_and_plug_nothing(
    panel: PanelProcess, staff: Client, core: CoreProcess, bus: BusClient
) -> None:
    forty_mb = 40 * 1024 * 1024
    head = (
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {forty_mb}\r\n\r\n".encode()
    )
    status, body = raw_exchange(panel, head, [b'{"name": "' + b"A" * 1024 * 1024])  # 1 MB sent of the 40
    assert status == 413 and "64 KB" in body.decode()
    chunked = b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    chunked += b"Transfer-Encoding: chunked\r\n\r\n"
    chunk = b"4000\r\n" + b"A" * 0x4000 + b"\r\n"
    status, body = raw_exchange(panel, chunked, [chunk] * 8)  # 128 KiB, no length announced
    assert status == 413 and "too_large" in body.decode()
    # a guarded write is limited the same way, and nothing was stored
    big = staff.http.post(
        "/api/counters/1/pause", content=b'{"reason": "' + b"x" * 70000 + b'"}', headers={"X-CSRF-Token": staff.csrf}
    )
    assert big.status_code == 413
    assert (panel.home.root / "panel.db").stat().st_size < 1024 * 1024
    # the audit trail still flows to the hall log
    with connected(bus, core.home, ["audit."]) as sub:
        staff.ok("/api/counters/1/open")
        shipped = wait_event(sub, "audit.recorded", lambda d: d["action"] == "counter.open")
    assert shipped["data"]["name"] == "staff-li"


def test_fields_are_limited_with_a_sentence_that_names_them(staff: Client, manager: Client, anonymous: Client) -> None:
    r = staff.post("/api/counters/1/open")
    assert r.status_code == 200
    r = staff.post("/api/counters/1/pause", {"reason": "午" * 65})
    assert r.status_code == 400 and "reason" in r.json()["error"] and "64" in r.json()["error"]
    r = staff.post("/api/counters/1/call", {"number": {"$gt": ""}})
    assert r.status_code == 400 and "number" in r.json()["error"]
    r = manager.post(
        "/api/users", {"name": "zhou", "role": "staff", "password": "Maple-Ridge-4410", "display": "周" * 33}
    )
    assert r.status_code == 400 and "display" in r.json()["error"]
    r = staff.http.post("/api/counters/1/pause", content=b"reason=x", headers={"X-CSRF-Token": staff.csrf})
    assert r.status_code == 415
    # half a UTF-16 pair is no text: refused as the client's mistake, not a crash, at sign-in and after it
    json_type = {"content-type": "application/json"}
    r = anonymous.http.post("/api/login", content=b'{"name": "\\udfff", "password": "\\ud800"}', headers=json_type)
    assert r.status_code == 400 and "surrogate" in r.json()["error"]
    r = staff.http.post(
        "/api/counters/1/pause", content=b'{"reason": "\\ud800"}', headers={"X-CSRF-Token": staff.csrf, **json_type}
    )
    assert r.status_code == 400 and "surrogate" in r.json()["error"]


def test_https_with_the_printed_fingerprint_and_a_redirect_from_http(panel: PanelProcess) -> None:
    key = panel.home.root / "tls" / "panel.key"
    assert key.stat().st_mode & 0o777 == 0o600
    printed = re.search(r"fingerprint ([0-9A-F:]{95})", panel.log.read_text())
    assert printed is not None
    with (
        socket.create_connection(("127.0.0.1", panel.port)) as raw,
        panel.ssl().wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    assert printed.group(1) == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    r = httpx.get(f"http://127.0.0.1:{panel.redirect_port}/counter?x=1")
    assert r.status_code == 308 and r.headers["location"] == f"https://127.0.0.1:{panel.port}/counter?x=1"
    with pytest.raises(httpx.TransportError):  # HTTPS only on the HTTPS port
        httpx.get(f"http://127.0.0.1:{panel.port}/login", timeout=3)


def test_the_panel_listens_only_where_it_is_told(panel: PanelProcess) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", panel.port), timeout=3).close()
