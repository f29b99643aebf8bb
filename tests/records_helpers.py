"""What the paperless-form tests share: a customer at a counter, a filled form, strokes of a name."""

from __future__ import annotations

import math
from typing import Any

from edge.bus import BusClient
from edge.identity import load_key, make_ref
from edge.paths import Home

HOLDER = ("赵六", "110101199003071233")  # the new account holder (a valid resident ID number)
CUSTOMER = ("王五", "11010519491231002X")


def customer_at_counter(bus: BusClient, home: Home, counter: str = "2", business: str = "C") -> dict[str, Any]:
    """Open ``counter`` (staff 王芳) unless it is, issue a ticket to an identified customer and call it."""
    ref = make_ref("id", CUSTOMER[1], name=CUSTOMER[0], key=load_key(home.secret_path)).to_dict()
    if next(c for c in bus.request("counter.list") if c["id"] == counter)["state"] == "closed":
        bus.request("counter.open", {"counter": counter, "staff": "王芳"})
    bus.request("ticket.issue", {"business": business, "customer": ref})
    called: dict[str, Any] = bus.request("counter.call", {"counter": counter})
    return called


def name_change_values(home: Home) -> dict[str, Any]:
    """Values of the default 更名 form, the new holder's ID given as the panel sends it (masked, keyed hash)."""
    ref = make_ref("id", HOLDER[1], key=load_key(home.secret_path))
    return {
        "account": "3301004277",
        "old_name": "王五",
        "new_name": HOLDER[0],
        "new_holder_id": {"masked": ref.masked, "hash": ref.hash},
        "phone": "13800138000",
        "address": "示范市城东区解放路36号",
        "reason": "继承",
    }


def name_strokes(width: int = 1000, height: int = 400) -> list[list[list[int | None]]]:
    """Three strokes across the box, like a name written in three characters (points every 12 ms)."""
    strokes = []
    t = 0
    for k in range(3):
        x0 = 80 + k * 300
        stroke: list[list[int | None]] = []
        for i in range(30):
            x = x0 + i * 7
            y = height // 2 + round(90 * math.sin(i / 4 + k))
            stroke.append([x, y, t, 500])
            t += 12
        strokes.append(stroke)
        t += 300
    return strokes


def signature(width: int = 1000, height: int = 400) -> dict[str, Any]:
    return {"width": width, "height": height, "strokes": name_strokes(width, height)}
