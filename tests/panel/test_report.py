"""The daily report: ``hall report day`` and the panel's button write HTML and PDF with Chinese text and plots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.bus import BusClient
from edge.paths import Home
from tests.conftest import CoreProcess
from tests.panel.conftest import OUTPUT, Client

needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed (make setup)")


def busy_day(bus: BusClient, home: Path) -> None:
    for business in "AAABCDA":
        bus.request("ticket.issue", {"business": business})
    for counter, staff in (("1", "王芳"), ("2", "李娜"), ("3", "张伟")):
        bus.request("counter.open", {"counter": counter, "staff": staff})
    for counter in ("1", "2", "3", "1"):
        bus.request("counter.call", {"counter": counter})
        done = bus.request("counter.finish", {"counter": counter})
        bus.request("ticket.evaluate", {"number": done["number"], "score": 5 if counter != "2" else 2})
    bus.request("counter.call", {"counter": "2"})
    bus.request("counter.noshow", {"counter": "2"})
    for direction in ("in", "in", "in", "out"):
        bus.request("event.publish", {"topic": "door.crossed", "data": {"direction": direction}})
    from PIL import Image

    heat = home / "heatmap.png"
    Image.linear_gradient("L").resize((320, 200)).convert("RGB").save(heat)
    bus.request("event.publish", {"topic": "heatmap.rendered", "data": {"path": str(heat)}, "durable": False})


@needs_poppler
def test_report_day_writes_html_and_pdf_with_chinese(bus: BusClient, core: CoreProcess, tmp_path: Path) -> None:
    busy_day(bus, core.home.root)
    env = {**os.environ, "HALL_HOME": str(core.home.root)}
    out = tmp_path / "reports"
    run = subprocess.run(
        [sys.executable, "-m", "edge", "report", "day", "--out", str(out)], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    html_path, pdf_path = (Path(p) for p in run.stdout.split())
    html = html_path.read_text(encoding="utf-8")
    assert "国网示范供电营业厅 营业日报" in html
    assert html.count("<img") == 6  # volume, arrivals, waits, handling, evaluations, heatmap
    assert "<td>未到(过号)</td><td>1</td>" in html
    assert "<td>王芳</td><td>2</td>" in html  # counter 1 served two under 王芳
    fonts = subprocess.run(["pdffonts", str(pdf_path)], capture_output=True, text=True, check=True).stdout
    assert "WenQuanYi" in fonts
    text = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(pdf_path), "-"], capture_output=True, text=True
    ).stdout
    assert "营业日报" in text and "低分评价" in text
    OUTPUT.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf_path), str(OUTPUT / "report-page")], check=True)
    pages = sorted(OUTPUT.glob("report-page-*.png"))
    assert len(pages) == 8  # the summary page, the seats-and-points page and six figures
    shutil.copy(html_path, OUTPUT / "report.html")


def test_report_day_refuses_a_bad_date(core: CoreProcess) -> None:
    env = {**os.environ, "HALL_HOME": str(core.home.root)}
    run = subprocess.run(
        [sys.executable, "-m", "edge", "report", "day", "2026-13-40"], env=env, capture_output=True, text=True
    )
    assert run.returncode == 2 and "2026-13-40" in run.stderr


def test_report_day_says_at_once_when_no_core_answers(hall_home: Home) -> None:
    env = {**os.environ, "HALL_HOME": str(hall_home.root)}
    run = subprocess.run([sys.executable, "-m", "edge", "report", "day"], env=env, capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip() == (
        f"hall report: the core is not answering at {hall_home.requests_endpoint} (is `hall core` running?)"
    )


def test_report_from_the_panel(manager: Client, staff: Client, bus: BusClient, core: CoreProcess) -> None:
    busy_day(bus, core.home.root)
    assert staff.post("/api/reports", {}).status_code == 403
    links = manager.ok("/api/reports", {})
    pdf = manager.get(links["pdf"])
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert "营业日报" in manager.get(links["html"]).text
    assert manager.get("/api/reports").json() == sorted({links["html"][9:], links["pdf"][9:]}, reverse=True)
    assert manager.get("/reports/..%2Fpanel.db").status_code == 404
