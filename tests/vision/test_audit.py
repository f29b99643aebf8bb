"""The face audit: durable rows, kept three years, listed by time, counted per hour for HQ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.paths import Home
from vision.audit import AuditError, AuditLog

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC: 16:00 in Shanghai


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_rows_are_kept_in_order_listed_by_time_and_purged_after_three_years(tmp_path: Path) -> None:
    clock = Clock()
    audit = AuditLog(tmp_path / "audit.db", clock=clock)
    a = audit.record(place="kiosk:k1", purpose="ticket", decision="candidate", ref="a" * 64, score=0.81234)
    clock.now += 60
    audit.record(place="kiosk:k1", purpose="ticket", decision="confirmed", ref="a" * 64)
    clock.now += 60
    audit.record(place="camera:door", purpose="vip_arrival", decision="announced", ref="a" * 64, score=0.7)
    assert a == {
        "id": 1,
        "at": T0,
        "place": "kiosk:k1",
        "purpose": "ticket",
        "decision": "candidate",
        "ref": "a" * 64,
        "score": 0.8123,
        "reason": "",
        "request": "",
    }
    assert [r["decision"] for r in audit.since(T0 + 30)] == ["confirmed", "announced"]
    assert [r["decision"] for r in audit.latest(2)] == ["confirmed", "announced"]
    assert audit.last(purpose="vip_arrival", decision="announced", ref="a" * 64) == T0 + 120
    with pytest.raises(AuditError, match="no decision 'guessed' for purpose 'ticket'"):
        audit.record(place="x", purpose="ticket", decision="guessed")
    assert (tmp_path / "audit.db").stat().st_mode & 0o777 == 0o600
    clock.now = T0 + 3 * 365 * 86400 + 61  # three years after the second row: the first two go
    assert audit.purge() == 2 and [r["decision"] for r in audit.since(0)] == ["announced"]
    audit.close()


def test_hq_gets_counts_per_whole_hour_once(hall_home: Home) -> None:
    from vision.faceservice import FaceDesk

    clock = Clock()
    desk = FaceDesk(hall_home.root, [], {}, clock=clock)
    assert desk.hourly_counts() == []  # nothing audited yet
    desk.counts_sent()
    for decision in ("candidate", "confirmed", "candidate", "abstained"):
        desk.audit.record(place="kiosk:k1", purpose="ticket", decision=decision, ref="a" * 64)
    clock.now += 1800
    desk.audit.record(place="camera:door", purpose="vip_arrival", decision="withheld", ref="b" * 64)
    assert desk.hourly_counts() == []  # the hour is not over
    clock.now += 3600  # 17:30: the 16:00 hour is whole
    out = desk.hourly_counts()
    assert out == [
        (
            "face.audit_counts",
            {
                "hour": "2027-01-15T16:00+08:00",
                "counts": {"ticket": {"abstained": 1, "candidate": 2, "confirmed": 1}, "vip_arrival": {"withheld": 1}},
            },
            True,
        )
    ]
    desk.counts_sent()
    clock.now += 7200
    assert desk.hourly_counts() == []  # sent once; the empty hours after it send nothing
    from sync.privacy import scrub

    event = {"topic": out[0][0], "data": out[0][1]}
    assert scrub(event) is event  # nothing in it for the HQ scrub to take out
    desk.close()


def test_hall_vision_audit_since_and_json(hall_home: Home) -> None:
    audit = AuditLog.at_home(hall_home.root)
    audit.record(place="cli", purpose="enrolment", decision="enrolled", ref="c" * 64, reason="2 photos")
    audit.close()
    env = {**os.environ, "HALL_HOME": str(hall_home.root)}

    def hall(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edge", "vision", "audit", *args], env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip

    rows = [json.loads(line) for line in hall("--since", "1h", "--json").stdout.splitlines()]
    assert [(r["place"], r["decision"], r["ref"], r["reason"]) for r in rows] == [
        ("cli", "enrolled", "c" * 64, "2 photos")
    ]
    assert hall("--since", "2999-01-01", "--json").stdout == ""
    text = hall().stdout
    assert "cli" in text and "enrolment" in text and "cccccccccccc…" in text
    bad = hall("--since", "yesterday")
    assert bad.returncode == 2 and "'yesterday' is neither an ISO date/time nor a duration" in bad.stderr
