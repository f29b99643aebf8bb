"""The signed record's digest and chain, the form checks and the signature rules, without I/O."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from edge.errors import InvalidRequest
from edge.records import digest as chain
from edge.records.forms import defaults, fill
from edge.records.signature import render, too_short
from edge.schemas.records import FormTemplate, Signature
from tests.records_helpers import name_strokes


def test_canonical_json_is_sorted_compact_utf8() -> None:
    # worked by hand: keys in code-point order, no spaces, 更 as its three UTF-8 bytes
    assert chain.canonical({"n": 1, "b": "更", "a": [2, None, True]}) == b'{"a":[2,null,true],"b":"\xe6\x9b\xb4","n":1}'
    with pytest.raises(ValueError, match=r"record\.x\[0\] is a float"):
        chain.canonical({"x": [0.5]})


def test_digest_is_sha256_of_the_canonical_record_without_its_digest() -> None:
    record = {"n": 1, "prev": "0" * 64, "v": "更", "digest": "whatever was there"}
    by_hand = b'{"n":1,"prev":"' + b"0" * 64 + b'","v":"\xe6\x9b\xb4"}'
    assert chain.digest(record) == hashlib.sha256(by_hand).hexdigest()


START = chain.genesis("demo-001", "2026-11-30")


def _day(count: int) -> list[dict[str, object]]:
    records, prev = [], START
    for n in range(1, count + 1):
        sealed = chain.seal({"id": f"R20261130-{n:04d}", "n": n, "value": f"v{n}"}, prev)
        records.append(sealed)
        prev = str(sealed["digest"])
    return records


def test_a_day_chain_checks_and_each_kind_of_change_is_named() -> None:
    day = _day(4)
    assert day[0]["prev"] == START and day[1]["prev"] == day[0]["digest"]
    assert chain.check_chain(day, START) == []

    changed = [dict(r) for r in day]
    changed[1]["value"] = "forged"
    assert chain.check_chain(changed, START) == [
        {"id": "R20261130-0002", "n": 2, "problem": "changed: its content does not match its digest"}
    ]
    resealed = [dict(r) for r in changed]  # a forger who also recomputes the digest breaks the next link
    resealed[1] = chain.seal(resealed[1], str(day[0]["digest"]))
    assert [p["n"] for p in chain.check_chain(resealed, START)] == [3]
    assert "chain broken" in chain.check_chain(resealed, START)[0]["problem"]
    assert [p["n"] for p in chain.check_chain(day, chain.genesis("demo-001", "2026-12-01"))] == [1]  # another day
    removed = day[:1] + day[2:]
    problems = chain.check_chain(removed, START)
    assert {p["problem"] for p in problems} == {
        "record 2 of the day is missing",
        "chain broken: it does not follow the record before it",
    }


def test_fill_keeps_labels_order_and_only_the_masked_identity() -> None:
    template = next(t for t in defaults() if t.id == "name_change")
    ref = {"masked": "1101**********1233", "hash": "c" * 64}
    values = {
        "account": "3301004277",
        "old_name": "王五",
        "new_name": "赵六",
        "new_holder_id": ref,
        "phone": "13800138000",
        "address": "解放路36号",
        "reason": "继承",
    }
    fields = fill(template, values)
    assert [f["key"] for f in fields] == [f.key for f in template.fields]
    assert fields[3] == {
        "key": "new_holder_id",
        "label": "新户主身份证",
        "label_en": "New holder's ID card",
        "value": "1101**********1233",
        "hash": "c" * 64,
    }
    for bad, message in (
        ({"new_holder_id": "110101199003071233"}, "never the number"),
        ({"address": "身份证110101199003071233"}, "looks like an identity number"),
        ({"phone": "12345"}, "mobile"),
        ({"reason": "搬家"}, "must be one of 房屋买卖, 继承, 赠与, 其他"),
        ({"new_name": ""}, r"新户名 \(new_name\) is required"),
        ({"colour": "red"}, "has no field colour"),
        ({"new_holder_id": {"masked": "110101199003071233", "hash": "c" * 64}}, "too many digits"),
    ):
        with pytest.raises(InvalidRequest, match=message):
            fill(template, {**values, **bad})
    tariff = next(t for t in defaults() if t.id == "tariff_change")
    with pytest.raises(InvalidRequest, match="2026-02-30 is not a date"):
        fill(
            tariff,
            {
                "account": "33010042",
                "holder": "王五",
                "current_tariff": "居民合表用电",
                "new_tariff": "居民峰谷分时电价",
                "effective": "2026-02-30",
                "phone": "010-62345678",
            },
        )


def test_templates_are_checked_whole() -> None:
    field = {"key": "a", "label": "甲"}
    with pytest.raises(ValueError, match="a field key appears twice"):
        FormTemplate(id="twice", business="C", title="表", fields=[field, field])
    with pytest.raises(ValueError, match="terms_en must translate every term"):
        FormTemplate(id="terms", business="C", title="表", fields=[field], terms=["一", "二"], terms_en=["one"])
    with pytest.raises(ValueError, match="choices are given exactly when the format is choice"):
        FormTemplate(id="choice", business="C", title="表", fields=[{**field, "format": "choice"}])


def test_a_dot_a_tick_and_a_line_are_not_signatures() -> None:
    assert too_short([[[500, 200, 0, None]]], width=1000) == "too few points"
    tick = [[[500 + i, 200 + i, i * 10, None] for i in range(20)]]  # 20 points, 27 units of ink
    assert too_short(tick, width=1000) == "too little ink"
    down = [[[500, 20 * i, i * 10, None] for i in range(20)] for _ in range(2)]  # a long vertical line
    assert too_short(down, width=1000) == "too narrow"
    assert too_short(name_strokes(), width=1000) is None


def test_signature_shape_is_checked() -> None:
    with pytest.raises(ValueError, match=r"outside the 1000×400 box"):
        Signature(width=1000, height=400, strokes=[[[1001, 0, 0, None]]])
    with pytest.raises(ValueError, match="times must not go back"):
        Signature(width=1000, height=400, strokes=[[[1, 1, 10, None], [2, 2, 5, None]]])
    with pytest.raises(ValueError, match="pressure is 0 to 1000"):
        Signature(width=1000, height=400, strokes=[[[1, 1, 0, 1001]]])


def test_the_picture_is_the_strokes_in_ink_and_the_same_every_time() -> None:
    png = render(name_strokes(), width=1000, height=400)
    assert png == render(name_strokes(), width=1000, height=400)
    with Image.open(io.BytesIO(png)) as img:
        assert img.size == (600, 240)
        grey = img.convert("L")
        # ink where the first stroke starts (x=80, y≈200+90·sin 0 → 200 in the box: 48, 120 in pixels), paper far away
        assert grey.getpixel((49, 120)) < 128 and grey.getpixel((590, 10)) == 255
