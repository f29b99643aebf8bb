"""The bus helpers live in tests/busutil.py; kept here for the panel tests' imports."""

from tests.busutil import connected, wait_event

__all__ = ["connected", "wait_event"]
