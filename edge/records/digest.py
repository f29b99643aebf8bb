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
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# In canonical JSON a quote inside a text is escaped, so this can only be the record's own "prev" key
# (no other object of a record has one): the link is read from the bytes the digest covers, unparsed.
PREV = re.compile(rb'"prev":"([0-9a-f]{64})"')


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


@dataclass(frozen=True)
class Stored:
    """A record as kept: the canonical JSON its digest covers (everything but the digest), and the digest."""

    id: str
    n: int
    body: bytes
    digest: str

    @classmethod
    def of(cls, record: dict[str, Any]) -> Stored:
        body = canonical({k: v for k, v in record.items() if k != "digest"})
        return cls(str(record.get("id")), int(record.get("n") or 0), body, str(record.get("digest")))


def check_chain(records: Iterable[dict[str, Any]], start: str) -> list[dict[str, Any]]:
    """Problems in one day's records, given in chain order (by ``n``) after ``start``; empty when intact.

    Each problem is ``{"id", "n", "problem"}``: a record whose content no longer
    matches its digest, a link to a previous record that is not the one before
    it, or a gap in the numbering (a record removed).
    """
    return check_stored((Stored.of(r) for r in records), start)


def check_stored(rows: Iterable[Stored], start: str) -> list[dict[str, Any]]:
    """:func:`check_chain` on records as kept: the stored bytes are hashed as they are, never re-encoded."""
    problems: list[dict[str, Any]] = []
    prev, expected_n = start, 1
    for row in rows:
        if row.n != expected_n:
            problems.append({"id": row.id, "n": row.n, "problem": f"record {expected_n} of the day is missing"})
        found = PREV.search(row.body)
        if hashlib.sha256(row.body).hexdigest() != row.digest:  # then nothing it says can be trusted
            problems.append({"id": row.id, "n": row.n, "problem": "changed: its content does not match its digest"})
        elif found is None or found.group(1).decode() != prev:
            problems.append(
                {"id": row.id, "n": row.n, "problem": "chain broken: it does not follow the record before it"}
            )
        prev, expected_n = row.digest, row.n + 1
    return problems
