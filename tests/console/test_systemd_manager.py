"""Under systemd the console reads ``systemctl`` and ``journalctl``: their output as systemd 252 prints it.

No systemd runs here, so the programs' answers are the text systemd prints (taken from a box), handed
to the console through its ``run`` seam; what is checked is what the technician is then shown.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from edge.console.services import Systemd
from edge.console.terminal import ConsoleError

LIST_UNITS = """hall-core.service    loaded active running Smart Hall Edge core: queue engine, hall database, bus hub
hall-devices.service loaded active running Smart Hall Edge devices: card readers, ticket printer, IR beams, guidance lights, voice
hall-sync.service    loaded failed failed  Smart Hall Edge HQ sync agent
"""

SHOW = """Type=notify
MainPID=812
NRestarts=0
StatusText=serving hall sz-futian-01
Id=hall-core.service
ActiveState=active
SubState=running
ActiveEnterTimestampMonotonic=5210334

Type=notify
MainPID=901
NRestarts=2
StatusText=6 device unit(s) started
Id=hall-devices.service
ActiveState=active
SubState=running
ActiveEnterTimestampMonotonic=7310334

Type=notify
MainPID=0
NRestarts=5
StatusText=
Id=hall-sync.service
ActiveState=failed
SubState=failed
ActiveEnterTimestampMonotonic=0
"""

FAILED_RESTART = """Job for hall-core.service failed because the control process exited with error code.
See "systemctl status hall-core.service" and "journalctl -xeu hall-core.service" for details.
"""


class Box:
    """What ``systemctl`` and ``journalctl`` answered on a box; every command line asked is kept."""

    def __init__(
        self, restart_fails: bool = False, active_after: str = "active", unit: list[str] | None = None
    ) -> None:
        self.asked: list[list[str]] = []
        self.restart_fails = restart_fails
        self.active_after = active_after
        self.unit = list(unit or [])  # what `systemctl show UNIT` answers, one answer after the other

    def __call__(self, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        self.asked.append(argv)
        out, err, code = "", "", 0
        if argv[:2] == ["systemctl", "list-units"]:
            out = LIST_UNITS
        elif argv[:2] == ["systemctl", "show"] and len(argv) == 5 and self.unit:
            out = self.unit.pop(0) if len(self.unit) > 1 else self.unit[0]
        elif argv[:2] == ["systemctl", "show"]:
            out = SHOW
        elif argv[:2] == ["systemctl", "restart"]:
            code, err = (1, FAILED_RESTART) if self.restart_fails else (0, "")
        elif argv[:2] == ["systemctl", "is-active"]:
            out, code = self.active_after + "\n", 0 if self.active_after == "active" else 3
        elif argv[0] == "journalctl":
            out = "2026-03-02T10:00:01+0800 box hall[812]: core of hall sz-futian-01 serving\n"
        return subprocess.CompletedProcess(argv, code, out, err)


def test_services_as_systemd_reports_them() -> None:
    box = Box()
    listed = Systemd(run=box).services()
    assert [(s["name"], s["state"], s["pid"], s["restarts"], s["ready"]) for s in listed] == [
        ("core", "running", 812, 0, True),
        ("devices", "running", 901, 2, True),
        ("sync", "failed", None, 5, False),
    ]
    assert listed[0]["status"] == "serving hall sz-futian-01"
    assert box.asked[1][-3:] == ["hall-core.service", "hall-devices.service", "hall-sync.service"]


def test_restart_waits_for_systemd_and_says_why_it_failed() -> None:
    box = Box()
    assert Systemd(run=box).restart("core", 30)["ok"]
    assert ["systemctl", "restart", "hall-core.service"] in box.asked
    with pytest.raises(ConsoleError, match=r"hall-core\.service did not come up: Job for hall-core\.service failed"):
        Systemd(run=Box(restart_fails=True)).restart("core", 30)
    with pytest.raises(ConsoleError, match=r"hall-core\.service is activating after the restart"):
        Systemd(run=Box(active_after="activating")).restart("core", 30)
    with pytest.raises(ConsoleError, match="is not a service name"):
        Systemd(run=box).restart("core; reboot", 30)


PANEL_UP = "Type=exec\nActiveState=active\nMainPID=1200\nNRestarts=0\n"
PANEL_AGAIN = "Type=exec\nActiveState=activating\nMainPID=0\nNRestarts=1\n"  # exited; Restart=always is on it
PANEL_STILL = "Type=exec\nActiveState=active\nMainPID=1200\nNRestarts=0\n"


def test_a_unit_without_readiness_must_stay_up_a_moment_after_its_restart() -> None:
    waited: list[float] = []
    box = Box(unit=[PANEL_UP, PANEL_STILL])
    assert Systemd(run=box, sleep=waited.append).restart("panel", 30)["ok"]
    assert waited == [3.0]
    with pytest.raises(ConsoleError, match=r"hall-panel\.service stopped again within 3 s of the restart"):
        Systemd(run=Box(unit=[PANEL_UP, PANEL_AGAIN]), sleep=waited.append).restart("panel", 30)
    notify = Box(unit=["Type=notify\nActiveState=active\nMainPID=812\nNRestarts=0\n"])
    waited.clear()
    assert Systemd(run=notify, sleep=waited.append).restart("core", 30)["ok"]
    assert waited == []  # systemctl restart waited for READY=1 already


def test_logs_come_from_the_journal_of_the_unit() -> None:
    box = Box()
    lines = Systemd(run=box).log_lines("core", 50)
    assert lines == ["2026-03-02T10:00:01+0800 box hall[812]: core of hall sz-futian-01 serving"]
    assert box.asked[-1] == ["journalctl", "--no-pager", "-o", "short-iso", "-u", "hall-core.service", "-n", "50"]
    Systemd(run=box).log_lines(None, 10)
    assert box.asked[-1][-4:] == ["-u", "hall-*", "-n", "10"]
