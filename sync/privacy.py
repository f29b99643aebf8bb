"""What never goes up: face images, embeddings and raw ID numbers.

Every event passes :func:`scrub` at the agent's boundary before it is sent.
It works on the data, whatever the topic:

- a key naming a face image, photo, frame, embedding or a raw card/ID number is dropped;
- a ``customer`` object keeps only the allowed keys (kind, keyed hash, masked forms);
- any string that is a resident ID number (18 characters with a valid check digit) or a long
  run of digits is replaced by its masked form; a long base64/hex blob is dropped;
- a list of 64 or more floats between -1 and 1 (an embedding, whatever its key) is dropped; counts,
  series and other lists of numbers stay.

A key is treated as a value is: one holding a raw number is masked. The event keeps its seq and id,
and says what was removed in ``data["_scrubbed"]``::

    >>> scrub({"topic": "x.y", "data": {"embedding": [0.1] * 128, "n": 1}})["data"]
    {'n': 1, '_scrubbed': ['embedding']}
"""

from __future__ import annotations

import re
import unicodedata
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


ALLOWED_KEYS = frozenset({"customer_hash", "masked", "name_masked"})
DIGITS_12 = re.compile(r"\d{12}")  # every raw number the scrub masks holds a run of 12 digits
_KEYS: dict[str, bool] = {}  # key → denied; a hall's events use a few hundred keys
_KEYS_MAX = 10_000


def _denied(key: str) -> bool:
    verdict = _KEYS.get(key)
    if verdict is None:
        verdict = bool(DENY_KEY.search(key)) and key not in ALLOWED_KEYS
        if len(_KEYS) < _KEYS_MAX:
            _KEYS[key] = verdict
    return verdict


def scrub(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``event`` whose data holds nothing that must stay on the box (``event`` when it is clean).

    Most events hold nothing to take out: one pass over the data that allocates nothing finds that out
    (keys looked at once per process, strings shorter than 12 characters and numbers skipped), and only
    an event it flags is walked again to build the copy.
    """
    data = event.get("data", {})
    if event.get("topic") == "record.signed":  # sent as signed, so HQ can check its digest: see sync.signed
        from sync.signed import intact

        if intact(data):
            return event
    if not _suspect(data):
        return event
    removed: list[str] = []
    cleaned = _clean(data, "", removed)
    if removed:
        cleaned["_scrubbed"] = removed
    return {**event, "data": cleaned}


def _suspect(value: Any) -> bool:
    """Whether :func:`_clean` may change ``value``: never False when it would (it may be True when it would not)."""
    kind = type(value)
    if kind is str:
        return _suspect_text(value)
    if kind is dict:
        keys = _KEYS
        for key, item in value.items():
            if type(key) is not str or (len(key) >= 12 and _suspect_text(key)):
                return True
            if key == "customer" and type(item) is dict:
                if not CUSTOMER_KEYS.issuperset(item):
                    return True
            else:
                denied = keys.get(key)
                if denied is None:
                    denied = _denied(key)
                if denied:
                    return True
            kind = type(item)
            if kind is str:
                if len(item) >= 12 and _suspect_text(item):
                    return True
            elif kind not in _PLAIN and _suspect(item):
                return True
        return False
    if kind is list:
        if len(value) >= 64 and _embedding(value):
            return True
        return any(type(v) not in _PLAIN and _suspect(v) for v in value)
    return kind not in _PLAIN  # a subclass of str, dict or list, or anything else: looked at closely


def _suspect_text(value: str) -> bool:
    if len(value) < 12:
        return False
    return DIGITS_12.search(value) is not None or (len(value) >= 256 and BLOB.match(value) is not None)


_PLAIN = (int, float, bool, type(None))  # what JSON decodes besides text, objects and arrays: nothing to take out


def _embedding(values: list[Any]) -> bool:
    return all(isinstance(v, float) and -1.0 <= v <= 1.0 for v in values)


def _clean(value: Any, path: str, removed: list[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _text(str(key))  # a raw number used as a key is masked like any other
            where = f"{path}.{name}" if path else name
            if key == "customer" and isinstance(item, dict):
                extra = sorted(set(item) - CUSTOMER_KEYS)
                removed += [f"{where}.{k}" for k in extra]
                item = {k: v for k, v in item.items() if k in CUSTOMER_KEYS}
            elif _denied(str(key)):
                removed.append(where)
                continue
            out[name] = _clean(item, where, removed)
        return out
    if isinstance(value, list):
        if len(value) >= 64 and _embedding(value):
            removed.append(path)
            return []
        return [_clean(v, f"{path}[{i}]", removed) for i, v in enumerate(value)]
    if isinstance(value, str):
        if BLOB.match(value):
            removed.append(path)
            return ""
        return _text(value)
    return value


def _text(value: str) -> str:
    """``value`` with a raw number in it masked: the whole of it, or an ID number standing in text."""
    if len(value) < 12:
        return value
    if is_resident_id(value) or LONG_DIGITS.fullmatch(value):
        return mask_number(value)
    return ID18_IN_TEXT.sub(lambda m: mask_number(m.group(0)) if is_resident_id(m.group(0)) else m.group(0), value)
