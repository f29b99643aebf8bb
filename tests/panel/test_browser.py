"""The panel in headless Chromium (Debian's ``chromium``) driven by Playwright, with screenshots.

Screenshots go to ``build/test-output/panel/`` (or ``$HALL_TEST_OUTPUT/panel``) so a person can look at them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from edge.bus import BusClient
from tests.conftest import CoreProcess
from tests.panel.conftest import MANAGER, OUTPUT, STAFF, PanelProcess

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian package chromium not installed (make setup)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1366, "height": 820},
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        ignore_https_errors=True,  # the panel's self-signed certificate (its fingerprint is in the panel's log)
    )
    context.set_default_timeout(15000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert errors == [], errors


def shot(page: Any, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def sign_in(page: Any, url: str, who: tuple[str, str]) -> None:
    page.goto(f"{url}/login")
    page.fill("#name", who[0])
    page.fill("#password", who[1])
    page.click("#submit")
    page.wait_for_selector("#live.on")  # signed in and the live stream is connected


def test_first_run_setup_sign_in_and_call_next(page: Any, core: CoreProcess, bus: BusClient) -> None:
    panel = PanelProcess(core.home).start()
    try:
        token = re.search(r"setup token (\S+)", panel.log.read_text())
        assert token is not None
        page.goto(panel.url)
        assert page.url.endswith("/setup")
        page.fill("#token", token.group(1))
        page.fill("#name", "boss")
        page.fill("#password", "Lantern-Quay-2718")
        page.fill("#again", "Lantern-Quay-2718")
        shot(page, "01-setup")
        page.click("button[type=submit]")
        page.wait_for_url("**/login")
        page.fill("#name", "boss")
        page.fill("#password", "wrong-password")
        page.click("#submit")
        page.wait_for_selector("#msg:has-text('用户名或密码错误')")
        shot(page, "02-login-refused")
        sign_in(page, panel.url, ("boss", "Lantern-Quay-2718"))
        assert page.url.endswith("/counter")
        for business in "AAB":
            bus.request("ticket.issue", {"business": business})
        page.click("[data-counter='1']")
        page.wait_for_selector("#act-call:not([disabled])")
        shot(page, "03-counter-open")
        page.keyboard.press("n")
        page.wait_for_selector("#current-number:has-text('A001')")
        assert "先到先叫" in page.inner_text(".why")
        assert bus.request("ticket.show", {"number": "A001"})["state"] == "called"
        page.keyboard.press("s")
        page.wait_for_selector(".state.s-serving")
        shot(page, "04-counter-serving")
        page.keyboard.press("f")
        page.wait_for_selector(".card .empty")
        assert bus.request("ticket.show", {"number": "A001"})["state"] == "done"
        page.keyboard.press("p")
        page.select_option("dialog select[name=reason]", "午休")
        page.click("dialog button.primary")
        page.wait_for_selector("#desk-title .badge.s-paused")
        assert {c["id"]: c["pause_reason"] for c in bus.request("counter.list")}["1"] == "午休"
        page.keyboard.press("u")
        page.wait_for_selector("#desk-title .badge.s-open")
    finally:
        page.context.close()  # before the panel goes, so no request of the page is left dangling
        panel.stop()


def test_dashboard_updates_live(panel: PanelProcess, page: Any, bus: BusClient) -> None:
    sign_in(page, panel.url, MANAGER)
    page.goto(f"{panel.url}/dashboard")
    page.wait_for_selector("#live.on")
    page.wait_for_selector("#kpi-waiting .kpi-v:has-text('0')")
    page.evaluate("window.__notReloaded = true")
    for business in "AAABCD":
        bus.request("ticket.issue", {"business": business})
    bus.request("counter.open", {"counter": "2", "staff": "李娜"})
    bus.request("counter.call", {"counter": "2"})
    for direction in ("in", "in", "out", "in"):
        bus.request("event.publish", {"topic": "door.crossed", "data": {"direction": direction}})
    bus.request("event.publish", {"topic": "device.health", "data": {"device": "printer", "state": "ok"}})
    bus.request(
        "event.publish",
        {"topic": "emotion.window", "data": {"zone": "等候区", "positive": 6, "neutral": 3, "negative": 1}},
    )
    page.wait_for_selector("#kpi-waiting .kpi-v:has-text('5')")
    page.wait_for_selector("[data-counter='2'] .cur:has-text('A001')")
    assert page.evaluate("window.__notReloaded") is True  # updated in place, not reloaded
    assert "未配置" in page.inner_text("#hq")
    assert "无摄像头数据" in page.inner_text("#heatmap")
    from PIL import Image

    (panel.home.root / "vision").mkdir(exist_ok=True)
    Image.radial_gradient("L").resize((400, 240)).convert("RGB").save(panel.home.root / "vision" / "heatmap.png")
    bus.request("event.publish", {"topic": "heatmap.minute", "data": {"camera": "hall-1", "cells": []}})
    page.wait_for_selector("#heatmap img")
    page.wait_for_function("document.querySelector('#heatmap img').naturalWidth === 400")
    bus.request(
        "event.publish", {"topic": "sync.status", "data": {"backlog": 42, "last_ack": "2026-03-02T10:00:00+08:00"}}
    )
    page.wait_for_selector("#hq-link dd:has-text('42')")
    mood = {"zone": "窗口2", "counter": "2", "positive": 0.5, "neutral": 0.25, "negative": 0.25, "people": 4}
    bus.request("event.publish", {"topic": "emotion.window", "data": mood, "durable": True})
    page.wait_for_selector("#mood [data-mood^='2-'] td:has-text('25%')")  # beside counter 2's ratings
    # people in the hall, reconciled: the door says 3 in − 1 out = 2 (σ = 1 + 0.03·4 = 1.12), the queue 6 tickets
    # × 1.2 = 7.2 (σ = 1 + 0.3·7.2 = 3.16); weighted by 1/σ²: (2/1.2544 + 7.2/9.9856) / (1/1.2544 + 1/9.9856) = 2.58,
    # and σ = (1/1.2544 + 1/9.9856)^−½ = 1.06
    page.wait_for_selector("#kpi-inhall .kpi-src:has-text('门口 2 / 排队 7')")
    assert page.inner_text("#kpi-inhall .kpi-v").split() == ["3", "±1"]
    shot(page, "05-dashboard-live")


def test_alert_raised_and_acknowledged_at_the_counter(panel: PanelProcess, page: Any, bus: BusClient) -> None:
    sign_in(page, panel.url, STAFF)
    page.click("[data-counter='3']")
    page.wait_for_selector("#act-call:not([disabled])")
    bus.request(
        "event.publish",
        {"topic": "device.health", "data": {"device": "printer", "state": "degraded", "detail": "paper_out"}},
    )
    vip = {"entry": "e1", "who": "王*", "camera": "entrance", "source": "camera:entrance", "similarity": 0.71}
    bus.request("event.publish", {"topic": "vip.arrived", "data": vip, "durable": False})
    help_ = {"kiosk": "k1", "reason": "elderly"}
    bus.request("event.publish", {"topic": "staff.requested", "data": help_, "durable": False})
    alert = page.wait_for_selector(".alert.fresh:has-text('缺纸')")
    page.wait_for_selector(".notice:has-text('王*（entrance）')")
    page.wait_for_selector(".notice:has-text('自助机 k1：老年客户需要协助')")
    shot(page, "06-alert-raised")
    alert.query_selector("button.ack").click()
    page.wait_for_selector(".alert.acked:has-text('已确认 staff-li')")
    shot(page, "07-alert-acknowledged")
    acked = bus.request("events.since", {"seq": 0, "prefix": "alert.acknowledged"})
    assert [e["data"]["by"] for e in acked] == ["staff-li"]


def test_manager_edits_a_rule_and_builds_the_report(panel: PanelProcess, page: Any, bus: BusClient) -> None:
    sign_in(page, panel.url, MANAGER)
    page.goto(f"{panel.url}/admin")
    page.wait_for_selector("#rules-form")
    page.fill("input[name='waiting_per_counter.threshold']", "1")
    page.click("#rules-form button[type=submit]")
    page.wait_for_selector(".toast:has-text('告警规则已保存')")
    assert bus.request("alert.rules.get")["waiting_per_counter"]["threshold"] == 1
    page.click("#report-go")
    page.wait_for_selector("#report-html", timeout=60000)
    page.wait_for_selector("#audit td:has-text('report.day')")
    shot(page, "08-admin")


def test_another_counter_and_a_core_outage_as_staff_see_them(
    panel: PanelProcess, page: Any, bus: BusClient, core: CoreProcess
) -> None:
    bus.request("counter.open", {"counter": "2", "staff": "zhang"})  # opened at the box, not by this account
    sign_in(page, panel.url, STAFF)
    page.click("[data-counter='2']")
    page.wait_for_selector("#not-mine")
    assert page.is_disabled("#act-call")
    shot(page, "09-counter-not-mine")
    page.click("#desk-title button.link")  # change counter
    page.click("[data-counter='1']")
    page.wait_for_selector("#act-call:not([disabled])")
    core.kill9()
    page.keyboard.press("n")
    page.wait_for_selector("#banner:has-text('叫号核心服务暂时无响应')")
    page.wait_for_selector(".toast.error:has-text('叫号核心服务暂时无响应')")
    shot(page, "10-core-down")
    core.start()
    page.wait_for_selector("#banner", state="hidden", timeout=30000)
    bus.request("ticket.issue", {"business": "A"})
    page.keyboard.press("n")
    page.wait_for_selector("#current-number:has-text('A001')")  # the page works again, without a reload


def test_the_face_audit_on_the_managers_page(panel: PanelProcess, page: Any, core: CoreProcess, tmp_path: Any) -> None:
    from tests.panel.test_face_audit import start_vision

    vision = start_vision(core, tmp_path)
    try:
        sign_in(page, panel.url, MANAGER)
        page.goto(f"{panel.url}/admin")
        from playwright.sync_api import TimeoutError as NotYet

        for _ in range(12):  # the vision service may still be starting: the page says so; refresh until the rows
            try:
                page.wait_for_selector("#face-audit-table", timeout=6000)
                break
            except NotYet:
                page.click("#face-go")
        page.wait_for_selector("#face-audit-table td:has-text('识别出候选人')")
        assert page.locator("#face-audit-table tr").count() == 4  # a header and three rows
        shot(page, "09-face-audit")
    finally:
        vision.terminate()
        vision.wait(20)
