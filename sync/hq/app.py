"""The HQ sync API over HTTP (FastAPI), documented at ``/openapi.json``.

Every route under ``/v1/`` is signed (:mod:`sync.auth`): the :class:`Signed`
middleware reads the body as sent, checks the hall's signature, time and nonce,
checks that the hall in the path is the hall that signed, decompresses a gzip
body (``Content-Encoding: gzip``), and signs the answer with the same key. A
hall therefore reads and writes only its own data. Only the nonce of an
authenticated request is kept (replay protection); a refused request stores
nothing else.

    POST /v1/halls/{hall}/events         a batch of one lane (idempotent; 409 names HQ's cursor on a gap)
    GET  /v1/halls/{hall}/cursors        HQ's cursor per lane
    GET  /v1/halls/{hall}/status         link status from acknowledged data
    GET  /v1/halls/{hall}/bundle?after=N the newest down bundle above version N (204: none)
    POST /v1/halls/{hall}/bundle-results the box applied (or refused) a bundle
"""

from __future__ import annotations

import gzip
import json
import logging
import time
import zlib
from typing import Any, Literal

from fastapi import FastAPI, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.envelope import TOPIC_RE
from edge.errors import Conflict, InvalidRequest, NotFound
from sync import auth
from sync.errors import AuthError
from sync.hq.store import Gap, Store

log = logging.getLogger("hall.hq")
MAX_BODY = 32 * 1024 * 1024
HALL = Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="Hall id; must be the hall that signed.")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Event(_Model):
    v: Literal[1] = 1
    id: str = Field(min_length=1, max_length=64)
    ts: str = Field(min_length=1, max_length=40)
    source: str = Field(min_length=1, max_length=64)
    topic: str = Field(pattern=TOPIC_RE.pattern, max_length=64)
    data: dict[str, Any]
    seq: int = Field(ge=1, le=2**62)


class EventBatch(_Model):
    lane: Literal["alerts", "records", "analytics"]
    after: int = Field(ge=0, le=2**62, description="HQ's cursor of this lane that the batch follows.")
    head: int = Field(ge=0, le=2**62, description="The box's newest seq when the batch was read.")
    events: list[Event] = Field(min_length=1, max_length=5000)


class Ingested(_Model):
    lane: str
    cursor: int


class Cursors(_Model):
    hall: str
    lanes: dict[str, int]


class BundleResult(_Model):
    version: int = Field(ge=1, le=2**62)
    applied: bool
    error: str | None = Field(None, max_length=2000)


class Problem(_Model):
    detail: str
    lane: str | None = None
    cursor: int | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Not signed, bad signature, stale time or replayed nonce."},
    403: {"model": Problem, "description": "The path names another hall than the one that signed."},
    404: {"model": Problem, "description": "Unknown hall or bundle."},
    409: {"model": Problem, "description": "Refused: a gap (the body names HQ's cursor) or a conflict."},
    413: {"model": Problem, "description": "Body too large."},
    422: {"model": Problem, "description": "Malformed request."},
}


def create_app(store: Store, *, clock: Any = time.time) -> FastAPI:
    app = FastAPI(
        title="Smart Hall HQ sync API",
        version="1",
        description=(__doc__ or "").split("\n\n")[0]
        + "\n\nEvery /v1 request carries the headers x-hall, x-hall-timestamp, x-hall-nonce, "
        "x-hall-body-sha256 and x-hall-signature (HMAC-SHA256 with the hall's key over method, path with query, "
        "hall, timestamp, nonce and body digest, newline-separated). Answers carry x-hq-signature.",
    )

    @app.exception_handler(NotFound)
    async def _not_found(request: Any, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(request: Any, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(InvalidRequest)
    async def _invalid(request: Any, exc: InvalidRequest) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, bool]:
        """Whether the server is up (unauthenticated; says nothing about any hall)."""
        return {"ok": True}

    @app.post("/v1/halls/{hall}/events", response_model=Ingested, responses=ERRORS, tags=["up"])
    def post_events(batch: EventBatch, hall: str = HALL) -> Any:
        """Store a batch of one lane; events HQ already holds are skipped, a gap is refused."""
        events = [e.model_dump() for e in batch.events]
        try:
            cursor = store.ingest(hall, batch.lane, batch.after, batch.head, events, now=clock())
        except Gap as exc:
            return JSONResponse({"detail": str(exc), "lane": exc.lane, "cursor": exc.cursor}, status_code=409)
        return Ingested(lane=batch.lane, cursor=cursor)

    @app.get("/v1/halls/{hall}/cursors", response_model=Cursors, responses=ERRORS, tags=["up"])
    def get_cursors(hall: str = HALL) -> Cursors:
        """HQ's cursor of each lane: the last seq of that lane it holds."""
        return Cursors(hall=hall, lanes=store.cursors(hall))

    @app.get("/v1/halls/{hall}/status", responses=ERRORS, tags=["status"])
    def get_status(hall: str = HALL) -> dict[str, Any]:
        """Link status computed from acknowledged data: head, held, backlog, last_ack, last_seen."""
        return store.status(hall)

    @app.get(
        "/v1/halls/{hall}/bundle",
        responses={**ERRORS, 204: {"description": "No bundle newer than `after`."}},
        tags=["down"],
    )
    def get_bundle(hall: str = HALL, after: int = Query(0, ge=0, le=2**62)) -> Any:
        """The newest down bundle for this hall (its own, or one for every hall) above version ``after``."""
        body = store.bundle_for(hall, after)
        if body is None:
            return Response(status_code=204)
        return body

    @app.post("/v1/halls/{hall}/bundle-results", responses=ERRORS, tags=["down"])
    def post_bundle_result(result: BundleResult, hall: str = HALL) -> dict[str, Any]:
        """Record whether the box applied a bundle, or why it refused it."""
        store.record_bundle_result(hall, result.version, result.applied, result.error, clock())
        return {"hall": hall, "version": result.version, "applied": result.applied}

    wrapped: Any = Signed(app, store, clock)
    wrapped.openapi = app.openapi  # so tests and tools can still reach the schema
    return wrapped  # type: ignore[no-any-return]


class Signed:
    """ASGI middleware: authenticate /v1 requests, decompress their bodies, sign the answers."""

    def __init__(self, app: Any, store: Store, clock: Any) -> None:
        self.app = app
        self.store = store
        self.clock = clock

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _send_json(send, 413, {"detail": f"body is larger than {MAX_BODY} bytes"})
                return
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("latin-1")
        hall = headers.get(auth.H_HALL, "")
        parts = scope["path"].split("/")
        try:
            key = self.store.hall_key(hall) if hall else None
            if key is None:
                raise AuthError("unknown or missing hall (x-hall)")
            nonce = auth.verify_request(key, scope["method"], path, body, headers, now=self.clock())
        except AuthError as exc:
            await _send_json(send, 401, {"detail": str(exc)})
            return
        if len(parts) < 4 or parts[1:3] != ["v1", "halls"] or parts[3] != hall:
            await _send_json(send, 403, {"detail": f"hall {hall} may only use /v1/halls/{hall}/…"}, key, nonce)
            return
        if not self.store.use_nonce(hall, nonce, self.clock()):
            await _send_json(send, 401, {"detail": "nonce already used (replayed request)"})
            return
        if headers.get("content-encoding") == "gzip":
            try:
                body = _gunzip(body)
            except (OSError, EOFError, zlib.error, ValueError) as exc:
                await _send_json(send, 422, {"detail": f"body is not valid gzip: {exc}"}, key, nonce)
                return
        scope = {
            **scope,
            "headers": [
                (k, v) for k, v in scope["headers"] if k.lower() not in (b"content-encoding", b"content-length")
            ]
            + [(b"content-length", str(len(body)).encode())],
        }
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    out = b"".join(chunks)
                    sig = auth.sign_response(key, nonce, int(start["status"]), out)
                    hdrs = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                    hdrs += [(b"content-length", str(len(out)).encode()), (auth.H_RESPONSE_SIG.encode(), sig.encode())]
                    await send({"type": "http.response.start", "status": start["status"], "headers": hdrs})
                    await send({"type": "http.response.body", "body": out})

        await self.app(scope, replay, capture)


def _gunzip(data: bytes) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, MAX_BODY)
    if d.unconsumed_tail:
        raise ValueError(f"decompressed body is larger than {MAX_BODY} bytes")
    if not d.eof:
        raise ValueError("compressed body is truncated")
    return out


async def _send_json(send: Any, status: int, obj: dict[str, Any], key: bytes | None = None, nonce: str = "") -> None:
    body = json.dumps(obj).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if key is not None:
        headers.append((auth.H_RESPONSE_SIG.encode(), auth.sign_response(key, nonce, status, body).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def gzip_body(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)
