"""Signed requests: every request to HQ carries an HMAC over what it says and when.

Each hall has its own 32-byte key (``hall hq hall add``); there is no default.
The signature covers the method, the path with its query, the hall, a timestamp,
a random nonce and the SHA-256 of the body exactly as sent (compressed bytes),
so nothing can be altered, and HQ refuses a timestamp outside ``WINDOW_S`` or a
nonce it has already seen in that window (replay). HQ signs its answer too, over
the request's nonce, the status and the answer's body, so the box can trust a
bundle it receives::

    >>> key = bytes(32)
    >>> h = sign_request(key, "POST", "/v1/halls/h1/events", "h1", b"{}", now=1000.0, nonce="n0nce123")
    >>> verify_request(key, "POST", "/v1/halls/h1/events", b"{}", h, now=1010.0)
    'n0nce123'
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from sync.errors import AuthError

WINDOW_S = 300.0
H_HALL, H_TS, H_NONCE, H_BODY, H_SIG = (
    "x-hall",
    "x-hall-timestamp",
    "x-hall-nonce",
    "x-hall-body-sha256",
    "x-hall-signature",
)
H_RESPONSE_SIG = "x-hq-signature"


def new_key() -> bytes:
    return secrets.token_bytes(32)


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\n".join(parts).encode(), hashlib.sha256).hexdigest()


def sign_request(
    key: bytes, method: str, path: str, hall: str, body: bytes, *, now: float | None = None, nonce: str | None = None
) -> dict[str, str]:
    """The headers that authenticate one request (``path`` includes the query string)."""
    ts = f"{time.time() if now is None else now:.3f}"
    nonce = nonce or secrets.token_hex(16)
    digest = hashlib.sha256(body).hexdigest()
    sig = _mac(key, method.upper(), path, hall, ts, nonce, digest)
    return {H_HALL: hall, H_TS: ts, H_NONCE: nonce, H_BODY: digest, H_SIG: sig}


def verify_request(
    key: bytes, method: str, path: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> str:
    """Check a request's signature, time and body; return its nonce (the caller checks it is new)."""
    nonce = verify_headers(key, method, path, headers, now=now)
    if not body_matches(body, headers):
        raise AuthError("body does not match its signed digest")
    return nonce


def verify_headers(key: bytes, method: str, path: str, headers: Mapping[str, str], *, now: float | None = None) -> str:
    """Check everything but the body: the signature covers the body's declared digest, so this
    proves who sent the headers before a byte of the body is read. Return the nonce."""
    try:
        hall, ts, nonce, digest, sig = (headers[h] for h in (H_HALL, H_TS, H_NONCE, H_BODY, H_SIG))
    except KeyError as exc:
        raise AuthError(f"request is not signed: header {exc.args[0]} missing") from None
    if not 8 <= len(nonce) <= 64 or not nonce.isascii() or not nonce.isalnum():
        raise AuthError("nonce must be 8-64 letters or digits")
    if len(digest) != 64:
        raise AuthError("body digest must be 64 hex digits (SHA-256)")
    try:
        when = float(ts)
    except ValueError:
        raise AuthError("timestamp is not a number") from None
    now = time.time() if now is None else now
    if not abs(now - when) <= WINDOW_S:
        raise AuthError(f"timestamp is {now - when:+.0f} s off HQ's clock (allowed ±{WINDOW_S:.0f} s)")
    expected = _mac(key, method.upper(), path, hall, ts, nonce, digest)
    if not hmac.compare_digest(sig.encode(), expected.encode()):
        raise AuthError("signature does not match")
    return nonce


def body_matches(body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether ``body`` is the one whose digest the (verified) headers declare."""
    declared = headers.get(H_BODY, "")
    return hmac.compare_digest(declared.encode(), hashlib.sha256(body).hexdigest().encode())


def sign_response(key: bytes, nonce: str, status: int, body: bytes) -> str:
    return _mac(key, "response", nonce, str(status), hashlib.sha256(body).hexdigest())


def verify_response(key: bytes, nonce: str, status: int, body: bytes, signature: str | None) -> None:
    expected = sign_response(key, nonce, status, body).encode()
    if not signature or not hmac.compare_digest(signature.encode("utf-8", "replace"), expected):
        raise AuthError(f"HQ's answer ({status}) is not signed with this hall's key")
