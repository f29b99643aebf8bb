"""The run's faults, drawn from its seed before the hall starts: the same seed gives the same faults.

A fault is a :class:`Fault` at a time (seconds from the start of injection) with a kind, a target and,
for an episode, a duration::

    >>> plan = make_plan(seed=1, seconds=120)
    >>> plan == make_plan(seed=1, seconds=120)
    True
    >>> sorted({f.kind for f in plan}) <= sorted(KINDS)
    True

Kinds: ``kill`` (``kill -9`` of a service), ``link`` (the HQ link cut, lossy, duplicating, slow or
garbling for a while), ``disk`` (the hall's disk full for a while), ``device`` (a device unplugged,
out of paper, its pins driven wildly, pcscd stopped, for a while), ``garbage`` (a burst of malformed
requests on the bus or the panel), ``history`` (``hall history import`` of a quarter's visits, which
wakes the ``ops`` service to re-plan; ``import-killed``: the command killed part way, then run again). Rules the plan keeps, so that what it checks afterwards is fair:

- a service is killed at most :data:`KILLS_PER_MINUTE` times in any minute, below the supervisor's
  limit of restarts (a service the supervisor gives up on is a finding, not a planned fault);
- episodes of one kind (one device) do not overlap, and the disk is full at most once in
  :data:`DISK_SPACING_S` seconds;
- the devices service is not killed during a device episode or :data:`DEVICE_MARGIN_S` seconds
  around it: its simulated peers restart with it, plugged in, and the episode would prove nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

KINDS = ("kill", "link", "disk", "device", "garbage", "history")
SERVICES = ("core", "devices", "kiosk", "panel", "sync", "vision", "ops", "simulate", "hq")
LINK_MODES: dict[str, dict[str, Any]] = {
    "cut": {"cut": True},
    "drop": {"drop": 0.4},
    "duplicate": {"duplicate": True, "delay": 0.01},
    "delay": {"delay": 0.3},
    "garble": {"truncate": 0.15, "corrupt": 0.15},
}
DEVICE_FAULTS = ("idcard-unplug", "printer-unplug", "printer-paper", "ir-wild", "pcscd-stop")
GARBAGE = ("bus", "panel")
HISTORY = ("import", "import-killed")
WEIGHTS = {"kill": 5, "link": 2, "disk": 1, "device": 3, "garbage": 3, "history": 1}
KILLS_PER_MINUTE = 3
DISK_SPACING_S = 30.0
DEVICE_MARGIN_S = 5.0
MEAN_GAP_S = 4.0


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    target: str
    duration: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.at + self.duration

    def describe(self) -> str:
        """One line for the log: ``+12.3 s kill core`` or ``+40.0 s link drop for 12.0 s``."""
        what = f"{self.kind} {self.target}"
        return f"+{self.at:.1f} s {what}" + (f" for {self.duration:.1f} s" if self.duration else "")


def device_of(target: str) -> str:
    """The device unit a device fault acts on: ``printer-paper`` → ``printer``, ``pcscd-stop`` → ``iccard``."""
    return {"pcscd": "iccard"}.get(target.split("-")[0], target.split("-")[0])


def make_plan(seed: int, seconds: float, *, services: tuple[str, ...] = SERVICES) -> list[Fault]:
    """Every fault of a run of ``seconds``, in time order; episodes end by ``seconds``."""
    rng = random.Random(seed)
    plan: list[Fault] = []
    t = 2.0
    while True:
        t += rng.expovariate(1.0 / MEAN_GAP_S)
        if t >= seconds - 1.0:
            break
        kinds = list(WEIGHTS)
        kind = rng.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
        fault = _draw(rng, kind, t, seconds, services)
        if fault is not None and _allowed(fault, plan):
            plan.append(fault)
    return plan


def _draw(rng: random.Random, kind: str, t: float, seconds: float, services: tuple[str, ...]) -> Fault | None:
    def span(lo: float, hi: float) -> float:
        return round(min(rng.uniform(lo, hi), seconds - t), 1)

    if kind == "kill":
        return Fault(round(t, 1), kind, rng.choice(services)) if services else None
    if kind == "link":
        mode = rng.choice(list(LINK_MODES))
        return Fault(round(t, 1), kind, mode, span(5, 25), dict(LINK_MODES[mode]))
    if kind == "disk":
        return Fault(round(t, 1), kind, "full", span(5, 20))
    if kind == "device":
        target = rng.choice(DEVICE_FAULTS)
        params = {"wild_s": round(rng.uniform(2, 8), 1)} if target == "ir-wild" else {}
        return Fault(round(t, 1), kind, target, span(6, 20), params)
    if kind == "history":
        target = rng.choice(HISTORY)
        drawn: dict[str, Any] = {"seed": rng.getrandbits(32)}
        if target == "import-killed":
            drawn["kill_after"] = round(rng.uniform(0.15, 0.9), 2)
        return Fault(round(t, 1), kind, target, 0.0, drawn)
    return Fault(
        round(t, 1), kind, rng.choice(GARBAGE), 0.0, {"count": rng.randint(10, 40), "seed": rng.getrandbits(32)}
    )


def _allowed(fault: Fault, plan: list[Fault]) -> bool:
    if fault.duration < 0 or (fault.kind in ("link", "disk", "device") and fault.duration < 3):
        return False
    if fault.kind == "kill":
        recent = [f for f in plan if f.kind == "kill" and f.target == fault.target and fault.at - f.at < 60]
        if len(recent) >= KILLS_PER_MINUTE:
            return False
        during_device = any(
            f.kind == "device" and f.at - DEVICE_MARGIN_S <= fault.at <= f.end + DEVICE_MARGIN_S for f in plan
        )
        return not (fault.target == "devices" and during_device)
    same = [f for f in plan if f.kind == fault.kind]
    if fault.kind == "device":
        same = [f for f in same if device_of(f.target) == device_of(fault.target)]
        # the devices service must live through the episode, or the episode proves nothing
        if any(
            f.kind == "kill"
            and f.target == "devices"
            and fault.at - DEVICE_MARGIN_S <= f.at <= fault.end + DEVICE_MARGIN_S
            for f in plan
        ):
            return False
    spacing = DISK_SPACING_S if fault.kind == "disk" else 1.0
    return all(fault.at >= f.end + spacing for f in same if f.duration) if fault.duration else True
