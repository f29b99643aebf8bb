"""The plan of faults: the same seed gives the same faults, and the plan keeps its rules."""

from __future__ import annotations

import pytest

from chaos.plan import DEVICE_MARGIN_S, DISK_SPACING_S, KILLS_PER_MINUTE, Fault, device_of, make_plan

SEEDS = range(20)


def test_the_same_seed_gives_the_same_faults_and_another_seed_others() -> None:
    assert make_plan(7, 600) == make_plan(7, 600)
    assert make_plan(7, 600) != make_plan(8, 600)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_ten_minute_plan_keeps_its_rules(seed: int) -> None:
    plan = make_plan(seed, 600)
    assert [f.at for f in plan] == sorted(f.at for f in plan)
    assert all(f.at > 0 and f.end <= 600 for f in plan)
    kills = [f for f in plan if f.kind == "kill"]
    for k in kills:  # below the supervisor's five restarts a minute
        assert sum(1 for o in kills if o.target == k.target and 0 <= k.at - o.at < 60) <= KILLS_PER_MINUTE
    episodes = [f for f in plan if f.duration]
    for a in episodes:
        for b in episodes:
            if a is b or a.at > b.at or a.kind != b.kind:
                continue
            if a.kind == "device" and device_of(a.target) != device_of(b.target):
                continue
            spacing = DISK_SPACING_S if a.kind == "disk" else 0.0
            assert b.at >= a.end + spacing, f"{a.describe()} overlaps {b.describe()}"
    for f in (f for f in plan if f.kind == "device"):
        assert not any(
            k.target == "devices" and f.at - DEVICE_MARGIN_S <= k.at <= f.end + DEVICE_MARGIN_S for k in kills
        ), f"devices killed during {f.describe()}"


def test_every_kind_of_fault_and_every_service_comes_up_in_ten_minutes() -> None:
    plan = make_plan(1, 600)
    assert {f.kind for f in plan} == {"kill", "link", "disk", "device", "garbage", "history"}
    assert {f.target for f in plan if f.kind == "kill"} == {
        "core",
        "devices",
        "kiosk",
        "panel",
        "sync",
        "vision",
        "ops",
        "simulate",
        "hq",
    }
    assert {f.target for f in plan if f.kind == "history"} == {"import", "import-killed"}
    assert all(0.15 <= f.params["kill_after"] <= 0.9 for f in plan if f.target == "import-killed")
    assert {f.target for f in plan if f.kind == "device"} >= {"idcard-unplug", "printer-unplug", "printer-paper"}


def test_skipped_services_are_never_killed() -> None:
    plan = make_plan(1, 600, services=("core", "sync"))
    assert {f.target for f in plan if f.kind == "kill"} == {"core", "sync"}


def test_a_fault_describes_itself_for_the_log() -> None:
    assert Fault(12.3, "kill", "core").describe() == "+12.3 s kill core"
    assert Fault(40.0, "link", "drop", 12.0).describe() == "+40.0 s link drop for 12.0 s"
