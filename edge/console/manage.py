"""Changing the hall: ``services``, ``restart``, ``logs`` and ``config show|check|set``.

``config set KEY VALUE`` edits the config file the services read (comments and
layout kept, tomlkit), refuses a value the config does not validate (nothing
is written), writes the file atomically (the previous one kept as
``.previous``), restarts the service that reads the key (``services.NAME.*``:
that service, anything else: the core) and waits until it says it is ready.
When it does not come up, the previous file is put back (the change kept
aside as ``.failed``) and the service restarted again: a bad value never stays in force, and the technician is told
what happened to the service both times. A change is the service's units' together (``services.pad.*``:
``pad@2``, ``pad@3``…), and one a stopped console left under way is finished by the next
(:mod:`edge.console.change`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.console.change import (
    Journal,
    finish_interrupted,
    read_text,
    restart_all,
    roll_back,
    units_of,
    write_atomically,
)
from edge.console.services import check_name, uptime
from edge.console.shell import Command, Context, UsageError, redacted
from edge.console.terminal import ConsoleError, Hangup

LOG_LINES = 40


def services(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("usage")
    manager = ctx.manager()
    listed = manager.services()
    ctx.out(f"managed by {manager.kind}")
    ctx.out(f"{'service':<10} {'state':<11} {'pid':>7} {'up':>10} {'restarts':>8}  ready")
    for s in listed:
        ready = {True: "yes", False: "no", None: "-"}[s.get("ready")]
        ctx.out(
            f"{s['name']:<10} {s['state']:<11} {s.get('pid') or '-':>7} {uptime(s.get('since')):>10} "
            f"{s.get('restarts', 0):>8}  {ready}" + (f"  {s['status']}" if s.get("status") else "")
        )


def restart(ctx: Context, args: list[str]) -> None:
    if len(args) != 1:
        raise UsageError("usage")
    name = check_name(args[0])
    ctx.audit_detail["service"] = name
    ctx.out(f"restarting {name}…")
    ctx.manager().restart(name, ctx.settings.restart_timeout_s)
    ctx.out(f"{name} is up again")


def logs(ctx: Context, args: list[str]) -> None:
    follow, lines, name = False, LOG_LINES, None
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("--follow", "-f"):
            follow = True
        elif arg in ("--lines", "-n") and rest and rest[0].isdigit():
            lines = max(1, min(2000, int(rest.pop(0))))
        elif not arg.startswith("-") and name is None:
            name = check_name(arg)
        else:
            raise UsageError("usage")
    manager = ctx.manager()
    for line in manager.log_lines(name, lines):
        ctx.out(line)
    if not follow:
        return
    ctx.out("-- following; Ctrl-C or q stops --")
    stopped = False

    def stop() -> bool:
        nonlocal stopped
        keys = ctx.term.key(0)
        if keys and (b"\x03" in keys or b"q" in keys):
            stopped = True
        if ctx.term.idle_for() >= ctx.settings.idle_timeout_s:
            stopped = True
        return stopped

    for line in manager.follow(name, stop):
        ctx.out(line)
    ctx.out("-- stopped --")


# -- config -------------------------------------------------------------------------
def config(ctx: Context, args: list[str]) -> None:
    if not args:
        raise UsageError("usage")
    sub, rest = args[0], args[1:]
    if sub == "show" and len(rest) <= 1:
        config_show(ctx, rest[0] if rest else "")
    elif sub == "check" and not rest:
        config_check(ctx)
    elif sub == "set" and len(rest) == 2:
        config_set(ctx, rest[0], rest[1])
    else:
        raise UsageError("usage")


def config_show(ctx: Context, prefix: str) -> None:
    from edge import config as hall_config

    path = ctx.config_path
    cfg = hall_config.load(path if path.exists() else None)
    ctx.out(f"# {path if path.exists() else 'the embedded defaults (no config file yet: ' + str(path) + ')'}")
    shown = 0
    for key, value in flatten(cfg.model_dump(mode="json")):
        if key == prefix or key.startswith(prefix + ".") or key.startswith(prefix + "[") or not prefix:
            ctx.out(f"{key} = {_toml(redacted(key, value))}")
            shown += 1
    if prefix and not shown:
        raise ConsoleError(f"no key {prefix!r} in the config")


def config_check(ctx: Context) -> None:
    from edge import config as hall_config

    path = ctx.config_path
    if not path.exists():
        ctx.out(f"{path}: no file; the hall runs on the embedded defaults")
        return
    cfg = hall_config.load(path)
    ctx.out(f"{path}: ok (hall {cfg.hall.id}, {len(cfg.businesses)} businesses, {len(cfg.counters)} counters)")


def config_set(ctx: Context, key: str, text: str) -> None:
    with change_lock(ctx.config_path):
        finished = finish_interrupted(ctx.config_path, ctx.manager(), ctx.settings.restart_timeout_s, ctx.out)
        if finished is not None:
            ctx.audit_detail["finished"] = finished
        _set(ctx, key, text)


@contextlib.contextmanager
def change_lock(path: Path) -> Iterator[None]:
    """One change at a time, whichever port it comes from: two technicians' changes must not undo each
    other's file or roll each other back (an advisory lock on ``.hall.toml.lock`` beside the file)."""
    lock = path.with_name(f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise ConsoleError(f"{lock}: cannot open: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConsoleError(
                "another `config set` is under way (on another port); try again once it is done"
            ) from None
        yield
    finally:
        os.close(fd)


def _set(ctx: Context, key: str, text: str) -> None:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from edge import config as hall_config

    path = ctx.config_path
    value = parse_value(text)
    service = owner(key)
    ctx.audit_detail.update({"args": [], "key": key, "value": redacted(key, value), "service": service})
    before = read_text(path)
    try:
        doc = tomlkit.parse(before)
        set_key(doc, key, value)
    except (TOMLKitError, ValueError) as exc:
        raise ConsoleError(f"{key}: {exc}") from exc
    after = tomlkit.dumps(doc)
    hall_config.load_text(after, str(path))  # refused with the key and its line, and nothing written
    if after == before:
        ctx.out(f"{key} is already {_toml(redacted(key, value))}")
        ctx.audit_detail["outcome"] = "unchanged"
        return
    manager = ctx.manager()
    units = units_of(manager, service)
    journal = Journal.of(path)
    journal.begin(key, _toml(redacted(key, value)), service)  # a console stopped from here on: the next finishes
    write_atomically(path, after, keep=before)
    say = _Speaker(ctx)  # from here on the change is seen through (applied or rolled back) even if the line drops
    say(f"{path}: {key} = {_toml(redacted(key, value))} written (the previous file is {path.name}.previous)")
    if not units:
        journal.clear()
        ctx.audit_detail["outcome"] = "written"
        say(f"{service} does not run here ({manager.kind}): it reads the change when it next starts")
        say.done()
        return
    failed = restart_all(manager, units, ctx.settings.restart_timeout_s, say)
    if failed is not None:
        journal.rolling_back()
        roll_back(path, before, after)
        ctx.audit_detail["outcome"] = "rolled_back"
        say(f"{service} did not come up with the change: {failed}")
        say(f"rolled back: {path} is as it was (the change is in {path.name}.failed); restarting {service} again…")
        again = restart_all(manager, units, ctx.settings.restart_timeout_s, say)
        journal.clear()
        say.done()
        if again is not None:
            raise ConsoleError(
                f"{service} does not come up with the previous config either: {again}; see `logs {service}`"
            ) from again
        raise ConsoleError(
            f"{key} not changed: {service} did not come up with it; rolled back, {service} runs"
        ) from failed
    journal.clear()
    ctx.audit_detail["outcome"] = "applied"
    say(f"{service} is up with {key} = {_toml(redacted(key, value))}")
    say.done()


class _Speaker:
    """The technician's line while a change is under way: a line that drops does not stop the change halfway.

    What cannot be said is dropped; :meth:`done` then raises the :class:`Hangup`, once the config file and
    the service are as they must be.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.lost: Hangup | None = None

    def __call__(self, text: str) -> None:
        if self.lost is None:
            try:
                self.ctx.out(text)
            except Hangup as exc:
                self.lost = exc

    def done(self) -> None:
        if self.lost is not None:
            raise self.lost


def owner(key: str) -> str:
    """The service that must restart for a key to take effect.

    >>> owner("services.devices.printer.url"), owner("queue.max_wait_minutes"), owner("hall.name")
    ('devices', 'core', 'core')
    """
    parts = key.split(".")
    if parts[0] == "services" and len(parts) >= 3:
        return parts[1]
    return "core"


def parse_value(text: str) -> Any:
    """VALUE as TOML (``30``, ``true``, ``"a b"``, ``[1, 2]``), else as a plain string.

    >>> parse_value("30"), parse_value("true"), parse_value("tcp://x:1"), parse_value('["A", "D"]')
    (30, True, 'tcp://x:1', ['A', 'D'])
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_key(doc: Any, key: str, value: Any) -> None:
    """Set a dotted key in a tomlkit document, making tables on the way (a number indexes an array)."""
    import tomlkit

    parts = key.split(".")
    if not all(parts):
        raise ValueError("a key is words joined by dots, e.g. queue.max_wait_minutes")
    node: Any = doc
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"{'.'.join(parts[: i + 1])}: no such entry in the file")
            node = node[int(part)]
            continue
        if part not in node:
            node[part] = tomlkit.table()
        node = node[part]
        if not isinstance(node, (dict, list)):
            raise ValueError(f"{'.'.join(parts[: i + 1])} is a value, not a table")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ValueError(f"{key}: no such entry in the file")
        node[int(last)] = value
    else:
        node[last] = value


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted keys and their values; lists of tables as ``key.N``.

    >>> flatten({"hall": {"id": "h1"}, "counters": [{"id": "1"}], "tags": []})
    [('hall.id', 'h1'), ('counters.0.id', '1'), ('tags', [])]
    """
    if isinstance(value, dict) and value:
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = []
        for i, v in enumerate(value):
            out += flatten(v, f"{prefix}.{i}")
        return out
    return [(prefix, value)]


def _toml(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(not set)"
    if value == "(secret)":
        return "(secret)"
    return json.dumps(value, ensure_ascii=False)


COMMANDS = {
    "services": Command(services, "services", "every service: state, pid, up since, restarts, ready"),
    "restart": Command(restart, "restart SERVICE", "restart one service and wait until it is up"),
    "logs": Command(logs, "logs [SERVICE] [--follow] [--lines N]", "a service's log (all of them without SERVICE)"),
    "config": Command(
        config,
        "config show [KEY] | check | set KEY VALUE",
        "the hall's config; set validates, applies, rolls back",
        ("show", "check", "set"),
    ),
}
