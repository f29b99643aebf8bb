"""Self-service screens: look-ups from HQ's bundle and the repair form.

Bills and usage need an identified customer (a card tap); outage notices and
the repair form do not. Everything shown comes from ``bundle.lookup`` and
``bundle.status`` (the core keeps HQ's bundle), with the bundle's date shown so
the customer knows how fresh it is. The usage calendar shows the latest month's days
coloured by consumption when HQ's bundle carries daily figures, else a year of months.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from kiosk_ui.common import message
from kiosk_ui.icons import Icon
from kiosk_ui.kiosk.queueing import identity
from kiosk_ui.registry import Registry
from kiosk_ui.widgets import GREEN, GREEN_LIGHT, GREY, INK, MUTED, RED, RED_LIGHT, WHITE, Btn, Panel, Text, Tile

if TYPE_CHECKING:
    from kiosk_ui.kiosk.kiosk import Kiosk


def register(screens: Registry[Kiosk]) -> None:
    screens.add("lookup", lookup)
    for name, build in (("bill", bill), ("usage", usage), ("outages", outages)):
        screens.add(name, build, back="lookup")


def _fresh(k: Kiosk) -> str:
    published = (k.bundle or {}).get("published_at")
    if not published:
        return k.t("lookup.fresh.none")
    return k.t("lookup.fresh", when=str(published)[:16].replace("T", " "))


def _title(k: Kiosk, box: BoxLayout, key: str) -> None:
    row = BoxLayout(orientation="horizontal", size_hint_y=None, height=k.fs(60))
    row.add_widget(Text(k.t(key), size=k.fs(40), bold=True, halign="left", size_hint_x=0.6))
    row.add_widget(Text(_fresh(k), size=k.fs(22), color=MUTED, halign="right", size_hint_x=0.4, kid="fresh"))
    box.add_widget(row)


def lookup(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="vertical", padding=(24, 16), spacing=16)
    _title(k, body, "lookup.title")
    identity(k, body, "lookup.gate")
    message(k, body)
    grid = GridLayout(cols=5, spacing=18)
    for kind, icon, needs_card in (
        ("bill", "bill", True),
        ("usage", "usage", True),
        ("outage", "outage", False),
        ("repair", "repair", False),
        ("myrepair", "repair", False),
    ):
        sub = k.t("lookup.needcard") if needs_card and k.visit.customer is None else ""
        tile = Tile(k.t(f"lookup.{kind}"), kid=f"lookup.{kind}", icon=icon, sub=sub, size=k.fs(34))
        tile.bind(on_release=lambda _w, kind=kind, needs=needs_card: _open(k, kind, needs))
        grid.add_widget(tile)
    body.add_widget(grid)
    if k.visit.customer is None:
        body.add_widget(Text(k.t("lookup.gate.sub"), size=k.fs(24), color=MUTED, size_hint_y=None))
    return body


def _open(k: Kiosk, kind: str, needs_card: bool) -> None:
    if needs_card and k.visit.customer is None:
        k.say("lookup.needcard")
        return
    if kind == "myrepair":
        from kiosk_ui.kiosk.repairs import open_mine

        open_mine(k)
        return
    k.go({"outage": "outages"}.get(kind, kind))


def bill(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="vertical", padding=(24, 16), spacing=12)
    _title(k, body, "bill.title")
    identity(k, body, "lookup.gate")
    bills = sorted((k.lookup.found or {}).get("bills", []), key=lambda b: b["period"], reverse=True)[:5]
    for b in bills:
        row = Panel(fill=WHITE, orientation="horizontal", padding=(20, 6), size_hint_y=None, height=k.fs(72))
        amount = f"{b['amount_fen'] / 100:,.2f}"
        row.add_widget(
            Text(
                k.t("bill.row", period=b["period"], amount=amount),
                size=k.fs(32),
                halign="left",
                kid=f"bill.{b['period']}",
            )
        )
        if b.get("paid"):
            status, color = k.t("bill.paid"), GREEN
        elif b.get("due"):
            status, color = k.t("bill.unpaid", due=b["due"]), RED
        else:
            status, color = k.t("bill.unpaid.nodue"), RED
        row.add_widget(Text(status, size=k.fs(30), color=color, bold=True, halign="right"))
        body.add_widget(row)
    if not bills:
        body.add_widget(Text(k.t("bill.none"), size=k.fs(32), color=MUTED, kid="bill.none"))
    body.add_widget(Widget())
    return body


def _shade(share: float) -> tuple[float, float, float, float]:
    """Light green for little use, deep green for the month of most use."""
    lo, hi = (0.88, 0.95, 0.90), (0.0, 0.36, 0.30)
    r, g, b = (lo[i] + (hi[i] - lo[i]) * share for i in range(3))
    return (r, g, b, 1)


def _daily(k: Kiosk, body: BoxLayout, period: str, days: list[float]) -> Widget:
    """A month as a calendar, each day coloured by its kWh (HQ's bundle carries daily figures)."""
    import calendar

    year, month = int(period[:4]), int(period[5:])
    body.add_widget(
        Text(k.t("usage.month", year=year, month=month), size=k.fs(30), color=INK, size_hint_y=None, height=k.fs(44))
    )
    grid = GridLayout(cols=7, spacing=6)
    for name in k.t("usage.weekdays").split(","):
        grid.add_widget(Text(name, size=k.fs(24), color=MUTED))
    low, top = min(days), max(days)
    spread = (top - low) or 1.0
    first_weekday = calendar.monthrange(year, month)[0]  # Monday is 0
    for _ in range(first_weekday):
        grid.add_widget(Widget())
    for day, kwh in enumerate(days, start=1):
        share = (kwh - low) / spread
        cell = Panel(fill=_shade(share), radius=8)
        text = k.t("usage.day", day=day, kwh=f"{kwh:.1f}")
        cell.add_widget(Text(text, size=k.fs(22), color=WHITE if share > 0.5 else INK, kid=f"usage.day.{day}"))
        grid.add_widget(cell)
    body.add_widget(grid)
    total = sum(days)
    body.add_widget(
        Text(
            k.t("usage.daily.legend", total=f"{total:.0f}", peak=days.index(top) + 1),
            size=k.fs(24),
            color=MUTED,
            size_hint_y=None,
            height=k.fs(40),
            kid="usage.daily.legend",
        )
    )
    return body


def usage(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="vertical", padding=(24, 16), spacing=12)
    _title(k, body, "usage.title")
    found = (k.lookup.found or {}).get("usage", [])
    rows = {u["period"]: float(u["kwh"]) for u in found}
    if not rows:
        body.add_widget(Text(k.t("usage.none"), size=k.fs(32), color=MUTED, kid="usage.none"))
        return body
    daily = max((u for u in found if u.get("days")), key=lambda u: u["period"], default=None)
    if daily is not None:
        return _daily(k, body, daily["period"], [float(d) for d in daily["days"]])
    last = max(rows)
    year, month = int(last[:4]), int(last[5:7])
    periods = []
    for _ in range(12):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    periods.reverse()
    low, top = min(rows.values()), max(rows.values())
    spread = (top - low) or 1.0
    grid = GridLayout(cols=6, spacing=10)
    for period in periods:
        label = period if k.lang == "en" else str(int(period[5:]))
        if period in rows:
            share = (rows[period] - low) / spread
            cell = Panel(fill=_shade(share), radius=10)
            text = k.t("usage.cell", month=label, kwh=f"{rows[period]:.0f}")
            cell.add_widget(Text(text, size=k.fs(30), color=WHITE if share > 0.5 else INK, kid=f"usage.{period}"))
        else:
            cell = Panel(fill=WHITE, radius=10, border=GREY)
            cell.add_widget(Text(k.t("usage.cell.none", month=label), size=k.fs(26), color=MUTED))
        grid.add_widget(cell)
    body.add_widget(grid)
    legend = BoxLayout(orientation="horizontal", size_hint_y=None, height=k.fs(44), spacing=6)
    legend.add_widget(
        Text(
            k.t("usage.legend", first=periods[0], last=periods[-1]),
            size=k.fs(24),
            color=MUTED,
            halign="left",
            size_hint_x=0.5,
        )
    )
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        legend.add_widget(Panel(fill=_shade(share), radius=6, size_hint_x=0.1))
    body.add_widget(legend)
    return body


def _areas(k: Kiosk, box: BoxLayout, on_pick: Any, chosen: str | None, kid: str) -> None:
    for area in k.cfg.outage_areas:
        fill, color = (GREEN, WHITE) if area == chosen else (WHITE, INK)
        b = Btn(area, kid=f"{kid}.{k.cfg.outage_areas.index(area)}", size=k.fs(26), fill=fill, color=color, border=GREY)
        b.bind(on_release=lambda _w, a=area: on_pick(a))
        box.add_widget(b)


def _outage_list(k: Kiosk, box: BoxLayout, found: list[dict[str, Any]], none: str) -> None:
    for o in found[:3]:
        panel = Panel(fill=RED_LIGHT if o["kind"] == "fault" else GREEN_LIGHT, orientation="vertical", padding=12)
        starts, ends = str(o["starts"])[:16].replace("T", " "), str(o.get("ends") or "")[:16].replace("T", " ")
        when = k.t("outage.when", starts=starts, ends=ends) if ends else k.t("outage.when.open", starts=starts)
        panel.add_widget(Text(f"{k.t('outage.' + o['kind'])}  {when}", size=k.fs(26), bold=True, halign="left"))
        panel.add_widget(Text(o["text"], size=k.fs(26), halign="left", kid=f"outage.{o['id']}"))
        box.add_widget(panel)
    if not found:
        box.add_widget(Text(none, size=k.fs(30), color=GREEN, kid="outage.none"))


def outages(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="vertical", padding=(24, 16), spacing=12)
    _title(k, body, "outage.title")
    if k.lookup.found is not None and k.lookup.found.get("outages_for") == "supply":
        # an identified customer whose supply address HQ sent: their own notices, no area to pick
        body.add_widget(Text(k.t("outage.mine"), size=k.fs(28), color=MUTED, size_hint_y=None, height=k.fs(44)))
        mine = BoxLayout(orientation="vertical", spacing=10)
        found = k.lookup.found.get("outages", [])
        _outage_list(k, mine, found, k.t("outage.mine.none"))
        for _ in range(3 - max(1, len(found[:3]))):
            mine.add_widget(Widget())  # room for up to three notices, each a third of the screen
        body.add_widget(mine)
        return body
    row = BoxLayout(orientation="horizontal", spacing=20)
    left = BoxLayout(orientation="vertical", spacing=10, size_hint_x=0.38)
    left.add_widget(Text(k.t("outage.pick"), size=k.fs(26), color=MUTED))

    def pick(area: str) -> None:
        k.lookup.area, k.lookup.outages = area, None
        k.redraw()

        def found(result: dict[str, Any]) -> None:
            if k.lookup.area == area:
                k.lookup.outages = result["outages"]
                k.redraw()

        k.link.call("bundle.lookup", {"address": area}, on_ok=found)

    _areas(k, left, pick, k.lookup.area, "outage.area")
    row.add_widget(left)
    right = BoxLayout(orientation="vertical", spacing=10, size_hint_x=0.62)
    if k.lookup.area is not None and k.lookup.outages is not None:
        _outage_list(k, right, k.lookup.outages, k.t("outage.none", area=k.lookup.area))
    else:
        right.add_widget(Icon("outage", color=GREY))
    row.add_widget(right)
    body.add_widget(row)
    return body
