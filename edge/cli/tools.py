"""``hall events`` and ``hall config``."""

from __future__ import annotations

import json
import sys
from typing import Any

from edge.cli.main import parser, run_with_errors


def events_main(argv: list[str]) -> int:
    p = parser("events", "Follow the hall's events.")
    sub = p.add_subparsers(dest="cmd", required=True)
    tail = sub.add_parser(
        "tail",
        help="print events as they happen, one JSON envelope per line",
        description="Print events as they happen, one JSON envelope per line. Without a core answering, say so "
        "and exit 1; with --follow, keep waiting for it (saying so on stderr) and catch up from the log.",
    )
    tail.add_argument("--topic", default="", help="only topics starting with this prefix")
    tail.add_argument("--since", type=int, help="first replay the log after this seq")
    tail.add_argument("--count", type=int, help="stop after this many events")
    tail.add_argument(
        "--follow", action="store_true", help="keep following while the core is away; catch up from the log"
    )
    tail.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the core (default 3)")
    a = p.parse_args(argv)
    return run_with_errors(lambda: Tail(a.topic, a.since, a.count, a.follow, a.timeout).run())


class Tail:
    """``hall events tail``: replay the log after ``since``, then print live events, dropping repeats by seq."""

    def __init__(self, topic: str, since: int | None, count: int | None, follow: bool, timeout: float) -> None:
        from edge.bus import BusClient, Endpoints, Subscriber

        self.topic, self.count, self.follow, self.timeout = topic, count, follow, timeout
        self.endpoints = Endpoints.from_env()
        self.bus = BusClient("cli", endpoints=self.endpoints, timeout=timeout, retries=0)
        self.sub = Subscriber([topic], endpoints=self.endpoints)  # before the replay: nothing falls between
        self.seq = since
        self.printed = 0

    def done(self) -> bool:
        return bool(self.count) and self.printed >= (self.count or 0)

    def run(self) -> None:
        try:
            self._connect()
            while not self.done():
                env = self.sub.recv(timeout=5.0)
                if env is None:  # a quiet while: is the core still there?
                    if not self._reachable():
                        self._connect()  # with --follow, waits and catches up; without, says so and ends
                    continue
                self._print(env)
        finally:
            self.sub.close()
            self.bus.close()

    def _reachable(self) -> bool:
        from edge.errors import BusError

        try:
            head = int(self.bus.request("hall.ping")["seq"])
        except BusError:
            return False
        if self.seq is None:
            self.seq = head  # live from here on; with --follow, a later outage is caught up from this seq
        return True

    def _connect(self) -> None:
        """Wait for the core (once, or with --follow for as long as it takes), then replay the log after seq."""
        from edge.errors import BusError

        warned = False
        while not self._reachable():
            where = self.endpoints.requests
            if not self.follow:
                raise BusError(f"the core is not answering at {where} (is `hall core` running?)")
            if not warned:
                print(f"hall events: the core is not answering at {where}; retrying…", file=sys.stderr, flush=True)
                warned = True
        if warned:
            print("hall events: the core answers again; catching up from the log", file=sys.stderr, flush=True)
        while self.seq is not None and not self.done():
            batch = self.bus.request("events.since", {"seq": self.seq, "prefix": self.topic, "limit": 500})
            for env in batch:
                self._print(env)
                if self.done():
                    return
            if len(batch) < 500:
                return

    def _print(self, env: dict[str, Any]) -> None:
        seq = env.get("seq")
        if isinstance(seq, int):
            if self.seq is not None and seq <= self.seq:
                return  # replayed already
            self.seq = seq
        sys.stdout.write(json.dumps(env, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        self.printed += 1


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
