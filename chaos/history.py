"""History imports under faults, and what the operations side must keep through them.

A ``history`` fault runs ``hall history import`` (the command a hall's staff run) on a CSV of a quarter's
made-up visits (about 7,500) before today, and for some of them kills it with ``kill -9`` part way, then runs it
again on the same file, as a person would. Meanwhile the ``ops`` service is woken by every import and
re-plans the day, and is itself among the services killed. What must hold:

- an import the command said was done is in ``hall.db`` whole: state ``done``, every row of the file
  read, as many rows held under its id as it said it added; a re-run adds nothing already there;
- rows of an unfinished (killed, refused) import count as nothing: what the core answers as imported
  history is exactly the rows held under finished imports;
- the ops service, killed or not, saved today's plan after the last finished import.

    >>> ok = Import("f.csv", "done", rows=10, import_id="i1", added=10)
    >>> check_imports([ok], {"i1": HeldImport("done", 10, 10)}).held
    True
    >>> print(check_imports([ok], {"i1": HeldImport("moving", 10, 4)}).problems[0])
    f.csv (import i1): acknowledged as done, the hall holds it moving
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chaos.check import Invariant

WINDOW_DAYS = 91  # a quarter: about 7,500 visits, an import that lasts long enough to be killed part way
IMPORT_TIMEOUT_S = 300.0


@dataclass
class Import:
    """One run of ``hall history import`` by the harness, and how it ended."""

    file: str
    outcome: str  # done, refused, killed
    rows: int = 0  # rows in the file
    import_id: str = ""
    added: int = 0
    already: int = 0
    started: float = 0.0  # monotonic
    ended: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class HeldImport:
    """An import as ``hall.db`` holds it: its state, the rows it read, the history rows under its id."""

    state: str
    rows: int
    held: int


@dataclass
class ImportLog:
    imports: list[Import] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, imp: Import) -> None:
        with self.lock:
            self.imports.append(imp)

    def windows(self) -> list[tuple[float, float]]:
        with self.lock:
            return [(i.started, i.ended) for i in self.imports]


def write_csv(path: Path, today: date, n: int, zone: str) -> int:
    """A quarter of made-up visits ending ``n % 5`` weeks before yesterday, drawn with seed ``n``."""
    from edge.ops import history
    from edge.ops.sample import visits

    last = today - timedelta(days=1 + 7 * (n % 5))
    rows = visits(last, WINDOW_DAYS, seed=1000 + n)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        return history.write(rows, f, ZoneInfo(zone))


def run_import(path: Path, rows: int, env: dict[str, str], *, kill_after: float | None) -> Import:
    """``hall history import PATH --json``; killed with ``kill -9`` after ``kill_after`` seconds if given."""
    argv = [sys.executable, "-m", "edge", "history", "import", str(path), "--json"]
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if kill_after is not None:
            try:
                proc.wait(kill_after)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=IMPORT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    imp = Import(path.name, "refused", rows=rows, started=started, ended=time.monotonic())
    if proc.returncode == -signal.SIGKILL:
        imp.outcome, imp.message = "killed", f"after {kill_after} s"
    elif proc.returncode == 0:
        try:
            reply: dict[str, Any] = json.loads(out)
            imp.outcome, imp.import_id = "done", str(reply["import_id"])
            imp.added, imp.already = int(reply["added"]), int(reply["already"])
            if int(reply["rows"]) != rows:
                imp.message = f"the command read {reply['rows']} row(s) of {rows}"
        except (ValueError, KeyError, TypeError):
            imp.outcome, imp.message = "refused", f"exit 0 but no import in its output: {out[:200]!r}"
    else:
        imp.message = (err.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:200]
    return imp


def check_imports(imports: list[Import], held: dict[str, HeldImport]) -> Invariant:
    """Every import acknowledged as done is held whole, under its id, with what it said it added."""
    problems: list[str] = []
    for imp in imports:
        if imp.outcome != "done":
            continue
        name = f"{imp.file} (import {imp.import_id})"
        if imp.message:
            problems.append(f"{name}: {imp.message}")
        h = held.get(imp.import_id)
        if h is None:
            problems.append(f"{name}: acknowledged as done, not in the hall's database")
            continue
        if h.state != "done":
            problems.append(f"{name}: acknowledged as done, the hall holds it {h.state}")
        if h.rows != imp.rows:
            problems.append(f"{name}: {imp.rows} row(s) in the file, the hall recorded {h.rows}")
        if h.held != imp.added:
            problems.append(f"{name}: said it added {imp.added} row(s), the hall holds {h.held} under it")
        if imp.added + imp.already != imp.rows:
            problems.append(f"{name}: {imp.added} added + {imp.already} already there is not the file's {imp.rows}")
    return Invariant.of("history imports acknowledged as done held whole", problems)


def check_counted(imported_visits: int, held: dict[str, HeldImport]) -> Invariant:
    """What the core counts as imported history is exactly the rows under finished imports."""
    done = sum(h.held for h in held.values() if h.state == "done")
    unfinished = {k: h for k, h in held.items() if h.state != "done" and h.held}
    problems = []
    if imported_visits != done:
        problems.append(
            f"the core counts {imported_visits} imported visit(s); finished imports hold {done}"
            + (f" (unfinished imports hold {sum(h.held for h in unfinished.values())} more)" if unfinished else "")
        )
    return Invariant.of("rows of unfinished imports count as nothing", problems)


def check_planned(last_done_at: float | None, plan_saved_at: float | None) -> Invariant:
    """The ops service saved today's plan after the last finished import (times from ``hall.db``)."""
    if last_done_at is None:
        return Invariant.of("the ops service re-planned after the last import", [])
    if plan_saved_at is None:
        return Invariant.of("the ops service re-planned after the last import", ["no plan for today was saved"])
    late = plan_saved_at < last_done_at
    return Invariant.of(
        "the ops service re-planned after the last import",
        [f"today's plan was saved {last_done_at - plan_saved_at:.1f} s before the last import finished"]
        if late
        else [],
    )
