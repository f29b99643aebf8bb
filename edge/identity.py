"""Customer references: a keyed hash and a masked display form, never the number.

A card number (resident ID or IC-card account) becomes a :class:`CustomerRef`
at the edge of the devices service; only the ref crosses the bus and reaches
the database. The hash is HMAC-SHA256 under the customer key in force
(:class:`Keyring`): the key HQ issued for the hall or its region, delivered by
the sync agent into ``$HALL_HOME/customer.keys``, so HQ builds the same hashes
for its own customer records (bills, tags, supply addresses). A box HQ has not
given a key yet uses its own ``secret.key``. Both files are mode 0640, readable
by the hall's group: the vision service, under its own user, hashes a card
number an operator types. While HQ rotates the key, the previous one stays
accepted until its overlap ends: a ref then also carries the hashes under the
previous keys (``also``), and whatever matches by hash (tags, bundle look-ups,
appointments) tries them all::

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
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge.errors import InvalidRequest, StorageError

Kind = Literal["id", "ic"]
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_ALSO = 4  # previous keys accepted at once (a rotation's overlap; more would be a key never retired)

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
    also: tuple[str, ...] = ()  # the hashes under keys still accepted during a rotation's overlap

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "hash": self.hash, "masked": self.masked,
                               "name_masked": self.name_masked}  # fmt: skip
        if self.also:
            out["also"] = list(self.also)
        return out

    @property
    def hashes(self) -> tuple[str, ...]:
        """Every hash this customer is known by now: the key in force's first."""
        return (self.hash, *self.also)

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
        also = data.get("also", [])
        if not isinstance(also, list) or len(also) > MAX_ALSO or not all(isinstance(h, str) and HASH_RE.match(h)
                                                                          for h in also):  # fmt: skip
            raise InvalidRequest(f"customer also must be at most {MAX_ALSO} keyed hashes")
        extra = set(data) - {"kind", "hash", "masked", "name_masked", "also"}
        if extra:
            raise InvalidRequest(f"customer has unknown keys {', '.join(sorted(extra))}")
        return cls(kind, digest, masked, name, tuple(also))


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


def parse_ref_arg(text: str, *, key: bytes | None = None, keyring: Keyring | None = None) -> CustomerRef:
    """Parse a command-line reference: ``id:NUMBER[:NAME]``, ``ic:ACCOUNT`` or a bare ID number."""
    if keyring is None and key is None:
        raise ValueError("parse_ref_arg needs the key or the keyring to hash with")
    ring = keyring or Keyring(CustomerKey("given", key or b""))
    parts = text.split(":", 2)
    if len(parts) == 1:
        return ring.ref("id", parts[0])
    kind, number = parts[0], parts[1]
    if kind not in ("id", "ic"):
        raise InvalidRequest(f"customer kind {kind!r} is not 'id' or 'ic'")
    return ring.ref(kind, number, name=parts[2] if len(parts) > 2 else "")


@dataclass(frozen=True)
class CustomerKey:
    id: str
    key: bytes
    until: float | None = None  # a previous key: accepted until then; None: the key in force


class Keyring:
    """The customer keys in force: one to hash with, and the previous ones still accepted.

    ``customer.keys`` is JSON written by the sync agent (mode 0640, as ``secret.key``)::

        {"keys": [{"id": "ck-1", "key": "<64 hex>", "current": true},
                  {"id": "ck-0", "key": "<64 hex>", "until": 1767225600.0}]}

    >>> ring = Keyring(CustomerKey("ck-2", b"n" * 32), (CustomerKey("ck-1", b"o" * 32, until=2000.0),))
    >>> ref = ring.ref("id", "110101199003071234", now=1000.0)
    >>> ref.hash == make_ref("id", "110101199003071234", key=b"n" * 32).hash
    True
    >>> ref.also == (make_ref("id", "110101199003071234", key=b"o" * 32).hash,)
    True
    >>> ring.ref("id", "110101199003071234", now=3000.0).also  # the overlap is over
    ()
    """

    def __init__(self, current: CustomerKey, previous: tuple[CustomerKey, ...] = ()) -> None:
        self.current = current
        self.previous = previous

    def accepted(self, now: float | None = None) -> list[CustomerKey]:
        """The key in force, then the previous keys whose overlap has not ended."""
        import time

        at = time.time() if now is None else now
        live = [k for k in self.previous if k.until is not None and k.until > at]
        return [self.current, *live[:MAX_ALSO]]

    def ref(self, kind: str, number: str, *, name: str = "", now: float | None = None) -> CustomerRef:
        keys = self.accepted(now)
        first = make_ref(kind, number, key=keys[0].key, name=name)
        also = tuple(make_ref(kind, number, key=k.key).hash for k in keys[1:])
        return CustomerRef(first.kind, first.hash, first.masked, first.name_masked, also)

    @classmethod
    def load(cls, keys_path: Path, secret_path: Path) -> Keyring:
        """HQ's keys from ``keys_path`` when there are any, else the hall's own key (made on first use)."""
        try:
            raw = json.loads(keys_path.read_text())
        except FileNotFoundError:
            return cls(CustomerKey("local", load_key(secret_path)))
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"{keys_path}: not the customer keys the sync agent writes: {exc}") from exc
        return cls.from_json(raw, str(keys_path))

    @classmethod
    def from_json(cls, raw: Any, where: str = "customer keys") -> Keyring:
        current: CustomerKey | None = None
        previous: list[CustomerKey] = []
        try:
            for item in raw["keys"]:
                key = bytes.fromhex(item["key"])
                if len(key) != 32 or not isinstance(item["id"], str):
                    raise ValueError("a key is 32 bytes with a string id")
                if item.get("current"):
                    current = CustomerKey(item["id"], key)
                else:
                    previous.append(CustomerKey(item["id"], key, float(item["until"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"{where}: a key is malformed: {exc}") from exc
        if current is None:
            raise InvalidRequest(f"{where}: no key is marked current")
        return cls(current, tuple(previous))

    def to_json(self) -> dict[str, Any]:
        keys: list[dict[str, Any]] = [{"id": self.current.id, "key": self.current.key.hex(), "current": True}]
        keys += [{"id": k.id, "key": k.key.hex(), "until": k.until} for k in self.previous]
        return {"keys": keys}


class KeyringFile:
    """A keyring read again whenever its file changes: for services that run for months (card readers)."""

    def __init__(self, keys_path: Path, secret_path: Path) -> None:
        self.keys_path = keys_path
        self.secret_path = secret_path
        self._seen: tuple[int, int] | None = None
        self._ring: Keyring | None = None

    def get(self) -> Keyring:
        try:
            st = self.keys_path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if self._ring is None or stamp != self._seen:
            self._ring = Keyring.load(self.keys_path, self.secret_path)
            self._seen = stamp
        return self._ring


def save_keyring(path: Path, ring: Keyring) -> None:
    """Write ``ring`` to ``path`` whole (mode 0640 as the hall's secret key, fsynced, then renamed over the old file)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    os.fchmod(fd, 0o640)  # whatever the umask
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(ring.to_json()))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
