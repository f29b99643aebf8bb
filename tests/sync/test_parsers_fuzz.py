"""Signed batches at HQ, fuzzed through the very ASGI app ``hall hq serve`` runs (``tests/fuzz/hq.py``).

Every request is answered below 500; a refused one names why and leaves the store as it was; a
well-formed batch that follows HQ's cursor is taken whole and read back as it was sent. Small example
counts here; ``benchmarks/fuzz_parsers.py`` runs the target over 10^5 examples.
"""

from __future__ import annotations

from tests.fuzz import check
from tests.fuzz.hq import TARGETS


def test_hq_answers_every_batch_below_500_and_keeps_what_it_refuses_out() -> None:
    (target,) = TARGETS
    check(target, examples=100)
