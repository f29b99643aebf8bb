"""The core's side of repair reports: reference numbers, HQ's status updates, "my report".

- ``repair.report`` (write): the report is stored with a reference number
  ``BX-YYMMDD-NNN`` (the hall's day, numbered from 001 each day) and the durable
  ``repair.reported`` event (everything HQ's crew needs, see :mod:`edge.schemas.repair`)
  is written in the same transaction; the printer prints the customer's slip from it.
- ``repair.update`` (write): a status HQ sent down; each HQ update id is applied
  once (a repeat answers ``already``) and recorded by ``repair.updated``, which
  goes back up so HQ knows the box has it.
- ``repair.lookup`` (read): a report by reference, or a card holder's latest five,
  with their state and updates; the phone masked, no photos.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from edge import envelope
from edge.errors import NotFound
from edge.schemas import repair as r

if TYPE_CHECKING:
    from edge.core.service import Core


def register(core: Core) -> None:
    area = RepairArea(core)
    core.route("repair.report", area.report, r)
    core.route("repair.update", area.update, r)
    core.route("repair.lookup", area.lookup, r)


class RepairArea:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.db = core.db

    def report(self, req: r.RepairReport, env: envelope.Envelope) -> dict[str, Any]:
        now = self.core.clock()
        local = datetime.fromtimestamp(now, ZoneInfo(self.core.cfg.hall.timezone))
        day = local.date().isoformat()
        row = self.db.one("SELECT COUNT(*) FROM repairs WHERE day = ?", (day,))
        reference = f"BX-{local:%y%m%d}-{(int(row[0]) if row else 0) + 1:03d}"
        customer = req.customer.model_dump() if req.customer else None
        self.db.execute(
            "INSERT INTO repairs (reference, day, kind, phone, address, supply_point, area, description, photos,"
            " customer_hash, kiosk, reported_at, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (reference, day, req.kind, req.phone, req.address, req.supply_point, req.area, req.description,
             len(req.photos), customer["hash"] if customer else None, req.kiosk, now, "received", now),
        )  # fmt: skip
        event: dict[str, Any] = {
            "reference": reference,
            "hall": self.core.cfg.hall.id,
            "hall_name": self.core.cfg.hall.name,
            "kind": req.kind,
            "phone": req.phone,
            "address": req.address,
            "supply_point": req.supply_point,
            "area": req.area,
            "description": req.description,
            "photos": list(req.photos),
            "reported_at": envelope.iso(now),
            "kiosk": req.kiosk,
        }
        if customer:
            event["customer"] = {k: customer[k] for k in ("kind", "hash", "masked")}
        self.core.emit("repair.reported", event)
        return {"reference": reference, "state": "received", "reported_at": envelope.iso(now),
                "phone_masked": r.mask_phone(req.phone)}  # fmt: skip

    def update(self, req: r.RepairUpdate, env: envelope.Envelope) -> dict[str, Any]:
        if self.db.one("SELECT 1 FROM repair_updates WHERE update_id = ?", (req.update_id,)):
            return {"reference": req.reference, "update_id": req.update_id, "already": True}
        if not self.db.one("SELECT 1 FROM repairs WHERE reference = ?", (req.reference,)):
            raise NotFound(f"no repair report {req.reference} in this hall")
        self.db.execute(
            "INSERT INTO repair_updates (update_id, reference, state, note, at) VALUES (?, ?, ?, ?, ?)",
            (req.update_id, req.reference, req.state, req.note, req.at),
        )
        self.db.execute(
            "UPDATE repairs SET state = ?, note = ?, updated_at = ? WHERE reference = ?",
            (req.state, req.note, self.core.clock(), req.reference),
        )
        out = {"reference": req.reference, "update_id": req.update_id, "state": req.state, "note": req.note,
               "at": req.at}  # fmt: skip
        self.core.emit("repair.updated", out)
        return out

    def lookup(self, req: r.RepairLookup, env: envelope.Envelope) -> dict[str, Any]:
        if req.reference:
            rows = self.db.all("SELECT * FROM repairs WHERE reference = ?", (req.reference,))
        else:
            hashes = [req.customer_hash, *req.also]
            rows = self.db.all(
                f"SELECT * FROM repairs WHERE customer_hash IN ({', '.join('?' * len(hashes))})"
                " ORDER BY reported_at DESC LIMIT 5",
                hashes,
            )
        reports = []
        for row in rows:
            updates = self.db.all(
                "SELECT state, note, at FROM repair_updates WHERE reference = ? ORDER BY update_id", (row["reference"],)
            )
            reports.append(
                {
                    "reference": row["reference"],
                    "kind": row["kind"],
                    "state": row["state"],
                    "note": row["note"],
                    "phone_masked": r.mask_phone(row["phone"]),
                    "where": row["address"] or row["supply_point"] or row["area"],
                    "reported_at": envelope.iso(row["reported_at"]),
                    "updated_at": envelope.iso(row["updated_at"]),
                    "updates": [{"state": u["state"], "note": u["note"], "at": u["at"]} for u in updates],
                }
            )
        return {"reports": reports}
