"""Every parser of what devices send raises only the drivers' own errors, whatever the bytes.

SAM frames and the card text inside them, APDU replies, ESC/POS real-time status: the targets of
``tests/fuzz/devices.py`` (any bytes, good answers with bits flipped, what the simulated peers send,
whose round trip must give back what they encoded), then card fields one character at a time. Small
example counts here; ``benchmarks/fuzz_parsers.py`` runs them over 10^5 examples.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from drivers.errors import CardDataError
from drivers.idcard.card import decode_text
from drivers.idcard.sim import resident_text
from tests.fuzz import Target, check
from tests.fuzz.devices import NUMBER, TARGETS, check_card, no_surrogates

EXAMPLES = settings(max_examples=150, deadline=None)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_only_driver_errors_and_round_trips(target: Target) -> None:
    check(target, examples=150)


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
