"""``hall ops``: keeps the day's staffing plan and the week's roster suggestion up to date in the core.

A client of the bus like any other service. Every ``check_s`` seconds, and at
once when history is imported, the day rolls over or HQ's bundle changes, it
computes the plans of today and tomorrow and the roster suggestions of this
week and the next, and saves each with ``plan.save`` when what it depends on
(history, settings, businesses and counters) has changed. The core's
ahead-of-plan alert, the panel and the daily report read the saved plans, so
forecasting never runs inside the core's request loop.

It tells its service manager (systemd, ``hall run``) it is ready once its
bus sockets are open and the planning libraries are loaded, and pings the watchdog from
its loop and between one plan and the next, so a planner stuck in a solver is
restarted.

With too little history (less than a week) it says so once and waits. In the
demo (``HALL_DEMO=1``) a hall with no history at all first gets five weeks of
made-up history (:mod:`edge.ops.sample`), so the operations page has something
to show.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from datetime import date, timedelta
from typing import Any

from edge import sdnotify
from edge.errors import BusError, HallError

log = logging.getLogger("hall.ops")
WAKE_TOPICS = ("history.imported", "day.rolled", "bundle.applied")


class Planner:
    def __init__(self, bus: Any, cfg: Any, ops: Any) -> None:
        self.bus = bus
        self.cfg = cfg
        self.ops = ops
        self._said: set[str] = set()

    def refresh(self) -> list[str]:
        """Recompute and save what is stale; the keys saved."""
        from edge.ops import planning
        from edge.ops.forecast import NotEnoughHistory

        today = date.fromisoformat(self.bus.request("queue.status", {})["day"])
        saved: list[str] = []
        jobs: list[tuple[str, date]] = [("day", today), ("day", today + timedelta(days=1))]
        monday = planning.week_of(today)
        if self.bus.request("roster.staff", {}):
            jobs += [("roster", monday), ("roster", monday + timedelta(days=7))]
        for kind, key in jobs:
            sdnotify.alive()  # between plans: each solve is capped (CP-SAT time limits), the loop goes on
            basis = planning.basis(self.bus.request, self.ops, key) + kind
            have = self.bus.request("plan.get", {"kind": kind, "key": key.isoformat()})
            if have is not None and have["basis"] == basis:
                continue
            try:
                if kind == "day":
                    data = planning.day_plan(self.bus.request, self.cfg, self.ops, key)
                    data.pop("forecast", None)
                else:
                    data = planning.week_roster(self.bus.request, self.cfg, self.ops, key)
            except NotEnoughHistory as exc:
                if str(exc) not in self._said:
                    self._said.add(str(exc))
                    log.info("no %s plan for %s yet: %s", kind, key, exc)
                continue
            self.bus.request("plan.save", {"kind": kind, "key": key.isoformat(), "basis": basis, "data": data})
            saved.append(f"{kind}:{key}")
            log.info("saved the %s plan for %s", kind, key)
        return saved


def _load_libraries() -> None:
    """The forecasting and solver libraries (a few seconds on the box), loaded before saying ready."""
    import ortools.sat.python.cp_model  # noqa: F401
    import pyworkforce.queuing  # noqa: F401
    import statsmodels.genmod.generalized_linear_model  # noqa: F401


def seed_demo(bus: Any) -> int:
    """Import five weeks of made-up history before today when the hall has none; how many visits.

    Today's tickets (the demo's simulated customers start at once) do not count: only days before today.
    """
    from edge.ops import history
    from edge.ops.sample import visits

    today = date.fromisoformat(bus.request("queue.status", {})["day"])
    first = bus.request("history.summary", {})["first"]
    if first is not None and first < today.isoformat():
        return 0
    rows = [history.visit(r) for r in visits(today - timedelta(days=1), 35)]
    history.send(bus.request, rows, import_id="demo-history-" + today.isoformat(), file="demo")
    log.info("demo: imported %d made-up visits of the last five weeks", len(rows))
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hall ops", description="Keep the day's staffing plan and the roster up to date.")
    p.add_argument("--config", help="hall config file (TOML)")
    p.add_argument("--once", action="store_true", help="refresh once and exit")
    p.add_argument("--check-s", type=float, default=300.0, help="seconds between checks (default 300)")
    a = p.parse_args(argv)
    from edge.bus import BusClient, Subscriber
    from edge.ops.config import OpsConfig
    from edge.proc import start

    started = start("hall ops", a.config, "ops", OpsConfig)
    cfg, ops = started.config, started.settings
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    notify = sdnotify.notifier()
    with BusClient("ops", timeout=30.0, retries=1) as bus, Subscriber(WAKE_TOPICS) as events:
        planner = Planner(bus, cfg, ops)
        demo = os.environ.get("HALL_DEMO") == "1"
        ready = False
        while not stop.is_set():
            try:
                if demo:
                    seed_demo(bus)  # first, before the demo's simulated customers make a history of their own
                    demo = False
                if not ready:
                    _load_libraries()
                    notify.ready(f"planning for hall {cfg.hall.id}")
                    ready = True
                planner.refresh()
            except BusError as exc:
                log.warning("core not reachable: %s", exc)
            except HallError as exc:
                log.error("planning failed: %s", exc)
            if a.once:
                return 0
            waited = 0.0
            while not stop.is_set() and waited < a.check_s:
                notify.alive()
                if events.recv(timeout=1.0) is not None:
                    break
                waited += 1.0
        notify.stopping()
    return 0
