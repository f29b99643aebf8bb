"""``hall panel``: the staff web app, served by the box on the hall's LAN.

Every page and API answers only with a session (cookie ``hall_session``,
HttpOnly, SameSite=Strict); every state-changing request needs the session's
CSRF token in the ``X-CSRF-Token`` header and a JSON body; every action is
written to the audit trail (``panel.db`` and the hall log as
``audit.recorded``). With no account yet, the panel prints a one-time setup
token and serves ``/setup`` to create the first manager::

    hall panel --host 0.0.0.0 --port 8080

All assets (scripts, styles) are files of this package; fonts are the box's
own (Debian's ``fonts-wqy-microhei``). Nothing is fetched from the Internet.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.bus import BusClient
from edge.errors import BusError, Conflict, HallError, InvalidRequest, NotFound, RemoteError
from edge.panel.accounts import LockedOut, LoginFailed, Session, Store
from edge.panel.live import AuditShipper, Feed, redact
from edge.panel.settings import PanelSettings
from edge.paths import Home

log = logging.getLogger("hall.panel")
HERE = Path(__file__).parent
COOKIE = "hall_session"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PAGES = {"counter": ("staff", "manager"), "dashboard": ("manager", "technician"), "admin": ("manager",)}
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"

Endpoint = Callable[[Request], Awaitable[Response]]


class Panel:
    """What the routes share: the account store, a bus client, the live feed, the hall's home."""

    def __init__(self, home: Home, settings: PanelSettings, *, bus: BusClient | None = None) -> None:
        self.home = home.ensure()
        self.settings = settings
        self.store = Store(
            str(home.root / "panel.db"),
            idle_s=settings.session_idle_minutes * 60,
            max_age_s=settings.session_max_hours * 3600,
            max_failures=settings.lockout_failures,
            lockout_s=settings.lockout_minutes * 60,
        )
        self.bus = bus or BusClient("panel", timeout=3.0, retries=1)
        self.feed = Feed()
        self.shipper = AuditShipper(self.store, self.bus)
        self.reports_dir = home.root / "reports"

    async def request(self, topic: str, data: dict[str, Any] | None = None) -> Any:
        return await run_in_threadpool(self.bus.request, topic, data or {})

    def audit(self, request: Request, action: str, detail: dict[str, Any], *, ok: bool = True) -> None:
        session: Session | None = getattr(request.state, "session", None)
        self.store.audit(
            name=session.name if session else str(detail.pop("_name", "-")),
            role=session.role if session else "-",
            action=action,
            detail=detail,
            ok=ok,
            ip=request.client.host if request.client else "-",
            now=time.time(),
        )
        self.shipper.wake.set()


def error_response(exc: HallError) -> JSONResponse:
    status = {
        InvalidRequest: 400,
        NotFound: 404,
        Conflict: 409,
        LoginFailed: 401,
        LockedOut: 423,
    }.get(type(exc), 503 if isinstance(exc, BusError) else 400)
    if exc.code in ("invalid", "not_found", "conflict") and status == 400:
        status = {"invalid": 400, "not_found": 404, "conflict": 409}[exc.code]
    elif isinstance(exc, RemoteError):
        status = 502  # the core failed, not the request
    return JSONResponse({"error": str(exc), "code": exc.code}, status_code=status)


def guard(panel: Panel, roles: tuple[str, ...] | None = None, *, page: bool = False) -> Callable[[Endpoint], Endpoint]:
    """Require a live session (and one of ``roles``); for writes, a JSON body and the CSRF header."""

    def wrap(fn: Endpoint) -> Endpoint:
        @functools.wraps(fn)
        async def inner(request: Request) -> Response:
            session = panel.store.session(request.cookies.get(COOKIE), now=time.time())
            if session is None:
                if page:
                    return RedirectResponse("/login", status_code=303)
                return JSONResponse({"error": "请先登录 (sign in first)", "code": "unauthorized"}, status_code=401)
            if roles is not None and session.role not in roles:
                if page:
                    return RedirectResponse("/", status_code=303)
                return JSONResponse({"error": "无权限 (not allowed for your role)", "code": "forbidden"}, 403)
            request.state.session = session
            if request.method in WRITE_METHODS:
                if not panel.store.csrf_ok(session, request.headers.get("x-csrf-token")):
                    panel.audit(request, "csrf.refused", {"path": request.url.path}, ok=False)
                    return JSONResponse({"error": "CSRF token missing or wrong", "code": "csrf"}, status_code=403)
                if not request.headers.get("content-type", "").startswith("application/json"):
                    return JSONResponse({"error": "send JSON", "code": "invalid"}, status_code=415)
            try:
                return await fn(request)
            except HallError as exc:
                return error_response(exc)

        return inner

    return wrap


async def body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise InvalidRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("body must be a JSON object")
    return data


def json_reply(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(redact(value), status_code=status)


class SecurityHeaders:
    """Adds CSP and friends to every response; no caching of anything but static assets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapped)


def build_app(panel: Panel, *, start_threads: bool = True) -> Starlette:
    from contextlib import asynccontextmanager

    from edge.panel import api

    async def home(request: Request) -> Response:
        session = panel.store.session(request.cookies.get(COOKIE), now=time.time())
        if session is None:
            return RedirectResponse("/setup" if not panel.store.has_users() else "/login", status_code=303)
        return RedirectResponse("/counter" if session.role in ("staff", "manager") else "/dashboard", 303)

    def page(name: str) -> Endpoint:
        async def show(request: Request) -> Response:
            return FileResponse(HERE / "pages" / f"{name}.html", media_type="text/html; charset=utf-8")

        return show

    async def setup_page(request: Request) -> Response:
        if panel.store.has_users():
            return RedirectResponse("/login", status_code=303)
        return FileResponse(HERE / "pages" / "setup.html", media_type="text/html; charset=utf-8")

    routes = [
        Route("/", home),
        Route("/login", page("login")),
        Route("/setup", setup_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        *[Route(f"/{name}", guard(panel, roles, page=True)(page(name))) for name, roles in PAGES.items()],
        *api.routes(panel),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        if start_threads:
            panel.feed.start()
            panel.shipper.start()
        yield
        panel.feed.stop.set()
        panel.shipper.stop.set()
        panel.shipper.wake.set()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hall panel", description="Serve the staff panel (counters, dashboard, alerts).")
    p.add_argument("--host", help="address to listen on (default from [services.panel], else 0.0.0.0)")
    p.add_argument("--port", type=int, help="TCP port (default from [services.panel], else 8080)")
    p.add_argument("--config", help="hall config file (TOML)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from edge import config

    try:
        cfg = config.load(a.config)
        settings = config.service_config(cfg, "panel", PanelSettings)
        panel = Panel(Home.from_env(), settings)
    except HallError as exc:
        print(f"hall panel: {exc}", file=sys.stderr)
        return 2
    host = a.host or settings.host
    port = a.port if a.port is not None else settings.port
    if not panel.store.has_users():
        token = panel.store.new_setup_token()
        print(
            f"hall panel: no accounts yet. Open http://{host}:{port}/setup and enter the setup token {token}"
            " to create the first manager (or run: hall users add NAME --role manager)",
            file=sys.stderr,
            flush=True,
        )
    import uvicorn

    from edge.proc import set_title

    set_title("hall panel")
    server = uvicorn.Server(
        uvicorn.Config(build_app(panel), host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    )
    log.info("panel of hall %s on http://%s:%d", cfg.hall.id, host, port)
    server.run()
    return 0
