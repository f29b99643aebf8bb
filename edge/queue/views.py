"""The JSON shape of tickets and counters, as replies, events and the CLI show them."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from edge.config import Counter, HallConfig
from edge.envelope import iso


def ticket_view(row: sqlite3.Row, cfg: HallConfig) -> dict[str, Any]:
    try:
        business = cfg.business(row["business"])
        name, name_en = business.name, business.name_en
    except KeyError:  # a business HQ has since withdrawn: its old tickets still show
        name, name_en = row["business"], ""
    customer = None
    if row["customer_hash"]:
        customer = {
            "kind": row["customer_kind"],
            "hash": row["customer_hash"],
            "masked": row["customer_masked"],
            "name_masked": row["customer_name"] or "",
        }
    return {
        "id": row["id"],
        "number": row["number"],
        "day": row["day"],
        "business": row["business"],
        "business_name": name,
        "business_name_en": name_en,
        "state": row["state"],
        "priority": row["priority"],
        "issued_at": iso(row["issued_at"]),
        "queued_at": iso(row["queued_at"]),
        "booked_at": iso(row["booked_at"]),
        "called_at": iso(row["called_at"]),
        "finished_at": iso(row["finished_at"]),
        "counter": row["counter"],
        "staff": row["staff"],
        "staff_display": row["staff_display"],
        "target_counter": row["target_counter"],
        "recalls": row["recalls"],
        "transferred_from": row["parent_id"],
        "appointment": row["appointment"],
        "customer": customer,
        "tags": json.loads(row["tags"]),
        "end_reason": row["end_reason"],
    }


def counter_view(row: sqlite3.Row, counter: Counter, current: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": counter.id,
        "name": counter.name,
        "name_en": counter.name_en or f"Counter {counter.id}",
        "state": row["state"],
        "staff": row["staff"],
        "staff_display": row["staff_display"],
        "pause_reason": row["pause_reason"],
        "primary": counter.primary,
        "secondary": counter.secondary,
        "current": current,
        "changed_at": iso(row["changed_at"]),
    }
