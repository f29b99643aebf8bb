"""APDU building, account decoding and the profile model (pure), and the virtual card's file system."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drivers.errors import CardDataError
from drivers.iccard import apdu as ap
from drivers.iccard.config import EXAMPLE_PROFILE, AccountField, ApduProfile, IcCardConfig
from drivers.iccard.vicc import ElectricityCard, customer_file


def test_commands_are_byte_exact() -> None:
    assert ap.select_fid("3F00") == bytes.fromhex("00a40000023f00")
    assert ap.select_aid("D15600000501") == bytes.fromhex("00a4040006d15600000501")
    assert ap.read_binary(0x0123, 256) == bytes.fromhex("00b0012300")
    assert ap.get_response(0x0C) == bytes.fromhex("00c000000c")
    with pytest.raises(ValueError, match="15 bits"):
        ap.read_binary(0x8000, 1)


def test_status_words_are_named() -> None:
    assert ap.sw_name(0x6A82) == "file or application not found"
    assert ap.sw_name(0x6110) == "16 more bytes available"
    assert ap.sw_name(0x6C08) == "wrong Le, 8 expected"


def test_bcd_stops_at_padding_and_refuses_other_nibbles() -> None:
    assert ap.decode_bcd(bytes.fromhex("0012345678ffff")) == "0012345678"
    assert ap.decode_bcd(bytes.fromhex("12345f")) == "12345"
    with pytest.raises(CardDataError, match="nibble A"):
        ap.decode_bcd(bytes.fromhex("12a4"))


def test_account_decoding_by_spec() -> None:
    reads = [b"\x00" * 4, b"HDR:" + b"  A-1234\x00\x00"]
    spec = AccountField(read=1, offset=4, length=10, encoding="ascii")
    assert ap.decode_account(reads, spec) == "A-1234"
    spec = AccountField(read=0, offset=0, length=4, encoding="bcd", strip_leading_zeros=True)
    with pytest.raises(CardDataError, match="empty"):
        ap.decode_account(reads, spec)
    with pytest.raises(CardDataError, match="beyond the 4 bytes read"):
        ap.decode_account(reads, AccountField(read=0, offset=2, length=4))
    with pytest.raises(CardDataError, match="not printable ASCII"):
        ap.decode_account([b"\x01\x02"], AccountField(length=2, encoding="ascii"))


def test_profile_is_strict_and_names_the_problem() -> None:
    with pytest.raises(ValidationError, match="exactly one of select_aid, select_fid or read_length"):
        ApduProfile.model_validate(
            {"name": "x", "steps": [{"select_fid": "3F00", "read_length": 4}], "account": {"length": 2}}
        )
    with pytest.raises(ValidationError, match="nothing to decode"):
        ApduProfile.model_validate({"name": "x", "steps": [{"select_fid": "3F00"}], "account": {"length": 2}})
    with pytest.raises(ValidationError, match=r"account\.read 1 names no read"):
        ApduProfile.model_validate({"name": "x", "steps": [{"read_length": 4}], "account": {"read": 1, "length": 2}})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        IcCardConfig.model_validate({"reader": "x"})
    with pytest.raises(ValidationError, match="select_fid"):
        ApduProfile.model_validate({"name": "x", "steps": [{"select_fid": "3F0"}], "account": {"length": 2}})


def test_virtual_card_file_system_answers_like_a_t0_card() -> None:
    card = ElectricityCard("0012345678")
    assert card.answer(ap.read_binary(0, 4)) == b"\x69\x86"  # no EF selected yet
    assert card.answer(ap.select_fid("0015")) == b"\x6a\x82"  # EF outside its DF
    assert card.answer(ap.select_fid("3F00")) == b"\x90\x00"
    assert card.answer(ap.select_aid("A00000000301")) == b"\x6a\x82"
    more = card.answer(ap.select_aid("D15600000501"))
    assert more[0] == 0x61
    fci = card.answer(ap.get_response(more[1]))
    assert fci.endswith(b"\x90\x00") and bytes.fromhex("D15600000501") in fci
    assert card.answer(ap.select_fid("0015")) == b"\x90\x00"
    assert card.answer(ap.read_binary(0, 10)) == bytes.fromhex("0012345678ffffffffff9000")
    assert card.answer(ap.read_binary(30, 8)) == customer_file("0012345678")[30:] + b"\x62\x82"
    assert card.answer(ap.read_binary(500, 8)) == b"\x6b\x00"
    assert card.answer(b"\x80\xb0\x00\x00\x01") == b"\x6e\x00"
    assert card.answer(b"\x00\xca\x00\x00\x01") == b"\x6d\x00"


def test_example_profile_reads_the_example_card_offline() -> None:
    card = ElectricityCard("3301234567890")
    reads = []
    for step in EXAMPLE_PROFILE.steps:
        reply = card.answer(ap.step_apdu(step))
        if reply[0] == 0x61:
            reply = card.answer(ap.get_response(reply[1]))
        assert reply[-2:] == b"\x90\x00"
        if step.read_length is not None:
            reads.append(reply[:-2])
    assert ap.decode_account(reads, EXAMPLE_PROFILE.account) == "3301234567890"
