"""The hall's sync key, agreed between a new box and HQ without either sending it (X25519 + HKDF-SHA256).

The box makes an X25519 key pair and keeps the private half (``keys/sync.x25519``,
mode 0600); it sends HQ the public half with the one-time provisioning token. HQ
makes a key pair of its own for this exchange and answers with its public
half. Each side then computes the same shared secret and derives the hall's
32-byte HMAC key from it, salted with the token's digest and bound to the hall
id, so the key is never on the wire and a box without the token cannot get
one. HQ adds a proof (an HMAC with the new key over both public keys): a box
whose public key was swapped on the way derives another key and refuses the
answer.

    >>> box, hq = generate(), generate()
    >>> k1 = derive(box, public_bytes(hq), token="T-1", hall="h1")
    >>> k2 = derive(hq, public_bytes(box), token="T-1", hall="h1")
    >>> k1 == k2, len(k1), k1 == derive(box, public_bytes(hq), token="T-2", hall="h1")
    (True, 32, False)
    >>> check_proof(k1, "h1", public_bytes(box), public_bytes(hq), proof(k2, "h1", public_bytes(box), public_bytes(hq)))
    True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

INFO = b"smart-hall sync key v1 "


def generate() -> X25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return X25519PrivateKey.generate()


def public_bytes(key: X25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def private_bytes(key: X25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def load_private(raw: bytes) -> X25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return X25519PrivateKey.from_private_bytes(raw)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def derive(own: X25519PrivateKey, peer_public: bytes, *, token: str, hall: str) -> bytes:
    """The hall's 32-byte sync key from this side's private key and the other side's public key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    shared = own.exchange(X25519PublicKey.from_public_bytes(peer_public))
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=bytes.fromhex(token_digest(token)), info=INFO + hall.encode()
    )
    return hkdf.derive(shared)


def proof(key: bytes, hall: str, box_public: bytes, hq_public: bytes) -> str:
    msg = b"\n".join([b"provisioned", hall.encode(), box_public, hq_public])
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def check_proof(key: bytes, hall: str, box_public: bytes, hq_public: bytes, given: str) -> bool:
    return hmac.compare_digest(proof(key, hall, box_public, hq_public), given)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str, size: int = 32) -> bytes:
    """Base64 of exactly ``size`` bytes, else ValueError."""
    raw = base64.b64decode(text, validate=True)
    if len(raw) != size:
        raise ValueError(f"expected {size} bytes, got {len(raw)}")
    return raw
