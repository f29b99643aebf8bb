"""``hall``: one command for every service and tool of the box.

Built-in commands live here; services (``core``, ``devices``, ``vision``, …)
are found through the ``hall.services`` entry-point group and extra tools
through ``hall.commands``, so edge/ never imports its sibling packages. Only
this module and argparse load for ``hall --help``.

Stable contract: ``--json`` prints machine-readable output on stdout; errors go
to stderr as one sentence, with exit status 1 (refused or failed), 2 (bad usage,
config or HALL_HOME), 130 (Ctrl-C) or 141 (stdout closed early, as by ``head``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

BUILTINS = {
    "run": "edge.supervisor:run_main",
    "demo": "edge.supervisor:demo_main",
    "ticket": "edge.cli.queue_cmds:ticket_main",
    "counter": "edge.cli.queue_cmds:counter_main",
    "appointment": "edge.cli.queue_cmds:appointment_main",
    "status": "edge.cli.queue_cmds:status_main",
    "events": "edge.cli.tools:events_main",
    "config": "edge.cli.tools:config_main",
    "simulate": "edge.demo:simulate_main",
    "history": "edge.cli.ops_cmds:history_main",
    "forecast": "edge.cli.ops_cmds:forecast_main",
    "staffing": "edge.cli.ops_cmds:staffing_main",
}

HELP = {
    "run": "start every installed service, restarting any that crash",
    "demo": "run the hall on its embedded defaults with simulated customers",
    "ticket": "issue, list, show, cancel or rate tickets",
    "counter": "open, call, recall, transfer, finish… at a counter",
    "appointment": "book or check in appointments",
    "status": "queues, counters and who is being called",
    "events": "follow the hall's events (tail)",
    "config": "check a config file, or print the defaults",
    "simulate": "simulated customers and staff, for the demo",
    "history": "import the hall's history from CSV, or export it",
    "forecast": "arrivals per business per slot for coming days",
    "staffing": "counters to open per slot for a service level",
}


def services() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group="hall.services")}


def commands() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group="hall.commands")}


def _load(target: str) -> Callable[[list[str]], int]:
    import importlib

    module, _, attr = target.partition(":")
    fn: Callable[[list[str]], int] = getattr(importlib.import_module(module), attr)
    return fn


def usage() -> str:
    lines = ["usage: hall [--config FILE] COMMAND [ARGS…]", "", "Smart Hall Edge: the service hall's box.", ""]
    svc = services()
    if svc:
        lines.append("services (hall SERVICE --help):")
        lines += [f"  {name:<12} {ep.value}" for name, ep in sorted(svc.items())]
        lines.append("")
    lines.append("commands:")
    lines += [f"  {name:<12} {HELP[name]}" for name in BUILTINS]
    for name, ep in sorted(commands().items()):
        lines.append(f"  {name:<12} {ep.value}")
    lines += [
        "",
        "HALL_HOME selects the hall's data directory and bus endpoints.",
        "--config FILE (or HALL_CONFIG) selects the config; default: the embedded demo hall.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import os

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--config"] and len(args) >= 2:
        os.environ["HALL_CONFIG"] = os.path.abspath(args[1])
        args = args[2:]
    if not args or args[0] in ("-h", "--help", "help"):
        return guarded("", lambda: _say(usage()))
    if args[0] == "--version":
        from edge import __version__

        return guarded("", lambda: _say(__version__))
    name, rest = args[0], args[1:]
    target = BUILTINS.get(name)
    if target is None:
        ep = services().get(name) or commands().get(name)
        if ep is None:
            print(f"hall: unknown command {name!r}; see hall --help", file=sys.stderr)
            return 2
        target = ep.value
    return guarded(name, lambda: _load(target)(rest))


def _say(text: str) -> int:
    print(text)
    return 0


def guarded(name: str, fn: Callable[[], int]) -> int:
    """Run a command so that no traceback reaches a user: the one place every command's failures end.

    - stdout closed early (``hall status | head``): exit quietly with 141, as a Unix tool killed by SIGPIPE;
    - an error of the hall that nothing caught: its sentence, exit 2 (config, HALL_HOME) or 1;
    - a file the command cannot use (HALL_HOME read-only, a full disk): one sentence naming it, exit 2 when
      a setting must change (read-only, no permission), 1 otherwise;
    - Ctrl-C: 130.
    """
    import errno

    from edge.errors import ConfigError, HallError

    prefix = f"hall {name}" if name else "hall"
    try:
        code = fn()
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except HallError as exc:
        print(f"{prefix}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prefix}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2 if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not complain about the closed pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run_with_errors(fn: Callable[[], Any]) -> int:
    """Run a command body; turn the hall's errors into a message on stderr and exit 1 or 2."""
    from edge.errors import ConfigError, HallError, InvalidRequest

    try:
        fn()
    except (ConfigError, InvalidRequest) as exc:
        print(f"hall: {exc}", file=sys.stderr)
        return 2
    except HallError as exc:
        print(f"hall: {exc}", file=sys.stderr)
        return 1
    return 0


def emit(obj: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    if as_json:
        print(json.dumps(obj, ensure_ascii=False, indent=2))
    else:
        print(human(obj))


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"hall {prog}", description=description)


if __name__ == "__main__":
    raise SystemExit(main())
