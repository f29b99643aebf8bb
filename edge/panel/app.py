"""``hall panel``: the staff web app, served by the box over HTTPS on the hall's LAN.

Every page and API answers only with a session (cookie ``hall_session``,
Secure, HttpOnly, SameSite=Strict); every state-changing request needs the
session's CSRF token in the ``X-CSRF-Token`` header and a JSON body no larger
than ``max_body_kb``; every action is written to the audit trail (``panel.db``
and the hall log as ``audit.recorded``). With no account yet, the panel prints
a one-time setup token and serves ``/setup`` to create the first manager::

    hall panel --host 192.168.10.2 --port 8443

All assets (scripts, styles) are files of this package; fonts are the box's
own (Debian's ``fonts-wqy-microhei``). Nothing is fetched from the Internet.
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from edge.bus import BusClient
from edge.errors import BusError, Conflict, HallError, InvalidRequest, NotFound, RemoteError
from edge.panel import bodies
from edge.panel.accounts import Forbidden, LockedOut, LoginFailed, PanelError, Session, Store
from edge.panel.bodies import text as text  # routes elsewhere read fields with it
from edge.panel.live import AuditShipper, Feed, redact
from edge.panel.middleware import BodyLimit, SecurityHeaders
from edge.panel.settings import PanelSettings
from edge.panel.signin import Rules, SignIn
from edge.panel.store import StoreError, StoreFull
from edge.paths import Home

log = logging.getLogger("hall.panel")
HERE = Path(__file__).parent
COOKIE = "hall_session"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PAGES = {
    "counter": ("staff", "manager"),
    "dashboard": ("manager", "technician"),
    "ops": ("staff", "manager"),
    "admin": ("manager",),
}
CORE_DOWN = "叫号核心服务暂时无响应，操作未执行；面板会自动重连，请稍后再试 (the hall core is not answering)"
CORE_RETRY_S = 2.0
OPEN_RETRY_S = 2.0  # a panel that cannot open panel.db for want of disk space tries again this often

Endpoint = Callable[[Request], Awaitable[Response]]


class CoreDown(PanelError):
    """The core did not answer; the panel keeps serving what it has and tries again shortly."""

    code = "core_down"


class Panel:
    """What the routes share: the account store, sign-in rules, a bus client, the live feed, the hall's home."""

    def __init__(self, home: Home, settings: PanelSettings, *, bus: BusClient | None = None) -> None:
        self.home = home.ensure()
        self.settings = settings
        self.store = Store(
            str(home.root / "panel.db"),
            idle_s=settings.session_idle_minutes * 60,
            max_age_s=settings.session_max_hours * 3600,
        )
        self.signin = SignIn(
            self.store,
            Rules(
                free_failures=settings.lockout_failures,
                address_free_failures=settings.address_failures,
                max_delay_s=settings.lockout_minutes * 60,
                slots=settings.login_slots,
            ),
        )
        self.bus = bus or BusClient("panel", timeout=3.0, retries=1, down_s=CORE_RETRY_S)
        self.feed = Feed()
        self.shipper = AuditShipper(self.store, BusClient("panel-audit", timeout=3.0, retries=0))
        self.reports_dir = home.root / "reports"
        self.unsaved: deque[dict[str, Any]] = deque(maxlen=1000)  # audit rows waiting for room on the disk
        self.unsaved_lock = threading.Lock()

    async def request(self, topic: str, data: dict[str, Any] | None = None) -> Any:
        return await run_in_threadpool(self.core, topic, data or {})

    def core(self, topic: str, data: dict[str, Any]) -> Any:
        """A request to the core; while it is down, answered at once (one try every 2 s) with a clear sentence.

        Requests run side by side (:class:`edge.bus.BusClient`); after one goes unanswered, the others
        fail at once for ``CORE_RETRY_S`` instead of each waiting out its timeout.
        """
        try:
            return self.bus.request(topic, data)
        except BusError as exc:
            log.warning("core not answering %s: %s", topic, exc)
            raise CoreDown(CORE_DOWN) from exc

    def audit(self, request: Request, action: str, detail: dict[str, Any], *, ok: bool = True) -> None:
        session: Session | None = getattr(request.state, "session", None)
        row = {
            "name": session.name if session else str(detail.pop("_name", "-")),
            "role": session.role if session else "-",
            "action": action,
            "detail": detail,
            "ok": ok,
            "ip": request.client.host if request.client else "-",
            "now": time.time(),
        }
        self.keep_audit(row)
        self.shipper.wake.set()

    def keep_audit(self, row: dict[str, Any]) -> None:
        """Write an audit row; when panel.db cannot take it, hold it in memory and write it once there is room."""
        with self.unsaved_lock:
            try:
                while self.unsaved:
                    self.store.audit(**self.unsaved[0])
                    self.unsaved.popleft()
                self.store.audit(**row)
            except StoreError as exc:
                if len(self.unsaved) == self.unsaved.maxlen:
                    log.error("audit row lost, %d held in memory already: %s", len(self.unsaved), row["action"])
                self.unsaved.append(row)
                log.error("audit row held in memory (%d waiting): %s", len(self.unsaved), exc)

    def flush_audit(self) -> None:
        with self.unsaved_lock:
            try:
                while self.unsaved:
                    self.store.audit(**self.unsaved[0])
                    self.unsaved.popleft()
            except StoreError:
                pass


STATUS = {
    Forbidden: 403,
    InvalidRequest: 400,
    NotFound: 404,
    Conflict: 409,
    LoginFailed: 401,
    LockedOut: 423,
    CoreDown: 503,
}


def error_response(exc: HallError) -> JSONResponse:
    status = STATUS.get(type(exc), 503 if isinstance(exc, (BusError, StoreError)) else 400)
    if exc.code in ("invalid", "not_found", "conflict") and status == 400:
        status = {"invalid": 400, "not_found": 404, "conflict": 409}[exc.code]
    elif isinstance(exc, RemoteError):
        status = 502  # the core failed, not the request
    headers = {"Retry-After": "2"} if status == 503 else None
    return JSONResponse({"error": str(exc), "code": exc.code}, status_code=status, headers=headers)


def refuse(message: str, code: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status)


def is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


def guard(panel: Panel, roles: tuple[str, ...] | None = None, *, page: bool = False) -> Callable[[Endpoint], Endpoint]:
    """Require a live session (and one of ``roles``); for writes, a JSON body and the CSRF header."""

    def wrap(fn: Endpoint) -> Endpoint:
        @functools.wraps(fn)
        async def inner(request: Request) -> Response:
            session = panel.store.session(request.cookies.get(COOKIE), now=time.time())
            if session is None:
                if page:
                    return RedirectResponse("/login", status_code=303)
                return refuse("请先登录 (sign in first)", "unauthorized", 401)
            if roles is not None and session.role not in roles:
                if page:
                    return RedirectResponse("/", status_code=303)
                return refuse("无权限 (not allowed for your role)", "forbidden", 403)
            request.state.session = session
            if request.method in WRITE_METHODS:
                if not panel.store.csrf_ok(session, request.headers.get("x-csrf-token")):
                    panel.audit(request, "csrf.refused", {"path": request.url.path[:200]}, ok=False)
                    return refuse("CSRF 令牌缺失或错误，请刷新页面 (CSRF token missing or wrong)", "csrf", 403)
                if not is_json(request):
                    return refuse("请求须为 JSON (send application/json)", "invalid", 415)
            try:
                return await fn(request)
            except HallError as exc:
                return error_response(exc)

        return inner

    return wrap


async def body(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object (:func:`edge.panel.bodies.parse`)."""
    return bodies.parse(await request.body())


def json_reply(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(redact(value), status_code=status)


async def hall_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HallError)
    return error_response(exc)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("panel failed on %s %s", request.method, request.url.path, exc_info=exc)
    return refuse("面板内部出错，已记入日志；请重试或联系技术员 (panel error, logged)", "error", 500)


def build_app(panel: Panel, *, start_threads: bool = True) -> Starlette:
    from contextlib import asynccontextmanager

    from edge.panel import api, forms, ops_api

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
        *forms.routes(panel),  # before api's /api/counters/{cid}/{action}
        *api.routes(panel),
        *ops_api.routes(panel),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        if start_threads:
            panel.feed.start()
            panel.shipper.start(before=panel.flush_audit)
        yield
        panel.feed.stop.set()
        panel.shipper.stop.set()
        panel.shipper.wake.set()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HallError: hall_error, Exception: internal_error},
    )
    app.add_middleware(BodyLimit, max_bytes=panel.settings.max_body_kb * 1024)
    app.add_middleware(SecurityHeaders)
    return app


def _open_panel(home: Home, settings: PanelSettings) -> Panel | None:
    """The panel, once panel.db opens: on a full disk it waits for room (None if stopped meanwhile)."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    said = False
    while not stopping.is_set():
        try:
            return Panel(home, settings)
        except StoreFull as exc:  # not a setting to fix: serve as soon as there is room
            if not said:
                print(f"hall panel: {exc}; waiting for room (trying every {OPEN_RETRY_S:g} s)", file=sys.stderr)
                said = True
            stopping.wait(OPEN_RETRY_S)
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hall panel", description="Serve the staff panel (counters, dashboard, alerts).")
    p.add_argument("--host", help="address to listen on (default from [services.panel], else 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTPS port (default from [services.panel], else 8443)")
    p.add_argument("--redirect-port", type=int, help="plain-HTTP port that redirects to HTTPS (0: none; default 8080)")
    p.add_argument("--config", help="hall config file (TOML)")
    a = p.parse_args(argv)
    from edge.panel import serve
    from edge.proc import start

    started = start("hall panel", a.config, "panel", PanelSettings)
    cfg = started.config
    try:
        overrides = {"host": a.host, "port": a.port, "redirect_port": a.redirect_port}
        settings = PanelSettings.model_validate(
            {**started.settings.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        )
        panel = _open_panel(started.home, settings)
        if panel is None:
            return 1
        cert = serve.certificate(panel.home, settings, cfg.hall.id)
    except HallError as exc:
        print(f"hall panel: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # pydantic's, for options given on the command line
        print(f"hall panel: {exc}", file=sys.stderr)
        return 2
    return serve.run(panel, build_app(panel), cert, hall=cfg.hall.id)
