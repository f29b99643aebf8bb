from __future__ import annotations

import hashlib
import hmac

import pytest

from edge.schemas.sync import LANES, lane_of
from sync import auth
from sync.errors import AuthError
from sync.privacy import CHECK, WEIGHTS, is_resident_id, scrub

KEY = bytes(range(32))


def resident_id(body17: str) -> str:
    total = sum(int(d) * w for d, w in zip(body17, WEIGHTS, strict=True))
    return body17 + CHECK[total % 11]


def test_resident_id_check_digit() -> None:
    good = resident_id("11010119900307123")
    assert is_resident_id(good)
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert not is_resident_id(wrong)


def test_scrub_removes_faces_embeddings_and_raw_numbers() -> None:
    number = resident_id("44030419851231002")
    event = {
        "seq": 9,
        "topic": "door.crossed",
        "data": {
            "count": 3,
            "face_jpeg": "/9j/4AAQ",
            "snapshot": {"w": 2},
            "track": {"embedding": [0.25] * 16, "box": [1, 2, 3, 4]},
            "vec": [0.5] * 512,
            "customer": {"kind": "id", "hash": "ab" * 32, "masked": "4403**********0021", "number": number},
            "note": f"read card {number} at kiosk",
            "blob": "A" * 400,
            "id_number": number,
        },
    }
    out = scrub(event)
    text = repr(out)
    assert number not in text
    assert "/9j/" not in text and "A" * 400 not in text
    assert out["data"]["count"] == 3
    assert out["data"]["track"] == {"box": [1, 2, 3, 4]}
    assert out["data"]["customer"] == {"kind": "id", "hash": "ab" * 32, "masked": "4403**********0021"}
    assert out["data"]["note"].startswith("read card 4403")
    assert set(out["data"]["_scrubbed"]) == {
        "face_jpeg",
        "snapshot",
        "track.embedding",
        "vec",
        "customer.number",
        "blob",
        "id_number",
    }
    assert out["seq"] == 9 and event["data"]["id_number"] == number  # the box's own copy is untouched


def test_scrub_leaves_ordinary_events_alone() -> None:
    event = {"topic": "ticket.issued", "data": {"number": "A001", "business": "A", "tags": ["VIP"], "wait": [1, 2]}}
    assert scrub(event) == event


def test_scrub_leaves_hex_ids_whose_digits_look_like_an_id_number() -> None:
    digits = resident_id("44030419851231002")
    hex_id = digits + "abcdef0123456"  # a uuid4 hex can start with 18 digits
    number = resident_id("11010119900307123")
    event = {"topic": "ticket.issued", "data": {"id": hex_id, "note": f"卡号{number}。"}}
    out = scrub(event)
    assert out["data"]["id"] == hex_id
    assert number not in out["data"]["note"] and out["data"]["note"].startswith("卡号1101")


def test_lanes_cover_every_topic_once() -> None:
    assert [lane_of(t) for t in ("alert.raised", "ticket.called", "sync.gap", "heatmap.updated", "seat.presence")] == [
        "alerts",
        "records",
        "records",
        "analytics",
        "analytics",
    ]
    assert LANES == ("alerts", "records", "analytics")


def test_signature_covers_every_part() -> None:
    h = auth.sign_request(KEY, "POST", "/v1/halls/h1/events", "h1", b"body", now=1000.0, nonce="abcdefgh")
    assert auth.verify_request(KEY, "POST", "/v1/halls/h1/events", b"body", h, now=1001.0) == "abcdefgh"
    with pytest.raises(AuthError, match="body does not match"):
        auth.verify_request(KEY, "POST", "/v1/halls/h1/events", b"bodY", h, now=1001.0)
    with pytest.raises(AuthError, match="signature"):
        auth.verify_request(KEY, "POST", "/v1/halls/h2/events", b"body", h, now=1001.0)
    with pytest.raises(AuthError, match="signature"):
        auth.verify_request(KEY, "GET", "/v1/halls/h1/events", b"body", h, now=1001.0)
    with pytest.raises(AuthError, match="signature"):
        auth.verify_request(bytes(32), "POST", "/v1/halls/h1/events", b"body", h, now=1001.0)
    with pytest.raises(AuthError, match="off HQ's clock"):
        auth.verify_request(KEY, "POST", "/v1/halls/h1/events", b"body", h, now=1000.0 + auth.WINDOW_S + 1)
    forged = {**h, auth.H_TS: "1001.000"}
    with pytest.raises(AuthError, match="signature"):
        auth.verify_request(KEY, "POST", "/v1/halls/h1/events", b"body", forged, now=1001.0)
    missing = {k: v for k, v in h.items() if k != auth.H_NONCE}
    with pytest.raises(AuthError, match="x-hall-nonce missing"):
        auth.verify_request(KEY, "POST", "/v1/halls/h1/events", b"body", missing, now=1001.0)


def test_signature_is_hmac_sha256_of_the_documented_string() -> None:
    h = auth.sign_request(KEY, "get", "/p?a=1", "h1", b"", now=5.0, nonce="n0nce123")
    digest = hashlib.sha256(b"").hexdigest()
    text = "\n".join(["GET", "/p?a=1", "h1", "5.000", "n0nce123", digest])
    assert h[auth.H_SIG] == hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()


def test_response_signature() -> None:
    sig = auth.sign_response(KEY, "n0nce123", 200, b"{}")
    auth.verify_response(KEY, "n0nce123", 200, b"{}", sig)
    with pytest.raises(AuthError):
        auth.verify_response(KEY, "n0nce123", 200, b"{ }", sig)
    with pytest.raises(AuthError):
        auth.verify_response(KEY, "other123", 200, b"{}", sig)
    with pytest.raises(AuthError):
        auth.verify_response(KEY, "n0nce123", 200, b"{}", None)


def test_clean_events_pass_untouched_and_allowed_customers_stay() -> None:
    clean = {"topic": "flow.counted", "data": {"zone": "entrance", "in": 3, "series": list(range(40))}}
    assert scrub(clean) == clean  # 40 numbers in a list: looked at closely, and they are not an embedding
    quiet = {"topic": "evaluation.recorded", "data": {"number": "A001", "score": 5}}
    assert scrub(quiet) is quiet
    tagged = {"topic": "ticket.issued", "data": {"customer": {"kind": "ic", "hash": "cd" * 32, "masked": "01**44"}}}
    assert scrub(tagged) == tagged


def test_daily_usage_must_cover_its_month() -> None:
    from pydantic import ValidationError

    from edge.schemas.sync import Usage

    ok = Usage(customer_hash="ab" * 32, period="2026-02", kwh=280.0, days=[10.0] * 28)
    assert ok.days is not None and len(ok.days) == 28
    with pytest.raises(ValidationError, match="has 30 days, the month has 28"):
        Usage(customer_hash="ab" * 32, period="2026-02", kwh=280.0, days=[10.0] * 30)
    with pytest.raises(ValidationError, match="out of range"):
        Usage(customer_hash="ab" * 32, period="2026-03", kwh=1.0, days=[-1.0] + [0.0] * 30)
