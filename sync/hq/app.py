"""The HQ sync API over HTTP (FastAPI), documented at ``/openapi.json``.

Every route under ``/v1/`` is signed (:mod:`sync.auth`): the
:class:`~sync.hq.guard.Signed` middleware checks the hall, its signature, the
time, the nonce, the path and the declared body length before it reads the body,
then the body against its signed digest, decompresses a gzip body
(``Content-Encoding: gzip``), and signs the answer with the same key. A hall
therefore reads and writes only its own data. Only the nonce of an authenticated
request is kept (replay protection); a refused request stores nothing else.

    POST /v1/halls/{hall}/events         a batch of one lane (idempotent; 409 names HQ's cursor on a gap,
                                         422 the lane, seq and field of an inconsistent batch)
    GET  /v1/halls/{hall}/cursors        HQ's cursor per lane
    GET  /v1/halls/{hall}/status         link status from acknowledged data
    GET  /v1/halls/{hall}/bundle?after=N the newest down bundle above version N (204: none)
    POST /v1/halls/{hall}/bundle-results the box applied (or refused) a bundle
    GET  /v1/halls/{hall}/customer-keys?have=D the hall's customer keys, wrapped for it (204: it has them)
    GET  /v1/halls/{hall}/repair-updates?after=N status updates of the hall's repair reports not yet confirmed
    POST /provision                      a new box with a one-time token (not signed; see sync.hq.provision)
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from typing import Any, Literal

from fastapi import FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.envelope import TOPIC_RE
from edge.errors import Conflict, InvalidRequest, NotFound
from edge.schemas.sync import LANES
from sync import keywrap
from sync.errors import Inconsistent, StoreUnavailable
from sync.hq import custkeys, fleet, repairs, web
from sync.hq.batch import MAX_EVENTS, MAX_SEQ
from sync.hq.guard import BODY_IDLE_S, MAX_BODY, NonceSlip, Signed
from sync.hq.operators import Operators
from sync.hq.store import Gap, Replayed, Store
from sync.hq.wire import Malformed, decode_batch

log = logging.getLogger("hall.hq")
__all__ = ["MAX_BODY", "create_app", "gzip_body"]
HALL = Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="Hall id; must be the hall that signed.")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


LINE = r"^[^\x00-\x1f\x7f]+$"  # text on one line, without control characters (PostgreSQL takes no NUL)


class Event(_Model):
    v: Literal[1] = 1
    id: str = Field(min_length=1, max_length=64, pattern=LINE)
    ts: str = Field(min_length=1, max_length=40, pattern=LINE)
    source: str = Field(min_length=1, max_length=64, pattern=LINE)
    topic: str = Field(pattern=TOPIC_RE.pattern, max_length=64)
    data: dict[str, Any]
    seq: int = Field(ge=1, le=MAX_SEQ)


class EventBatch(_Model):
    lane: Literal["alerts", "records", "analytics"]
    after: int = Field(ge=0, le=MAX_SEQ, description="HQ's cursor of this lane that the batch follows.")
    head: int = Field(ge=0, le=MAX_SEQ, description="The box's newest seq when the batch was read.")
    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS)


BATCH_SCHEMA = EventBatch.model_json_schema(ref_template="#/components/schemas/{model}")
BATCH_DEFS = BATCH_SCHEMA.pop("$defs", {})


class Ingested(_Model):
    lane: str
    cursor: int


class Cursors(_Model):
    hall: str
    lanes: dict[str, int]


class BundleResult(_Model):
    version: int = Field(ge=1, le=MAX_SEQ)
    applied: bool
    error: str | None = Field(None, max_length=2000)


class Problem(_Model):
    detail: str
    lane: str | None = None
    cursor: int | None = None
    seq: int | None = None
    field: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Not signed, bad signature, stale time or replayed nonce."},
    403: {"model": Problem, "description": "The path names another hall than the one that signed."},
    404: {"model": Problem, "description": "Unknown hall or bundle."},
    408: {"model": Problem, "description": "The body stopped arriving."},
    409: {"model": Problem, "description": "Refused: a gap (the body names HQ's cursor) or a conflict."},
    411: {"model": Problem, "description": "A body without a content-length."},
    413: {"model": Problem, "description": "Body too large (declared, or once decompressed)."},
    415: {"model": Problem, "description": "A content coding other than gzip."},
    422: {"model": Problem, "description": "Malformed or inconsistent: names the field (and lane and seq)."},
    503: {"model": Problem, "description": "HQ's store cannot answer now (disk full, database gone): retry."},
}


def create_app(
    store: Store,
    *,
    clock: Any = time.time,
    body_idle_s: float = BODY_IDLE_S,
    late_s: float = fleet.LATE_S,
    down_s: float = fleet.DOWN_S,
) -> FastAPI:
    app = FastAPI(
        title="Smart Hall HQ sync API",
        version="1",
        description=(__doc__ or "").split("\n\n")[0]
        + "\n\nEvery /v1 request carries the headers x-hall, x-hall-timestamp, x-hall-nonce, "
        "x-hall-body-sha256 and x-hall-signature (HMAC-SHA256 with the hall's key over method, path with query, "
        "hall, timestamp, nonce and body digest, newline-separated). Answers carry x-hq-signature.",
    )

    @app.exception_handler(NotFound)
    async def _not_found(request: Any, exc: NotFound) -> Response:
        return problem({"detail": str(exc)}, 404)

    @app.exception_handler(Conflict)
    async def _conflict(request: Any, exc: Conflict) -> Response:
        return problem({"detail": str(exc)}, 409)

    @app.exception_handler(InvalidRequest)
    async def _invalid(request: Any, exc: InvalidRequest) -> Response:
        return problem({"detail": str(exc)}, 422)

    @app.exception_handler(Inconsistent)
    async def _inconsistent(request: Any, exc: Inconsistent) -> Response:
        log.warning("hall %s: batch refused: %s", request.path_params.get("hall"), exc)
        body = {"detail": str(exc), "lane": exc.lane, "seq": exc.seq, "field": exc.field}
        return problem(body, 422)

    @app.exception_handler(RequestValidationError)
    async def _malformed(request: Any, exc: RequestValidationError) -> Response:
        return problem(_one_line(exc), 422)

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(request: Any, exc: StoreUnavailable) -> Response:
        log.error("HQ store: %s", exc)
        return problem({"detail": str(exc)}, 503, headers={"retry-after": "5"})

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, bool]:
        """Whether the server is up (unauthenticated; says nothing about any hall)."""
        return {"ok": True}

    @app.post(
        "/v1/halls/{hall}/events",
        response_model=Ingested,
        responses=ERRORS,
        tags=["up"],
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": BATCH_SCHEMA}}}},
    )
    def post_events(request: Request, hall: str = HALL) -> Any:
        """Store a batch of one lane (an :class:`EventBatch`); events HQ already holds are skipped, a gap is refused."""
        # the body was read, checked and decompressed by the Signed middleware; it is decoded here in one pass
        body: bytes = request.scope["hall.body"]
        try:
            lane, after, head, events = decode_batch(body)
        except Malformed as exc:
            return problem({"detail": str(exc), "field": exc.field, "lane": exc.lane}, 422)
        slip: NonceSlip | None = request.scope.get("hall.nonce")
        try:
            cursor = store.ingest(hall, lane, after, head, events, now=clock(), nonce=slip.nonce if slip else None)
        except Gap as exc:
            return problem({"detail": str(exc), "lane": exc.lane, "cursor": exc.cursor}, 409)
        except Replayed as exc:
            if slip:
                slip.kept = True
            return problem({"detail": str(exc)}, 401)
        if slip:
            slip.kept = True  # in the batch's own transaction
        return JSONResponse({"lane": lane, "cursor": cursor})

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
        keys = _wrapped_keys(hall)
        return {**body, "customer_keys": keys} if keys else body

    def _wrapped_keys(hall: str) -> list[dict[str, Any]]:
        keys = custkeys.keys_for(store, hall, now=clock())
        sync_key = store.hall_key(hall)
        return keywrap.wrap(sync_key, hall, keys) if keys and sync_key else []

    @app.get("/v1/halls/{hall}/repair-updates", responses=ERRORS, tags=["down"])
    def get_repair_updates(hall: str = HALL, after: int = Query(0, ge=0, le=2**62)) -> dict[str, Any]:
        """HQ's status updates of this hall's repair reports above ``after`` that the hall has not confirmed."""
        return {"hall": hall, "updates": repairs.pending(store, hall, after)}

    @app.get(
        "/v1/halls/{hall}/customer-keys",
        responses={**ERRORS, 204: {"description": "The hall has these keys already (`have`), or HQ issued none."}},
        tags=["down"],
    )
    def get_customer_keys(hall: str = HALL, have: str = Query("", max_length=64)) -> Any:
        """The keys customer references of this hall are made with, each wrapped for this hall (sync.keywrap)."""
        keys = _wrapped_keys(hall)
        if not keys or keywrap.digest(keys) == have:
            return Response(status_code=204)
        return {"hall": hall, "digest": keywrap.digest(keys), "keys": keys}

    @app.post("/v1/halls/{hall}/bundle-results", responses=ERRORS, tags=["down"])
    def post_bundle_result(result: BundleResult, hall: str = HALL) -> dict[str, Any]:
        """Record whether the box applied a bundle, or why it refused it."""
        store.record_bundle_result(hall, result.version, result.applied, result.error, clock())
        return {"hall": hall, "version": result.version, "applied": result.applied}

    web.register(app, store, Operators(store), clock=clock, late_s=late_s, down_s=down_s)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(BATCH_DEFS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    from sync.hq import provision

    provision.register(app, store, clock)  # unsigned: the one-time token is its authority
    wrapped: Any = Signed(app, store, clock, body_idle_s=body_idle_s, keeps_nonce=_stores_batch)
    wrapped.openapi = app.openapi  # so tests and tools can still reach the schema
    return wrapped  # type: ignore[no-any-return]


def _stores_batch(scope: dict[str, Any]) -> bool:
    """The route that keeps the request's nonce in its own transaction (see :class:`sync.hq.guard.NonceSlip`)."""
    return bool(scope["method"] == "POST" and scope["path"].endswith("/events"))


def _one_line(exc: RequestValidationError) -> dict[str, Any]:
    """Pydantic's errors as one sentence naming the first field at fault (``events[3].seq``)."""
    errors = exc.errors()
    if not errors:
        return {"detail": "malformed request"}
    first = errors[0]
    if first.get("type") == "json_invalid":
        return {"detail": f"body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}"}
    loc = [p for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ""
    for part in loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    lane = None
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and body.get("lane") in LANES:
        lane = body["lane"]
    return {"detail": f"{field or 'body'}: {first.get('msg', 'invalid')}{more}", "field": field or None, "lane": lane}


def problem(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    """A refusal as JSON, escaped to ASCII: whatever a refused body held, the answer can be sent."""
    raw = json.dumps(body, ensure_ascii=True)
    return Response(raw, status_code=status, headers=headers, media_type="application/json")


def gzip_body(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)
