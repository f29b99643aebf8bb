"""Customer references: a keyed hash and a masked display form, never the number.

A card number (resident ID or IC-card account) becomes a :class:`CustomerRef`
at the edge of the devices service; only the ref crosses the bus and reaches
the database. The hash is HMAC-SHA256 under the hall's secret key (a 0640 file
in ``HALL_HOME``, readable by the hall's group: the vision service, under its own
user, hashes a card number an operator types), so the same card gives the same hash in this hall, and the
same keyed hash is what HQ uses for customer tags::

    >>> ref = make_ref("id", "110101199003071234", name="张三", key=b"k" * 32)
    >>> ref.masked, ref.name_masked, len(ref.hash)
    ('1101**********1234', '张*', 64)

The resident ID number's check character (GB 11643-1999) lives here too, the
one copy that the card reader and the HQ privacy scrub both use::

    >>> check_digit("11010519491231002"), id_number_valid("11010519491231002X")
    ('X', True)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge.errors import InvalidRequest, StorageError

Kind = Literal["id", "ic"]
HASH_RE = re.compile(r"^[0-9a-f]{64}$")

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
"""GB 11643-1999 §6.2 weights of positions 1..17: W = 2^(18-i) mod 11 (ISO 7064 MOD 11-2)."""
ID_CHECK_CHARS = "10X98765432"
"""The check character for each value of (Σ digit × weight) mod 11 (GB 11643-1999 §6.2)."""


def _ascii_digits(text: str) -> bool:
    # str.isdigit alone accepts '²' and '１'; a check digit is computed over ASCII digits only.
    return text.isascii() and text.isdigit()


def check_digit(first17: str) -> str:
    """The 18th character of a resident ID number, from its first 17 digits.

    GB 11643-1999 (ISO 7064 MOD 11-2). Raises :class:`ValueError` unless
    ``first17`` is exactly 17 ASCII digits: a superscript or full-width digit
    is never read as a digit.
    """
    if len(first17) != 17 or not _ascii_digits(first17):
        raise ValueError("the ID check digit is computed over exactly 17 ASCII digits")
    total = sum((ord(ch) - ord("0")) * weight for ch, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def id_number_valid(number: str) -> bool:
    """True when ``number`` is 17 ASCII digits followed by their check character (``x`` counts as ``X``)."""
    if len(number) != 18 or not _ascii_digits(number[:17]):
        return False
    return check_digit(number[:17]) == number[17].upper()


@dataclass(frozen=True)
class CustomerRef:
    kind: str
    hash: str
    masked: str
    name_masked: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "hash": self.hash, "masked": self.masked, "name_masked": self.name_masked}

    @classmethod
    def from_dict(cls, data: Any) -> CustomerRef:
        if not isinstance(data, dict):
            raise InvalidRequest("customer must be an object with kind, hash and masked")
        kind, digest, masked = data.get("kind"), data.get("hash"), data.get("masked")
        if kind not in ("id", "ic"):
            raise InvalidRequest(f"customer kind {kind!r} is not 'id' or 'ic'")
        if not isinstance(digest, str) or not HASH_RE.match(digest):
            raise InvalidRequest("customer hash must be 64 lowercase hex digits (a keyed hash)")
        if not isinstance(masked, str) or not masked or len(masked) > 32:
            raise InvalidRequest("customer masked form must be a short non-empty string")
        if sum(ch.isdigit() for ch in masked) > 8:
            raise InvalidRequest("customer masked form shows too many digits: send the masked form only")
        name = data.get("name_masked", "")
        if not isinstance(name, str) or len(name) > 16:
            raise InvalidRequest("customer name_masked must be a short string")
        extra = set(data) - {"kind", "hash", "masked", "name_masked"}
        if extra:
            raise InvalidRequest(f"customer has unknown keys {', '.join(sorted(extra))}")
        return cls(kind, digest, masked, name)


def load_key(path: Path) -> bytes:
    """Read the hall's secret key, creating it (mode 0640: the hall's services' group) on first use.

    A key file that cannot be read, or does not hold 32 bytes as 64 hex digits, is a
    :class:`~edge.errors.StorageError` naming the file (never its content).
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        return _read_key(path)
    os.fchmod(fd, 0o640)  # whatever the umask
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
        fh.flush()
        os.fsync(fh.fileno())
    return key


def _read_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not text"
        raise StorageError(f"the hall's secret key {path} cannot be read: {reason}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise StorageError(
            f"the hall's secret key {path} is damaged (it must hold 64 hex digits); restore it from a backup "
            "(a new key would make every customer reference of this hall a new one)"
        )
    return key


def mask_number(number: str) -> str:
    """Keep the first 4 and last 4 characters: ``1101**********1234``."""
    n = len(number)
    if n <= 8:
        keep = max(1, n // 4)
        return number[:keep] + "*" * (n - 2 * keep) + number[-keep:]
    return number[:4] + "*" * (n - 8) + number[-4:]


def mask_name(name: str) -> str:
    """张三 → 张*, 张小三 → 张*三, 欧阳小明 → 欧**明."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def normalise(kind: str, number: str) -> str:
    number = number.strip().upper()
    if kind == "id" and not re.fullmatch(r"[0-9A-Z]{8,20}", number):
        raise InvalidRequest("ID number must be 8-20 letters or digits")
    if kind == "ic" and not re.fullmatch(r"[0-9A-Z-]{4,32}", number):
        raise InvalidRequest("IC account number must be 4-32 letters, digits or dashes")
    return number


def make_ref(kind: str, number: str, *, key: bytes, name: str = "") -> CustomerRef:
    if kind not in ("id", "ic"):
        raise InvalidRequest(f"customer kind {kind!r} is not 'id' or 'ic'")
    number = normalise(kind, number)
    digest = hmac.new(key, f"{kind}:{number}".encode(), hashlib.sha256).hexdigest()
    return CustomerRef(kind, digest, mask_number(number), mask_name(name) if name else "")


def parse_ref_arg(text: str, *, key: bytes) -> CustomerRef:
    """Parse a command-line reference: ``id:NUMBER[:NAME]``, ``ic:ACCOUNT`` or a bare ID number."""
    parts = text.split(":", 2)
    if len(parts) == 1:
        return make_ref("id", parts[0], key=key)
    kind, number = parts[0], parts[1]
    return make_ref(kind, number, key=key, name=parts[2] if len(parts) > 2 else "")
