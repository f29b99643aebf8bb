"""ISO 7816-4 commands, the exchange rules, and running an :class:`ApduProfile` (pure: the card is a callable).

>>> select_fid("3F00").hex(" "), read_binary(0x12, 16).hex(" ")
('00 a4 00 00 02 3f 00', '00 b0 00 12 10')
>>> decode_bcd(bytes.fromhex("0123456789ff"))
'0123456789'
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.errors import CardDataError, ProtocolError
from drivers.iccard.config import AccountField, ApduProfile, ApduStep

CLA = 0x00
INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_GET_RESPONSE = 0xC0
P1_SELECT_FID = 0x00
P1_SELECT_AID = 0x04

SW_OK = 0x9000
SW_NAMES: dict[int, str] = {
    0x6281: "part of the data may be corrupted",
    0x6282: "end of file reached before reading Le bytes",
    0x6700: "wrong length",
    0x6981: "command incompatible with file structure",
    0x6982: "security status not satisfied",
    0x6986: "command not allowed (no current EF)",
    0x6A81: "function not supported",
    0x6A82: "file or application not found",
    0x6A86: "incorrect P1 P2",
    0x6B00: "wrong parameters (offset outside the EF)",
    0x6D00: "instruction not supported",
    0x6E00: "class not supported",
    0x6F00: "no precise diagnosis",
}


def sw_name(sw: int) -> str:
    if sw >> 8 == 0x61:
        return f"{sw & 0xFF} more bytes available"
    if sw >> 8 == 0x6C:
        return f"wrong Le, {sw & 0xFF} expected"
    return SW_NAMES.get(sw, "unknown status")


def select_fid(fid: str) -> bytes:
    return bytes((CLA, INS_SELECT, P1_SELECT_FID, 0x00, 2)) + bytes.fromhex(fid)


def select_aid(aid: str) -> bytes:
    raw = bytes.fromhex(aid)
    return bytes((CLA, INS_SELECT, P1_SELECT_AID, 0x00, len(raw))) + raw


def read_binary(offset: int, length: int) -> bytes:
    if not 0 <= offset <= 0x7FFF:
        raise ValueError("READ BINARY offset must be 0..32767 (15 bits)")
    return bytes((CLA, INS_READ_BINARY, offset >> 8, offset & 0xFF, length & 0xFF))


def get_response(length: int) -> bytes:
    return bytes((CLA, INS_GET_RESPONSE, 0x00, 0x00, length & 0xFF))


def step_apdu(step: ApduStep) -> bytes:
    if step.select_aid is not None:
        return select_aid(step.select_aid)
    if step.select_fid is not None:
        return select_fid(step.select_fid)
    assert step.read_length is not None
    return read_binary(step.read_offset, step.read_length)


def split_response(rapdu: bytes, capdu: bytes = b"") -> tuple[bytes, int]:
    """An R-APDU's data and status word (SW1 SW2); :class:`ProtocolError` when it is shorter than SW1 SW2.

    >>> split_response(bytes.fromhex("01029000"))
    (b'\\x01\\x02', 36864)
    """
    if len(rapdu) < 2:
        raise ProtocolError(f"card answered {len(rapdu)} bytes to {capdu[:4].hex(' ') or 'a command'}")
    return rapdu[:-2], (rapdu[-2] << 8) | rapdu[-1]


def decode_bcd(raw: bytes) -> str:
    """Two digits per byte, high nibble first; stops at the first F nibble (padding)."""
    digits: list[str] = []
    for byte in raw:
        for nibble in (byte >> 4, byte & 0x0F):
            if nibble == 0xF:
                return "".join(digits)
            if nibble > 9:
                raise CardDataError(f"account BCD holds the nibble {nibble:X}, not a digit")
            digits.append(str(nibble))
    return "".join(digits)


def decode_ascii(raw: bytes) -> str:
    """Printable ASCII; spaces, NULs and FF padding stripped at both ends."""
    text = raw.strip(b" \x00\xff")
    if not all(0x20 < b < 0x7F for b in text):
        raise CardDataError("account field holds bytes that are not printable ASCII")
    return text.decode("ascii")


def decode_account(reads: list[bytes], spec: AccountField) -> str:
    """Apply ``spec`` to the READ BINARY results; raises :class:`CardDataError` if it does not fit."""
    try:
        data = reads[spec.read]
    except IndexError:
        raise CardDataError(f"the profile decodes read {spec.read} but only {len(reads)} reads were made") from None
    if spec.offset + spec.length > len(data):
        raise CardDataError(
            f"account bytes {spec.offset}..{spec.offset + spec.length} lie beyond the {len(data)} bytes read"
        )
    raw = data[spec.offset : spec.offset + spec.length]
    account = decode_bcd(raw) if spec.encoding == "bcd" else decode_ascii(raw)
    if spec.strip_leading_zeros:
        account = account.lstrip("0")
    if not account:
        raise CardDataError("the account field on the card is empty")
    return account


MAX_EXCHANGES = 8
"""A command followed through more GET RESPONSE / resend-with-Le rounds than this is a card gone wrong."""


def exchange(send: Callable[[bytes], bytes], capdu: bytes) -> tuple[bytes, int]:
    """Send ``capdu`` with ``send`` (C-APDU → R-APDU) and follow 61xx (GET RESPONSE) and 6Cxx (resend with Le).

    >>> answers = {bytes.fromhex("00a4040002d156"): bytes.fromhex("6102"), get_response(2): bytes.fromhex("6f009000")}
    >>> exchange(answers.__getitem__, bytes.fromhex("00a4040002d156"))
    (b'o\\x00', 36864)
    """
    for _ in range(MAX_EXCHANGES):
        data, sw = split_response(send(capdu), capdu)
        if sw >> 8 == 0x61:
            capdu = get_response(sw & 0xFF)
            continue
        if sw >> 8 == 0x6C:
            capdu = capdu[:4] + bytes((sw & 0xFF,))
            continue
        return data, sw
    raise ProtocolError(f"card kept asking for more exchanges after {MAX_EXCHANGES} rounds")


def run_profile(profile: ApduProfile, send: Callable[[bytes], bytes]) -> str:
    """Run ``profile``'s steps on a card reached through ``send``; the account number.

    Raises :class:`CardDataError` when the card refuses a step or the account does not decode, and
    :class:`ProtocolError` when its answers break ISO 7816-4.
    """
    reads: list[bytes] = []
    for step in profile.steps:
        command = step_apdu(step)
        data, sw = exchange(send, command)
        if sw != SW_OK and not (step.read_length is not None and sw == 0x6282):
            raise CardDataError(f"profile {profile.name!r}: {command[:4].hex(' ')} answered {sw:04X} ({sw_name(sw)})")
        if step.read_length is not None:
            reads.append(data)
    return decode_account(reads, profile.account)
