"""Repair reports at HQ: what the halls' kiosks took, and the status HQ's crews send back to each hall.

A ``repair.reported`` event is stored with the hall's other events and folded into
``repairs`` as it arrives (:func:`project`, in the batch's transaction); the
phone, the address or supply point, the description and the photos are there
because the crew needs them (they pass the box's privacy scrub on purpose).
``hall hq repair update HALL REFERENCE --state S [--note TEXT]`` records an
update; the hall's agent fetches it (``GET /v1/halls/{hall}/repair-updates``)
and the core applies it once, answering with ``repair.updated``, which marks the
update delivered here. So HQ sees what the customer sees at the kiosk.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from edge.errors import InvalidRequest, NotFound
from edge.schemas.repair import STATES
from sync.hq.dialect import Duplicate

MAX_UPDATES = 100
PNG = b"\x89PNG"


def _data(event: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            return {}
    return data if isinstance(data, dict) else {}


def project(cur: Any, mark: str, hall: str, events: list[dict[str, Any]], now: float) -> None:
    """Fold a stored batch's repair events in (inside the batch's transaction)."""
    m = mark
    for e in events:
        if e["topic"] == "repair.reported":
            d = _data(e)
            reference = str(d.get("reference", ""))[:32]
            if not reference:
                continue
            place = d.get("address") or d.get("supply_point") or d.get("area") or ""
            photos: list[Any] = d["photos"] if isinstance(d.get("photos"), list) else []
            cur.execute(
                f"INSERT INTO repairs (hall, reference, seq, kind, phone, place, description, photos, reported_at, "
                f"state, note, updated_at) VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}) "
                "ON CONFLICT (hall, reference) DO NOTHING",
                (hall, reference, e["seq"], str(d.get("kind", ""))[:32], str(d.get("phone", ""))[:20],
                 str(place)[:200], str(d.get("description", ""))[:500], len(photos),
                 str(d.get("reported_at", e["ts"]))[:40], "received", "", now),
            )  # fmt: skip
        elif e["topic"] == "repair.updated":
            d = _data(e)
            if isinstance(d.get("update_id"), int):
                cur.execute(
                    f"UPDATE repair_updates SET delivered = TRUE WHERE id = {m} AND hall = {m}", (d["update_id"], hall)
                )


def update(store: Any, hall: str, reference: str, state: str, note: str, *, operator: str = "hq") -> int:
    """Record a status for a hall's report, to go down to the hall; the update's id."""
    if state not in STATES:
        raise InvalidRequest(f"state {state!r} is not one of {', '.join(STATES)}")
    if len(note) > 300:
        raise InvalidRequest("a note has at most 300 characters")
    m = store.d.mark
    for attempt in (1, 2):
        try:
            with store._tx() as cur:
                cur.execute(
                    f"SELECT state FROM repairs WHERE hall = {m} AND reference = {m}{store.d.lock_rows}",
                    (hall, reference),
                )
                if cur.fetchone() is None:
                    raise NotFound(f"hall {hall} has sent HQ no repair report {reference}")
                cur.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM repair_updates")
                update_id = int(cur.fetchone()[0])
                now = time.time()
                cur.execute(
                    f"INSERT INTO repair_updates (id, hall, reference, state, note, at, operator) "
                    f"VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m})",
                    (update_id, hall, reference, state, note, now, operator),
                )
                cur.execute(
                    f"UPDATE repairs SET state = {m}, note = {m}, updated_at = {m} WHERE hall = {m} AND reference = {m}",
                    (state, note, now, hall, reference),
                )
            return update_id
        except Duplicate:  # another operator took the same id at the same moment
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def pending(store: Any, hall: str, after: int) -> list[dict[str, Any]]:
    """The hall's updates above ``after`` not yet confirmed by the hall, oldest first."""
    from edge.envelope import iso

    m = store.d.mark
    with store._tx() as cur:
        cur.execute(
            f"SELECT id, reference, state, note, at FROM repair_updates WHERE hall = {m} AND id > {m} "
            f"AND delivered = FALSE ORDER BY id LIMIT {MAX_UPDATES}",
            (hall, after),
        )
        return [{"update_id": int(r[0]), "reference": r[1], "state": r[2], "note": r[3], "at": iso(r[4])}
                for r in cur.fetchall()]  # fmt: skip


def listing(store: Any, *, hall: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
    m = store.d.mark
    where, params = [], []
    if hall:
        where.append(f"hall = {m}")
        params.append(hall)
    if state:
        where.append(f"state = {m}")
        params.append(state)
    sql = "SELECT hall, reference, kind, phone, place, description, photos, reported_at, state, note FROM repairs"
    with store._tx() as cur:
        cur.execute(sql + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY reported_at DESC", params)
        keys = ("hall", "reference", "kind", "phone", "place", "description", "photos", "reported_at", "state", "note")
        return [dict(zip(keys, r, strict=True)) for r in cur.fetchall()]


def show(store: Any, hall: str, reference: str, *, photos_to: Path | None = None) -> dict[str, Any]:
    """One report with its updates; its photos written to ``photos_to`` when given."""
    found = [r for r in listing(store, hall=hall) if r["reference"] == reference]
    if not found:
        raise NotFound(f"hall {hall} has sent HQ no repair report {reference}")
    report = found[0]
    m = store.d.mark
    with store._tx() as cur:
        cur.execute(
            f"SELECT state, note, at, operator, delivered FROM repair_updates WHERE hall = {m} AND reference = {m} "
            "ORDER BY id",
            (hall, reference),
        )
        from edge.envelope import iso

        report["updates"] = [{"state": r[0], "note": r[1], "at": iso(r[2]), "by": r[3], "delivered": bool(r[4])}
                             for r in cur.fetchall()]  # fmt: skip
        cur.execute(f"SELECT data FROM events WHERE hall = {m} AND topic = 'repair.reported' AND seq = "
                    f"(SELECT seq FROM repairs WHERE hall = {m} AND reference = {m})", (hall, hall, reference))  # fmt: skip
        row = cur.fetchone()
    if photos_to is not None and row is not None:
        photos_to.mkdir(parents=True, exist_ok=True)
        written = []
        for i, text in enumerate(_data({"data": row[0]}).get("photos") or []):
            raw = base64.b64decode(str(text))
            suffix = "png" if raw.startswith(PNG) else "jpg"
            path = photos_to / f"{reference}-{i + 1}.{suffix}"
            path.write_bytes(raw)
            written.append(str(path))
        report["photo_files"] = written
    return report
