"""The history CSV a hall brings from its old system, fuzzed (``tests/fuzz/ops.py``).

A file written by ``hall history export`` reads back as the same visits; anything else (mutated, cells
out of place, noise) is refused naming its lines, or taken whole in a form the core's ``history.stage``
takes too. Small example counts here; ``benchmarks/fuzz_parsers.py`` runs it over 10^5 examples.
"""

from __future__ import annotations

from tests.fuzz import check
from tests.fuzz.ops import TARGETS


def test_history_csv_only_history_errors_and_round_trips() -> None:
    (target,) = TARGETS
    check(target, examples=150)
