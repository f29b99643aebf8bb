"""``hall events`` and ``hall config``."""

from __future__ import annotations

import json
import sys
from typing import Any

from edge.cli.main import parser, run_with_errors


def events_main(argv: list[str]) -> int:
    p = parser("events", "Follow the hall's events.")
    sub = p.add_subparsers(dest="cmd", required=True)
    tail = sub.add_parser("tail", help="print events as they happen, one JSON envelope per line")
    tail.add_argument("--topic", default="", help="only topics starting with this prefix")
    tail.add_argument("--since", type=int, help="first replay the log after this seq")
    tail.add_argument("--count", type=int, help="stop after this many events")
    a = p.parse_args(argv)

    def body() -> None:
        from edge.bus import BusClient, Subscriber

        printed = 0
        with Subscriber([a.topic]) as sub_:
            if a.since is not None:
                seq = a.since
                with BusClient("cli") as bus:
                    while True:
                        batch = bus.request("events.since", {"seq": seq, "prefix": a.topic, "limit": 500})
                        for env in batch:
                            _print(env)
                            printed += 1
                            seq = env["seq"]
                            if a.count and printed >= a.count:
                                return
                        if len(batch) < 500:
                            break
            while not a.count or printed < a.count:
                env = sub_.recv()
                if env is None or (a.since is not None and env.get("seq") and env["seq"] <= seq):
                    continue
                _print(env)
                printed += 1

    return run_with_errors(body)


def _print(env: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(env, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def config_main(argv: list[str]) -> int:
    p = parser("config", "Check a config file, or print the embedded defaults.")
    sub = p.add_subparsers(dest="cmd", required=True)
    check = sub.add_parser("check", help="validate FILE; name each bad key and its line")
    check.add_argument("file")
    check.add_argument("--json", action="store_true")
    sub.add_parser("defaults", help="print the embedded defaults (a demo hall) as TOML")
    a = p.parse_args(argv)
    from edge import config

    if a.cmd == "defaults":
        sys.stdout.write(config.default_text())
        return 0

    def body() -> None:
        cfg = config.load(a.file)
        if a.json:
            print(
                json.dumps(
                    {"ok": True, "hall": cfg.hall.id, "businesses": len(cfg.businesses), "counters": len(cfg.counters)}
                )
            )
        else:
            print(f"{a.file}: ok (hall {cfg.hall.id}, {len(cfg.businesses)} businesses, {len(cfg.counters)} counters)")

    return run_with_errors(body)
