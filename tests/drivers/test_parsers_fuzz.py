"""Every parser of what devices send raises only the drivers' own errors, whatever the bytes.

SAM frames and the card text inside them, APDU replies, ESC/POS real-time status. Small example
counts here; the long runs belong in a benchmark.
"""

from __future__ import annotations

import unicodedata

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from drivers.errors import CardDataError, DriverError, ProtocolError
from drivers.iccard import apdu as ap
from drivers.iccard.config import EXAMPLE_PROFILE, AccountField, ApduProfile
from drivers.iccard.vicc import ElectricityCard
from drivers.idcard import frames as fr
from drivers.idcard.card import IdCard, decode_text
from drivers.idcard.sim import foreign_text, gat_text, resident_text
from drivers.printer import escpos
from drivers.printer.printer import Printer
from edge.identity import id_number_valid

EXAMPLES = settings(max_examples=150, deadline=None)
NUMBER = "11010519491231002X"  # GB 11643-1999's own example
VALID = [
    resident_text("张三", NUMBER, birth="19491231"),
    foreign_text("SMITH JOHN", "USA110080010101", name="史密斯"),
    gat_text("陈大文", "810000198505200022"),
]
no_surrogates = st.characters(exclude_categories=("Cs",))


def check_card(card: IdCard) -> None:
    """What a decoded card promises, whatever the bytes were."""
    assert card.card_type in ("resident", "foreign", "gat")
    assert card.name and card.name.isprintable()
    assert card.number.isascii() and card.number.isalnum()
    if card.card_type != "foreign":
        assert id_number_valid(card.number)
    assert card.sex in ("unknown", "male", "female", "unstated")


def decode_answer(stream: bytes) -> list[IdCard]:
    """A SAM module's answer bytes → frames → read payload → cards, as the reader does it."""
    cards = []
    for frame in fr.FrameParser().feed(stream):
        payload = fr.split_read_payload(frame.data)
        cards.append(decode_text(payload.text, payload.photo))
    return cards


@EXAMPLES
@given(st.binary(max_size=2000))
def test_any_bytes_from_the_sam_module(stream: bytes) -> None:
    try:
        for card in decode_answer(stream):
            check_card(card)
    except DriverError:
        pass


@EXAMPLES
@given(
    base=st.sampled_from(VALID),
    flips=st.lists(st.tuples(st.integers(0, fr.TEXT_LEN - 1), st.integers(1, 255)), min_size=1, max_size=6),
)
def test_a_read_answer_with_flipped_bits(base: bytes, flips: list[tuple[int, int]]) -> None:
    text = bytearray(base)
    for pos, mask in flips:
        text[pos] ^= mask
    answer = fr.encode_response(fr.SW3_OK, fr.encode_read_payload(bytes(text), b"WLT" + bytes(1021)))
    try:
        for card in decode_answer(answer):
            check_card(card)
    except CardDataError:
        pass


@EXAMPLES
@given(
    name=st.text(no_surrogates, max_size=15),
    number=st.one_of(
        st.text(no_surrogates, max_size=18),
        st.lists(st.sampled_from("0123456789²³¹０１٣९X"), min_size=18, max_size=18).map("".join),
    ),
    sex=st.one_of(st.sampled_from("0129"), st.text(no_surrogates, max_size=1)),
    birth=st.one_of(st.just("19491231"), st.text(st.sampled_from("0123456789０²"), max_size=8)),
)
def test_any_characters_in_the_card_fields(name: str, number: str, sex: str, birth: str) -> None:
    try:
        text = resident_text(name, number, sex=sex, birth=birth)
    except (ValueError, UnicodeEncodeError):
        assume(False)  # does not fit the field: no card can carry it
    try:
        check_card(decode_text(text))
    except CardDataError:
        pass


@EXAMPLES
@given(
    digit=st.characters(categories=("Nd", "No")).filter(lambda c: c.isdigit() and not c.isascii()),
    at=st.integers(0, 17),
)
def test_a_digit_that_is_not_ascii_is_named_never_read(digit: str, at: int) -> None:
    number = NUMBER[:at] + digit + NUMBER[at + 1 :]
    assume(len(digit.encode("utf-16-le")) == 2)
    try:
        decode_text(resident_text("张三", number, birth="19491231"))
    except CardDataError as exc:
        assert f"U+{ord(digit):04X}" in str(exc) or "characters" in str(exc), exc
        assert NUMBER[:6] not in str(exc)  # the number is never quoted
    else:
        raise AssertionError(f"{unicodedata.name(digit, hex(ord(digit)))} was read as a digit")


# -- APDU replies ---------------------------------------------------------------------------------------

accounts = st.builds(
    AccountField,
    read=st.integers(-1, 0),
    offset=st.integers(0, 40),
    length=st.integers(1, 32),
    encoding=st.sampled_from(["bcd", "ascii"]),
    strip_leading_zeros=st.booleans(),
)


@EXAMPLES
@given(st.binary(max_size=300))
def test_any_r_apdu_splits_or_is_a_protocol_error(rapdu: bytes) -> None:
    try:
        data, sw = ap.split_response(rapdu)
    except ProtocolError:
        assert len(rapdu) < 2
    else:
        assert data + sw.to_bytes(2, "big") == rapdu


@EXAMPLES
@given(answers=st.lists(st.binary(max_size=64), min_size=1, max_size=12), account=accounts)
def test_a_card_answering_anything_gives_an_account_or_a_driver_error(
    answers: list[bytes], account: AccountField
) -> None:
    profile = ApduProfile(name="fuzz", steps=EXAMPLE_PROFILE.steps, account=account)
    sent: list[bytes] = []

    def send(capdu: bytes) -> bytes:
        sent.append(capdu)
        return answers[(len(sent) - 1) % len(answers)]

    try:
        result = ap.run_profile(profile, send)
    except DriverError:
        pass
    else:
        assert result and result.isascii()
    assert len(sent) <= len(profile.steps) * ap.MAX_EXCHANGES


@EXAMPLES
@given(account=st.text("0123456789", min_size=1, max_size=20), data=st.binary(min_size=32, max_size=32))
def test_the_virtual_card_is_read_whatever_its_file_holds(account: str, data: bytes) -> None:
    card = ElectricityCard(account)
    assert ap.run_profile(EXAMPLE_PROFILE, card.answer) == account
    card.files["0015"] = data
    try:
        ap.run_profile(EXAMPLE_PROFILE, card.answer)
    except CardDataError:
        pass


# -- ESC/POS real-time status ---------------------------------------------------------------------------


class Answering:
    """A printer on the far end of a transport that answers each status request with the next bytes given."""

    readable = True
    url = "test://garbled"

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.pending = b""

    def write(self, data: bytes) -> None:
        if data.startswith(escpos.STATUS) and self.answers:
            self.pending += self.answers.pop(0)

    def read(self, n: int, timeout: float) -> bytes:
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def drain(self) -> None:
        self.pending = b""

    def close(self) -> None:
        pass


@EXAMPLES
@given(st.dictionaries(st.integers(1, 4), st.integers(0, 255)))
def test_any_status_bytes_parse_or_are_a_protocol_error(answers: dict[int, int]) -> None:
    try:
        status = escpos.parse_status(answers)
    except ProtocolError:
        assert any(v & escpos.STATUS_MASK != escpos.STATUS_FIXED for v in answers.values())
    else:
        assert status.ready == (status.reason == "")


@EXAMPLES
@given(st.lists(st.binary(max_size=3), max_size=5))
def test_a_printer_answering_garbage_is_a_driver_error(answers: list[bytes]) -> None:
    printer = Printer(Answering(answers), status_timeout=0.001)
    try:
        printer.status()
    except DriverError:
        pass
