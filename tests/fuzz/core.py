"""What every fuzz target shares: the target itself, mutations of good input, JSON values, the short run.

A :class:`Target` is one parser chain that reads input from outside the box's own code. Its
``inputs`` draw :class:`Case` values of two kinds:

- ``valid``: made by the matching encoder from a known value (``expected``); the parser must take
  it and give that value back (the round trip is the identity);
- ``raw``: anything (noise, good input mutated, odd values in the right places); the parser must
  give a result that keeps its promises, or refuse with one of ``errors`` (its package's error
  root), and nothing else.

``run`` does the whole chain for one case and asserts; ``raw`` gives the bytes or text it read, so
the benchmark can time ``json.loads`` / ``tomllib.loads`` on the very same input.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# -- mutations of good input --------------------------------------------------------------------------

JSON_TOKENS = [
    b"[",
    b"]",
    b"{",
    b"}",
    b'"',
    b"\\",
    b",",
    b":",
    b"\\ud800",
    b"\\udfff",
    b"\\ud83d\\ude00",
    b"\\u0000",
    b"1e999",
    b"-1e999",
    b"9" * 25,
    b"-0",
    b"0.1e-400",
    b"NaN",
    b"Infinity",
    b"null",
    b"true",
    b"[" * 40,
    b'{"a":' * 20,
    "福田".encode(),
    "\u2028".encode(),
    b"\xff",
    b"\xed\xa0\x80",  # a surrogate in UTF-8 form: not UTF-8
    b"\xc0\xaf",  # an overlong '/'
]


@dataclass(frozen=True)
class Case:
    kind: Literal["valid", "raw"]
    data: Any
    expected: Any = None

    def __repr__(self) -> str:  # hypothesis prints the failing case: keep it readable
        return f"Case({self.kind}, {self.data!r:.2000}, expected={self.expected!r:.500})"


@dataclass(frozen=True)
class Target:
    name: str
    what: str  # the parser chain, one line
    inputs: st.SearchStrategy[Case]
    run: Callable[[Case], None]
    errors: tuple[type[BaseException], ...]
    raw: Callable[[Case], bytes | str]
    baseline: Literal["json", "toml", "csv"] = "json"
    setup: Callable[[], None] = field(default=lambda: None)  # fresh state (a new store) for a long run
    teardown: Callable[[], None] = field(default=lambda: None)
    tokens: list[bytes] = field(default_factory=lambda: JSON_TOKENS)  # what mutations insert
    reread: Callable[[Any], Case] = field(default=lambda data: Case("raw", data))  # mutated raw input → a case
    near_miss: Callable[[bytes, random.Random], bytes | None] | None = None  # a document with fields out of place


def valid(data: Any, expected: Any) -> Case:
    return Case("valid", data, expected)


def raw(data: Any) -> Case:
    return Case("raw", data)


def refused_valid(target: str, exc: BaseException) -> AssertionError:
    return AssertionError(f"{target} refused what its own encoder made: {type(exc).__name__}: {exc}")


def apply_edits(seed: bytes, ops: list[tuple[int, int, Any]]) -> bytes:
    """``seed`` after ``ops``, each ``(kind, where, what)``: 0 flip bits, 1 insert, 2 drop a span, 3 repeat a
    span, 4 overwrite with a token, else cut the rest (``where`` is taken modulo the length).

    >>> apply_edits(b"abcdef", [(1, 2, b"XY"), (2, 0, 1), (5, 4, None)])
    b'bXYc'
    """
    out = bytearray(seed)
    for op, at, arg in ops:
        pos = at % (len(out) + 1)
        if op == 0 and out:  # flip bits of one byte
            out[pos % len(out)] ^= arg
        elif op == 1:  # insert
            out[pos:pos] = arg
        elif op == 2:  # delete a span
            del out[pos : pos + arg]
        elif op == 3:  # repeat a span
            out[pos:pos] = out[pos : pos + arg] * 3
        elif op == 4:  # overwrite with a token
            out[pos : pos + len(arg)] = arg
        else:  # cut the rest
            del out[pos:]
    return bytes(out)


def mutated(seeds: st.SearchStrategy[bytes], tokens: list[bytes] = JSON_TOKENS) -> st.SearchStrategy[bytes]:
    """``seeds`` after one to four edits: bits flipped, tokens or bytes inserted, spans dropped or repeated, a cut."""
    somewhere = st.integers(0, 1 << 16)
    insert = st.sampled_from(tokens) | st.binary(min_size=1, max_size=6)
    op = st.one_of(
        st.tuples(st.just(0), somewhere, st.integers(1, 255)),
        st.tuples(st.just(1), somewhere, insert),
        st.tuples(st.just(2), somewhere, st.integers(1, 24)),
        st.tuples(st.just(3), somewhere, st.integers(1, 24)),
        st.tuples(st.just(4), somewhere, st.sampled_from(tokens)),
        st.tuples(st.just(5), somewhere, st.none()),
    )
    return st.builds(apply_edits, seeds, st.lists(op, min_size=1, max_size=4))


def mutated_text(seeds: st.SearchStrategy[str], tokens: list[str]) -> st.SearchStrategy[str]:
    """Text after edits (the bytes' edits, on characters): for parsers that take ``str``."""
    as_bytes = [t.encode("utf-8", "surrogatepass") for t in tokens]
    return mutated(seeds.map(lambda s: s.encode("utf-8", "surrogatepass")), as_bytes).map(
        lambda b: b.decode("utf-8", "replace")
    )


# -- words of a pattern, drawn without regular expressions (hypothesis' from_regex is slow) ---------------

LOWER = "abcdefghijklmnopqrstuvwxyz"
UPPER = LOWER.upper()
DIGITS = "0123456789"


def word(first: str, rest: str, min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """``[first][rest]{min_size-1,max_size-1}``: one character of ``first``, then characters of ``rest``."""
    return st.builds(str.__add__, st.sampled_from(first), st.text(rest, min_size=min_size - 1, max_size=max_size - 1))


# -- JSON values --------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63) + 1, 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
ODD_VALUES: list[Any] = [
    None,
    "",
    "nan",
    "inf",
    "-inf",
    "1e999",
    "\u0000",
    "\ud800",
    "１２３",
    "²",
    " ",
    "9" * 400,
    True,
    0,
    -1,
    2**31,
    2**40 + 1,
    2**53 + 1,
    2**62,
    2**63 - 1,
    -(2**63) + 1,
    1e308,
    -0.0,
    0.1,
    [],
    {},
    [None],
    {"": None},
    "2026-02-30T00:00:00",
    "2026-03-01T00:00:00",
    "2026-03-01T00:00:00+14:00",
    "2026-03-01",
    "9999-12-31T23:59:59.999999-12:00",
    "0001-01-01T00:00:00+14:00",
    "T",
    1e20,
]
odd_values = st.sampled_from(ODD_VALUES) | json_scalars


def tweak(value: Any, how: int) -> Any:
    """A near miss of ``value``: the kind of slip a sender makes (``how`` picks which).

    >>> tweak("2026-03-01T08:00:00+00:00", 0), tweak(41, 0), tweak([1, 2], 0)
    ('2026-03-01T08:00:00', 42, [])
    """
    slips: list[Callable[[], Any]]
    if isinstance(value, bool):
        slips = [lambda: not value, lambda: int(value), lambda: str(value).lower()]
    elif isinstance(value, str):
        timed = len(value) > 19 and value[10:11] == "T"
        slips = [
            lambda: value[:19] if timed else value + "Z",  # a time without its zone, or with one
            lambda: "",
            lambda: value + "\x00",
            lambda: value[: len(value) // 2],
            lambda: value * 40,
            lambda: " " + value,
            lambda: value.upper(),
            lambda: "\ud800" + value,
            lambda: value + "\u202e",
            lambda: float("nan"),
        ]
    elif isinstance(value, int):
        slips = [lambda: value + 1, lambda: value - 1, lambda: -value, lambda: 0, lambda: 2**63 - 1,
                 lambda: value * 2**40, lambda: str(value), lambda: value + 0.5]  # fmt: skip
    elif isinstance(value, float):
        slips = [lambda: -value, lambda: value * 1e300, lambda: 0.0, lambda: str(value), lambda: 1e-320]
    elif isinstance(value, list):
        slips = [lambda: [], lambda: value * 2, lambda: value[:1], lambda: [*value, None], lambda: {"0": value}]
    elif isinstance(value, dict):
        keys = list(value)
        slips = [
            lambda: {k: v for k, v in value.items() if keys and k != keys[how % len(keys)]},
            lambda: {},
            lambda: {**value, "extra": 1},
            lambda: [value],
        ]
    else:
        slips = [lambda: "", lambda: 0, lambda: [], lambda: {}]
    return slips[how % len(slips)]()


def with_odd_value(value: Any, path: list[int], odd: Any) -> Any:
    """``value`` with the element found by walking ``path`` (an index into keys or items at each level)
    replaced by ``odd``, or by ``odd(element)`` when it is callable: a well-formed document with one field
    out of place.

    >>> with_odd_value({"a": [1, 2], "b": 3}, [0, 1], None)
    {'a': [1, None], 'b': 3}
    """
    if not path or not isinstance(value, (dict, list)) or not value:
        return odd(value) if callable(odd) else odd
    if isinstance(value, dict):
        key = list(value)[path[0] % len(value)]
        return {**value, key: with_odd_value(value[key], path[1:], odd)}
    i = path[0] % len(value)
    return [*value[:i], with_odd_value(value[i], path[1:], odd), *value[i + 1 :]]


def _odd_fields(doc: Any, changes: list[tuple[list[int], Any]]) -> Any:
    for path, odd in changes:
        doc = with_odd_value(doc, path, odd)
    return doc


def odd_placed(documents: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Good documents with one to three fields out of place: a near miss of what was there (a time without
    its zone, one more than the bound, a list emptied…) or an odd value (``"nan"``, 2^63-1, a surrogate…)."""
    path = st.lists(st.integers(0, 1 << 10), min_size=1, max_size=6)
    near_miss = st.integers(0, 1 << 10).map(lambda how: lambda value: tweak(value, how))
    change = st.tuples(path, near_miss | odd_values)
    return st.builds(_odd_fields, documents, st.lists(change, min_size=1, max_size=3))


def json_near_miss(data: bytes, rng: random.Random) -> bytes | None:
    """``data`` (JSON) with one to three fields out of place, as :func:`odd_placed` does; None if not JSON."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return json_bytes(near_miss(doc, rng))


def near_miss(doc: Any, rng: random.Random) -> Any:
    """``doc`` with one to three fields out of place, each picked among all its fields alike (a list counts
    for three of its items), so a field deep in a large document is as likely as one at the top."""
    for _ in range(rng.randint(1, 3)):
        spots = list(_spots(doc, (), rng))
        if not spots:
            return tweak(doc, rng.randrange(1 << 10))
        path = rng.choice(spots)
        how = rng.randrange(1 << 10)
        odd = rng.choice(ODD_VALUES)
        doc = _replace(
            doc, path, (lambda v, how=how: tweak(v, how)) if rng.random() < 0.7 else (lambda v, odd=odd: odd)
        )
    return doc


def _spots(doc: Any, path: tuple[Any, ...], rng: random.Random) -> Any:
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*path, key)
            yield from _spots(value, (*path, key), rng)
    elif isinstance(doc, list) and doc:
        for i in {rng.randrange(len(doc)) for _ in range(3)}:
            yield (*path, i)
            yield from _spots(doc[i], (*path, i), rng)


def _replace(doc: Any, path: tuple[Any, ...], fn: Callable[[Any], Any]) -> Any:
    if not path:
        return fn(doc)
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: _replace(doc[head], rest, fn)}
    return [*doc[:head], _replace(doc[head], rest, fn), *doc[head + 1 :]]


def json_bytes(value: Any) -> bytes:
    """JSON as a sender that escapes everything writes it (lone surrogates travel as ``\\udXXX``)."""
    return json.dumps(value, ensure_ascii=True).encode()


# -- the short run the tests do -------------------------------------------------------------------------


def check(target: Target, examples: int = 120) -> None:
    """Run ``target`` over ``examples`` drawn cases: every property holds, only its errors come out."""
    target.setup()

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(target.inputs)
    def one(case: Case) -> None:
        try:
            target.run(case)
        except target.errors:
            if case.kind == "valid":
                raise

    try:
        one()
    finally:
        target.teardown()
