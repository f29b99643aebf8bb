"""The panel's JSON API and its live stream; every route but sign-in and setup needs a session."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from edge.errors import HallError, InvalidRequest, NotFound
from edge.panel.accounts import LockedOut, LoginFailed, Session
from edge.panel.app import COOKIE, Panel, body, error_response, guard, json_reply
from edge.report.build import heatmap_file

STAFF = ("staff", "manager")
VIEWERS = ("manager", "technician")
EVERYONE = ("staff", "manager", "technician")
COUNTER_ACTIONS = ("open", "close", "call", "recall", "serve", "transfer", "noshow", "pause", "resume", "finish")
REPORT_RE = re.compile(r"^report-\d{4}-\d{2}-\d{2}\.(html|pdf)$")
HEARTBEAT_S = 15.0


def _session(request: Request) -> Session:
    session: Session = request.state.session
    return session


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def routes(panel: Panel) -> list[Route]:
    async def login(request: Request) -> Response:
        if not _same_origin(request) or not request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"error": "cross-site or non-JSON sign-in refused", "code": "csrf"}, 403)
        name = "-"
        try:
            data = await body(request)
            name, password = str(data.get("name", "")), str(data.get("password", ""))
            session = await run_in_threadpool(panel.store.login, name, password, now=time.time())
        except (LoginFailed, LockedOut, InvalidRequest) as exc:
            panel.audit(request, "login", {"_name": name or "-", "reason": exc.code}, ok=False)
            return error_response(exc)
        request.state.session = session
        panel.audit(request, "login", {})
        reply = JSONResponse({"name": session.name, "display": session.display, "role": session.role})
        reply.set_cookie(
            COOKIE, session.token, max_age=panel.settings.session_max_hours * 3600, httponly=True, samesite="strict"
        )
        return reply

    async def setup(request: Request) -> Response:
        if not _same_origin(request) or not request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"error": "cross-site or non-JSON setup refused", "code": "csrf"}, 403)
        try:
            data = await body(request)
            user = await run_in_threadpool(
                panel.store.setup,
                str(data.get("token", "")),
                str(data.get("name", "")),
                str(data.get("password", "")),
                now=time.time(),
            )
        except HallError as exc:
            panel.audit(request, "setup", {"reason": str(exc)}, ok=False)
            return error_response(exc)
        panel.audit(request, "setup", {"_name": user["name"], "created": user["name"], "role": "manager"})
        return JSONResponse({"name": user["name"], "role": user["role"]})

    @guard(panel, EVERYONE)
    async def logout(request: Request) -> Response:
        panel.store.logout(_session(request).token)
        panel.audit(request, "logout", {})
        reply = JSONResponse({"ok": True})
        reply.delete_cookie(COOKIE)
        return reply

    @guard(panel, EVERYONE)
    async def me(request: Request) -> Response:
        s = _session(request)
        return json_reply({"name": s.name, "display": s.display, "role": s.role, "csrf": s.csrf})

    @guard(panel, EVERYONE)
    async def status(request: Request) -> Response:
        return json_reply(await panel.request("queue.status"))

    @guard(panel, STAFF)
    async def counter(request: Request) -> Response:
        cid = request.path_params["cid"]
        counters = await panel.request("counter.list")
        row = next((c for c in counters if c["id"] == cid), None)
        if row is None:
            raise NotFound(f"no counter {cid!r} in this hall")
        detail = None
        if row["current"]:
            cur = row["current"]
            detail = await panel.request("ticket.show", {"number": cur["number"], "day": cur["day"]})
        return json_reply({"counter": row, "ticket": detail, "notices": list(panel.feed.notices)})

    @guard(panel, STAFF)
    async def counter_action(request: Request) -> Response:
        cid, action = request.path_params["cid"], request.path_params["action"]
        if action not in COUNTER_ACTIONS:
            raise NotFound(f"no counter action {action!r} (known: {', '.join(COUNTER_ACTIONS)})")
        data = {k: v for k, v in (await body(request)).items() if k in ("number", "business", "to_counter", "reason")}
        data["counter"] = cid
        if action == "open":
            data = {"counter": cid, "staff": _session(request).display}
        try:
            result = await panel.request(f"counter.{action}", data)
        except HallError as exc:
            panel.audit(request, f"counter.{action}", {**data, "error": str(exc)}, ok=False)
            raise
        panel.audit(request, f"counter.{action}", {**data, "number": (result or {}).get("number")})
        return json_reply(result)

    @guard(panel, VIEWERS)
    async def dashboard(request: Request) -> Response:
        status_, stats, facts, alerts = await asyncio.gather(
            panel.request("queue.status"),
            panel.request("stats.day"),
            panel.request("hall.facts"),
            panel.request("alert.list", {"state": "active"}),
        )
        try:
            bundle = await panel.request("bundle.status")
        except HallError:  # a core without the sync area
            bundle = None
        heat = heatmap_file(panel.home.root, facts)
        facts["heatmap_png"] = heat is not None
        return json_reply({"status": status_, "stats": stats, "facts": facts, "alerts": alerts, "bundle": bundle})

    @guard(panel, EVERYONE)
    async def alerts(request: Request) -> Response:
        state = "all" if request.query_params.get("state") == "all" else "active"
        return json_reply(await panel.request("alert.list", {"state": state, "limit": 100}))

    @guard(panel, EVERYONE)
    async def alert_ack(request: Request) -> Response:
        try:
            alert_id = int(request.path_params["aid"])
        except ValueError:
            raise InvalidRequest("alert id must be a number") from None
        note = str((await body(request)).get("note", ""))[:120]
        result = await panel.request("alert.acknowledge", {"id": alert_id, "by": _session(request).name, "note": note})
        panel.audit(request, "alert.acknowledge", {"id": alert_id, "rule": result["rule"]})
        return json_reply(result)

    @guard(panel, EVERYONE)
    async def rules(request: Request) -> Response:
        if request.method == "GET":
            return json_reply(await panel.request("alert.rules.get"))
        if _session(request).role != "manager":
            return JSONResponse({"error": "只有经理可以修改告警规则", "code": "forbidden"}, 403)
        data = await body(request)
        if not all(isinstance(v, dict) for v in data.values()):
            raise InvalidRequest("each rule must be an object with enabled and threshold")
        rules_in = {k: {"enabled": v.get("enabled"), "threshold": v.get("threshold")} for k, v in data.items()}
        before = await panel.request("alert.rules.get")
        result = await panel.request("alert.rules.set", {"rules": rules_in, "by": _session(request).name})
        changed = {
            k: v
            for k, v in rules_in.items()
            if k not in before or (before[k]["enabled"], before[k]["threshold"]) != (v["enabled"], v["threshold"])
        }
        panel.audit(request, "alert.rules.set", {"changed": changed})
        return json_reply(result)

    @guard(panel, ("manager",))
    async def users(request: Request) -> Response:
        if request.method == "GET":
            return json_reply(panel.store.users())
        data = await body(request)
        name, role = str(data.get("name", "")), str(data.get("role", "staff"))
        user = await run_in_threadpool(
            panel.store.add_user, name, role, str(data.get("password", "")), display=str(data.get("display", ""))
        )
        panel.audit(request, "user.add", {"user": name, "role": role})
        return json_reply(user, 201)

    @guard(panel, ("manager",))
    async def user_action(request: Request) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        data = await body(request)
        if action == "unlock":
            panel.store.unlock(name)
        elif action == "password":
            await run_in_threadpool(panel.store.set_password, name, str(data.get("password", "")))
        elif action == "disable":
            panel.store.set_disabled(name, bool(data.get("disabled", True)))
        else:
            raise NotFound(f"no user action {action!r}")
        panel.audit(request, f"user.{action}", {"user": name})
        return json_reply(panel.store.user(name))

    @guard(panel, ("manager",))
    async def audit_trail(request: Request) -> Response:
        return json_reply(panel.store.audit_rows(limit=200))

    @guard(panel, VIEWERS)
    async def heatmap(request: Request) -> Response:
        path = heatmap_file(panel.home.root, await panel.request("hall.facts"))
        if path is None:
            raise NotFound("no heatmap image from the cameras yet")
        return FileResponse(path, media_type="image/png")

    @guard(panel, ("manager",))
    async def reports(request: Request) -> Response:
        if request.method == "GET":
            panel.reports_dir.mkdir(exist_ok=True)
            names = sorted((p.name for p in panel.reports_dir.iterdir() if REPORT_RE.match(p.name)), reverse=True)
            return json_reply(names)
        from edge.report.build import build_report

        day = str((await body(request)).get("day") or "")
        paths = await run_in_threadpool(build_report, panel.bus, day or None, panel.reports_dir)
        panel.audit(request, "report.day", {"day": day or "today"})
        return json_reply({k: f"/reports/{p.name}" for k, p in paths.items()})

    @guard(panel, ("manager",))
    async def report_file(request: Request) -> Response:
        name = request.path_params["name"]
        path = panel.reports_dir / name
        if not REPORT_RE.match(name) or not path.is_file():
            raise NotFound(f"no report {name}")
        kind = "application/pdf" if name.endswith(".pdf") else "text/html; charset=utf-8"
        return FileResponse(path, media_type=kind)

    @guard(panel, EVERYONE)
    async def stream(request: Request) -> Response:
        token = _session(request).token
        q = panel.feed.attach()

        async def events() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                while True:
                    try:
                        item = await asyncio.wait_for(q.get(), HEARTBEAT_S)
                    except TimeoutError:
                        if panel.store.session(token, now=time.time()) is None:
                            yield "event: expired\ndata: {}\n\n"
                            return
                        yield ": keep-alive\n\n"
                        continue
                    yield f"data: {json.dumps(item, ensure_ascii=False)}\n\n"
            finally:
                panel.feed.detach(q)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return [
        Route("/api/login", login, methods=["POST"]),
        Route("/api/setup", setup, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/api/me", me),
        Route("/api/status", status),
        Route("/api/counters/{cid}", counter),
        Route("/api/counters/{cid}/{action}", counter_action, methods=["POST"]),
        Route("/api/dashboard", dashboard),
        Route("/api/alerts", alerts),
        Route("/api/alerts/{aid}/ack", alert_ack, methods=["POST"]),
        Route("/api/rules", rules, methods=["GET", "PUT"]),
        Route("/api/users", users, methods=["GET", "POST"]),
        Route("/api/users/{name}/{action}", user_action, methods=["POST"]),
        Route("/api/audit", audit_trail),
        Route("/api/heatmap.png", heatmap),
        Route("/api/reports", reports, methods=["GET", "POST"]),
        Route("/reports/{name}", report_file),
        Route("/api/stream", stream),
    ]
