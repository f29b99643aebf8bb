"""Fuzz targets: every parser that reads outside input, the inputs drawn for it and its properties.

The tests run each briefly (``tests/*/test_parsers_fuzz.py``); ``benchmarks/fuzz_parsers.py`` runs
each over 10^5 examples and more.
"""

from __future__ import annotations

from tests.fuzz.core import Case, Target, check


def targets() -> list[Target]:
    """Every target, devices first, then the hall's own parsers, then HQ's."""
    from tests.fuzz import devices, hall, hq, ops

    return [*devices.TARGETS, *hall.TARGETS, *ops.TARGETS, *hq.TARGETS]


__all__ = ["Case", "Target", "check", "targets"]
