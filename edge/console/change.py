"""A config change seen through to its end: applied, or rolled back, even across a console that was stopped.

``config set`` writes ``hall.toml.changing`` (the key, the value as shown, the
service, the phase) before it writes the new file and removes it once the
change is applied or rolled back. A console stopped in between (killed, the
box powered off) leaves it behind; the next console to start, or the next
``config set``, finds it and finishes the change as the stopped one would
have: the service is restarted with the new file, and when it does not come
up the previous file (``hall.toml.previous``) is put back and the service
restarted again. What was done is said in the console's log, to the next
technician who signs in, and in the audit trail.

A change belongs to every unit of its service: ``services.pad.*`` restarts
``pad@2``, ``pad@3``… (``hall-pad@N`` under systemd) one after the other, and
rolls all of them back together.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.console.terminal import ConsoleError
from edge.errors import HallError
from edge.paths import write_durably

Say = Callable[[str], None]


@dataclass
class Journal:
    """``hall.toml.changing``: a change under way."""

    path: Path

    @classmethod
    def of(cls, config_path: Path) -> Journal:
        return cls(config_path.with_name(config_path.name + ".changing"))

    def begin(self, key: str, shown: str, service: str) -> None:
        self._put({"key": key, "value": shown, "service": service, "phase": "applying", "at": time.time()})

    def rolling_back(self) -> None:
        entry = self.read() or {}
        self._put({**entry, "phase": "rolling_back"})

    def read(self) -> dict[str, Any] | None:
        """The change under way, or None; a damaged file is a change of unknown key, to be rolled back."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConsoleError(f"{self.path}: cannot read: {exc.strerror or exc}") from exc
        try:
            entry = json.loads(text)
            if not isinstance(entry, dict) or not isinstance(entry.get("service"), str):
                raise ValueError("not a change")
        except ValueError:
            return {"key": "?", "value": "?", "service": "core", "phase": "rolling_back"}
        return entry

    def clear(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise ConsoleError(f"{self.path}: cannot remove: {exc.strerror or exc}") from exc

    def _put(self, entry: dict[str, Any]) -> None:
        write_atomically(self.path, json.dumps(entry, ensure_ascii=False) + "\n", keep=None)


def units_of(manager: Any, service: str) -> list[str]:
    """The running units a change of ``service`` must restart: the service itself, or each instance of it
    (``pad@2``, ``pad@3`` for ``pad``); none when the manager cannot say."""
    try:
        names = [str(s["name"]) for s in manager.services()]
    except HallError:
        return []
    return [n for n in names if n == service or n.startswith(service + "@")]


def restart_all(manager: Any, units: list[str], timeout: float, say: Say) -> HallError | None:
    """Restart each unit in turn, waiting until it is up; the first failure (the rest not tried), or None."""
    for unit in units:
        say(f"restarting {unit}…")
        try:
            manager.restart(unit, timeout)
        except HallError as exc:
            return ConsoleError(f"{unit}: {exc}") if len(units) > 1 else exc
    return None


def roll_back(path: Path, before: str, after: str) -> None:
    """Put the file as it was, the change kept aside as ``.failed`` for a look."""
    if after != before:
        write_atomically(path.with_name(path.name + ".failed"), after, keep=None)
    write_atomically(path, before, keep=None)


def finish_interrupted(config_path: Path, manager: Any, timeout: float, say: Say) -> dict[str, Any] | None:
    """Finish a change a stopped console left under way, saying what is done; what it was (key, service,
    outcome), or None when there was none."""
    journal = Journal.of(config_path)
    entry = journal.read()
    if entry is None:
        return None
    key, service, shown = str(entry.get("key", "?")), str(entry["service"]), str(entry.get("value", "?"))
    change = f"`config set {key} {shown}`"
    previous_path = config_path.with_name(config_path.name + ".previous")
    current = read_text(config_path)
    previous = read_text(previous_path) if previous_path.exists() else None
    units = units_of(manager, service)
    done = {"key": key, "service": service}
    if entry.get("phase") == "applying":
        if previous is None or current == previous:
            say(f"{change} was stopped before it wrote {config_path.name}: nothing was changed")
            journal.clear()
            return {**done, "outcome": "unchanged"}
        if not units:
            say(
                f"{change} was stopped after it wrote {config_path}; {service} does not run here: it reads it when it next starts"
            )
            journal.clear()
            return {**done, "outcome": "written"}
        say(f"{change} was stopped while {service} restarted: finishing it")
        failed = restart_all(manager, units, timeout, say)
        if failed is None:
            say(f"{service} is up with {key} = {shown}: the change is applied")
            journal.clear()
            return {**done, "outcome": "applied"}
        say(f"{service} did not come up with the change: {failed}")
        journal.rolling_back()
    else:
        say(f"{change} was stopped while it was rolled back: finishing the rollback")
    if previous is not None:
        roll_back(config_path, previous, current)
    say(f"rolled back: {config_path} is as it was (the change is in {config_path.name}.failed)")
    again = restart_all(manager, units, timeout, say)
    journal.clear()
    if again is not None:
        say(f"{service} does not come up with the previous config either: {again}; see `logs {service}`")
        return {**done, "outcome": "rolled_back", "error": str(again)}
    if units:
        say(f"{service} runs with the previous config")
    return {**done, "outcome": "rolled_back"}


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConsoleError(f"{path}: cannot read: {exc}") from exc


def write_atomically(path: Path, text: str, *, keep: str | None) -> None:
    """Write ``text`` to ``path`` through a temporary file and an fsync; ``keep``: the previous text, saved aside."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if keep is not None:
            write_durably(path.with_name(path.name + ".previous"), keep)
        write_durably(path, text)
    except OSError as exc:
        raise ConsoleError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def pending(config_path: Path) -> bool:
    """Whether a change was left under way (a quick look before taking the lock)."""
    return os.path.exists(Journal.of(config_path).path)
