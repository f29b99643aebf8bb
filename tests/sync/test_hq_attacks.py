"""HQ attacked over real sockets: huge and unsigned bodies, replays, other halls' routes, broken gzip,
truncated and stalled bodies, inconsistent batches, a full disk."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync import auth
from sync.client import HqClient
from sync.config import Credential
from sync.errors import BatchRefused
from sync.hq.guard import MAX_BODY
from tests.sync.conftest import HqServer

pytestmark = pytest.mark.process
EVENTS = "/v1/halls/h1/events"


def ev(seq: int, topic: str = "ticket.issued", pad: int = 0) -> dict[str, Any]:
    return {"v": 1, "id": f"e{seq}", "ts": "2026-11-25T01:00:00.000+00:00", "source": "core", "topic": topic,
            "data": {"pad": "x" * pad} if pad else {}, "seq": seq}  # fmt: skip


def batch(lane: str, after: int, head: int, events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"lane": lane, "after": after, "head": head, "events": events}).encode()


class Raw:
    """One HTTP/1.1 request written by hand on a socket: headers first, the body only if we choose."""

    def __init__(self, port: int, method: str, path: str, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send_body(self, total: int, chunk: int = 1 << 20) -> int:
        """Send up to ``total`` bytes; return how many went before the server closed the connection."""
        sent = 0
        block = b"x" * chunk
        try:
            while sent < total:
                self.sock.sendall(block[: min(chunk, total - sent)])
                sent += min(chunk, total - sent)
        except OSError:
            pass
        return sent

    def response(self) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """The status, headers and JSON body of the answer (EOF before any answer: status 0)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                return 0, {}, None
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return int(lines[0].split()[1]), headers, json.loads(rest) if rest else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@pytest.fixture
def h1(hq: HqServer) -> Iterator[tuple[HqServer, Credential]]:
    yield hq, hq.add_hall("h1")


def signed(cred: Credential, body: bytes, path: str = EVENTS, method: str = "POST", **over: str) -> dict[str, str]:
    return {**auth.sign_request(cred.key, method, path, cred.hall, body), "content-type": "application/json", **over}


def peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.parametrize("hq_db", ["sqlite"], indirect=True)
def test_huge_unsigned_bodies_are_refused_unread(h1: tuple[HqServer, Credential]) -> None:
    hq, _ = h1
    assert hq.proc is not None
    before = peak_rss(hq.proc.pid)
    huge = 64 << 20
    forged = auth.sign_request(bytes(32), "POST", EVENTS, "h1", b"")
    for headers in (
        {},  # not signed at all
        {**forged, "x-hall": "nobody"},  # a hall HQ does not know
        forged,  # a known hall, a signature made without its key
    ):
        raw = Raw(hq.port, "POST", EVENTS, {**headers, "content-length": str(huge)})
        try:
            status, answer_headers, answer = raw.response()  # answered before a byte of the body is sent
            assert status == 401, answer
            assert answer_headers.get("connection") == "close"
            sent = raw.send_body(huge)
        finally:
            raw.close()
        assert sent < huge  # HQ closed the connection instead of reading on
    grown = peak_rss(hq.proc.pid) - before
    assert grown < 8 << 20, f"HQ's peak memory grew by {grown >> 20} MiB for bodies it refused unread"
    assert httpx.get(hq.url + "/healthz").status_code == 200


def test_headers_are_judged_before_the_body(h1: tuple[HqServer, Credential]) -> None:
    hq, cred = h1
    b = hq.add_hall("h2")
    ok = batch("records", 0, 1, [ev(1)])
    first = signed(cred, ok)
    assert httpx.post(hq.url + EVENTS, content=ok, headers=first).status_code == 200
    cases: list[tuple[dict[str, str], int, str]] = [
        ({**signed(cred, b"x"), "content-length": str(MAX_BODY + 1)}, 413, "larger than"),
        ({**signed(cred, b"x"), "transfer-encoding": "chunked"}, 411, "content-length"),
        ({**signed(cred, b"x"), "content-length": "99", "content-encoding": "br"}, 415, "gzip"),
        ({**first, "content-length": str(len(ok))}, 401, "replayed"),  # the same request again
        ({**signed(cred, b"x", **{}), auth.H_TS: "1000.000", "content-length": "1000"}, 401, "off HQ's clock"),
        ({**signed(b, b"x"), "content-length": "1000"}, 403, "may only use /v1/halls/h2/"),
    ]
    for headers, status, words in cases:
        raw = Raw(hq.port, "POST", EVENTS, headers)
        try:
            got, answer_headers, answer = raw.response()
        finally:
            raw.close()
        assert got == status and answer is not None and words in answer["detail"], (headers, got, answer)
        assert answer_headers.get("connection") == "close"
    store = hq.store()
    try:
        assert store.counts()["events"] == 1
    finally:
        store.close()


def test_replays_resigned_requests_and_racing_copies(h1: tuple[HqServer, Credential]) -> None:
    hq, cred = h1
    body = batch("records", 0, 2, [ev(1), ev(2)])
    headers = signed(cred, body)
    assert httpx.post(hq.url + EVENTS, content=body, headers=headers).json()["cursor"] == 2
    replay = httpx.post(hq.url + EVENTS, content=body, headers=headers)
    assert replay.status_code == 401 and "replayed" in replay.json()["detail"]
    resigned = httpx.post(hq.url + EVENTS, content=body, headers=signed(cred, body))  # the box's own retry
    assert resigned.status_code == 200 and resigned.json()["cursor"] == 2
    # two copies of one signed request at once: exactly one is taken
    body3 = batch("records", 2, 3, [ev(3)])
    headers3 = signed(cred, body3)
    answers: list[int] = []

    def post() -> None:
        answers.append(httpx.post(hq.url + EVENTS, content=body3, headers=headers3).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers) == [200] + [401] * 5
    # a signed answer cannot be passed off as another request's: the nonce is in its signature
    answer = httpx.post(hq.url + EVENTS, content=body3, headers=signed(cred, body3))
    other_nonce = signed(cred, b"")[auth.H_NONCE]
    with pytest.raises(auth.AuthError):
        auth.verify_response(cred.key, other_nonce, 200, answer.content, answer.headers[auth.H_RESPONSE_SIG])
    store = hq.store()
    try:
        assert [e["seq"] for e in store.events("h1")] == [1, 2, 3]
    finally:
        store.close()


def test_a_refused_batch_keeps_its_nonce_and_racing_copies_are_replays(h1: tuple[HqServer, Credential]) -> None:
    """A batch is stored with its nonce in one transaction; a batch refused still uses its nonce up."""
    hq, cred = h1
    refused = [
        (batch("records", 5, 6, [ev(6)]), 409),  # a gap: HQ holds nothing of the lane
        (batch("records", 0, 1, [ev(1, topic="flow.counted")]), 422),  # an analytics topic in the records lane
        (batch("records", 0, 1, [{**ev(1), "id": "e\u0001"}]), 422),  # not one line of text
        (gzip.compress(batch("records", 0, 1, [ev(1)]))[:-4], 422),  # broken gzip, signed by the hall
    ]
    for body, status in refused:
        headers = signed(cred, body)
        if body[:2] == b"\x1f\x8b":
            headers["content-encoding"] = "gzip"
        first = httpx.post(hq.url + EVENTS, content=body, headers=headers)
        assert first.status_code == status, first.text
        auth.verify_response(cred.key, headers[auth.H_NONCE], status, first.content, first.headers[auth.H_RESPONSE_SIG])
        again = httpx.post(hq.url + EVENTS, content=body, headers=headers)
        assert again.status_code == 401 and "replayed" in again.json()["detail"], again.text
    # copies of one refused request at once: one is answered the refusal, the others as replays
    body = batch("records", 7, 8, [ev(8)])
    headers = signed(cred, body)
    answers: list[int] = []

    def post() -> None:
        answers.append(httpx.post(hq.url + EVENTS, content=body, headers=headers).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers) == [401] * 5 + [409]
    store = hq.store()
    try:
        assert store.counts()["events"] == 0 and store.cursors("h1")["records"] == 0
        assert store.status("h1")["last_seen"] is not None  # each was heard from all the same
    finally:
        store.close()


def test_a_key_rotated_by_another_process_is_in_force_at_the_next_request(h1: tuple[HqServer, Credential]) -> None:
    hq, old = h1
    with HqClient(old) as box:
        assert box.send_batch("records", 0, 1, [ev(1)]) == 1  # HQ has opened (and kept) the hall's key
    new = Credential.from_json(hq.cmd("hall", "add", "h1", "--url", hq.url, "--rotate").strip())
    assert new.key != old.key
    body = batch("records", 1, 2, [ev(2)])
    stale = httpx.post(hq.url + EVENTS, content=body, headers=signed(old, body))
    assert stale.status_code == 401 and "signature" in stale.json()["detail"]
    with HqClient(new) as box:
        assert box.send_batch("records", 1, 2, [ev(2)]) == 2


def test_a_hall_reaches_no_other_halls_routes(h1: tuple[HqServer, Credential]) -> None:
    hq, _ = h1
    b = hq.add_hall("h2")
    routes = [
        ("POST", "/v1/halls/h1/events", batch("records", 0, 1, [ev(1)])),
        ("GET", "/v1/halls/h1/cursors", b""),
        ("GET", "/v1/halls/h1/status", b""),
        ("GET", "/v1/halls/h1/bundle?after=0", b""),
        ("POST", "/v1/halls/h1/bundle-results", json.dumps({"version": 1, "applied": True}).encode()),
        ("GET", "/v1/halls/h1%2f..%2fh2/status", b""),
    ]
    for method, path, body in routes:
        headers = {**auth.sign_request(b.key, method, path, "h2", body), "content-type": "application/json"}
        resp = httpx.request(method, hq.url + path, content=body, headers=headers)
        assert resp.status_code in (403, 404), (path, resp.status_code, resp.text)
        if resp.status_code == 403:  # refused to h2, in words only h2 can verify
            auth.verify_response(b.key, headers[auth.H_NONCE], 403, resp.content, resp.headers[auth.H_RESPONSE_SIG])
        # a hall signing as another hall needs that hall's key
        headers = {**auth.sign_request(b.key, method, path, "h1", body), "content-type": "application/json"}
        assert httpx.request(method, hq.url + path, content=body, headers=headers).status_code == 401
    store = hq.store()
    try:
        assert store.counts()["events"] == 0 and store.counts()["bundle_results"] == 0
    finally:
        store.close()


def test_broken_gzip_truncated_and_stalled_bodies(h1: tuple[HqServer, Credential]) -> None:
    hq, cred = h1
    good = gzip.compress(batch("records", 0, 1, [ev(1)]))
    bomb = gzip.compress(b"[" + b" " * (MAX_BODY + 1024) + b"]", compresslevel=9)
    assert len(bomb) < 200_000
    cases = [
        (b"this is not gzip", 422, "not valid gzip"),
        (good[:-6], 422, "truncated"),
        (good + b"trailing bytes", 422, "after the end"),
        (bomb, 413, "decompressed body is larger"),
        (gzip.compress(b'{"lane": "records", "after": 0'), 422, "body"),
    ]
    for body, status, words in cases:
        headers = {**signed(cred, body), "content-encoding": "gzip"}
        resp = httpx.post(hq.url + EVENTS, content=body, headers=headers)
        assert resp.status_code == status and words in resp.json()["detail"], (words, resp.text)
        auth.verify_response(cred.key, headers[auth.H_NONCE], status, resp.content, resp.headers[auth.H_RESPONSE_SIG])

    body = batch("records", 0, 1, [ev(1)])
    headers = signed(cred, body)
    raw = Raw(hq.port, "POST", EVENTS, {**headers, "content-length": str(len(body))})
    raw.sock.sendall(body[:20])
    raw.sock.shutdown(socket.SHUT_WR)  # the box died mid-body
    assert raw.response()[0] == 0  # nothing to answer
    raw.close()
    raw = Raw(hq.port, "POST", EVENTS, {**headers, "content-length": str(len(body))})
    raw.sock.sendall(body[:20])  # and stalls: HQ gives up after its body timeout (2 s here)
    status, _, answer = raw.response()
    raw.close()
    assert status == 408 and answer is not None and "no body bytes" in answer["detail"]
    # neither left anything behind, not even the nonce: the complete request is still taken
    resp = httpx.post(hq.url + EVENTS, content=body, headers=headers)
    assert resp.status_code == 200 and resp.json()["cursor"] == 1


def test_inconsistent_batches_are_refused_naming_the_seq(h1: tuple[HqServer, Credential]) -> None:
    _, cred = h1
    with HqClient(cred) as box:
        assert box.send_batch("analytics", 0, 5, [ev(5, "flow.counted")]) == 5
        with pytest.raises(BatchRefused) as refused:
            box.send_batch("records", 0, 6, [ev(1), ev(5), ev(6)])
        assert (refused.value.lane, refused.value.seq, refused.value.field) == ("records", 5, "events[1].seq")
        assert "already held at HQ in lane analytics" in str(refused.value)
        with pytest.raises(BatchRefused) as huge:
            box.send_batch("records", 0, 2**62, [ev(1)])
        assert huge.value.field == "head" and "<= 1099511627776" in str(huge.value)
        with pytest.raises(BatchRefused) as twice:
            box.send_batch("records", 0, 9, [ev(3), ev(3)])
        assert twice.value.field == "events[1].seq"
        with pytest.raises(BatchRefused) as far:
            box.send_batch("records", 0, 9, [ev(2**50)])
        assert far.value.field == "events[0].seq"
        assert box.status()["head"] == 5 and box.cursors()["records"] == 0


def test_text_no_database_column_takes_is_refused_naming_where(h1: tuple[HqServer, Credential]) -> None:
    """Valid JSON that is not storable text: a lone surrogate escape, a NUL (PostgreSQL takes none)."""
    hq, cred = h1
    store = hq.store()
    try:
        before = store.counts()
        cases = [
            (b'{"lane": "records", "after": 0, "head": 1, "events": [EV]}', "events[0].data", '"\\udfff"'),
            (b'{"lane": "\\ud800records", "after": 0, "head": 1, "events": [EV]}', "lane", '"x"'),
            (b'{"lane": "records", "after": 0, "head": 1, "events": [EV]}', "events[0].id", '"x"'),
        ]
        for template, field, value in cases:
            event = json.dumps(ev(1)).replace('"e1"', '"e\\u0000"' if field.endswith(".id") else '"e1"')
            event = event.replace('"data": {}', f'"data": {{"note": {value}}}')
            body = template.replace(b"EV", event.encode())
            answer = httpx.post(hq.url + EVENTS, content=body, headers=signed(cred, body))
            assert answer.status_code == 422, (field, answer.status_code, answer.text)
            assert answer.json()["field"] == field and answer.content.isascii(), answer.text
        assert store.counts() == before
    finally:
        store.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of our own for HQ's store (needs the right to mount, as root in CI)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)], capture_output=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({out.stderr.decode().strip()})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_at_hq_refuses_whole_batches_and_recovers(small_disk: Path, tmp_path: Path) -> None:
    hq = HqServer(str(small_disk / "hq.db"), tmp_path / "hq.log", key_file=tmp_path / "hq.key").start()
    try:
        cred = hq.add_hall("h1")
        seq, refusals = 0, []
        with HqClient(cred) as box:
            for _ in range(200):  # ~40 kB a batch: the 2 MiB disk is full long before 200 of them
                events = [ev(seq + i, pad=4000) for i in range(1, 11)]
                try:
                    seq = box.send_batch("records", seq, seq + 10, events)
                except Exception as exc:
                    refusals.append(exc)
                    break
            assert refusals, "the disk never filled"
            assert "full" in str(refusals[0]) and "503" in str(refusals[0]), refusals[0]
            full = hq.store()  # read in place: over HTTP even a read records its nonce, which may not fit
            try:
                assert full.cursors("h1")["records"] == seq  # the refused batch left nothing half-stored
            finally:
                full.close()
            assert httpx.get(hq.url + "/healthz").status_code == 200
            subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
            for _ in range(3):  # the box sends the same batch again, and more
                events = [ev(seq + i, pad=4000) for i in range(1, 11)]
                seq = box.send_batch("records", seq, seq + 10, events)
        store = hq.store()
        try:
            assert [e["seq"] for e in store.events("h1", 0, 10_000)] == list(range(1, seq + 1))
        finally:
            store.close()
    finally:
        hq.stop()


@pytest.mark.parametrize("hq_db", ["postgres"], indirect=True)
def test_hq_reconnects_when_its_database_connection_dies(h1: tuple[HqServer, Credential], hq_db: str) -> None:
    import psycopg

    hq, cred = h1
    with HqClient(cred) as box:
        assert box.send_batch("records", 0, 1, [ev(1)]) == 1
        with psycopg.connect(hq_db, autocommit=True) as admin:  # the database drops HQ's session
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        assert killed
        assert box.send_batch("records", 1, 2, [ev(2)]) == 2
        assert box.cursors()["records"] == 2
    assert "connecting again" in hq.log.read_text()
