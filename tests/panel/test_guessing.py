"""Guessing passwords over HTTP: every try counts, delays fall on the guesser's name and address only."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.panel.conftest import MANAGER, Client, PanelProcess


def client_from(panel: PanelProcess, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127/8 address is this machine)."""
    transport = httpx.HTTPTransport(local_address=address, verify=panel.ssl())
    return httpx.Client(base_url=panel.url, transport=transport, timeout=30.0)


def login(http: httpx.Client, name: str, password: str) -> httpx.Response:
    return http.post("/api/login", json={"name": name, "password": password})


def test_forty_parallel_wrong_passwords_slow_that_name_at_that_address(panel: PanelProcess, manager: Client) -> None:
    with client_from(panel, "127.0.0.1") as guesser, ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(lambda _: login(guesser, MANAGER[0], "guess-password").status_code, range(40)))
        # counted before checking: five are checked, the rest refused unchecked (a slow machine may check one more)
        assert 5 <= codes.count(401) <= 6 and codes.count(401) + codes.count(429) == 40
        right = login(guesser, *MANAGER)
        assert right.status_code == 429 and "秒后再试" in right.json()["error"]
        assert int(right.headers["retry-after"]) >= 600  # forty tries counted: the longest wait
        assert "hall_session" not in right.headers.get("set-cookie", "")
    with client_from(panel, "127.0.0.2") as own_desk:  # the manager at her own PC is not slowed
        assert login(own_desk, *MANAGER).status_code == 200
    trail = [a for a in manager.get("/api/audit").json() if a["action"] == "login" and not a["ok"]]
    reasons = [a["detail"]["reason"] for a in trail if a["name"] == MANAGER[0]]
    assert sorted(set(reasons)) == ["throttled", "wrong"] and len(reasons) == 41  # each try is in the trail
    assert all("guess-password" not in str(a) for a in trail)
    # on the box: clear the delay, and the right password works from that address again
    unlocked = subprocess.run(
        [sys.executable, "-m", "edge", "users", "unlock", MANAGER[0]],
        env={**os.environ, "HALL_HOME": str(panel.home.root)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "cleared" in unlocked.stdout
    with client_from(panel, "127.0.0.1") as again:
        assert login(again, *MANAGER).status_code == 200


def test_an_unknown_name_answers_exactly_like_a_wrong_password(panel: PanelProcess) -> None:
    answers = []
    for address, name in (("127.0.0.3", MANAGER[0]), ("127.0.0.4", "mgr-nobody")):
        with client_from(panel, address) as http:
            rs = [login(http, name, "guess-password") for _ in range(7)]
            answers.append([(r.status_code, r.json(), r.headers.get("retry-after")) for r in rs])
    assert answers[0] == answers[1]
    assert [a[0] for a in answers[0]] == [401] * 5 + [429, 429]


def test_sign_in_answers_with_one_clear_sentence(panel: PanelProcess) -> None:
    with panel.http() as http:
        long_name = http.post("/api/login", json={"name": "x" * 65, "password": "whatever-password"})
        assert long_name.status_code == 400 and "64" in long_name.json()["error"]
        not_text = http.post("/api/login", json={"name": ["a"], "password": 1})
        assert not_text.status_code == 400 and "文字" in not_text.json()["error"]
        not_json = http.post("/api/login", content=b"{name", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]
        nested = http.post("/api/login", content=b"[" * 60000, headers={"Content-Type": "application/json"})
        assert nested.status_code == 400 and "嵌套" in nested.json()["error"]
        not_text = http.post(  # valid JSON, but no text panel.db or the hall log can hold
            "/api/login", content=b'{"name": "\\ud800", "password": "x"}', headers={"Content-Type": "application/json"}
        )
        assert not_text.status_code == 400 and "surrogate" in not_text.json()["error"]
        a_list = http.post("/api/login", json=[1, 2])
        assert a_list.status_code == 400 and "对象" in a_list.json()["error"]
        text_plain = http.post("/api/login", content=b"name=a", headers={"Content-Type": "text/plain"})
        assert text_plain.status_code == 415
