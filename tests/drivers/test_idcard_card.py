"""Decoding the card text block: the three layouts, code tables, check digit, age."""

from __future__ import annotations

from datetime import date

import pytest

from drivers.errors import CardDataError
from drivers.idcard.card import TYPE_OFFSET, decode_text
from drivers.idcard.codes import NATION_CODES, SEX_CODES
from drivers.idcard.sim import foreign_text, gat_text, resident_text

NUMBER = "11010519491231002X"  # the GB 11643 standard's own example


def test_every_gb_3304_nation_and_gb_2261_sex_code_is_named() -> None:
    assert [NATION_CODES[f"{i:02d}"] for i in (1, 2, 5, 29, 43, 56)] == [
        "汉族",
        "蒙古族",
        "维吾尔族",
        "柯尔克孜族",
        "乌孜别克族",
        "基诺族",
    ]
    assert len(NATION_CODES) == 58 and NATION_CODES["97"] == "其他"
    assert NATION_CODES["98"] == "外国血统中国籍人士"
    assert SEX_CODES == {"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"}


def test_resident_card_decodes_every_field() -> None:
    text = resident_text("欧阳小明", NUMBER, sex="2", nation="03", birth="19491231", valid_to="长期")
    assert len(text) == 256
    card = decode_text(text, photo=b"WLT")
    assert card.card_type == "resident"
    assert (card.name, card.sex, card.sex_code, card.nation) == ("欧阳小明", "female", "2", "回族")
    assert card.birth == date(1949, 12, 31)
    assert (card.address, card.issuer) == ("北京市东城区正义路1号", "北京市公安局东城分局")
    assert (card.number, card.valid_from, card.valid_to) == (NUMBER, date(2020, 1, 1), None)
    assert card.photo == b"WLT"
    assert NUMBER not in repr(card) and "欧阳" not in repr(card)


def test_age_counts_whole_years_up_to_the_birthday() -> None:
    card = decode_text(resident_text("张三", NUMBER, birth="19491231"))
    assert card.age(date(2014, 12, 30)) == 64
    assert card.age(date(2014, 12, 31)) == 65


def test_foreign_permanent_resident_card_2017() -> None:
    card = decode_text(foreign_text("SMITH JOHN", "USA110080010101", name="史密斯", sex="1", birth="19800101"))
    assert card.card_type == "foreign"
    assert (card.name, card.name_en, card.nationality) == ("史密斯", "SMITH JOHN", "USA")
    assert (card.number, card.sex, card.birth) == ("USA110080010101", "male", date(1980, 1, 1))


def test_foreign_card_without_chinese_name_uses_the_english_one() -> None:
    card = decode_text(foreign_text("DOE JANE", "GBR110080010102", sex="2"))
    assert card.name == "DOE JANE"


def test_hong_kong_macau_taiwan_residence_permit() -> None:
    card = decode_text(gat_text("陈大文", "810000198505200022", pass_number="H12345678"))
    assert card.card_type == "gat"
    assert (card.name, card.number, card.pass_number, card.sex) == (
        "陈大文",
        "810000198505200022",
        "H12345678",
        "female",
    )


def test_residence_permit_with_a_mainland_number_is_refused() -> None:
    with pytest.raises(CardDataError, match="81, 82 or 83"):
        decode_text(gat_text("陈大文", NUMBER))


def test_2023_foreign_card_and_unknown_types_are_refused_by_name() -> None:
    with pytest.raises(CardDataError, match="2023 foreign permanent-resident card"):
        decode_text(foreign_text("DOE JANE", "GBR110080010102", card_type="Y"))
    text = bytearray(resident_text("张三", NUMBER))
    text[TYPE_OFFSET : TYPE_OFFSET + 2] = "Q".encode("utf-16-le")
    with pytest.raises(CardDataError, match="unknown card type 'Q' at offset 248"):
        decode_text(bytes(text))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"number": "110105194912310021"}, "check digit"),
        ({"sex": "3"}, "sex code '3'"),
        ({"nation": "60"}, "nation code '60'"),
        ({"birth": "19491332"}, "birth is not a real date"),
        ({"birth": "1949123"}, "birth is not a YYYYMMDD date"),
        ({"name": ""}, "no name"),
    ],
)
def test_corrupt_fields_are_named(kwargs: dict[str, str], message: str) -> None:
    args = {"name": "张三", "number": NUMBER, **kwargs}
    with pytest.raises(CardDataError, match=message):
        decode_text(resident_text(args.pop("name"), args.pop("number"), **args))


def test_wrong_length_and_broken_ucs2_are_refused() -> None:
    with pytest.raises(CardDataError, match="255 bytes, expected 256"):
        decode_text(bytes(255))
    text = bytearray(resident_text("张三", NUMBER))
    text[0:2] = b"\x00\xd8"  # a lone high surrogate
    with pytest.raises(CardDataError, match="name is not valid UCS-2"):
        decode_text(bytes(text))
