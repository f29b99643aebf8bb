"""The daily report: HTML and PDF with plots, generated on the box from ``stats.day``."""

from __future__ import annotations

from typing import Any


def staff_names(staff: list[dict[str, Any]]) -> dict[str, str]:
    """How each member of staff is shown: the display name, and the account beside it when two share one.

    >>> staff_names([{"staff": "li1", "display": "李明"}, {"staff": "li2", "display": "李明"}, {"staff": "wang"}])
    {'li1': '李明 (li1)', 'li2': '李明 (li2)', 'wang': 'wang'}
    """
    shown = [str(s.get("display") or s["staff"]) for s in staff]
    return {
        str(s["staff"]): name if shown.count(name) == 1 else f"{name} ({s['staff']})"
        for s, name in zip(staff, shown, strict=True)
    }
