"""Customer references: a keyed hash and a masked display form, never the number.

A card number (resident ID or IC-card account) becomes a :class:`CustomerRef`
at the edge of the devices service; only the ref crosses the bus and reaches
the database. The hash is HMAC-SHA256 under the hall's secret key (a 0600 file
in ``HALL_HOME``), so the same card gives the same hash in this hall, and the
same keyed hash is what HQ uses for customer tags::

    >>> ref = make_ref("id", "110101199003071234", name="张三", key=b"k" * 32)
    >>> ref.masked, ref.name_masked, len(ref.hash)
    ('1101**********1234', '张*', 64)
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

from edge.errors import InvalidRequest

Kind = Literal["id", "ic"]
HASH_RE = re.compile(r"^[0-9a-f]{64}$")


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
    """Read the hall's secret key, creating it (mode 0600) on first use."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
        fh.flush()
        os.fsync(fh.fileno())
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
