"""The face audit on the manager's page: asked of the vision service over the bus, managers only, viewing audited."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CoreProcess
from tests.panel.conftest import Client, PanelProcess

pytestmark = pytest.mark.process


@pytest.fixture
def vision(core: CoreProcess, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_vision(core, tmp_path)
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(20)


def start_vision(core: CoreProcess, tmp_path: Path) -> subprocess.Popen[bytes]:
    """``hall vision`` without cameras (it answers the panel all the same), over an audit with three rows."""
    from vision.audit import AuditLog

    audit = AuditLog.at_home(core.home.root)
    audit.record(place="cli", purpose="enrolment", decision="enrolled", ref="a1b2c3d4" + "e" * 56, reason="2 photos")
    audit.record(place="kiosk:kiosk-1", purpose="ticket", decision="candidate", ref="a1b2c3d4" + "e" * 56, score=0.74)
    audit.record(place="kiosk:kiosk-1", purpose="ticket", decision="refused", reason="liveness: no blink within 6 s")
    audit.close()
    cfg = tmp_path / "hall.toml"
    cfg.write_text("[services.vision]\n")
    log = open(core.home.root / "vision.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "vision", "--config", str(cfg)],
        env={**os.environ, "HALL_HOME": str(core.home.root)},
        stdout=log,
        stderr=log,
    )
    log.close()
    return proc


def _listed(manager: Client, proc: subprocess.Popen[bytes], home: Path) -> dict[str, object]:
    for _ in range(60):  # the first asks may come before the service listens: each waits 5 s at most
        r = manager.get("/api/face-audit?since=0")
        if r.status_code == 200:
            return dict(r.json())
        assert proc.poll() is None, (home / "vision.log").read_text()[-2000:]
    raise AssertionError(f"the face audit was never listed: {r.text}")


def test_managers_see_the_face_audit_and_their_looking_is_audited(
    panel: PanelProcess, manager: Client, staff: Client, vision: subprocess.Popen[bytes], core: CoreProcess
) -> None:
    out = _listed(manager, vision, core.home.root)
    rows = [(r["place"], r["purpose"], r["decision"], r["ref"], r["score"]) for r in out["records"]]  # type: ignore[attr-defined]
    assert rows == [
        ("cli", "enrolment", "enrolled", "a1b2c3d4…", None),
        ("kiosk:kiosk-1", "ticket", "candidate", "a1b2c3d4…", 0.74),
        ("kiosk:kiosk-1", "ticket", "refused", "", None),
    ]
    assert out["more"] is False
    assert staff.get("/api/face-audit").status_code == 403
    trail = manager.get("/api/audit").json()
    assert any(r["action"] == "face.audit.view" and r["detail"]["records"] == 3 for r in trail)
    assert manager.get("/api/face-audit?since=soon").status_code == 400
    vision.terminate()
    vision.wait(20)
    silent = manager.get("/api/face-audit")
    assert silent.status_code == 503 and "人脸识别服务未应答" in silent.json()["error"]
