"""Signed records on their way to HQ: sent as signed, so HQ can check them as the box does.

A signed record (``record.signed``) is built by the core without any identity
number in clear (an ``id`` field holds its masked form and keyed hash, and text
that looks like an ID number is refused when the form is filled in). It may still
hold long numbers that are no identity: a 13-digit power account number (户号), a
phone number with its area code. The privacy scrub masks any run of 12 digits or
more, which would change the record after it was sealed, and HQ could no longer
check its digest. So a record whose digest holds, and in which the scrub would
change nothing but such numbers, goes up as it is. Anything else the scrub would
take out of it (a resident ID number, a face, a customer key beyond the allowed
ones) is taken out as from any event, and the record then does not verify at HQ,
with ``_scrubbed`` saying why.

HQ checks what it holds with :func:`verify` (the same check as ``record.verify``
on the box), and ``hall hq records verify`` with :func:`check_hall`, which takes
the records as HQ holds them, by the hall that sent them::

    >>> from edge.records.digest import genesis, seal
    >>> first = seal({"id": "R1", "n": 1, "day": "2026-11-30", "hall": "h", "form": {"account": "3301004277123"}},
    ...              genesis("h", "2026-11-30"))
    >>> verify([first])
    []
    >>> [p["problem"] for p in verify([{**first, "form": {"account": "3301*****7123"}}])]
    ['changed: its content does not match its digest']
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from edge.records import digest as chain


def intact(record: Any) -> bool:
    """Whether a signed record may go up unscrubbed: its digest holds, and the scrub finds nothing but long numbers."""
    from sync.privacy import LONG_DIGITS, is_resident_id, scrub

    if not isinstance(record, dict) or not isinstance(record.get("digest"), str):
        return False
    try:
        if chain.digest(record) != record["digest"]:
            return False
    except (TypeError, ValueError):  # not JSON a record can hold (a float, …)
        return False

    def numbers_out(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: numbers_out(v) for k, v in value.items()}
        if isinstance(value, list):
            return [numbers_out(v) for v in value]
        if isinstance(value, str) and LONG_DIGITS.fullmatch(value) and not is_resident_id(value):
            return "0"
        return value

    probe = numbers_out(record)
    return bool(scrub({"topic": "", "data": probe})["data"] == probe)


def verify(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Problems in the signed records HQ holds (any halls, any days); empty when every one is intact.

    Each record is checked against its digest and its day's chain (from the hall's and day's own start),
    as ``record.verify`` does on the box: ``{"hall", "day", "id", "n", "problem"}``.
    """
    days: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        days.setdefault((str(r.get("hall")), str(r.get("day"))), []).append(r)
    problems: list[dict[str, Any]] = []
    for (hall, day), rows in sorted(days.items()):
        rows.sort(key=lambda r: int(r.get("n") or 0))
        for p in chain.check_chain(rows, chain.genesis(hall, day)):
            problems.append({"hall": hall, "day": day, **p})
    return problems


def check_hall(hall: str, held: Iterable[tuple[int, str]], day: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    """The records ``hall`` sent, as HQ holds them (``(seq, data as JSON text)``): how many, and their problems.

    With ``day``, only that day's records (and any that cannot be read) are checked.

    Each day's records are checked against their digests and the day's chain, from
    the hall's and day's own start (:func:`edge.records.digest.check_stored`). A
    problem is ``{"hall", "day", "id", "n", "seq", "problem"}``: besides what
    :func:`verify` finds, a record that is not JSON a record can hold, or that names
    another hall than the one that sent it, and for a changed record what the box's
    privacy scrub took out of it before it went up, when it did.

        >>> from edge.records.digest import genesis, seal
        >>> one = seal({"id": "R1", "n": 1, "day": "2026-11-30", "hall": "h"}, genesis("h", "2026-11-30"))
        >>> check_hall("h", [(4, json.dumps(one))])
        (1, [])
        >>> check_hall("other", [(4, json.dumps(one))])[1][0]["problem"]
        'names hall h, but hall other sent it'
    """
    days: dict[str, list[tuple[chain.Stored, int, Any]]] = {}
    problems: list[dict[str, Any]] = []
    count = 0
    for seq, text in held:
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if day is not None and isinstance(record, dict) and record.get("day") != day:
            continue
        count += 1
        where = {"hall": hall, "day": None, "id": None, "n": None, "seq": seq}
        if not isinstance(record, dict):
            problems.append({**where, "problem": "unreadable: not a record (a JSON object)"})
            continue
        where.update(day=record.get("day"), id=record.get("id"), n=record.get("n"))
        if record.get("hall") != hall:
            problems.append({**where, "problem": f"names hall {record.get('hall')}, but hall {hall} sent it"})
            continue
        try:
            stored = chain.Stored.of(record)
        except (TypeError, ValueError) as exc:  # a float, a number of the day that is no number
            problems.append({**where, "problem": f"unreadable: {exc}"})
            continue
        days.setdefault(str(record.get("day")), []).append((stored, seq, record.get("_scrubbed")))
    for day, rows in sorted(days.items()):
        rows.sort(key=lambda r: (r[0].n, r[1]))
        by_n = {stored.n: (seq, scrubbed) for stored, seq, scrubbed in reversed(rows)}
        for p in chain.check_stored((stored for stored, _, _ in rows), chain.genesis(hall, day)):
            seq, scrubbed = by_n[p["n"]]
            if scrubbed and p["problem"].startswith("changed"):
                what = ", ".join(map(str, scrubbed)) if isinstance(scrubbed, list) else str(scrubbed)
                p["problem"] += f" (the box's privacy scrub took out {what[:200]} before sending it)"
            problems.append({"hall": hall, "day": day, "id": p["id"], "n": p["n"], "seq": seq, "problem": p["problem"]})
    return count, problems
