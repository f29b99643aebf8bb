"""A month of a hall's history, made up but shaped like a real one, for panel and report tests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from edge.bus import BusClient
from edge.ops import history
from edge.ops.sample import CST, visits

__all__ = ["BUNDLE_STAFF", "bundle", "load", "visits"]


def load(bus: BusClient, rows: list[dict[str, Any]], import_id: str = "hallsim-0001") -> dict[str, Any]:
    return history.send(bus.request, [history.visit(r) for r in rows], import_id=import_id)


BUNDLE_STAFF = [
    {"id": "wang", "name": "王芳", "counters": ["1", "2"]},
    {"id": "zhang", "name": "张伟", "counters": ["1", "2", "4"]},
    {"id": "li", "name": "李雷", "counters": ["3"]},
    {"id": "han", "name": "韩梅", "counters": ["3", "4"]},
    {"id": "zhao", "name": "赵敏", "counters": ["1", "4"]},
]


def bundle(version: int, roster_day: date) -> dict[str, Any]:
    """HQ's bundle: the demo hall's businesses and counters, five staff, and one roster entry."""
    from edge import config

    cfg = config.load_text("", defaults=True)
    return {
        "version": version,
        "published_at": datetime.now(CST).isoformat(),
        "businesses": [{"code": b.code, "name": b.name, "name_en": b.name_en} for b in cfg.businesses],
        "counters": [
            {"id": c.id, "name": c.name, "primary": c.primary, "secondary": c.secondary} for c in cfg.counters
        ],
        "staff": BUNDLE_STAFF,
        "roster": [
            {
                "staff": "li",
                "day": roster_day.isoformat(),
                "shift": "全天",
                "start": "08:30",
                "end": "17:30",
                "counter": "3",
            }
        ],
    }
