"""The HQ server over HTTP: per-hall credentials, signatures, replay, isolation, idempotent gap-refusing ingest."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sync import auth
from sync.client import HqClient
from sync.errors import AuthError, GapRefused, Refused
from tests.sync.conftest import HqServer

pytestmark = pytest.mark.process


@pytest.fixture
def connect() -> Iterator[Callable[..., HqClient]]:
    """HqClient factory; every client made is closed at the end of the test."""
    made: list[HqClient] = []

    def make(*args: Any, **kwargs: Any) -> HqClient:
        made.append(HqClient(*args, **kwargs))
        return made[-1]

    yield make
    for client in made:
        client.close()


def ev(seq: int, topic: str = "ticket.issued", **data: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "id": f"e{seq}",
        "ts": "2026-11-25T01:00:00.000+00:00",
        "source": "core",
        "topic": topic,
        "data": data,
        "seq": seq,
    }


def signed_post(url: str, key: bytes, hall: str, path: str, body: dict[str, Any], **over: str) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {**auth.sign_request(key, "POST", path, hall, raw), "content-type": "application/json", **over}
    return httpx.post(url + path, content=raw, headers=headers)


def test_halls_are_authenticated_and_isolated(hq: HqServer, connect: Callable[..., HqClient]) -> None:
    a, b = hq.add_hall("hall-a"), hq.add_hall("hall-b")
    assert a.key != b.key
    spec = httpx.get(hq.url + "/openapi.json").json()
    assert "/v1/halls/{hall}/events" in spec["paths"]

    path = "/v1/halls/hall-a/events"
    batch = {"lane": "records", "after": 0, "head": 1, "events": [ev(1)]}
    assert httpx.post(hq.url + path, json=batch).status_code == 401  # unsigned
    wrong = signed_post(hq.url, b.key, "hall-a", path, batch)
    assert wrong.status_code == 401 and "signature" in wrong.json()["detail"]
    cross = signed_post(hq.url, b.key, "hall-b", path, batch)  # hall b writing hall a's data
    assert cross.status_code == 403
    stale = signed_post(hq.url, a.key, "hall-a", path, batch, **{auth.H_TS: "1000.000"})
    assert stale.status_code == 401
    raw = json.dumps(batch).encode()
    headers = {**auth.sign_request(a.key, "POST", path, "hall-a", raw), "content-type": "application/json"}
    tampered = httpx.post(hq.url + path, content=raw.replace(b'"e1"', b'"e9"'), headers=headers)
    assert tampered.status_code == 401
    store = hq.store()
    try:
        assert store.counts()["events"] == 0  # nothing stored from any refused request
        first = httpx.post(hq.url + path, content=raw, headers=headers)
        assert first.status_code == 200 and first.json()["cursor"] == 1
        auth.verify_response(a.key, headers[auth.H_NONCE], 200, first.content, first.headers[auth.H_RESPONSE_SIG])
        replay = httpx.post(hq.url + path, content=raw, headers=headers)
        assert replay.status_code == 401 and "replayed" in replay.json()["detail"]
        reading = httpx.get(
            hq.url + "/v1/halls/hall-a/cursors",
            headers=auth.sign_request(b.key, "GET", "/v1/halls/hall-a/cursors", "hall-b", b""),
        )
        assert reading.status_code == 403
        assert connect(b).cursors() == {"alerts": 0, "records": 0, "analytics": 0}
        assert connect(a).cursors()["records"] == 1
        assert store.counts()["events"] == 1
    finally:
        store.close()


def test_ingest_is_idempotent_and_refuses_gaps(hq: HqServer, connect: Callable[..., HqClient]) -> None:
    cred = hq.add_hall("h1")
    box = connect(cred)
    assert box.send_batch("records", 0, 5, [ev(1), ev(2), ev(4)]) == 4
    assert box.send_batch("records", 0, 5, [ev(1), ev(2), ev(4)]) == 4  # the same batch again
    assert box.send_batch("records", 2, 6, [ev(4), ev(6)]) == 6  # overlaps HQ's cursor
    with pytest.raises(GapRefused) as gap:
        box.send_batch("records", 9, 12, [ev(12)])
    assert gap.value.cursor == 6
    with pytest.raises(GapRefused):
        box.send_batch("records", 1, 12, [ev(3), ev(12)])  # would skip past seq 6 without proof
    with pytest.raises(Refused, match="belongs to lane analytics"):
        box.send_batch("records", 6, 12, [ev(12, "flow.counted")])
    with pytest.raises(Refused, match="must increase strictly"):
        box.send_batch("records", 6, 12, [ev(8), ev(7)])
    assert box.send_batch("analytics", 0, 12, [ev(3, "flow.counted"), ev(5, "heatmap.updated")]) == 5
    status = box.status()
    assert status["held"] == 6 and status["head"] == 12 and status["backlog"] == 6
    assert status["lanes"]["records"]["cursor"] == 6 and status["last_ack"] is not None
    store = hq.store()
    try:
        assert [e["seq"] for e in store.events("h1")] == [1, 2, 3, 4, 5, 6]
    finally:
        store.close()
    forged = connect(type(cred)(cred.hall, cred.url, bytes(32)))
    with pytest.raises(Refused, match="401"):
        forged.cursors()


def test_compressed_batches_and_signed_answers(hq: HqServer, connect: Callable[..., HqClient]) -> None:
    cred = hq.add_hall("h1")
    path = "/v1/halls/h1/events"
    body = gzip.compress(json.dumps({"lane": "records", "after": 0, "head": 1, "events": [ev(1)]}).encode())
    headers = {**auth.sign_request(cred.key, "POST", path, "h1", body), "content-encoding": "gzip"}
    resp = httpx.post(hq.url + path, content=body, headers={**headers, "content-type": "application/json"})
    assert resp.status_code == 200 and resp.json()["cursor"] == 1
    broken = body[:-6]
    headers = {**auth.sign_request(cred.key, "POST", path, "h1", broken), "content-encoding": "gzip"}
    resp = httpx.post(hq.url + path, content=broken, headers=headers)
    assert resp.status_code == 422 and "gzip" in resp.json()["detail"]
    # an answer not signed with the hall's key is not believed: point the client at a fake HQ
    fake = httpx.MockTransport(lambda request: httpx.Response(200, json={"hall": "h1", "lanes": {"records": 99}}))
    with pytest.raises(AuthError, match="not signed"):
        connect(cred, transport=fake).cursors()


def test_bundles_for_one_hall_or_all(hq: HqServer, connect: Callable[..., HqClient], tmp_path: Any) -> None:

    a, b = connect(hq.add_hall("a1")), connect(hq.add_hall("b1"))
    assert a.bundle(0) is None
    file = tmp_path / "bundle.json"
    file.write_text(json.dumps({"businesses": [{"code": "A", "name": "电费缴纳"}]}, ensure_ascii=False))
    assert "version 1" in hq.cmd("bundle", "publish", str(file), "--hall", "a1")
    assert a.bundle(0)["version"] == 1 and b.bundle(0) is None
    assert "version 2" in hq.cmd("bundle", "publish", str(file))
    assert a.bundle(1)["version"] == 2 and b.bundle(0)["version"] == 2
    assert a.bundle(2) is None
    a.bundle_result(2, False, "customer tag 'GOLD' is not one this hall knows")
    assert a.status()["bundle"]["error"].startswith("customer tag")
    with pytest.raises(Refused, match="404"):
        b.bundle_result(1, True, None)  # bundle 1 was for hall a1 only
