"""The fleet view: HQ's web page for its operators, served by ``hall hq serve`` beside the sync API.

    GET  /fleet                      the page (its script and style are files of this package: no CDN)
    POST /fleet/api/signin           {name, password} → a session cookie (HttpOnly, SameSite=Strict)
    POST /fleet/api/signout          ends the session (needs the x-csrf header)
    GET  /fleet/api/me               who is signed in
    GET  /fleet/api/halls            every hall at a glance, and counts by link and region
    GET  /fleet/api/halls/{hall}     one hall: queues, devices, open alerts, bundles, repair reports
    POST /fleet/api/halls/{hall}/repairs/{reference}  {state, note}: a status for the customer (operator role)

Everything under ``/fleet/api`` but sign-in needs a session; writes need the
session's CSRF token in ``x-csrf``. Bodies are at most 4 KiB.
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from edge.schemas.repair import mask_phone
from sync.hq import fleet, repairs
from sync.hq.operators import Operators, Session

COOKIE = "hq_session"
MAX_BODY = 4096
STATIC = {"fleet.js": "text/javascript", "fleet.css": "text/css", "fleet.html": "text/html"}
SECURITY = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _asset(name: str) -> bytes:
    return resources.files("sync.hq").joinpath("static", name).read_bytes()


def register(app: FastAPI, store: Any, operators: Operators, *, clock: Any = time.time,
             late_s: float = fleet.LATE_S, down_s: float = fleet.DOWN_S) -> None:  # fmt: skip
    def problem(status: int, detail: str, **headers: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status, headers={**SECURITY, **headers})

    def ok(body: Any) -> JSONResponse:
        return JSONResponse(body, headers=SECURITY)

    def who(request: Request) -> Session | None:
        return operators.session(request.cookies.get(COOKIE), now=clock())

    async def small_json(request: Request) -> dict[str, Any] | JSONResponse:
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_BODY:
            return problem(413, f"a body of at most {MAX_BODY} bytes, with its content-length")
        try:
            body = await request.json()
        except ValueError:
            return problem(422, "the body is not JSON")
        if not isinstance(body, dict):
            return problem(422, "the body is a JSON object")
        return body

    @app.get("/fleet", include_in_schema=False)
    def page() -> Response:
        return Response(_asset("fleet.html"), media_type="text/html; charset=utf-8", headers=SECURITY)

    @app.get("/fleet/static/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in STATIC:
            return problem(404, "no such file")
        return Response(_asset(name), media_type=f"{STATIC[name]}; charset=utf-8", headers=SECURITY)

    @app.post("/fleet/api/signin", include_in_schema=False)
    async def signin(request: Request) -> Response:
        body = await small_json(request)
        if isinstance(body, JSONResponse):
            return body
        name, password = body.get("name"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            return problem(422, "name and password are strings")
        address = request.client.host if request.client else "?"
        outcome = await asyncio.to_thread(operators.sign_in, name, password, address, now=clock())
        if not outcome.ok or outcome.user is None:
            status = {"throttled": 429, "busy": 503, "invalid": 422}.get(outcome.reason, 401)
            extra = {"retry-after": str(int(outcome.retry_after))} if outcome.retry_after else {}
            return problem(status, outcome.message, **extra)
        token, session = await asyncio.to_thread(operators.open_session, outcome.user["name"], now=clock())
        resp = ok({"name": session.name, "role": session.role, "csrf": session.csrf})
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/fleet",
                        secure=request.url.scheme == "https")  # fmt: skip
        return resp

    @app.post("/fleet/api/signout", include_in_schema=False)
    def signout(request: Request) -> Response:
        session = who(request)
        if session is None:
            return problem(401, "not signed in")
        if request.headers.get("x-csrf") != session.csrf:
            return problem(403, "missing or wrong x-csrf token")
        operators.close_session(request.cookies.get(COOKIE, ""))
        resp = ok({"signed_out": session.name})
        resp.delete_cookie(COOKIE, path="/fleet")
        return resp

    @app.get("/fleet/api/me", include_in_schema=False)
    def me(request: Request) -> Response:
        session = who(request)
        if session is None:
            return problem(401, "not signed in")
        return ok({"name": session.name, "role": session.role, "csrf": session.csrf})

    @app.get("/fleet/api/halls", include_in_schema=False)
    def halls(request: Request) -> Response:
        if who(request) is None:
            return problem(401, "not signed in")
        rows = fleet.rows(store, now=clock(), late_s=late_s, down_s=down_s)
        return ok({"summary": fleet.summary(rows), "halls": rows})

    @app.get("/fleet/api/halls/{hall}", include_in_schema=False)
    def hall(request: Request, hall: str) -> Response:
        session = who(request)
        if session is None:
            return problem(401, "not signed in")
        page = fleet.hall_page(store, hall, now=clock(), late_s=late_s, down_s=down_s)
        page["repairs"] = repairs.listing(store, hall=hall)[:20]
        if not session.may("operator"):  # the crew's phone numbers are for those who act on reports
            for r in page["repairs"]:
                r["phone"] = mask_phone(r["phone"])
        return ok(page)

    @app.post("/fleet/api/halls/{hall}/repairs/{reference}", include_in_schema=False)
    async def repair_update(request: Request, hall: str, reference: str) -> Response:
        session = await asyncio.to_thread(who, request)
        if session is None:
            return problem(401, "not signed in")
        if request.headers.get("x-csrf") != session.csrf:
            return problem(403, "missing or wrong x-csrf token")
        if not session.may("operator"):
            return problem(403, f"{session.name} is a {session.role}: answering repair reports needs an operator")
        body = await small_json(request)
        if isinstance(body, JSONResponse):
            return body
        state, note = body.get("state"), body.get("note", "")
        if not isinstance(state, str) or not isinstance(note, str):
            return problem(422, "state and note are strings")
        update_id = await asyncio.to_thread(repairs.update, store, hall, reference, state, note, operator=session.name)
        return ok({"update_id": update_id, "reference": reference, "state": state})
