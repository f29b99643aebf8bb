"""Every parser that reads outside input, over 10^5 examples each, beside plain json.loads / tomllib.loads.

The targets are the tests' (``tests/fuzz``): the ID-card reader's SAM answers, the IC-card reader's
APDU replies, the printer's status bytes, bus envelopes, config files as text and as bytes, HQ's
bundles as the core takes them, the panel's request bodies, history CSV files, and signed batches at HQ (through the
ASGI app, in memory). For each, hypothesis first draws ``--drawn`` cases (well-formed ones whose round
trip must be the identity, mutated ones, noise); then, to reach ``--examples``, the bytes of drawn cases
are mutated here (bits flipped, tokens inserted, spans dropped or repeated, cuts, two inputs spliced),
which is fast enough for long runs; a third of the JSON and TOML ones are near misses instead (the
document read, one to three fields replaced by a slip of the sender's or an odd value, written again). Each example must keep its target's properties and raise nothing but
the target package's own errors; anything else is a defect, printed with its input, and the exit status
is 1.

Per target: examples, how many were refused, distinct refusals (messages with numbers, quoted parts and
key paths taken out), the parser's own time and examples/s, and, on the very same inputs in the same run,
``json.loads`` (``tomllib.loads`` for config, ``csv.reader`` for history files) as the baseline.

    .venv/bin/python benchmarks/fuzz_parsers.py [--examples 100000] [--drawn 1000] [--only envelope,sam]
    .venv/bin/python benchmarks/fuzz_parsers.py --quick     # 2,000 examples each, for a first look
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import random
import re
import sys
import time
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' targets

from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz import Case, Target, targets
from tests.fuzz.core import apply_edits

NUMBERS = re.compile(r"\d+")
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
BASELINES = {"json": "json.loads", "toml": "tomllib.loads", "csv": "csv.reader"}
PATHS = re.compile(r"[\w-]+(?:\.[\w-]+|\[\d+\])+")  # where: hall.toml, services.devices.url, events[3].seq


@dataclass
class Tally:
    examples: int = 0
    refused: int = 0
    refusals: set[str] = field(default_factory=set)
    defects: dict[str, tuple[str, str]] = field(default_factory=dict)  # last line → (input, traceback)
    parse_s: float = 0.0
    baseline_s: float = 0.0

    def one(self, target: Target, case: Case, text: bytes | str) -> None:
        self.examples += 1
        t0 = time.perf_counter()
        try:
            target.run(case)
        except target.errors as exc:
            self.parse_s += time.perf_counter() - t0
            self.refused += 1
            self.refusals.add(shape(exc))
            if case.kind == "valid":
                self.defect(case, traceback.format_exc())
        except Exception:
            self.parse_s += time.perf_counter() - t0
            self.defect(case, traceback.format_exc())
        else:
            self.parse_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        baseline(target, text)
        self.baseline_s += time.perf_counter() - t0

    def defect(self, case: Case, trace: str) -> None:
        last = trace.strip().splitlines()[-1][:200]
        self.defects.setdefault(last, (repr(case)[:600], trace))


def shape(exc: BaseException) -> str:
    """A refusal's message without the numbers and quoted parts that vary from one input to the next."""
    return type(exc).__name__ + ": " + NUMBERS.sub("#", PATHS.sub("…", QUOTED.sub("…", str(exc))))[:90]


def baseline(target: Target, text: bytes | str) -> None:
    try:
        if target.baseline == "toml":
            tomllib.loads(text if isinstance(text, str) else text.decode("utf-8", "replace"))
        elif target.baseline == "csv":
            list(csv.reader(io.StringIO(text if isinstance(text, str) else text.decode("utf-8", "replace"))))
        else:
            json.loads(text)
    except (ValueError, RecursionError, csv.Error):
        pass


def mutate(rng: random.Random, pool: list[bytes], target: Target) -> bytes:
    seed = rng.choice(pool)
    if target.near_miss is not None and rng.random() < 0.3:  # a document with fields out of place
        moved = target.near_miss(seed, rng)
        if moved is not None:
            return moved
    tokens = target.tokens
    if rng.random() < 0.1:  # splice two inputs
        other = rng.choice(pool)
        seed = seed[: rng.randint(0, len(seed))] + other[rng.randint(0, len(other)) :]
    ops: list[tuple[int, int, Any]] = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choices(range(6), weights=(4, 4, 2, 1, 3, 1))[0]
        arg: Any = None
        if kind == 0:
            arg = rng.randint(1, 255)
        elif kind == 1:
            arg = rng.choice(tokens) if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 6))
        elif kind in (2, 3):
            arg = rng.randint(1, 24)
        elif kind == 4:
            arg = rng.choice(tokens)
        ops.append((kind, rng.randint(0, 1 << 16), arg))
    return apply_edits(seed, ops)


def run(target: Target, examples: int, drawn: int, seed: int) -> Tally:
    tally = Tally()
    target.setup()
    pool: list[bytes] = []
    as_text = (target.baseline == "toml" and target.name.endswith("text")) or target.baseline == "csv"

    @settings(
        max_examples=min(drawn, examples),
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(target.inputs)
    def draw(case: Case) -> None:
        text = target.raw(case)
        pool.append(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        tally.one(target, case, text)

    draw()
    rng = random.Random(seed)
    while tally.examples < examples:
        data = mutate(rng, pool, target)
        text: bytes | str = data.decode("utf-8", "replace") if as_text else data
        tally.one(target, target.reread(text), text)
        if tally.examples % 20_000 == 0:
            target.setup()  # HQ's store in memory: start again before it grows large
    target.teardown()
    return tally


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--examples", type=int, default=100_000, help="examples per target (at least --drawn)")
    p.add_argument("--drawn", type=int, default=1000, help="of which hypothesis draws this many")
    p.add_argument("--quick", action="store_true", help="2,000 examples per target, 200 drawn")
    p.add_argument("--only", help="comma-separated target names")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if a.quick:
        a.examples, a.drawn = 2000, 200
    logging.disable(logging.CRITICAL)  # HQ logs every refused batch; the counts say it here
    chosen = [t for t in targets() if not a.only or t.name in a.only.split(",")]
    print(f"{a.examples} examples per target, {min(a.drawn, a.examples)} drawn by hypothesis, the rest mutated")
    head = f"{'target':<13}{'examples':>9}{'refused':>9}{'distinct':>9}{'parser s':>10}{'ex/s':>9}"
    print(head + f"{'baseline':>10}{'ex/s':>10}  baseline")
    defects = 0
    for target in chosen:
        t0 = time.perf_counter()
        tally = run(target, a.examples, a.drawn, a.seed)
        wall = time.perf_counter() - t0
        rate = tally.examples / tally.parse_s if tally.parse_s else 0.0
        base_rate = tally.examples / tally.baseline_s if tally.baseline_s else 0.0
        print(
            f"{target.name:<13}{tally.examples:>9}{tally.refused:>9}{len(tally.refusals):>9}"
            f"{tally.parse_s:>10.2f}{rate:>9.0f}{tally.baseline_s:>10.2f}{base_rate:>10.0f}  "
            f"{BASELINES[target.baseline]}   ({wall:.0f} s in all)",
            flush=True,
        )
        for last, (case, trace) in tally.defects.items():
            defects += 1
            print(f"  DEFECT {last}\n    input: {case}\n    " + "\n    ".join(trace.strip().splitlines()[-8:]))
    print(f"{defects} defect(s)" if defects else "no defects: every example kept its target's properties")
    return 1 if defects else 0


if __name__ == "__main__":
    raise SystemExit(main())
