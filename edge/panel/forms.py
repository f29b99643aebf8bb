"""The clerk's side of paperless forms: fill a form, push it to the counter's pad, see it signed, cancel.

Routes (all need a session; writes the CSRF header and a JSON body):

- ``GET /api/forms?business=C``: the form templates in force.
- ``GET /api/counters/{cid}/form``: the counter's ticket and open form (what its pad shows).
- ``POST /api/counters/{cid}/form`` ``{"form": "name_change", "values": {…}}``: push to the pad. An ID
  field takes ``{"number": "…"}`` (typed by the clerk), ``"customer"`` (the called customer's card) or
  ``"keep"`` (what the open form holds, when the clerk corrects another field):
  the panel turns either into the masked form and the hall's keyed hash at once, so the number itself
  goes no further than this process (not to the core, the log, the audit trail or HQ).
- ``POST /api/counters/{cid}/form/cancel`` ``{"reason": "…"}``: take the open form back.
- Pushing and cancelling are for whoever signed in at the counter, or a manager (see
  :mod:`edge.panel.counters`).
- ``GET /api/records?day=&counter=``, ``GET /api/records/verify?day=``, ``GET /api/records/{id}``
  (the record, whether it verifies), ``GET /api/records/{id}/signature.png`` and
  ``GET /api/records/{id}/receipt.pdf`` (the customer's receipt, on request).
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge.errors import InvalidRequest, NotFound
from edge.identity import Keyring
from edge.panel import bodies
from edge.panel.accounts import Forbidden

if TYPE_CHECKING:
    from edge.panel.app import Panel

STAFF = ("staff", "manager")
EVERYONE = ("staff", "manager", "technician")
RECORD_RE = re.compile(r"^R\d{8}-\d{4,6}$")
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _id_value(
    panel: Panel, field: str, raw: Any, customer: dict[str, Any] | None, open_form: dict[str, Any] | None
) -> dict[str, str]:
    """An ID field's value as the core takes it: masked form and keyed hash, never the number."""
    if raw == "keep":  # what the open form holds already (the clerk corrects another field)
        for f in (open_form or {}).get("fields", []):
            if f["key"] == field and f.get("hash"):
                return {"masked": str(f["value"]), "hash": str(f["hash"])}
        raise InvalidRequest(f"{field}: there is no ID number to keep: give the number again")
    if raw == "customer":
        if not customer or customer.get("kind") != "id":
            raise InvalidRequest(f"{field}: the called customer has not identified with an ID card")
        return {"masked": str(customer["masked"]), "hash": str(customer["hash"])}
    if isinstance(raw, dict) and isinstance(raw.get("number"), str):
        ring = Keyring.load(panel.home.customer_keys_path, panel.home.secret_path)  # HQ's customer key in force
        ref = ring.ref("id", raw["number"])
        return {"masked": ref.masked, "hash": ref.hash}
    raise InvalidRequest(f'{field}: give {{"number": "…"}}, "customer" or "keep" for an ID field')


def routes(panel: Panel) -> list[Route]:
    from edge import config
    from edge.panel.app import body, guard, json_reply
    from edge.panel.counters import Desk

    zone = config.load().hall.timezone  # receipts show the hall's local time
    desk = Desk(panel)

    async def holds(request: Request, cid: str) -> None:
        """Only who signed in at the counter, or a manager, pushes forms to its pad or takes them back."""
        counters: list[dict[str, Any]] = await panel.request("counter.list")
        row = next((c for c in counters if c["id"] == cid), None)
        if row is None:
            raise NotFound(f"no counter {cid!r} in this hall")
        if not desk.view(request.state.session, row)["can_act"]:
            raise Forbidden(f"{row['name']} 不是您签入的窗口 (counter {cid} is signed in by someone else)")

    def _session_name(request: Request) -> str:
        return str(request.state.session.name)

    def _display(request: Request) -> str:
        return str(request.state.session.display)

    @guard(panel, EVERYONE)
    async def templates(request: Request) -> Response:
        business = request.query_params.get("business")
        data = {"business": business} if business else {}
        return json_reply(await panel.request("form.templates", data))

    @guard(panel, STAFF)
    async def current(request: Request) -> Response:
        return json_reply(await panel.request("form.current", {"counter": request.path_params["cid"]}))

    @guard(panel, STAFF)
    async def push(request: Request) -> Response:
        cid = request.path_params["cid"]
        await holds(request, cid)
        form, values = bodies.form_push(await body(request))
        templates = await panel.request("form.templates")
        template = next((t for t in templates if t["id"] == form), None)
        kinds = {f["key"]: f["format"] for f in template["fields"]} if template else {}
        now = await panel.request("form.current", {"counter": cid})
        customer = (now.get("ticket") or {}).get("customer")
        out: dict[str, Any] = {}
        for key, raw in values.items():
            if kinds.get(key) == "id" and raw not in (None, ""):
                out[key] = _id_value(panel, str(key), raw, customer, now.get("form"))
            else:
                out[key] = raw
        try:
            result = await panel.request(
                "form.push", {"counter": cid, "form": form, "values": out, "staff": _display(request)}
            )
        except Exception as exc:
            panel.audit(request, "form.push", {"counter": cid, "form": form, "error": str(exc)}, ok=False)
            raise
        panel.audit(request, "form.push", {"counter": cid, "form": form, "id": result["id"], "fields": sorted(out)})
        return json_reply(result)

    @guard(panel, STAFF)
    async def cancel(request: Request) -> Response:
        cid = request.path_params["cid"]
        await holds(request, cid)
        reason = bodies.cancel_reason(await body(request))
        result = await panel.request("form.cancel", {"counter": cid, "by": _session_name(request), "reason": reason})
        panel.audit(request, "form.cancel", {"counter": cid, "id": result["id"]})
        return json_reply(result)

    def _day(request: Request) -> dict[str, Any]:
        day = request.query_params.get("day")
        if day and not DAY_RE.match(day):
            raise InvalidRequest("day must be YYYY-MM-DD")
        return {"day": day} if day else {}

    @guard(panel, EVERYONE)
    async def records(request: Request) -> Response:
        data = _day(request)
        counter = request.query_params.get("counter")
        if counter:
            data["counter"] = counter
        return json_reply(await panel.request("record.list", data))

    @guard(panel, EVERYONE)
    async def verify(request: Request) -> Response:
        return json_reply(await panel.request("record.verify", _day(request)))

    async def _shown(request: Request) -> dict[str, Any]:
        rid = request.path_params["rid"]
        if not RECORD_RE.match(rid):
            raise InvalidRequest(f"no record id {rid!r} (R20261130-0007)")
        shown: dict[str, Any] = await panel.request("record.show", {"id": rid})
        return shown

    @guard(panel, EVERYONE)
    async def record(request: Request) -> Response:
        shown = await _shown(request)
        shown.pop("rendered_png", None)
        record = shown.get("record") or {}
        if isinstance(record.get("signature"), dict):  # the strokes are for machines; people see the picture
            record["signature"] = {k: v for k, v in record["signature"].items() if k != "strokes"}
        return json_reply(shown)

    @guard(panel, EVERYONE)
    async def picture(request: Request) -> Response:
        shown = await _shown(request)
        return Response(base64.b64decode(shown["rendered_png"]), media_type="image/png")

    @guard(panel, STAFF)
    async def receipt(request: Request) -> Response:
        from edge.records.receipt import receipt_pdf

        shown = await _shown(request)
        status = await panel.request("queue.status")
        hall = status.get("hall") or {}
        png = base64.b64decode(shown["rendered_png"])
        pdf = await run_in_threadpool(receipt_pdf, shown["record"], png, hall_name=str(hall.get("name", "")), zone=zone)
        panel.audit(request, "record.receipt", {"id": shown["summary"]["id"]})
        name = f"receipt-{shown['summary']['id']}.pdf"
        return Response(
            pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
        )

    return [
        Route("/api/forms", templates),
        Route("/api/counters/{cid}/form", current),
        Route("/api/counters/{cid}/form", push, methods=["POST"]),
        Route("/api/counters/{cid}/form/cancel", cancel, methods=["POST"]),
        Route("/api/records", records),
        Route("/api/records/verify", verify),
        Route("/api/records/{rid}", record),
        Route("/api/records/{rid}/signature.png", picture),
        Route("/api/records/{rid}/receipt.pdf", receipt),
    ]
