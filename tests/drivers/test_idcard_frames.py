"""Byte-exact tests of the SAM frame codec, and a fuzz test of its parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.idcard import frames as fr


def test_commands_are_byte_exact() -> None:
    assert fr.encode_command(fr.CMD_FIND) == bytes.fromhex("aaaaaa9669 0003 2001 22")
    assert fr.encode_command(fr.CMD_SELECT) == bytes.fromhex("aaaaaa9669 0003 2002 21")
    assert fr.encode_command(fr.CMD_READ) == bytes.fromhex("aaaaaa9669 0003 3001 32")
    assert fr.encode_command(fr.CMD_RESET) == bytes.fromhex("aaaaaa9669 0003 10ff ec")


def test_responses_are_byte_exact() -> None:
    # "read failed" as captured from a module: length 4, 00 00 41, checksum 45
    assert fr.encode_response(0x41) == bytes.fromhex("aaaaaa9669 0004 000041 45")
    assert fr.encode_response(fr.SW3_FOUND, bytes(4)) == bytes.fromhex("aaaaaa9669 0008 00009f 00000000 97")


def test_read_response_length_field_counts_sw_lengths_text_photo_and_checksum() -> None:
    frame = fr.encode_response(fr.SW3_OK, fr.encode_read_payload(bytes(256), bytes(1024)))
    assert frame[5:7] == b"\x05\x08"  # 3 + 2 + 2 + 256 + 1024 + 1 = 0x0508
    assert frame[10:14] == b"\x01\x00\x04\x00"
    assert len(frame) == 7 + 0x0508


def test_parser_yields_frames_with_status_and_data() -> None:
    parser = fr.FrameParser()
    (frame,) = parser.feed(fr.encode_response(fr.SW3_OK, b"\x01\x02"))
    assert (frame.sw1, frame.sw2, frame.sw3, frame.data) == (0, 0, 0x90, b"\x01\x02")
    assert frame.status == "ok"
    assert fr.Frame(b"\x00\x00\x37").status == "card data read failed"
    assert "unknown status 00 00 77" in fr.Frame(b"\x00\x00\x77").status


@pytest.mark.parametrize("cut", range(1, 20))
def test_a_frame_split_anywhere_is_reassembled(cut: int) -> None:
    data = fr.encode_response(fr.SW3_FOUND, bytes(4)) + fr.encode_response(fr.SW3_OK, b"abcdefgh")
    parser = fr.FrameParser()
    first = parser.feed(data[:cut])
    rest = parser.feed(data[cut:])
    assert [f.sw3 for f in first + rest] == [fr.SW3_FOUND, fr.SW3_OK]
    assert parser.garbage == 0


def test_garbage_is_skipped_and_counted() -> None:
    parser = fr.FrameParser()
    frames = parser.feed(b"\x00\x13\xaa\xaa\x96" + fr.encode_response(fr.SW3_OK))
    assert [f.sw3 for f in frames] == [fr.SW3_OK]
    assert parser.garbage == 5


def test_preamble_split_across_reads_is_not_lost() -> None:
    parser = fr.FrameParser()
    data = fr.encode_response(fr.SW3_OK)
    assert parser.feed(b"junk" + data[:3]) == []
    assert [f.sw3 for f in parser.feed(data[3:])] == [fr.SW3_OK]
    assert parser.garbage == 4


def test_bad_checksum_is_dropped_counted_and_the_next_frame_found() -> None:
    bad = bytearray(fr.encode_response(fr.SW3_OK, b"xy"))
    bad[-1] ^= 0x01
    parser = fr.FrameParser()
    frames = parser.feed(bytes(bad) + fr.encode_response(fr.SW3_NO_CARD))
    assert [f.sw3 for f in frames] == [fr.SW3_NO_CARD]
    assert parser.bad_checksum == 1


def test_impossible_length_resynchronises() -> None:
    parser = fr.FrameParser()
    frames = parser.feed(fr.PREAMBLE + b"\xff\xff" + fr.encode_response(fr.SW3_OK))
    assert [f.sw3 for f in frames] == [fr.SW3_OK]
    assert parser.bad_length == 1


def test_reset_drops_a_partial_frame() -> None:
    parser = fr.FrameParser()
    parser.feed(fr.encode_response(fr.SW3_OK, bytes(10))[:9])
    parser.reset()
    assert parser.garbage == 9
    assert [f.sw3 for f in parser.feed(fr.encode_response(fr.SW3_FOUND))] == [fr.SW3_FOUND]


def test_read_payload_split_with_and_without_fingerprint() -> None:
    text, photo = bytes(range(256)), b"W" * 1024
    payload = fr.split_read_payload(fr.encode_read_payload(text, photo))
    assert (payload.text, payload.photo, payload.fingerprint) == (text, photo, b"")
    with_fp = b"\x01\x00\x04\x00\x04\x00" + text + photo + b"F" * 1024
    payload = fr.split_read_payload(with_fp)
    assert (payload.text, payload.photo, payload.fingerprint) == (text, photo, b"F" * 1024)


def test_read_payload_with_lengths_that_do_not_add_up_is_refused() -> None:
    with pytest.raises(ProtocolError, match="declares text 256 and photo 1024 bytes but carries 100"):
        fr.split_read_payload(b"\x01\x00\x04\x00" + bytes(100))
    with pytest.raises(ProtocolError, match="too short"):
        fr.split_read_payload(b"\x01")


frames_st = st.lists(
    st.tuples(st.integers(0, 255), st.binary(max_size=40)).map(lambda t: fr.encode_response(t[0], t[1])),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(noise=st.lists(st.binary(max_size=30), min_size=6, max_size=6), good=frames_st, chunk=st.integers(1, 64))
def test_fuzz_valid_frames_survive_any_noise_between_them(noise: list[bytes], good: list[bytes], chunk: int) -> None:
    """Noise that contains no preamble never hides a valid frame; nothing raises."""
    noise = [n.replace(b"\xaa", b"\x55") for n in noise]
    stream = noise[0] + b"".join(frame + noise[i + 1] for i, frame in enumerate(good))
    parser = fr.FrameParser()
    out: list[fr.Frame] = []
    for i in range(0, len(stream), chunk):
        out += parser.feed(stream[i : i + chunk])
    assert [fr.encode_frame(f.body) for f in out] == good


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600), flips=st.lists(st.integers(0, 10_000), max_size=8))
def test_fuzz_random_and_mutated_input_never_raises_or_hangs(data: bytes, flips: list[int]) -> None:
    stream = bytearray(fr.encode_response(fr.SW3_OK, data) + data + fr.encode_response(fr.SW3_FOUND))
    for pos in flips:
        stream[pos % len(stream)] ^= 0xA5
    parser = fr.FrameParser()
    frames = parser.feed(bytes(stream))
    for frame in frames:  # whatever comes out has a matching checksum
        assert fr.FrameParser().feed(fr.encode_frame(frame.body))[0] == frame
    assert len(parser.buffer) <= fr.HEADER_LEN + fr.MAX_BODY
