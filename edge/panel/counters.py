"""Counters belong to whoever signed in at them.

Opening a closed counter binds it to the account that opened it (``bindings``
in panel.db), and the core credits every ticket called there to that account (by its name, shown by its
display name, so two people of the same name stay apart in reports).
Only that account, or a manager, acts at an open counter; a member of staff
holds one counter at a time. Closing the counter (signing out) ends the
binding; a counter the core reports closed (closed elsewhere, or freed at the
day's rollover) is free for anyone to open.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from edge.errors import Conflict, NotFound
from edge.panel.accounts import Forbidden, Session
from edge.panel.bodies import COUNTER_FIELDS, counter_fields

if TYPE_CHECKING:
    from edge.panel.app import Panel

ACTIONS = ("open", "close", "call", "recall", "serve", "transfer", "noshow", "pause", "resume", "finish")
FIELDS = COUNTER_FIELDS


class Desk:
    """Counter actions for signed-in staff, checked against who holds the counter."""

    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self.locks: dict[str, asyncio.Lock] = {}

    async def _row(self, cid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        counters: list[dict[str, Any]] = await self.panel.request("counter.list")
        row = next((c for c in counters if c["id"] == cid), None)
        if row is None:
            raise NotFound(f"no counter {cid!r} in this hall")
        return row, counters

    def holder(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """Who holds an open counter through the panel (None: closed, or opened elsewhere)."""
        if row["state"] == "closed":
            return None
        return self.panel.store.binding(row["id"])

    def view(self, session: Session, row: dict[str, Any]) -> dict[str, Any]:
        holder = self.holder(row)
        mine = holder is not None and holder["name"] == session.name
        return {
            "holder": {"name": holder["name"], "display": holder["display"]} if holder else None,
            "mine": mine,
            "can_act": row["state"] == "closed" or mine or session.role == "manager",
        }

    async def act(self, session: Session, cid: str, action: str, data: dict[str, Any]) -> Any:
        if action not in ACTIONS:
            raise NotFound(f"no counter action {action!r} (known: {', '.join(ACTIONS)})")
        request = {**counter_fields(data), "counter": cid}
        row, counters = await self._row(cid)
        lock = self.locks.setdefault(cid, asyncio.Lock())
        async with lock:
            row, counters = await self._row(cid)
            if action == "open":
                return await self._open(session, row, counters)
            holder = self.holder(row)
            if session.role != "manager" and row["state"] != "closed":
                if holder is None:
                    raise Forbidden(
                        f"{row['name']} 不是您签入的窗口，请值班经理处理 (counter {cid} was not opened by you)"
                    )
                if holder["name"] != session.name:
                    raise Forbidden(
                        f"{row['name']} 由 {holder['display']} 签入，只有本人或值班经理可以在此操作"
                        f" (counter {cid} is signed in by {holder['name']})"
                    )
            result = await self.panel.request(f"counter.{action}", request)
            if action == "close":
                self.panel.store.unbind(cid)
            return result

    async def _open(self, session: Session, row: dict[str, Any], counters: list[dict[str, Any]]) -> Any:
        if row["state"] != "closed":
            holder = self.holder(row)
            who = holder["display"] if holder else (row.get("staff_display") or row.get("staff") or "-")
            raise Conflict(f"{row['name']} 已由 {who} 签入 (counter {row['id']} is already {row['state']})")
        if session.role != "manager":
            open_ids = {c["id"]: c["name"] for c in counters if c["state"] != "closed"}
            held = [open_ids[c] for c in self.panel.store.bindings_of(session.name) if c in open_ids]
            if held:
                raise Conflict(f"您已签入 {'、'.join(held)}，请先在那里签退 (you are signed in at another counter)")
        opened = {"counter": row["id"], "staff": session.name, "staff_display": session.display}
        result = await self.panel.request("counter.open", opened)
        self.panel.store.bind(row["id"], session.name, session.display, now=time.time())
        return result
