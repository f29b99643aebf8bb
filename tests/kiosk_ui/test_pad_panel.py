"""The whole paperless flow: the clerk in a real staff panel, the customer at the pad by touch, a real core.

The clerk opens the counter, calls, fills and pushes a form, sees the customer's
correction request, pushes again, and after the customer signed gets the record
(verified), its picture and the PDF receipt; a changed record is flagged; a form
is cancelled. One test does the clerk's part in headless Chromium on the counter page.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image

from edge.bus import BusClient
from kiosk_ui.drive import stroke, tap, text, until
from kiosk_ui.pad.tour import HANDWRITING
from tests.conftest import CoreProcess
from tests.panel.conftest import OUTPUT, STAFF, Client, PanelProcess, add_user
from tests.records_helpers import CUSTOMER, HOLDER

pytestmark = pytest.mark.process
MakePad = Callable[..., Any]


@pytest.fixture
def panel(core: CoreProcess) -> Iterator[PanelProcess]:
    add_user(core.home, STAFF[0], "staff", STAFF[1])
    proc = PanelProcess(core.home).start()
    yield proc
    proc.stop()


@pytest.fixture
def clerk(panel: PanelProcess) -> Iterator[Client]:
    client = Client(panel)
    assert client.login(*STAFF).status_code == 200
    yield client
    client.close()


def _customer_called(clerk: Client, bus: BusClient, core: CoreProcess) -> dict[str, Any]:
    from edge.identity import load_key, make_ref

    ref = make_ref("id", CUSTOMER[1], name=CUSTOMER[0], key=load_key(core.home.secret_path)).to_dict()
    bus.request("ticket.issue", {"business": "C", "customer": ref})  # at the kiosk, with the ID card
    called: dict[str, Any] = clerk.ok("/api/counters/2/call")
    return called


def _values(**over: Any) -> dict[str, Any]:
    return {
        "account": "3301004277",
        "old_name": "王五",
        "new_name": "赵六",
        "new_holder_id": {"number": HOLDER[1]},  # typed by the clerk
        "phone": "13800138000",
        "address": "示范市城东区解放路36号",
        "reason": "继承",
        **over,
    }


def _sign(pad: Any) -> None:
    for points in HANDWRITING:
        stroke(pad, "sign.box", points)
    tap(pad, "sign.done")


def test_clerk_pushes_customer_signs_record_verified_receipt_printed(
    make_pad: MakePad, clerk: Client, bus: BusClient, core: CoreProcess, panel: PanelProcess
) -> None:
    clerk.ok("/api/counters/2/open")
    pad = make_pad()
    ticket = _customer_called(clerk, bus, core)
    until(lambda: pad.screen == "called", what="the called customer on the pad")
    templates = clerk.get("/api/forms?business=C").json()
    assert [t["id"] for t in templates] == ["name_change", "tariff_change"]

    refused = clerk.post("/api/counters/2/form", {"form": "name_change", "values": _values(phone="12")})
    assert refused.status_code == 400 and "联系电话 (phone) must be a mobile" in refused.json()["error"]
    pushed = clerk.ok("/api/counters/2/form", {"form": "name_change", "values": _values()})
    until(lambda: pad.screen == "form", what="the form on the pad")
    assert text(pad, "form.value.new_holder_id") == "1101**********1233"
    assert clerk.get("/api/counters/2/form").json()["form"]["state"] == "pushed"
    tap(pad, "form.field.phone")
    tap(pad, "form.ask")
    corrected = clerk.ok("/api/counters/2/form", {"form": "name_change", "values": _values(phone="13900139001")})
    assert corrected["replaces"] == pushed["id"]
    until(lambda: pad.reading.changed == ["phone"], what="the corrected form")
    tap(pad, "form.confirm")
    until(lambda: pad.screen == "signature", what="the signature box")
    assert clerk.get("/api/counters/2/form").json()["form"]["state"] == "confirmed"
    _sign(pad)
    until(lambda: pad.screen == "signed", what="the signed result")

    [summary] = clerk.get("/api/records?counter=2").json()
    assert summary["number"] == ticket["number"] and summary["staff"] == STAFF[0]  # the clerk who opened counter 2
    shown = clerk.get(f"/api/records/{summary['id']}").json()
    assert shown["verified"]["ok"] and "strokes" not in shown["record"]["signature"]
    assert "hash" not in json.dumps(shown)  # browsers see masked forms only
    picture = clerk.get(f"/api/records/{summary['id']}/signature.png")
    with Image.open(io.BytesIO(picture.content)) as img:
        assert picture.headers["content-type"] == "image/png" and img.width == 600
    receipt = clerk.get(f"/api/records/{summary['id']}/receipt.pdf")
    assert receipt.headers["content-type"] == "application/pdf" and receipt.content.startswith(b"%PDF")
    pdf = panel.home.root / "receipt.pdf"
    pdf.write_bytes(receipt.content)
    if shutil.which("pdftotext"):
        words = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        for expected in ("国网示范供电营业厅", "更名（过户）申请", summary["id"], "13900139001", "1101**********1233"):
            assert expected in words, expected
        assert summary["digest"][:32] in words and summary["digest"][32:] in words
        (OUTPUT.parent / "pad").mkdir(parents=True, exist_ok=True)  # for a person to look at
        subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(OUTPUT.parent / "pad" / "receipt")], check=True)

    # the ID number the clerk typed went no further than the panel: not in hall.db, panel.db or the audit trail
    for db in (core.home.db_path, core.home.root / "panel.db"):
        with sqlite3.connect(db) as conn:
            dump = "\n".join(conn.iterdump())
        assert HOLDER[1] not in dump and CUSTOMER[1] not in dump, db
    actions = [a["action"] for a in panel_audit(core)]
    assert actions.count("form.push") == 3 and "record.receipt" in actions

    # someone edits the record in hall.db: the panel says so
    with sqlite3.connect(core.home.db_path) as conn:
        body = json.loads(conn.execute("SELECT body FROM records").fetchone()[0])
        body["form"]["fields"][1]["value"] = "钱七"
        conn.execute("UPDATE records SET body = ?", (json.dumps(body, ensure_ascii=False),))
    shown = clerk.get(f"/api/records/{summary['id']}").json()
    assert not shown["verified"]["ok"] and "does not match its digest" in shown["verified"]["problems"][0]["problem"]
    assert clerk.get("/api/records/verify").json()["ok"] is False


def panel_audit(core: CoreProcess) -> list[dict[str, Any]]:
    with sqlite3.connect(core.home.root / "panel.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT action, detail FROM audit ORDER BY id")]


def test_clerk_cancels_from_the_panel(
    make_pad: MakePad, clerk: Client, bus: BusClient, core: CoreProcess, panel: PanelProcess
) -> None:
    clerk.ok("/api/counters/2/open")
    pad = make_pad()
    _customer_called(clerk, bus, core)
    values = _values(new_holder_id="customer")  # the customer's own card, tapped at the kiosk
    form = clerk.ok("/api/counters/2/form", {"form": "name_change", "values": values})
    assert [f["value"] for f in form["fields"] if f["key"] == "new_holder_id"] == ["1101**********002X"]
    until(lambda: pad.screen == "form", what="the form")
    add_user(core.home, "staff-zhou", "staff", "Granite-Owl-4410")  # another clerk, not at counter 2
    other = Client(panel)
    try:
        assert other.login("staff-zhou", "Granite-Owl-4410").status_code == 200
        refused = other.post("/api/counters/2/form/cancel", {})
        assert refused.status_code == 403 and "counter 2 is signed in by someone else" in refused.json()["error"]
        assert other.post("/api/counters/2/form", {"form": "name_change", "values": values}).status_code == 403
    finally:
        other.close()
    assert pad.screen == "form"
    clerk.ok("/api/counters/2/form/cancel", {"reason": "客户改日再办"})
    until(lambda: pad.screen == "done", what="the cancel on the pad")
    assert text(pad, "done") == "工作人员已撤回该表单"
    again = clerk.post("/api/counters/2/form/cancel", {})
    assert again.status_code == 409 and "no open form" in again.json()["error"]


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def page() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian package chromium not installed (make setup)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        context = browser.new_context(
            viewport={"width": 1366, "height": 900},
            locale="zh-CN",
            ignore_https_errors=True,  # self-signed
        )
        context.set_default_timeout(15000)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        context.close()
        browser.close()
        assert errors == [], errors


def test_the_counter_page_fills_pushes_and_shows_the_signed_record(
    make_pad: MakePad, page: Any, panel: PanelProcess, bus: BusClient, core: CoreProcess
) -> None:
    from edge.identity import load_key, make_ref

    out = OUTPUT.parent / "pad"
    out.mkdir(parents=True, exist_ok=True)
    page.goto(f"{panel.url}/login")
    page.fill("#name", STAFF[0])
    page.fill("#password", STAFF[1])
    page.click("#submit")
    page.wait_for_selector("#live.on")
    page.click("[data-counter='2']")
    page.wait_for_selector("#act-call:not([disabled])")
    pad = make_pad()
    ref = make_ref("id", CUSTOMER[1], name=CUSTOMER[0], key=load_key(core.home.secret_path)).to_dict()
    bus.request("ticket.issue", {"business": "C", "customer": ref})
    page.keyboard.press("n")
    page.wait_for_selector("#paper-form")
    assert page.input_value("#paper-template") == "name_change"  # the called business's first form
    for name, value in (("account", "3301004277"), ("old_name", "王五"), ("new_name", "赵六")):
        page.fill(f"#paper-form input[name={name}]", value)
    page.select_option("#paper-form select[name=new_holder_id]", "typed")
    page.fill("#paper-form input[name='new_holder_id.number']", HOLDER[1])
    page.fill("#paper-form input[name=phone]", "13800138000")
    page.fill("#paper-form input[name=address]", "示范市城东区解放路36号")
    page.select_option("#paper-form select[name=reason]", "继承")
    page.click("#paper-push")
    page.wait_for_selector("#paper-state.s-pushed")
    until(lambda: pad.screen == "form", what="the form on the pad")
    tap(pad, "form.field.phone")
    tap(pad, "form.ask")
    page.wait_for_selector("#paper-flag:has-text('联系电话')")
    page.wait_for_selector("#paper-form label.flagged input[name=phone]")
    page.screenshot(path=str(out / "counter-correction-asked.png"), full_page=True)
    assert page.input_value("#paper-form select[name=new_holder_id]") == "keep"  # the typed number left the page
    assert HOLDER[1] not in page.content()
    page.fill("#paper-form input[name=phone]", "13900139001")
    page.click("#paper-push")
    until(lambda: pad.reading.changed == ["phone"], what="the corrected form on the pad")
    tap(pad, "form.confirm")
    page.wait_for_selector("#paper-state.s-confirmed")
    until(lambda: pad.screen == "signature", what="the signature box")
    _sign(pad)
    until(lambda: pad.screen == "signed", what="the signed result")
    page.wait_for_selector("#paper-state.s-signed")
    page.wait_for_selector("#records tr[data-record]")
    page.click("#records tr[data-record] button")
    page.wait_for_selector("#record-verified:has-text('校验通过')")
    page.wait_for_function("document.querySelector('#record-view img.sig').naturalWidth === 600")
    assert "1101**********1233" in page.inner_text("#record-view") and HOLDER[1] not in page.content()
    page.screenshot(path=str(out / "counter-record.png"), full_page=True)
