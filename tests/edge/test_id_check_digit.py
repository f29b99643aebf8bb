"""The resident ID number's check character (GB 11643-1999, ISO 7064 MOD 11-2), against published examples.

Expected values come from outside this code: the standard's own examples, ORCID iDs (the same
ISO 7064 MOD 11-2 over 15 digits; two leading zeros add nothing to the weighted sum), and cases
worked by hand below.
"""

from __future__ import annotations

import pytest

from drivers.idcard.card import decode_text
from drivers.idcard.sim import resident_text
from edge.identity import check_digit, id_number_valid

PUBLISHED = [
    # GB 11643-1999 appendix A (the first, worked by hand: Σ = 167, 167 mod 11 = 2 → X).
    ("11010519491231002", "X"),  # Beijing Chaoyang, born 1949-12-31
    ("44052418800101001", "4"),  # Shantou Chaoyang county, born 1880-01-01
    # ORCID's structure page and ISO 7064 MOD 11-2 implementations: 0000-0002-1825-0097, 0000-0002-1694-233X.
    ("00" + "000000021825009", "7"),
    ("00" + "000000021694233", "X"),
]
# Worked by hand: 1·7 + 2·9 + 3·10 + 4·5 + 5·8 + 6·4 + 7·2 + 8·1 + 9·6 + 0·3 + 1·7 + 2·9 + 3·10 + 4·5
# + 5·8 + 6·4 + 7·2 = 368 = 33·11 + 5; remainder 5 → '7'. Its digits differ at every two positions whose
# weights differ, so swapping any two unequal weights changes its check character.
HAND_WORKED = ("12345678901234567", "7")


@pytest.mark.parametrize(("first17", "expected"), [*PUBLISHED, HAND_WORKED])
def test_check_digit_of_published_and_hand_worked_numbers(first17: str, expected: str) -> None:
    assert check_digit(first17) == expected
    assert id_number_valid(first17 + expected)
    assert id_number_valid(first17 + expected.lower())


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002",  # 17 characters
        "11010519491231002X0",  # 19
        "110105194912310021",  # the standard's example with 1 for X
        "440524188001010024",  # 17th digit 1 → 2 adds 1·2: 197 mod 11 = 10 wants '2', not '4'
        "11010519491321002X",  # digits 12 and 13 swapped: 167 − 2·9 − 3·10 + 3·9 + 2·10 = 166, mod 11 = 1 wants '0'
        "123456789012345670",
    ],
)
def test_wrong_numbers_are_refused(number: str) -> None:
    assert not id_number_valid(number)


@pytest.mark.parametrize(
    "first17",
    [
        "1101051949123100²",  # '2' with one bit flipped (0x32 → 0xB2): str.isdigit() says yes, int() fails
        "１１０１０５１９４９１２３１００２",  # full-width digits: int() reads them, the standard does not
        "11010519491231٠٠2",  # Arabic-Indic zeros
        "1101051949123100",
        "1101051949123100A",
    ],
)
def test_only_seventeen_ascii_digits_have_a_check_digit(first17: str) -> None:
    with pytest.raises(ValueError, match="17 ASCII digits"):
        check_digit(first17)
    assert not id_number_valid(first17 + "X")


def test_the_card_reader_and_the_sync_scrub_use_this_check() -> None:
    from drivers.errors import CardDataError
    from sync.privacy import is_resident_id

    number = "440524188001010014"
    assert decode_text(resident_text("张三", number)).number == number
    assert is_resident_id(number)
    with pytest.raises(CardDataError, match="check digit"):
        decode_text(resident_text("张三", number[:17] + "5"))
    assert not is_resident_id(number[:17] + "5")
