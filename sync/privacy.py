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
anywhere, and no other topic may carry them. An intact signed record (``record.signed``)
goes up as it was signed, so HQ can check its digest (see :mod:`sync.signed`).

A key is treated as a value is: one holding a raw number is masked. The event keeps its seq and id,
and says what was removed in ``data["_scrubbed"]``::

    >>> scrub({"topic": "x.y", "data": {"embedding": [0.1] * 128, "n": 1}})["data"]
    {'n': 1, '_scrubbed': ['embedding']}
"""

from __future__ import annotations

import bisect
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


# What _suspect looks for, looked for in many events' data at once, one pass of C code over all of them
# per kind (see :func:`suspects`): the texts as lowercased UTF-8, so the words and ASCII digits are found with bytes.find.
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
    (lowercased) for what :func:`_suspect` looks for, and a text with an escape (a backslash) is always a
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
    """A copy of ``event`` whose data holds nothing that must stay on the box (``event`` when it is clean).

    Most events hold nothing to take out: one pass over the data that allocates nothing finds that out
    (keys looked at once per process, strings shorter than 12 characters and numbers skipped), and only
    an event it flags is walked again to build the copy.
    """
    data = event.get("data", {})
    topic = event.get("topic")
    if topic == "record.signed":  # sent as signed, so HQ can check its digest: see sync.signed
        from sync.signed import intact

        if intact(data):
            return event
    allowed = ALLOWED.get(topic) if isinstance(topic, str) else None
    if allowed is not None and isinstance(data, dict):
        rest = scrub({**event, "topic": "", "data": {k: v for k, v in data.items() if k not in allowed}})
        return {**event, "data": {**rest["data"], **{k: data[k] for k in allowed if k in data}}}
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
