"""The operations page: forecast vs actual, staffing plan, seats and points, roster; a staff member sees only
their own figures. API tests and screenshots in headless Chromium (build/test-output/panel/ops-*.png)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from typing import Any

import pytest

from edge import config
from edge.bus import BusClient, Endpoints
from edge.ops import planning
from edge.ops.config import OpsConfig
from tests.ops import hallsim
from tests.panel.conftest import MANAGER, STAFF, TECH, Client, PanelProcess
from tests.panel.test_browser import browser, page, shot, sign_in

__all__ = ["browser", "page"]


@pytest.fixture
def hall(panel: PanelProcess) -> dict[str, Any]:
    """HQ's bundle (staff, a roster entry), four weeks of history up to yesterday, yesterday's and today's plans."""
    home = panel.home
    with BusClient("test", endpoints=Endpoints.local(home), timeout=30) as bus:
        today = date.fromisoformat(bus.request("queue.status")["day"])
        yesterday = today - timedelta(days=1)
        monday = today - timedelta(days=today.weekday())
        assert bus.request("bundle.apply", {"bundle": hallsim.bundle(1, monday + timedelta(days=1))})["applied"]
        hallsim.load(bus, hallsim.visits(yesterday, 35))
        cfg, ops = config.load_text("", defaults=True), OpsConfig()
        plan = planning.day_plan(bus.request, cfg, ops, yesterday)  # as hall ops saved it yesterday
        bus.request("plan.save", {"kind": "day", "key": yesterday.isoformat(), "basis": "yesterday", "data": plan})
    env = {**os.environ, "HALL_HOME": str(home.root)}
    res = subprocess.run(
        [sys.executable, "-m", "edge", "ops", "--once"], env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    return {"today": today, "yesterday": yesterday, "monday": monday}


def test_manager_sees_everyone_staff_only_themselves(
    hall: dict[str, Any], manager: Client, staff: Client, panel: PanelProcess
) -> None:
    day = hall["yesterday"].isoformat()
    d = manager.get(f"/api/ops/day?day={day}").json()
    assert d["day"] == day and d["plan"] is not None
    h = d["hourly"]
    assert sum(h["forecast_total"]) > 0 and sum(h["actual_total"]) > 0
    assert {r["staff"] for r in d["seats"]["staff"]} == {"王芳", "张伟", "李雷", "韩梅"}
    assert d["seats"]["source"] == "history"
    mine = staff.get(f"/api/ops/day?day={day}").json()
    assert mine["role"] == "staff" and "plan" not in mine and mine["seats"]["counters"] == []
    assert mine["seats"]["staff"] == []  # staff-li served nobody yesterday
    tech = Client(panel)
    assert tech.login(*TECH).status_code == 200
    assert tech.get("/api/ops/day").status_code == 403 and tech.get("/api/ops/roster").status_code == 403
    tech.close()
    assert staff.get("/api/ops/roster").status_code == 403
    roster = manager.get("/api/ops/roster").json()
    assert [e["staff"] for e in roster["hq"]] == ["li"]
    assert {p["id"] for p in roster["suggested"]["data"]["staff"]} == {p["id"] for p in hallsim.BUNDLE_STAFF}
    assert manager.get("/api/ops/day?day=yesterday").status_code == 400


def test_ops_page_screenshots(hall: dict[str, Any], page: Any, panel: PanelProcess, staff: Client) -> None:
    # today: the staff member works counter 1 (opened in their name) and is rated
    staff.ok("/api/counters/1/open")
    with BusClient("test", endpoints=Endpoints.local(panel.home)) as bus:
        for _ in range(3):
            bus.request("ticket.issue", {"business": "A"})
        for score in (5, 4):
            called = staff.ok("/api/counters/1/call")
            staff.ok("/api/counters/1/finish")
            bus.request("ticket.evaluate", {"number": called["number"], "score": score, "reasons": ["耐心"]})
    sign_in(page, panel.url, MANAGER)
    page.goto(f"{panel.url}/ops")
    page.fill("#ops-day", hall["yesterday"].isoformat())
    page.dispatch_event("#ops-day", "change")
    page.wait_for_selector("#forecast-chart")
    page.wait_for_selector("#plan-table")
    page.wait_for_selector("#seat-table tr[data-seat='李雷']")
    page.wait_for_selector("#roster-table")
    shot(page, "ops-manager-yesterday")
    page.fill("#ops-day", hall["today"].isoformat())
    page.dispatch_event("#ops-day", "change")
    page.wait_for_selector(f"#seat-table tr[data-seat='{STAFF[0]}']")
    shot(page, "ops-manager-today")
    page.context.clear_cookies()
    sign_in(page, panel.url, STAFF)
    page.goto(f"{panel.url}/ops")
    page.wait_for_selector(f"#seat-table tr[data-seat='{STAFF[0]}']")
    assert page.locator("#seat-table tr[data-seat]").count() == 1
    assert page.is_hidden("#roster")
    shot(page, "ops-staff")


pytestmark = pytest.mark.skipif(
    shutil.which("/usr/bin/chromium") is None, reason="Debian package chromium not installed (make setup)"
)


def test_daily_report_has_forecast_plan_and_seats(hall: dict[str, Any], panel: PanelProcess, tmp_path: Any) -> None:
    from pathlib import Path

    from tests.panel.conftest import OUTPUT

    env = {**os.environ, "HALL_HOME": str(panel.home.root)}
    day = hall["yesterday"].isoformat()
    out = tmp_path / "reports"
    run = subprocess.run(
        [sys.executable, "-m", "edge", "report", "day", day, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    html_path, pdf_path = (Path(p) for p in run.stdout.split())
    text = html_path.read_text(encoding="utf-8")
    assert "人员排班需求 Staffing plan" in text and "坐席质量与积分" in text
    assert "<td>李雷</td>" in text and "积分规则：办结 +1，五星好评 +2，差评 -3" in text
    assert "<img alt='forecast'" in text  # the day was imported: the forecast against actual is its figure
    OUTPUT.mkdir(parents=True, exist_ok=True)
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "3", str(pdf_path), str(OUTPUT / "ops-report")],
            check=True,
        )
