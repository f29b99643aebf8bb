"""Security of the panel: sessions everywhere, no default credentials, CSRF, lockout, one-time setup."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from edge.bus import BusClient
from tests.conftest import CoreProcess
from tests.panel.conftest import MANAGER, STAFF, Client, PanelProcess

PAGES = ["/counter", "/dashboard", "/admin"]
API_GET = [
    "/api/me",
    "/api/status",
    "/api/counters/1",
    "/api/dashboard",
    "/api/alerts",
    "/api/rules",
    "/api/users",
    "/api/audit",
    "/api/heatmap.png",
    "/api/reports",
    "/api/stream",
    "/reports/report-2026-03-02.html",
]
API_WRITE = [
    ("POST", "/api/logout"),
    ("POST", "/api/counters/1/open"),
    ("POST", "/api/counters/1/call"),
    ("POST", "/api/alerts/1/ack"),
    ("PUT", "/api/rules"),
    ("POST", "/api/users"),
    ("POST", "/api/users/mgr-wang/unlock"),
    ("POST", "/api/reports"),
]
DEFAULTS = [("admin", "admin"), ("admin", "123456"), ("admin", "password"), ("root", "root"), ("manager", "manager")]


@pytest.fixture
def bare_panel(core: CoreProcess) -> Iterator[PanelProcess]:
    """A panel on a hall with no account at all (first run)."""
    proc = PanelProcess(core.home).start()
    yield proc
    proc.stop()


def test_nothing_answers_without_a_session(anonymous: Client) -> None:
    for path in PAGES:
        r = anonymous.get(path)
        assert (r.status_code, r.headers["location"]) == (303, "/login"), path
    for path in API_GET:
        r = anonymous.get(path)
        assert r.status_code == 401, path
        assert "error" in r.json()
    for method, path in API_WRITE:
        assert anonymous.post(path, {}, method=method).status_code == 401, path
    assert anonymous.get("/login").status_code == 200  # only sign-in and assets are public
    assert anonymous.get("/static/panel.css").status_code == 200


def test_a_forged_or_ended_session_is_refused(panel: PanelProcess, staff: Client) -> None:
    forged = panel.http(cookies={"hall_session": "x" * 43})
    assert forged.get("/api/me").status_code == 401
    forged.close()
    token = staff.http.cookies["hall_session"]
    assert staff.ok("/api/logout") == {"ok": True}
    replay = panel.http(cookies={"hall_session": token})
    assert replay.get("/api/me").status_code == 401
    replay.close()


def _defaults_fail(client: Client) -> None:
    for name, password in DEFAULTS:
        r = client.login(name, password)
        assert r.status_code == 401, (name, password)
        assert r.json()["error"] == "用户名或密码错误"
        assert "hall_session" not in client.http.cookies


def test_no_default_credentials_work_on_a_fresh_box(bare_panel: PanelProcess) -> None:
    fresh = Client(bare_panel)
    _defaults_fail(fresh)
    assert fresh.get("/api/me").status_code == 401
    fresh.close()


def test_no_default_credentials_work_once_accounts_exist(anonymous: Client) -> None:
    _defaults_fail(anonymous)


def test_first_manager_through_the_one_time_setup_token(bare_panel: PanelProcess) -> None:
    log = bare_panel.log.read_text()
    token = re.search(r"setup token (\S+)", log)
    assert token is not None, log
    client = Client(bare_panel)
    assert client.get("/").headers["location"] == "/setup"
    assert client.get("/setup").status_code == 200
    body = {"token": "wrong-token", "name": "boss", "password": "Lantern-Quay-2718"}
    assert client.http.post("/api/setup", json=body).status_code == 401
    r = client.http.post("/api/setup", json={**body, "token": token.group(1)})
    assert r.status_code == 200 and r.json()["role"] == "manager"
    assert client.http.post("/api/setup", json={**body, "name": "boss2"}).status_code == 409
    assert client.get("/setup").headers["location"] == "/login"
    assert client.login("boss", "Lantern-Quay-2718").json()["role"] == "manager"
    client.close()


def test_csrf_is_refused_and_changes_nothing(staff: Client, bus: BusClient) -> None:
    no_header = staff.http.post("/api/counters/1/open", json={})
    assert no_header.status_code == 403 and no_header.json()["code"] == "csrf"
    wrong = staff.http.post("/api/counters/1/open", json={}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    form = staff.http.post("/api/counters/1/open", data={"a": "b"}, headers={"X-CSRF-Token": staff.csrf})
    assert form.status_code == 415  # a cross-site form cannot send JSON
    counters = {c["id"]: c["state"] for c in bus.request("counter.list")}
    assert counters["1"] == "closed"
    assert staff.post("/api/counters/1/open").status_code == 200  # the real token works


def test_cross_site_sign_in_is_refused(panel: PanelProcess) -> None:
    with panel.http() as http:
        r = http.post(
            "/api/login", json={"name": STAFF[0], "password": STAFF[1]}, headers={"Origin": "https://evil.example"}
        )
        assert r.status_code == 403
        r = http.post("/api/login", data={"name": STAFF[0], "password": STAFF[1]})
        assert r.status_code == 415 and "JSON" in r.json()["error"]  # a cross-site form cannot send JSON


def test_cookie_and_headers(panel: PanelProcess) -> None:
    with panel.http() as http:
        r = http.post("/api/login", json={"name": MANAGER[0], "password": MANAGER[1]})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
