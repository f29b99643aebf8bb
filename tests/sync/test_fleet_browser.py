"""The fleet page in headless Chromium (Debian's ``chromium``, driven by Playwright), against a real HQ server.

Screenshots go to ``build/test-output/hq/`` (or ``$HALL_TEST_OUTPUT/hq``) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.envelope import now_iso
from sync.hq import repairs
from tests.sync.conftest import HqServer, hall_cmd, wait_for

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
OUTPUT = Path(os.environ.get("HALL_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "build" / "test-output")) / "hq"
PASSWORD = "fleet-watch-2026"
pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian package chromium not installed (make setup)"),
    pytest.mark.parametrize("hq_db", ["sqlite"], indirect=True),
]


@pytest.fixture
def page(hq: HqServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 820}, locale="zh-CN")
        context.set_default_timeout(15000)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        outside: list[str] = []
        pg.on("request", lambda r: None if r.url.startswith(hq.url) else outside.append(r.url))
        yield pg
        browser.close()
    assert errors == [] and outside == [], (errors, outside)


def shot(page: Any, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def _ev(seq: int, topic: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"v": 1, "id": f"e{seq}", "ts": now_iso(), "source": "core", "topic": topic, "data": data, "seq": seq}


def test_operators_see_every_hall_by_region_and_one_hall_in_detail(page: Any, hq: HqServer) -> None:
    import time

    hq.cmd("hall", "add", "sz-futian-01", "--url", hq.url, "--region", "深圳", "--name", "福田供电营业厅")
    hq.cmd("hall", "add", "sz-nanshan-02", "--url", hq.url, "--region", "深圳", "--name", "南山供电营业厅")
    hq.cmd("hall", "add", "gz-tianhe-01", "--url", hq.url, "--region", "广州")
    hall_cmd("hq", "operator", "add", "zhang", "--role", "viewer", "--password-stdin", *hq.store_args(),
             stdin=PASSWORD + "\n")  # fmt: skip
    hall_cmd("hq", "operator", "add", "li", "--role", "operator", "--password-stdin", *hq.store_args(),
             stdin=PASSWORD + "\n")  # fmt: skip
    store = hq.store()
    try:
        store.ingest("sz-futian-01", "records", 0, 3, [
            _ev(1, "ticket.issued", {"id": "t1", "business": "A", "business_name": "电费缴纳", "state": "issued"}),
            _ev(2, "ticket.issued", {"id": "t2", "business": "A", "business_name": "电费缴纳", "state": "issued"}),
        ], now=time.time())  # fmt: skip
        store.ingest("sz-futian-01", "records", 2, 4, [_ev(4, "repair.reported", {
            "reference": "BX-261125-001", "kind": "line", "phone": "13800138000", "address": "福田区深南大道 1 号",
            "description": "线路断落", "photos": [], "reported_at": now_iso()})], now=time.time())  # fmt: skip
        store.ingest("sz-futian-01", "records", 4, 5, [_ev(5, "device.health", {
            "device": "camera:entrance", "state": "ok",
            "detail": "/usr/share/doc/opencv-doc/examples/data/vtest.avi opened"})], now=time.time())  # fmt: skip
        store.ingest("sz-futian-01", "alerts", 0, 3,
                     [_ev(3, "alert.raised", {"key": "wait:A", "rule": "longest_wait", "message": "A 等候超过 20 分钟"})],
                     now=time.time())  # fmt: skip
        store.ingest("sz-nanshan-02", "records", 0, 1, [_ev(1, "ticket.issued", {"id": "x", "business": "B"})],
                     now=time.time() - 3600)  # fmt: skip
        store.use_nonce("sz-nanshan-02", "oldnonce1", time.time() - 3600)  # last heard from an hour ago
    finally:
        store.close()

    page.goto(hq.url + "/fleet")
    page.wait_for_selector("#signin:not([hidden])")
    page.fill("input[name=name]", "zhang")
    page.fill("input[name=password]", "not-the-password")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#signin-error:has-text('wrong name or password')")
    page.fill("input[name=password]", PASSWORD)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("tr.hall-row[data-hall=sz-futian-01]")
    assert page.inner_text("#who-name") == "zhang (viewer)"
    links = {r.get_attribute("data-hall"): r.query_selector(".link").get_attribute("data-link")
             for r in page.query_selector_all("tr.hall-row")}  # fmt: skip
    assert links == {"sz-futian-01": "up", "sz-nanshan-02": "down", "gz-tianhe-01": "never"}
    assert page.inner_text("h2.region >> nth=0") == "广州" and page.inner_text("h2.region >> nth=1") == "深圳"
    futian = page.inner_text("tr.hall-row[data-hall=sz-futian-01]")
    assert "福田供电营业厅" in futian and "\t1\t2\t" in futian  # one open alert, two tickets today
    assert page.inner_text("[data-count=down] b") == "1"
    shot(page, "fleet")

    page.select_option("#region", "深圳")
    wait_for(lambda: len(page.query_selector_all("tr.hall-row")) == 2, 15, "the page to keep 深圳's halls only")
    page.click("tr.hall-row[data-hall=sz-futian-01]")
    page.wait_for_selector("#hall:not([hidden]) #queues td")
    assert "A 电费缴纳\t2\t0\t0" in page.inner_text("#queues")
    assert "A 等候超过 20 分钟" in page.inner_text("#alerts")
    # a device's detail (a path has no place to break) wraps inside its table: nothing runs past its box
    assert "vtest.avi" in page.inner_text("#devices")
    assert page.eval_on_selector("#devices", "t => t.parentElement.scrollWidth <= t.parentElement.clientWidth")
    repair_row = page.inner_text("#repairs")
    assert "BX-261125-001" in repair_row and "138****8000" in repair_row and "13800138000" not in repair_row
    assert page.query_selector("form.answer") is None  # a viewer reads; answering needs an operator
    csrf = page.request.get(hq.url + "/fleet/api/me").json()["csrf"]
    refused = page.request.post(hq.url + "/fleet/api/halls/sz-futian-01/repairs/BX-261125-001",
                                data={"state": "dispatched"}, headers={"x-csrf": csrf})  # fmt: skip
    assert refused.status == 403 and "needs an operator" in refused.json()["detail"]
    shot(page, "hall")

    page.click("#signout")
    page.wait_for_selector("#signin:not([hidden])")
    assert page.request.get(hq.url + "/fleet/api/halls").status == 401  # the browser's cookies, signed out

    # an operator answers the report; the answer waits at HQ for the hall's agent to fetch it
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", PASSWORD)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#hall:not([hidden]) form.answer[data-reference=BX-261125-001]")
    assert "13800138000" in page.inner_text("#repairs")  # the crew calls this number
    page.select_option("form.answer select[name=state]", "dispatched")
    page.fill("form.answer input[name=note]", "抢修车已出发")
    page.click("form.answer button[type=submit]")
    store = hq.store()
    try:  # the page's own choices name the state too: the answer is looked for where it is kept
        wait_for(lambda: repairs.pending(store, "sz-futian-01", 0), 15, "the answer recorded")
        (update,) = repairs.pending(store, "sz-futian-01", 0)
    finally:
        store.close()
    assert (update["reference"], update["state"], update["note"]) == ("BX-261125-001", "dispatched", "抢修车已出发")
    shot(page, "hall-operator")


def test_no_page_data_without_signing_in(hq: HqServer) -> None:
    import httpx

    assert httpx.get(hq.url + "/fleet/api/halls").status_code == 401
    assert httpx.get(hq.url + "/fleet/api/halls/x", cookies={"hq_session": "forged"}).status_code == 401
    assert httpx.post(hq.url + "/fleet/api/signin", content=b"x" * 5000,
                      headers={"content-type": "application/json"}).status_code == 413  # fmt: skip
    assert httpx.get(hq.url + "/fleet/static/../store.py").status_code == 404
