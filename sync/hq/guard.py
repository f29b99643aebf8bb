"""ASGI middleware in front of HQ's ``/v1`` routes: every header checked before any body is read.

In order, and answered at the first refusal without reading the body (the
connection is then closed, so an unread body is never buffered):

1. the signature headers are present and well formed, and the hall is known (401);
2. the time is within :data:`sync.auth.WINDOW_S` of HQ's clock (401);
3. the HMAC over method, path, hall, time, nonce and the declared body digest is
   the hall's (401) — the body's digest is signed, so the headers alone prove
   who sent them;
4. the path names the hall that signed (403);
5. the declared ``content-length`` is there (411) and at most :data:`MAX_BODY` (413),
   and the content coding is none or gzip (415);
6. the nonce was not used before (401).

Then the body is read, never past its declared length, with an idle deadline
(408), and its SHA-256 compared with the signed digest (401). Only then is the
nonce kept, atomically (of two copies of one request racing, one is refused as a
replay), so a refused request leaves nothing behind. A route that stores (a
batch of events) keeps the nonce in its own transaction instead, one transaction
for the whole request (:class:`NonceSlip`); when it did not (it refused the
batch), the nonce is kept before its answer leaves, and a copy that raced it is
answered as a replay. A gzip body is
decompressed to at most :data:`MAX_BODY` (413, 422 when broken). A store that
cannot answer (disk full, database gone) is a 503 with ``retry-after``. Answers
are signed with the hall's key over the request's nonce.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from dataclasses import dataclass
from typing import Any

from sync import auth
from sync.config import HALL_RE
from sync.errors import AuthError, KeyFileError, StoreUnavailable
from sync.hq.store import Store

log = logging.getLogger("hall.hq")
MAX_BODY = 32 * 1024 * 1024
BODY_IDLE_S = 30.0
REPLAYED = "nonce already used (replayed request)"


class Refusal(Exception):
    def __init__(self, status: int, detail: str, *, close: bool = True) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.close = close


@dataclass
class NonceSlip:
    """A checked request's nonce, handed to a route that keeps it in its own transaction (``kept`` once it did)."""

    hall: str
    nonce: str
    kept: bool = False


class Signed:
    """Authenticate /v1 requests before their bodies, decompress the bodies, sign the answers."""

    def __init__(
        self, app: Any, store: Store, clock: Any, *, body_idle_s: float = BODY_IDLE_S, keeps_nonce: Any = None
    ) -> None:
        self.app = app
        self.store = store
        self.clock = clock
        self.body_idle_s = body_idle_s
        self.keeps_nonce = keeps_nonce or (lambda scope: False)  # routes that keep the nonce themselves

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            hall, key, nonce = await self._authenticate(scope, headers)
        except Refusal as exc:  # not (yet) known to be the hall's: an unsigned answer
            await _send_json(send, exc.status, {"detail": exc.detail}, None, "", close=exc.close)
            return
        slip: NonceSlip | None = None
        try:
            length = _admit(scope, headers, hall)
            body = await self._read_body(receive, length)
            if body is None:
                return  # the client went away mid-body: nothing to answer, nothing kept
            if not auth.body_matches(body, headers):
                raise Refusal(401, "body does not match its signed digest (altered or truncated)", close=False)
            slip = NonceSlip(hall, nonce) if self.keeps_nonce(scope) else None
            if slip is None and not await self._store(self.store.use_nonce, hall, nonce, self.clock()):
                raise Refusal(401, REPLAYED, close=False)
            if headers.get("content-encoding", "identity") == "gzip":
                body = _gunzip(body)
        except Refusal as exc:
            if slip is not None:  # a broken gzip body, from the hall: its nonce is kept all the same
                exc = await self._settle(slip) or exc
            await _send_json(send, exc.status, {"detail": exc.detail}, key, nonce, close=exc.close)
            return
        settle = (lambda: self._settle(slip)) if slip is not None else None
        await self.app(_with_body(scope, body, slip), _replay(body), _signing(send, key, nonce, settle))

    async def _settle(self, slip: NonceSlip) -> Refusal | None:
        """Keep the nonce a route did not keep; the refusal to answer instead (a replay, or the store down)."""
        if slip.kept:
            return None
        try:
            fresh = await self._store(self.store.use_nonce, slip.hall, slip.nonce, self.clock())
        except Refusal as exc:
            return exc
        slip.kept = True
        return None if fresh else Refusal(401, REPLAYED, close=False)

    async def _authenticate(self, scope: dict[str, Any], headers: dict[str, str]) -> tuple[str, bytes, str]:
        """The hall, its key and the nonce, from headers whose signature is the hall's."""
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("latin-1")
        hall = headers.get(auth.H_HALL, "")
        if not HALL_RE.match(hall):
            raise Refusal(401, "unknown or missing hall (x-hall)")
        try:
            key, used = await self._store(self.store.credentials, hall, headers.get(auth.H_NONCE, ""))
        except KeyFileError as exc:
            log.error("hall %s: %s", hall, exc)
            raise Refusal(503, f"HQ cannot open hall {hall}'s key; HQ's operators must restore its key file") from exc
        try:
            if key is None:
                raise AuthError("unknown or missing hall (x-hall)")
            nonce = auth.verify_headers(key, scope["method"], path, headers, now=self.clock())
        except AuthError as exc:
            raise Refusal(401, str(exc)) from exc
        if used:
            raise Refusal(401, REPLAYED)
        return hall, key, nonce

    async def _read_body(self, receive: Any, length: int) -> bytes | None:
        body = bytearray()
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.body_idle_s)
            except TimeoutError:
                raise Refusal(408, f"no body bytes for {self.body_idle_s:.0f} s") from None
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > length:
                raise Refusal(400, f"body is longer than its content-length ({length})")
            if not message.get("more_body"):
                break
        if len(body) != length:
            raise Refusal(400, f"body is {len(body)} bytes, its content-length says {length}")
        return bytes(body)

    async def _store(self, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except StoreUnavailable as exc:
            log.error("HQ store: %s", exc)
            raise Refusal(503, f"HQ's store cannot answer now: {exc}") from exc


def _admit(scope: dict[str, Any], headers: dict[str, str], hall: str) -> int:
    """The hall's own path, a declared and bounded body length, a known coding; the length."""
    parts = scope["path"].split("/")
    if len(parts) < 4 or parts[1:3] != ["v1", "halls"] or parts[3] != hall:
        raise Refusal(403, f"hall {hall} may only use /v1/halls/{hall}/…")
    if headers.get("content-encoding", "identity") not in ("identity", "gzip"):
        raise Refusal(415, f"content-encoding {headers['content-encoding']!r}: HQ takes gzip or none")
    if "transfer-encoding" in headers and "content-length" not in headers:
        raise Refusal(411, "a body needs a content-length (chunked bodies are not taken)")
    raw = headers.get("content-length", "0")
    if not raw.isdigit() or len(raw) > 12:
        raise Refusal(400, f"content-length {raw[:20]!r} is not a byte count")
    length = int(raw)
    if length > MAX_BODY:
        raise Refusal(413, f"body of {length} bytes is larger than {MAX_BODY} bytes")
    return length


def _gunzip(data: bytes) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, MAX_BODY)
    except zlib.error as exc:
        raise Refusal(422, f"body is not valid gzip: {exc}", close=False) from exc
    if d.unconsumed_tail:
        raise Refusal(413, f"decompressed body is larger than {MAX_BODY} bytes", close=False)
    if not d.eof:
        raise Refusal(422, "body is not valid gzip: compressed body is truncated", close=False)
    if d.unused_data:
        raise Refusal(422, "body is not valid gzip: bytes after the end of the compressed body", close=False)
    return out


def _with_body(scope: dict[str, Any], body: bytes, slip: NonceSlip | None) -> dict[str, Any]:
    kept = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"content-encoding", b"content-length")]
    # the body travels in the scope too, so a route can take it without a second copy through receive()
    headers = [*kept, (b"content-length", str(len(body)).encode())]
    return {**scope, "headers": headers, "hall.body": body, "hall.nonce": slip}


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _signing(send: Any, key: bytes, nonce: str, settle: Any = None) -> Any:
    """Sign the route's answer; first, with ``settle``, keep the nonce if the route did not (else answer that)."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def capture(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                out, status, hdrs = b"".join(chunks), int(start["status"]), start.get("headers", [])
                refused = await settle() if settle is not None else None
                if refused is not None:
                    out, status = json.dumps({"detail": refused.detail}).encode(), refused.status
                    hdrs = [(b"content-type", b"application/json")]
                    hdrs += [(b"retry-after", b"5")] if status == 503 else []
                sig = auth.sign_response(key, nonce, status, out)
                hdrs = [(k, v) for k, v in hdrs if k.lower() != b"content-length"]
                hdrs += [(b"content-length", str(len(out)).encode()), (auth.H_RESPONSE_SIG.encode(), sig.encode())]
                await send({"type": "http.response.start", "status": status, "headers": hdrs})
                await send({"type": "http.response.body", "body": out})

    return capture


async def _send_json(
    send: Any, status: int, obj: dict[str, Any], key: bytes | None, nonce: str, *, close: bool
) -> None:
    body = json.dumps(obj).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:  # the body was not read: do not leave it to be parsed as the next request
        headers.append((b"connection", b"close"))
    if status == 503:
        headers.append((b"retry-after", b"5"))
    if key is not None and nonce:
        headers.append((auth.H_RESPONSE_SIG.encode(), auth.sign_response(key, nonce, status, body).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
