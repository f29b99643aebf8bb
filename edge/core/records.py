"""Paperless forms at the counter and the signed records they become (the core's side).

``register(core)`` serves (models in :mod:`edge.schemas.records`):

- ``form.templates {business?}`` (read): the templates in force, HQ's bundle's when it carries
  forms, else the hall's defaults (:func:`edge.records.forms.defaults`).
- ``form.push {counter, form, values, staff?}``: the clerk's values checked against the template
  (:func:`edge.records.forms.fill`: no identity number in clear) for the counter's current ticket;
  a form still open at that counter is withdrawn (``replaced``). Event ``form.pushed`` (the form).
- ``form.current {counter}`` (read): the counter, its current ticket and its open form: what the
  counter's pad shows, asked again whenever the pad (re)connects.
- ``form.confirm {form_id}``: the customer read it and agrees (``form.confirmed``).
- ``form.sign {form_id, signature}``: the customer signed a confirmed form. A signature too short
  to be a name is refused. The record (form, values, terms, ticket, customer reference, counter,
  staff, times, strokes and the SHA-256 of their picture) is sealed with a digest chained to the
  day's previous record (:mod:`edge.records.digest`), stored with its PNG, and logged whole as the
  durable event ``record.signed`` (records lane: HQ gets it and can check it the same way).
- ``form.cancel {counter, by, reason}``: the clerk takes the open form back (``form.cancelled``).
- ``form.withdraw {form_id, reason}``: the pad gives up a form nobody touched (``form.withdrawn``);
  the core withdraws open forms whose ticket ended on its own, at the next tick.
- ``record.list``, ``record.show {id}`` (with the picture, base64, and whether it verifies) and
  ``record.verify {day}`` (the whole day's chain) for the panel and ``hall records``.

The pad's ``pad.correction_requested {counter, form_id, fields}`` (a durable event) is kept on the
open form it names as ``correction_asked`` (the keys of its rows), so a counter page opened or
reloaded later still shows which rows the customer asked to correct.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
import uuid
from typing import TYPE_CHECKING, Any

from edge import envelope
from edge.errors import Conflict, InvalidRequest, NotFound
from edge.records import digest as chain
from edge.records import signature as handwriting
from edge.records.forms import defaults, fill
from edge.schemas import records as schema
from edge.schemas.records import FormTemplate

if TYPE_CHECKING:
    from edge.core.service import Core

OPEN = ("pushed", "confirmed")
# keys only the record itself has, read from its canonical bytes (a quote in a text is escaped: see digest.PREV)
RECORD_ID = re.compile(rb'"id":"(R\d{8}-\d{4,6})"')
RECORD_N = re.compile(rb'"n":(\d+)[,}]')
RENDERED = re.compile(rb'"rendered_sha256":"([0-9a-f]{64})"')
WHY_NOT = {
    "pushed": "the customer has not confirmed this form yet",
    "confirmed": "this form is already confirmed",
    "cancelled": "the clerk cancelled this form",
    "withdrawn": "this form was withdrawn",
    "signed": "this form is already signed",
}


def register(core: Core) -> None:
    area = Records(core)
    for topic, handler in (
        ("form.templates", area.templates),
        ("form.push", area.push),
        ("form.current", area.current),
        ("form.confirm", area.confirm),
        ("form.sign", area.sign),
        ("form.cancel", area.cancel),
        ("form.withdraw", area.withdraw),
        ("record.list", area.list_records),
        ("record.show", area.show),
        ("record.verify", area.verify),
    ):
        core.route(topic, handler, schema)
    core.tick_hooks.append(area.withdraw_ended)
    core.publish_observers.append(area.observe)


class Records:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.db = core.db

    # -- templates ----------------------------------------------------------------
    def in_force(self) -> list[FormTemplate]:
        rows = self.db.all("SELECT data FROM bundle_items WHERE kind = 'form' ORDER BY rowid")
        if rows:
            return [FormTemplate.model_validate_json(r[0]) for r in rows]
        return list(defaults())

    def templates(self, req: schema.FormTemplates, env: envelope.Envelope) -> list[dict[str, Any]]:
        return [t.model_dump() for t in self.in_force() if req.business in (None, t.business)]

    def _template(self, form: str) -> FormTemplate:
        for t in self.in_force():
            if t.id == form:
                return t
        known = ", ".join(t.id for t in self.in_force())
        raise NotFound(f"no form {form!r} in this hall (known: {known})")

    # -- forms ----------------------------------------------------------------------
    def _counter(self, counter_id: str) -> tuple[sqlite3.Row, str]:
        try:
            name = self.core.cfg.counter(counter_id).name
        except KeyError:
            raise NotFound(f"no counter {counter_id!r} in this hall") from None
        row = self.db.one("SELECT * FROM counters WHERE id = ?", (counter_id,))
        if row is None:
            raise NotFound(f"no counter {counter_id!r} in this hall")
        return row, name

    def _open_form(self, counter_id: str) -> sqlite3.Row | None:
        return self.db.one("SELECT * FROM forms WHERE counter = ? AND state IN ('pushed', 'confirmed')", (counter_id,))

    def _form(self, form_id: str) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM forms WHERE id = ?", (form_id,))
        if row is None:
            raise NotFound(f"no form {form_id}")
        return row

    @staticmethod
    def view(row: sqlite3.Row) -> dict[str, Any]:
        form: dict[str, Any] = json.loads(row["data"])
        form.update(
            {
                "state": row["state"],
                "confirmed_at": envelope.iso(row["confirmed_at"]),
                "ended_at": envelope.iso(row["ended_at"]),
                "end_reason": row["end_reason"],
                "record_id": row["record_id"],
            }
        )
        return form

    def push(self, req: schema.FormPush, env: envelope.Envelope) -> dict[str, Any]:
        counter, counter_name = self._counter(req.counter)
        ticket_row = (
            self.db.one("SELECT * FROM tickets WHERE id = ?", (counter["current_ticket"],))
            if counter["current_ticket"]
            else None
        )
        if ticket_row is None or ticket_row["state"] not in ("called", "serving"):
            raise Conflict(f"counter {req.counter} has no customer: call a ticket before pushing a form")
        template = self._template(req.form)
        fields = fill(template, dict(req.values))
        old = self._open_form(req.counter)
        if old is not None:
            self._end(old, "withdrawn", "replaced", by=req.staff)
        now = self.core.clock()
        ticket = self.core.queue.view(ticket_row)
        form = {
            "id": f"F{uuid.uuid4().hex[:16]}",
            "counter": req.counter,
            "counter_name": counter_name,
            "ticket": {k: ticket[k] for k in ("id", "number", "day", "business", "business_name", "business_name_en")},
            "customer": ticket["customer"],
            "kind": template.id,
            "business": template.business,
            "title": template.title,
            "title_en": template.title_en,
            "fields": fields,
            "terms": list(template.terms),
            "terms_en": list(template.terms_en),
            "staff": counter["staff_display"] or counter["staff"] or req.staff,  # as the customer reads it
            "pushed_by": req.staff,
            "pushed_at": envelope.iso(now),
            "replaces": old["id"] if old is not None else None,
        }
        self.db.execute(
            "INSERT INTO forms (id, counter, ticket_id, template, state, data, pushed_at) "
            "VALUES (?, ?, ?, ?, 'pushed', ?, ?)",
            (form["id"], req.counter, ticket["id"], template.id, json.dumps(form, ensure_ascii=False), now),
        )
        out = self.view(self._form(form["id"]))
        self.core.emit("form.pushed", out)
        return out

    def _end(self, row: sqlite3.Row, state: str, reason: str, *, by: str | None = None) -> dict[str, Any]:
        self.db.execute(
            "UPDATE forms SET state = ?, ended_at = ?, end_reason = ?, ended_by = ? WHERE id = ?",
            (state, self.core.clock(), reason, by, row["id"]),
        )
        out = {"id": row["id"], "counter": row["counter"], "state": state, "reason": reason, "by": by}
        self.core.emit(f"form.{state}", out)
        return out

    def observe(self, event: envelope.Envelope) -> None:
        """Keep a correction the customer asked for on the open form it names (other events: nothing)."""
        if event["topic"] != "pad.correction_requested":
            return
        data = event["data"]
        form_id, asked = data.get("form_id"), data.get("fields")
        if not isinstance(form_id, str) or not isinstance(asked, list):
            return
        row = self.db.one("SELECT * FROM forms WHERE id = ? AND state IN ('pushed', 'confirmed')", (form_id,))
        if row is None or row["counter"] != data.get("counter"):
            return
        form = json.loads(row["data"])
        keys = {f["key"] for f in form["fields"]}
        form["correction_asked"] = [k for k in asked if isinstance(k, str) and k in keys]
        self.db.execute("UPDATE forms SET data = ? WHERE id = ?", (json.dumps(form, ensure_ascii=False), row["id"]))

    def current(self, req: schema.FormCurrent, env: envelope.Envelope) -> dict[str, Any]:
        counter, name = self._counter(req.counter)
        ticket = None
        if counter["current_ticket"]:
            row = self.db.one("SELECT * FROM tickets WHERE id = ?", (counter["current_ticket"],))
            ticket = self.core.queue.view(row) if row is not None else None
        form = self._open_form(req.counter)
        return {
            "counter": {
                "id": req.counter,
                "name": name,
                "name_en": self.core.cfg.counter(req.counter).name_en or f"Counter {req.counter}",
                "state": counter["state"],
                "staff": counter["staff"],
                "staff_display": counter["staff_display"],
            },
            "ticket": ticket,
            "form": self.view(form) if form is not None else None,
        }

    def _still_open(self, form_id: str, *states: str) -> sqlite3.Row:
        row = self._form(form_id)
        if row["state"] not in states:
            raise Conflict(f"{WHY_NOT.get(row['state'], 'this form is ' + row['state'])} ({form_id})")
        return row

    def confirm(self, req: schema.FormRef, env: envelope.Envelope) -> dict[str, Any]:
        row = self._still_open(req.form_id, "pushed")
        now = self.core.clock()
        self.db.execute("UPDATE forms SET state = 'confirmed', confirmed_at = ? WHERE id = ?", (now, row["id"]))
        out = {"id": row["id"], "counter": row["counter"], "state": "confirmed", "confirmed_at": envelope.iso(now)}
        self.core.emit("form.confirmed", out)
        return out

    def cancel(self, req: schema.FormCancel, env: envelope.Envelope) -> dict[str, Any]:
        self._counter(req.counter)
        row = self._open_form(req.counter)
        if row is None:
            raise Conflict(f"counter {req.counter} has no open form to cancel")
        return self._end(row, "cancelled", req.reason or "cancelled by the clerk", by=req.by)

    def withdraw(self, req: schema.FormWithdraw, env: envelope.Envelope) -> dict[str, Any]:
        row = self._still_open(req.form_id, *OPEN)
        return self._end(row, "withdrawn", req.reason, by=env["source"])

    def withdraw_ended(self) -> None:
        """Tick: open forms whose ticket is no longer at the counter are withdrawn."""
        rows = self.db.all(
            "SELECT f.* FROM forms f LEFT JOIN tickets t ON t.id = f.ticket_id "
            "WHERE f.state IN ('pushed', 'confirmed') AND (t.state IS NULL OR t.state NOT IN ('called', 'serving'))"
        )
        for row in rows:
            self._end(row, "withdrawn", "ticket_ended")

    # -- signing --------------------------------------------------------------------
    def sign(self, req: schema.FormSign, env: envelope.Envelope) -> dict[str, Any]:
        row = self._still_open(req.form_id, "confirmed")
        sig = req.signature
        strokes = [[list(p) for p in stroke] for stroke in sig.strokes]
        why = handwriting.too_short(strokes, width=sig.width)
        if why is not None:
            raise InvalidRequest(f"the signature is too short ({why}): please sign your full name")
        picture = handwriting.render(strokes, width=sig.width, height=sig.height)
        form = json.loads(row["data"])
        now = self.core.clock()
        day = self.core.queue.today()
        last = self.db.one("SELECT n, digest FROM records WHERE day = ? ORDER BY n DESC LIMIT 1", (day,))
        n, prev = (int(last[0]) + 1, str(last[1])) if last else (1, chain.genesis(self.core.cfg.hall.id, day))
        record = chain.seal(
            {
                "v": 1,
                "id": f"R{day.replace('-', '')}-{n:04d}",
                "hall": self.core.cfg.hall.id,
                "day": day,
                "n": n,
                "form": {
                    k: form[k] for k in ("id", "kind", "business", "title", "title_en", "fields", "terms", "terms_en")
                },
                "ticket": {k: form["ticket"][k] for k in ("id", "number", "day", "business")},
                "customer": form["customer"],
                "counter": form["counter"],
                "counter_name": form["counter_name"],
                "staff": form["staff"],
                "pushed_at": form["pushed_at"],
                "confirmed_at": envelope.iso(row["confirmed_at"]),
                "signed_at": envelope.iso(now),
                "signature": {
                    "width": sig.width,
                    "height": sig.height,
                    "strokes": strokes,
                    "rendered_sha256": hashlib.sha256(picture).hexdigest(),
                },
            },
            prev,
        )
        self.db.execute(
            "INSERT INTO records (id, day, n, counter, number, title, staff, form_id, signed_at, body, rendered, digest)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record["id"],
                day,
                n,
                record["counter"],
                record["ticket"]["number"],
                record["form"]["title"],
                record["staff"],
                row["id"],
                now,
                chain.Stored.of(record).body.decode("utf-8"),  # the bytes its digest covers
                picture,
                record["digest"],
            ),
        )
        self.db.execute(
            "UPDATE forms SET state = 'signed', ended_at = ?, end_reason = 'signed', record_id = ? WHERE id = ?",
            (now, record["id"], row["id"]),
        )
        self.core.emit("record.signed", record)
        return self._summary(self.db.one("SELECT * FROM records WHERE id = ?", (record["id"],)))

    # -- reading --------------------------------------------------------------------
    @staticmethod
    def _summary(row: sqlite3.Row | None) -> dict[str, Any]:
        assert row is not None
        return {
            "id": row["id"],
            "day": row["day"],
            "n": row["n"],
            "counter": row["counter"],
            "number": row["number"],
            "title": row["title"],
            "staff": row["staff"],
            "form_id": row["form_id"],
            "signed_at": envelope.iso(row["signed_at"]),
            "digest": row["digest"],
        }

    def list_records(self, req: schema.RecordList, env: envelope.Envelope) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM records WHERE day = ?", [req.day or self.core.queue.today()]
        if req.counter:
            sql += " AND counter = ?"
            params.append(req.counter)
        return [self._summary(r) for r in self.db.all(sql + " ORDER BY n LIMIT ?", [*params, req.limit])]

    def show(self, req: schema.RecordShow, env: envelope.Envelope) -> dict[str, Any]:
        row = self.db.one("SELECT * FROM records WHERE id = ?", (req.id,))
        if row is None:
            raise NotFound(f"no signed record {req.id}")
        checked = self._check_day(row["day"])
        mine = [p for p in checked["problems"] if p["id"] == req.id]
        try:
            record = {**json.loads(row["body"]), "digest": row["digest"]}
        except (ValueError, TypeError):
            record = None
        return {
            "record": record,
            "summary": self._summary(row),
            "rendered_png": base64.b64encode(row["rendered"]).decode("ascii"),
            "verified": {"ok": not mine, "problems": mine, "day_ok": checked["ok"]},
        }

    def verify(self, req: schema.RecordVerify, env: envelope.Envelope) -> dict[str, Any]:
        return self._check_day(req.day or self.core.queue.today())

    def _check_day(self, day: str) -> dict[str, Any]:
        """The day's records checked: each against its digest and picture, and the chain between them.

        The stored bytes are hashed as they are and read without parsing (see :data:`edge.records.digest.PREV`):
        a day of 300 signatures is checked in a fraction of a second (``benchmarks/bench_records.py``).
        """
        problems: list[dict[str, Any]] = []
        stored: list[chain.Stored] = []
        rows = self.db.all("SELECT id, n, body, rendered, digest FROM records WHERE day = ? ORDER BY n", (day,))
        for row in rows:
            body = str(row["body"]).encode("utf-8")
            stored.append(chain.Stored(row["id"], row["n"], body, row["digest"]))
            if hashlib.sha256(body).hexdigest() != row["digest"]:
                continue  # changed: check_stored says so, and nothing else it says can be trusted
            index = RECORD_ID.search(body), RECORD_N.search(body)
            if (
                index[0] is None
                or index[1] is None
                or (index[0].group(1).decode(), int(index[1].group(1)))
                != (
                    row["id"],
                    row["n"],
                )
            ):
                problems.append({"id": row["id"], "n": row["n"], "problem": "changed: its index no longer matches it"})
            picture = RENDERED.search(body)
            if picture is None or picture.group(1).decode() != hashlib.sha256(row["rendered"]).hexdigest():
                problems.append({"id": row["id"], "n": row["n"], "problem": "changed: its signature picture"})
        problems += chain.check_stored(stored, chain.genesis(self.core.cfg.hall.id, day))
        problems.sort(key=lambda p: p["n"])
        return {"day": day, "records": len(rows), "ok": not problems, "problems": problems}
