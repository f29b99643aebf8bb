"""The panel's JSON API and its live stream; every route but sign-in and setup needs a session."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from edge.errors import BusError, HallError, InvalidRequest, NotFound
from edge.panel import bodies
from edge.panel.accounts import Session
from edge.panel.app import COOKIE, Panel, body, error_response, guard, is_json, json_reply, refuse
from edge.panel.counters import FIELDS, Desk
from edge.panel.store import StoreError
from edge.report.build import heatmap_file

STAFF = ("staff", "manager")
VIEWERS = ("manager", "technician")
EVERYONE = ("staff", "manager", "technician")
REPORT_RE = re.compile(r"^report-\d{4}-\d{2}-\d{2}\.(html|pdf)$")
HEARTBEAT_S = 15.0
FACE_AUDIT_WAIT_S = 5.0


class VisionSilent(BusError):
    """The vision service did not answer a question in time (503)."""

    code = "vision_down"


def _session(request: Request) -> Session:
    session: Session = request.state.session
    return session


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


def set_session_cookie(panel: Panel, reply: Response, token: str) -> None:
    max_age = panel.settings.session_max_hours * 3600
    reply.set_cookie(COOKIE, token, max_age=max_age, httponly=True, secure=True, samesite="strict")


def routes(panel: Panel) -> list[Route]:
    login_threads = anyio.CapacityLimiter(panel.settings.login_slots + 64)  # the rest wait without a thread

    def refused_request(request: Request, what: str) -> Response | None:
        if not _same_origin(request):
            return refuse(f"跨站{what}被拒绝 (cross-site {what} refused)", "csrf", 403)
        if not is_json(request):
            return refuse("请求须为 JSON (send application/json)", "invalid", 415)
        return None

    async def login(request: Request) -> Response:
        refused = refused_request(request, "sign-in")
        if refused is not None:
            return refused
        name, password = bodies.login(await body(request))
        verify = functools.partial(panel.signin.verify, name, password, _address(request))
        try:
            outcome = await anyio.to_thread.run_sync(verify, limiter=login_threads)
        except StoreError as exc:  # nothing can be counted, so nothing is checked
            panel.audit(request, "login", {"_name": name or "-", "reason": "storage"}, ok=False)
            return error_response(exc)
        if not outcome.ok or outcome.user is None:
            panel.audit(request, "login", {"_name": name or "-", "reason": outcome.reason}, ok=False)
            status = {"wrong": 401, "throttled": 429, "busy": 503, "invalid": 400}[outcome.reason]
            reply = refuse(outcome.message, outcome.reason, status)
            if outcome.retry_after:
                reply.headers["Retry-After"] = str(int(outcome.retry_after))
            return reply
        session = panel.store.open_session(outcome.user["name"], now=time.time())
        request.state.session = session
        panel.audit(request, "login", {})
        reply = JSONResponse({"name": session.name, "display": session.display, "role": session.role})
        set_session_cookie(panel, reply, session.token)
        return reply

    async def setup(request: Request) -> Response:
        refused = refused_request(request, "setup")
        if refused is not None:
            return refused
        try:
            token, name, password = bodies.setup(await body(request))
            user = await run_in_threadpool(panel.store.setup, token, name, password, now=time.time())
        except HallError as exc:
            panel.audit(request, "setup", {"reason": str(exc)[:200]}, ok=False)
            return error_response(exc)
        panel.audit(request, "setup", {"_name": user["name"], "created": user["name"], "role": "manager"})
        return JSONResponse({"name": user["name"], "role": user["role"]})

    @guard(panel, EVERYONE)
    async def logout(request: Request) -> Response:
        panel.store.logout(_session(request).token)
        panel.audit(request, "logout", {})
        reply = JSONResponse({"ok": True})
        reply.delete_cookie(COOKIE, secure=True, httponly=True, samesite="strict")
        return reply

    @guard(panel, EVERYONE)
    async def me(request: Request) -> Response:
        s = _session(request)
        return json_reply({"name": s.name, "display": s.display, "role": s.role, "csrf": s.csrf})

    @guard(panel, EVERYONE)
    async def status(request: Request) -> Response:
        return json_reply(await panel.request("queue.status"))

    desk = Desk(panel)

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
        reply = {"counter": row, "desk": desk.view(_session(request), row), "ticket": detail}
        return json_reply({**reply, "notices": list(panel.feed.notices)})

    @guard(panel, STAFF)
    async def counter_action(request: Request) -> Response:
        cid, action = request.path_params["cid"], request.path_params["action"]
        data = await body(request)
        detail = {"counter": cid, **{k: v for k, v in data.items() if k in FIELDS and isinstance(v, str)}}
        try:
            result = await desk.act(_session(request), cid, action, data)
        except HallError as exc:
            panel.audit(request, f"counter.{action[:16]}", {**detail, "error": str(exc)}, ok=False)
            raise
        panel.audit(request, f"counter.{action}", {**detail, "number": (result or {}).get("number")})
        return json_reply(result)

    @guard(panel, VIEWERS)
    async def dashboard(request: Request) -> Response:
        status_, stats, facts, alerts, occupancy = await asyncio.gather(
            panel.request("queue.status"),
            panel.request("stats.day"),
            panel.request("hall.facts"),
            panel.request("alert.list", {"state": "active"}),
            panel.request("occupancy.get"),  # people in the hall: beams, cameras and the queue reconciled
        )
        try:
            bundle = await panel.request("bundle.status")
        except HallError:  # a core without the sync area
            bundle = None
        heat = heatmap_file(panel.home.root, facts)
        facts["heatmap_png"] = heat is not None
        return json_reply(
            {
                "status": status_,
                "stats": stats,
                "facts": facts,
                "alerts": alerts,
                "bundle": bundle,
                "occupancy": occupancy,
            }
        )

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
        note = bodies.note(await body(request))
        result = await panel.request("alert.acknowledge", {"id": alert_id, "by": _session(request).name, "note": note})
        panel.audit(request, "alert.acknowledge", {"id": alert_id, "rule": result["rule"]})
        return json_reply(result)

    @guard(panel, EVERYONE)
    async def rules(request: Request) -> Response:
        if request.method == "GET":
            return json_reply(await panel.request("alert.rules.get"))
        if _session(request).role != "manager":
            return JSONResponse({"error": "只有经理可以修改告警规则", "code": "forbidden"}, 403)
        rules_in = bodies.rules(await body(request))
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
        name, role, password, display = bodies.new_user(await body(request))
        user = await run_in_threadpool(panel.store.add_user, name, role, password, display=display, now=time.time())
        panel.audit(request, "user.add", {"user": name, "role": role})
        return json_reply(user, 201)

    @guard(panel, ("manager",))
    async def user_action(request: Request) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        data = await body(request)
        if action == "unlock":
            panel.store.user(name)
            panel.signin.unlock(name)
        elif action == "password":
            await run_in_threadpool(panel.store.set_password, name, bodies.password(data))
        elif action == "disable":
            panel.store.set_disabled(name, bodies.disabled(data))
        else:
            raise NotFound(f"no user action {action!r}")
        panel.audit(request, f"user.{action}", {"user": name})
        return json_reply(panel.store.user(name))

    @guard(panel, ("manager",))
    async def audit_trail(request: Request) -> Response:
        return json_reply(panel.store.audit_rows(limit=200))

    @guard(panel, ("manager",))
    async def face_audit(request: Request) -> Response:
        """The vision service's face audit (matches, refusals, enrolments, deletions), asked over the bus."""
        try:
            since = float(request.query_params.get("since", "0"))
        except ValueError:
            raise InvalidRequest("since 须为 Unix 时间 (since must be a Unix time)") from None
        rid = uuid.uuid4().hex
        panel.feed.answers.expect(rid)
        asked = {"request": rid, "since": max(0.0, since), "limit": 200}
        await panel.request("event.publish", {"topic": "face.audit.requested", "data": asked, "durable": False})
        answer = await run_in_threadpool(panel.feed.answers.wait, rid, FACE_AUDIT_WAIT_S)
        if answer is None:
            raise VisionSilent("人脸识别服务未应答，审计记录暂时无法查看 (the vision service did not answer)")
        panel.audit(request, "face.audit.view", {"since": since, "records": len(answer["records"])})
        records = [{**r, "ref": r["ref"][:8] + "…" if r["ref"] else ""} for r in answer["records"]]
        return json_reply({"records": records, "more": answer.get("more", False)})

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

        day = bodies.day(await body(request))
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
        Route("/api/face-audit", face_audit),
        Route("/api/heatmap.png", heatmap),
        Route("/api/reports", reports, methods=["GET", "POST"]),
        Route("/reports/{name}", report_file),
        Route("/api/stream", stream),
    ]
