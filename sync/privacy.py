"""What never goes up: face images, embeddings and raw ID numbers.

Every event passes :func:`scrub` at the agent's boundary before it is sent.
It works on the data, whatever the topic:

- a key naming a face image, photo, frame, embedding or a raw card/ID number is dropped;
- a ``customer`` object keeps only the allowed keys (kind, keyed hash, masked forms);
- any string that is a resident ID number (18 characters with a valid check digit) or a long
  run of digits is replaced by its masked form; a long base64/hex blob is dropped;
- a list of 64 or more floats between -1 and 1 (an embedding, whatever its key) is dropped; counts,
  series and other lists of numbers stay.

One exception, on purpose: a repair report (``repair.reported``) carries the
customer's phone number, the fault's address or supply point, the description and
its photos, because HQ's crew needs them to do the repair (:data:`ALLOWED`). Those
fields of that topic go up as they are; everything else in it is scrubbed as
anywhere, and no other topic may carry them.

The event keeps its seq and id, and says what was removed in ``data["_scrubbed"]``::

    >>> scrub({"topic": "x.y", "data": {"embedding": [0.1] * 128, "n": 1}})["data"]
    {'n': 1, '_scrubbed': ['embedding']}
"""

from __future__ import annotations

import bisect
import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from edge.identity import id_number_valid, mask_number

DENY_KEY = re.compile(
    r"(face|photo|image|img|frame|jpeg|jpg|png|snapshot|embedding|vector|feature|template|"
    r"id_number|idnumber|id_no|card_number|cardno|card_no|raw_number|raw_id|certificate_no|account_number)",
    re.IGNORECASE,
)
CUSTOMER_KEYS = frozenset({"kind", "hash", "masked", "name_masked"})
ID18 = re.compile(r"\d{17}[\dXx]")
# An ID number inside text stands alone: not part of a longer word such as a hex event id.
ID18_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
LONG_DIGITS = re.compile(r"\d{12,}")
BLOB = re.compile(r"^[A-Za-z0-9+/=_-]{256,}$")


def is_resident_id(text: str) -> bool:
    """Whether ``text`` is an 18-character resident ID number with a valid check digit (GB 11643).

    The check is :func:`edge.identity.id_number_valid`. The scrub errs towards masking: a number written
    in other decimal digits (full-width ``１１０…``, which ``\\d`` matches) is read as the ASCII number.
    """
    if not ID18.fullmatch(text):
        return False
    return id_number_valid("".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text))


# Anything that might need scrubbing, looked for in the data's JSON text first: most events have none
# of it and go through untouched without a walk (the text is lowercased: DENY_KEY is all lowercase).
# A false alarm only costs the walk.
SUSPECT = re.compile(DENY_KEY.pattern + r'|"customer"|\d{12,}|[a-z0-9+/=_-]{256,}|\[(?:[^\[\]"{},]*,){63}')


# The same, looked for in many events' data at once, one pass of C code over all of them per kind (see
# :func:`suspects`): the texts as lowercased UTF-8, so the words and ASCII digits are found with bytes.find.
_WORDS = tuple(w.encode() for w in (*DENY_KEY.pattern.strip("()").split("|"), '"customer"', "\\"))
_ZEROS = bytes(ord("0") if ord("0") <= i <= ord("9") else i for i in range(256))  # every ASCII digit a 0
_ASCII = bytes(range(128))
_ANY_DIGIT = re.compile(r"\d")
_DIGITS = re.compile(r"\d{12}")
_FLOATS = re.compile(rb"\[(?:[^\[\]\"{},]*,){63}")
_BLOB = re.compile(rb"[a-z0-9+/=_-]{256}")


def suspects(texts: list[str]) -> set[int]:
    r"""Which of these events' data, each the JSON text the log holds, :func:`scrub` might change.

    Every other one is certainly clean, as :func:`scrub` would find it: the text is looked at as it is
    (lowercased) for what :data:`SUSPECT` looks for, and a text with an escape (a backslash) is always a
    suspect, since what it stands for is not in the text as written. A false alarm only costs the walk::

        >>> sorted(suspects(['{"n": 1}', '{"face_crop": "x"}', '{"msg": "\\u0066ace"}', '{"phone": "13800138000123"}']))
        [1, 2, 3]
        >>> sorted(suspects(['{"n": "１２３４５６７８９０１２"}', '{"n": "１２３４５"}']))
        [0]
    """
    lowered = [t.lower().encode() for t in texts]
    joined = b"\n".join(lowered)  # no pattern crosses a newline: JSON text has none outside its strings' escapes
    starts = [0] * len(lowered)
    at = 0
    for i, t in enumerate(lowered):
        starts[i] = at
        at += len(t) + 1
    starts.append(at)
    out: set[int] = set()

    def every(found: Callable[[int], int]) -> None:
        """Each event in which ``found(from)`` finds something (searching on from the next event after a find)."""
        i = found(0)
        while i >= 0:
            k = bisect.bisect_right(starts, i) - 1
            out.add(k)
            i = found(starts[k + 1])

    for word in _WORDS:
        every(lambda at, word=word: joined.find(word, at))  # type: ignore[misc]
    digits = joined.translate(_ZEROS)
    every(lambda at: digits.find(b"000000000000", at))
    if _ANY_DIGIT.search(joined.translate(None, _ASCII).decode()):  # digits of another script: the slow way
        out.update(i for i, t in enumerate(lowered) if _DIGITS.search(t.decode()))
    if joined.count(b",") >= 63:
        out.update(bisect.bisect_right(starts, m.start()) - 1 for m in _FLOATS.finditer(joined))
    out.update(i for i, t in enumerate(lowered) if len(t) >= 256 and _BLOB.search(t))
    return out


# Customer data HQ needs for a repair: exactly these fields of exactly this topic go up unscrubbed.
ALLOWED: dict[str, frozenset[str]] = {
    "repair.reported": frozenset({"phone", "address", "supply_point", "description", "photos"}),
}


def scrub(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``event`` whose data holds nothing that must stay on the box (``event`` when it is clean)."""
    allowed = ALLOWED.get(event.get("topic", ""))
    if allowed is not None and isinstance(event.get("data"), dict):
        data = event["data"]
        rest = scrub({**event, "topic": "", "data": {k: v for k, v in data.items() if k not in allowed}})
        return {**event, "data": {**rest["data"], **{k: data[k] for k in allowed if k in data}}}
    if not SUSPECT.search(json.dumps(event.get("data", {}), ensure_ascii=False).lower()):
        return event
    removed: list[str] = []
    data = _clean(event.get("data", {}), "", removed)
    if removed:
        data["_scrubbed"] = removed
    return {**event, "data": data}


def _clean(value: Any, path: str, removed: list[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "customer" and isinstance(item, dict):
                extra = sorted(set(item) - CUSTOMER_KEYS)
                removed += [f"{where}.{k}" for k in extra]
                item = {k: v for k, v in item.items() if k in CUSTOMER_KEYS}
            elif DENY_KEY.search(str(key)) and key not in ("customer_hash", "masked", "name_masked"):
                removed.append(where)
                continue
            out[key] = _clean(item, where, removed)
        return out
    if isinstance(value, list):
        if len(value) >= 64 and all(isinstance(v, float) and -1.0 <= v <= 1.0 for v in value):
            removed.append(path)
            return []
        return [_clean(v, f"{path}[{i}]", removed) for i, v in enumerate(value)]
    if isinstance(value, str):
        if BLOB.match(value):
            removed.append(path)
            return ""
        if is_resident_id(value) or LONG_DIGITS.fullmatch(value):
            return mask_number(value)
        return ID18_IN_TEXT.sub(lambda m: mask_number(m.group(0)) if is_resident_id(m.group(0)) else m.group(0), value)
    return value
