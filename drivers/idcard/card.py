"""Decode the 256-byte text block of a card read by the SAM module.

Three layouts share the block; the card-type character at byte offset 248
(UCS-2 LE) tells them apart:

- resident ID card (居民身份证, GA 450): type blank;
- foreign permanent-resident card, 2017 version (外国人永久居留身份证): ``I``;
- Hong Kong/Macau/Taiwan residence permit (港澳台居民居住证, GA/T 1513): ``J``.

The 2023 foreign permanent-resident card (``Y``) and unknown types are
rejected with :class:`~drivers.errors.CardDataError` naming the type. Every
field is checked (dates, codes, the ID number's check digit) so that a
corrupted read never becomes a customer. Digits are ASCII digits only: a
flipped bit that turns ``2`` into ``²`` (U+00B2, which ``str.isdigit``
accepts) is a corrupted field, named in the error without its value::

    >>> from drivers.idcard.sim import resident_text
    >>> card = decode_text(resident_text("张三", "11010519491231002X", sex="1", birth="19491231"))
    >>> card.card_type, card.sex, card.nation, card.age(date(2025, 1, 1))
    ('resident', 'male', '汉族', 75)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from drivers.errors import CardDataError
from drivers.idcard.codes import NATION_CODES, SEX_CODES, SEX_KEYS
from drivers.idcard.frames import TEXT_LEN
from edge.identity import id_number_valid

CardType = Literal["resident", "foreign", "gat"]

TYPE_OFFSET = 248
"""Byte offset of the card-type character in the text block (same in every layout)."""
TYPE_RESIDENT = " "
TYPE_FOREIGN = "I"
TYPE_GAT = "J"
TYPE_FOREIGN_2023 = "Y"
LONG_TERM = "长期"
"""``valid to`` of a card that does not expire."""

# Field widths in bytes, in order, per layout.
RESIDENT_FIELDS = (
    ("name", 30),
    ("sex", 2),
    ("nation", 4),
    ("birth", 16),
    ("address", 70),
    ("number", 36),
    ("issuer", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("reserved", 36),
)
FOREIGN_FIELDS = (
    ("name_en", 120),
    ("sex", 2),
    ("number", 30),
    ("nationality", 6),
    ("name", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("birth", 16),
    ("version", 4),
    ("authority", 8),
    ("card_type", 2),
    ("reserved", 6),
)
GAT_FIELDS = (
    ("name", 30),
    ("sex", 2),
    ("reserved1", 4),
    ("birth", 16),
    ("address", 70),
    ("number", 36),
    ("issuer", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("pass_number", 18),
    ("issue_count", 4),
    ("reserved2", 6),
    ("card_type", 2),
    ("reserved3", 6),
)
FOREIGN_NUMBER_RE = re.compile(r"[A-Z]{3}[0-9]{12}")
CITIZEN_NUMBER_RE = re.compile(r"[0-9]{17}[0-9X]")
DATE_RE = re.compile(r"[0-9]{8}")


@dataclass(frozen=True)
class IdCard:
    """A card's decoded text. Holds personal data: it stays inside the devices process."""

    card_type: CardType
    name: str
    sex_code: str
    birth: date
    number: str
    valid_from: date
    valid_to: date | None
    nation_code: str = ""
    address: str = ""
    issuer: str = ""
    name_en: str = ""
    nationality: str = ""
    pass_number: str = ""
    photo: bytes = field(default=b"", repr=False)

    @property
    def sex(self) -> str:
        """``male``, ``female``, ``unknown`` or ``unstated``."""
        return SEX_KEYS[self.sex_code]

    @property
    def nation(self) -> str:
        return NATION_CODES.get(self.nation_code, "")

    def age(self, today: date) -> int:
        """Whole years completed on ``today``."""
        years = today.year - self.birth.year
        return years - ((today.month, today.day) < (self.birth.month, self.birth.day))

    def __repr__(self) -> str:  # never print personal data into a log by accident
        return f"IdCard({self.card_type}, {self.number[:6]}…)"


def split_fields(text: bytes, layout: tuple[tuple[str, int], ...]) -> dict[str, str]:
    """Cut ``text`` into named UCS-2 LE fields, trailing blanks and NULs stripped."""
    values: dict[str, str] = {}
    offset = 0
    for name, width in layout:
        raw = text[offset : offset + width]
        offset += width
        try:
            values[name] = raw.decode("utf-16-le").rstrip(" \x00")
        except UnicodeDecodeError as exc:
            raise CardDataError(f"card field {name} is not valid UCS-2") from exc
    return values


def card_type_char(text: bytes) -> str:
    """The card-type character at offset 248 (blank for a resident ID card)."""
    char = text[TYPE_OFFSET : TYPE_OFFSET + 2].decode("utf-16-le", errors="replace")
    return TYPE_RESIDENT if char in (" ", "\x00") else char


def decode_text(text: bytes, photo: bytes = b"") -> IdCard:
    """Decode a 256-byte text block; raises :class:`CardDataError` for anything unusable."""
    if len(text) != TEXT_LEN:
        raise CardDataError(f"card text is {len(text)} bytes, expected {TEXT_LEN}")
    kind = card_type_char(text)
    if kind == TYPE_RESIDENT:
        return _resident(split_fields(text, RESIDENT_FIELDS), photo)
    if kind == TYPE_FOREIGN:
        return _foreign(split_fields(text, FOREIGN_FIELDS), photo)
    if kind == TYPE_GAT:
        return _gat(split_fields(text, GAT_FIELDS), photo)
    if kind == TYPE_FOREIGN_2023:
        raise CardDataError("the 2023 foreign permanent-resident card (type Y) is not supported by this reader")
    raise CardDataError(f"unknown card type {kind!r} at offset {TYPE_OFFSET}")


def _resident(f: dict[str, str], photo: bytes) -> IdCard:
    if f["nation"] not in NATION_CODES:
        raise CardDataError(f"nation code {f['nation']!r} is not in GB 3304")
    return IdCard(
        card_type="resident",
        name=_name(f["name"]),
        sex_code=_sex(f["sex"]),
        nation_code=f["nation"],
        birth=_date("birth", f["birth"]),
        address=f["address"],
        number=_citizen_number(f["number"]),
        issuer=f["issuer"],
        valid_from=_date("valid_from", f["valid_from"]),
        valid_to=_valid_to(f["valid_to"]),
        photo=photo,
    )


def _gat(f: dict[str, str], photo: bytes) -> IdCard:
    number = _citizen_number(f["number"])
    if number[:2] not in ("81", "82", "83"):
        raise CardDataError("residence permit number does not start with 81, 82 or 83")
    return IdCard(
        card_type="gat",
        name=_name(f["name"]),
        sex_code=_sex(f["sex"]),
        birth=_date("birth", f["birth"]),
        address=f["address"],
        number=number,
        issuer=f["issuer"],
        valid_from=_date("valid_from", f["valid_from"]),
        valid_to=_valid_to(f["valid_to"]),
        pass_number=f["pass_number"],
        photo=photo,
    )


def _foreign(f: dict[str, str], photo: bytes) -> IdCard:
    number = f["number"].upper()
    if not FOREIGN_NUMBER_RE.fullmatch(number):
        _refuse_odd_characters("number", number)
        raise CardDataError("card field number: a foreign permanent-resident number is 3 letters and 12 digits")
    name_en = _printable("name_en", f["name_en"].strip())
    name = _printable("name", f["name"].strip()) or name_en
    if not name:
        raise CardDataError("card carries no name")
    return IdCard(
        card_type="foreign",
        name=name,
        name_en=name_en,
        sex_code=_sex(f["sex"]),
        birth=_date("birth", f["birth"]),
        number=number,
        nationality=f["nationality"],
        issuer=f["authority"],
        valid_from=_date("valid_from", f["valid_from"]),
        valid_to=_valid_to(f["valid_to"]),
        photo=photo,
    )


def _name(value: str) -> str:
    if not value.strip():
        raise CardDataError("card carries no name")
    return _printable("name", value.strip())


def _printable(name: str, value: str) -> str:
    for i, ch in enumerate(value):
        if not ch.isprintable():
            raise CardDataError(f"card field {name}: character {i + 1} is U+{ord(ch):04X}, a control character")
    return value


def _refuse_odd_characters(name: str, value: str) -> None:
    """A field that should be ASCII letters and digits: name the first character that is not (never the value)."""
    for i, ch in enumerate(value):
        if not (ch.isascii() and ch.isalnum()):
            raise CardDataError(
                f"card field {name}: character {i + 1} is U+{ord(ch):04X}, not an ASCII letter or digit"
            )


def _sex(code: str) -> str:
    if code not in SEX_CODES:
        raise CardDataError(f"sex code {code!r} is not in GB/T 2261.1")
    return code


def _citizen_number(number: str) -> str:
    number = number.upper()
    if not CITIZEN_NUMBER_RE.fullmatch(number):
        _refuse_odd_characters("number", number)
        raise CardDataError(f"card field number has {len(number)} characters, not 17 digits and a check character")
    if not id_number_valid(number):
        raise CardDataError("card field number: its check digit (GB 11643) does not match")
    return number


def _date(name: str, value: str) -> date:
    if not DATE_RE.fullmatch(value):
        _refuse_odd_characters(name, value)
        raise CardDataError(f"card field {name} is not a YYYYMMDD date")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError as exc:
        raise CardDataError(f"card field {name} is not a real date") from exc


def _valid_to(value: str) -> date | None:
    return None if value == LONG_TERM else _date("valid_to", value)
