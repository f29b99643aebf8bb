"""What reaches the hall's own code from outside, fuzzed: bus envelopes, config files, HQ's bundles.

The targets of ``tests/fuzz/hall.py``: well-formed input made by the matching encoder must read back
as what it said (envelope → bytes → envelope; a hall's config → TOML → the same config; a bundle →
``bundle.apply`` → the same bundle), and anything else (mutated, noise, fields out of place) gives a
result that keeps its promises or the hall's own error, nothing else. Small example counts here;
``benchmarks/fuzz_parsers.py`` runs them over 10^5 examples.
"""

from __future__ import annotations

import pytest

from tests.fuzz import Target, check
from tests.fuzz.hall import TARGETS


@pytest.mark.parametrize("target", [t for t in TARGETS if t.name != "panel-body"], ids=lambda t: t.name)
def test_only_hall_errors_and_round_trips(target: Target) -> None:
    check(target, examples=100)
