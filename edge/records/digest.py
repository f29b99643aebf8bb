"""A signed record's digest: SHA-256 over its canonical JSON, chained to the day's previous record.

Canonical JSON is the record with its object keys sorted, no whitespace, UTF-8
text as is, and integers only (a record holds no floats), so any language can
compute the same bytes again::

    >>> canonical({"b": 1, "a": "更名"}).decode()
    '{"a":"更名","b":1}'

A record's ``digest`` is the SHA-256 of the canonical JSON of everything in it
but the digest itself, and that includes ``prev``: the digest of the day's
previous record, or for the day's first record the hall's and day's own start
(:func:`genesis`), so a record cannot be moved to another hall's or day's chain.
Changing a value, a stroke or a time changes the digest; removing, inserting or
reordering records breaks the ``prev`` link of the record after.
:func:`check_chain` names what it finds.

    >>> genesis("demo-001", "2026-11-30") == hashlib.sha256(b"demo-001|2026-11-30").hexdigest()
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any


def genesis(hall: str, day: str) -> str:
    """Where the chain of ``hall``'s records of ``day`` starts: the SHA-256 of ``hall|day``."""
    return hashlib.sha256(f"{hall}|{day}".encode()).hexdigest()


def _no_floats(value: Any, where: str = "record") -> None:
    if isinstance(value, float):
        raise ValueError(f"{where} is a float: a record holds integers only")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_floats(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_floats(item, f"{where}[{i}]")


def canonical(value: Any) -> bytes:
    """The canonical JSON bytes of ``value`` (``ValueError`` for a float anywhere in it)."""
    _no_floats(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def digest(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``record`` without its ``digest`` key."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "digest"})).hexdigest()


def seal(record: dict[str, Any], prev: str) -> dict[str, Any]:
    """``record`` chained after ``prev`` and with its digest."""
    body = {**record, "prev": prev}
    body.pop("digest", None)
    return {**body, "digest": digest(body)}


def check_chain(records: Iterable[dict[str, Any]], start: str) -> list[dict[str, Any]]:
    """Problems in one day's records, given in chain order (by ``n``) after ``start``; empty when intact.

    Each problem is ``{"id", "n", "problem"}``: a record whose content no longer
    matches its digest, a link to a previous record that is not the one before
    it, or a gap in the numbering (a record removed).
    """
    problems: list[dict[str, Any]] = []
    prev, expected_n = start, 1
    for record in records:
        rid, n = record.get("id"), record.get("n")
        if n != expected_n:
            problems.append({"id": rid, "n": n, "problem": f"record {expected_n} of the day is missing"})
        if record.get("digest") != digest(record):
            problems.append({"id": rid, "n": n, "problem": "changed: its content does not match its digest"})
        if record.get("prev") != prev:
            problems.append({"id": rid, "n": n, "problem": "chain broken: it does not follow the record before it"})
        prev = str(record.get("digest"))
        expected_n = (n if isinstance(n, int) else expected_n) + 1
    return problems
