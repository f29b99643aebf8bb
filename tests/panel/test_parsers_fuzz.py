"""The panel's request bodies, fuzzed: read once, then by every route's reader (``edge.panel.bodies``).

Whatever the bytes, each reader takes its fields or refuses with the hall's own error, and what it
takes can be written to panel.db and the hall log (no lone surrogate gets through). Small example
counts here; ``benchmarks/fuzz_parsers.py`` runs the target over 10^5 examples.
"""

from __future__ import annotations

from tests.fuzz import check
from tests.fuzz.hall import TARGETS


def test_only_hall_errors_from_any_body() -> None:
    (target,) = [t for t in TARGETS if t.name == "panel-body"]
    check(target, examples=150)
