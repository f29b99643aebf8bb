"""Byte-exact tests of the ESC/POS encoder and status parser; fuzz of the status parser and interpreter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.printer import escpos, ticket
from drivers.printer.interpreter import Interpreter


def test_basic_commands_are_the_reference_bytes() -> None:
    assert escpos.init() == b"\x1b\x40"
    assert escpos.align("center") == b"\x1b\x61\x01"
    assert escpos.align("right") == b"\x1b\x61\x02"
    assert escpos.bold(True) == b"\x1b\x45\x01"
    assert escpos.bold(False) == b"\x1b\x45\x00"
    assert escpos.size(1, 1) == b"\x1d\x21\x00"
    assert escpos.size(2, 3) == b"\x1d\x21\x12"
    assert escpos.size(8, 8) == b"\x1d\x21\x77"
    assert escpos.feed(3) == b"\x1b\x64\x03"
    assert escpos.cut() == b"\x1d\x56\x42\x03"
    assert escpos.status_request(4) == b"\x10\x04\x04"


def test_chinese_text_is_gb18030_inside_chinese_mode() -> None:
    assert escpos.text("A001") == b"A001"
    # 号 is BA C5 in GB2312/GB18030; the full-width bracket 【 is A1 BE (not a code-page character).
    assert escpos.text("【号】") == b"\x1c\x26" + b"\xa1\xbe\xba\xc5\xa1\xbf" + b"\x1c\x2e"
    # A character outside GBK (U+20000) takes GB18030's four-byte form.
    assert escpos.text("\U00020000") == b"\x1c\x26\x95\x32\x82\x36\x1c\x2e"
    assert escpos.line("号") == b"\x1c\x26\xba\xc5\x1c\x2e\x0a"


def test_qr_sequence_is_native_gs_paren_k() -> None:
    data = "https://h.example/q/A001"
    k = len(data) + 3
    assert escpos.qr(data, module=6, ecc="M") == (
        b"\x1d\x28\x6b\x04\x00\x31\x41\x32\x00"  # fn 165: model 2
        b"\x1d\x28\x6b\x03\x00\x31\x43\x06"  # fn 167: module 6 dots
        b"\x1d\x28\x6b\x03\x00\x31\x45\x31"  # fn 169: level M
        + bytes([0x1D, 0x28, 0x6B, k & 0xFF, k >> 8, 0x31, 0x50, 0x30])
        + data.encode()  # fn 180: store
        + b"\x1d\x28\x6b\x03\x00\x31\x51\x30"  # fn 181: print
    )
    long = escpos.qr_store(b"x" * 300)
    assert long[3:5] == (303).to_bytes(2, "little")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: escpos.size(9, 1), "outside 1..8"),
        (lambda: escpos.qr_store(b""), "outside 1.."),
        (lambda: escpos.qr_size(0), "outside 1..16"),
        (lambda: escpos.status_request(5), "1..4"),
        (lambda: escpos.text("a\x1bb"), "control characters"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_status_bytes_map_to_problems() -> None:
    ok = escpos.parse_status({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12})
    assert ok.ready and ok.problems == [] and ok.reason == ""
    near = escpos.parse_status({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x1E})
    assert near.ready and near.paper_near_end and near.problems == ["paper_near_end"]
    out = escpos.parse_status({1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x7E})
    assert not out.ready and out.paper_out and out.offline and out.reason == "paper_out"
    cover = escpos.parse_status({1: 0x1A, 2: 0x16, 3: 0x12, 4: 0x12})
    assert cover.cover_open and cover.reason == "cover_open"
    cutter = escpos.parse_status({3: 0x1A})
    assert cutter.cutter_error and not cutter.ready


def test_a_byte_that_is_not_a_status_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="DLE EOT 2 answer 0x41"):
        escpos.parse_status({2: 0x41})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.integers(1, 4), st.integers(0, 255)))
def test_status_parser_fuzz_only_raises_protocol_error(answers: dict[int, int]) -> None:
    try:
        status = escpos.parse_status(answers)
    except ProtocolError:
        assert any(v & 0x93 != 0x12 for v in answers.values())
    else:
        assert isinstance(status.ready, bool)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 17))
def test_interpreter_fuzz_never_raises_and_status_always_answers(noise: bytes, chunk: int) -> None:
    it = Interpreter()
    it.on_page = lambda page: None  # type: ignore[method-assign]
    for i in range(0, len(noise), chunk):
        it.feed(noise[i : i + chunk])
    # Whatever came before, once a complete command can be parsed the printer still answers status.
    # Unfinished commands at the end of the noise may swallow up to their declared length.
    reply = b""
    for _ in range(250):
        reply += it.feed(b"\x10\x04\x01" * 100)
        if reply:
            break
    assert reply and reply[-1] & 0x93 == 0x12


def test_interpreter_handles_commands_split_anywhere() -> None:
    raw = ticket.render(
        ticket.TicketData("营业厅", "电费缴纳", "A007", 1, 3, "2026-11-25 10:00"),
        ticket.Layout(paper=58, qr_url="https://h.example/{number}"),
    )
    whole, split = Interpreter(), Interpreter()
    whole.feed(raw)
    for b in raw:
        split.feed(bytes([b]))
    assert whole.pages[0].text == split.pages[0].text
    assert "A007" in whole.pages[0].text and "电费缴纳" in whole.pages[0].text
    assert whole.pages[0].qr == [b"https://h.example/A007"]


def test_chinese_without_chinese_mode_is_not_decoded() -> None:
    it = Interpreter()
    it.feed("号".encode("gb18030") + b"\n" + escpos.cut())
    assert it.pages[0].text == ["??"]


def test_layouts_wrap_to_the_paper_width() -> None:
    assert ticket.wrap("一二三四五", 4) == ["一二", "三四", "五"]
    assert ticket.wrap("一二三。", 6) == ["一二", "三。"]  # no line starts with 。
    for paper, cols in ((58, 32), (80, 48)):
        it = Interpreter()
        it.feed(
            ticket.render(
                ticket.TicketData("国网示范供电营业厅", "业扩报装", "B012", 0, 0, "2026-11-25 10:00"),
                ticket.Layout(paper=paper),
            )
        )
        lines = it.pages[0].text
        assert max(ticket.display_width(t) for t in lines) <= cols
        assert "-" * cols in lines
        assert not it.pages[0].qr
