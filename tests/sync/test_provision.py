"""A new box sets itself up from a real ``hall hq serve`` with a one-time token."""

from __future__ import annotations

import base64
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.identity import Keyring
from edge.paths import Home
from sync import keyex
from sync.client import HqClient
from sync.config import load_credential
from sync.hq.provision import new_token
from tests.sync.conftest import HqServer

pytestmark = pytest.mark.process

HALL_TOML = """# 福田 hall, as HQ keeps it
[hall]
id = "sz-futian-01"
name = "福田供电营业厅"

[services.devices.printer]
url = "tcp://127.0.0.1:{printer_port}"

[services.devices.gpio]
enabled = false

[services.devices.voice]
out_dir = "{voice_dir}"
"""


def provision(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", "provision", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HALL_HOME": str(home.root)},
        check=False,
    )


@pytest.fixture
def sqlite_hq(tmp_path: Path) -> HqServer:
    server = HqServer(str(tmp_path / "hq.db"), tmp_path / "hq.log").start()
    yield server  # type: ignore[misc]
    server.stop()


def test_a_new_box_sets_itself_up_with_a_one_time_token(hq: HqServer, hall_home: Home, tmp_path: Path) -> None:
    """On SQLite and on PostgreSQL."""
    with socket.socket() as closed:  # a printer address nobody answers at
        closed.bind(("127.0.0.1", 0))
        printer_port = closed.getsockname()[1]
    config = tmp_path / "hq-side.toml"
    config.write_text(HALL_TOML.format(printer_port=printer_port, voice_dir=tmp_path / "voice"))
    token = hq.cmd("provision-token", "sz-futian-01", "--config", str(config)).strip()
    hq.cmd("customer-key", "rotate", "--all")
    assert len(token) == 29 and token.count("-") == 5

    done = provision(hall_home, "--hq", hq.url, "--token", token.lower(), "--device-timeout", "2")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "provisioned hall sz-futian-01" in out and "福田供电营业厅 · 4 businesses, 4 counters" in out
    # the config HQ keeps, where the services read it
    assert hall_home.config_path.read_text() == config.read_text()
    # the credential: the key agreed with HQ, which signs requests HQ accepts
    cred = load_credential(hall_home)
    assert cred is not None and cred.hall == "sz-futian-01" and cred.url == hq.url
    assert stat.S_IMODE((hall_home.root / "sync.credential").stat().st_mode) == 0o600
    # HQ's customer keys are installed at once: a card read on this box hashes as HQ hashes it
    assert "customer keys  installed from HQ" in out
    ring = Keyring.load(hall_home.customer_keys_path, hall_home.secret_path)
    number = "110101199003071234"
    assert ring.ref("id", number).hash == hq.cmd("customer-key", "ref", "sz-futian-01", "id:" + number).strip()
    store = hq.store()
    try:
        assert store.hall_key("sz-futian-01") == cred.key
        box = store.box("sz-futian-01")
    finally:
        store.close()
    client = HqClient(cred, timeout=5)
    try:
        assert client.cursors() == {"alerts": 0, "records": 0, "analytics": 0}
    finally:
        client.close()
    # only public halves went to HQ: it holds the box's public key, never the private one
    private = (hall_home.keys_dir / "sync.x25519").read_bytes()
    assert stat.S_IMODE((hall_home.keys_dir / "sync.x25519").stat().st_mode) == 0o600
    assert box is not None and base64.b64decode(box["sync_key"]) != private
    if not hq.db.startswith("postgresql"):
        stored = b"".join(p.read_bytes() for p in Path(hq.db).parent.glob("hq.db*"))
        for form in (private, private.hex().encode(), base64.b64encode(private)):
            assert form not in stored
    assert box["bus_key"] == (hall_home.keys_dir / "server.key").read_text().split('public-key = "')[1][:40]
    # every device the config lists was tried; what failed is left to do
    assert "voice      ok" in out
    assert "printer    FAIL" in out and f"127.0.0.1:{printer_port}" in out
    assert "left to do:" in out and "printer:" in out.split("left to do:")[1]
    assert "hall users add NAME --role manager" in out

    again = provision(hall_home, "--hq", hq.url, "--token", token)
    assert again.returncode == 1
    assert "this token was used at" in again.stderr
    assert load_credential(hall_home) == cred  # a refused second use changes nothing


def test_refused_tokens_and_no_hq(sqlite_hq: HqServer, hall_home: Home, tmp_path: Path) -> None:
    unknown = provision(hall_home, "--hq", sqlite_hq.url, "--token", "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")
    assert unknown.returncode == 1 and "HQ made no such provisioning token" in unknown.stderr

    stale = new_token()  # made three days ago, valid for two
    store = sqlite_hq.store()
    try:
        now = time.time()
        hall = '[hall]\nid = "h2"\nname = "二号厅"\n'
        store.add_provision_token("h2", keyex.token_digest(stale), hall, expires_at=now - 86400, now=now - 3 * 86400)
    finally:
        store.close()
    expired = provision(hall_home, "--hq", sqlite_hq.url, "--token", stale)
    assert expired.returncode == 1 and "this token expired at" in expired.stderr
    assert not hall_home.config_path.exists() and load_credential(hall_home) is None

    wrong_config = tmp_path / "other.toml"
    wrong_config.write_text('[hall]\nid = "h3"\nname = "x"\n')
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge",
            "hq",
            "provision-token",
            "h4",
            "--config",
            str(wrong_config),
            "--db",
            sqlite_hq.db,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "the config is for hall 'h3', not 'h4'" in refused.stderr

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nobody = s.getsockname()[1]
    down = provision(hall_home, "--hq", f"http://127.0.0.1:{nobody}", "--token", "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")
    assert down.returncode == 1 and "cannot reach HQ" in down.stderr
    assert "Without HQ, set the box up by hand" in down.stderr
    by_hand = provision(hall_home)
    assert by_hand.returncode == 0 and "hall sync credential HALL.credential" in by_hand.stdout
