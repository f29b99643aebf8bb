"""Customer keys on their way from HQ to a box: each sealed for that one hall with a key derived from its sync key.

HQ never sends a customer key in clear, even inside a signed answer: each key is
AES-256-GCM-encrypted under ``HMAC-SHA256(hall sync key, "smart-hall customer-key
wrap v1")`` with the hall id and key id bound in, so only that hall's box (which
holds the sync key) can open it, and a key copied into another hall's answer
does not open there::

    >>> sync_key = bytes(range(32))
    >>> items = wrap(sync_key, "h1", [{"id": "ck-1", "key": b"k" * 32, "current": True, "until": None}])
    >>> sorted(items[0])
    ['current', 'id', 'until', 'wrapped']
    >>> ring = unwrap(sync_key, "h1", items)
    >>> ring.current.id, ring.current.key == b"k" * 32
    ('ck-1', True)
    >>> unwrap(sync_key, "h2", items)
    Traceback (most recent call last):
    ...
    sync.errors.SyncError: customer key ck-1 does not open with this hall's key (not meant for hall h2, or altered)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from edge.errors import HallError
from edge.identity import CustomerKey, Keyring
from sync.errors import SyncError

INFO = b"smart-hall customer-key wrap v1"


def _aead(sync_key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(hmac.new(sync_key, INFO, hashlib.sha256).digest())


def wrap(sync_key: bytes, hall: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``keys`` (``id``, ``key`` bytes, ``current``, ``until``) as they go down to ``hall``."""
    aead = _aead(sync_key)
    out = []
    for k in keys:
        nonce = secrets.token_bytes(12)
        sealed = nonce + aead.encrypt(nonce, k["key"], f"{hall}|{k['id']}".encode())
        out.append({"id": k["id"], "wrapped": base64.b64encode(sealed).decode(), "current": bool(k["current"]),
                    "until": k["until"]})  # fmt: skip
    return out


def unwrap(sync_key: bytes, hall: str, items: Any) -> Keyring:
    """The keyring in ``items`` as HQ sent it to ``hall``; :class:`SyncError` naming what is wrong."""
    from cryptography.exceptions import InvalidTag

    if not isinstance(items, list) or not items or len(items) > 5:
        raise SyncError("customer keys: HQ sends 1 to 5 keys")
    aead = _aead(sync_key)
    keys = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not 1 <= len(item["id"]) <= 64:
            raise SyncError("customer keys: every key has an id")
        try:
            raw = base64.b64decode(str(item.get("wrapped", "")), validate=True)
            key = aead.decrypt(raw[:12], raw[12:], f"{hall}|{item['id']}".encode())
        except (ValueError, InvalidTag):
            raise SyncError(
                f"customer key {item['id']} does not open with this hall's key (not meant for hall {hall}, or altered)"
            ) from None
        until = item.get("until")
        if not item.get("current") and not isinstance(until, (int, float)):
            raise SyncError(f"customer key {item['id']}: a previous key says until when it is accepted")
        keys.append({"id": item["id"], "key": key.hex(), "current": bool(item.get("current")), "until": until})
    try:
        return Keyring.from_json({"keys": keys}, "customer keys from HQ")
    except HallError as exc:
        raise SyncError(str(exc)) from exc


def digest(items: list[dict[str, Any]]) -> str:
    """What identifies a set of keys sent down (ids, which is current, until when), not the keys themselves."""
    plain = sorted((i["id"], bool(i["current"]), i["until"]) for i in items)
    return hashlib.sha256(json.dumps(plain).encode()).hexdigest()[:16]


def with_local(ring: Keyring, previous: Keyring | None, local: CustomerKey, *, now: float, overlap_s: float) -> Keyring:
    """HQ's keyring, keeping the box's own key accepted for ``overlap_s`` when HQ's first key arrives.

    Cards hashed before the box had an HQ key (appointments booked, tags set on the box) still match
    for that long.
    """
    kept = [k for k in ring.previous]
    if previous is None:
        kept.append(CustomerKey(local.id, local.key, now + overlap_s))
    else:
        kept += [k for k in previous.previous if k.id == local.id and k.until and k.until > now]
    return Keyring(ring.current, tuple(kept[:4]))
