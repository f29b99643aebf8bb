from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.schemas.sync import LANES, lane_of
from sync import auth
from sync.errors import AuthError
from sync.privacy import is_resident_id, scrub

KEY = bytes(range(32))
# The two examples printed in GB 11643-1999 (appendix A): Beijing Chaoyang 1949-12-31, Shantou Chaoyang 1880-01-01.
GB_BEIJING = "11010519491231002X"
GB_SHANTOU = "440524188001010014"
# Worked by hand: 1·7 + 2·9 + 3·10 + 4·5 + 5·8 + 6·4 + 7·2 + 8·1 + 9·6 + 0·3 + 1·7 + 2·9 + 3·10 + 4·5 + 5·8
# + 6·4 + 7·2 = 368 = 33·11 + 5, and remainder 5 gives '7'. Its digits differ wherever the weights do.
HAND_WORKED = "123456789012345677"


def test_resident_id_check_digit() -> None:
    for number in (GB_BEIJING, GB_SHANTOU, HAND_WORKED, GB_BEIJING.lower()):
        assert is_resident_id(number), number
    # Worked by hand: the Shantou number with its 17th digit 1 → 2 adds 1·2, 197 mod 11 = 10 wants '2', not '4'.
    assert not is_resident_id("440524188001010024")
    assert not is_resident_id(HAND_WORKED[:17] + "8")
    assert not is_resident_id("11010519491321002X")  # digits 12 and 13 swapped: 166 mod 11 = 1 wants '0'


def test_scrub_removes_faces_embeddings_and_raw_numbers() -> None:
    number = GB_SHANTOU
    event = {
        "seq": 9,
        "topic": "door.crossed",
        "data": {
            "count": 3,
            "face_jpeg": "/9j/4AAQ",
            "snapshot": {"w": 2},
            "track": {"embedding": [0.25] * 16, "box": [1, 2, 3, 4]},
            "vec": [0.5] * 512,
            "customer": {"kind": "id", "hash": "ab" * 32, "masked": "4405**********0014", "number": number},
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
    assert out["data"]["customer"] == {"kind": "id", "hash": "ab" * 32, "masked": "4405**********0014"}
    assert out["data"]["note"] == "read card 4405**********0014 at kiosk"
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
    hex_id = GB_SHANTOU + "abcdef0123456"  # a uuid4 hex can start with 18 digits
    event = {"topic": "ticket.issued", "data": {"id": hex_id, "note": f"卡号{HAND_WORKED}。"}}
    out = scrub(event)
    assert out["data"]["id"] == hex_id
    assert out["data"]["note"] == "卡号1234**********5677。"


def test_scrub_masks_an_id_number_written_in_full_width_digits() -> None:
    wide = GB_BEIJING.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    out = scrub({"topic": "repair.requested", "data": {"note": f"证件 {wide} 报修"}})
    assert wide not in out["data"]["note"] and out["data"]["note"] == "证件 １１０１**********００２X 报修"


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
    mangled = sig[:5] + "\u00e9" + sig[6:]  # a byte flipped on the wire, read back as Latin-1
    with pytest.raises(AuthError):
        auth.verify_response(KEY, "n0nce123", 200, b"{}", mangled)


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


def test_a_repair_report_takes_the_crews_customer_data_up_and_only_that_topic_does() -> None:
    crew = {"phone": "075588881234", "address": "示范路 8 号 3 栋", "supply_point": "3100-2231-77",
            "description": "电表箱冒烟，证件 11010519491231002X 在物业", "photos": ["/9j/" + "A" * 400]}  # fmt: skip
    data = {**crew, "reference": "BX-261125-001", "face_image": "B" * 300,
            "customer": {"kind": "id", "hash": "a" * 64, "masked": "1101**********002X", "number": "1"}}  # fmt: skip
    out = scrub({"topic": "repair.reported", "seq": 9, "data": data})["data"]
    assert {k: out[k] for k in crew} == crew  # on purpose: HQ's crew needs them as they are
    assert out["reference"] == "BX-261125-001" and "face_image" not in out
    assert out["customer"] == {"kind": "id", "hash": "a" * 64, "masked": "1101**********002X"}
    assert sorted(out["_scrubbed"]) == ["customer.number", "face_image"]
    elsewhere = scrub({"topic": "repair.requested", "data": crew})["data"]
    assert elsewhere["phone"] == "0755****1234" and "photos" not in elsewhere
    assert "11010519491231002X" not in elsewhere["description"]


def test_the_agent_sends_a_clean_events_text_as_the_log_holds_it_and_scrubs_the_rest() -> None:
    from sync.packing import scrubbed as _scrubbed

    clean = {"v": 1, "id": "e1", "ts": "t", "source": "core", "topic": "ticket.issued", "seq": 1,
             "data": '{"number":"A001","tags":[]}'}  # fmt: skip
    dirty = {**clean, "seq": 2, "data": '{"number":"A002","face_image":"' + "Q" * 300 + '"}'}
    broken = {**clean, "seq": 3, "data": '{"number": "A003"'}
    out, scrubbed = _scrubbed([clean, dirty, broken])
    assert out[0] is clean  # not parsed and written out again
    assert out[1]["data"] == {"number": "A002", "_scrubbed": ["face_image"]}
    assert out[2]["data"] == {"_scrubbed": ["data (unreadable in the log)"]} and scrubbed == 2


def _packed(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A packed reply as the core builds it: the batch HQ takes, its data the log's text, gzip and base64."""
    parts = [
        f'{{"v":1,"id":"{e["id"]}","ts":"t","source":"core","topic":"{e["topic"]}","data":{e["data"]},"seq":{e["seq"]}}}'
        for e in events
    ]
    body = '{"lane":"records","after":0,"head":9,"events":[' + ",".join(parts) + "]}"
    return {"count": len(events), "body": base64.b64encode(gzip.compress(body.encode())).decode()}


def test_a_clean_packed_batch_goes_to_hq_as_the_core_packed_it() -> None:
    from sync.packing import unpack

    events = [
        {"id": "e1", "topic": "ticket.issued", "seq": 1, "data": '{"number": "A001", "business_name": "电费缴纳"}'},
        # twelve digits in a row (a false alarm: a hex ticket id), walked, nothing to remove
        {"id": "e2", "topic": "ticket.issued", "seq": 2, "data": '{"id": "a123456789012b", "tags": []}'},
    ]
    reply = _packed(events)
    got = unpack(reply)
    assert got is not None
    body, last, scrubbed = got
    assert body == base64.b64decode(reply["body"]) and last == 2 and scrubbed == 0


def test_a_packed_batch_with_something_to_scrub_is_sent_anew_with_the_rest_as_it_was() -> None:
    from sync.packing import unpack

    events = [
        {"id": "e1", "topic": "ticket.issued", "seq": 1, "data": '{"number": "A001", "tags": []}'},
        {"id": "e2", "topic": "kiosk.viewed", "seq": 2, "data": '{"page": "bill", "face_crop": "QUJD"}'},
        # an escape hides a denied key from a look at the text: the event is parsed and scrubbed
        {"id": "e3", "topic": "kiosk.viewed", "seq": 3, "data": '{"\\u0066ace": "QUJD", "n": 1}'},
        {"id": "e4", "topic": "ticket.issued", "seq": 4, "data": '{"note": "ID 11010519491231002X"}'},
    ]
    got = unpack(_packed(events))
    assert got is not None
    body, last, scrubbed = got
    sent = gzip.decompress(body).decode()
    assert '"data":{"number": "A001", "tags": []}' in sent  # the clean event's text, as the log holds it
    data = [e["data"] for e in json.loads(sent)["events"]]
    assert data[1] == {"page": "bill", "_scrubbed": ["face_crop"]}
    assert data[2] == {"n": 1, "_scrubbed": ["face"]}
    assert data[3] == {"note": "ID 1101**********002X"}
    assert last == 4 and scrubbed == 2


def test_a_packed_batch_with_an_unreadable_event_is_read_again_event_by_event() -> None:
    from sync.packing import unpack

    good = {"id": "e1", "topic": "ticket.issued", "seq": 1, "data": '{"number": "A001"}'}
    assert unpack(_packed([good, {**good, "id": "e2", "seq": 2, "data": '{"number": "A002"'}])) is None
    assert unpack(_packed([good, {**good, "id": "e2", "seq": 2, "data": '["A002"]'}])) is None
    assert unpack({"count": 1, "body": "not base64!"}) is None
    assert unpack({"count": 1, "body": base64.b64encode(b"not gzip").decode()}) is None


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: (
            st.lists(inner, max_size=70)
            | st.dictionaries(st.sampled_from(["n", "Face", "customer", "note", "img_url", "x"]) | st.text(), inner)
        ),
        max_leaves=80,
    ),
)
def test_what_the_scrub_would_change_is_always_a_suspect(value: Any) -> None:
    from sync.privacy import scrub, suspects

    data = {"v": value}
    text = json.dumps(data, ensure_ascii=False)
    if scrub({"topic": "x.y", "data": data})["data"] != data:
        assert 1 in suspects(['{"n": 1}', text])


def test_scrub_masks_a_raw_number_used_as_a_key() -> None:
    event = {"topic": "report.made", "data": {"by_card": {GB_SHANTOU: 2, "A001": 1}}}
    out = scrub(event)
    assert out["data"]["by_card"] == {"4405**********0014": 2, "A001": 1}
    assert GB_SHANTOU not in repr(out)


def test_the_quick_look_never_passes_what_the_scrub_would_change() -> None:
    """The first pass over an event (``_suspect``) lets it through untouched only when the full scrub
    would change nothing: over documents made of the things the scrub takes out, and of near misses."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from sync.privacy import _clean, _suspect, suspects

    numbers = st.sampled_from([GB_SHANTOU, GB_BEIJING, "1" * 12, "１２３４５６７８９０１２", "4405241880010100"])
    texts = st.one_of(
        st.text(max_size=30),
        st.builds(lambda a, n, b: a + n + b, st.text(max_size=4), numbers, st.text(max_size=4)),
        st.sampled_from(["A" * 256, "A" * 255, "ab+/" * 70]),
    )
    keys = st.one_of(
        st.text(max_size=8), st.sampled_from(["face_jpg", "photo", "customer", "masked", "Id_No"]), numbers
    )
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(-1, 1), texts)
    docs = st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.builds(lambda x, n: [x] * n, st.floats(-1, 1), st.integers(63, 66))
            | st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=20,
    )

    @settings(max_examples=150, deadline=None)
    @given(st.dictionaries(keys, docs, max_size=5))
    def check(data: dict[str, object]) -> None:
        removed: list[str] = []
        if _clean(data, "", removed) != data or removed:
            assert _suspect(data)
            assert suspects([json.dumps(data, ensure_ascii=False)]) == {0}  # the look at a whole batch, too

    check()


def test_a_batch_whose_bytes_are_not_utf8_is_malformed_not_a_crash() -> None:
    from sync.hq.wire import Malformed, decode_batch

    body = b'{"\xecane": "alerts", "after": 0, "head": 1, "events": []}'  # a key's first byte flipped
    with pytest.raises(Malformed) as caught:
        decode_batch(body)
    assert str(caught.value) == "body is not UTF-8 at byte 2"


def test_a_batch_names_the_first_field_that_is_not_one_line_of_text() -> None:
    from sync.hq.wire import Malformed, decode_batch

    def body(**changed: str) -> bytes:
        events = [{"v": 1, "id": f"e{i}", "ts": "t", "source": "core", "topic": "ticket.issued", "data": {"m": "a\tb"},
                   "seq": i} for i in (1, 2, 3)]  # fmt: skip
        events[2].update(changed)
        return json.dumps({"lane": "records", "after": 0, "head": 3, "events": events}).encode()

    assert [e["data"] for e in decode_batch(body())[3]] == ['{"m": "a\\tb"}'] * 3  # escapes in data are data
    for field, value in (("id", "e\x00"), ("ts", "t\r"), ("source", "co\x7fre"), ("topic", "ticket.issued\n")):
        with pytest.raises(Malformed) as bad:
            decode_batch(body(**{field: value}))
        assert bad.value.field == f"events[2].{field}" and "one line" in str(bad.value)
    with pytest.raises(Malformed) as topic:
        decode_batch(body(topic="Ticket.issued"))
    assert topic.value.field == "events[2].topic" and "matching regex" in str(topic.value)


def test_a_batch_whose_text_fields_are_not_utf8_is_malformed_not_a_crash() -> None:
    from sync.hq.wire import Malformed, decode_batch

    body = (
        b'{"lane": "records", "after": 0, "head": 1, "events": [{"v": 1, "id": "e\xec1", "ts": "t", "source": "core", '
    )
    body += b'"topic": "ticket.issued", "data": {}, "seq": 1}]}'
    with pytest.raises(Malformed) as bad:
        decode_batch(body)
    assert str(bad.value) == "body is not UTF-8 at byte 71" and bad.value.lane == "records"
    assert body[71:72] == b"\xec"
