"""What reaches the hall's own code from outside: envelopes on the bus, config files, HQ's bundles, panel bodies."""

from __future__ import annotations

import json
import random
import string
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from edge import config, envelope
from edge.config import HallConfig
from edge.core.sync import check_bundle, read_bundle
from edge.errors import HallError
from edge.panel import bodies
from edge.records import forms as records_forms
from edge.schemas import parse as parse_request
from edge.schemas.sync import BundleApply
from tests.fuzz.core import (
    DIGITS,
    LOWER,
    UPPER,
    Case,
    Target,
    json_bytes,
    json_near_miss,
    json_values,
    mutated,
    mutated_text,
    near_miss,
    odd_placed,
    raw,
    refused_valid,
    valid,
    word,
)

ID = UPPER + LOWER + DIGITS + "_-"

no_surrogates = st.characters(exclude_categories=("Cs",))
names = st.text(no_surrogates, min_size=1, max_size=16)

# -- envelopes --------------------------------------------------------------------------------------------

topics = st.lists(word(LOWER, LOWER + DIGITS + "_", 1, 12), min_size=2, max_size=4).map(".".join)
envelopes = st.fixed_dictionaries(
    {
        "v": st.just(1),
        "id": st.text(no_surrogates, min_size=1, max_size=64),
        "ts": st.text(no_surrogates, min_size=1, max_size=40),
        "source": st.text(no_surrogates, min_size=1, max_size=64),
        "topic": topics,
        "data": st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    },
    optional={"seq": st.integers(-(2**63) + 1, 2**63 - 1)},
)


def envelope_inputs() -> st.SearchStrategy[Case]:
    encoded = envelopes.map(envelope.encode)
    return st.one_of(
        envelopes.map(lambda env: valid(envelope.encode(env), env)),
        mutated(encoded).map(raw),
        odd_placed(envelopes).map(json_bytes).map(raw),
        st.binary(max_size=400).map(raw),
    )


def run_envelope(case: Case) -> None:
    try:
        env = envelope.parse(case.data)
    except HallError as exc:
        if case.kind == "valid":
            raise refused_valid("envelope.parse", exc) from exc
        raise
    if case.kind == "valid":
        assert env == case.expected
    # whatever was taken can be sent on as it is, and reads back the same
    assert set(env) <= {*envelope.KEYS, *envelope.OPTIONAL}
    assert envelope.parse(envelope.encode(env)) == env


# -- config files -------------------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """TOML for a JSON-like value; TOML has no null, so None is left out of arrays and tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):  # JSON's string escapes are TOML's; DEL must be escaped in TOML
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007F")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    if not isinstance(value, dict):  # a date or time tomllib read: TOML writes it as Python does
        return str(value)
    return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items() if v is not None) + "}"


def toml_document(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """A TOML document saying ``doc``: scalars and arrays first, then tables and arrays of tables."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in doc.items():
        if value is None:
            continue
        path = (*prefix, key)
        header = ".".join(toml_value(p) for p in path)
        if isinstance(value, dict):
            tables.append(f"\n[{header}]\n" + toml_document(value, path))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables += [f"\n[[{header}]]\n" + toml_document(v, path) for v in value]
        else:
            lines.append(f"{toml_value(key)} = {toml_value(value)}\n")
    return "".join(lines) + "".join(tables)


WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HHMM = st.builds("{:02d}:{:02d}".format, st.integers(0, 23), st.integers(0, 59))
label32 = st.text(no_surrogates, min_size=1, max_size=32)
hall_sections = st.fixed_dictionaries(
    {
        "id": word(UPPER + LOWER + DIGITS, ID, 1, 21),
        "name": st.text(no_surrogates, min_size=1, max_size=64),
        "name_en": st.text(no_surrogates, max_size=20),
        "timezone": st.sampled_from(["Asia/Shanghai", "UTC", "Asia/Urumqi", "Asia/Hong_Kong"]),
        "day_rollover": HHMM,
        "opening_hours": st.lists(
            st.builds(
                lambda days, a, b: {"days": days, "open": min(a, b), "close": max(a, b)},
                st.lists(st.sampled_from(WEEK), min_size=1, max_size=7),
                HHMM,
                HHMM,
            ).filter(lambda h: h["open"] < h["close"]),
            max_size=2,
        ),
        "enforce_opening_hours": st.booleans(),
    }
)
queue_sections = st.fixed_dictionaries(
    {
        "ratio_normal": st.integers(1, 20),
        "ratio_priority": st.integers(1, 20),
        "max_wait_minutes": st.integers(1, 600),
        "max_recalls": st.integers(0, 10),
        "estimate_window": st.integers(1, 500),
    }
)
business_rows = st.fixed_dictionaries(
    {"name": label32, "default_service_minutes": st.integers(1, 240), "green_channel": st.booleans()}
)
counter_rows = st.fixed_dictionaries(
    {
        "name": label32,
        "primary": st.lists(st.integers(0, 99), min_size=1, max_size=3),
        "secondary": st.lists(st.integers(0, 99), max_size=3),
    }
)
tag_rows = st.fixed_dictionaries({"name": word(ID, ID, 1, 12), "priority": st.sampled_from(["vip", "green", "none"])})


def _hall_document(
    hall: dict[str, Any],
    queue: dict[str, Any],
    codes: list[str],
    businesses: list[dict[str, Any]],
    ids: list[str],
    counters: list[dict[str, Any]],
    tags: list[dict[str, Any]],
) -> dict[str, Any]:
    def serving(picks: list[int]) -> list[str]:
        return [codes[i % len(codes)] for i in picks]

    return {
        "hall": hall,
        "queue": queue,
        "businesses": [{"code": code, **row} for code, row in zip(codes, businesses, strict=False)],
        "counters": [
            {"id": cid, "name": row["name"], "primary": serving(row["primary"]), "secondary": serving(row["secondary"])}
            for cid, row in zip(ids, counters, strict=False)
        ],
        "tags": list({t["name"]: t for t in tags}.values()),
    }


hall_documents = st.builds(
    _hall_document,
    hall_sections,
    queue_sections,
    st.lists(st.sampled_from(UPPER), min_size=1, max_size=5, unique=True),
    st.lists(business_rows, min_size=5, max_size=5),
    st.lists(word(ID, ID, 1, 16), min_size=1, max_size=4, unique=True),
    st.lists(counter_rows, min_size=4, max_size=4),
    st.lists(tag_rows, max_size=3),
)
"""A hall config as a TOML file would say it: every field within its bounds, every reference known."""


SERVICES = """
[services.devices]
health_interval_s = 30

[services.devices.printer]
url = "tcp://192.168.10.20:9100"
paper = 58
qr_url = "https://h.example/q?n={number}&t={ticket_id}"

[services.devices.gpio]
pin_factory = "mock"
seats = [{ counter = "1", pin = "GPIO13" }]

[services.devices.iccard]
profiles = []

[services.panel]
host = "192.168.10.2"
port = 8443
redirect_port = 8080

[services.sync]
batch_events = 500

[services.kiosk]
kiosk_id = "kiosk-1"
idle_timeout_s = 60
outage_areas = ["示范市城东区解放路"]

[services.vision]
heatmap_period_s = 30

[[services.vision.cameras]]
name = "door"
source = "rtsp://10.0.0.21/stream1"
line = [600, 0, 600, 576]
zones = [{ name = "waiting", polygon = [[0, 0], [10, 0], [10, 10]], queue = true }]
"""
TOML_TOKENS = [
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    "'''",
    '"""',
    " = ",
    "\n",
    "\r\n",
    "#",
    "\\",
    "\\u",
    "\\UFFFFFFFF",
    ".",
    ",",
    "\x00",
    "\x7f",
    "\n[hall]\n",
    "\n[[counters]]\n",
    "\n[services.devices.printer]\n",
    "\nx = " + "[" * 20,
    "{a = " * 20,
    "1979-05-27T07:32:00Z",
    "07:32:00",
    "0x7fffffffffffffffff",
    "9" * 30,
    "1e999",
    "inf",
    "nan",
    "-0",
    "true",
    "福田",
]


def toml_near_miss(data: bytes, rng: random.Random) -> bytes | None:
    """A TOML file with one to three fields out of place (the near misses of :func:`tests.fuzz.core.tweak`)."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    moved = near_miss(doc, rng)
    return toml_document(moved).encode("utf-8", "surrogatepass") if isinstance(moved, dict) else None


@cache
def default_text() -> str:
    return config.default_text() + SERVICES


def config_text_inputs() -> st.SearchStrategy[Case]:
    documents = hall_documents
    return st.one_of(
        documents.map(lambda doc: valid(toml_document(doc), HallConfig.model_validate(doc))),
        mutated_text(st.just(default_text()) | documents.map(toml_document), TOML_TOKENS).map(raw),
        odd_placed(documents).map(lambda doc: raw(toml_document(doc))),
        st.text(max_size=300).map(raw),
    )


def run_config_text(case: Case) -> None:
    try:
        cfg = config.load_text(case.data, "hall.toml", defaults=False)
    except HallError as exc:
        if case.kind == "valid":
            raise refused_valid("config.load_text", exc) from exc
        raise
    if case.kind == "valid":
        assert cfg == case.expected


def config_bytes_inputs() -> st.SearchStrategy[Case]:
    documents = hall_documents
    return st.one_of(
        documents.map(lambda doc: valid(toml_document(doc).encode(), HallConfig.model_validate(doc))),
        mutated(
            st.just(default_text().encode()) | documents.map(lambda d: toml_document(d).encode()),
            [t.encode() for t in TOML_TOKENS]
            + [b"\xff", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\xc3", "福".encode("gb18030")],
        ).map(raw),
        st.binary(max_size=300).map(raw),
    )


def run_config_bytes(case: Case) -> None:
    try:
        cfg = config.load_bytes(case.data, "hall.toml")
    except HallError as exc:
        if case.kind == "valid":
            raise refused_valid("config.load_bytes", exc) from exc
        raise
    if case.kind == "valid":  # merged over the embedded defaults: what the file says wins
        want: HallConfig = case.expected
        assert (cfg.hall, cfg.businesses, cfg.counters, cfg.queue) == (
            want.hall,
            want.businesses,
            want.counters,
            want.queue,
        )


# -- HQ's down bundles, at the core --------------------------------------------------------------------

HASHES = st.binary(min_size=32, max_size=32).map(bytes.hex)
PERIODS = st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(2000, 2099), st.integers(1, 12))
# HQ may write times with a zone or without one (as naive local times); an outage's two say it alike
moments = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(datetime(2000, 1, 1), datetime(2099, 1, 1)),
    st.sampled_from([None, UTC, timezone(timedelta(hours=8))]),
)


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, Any]:
    """A bundle as HQ publishes it (JSON-ready), whose tags are the default hall's, with its staff and their roster."""
    import calendar

    codes = draw(st.lists(st.sampled_from(string.ascii_uppercase), max_size=4, unique=True))
    counters = [
        {"id": cid, "name": draw(names), "primary": [draw(st.sampled_from(codes))]}
        # a bundle that names businesses names the counters serving them: the file's serve the file's businesses
        for cid in (draw(st.lists(word(DIGITS, DIGITS, 1, 3), min_size=1, max_size=3, unique=True)) if codes else [])
    ]
    customers = draw(st.lists(HASHES, max_size=4, unique=True))

    def usage(h: str) -> dict[str, Any]:
        period = draw(PERIODS)
        days = calendar.monthrange(int(period[:4]), int(period[5:]))[1]
        daily = draw(st.none() | st.lists(st.floats(0, 1e7), min_size=days, max_size=days))
        return {"customer_hash": h, "period": period, "kwh": draw(st.floats(0, 1e9)), "days": daily}

    def outage(i: int) -> dict[str, Any]:
        starts = draw(moments)
        ends = draw(st.none() | st.timedeltas(timedelta(seconds=1), timedelta(days=9)).map(lambda d: starts + d))
        return {
            "id": f"o{i}",
            "kind": draw(st.sampled_from(["planned", "fault"])),
            "addresses": draw(st.lists(names, min_size=1, max_size=3)),
            "starts": starts.isoformat(),
            "ends": ends.isoformat() if ends else None,
            "text": draw(names),
        }

    counter_ids = [c["id"] for c in counters]
    staff = [
        {
            "id": sid,
            "name": draw(names),
            "counters": draw(st.lists(st.sampled_from(counter_ids), max_size=2, unique=True)) if counter_ids else [],
            "roles": draw(st.lists(st.sampled_from(["staff", "manager", "A", "B"]), max_size=2, unique=True)),
        }
        for sid in draw(st.lists(word(ID, ID, 1, 32), max_size=3, unique=True))
    ]

    def shift(sid: str, day: str, start: int) -> dict[str, Any]:
        end = draw(st.integers(start + 1, 24 * 60))
        return {
            "staff": sid,
            "day": day,
            "shift": draw(st.sampled_from(["", "早班", "晚班"])),
            "start": f"{start // 60:02d}:{start % 60:02d}",
            "end": f"{end // 60:02d}:{end % 60:02d}",
            "counter": draw(st.none() | st.sampled_from(counter_ids)) if counter_ids else None,
        }

    days = st.dates(date(2026, 1, 1), date(2027, 12, 31)).map(date.isoformat)
    starts = st.tuples(days, st.integers(0, 24 * 60 - 1))
    roster = [
        shift(sid, day, start)
        for sid in [p["id"] for p in staff]
        for day, start in draw(st.lists(starts, max_size=2, unique=True))
    ]

    return {
        "version": draw(st.integers(1, 2**62)),
        "published_at": draw(moments).isoformat(),
        "businesses": [{"code": c, "name": draw(names)} for c in codes],
        "counters": counters,
        "customer_tags": [{"hash": h, "tags": draw(st.lists(st.just("VIP"), max_size=1))} for h in customers],
        "outages": [outage(i) for i in range(draw(st.integers(0, 2)))],
        "bills": [
            {"customer_hash": h, "period": draw(PERIODS), "amount_fen": draw(st.integers(0, 10**11))}
            for h in customers[:2]
        ],
        "usage": [usage(h) for h in customers[:1]],
        "supplies": [{"customer_hash": h, "address": draw(names).ljust(2, "路")} for h in customers[:2]],
        # the box's own form templates, for a business the hall offers with this bundle
        "forms": [{**t, "business": codes[0] if codes else t["business"]} for t in draw(st.sampled_from(FORM_SETS))],
        "staff": staff,
        "roster": roster,
    }


FORMS = json.loads((Path(records_forms.__file__).parent / "forms.json").read_text(encoding="utf-8"))
FORM_SETS = [[], FORMS[:1], FORMS]


def bundle_request(bundle: Any) -> bytes:
    return json_bytes(envelope.make("bundle.apply", {"bundle": bundle}, source="sync"))


@cache
def hall_config() -> HallConfig:
    return config.load_text(config.default_text(), "<embedded defaults>", defaults=False)


def bundle_inputs() -> st.SearchStrategy[Case]:
    good = bundles()
    return st.one_of(
        good.map(lambda b: valid(bundle_request(b), b)),
        mutated(good.map(bundle_request)).map(raw),
        odd_placed(good).map(bundle_request).map(raw),
        odd_placed(good.map(lambda b: {"bundle": b})).map(
            lambda d: raw(json_bytes(envelope.make("bundle.apply", d, source="s")))
        ),
    )


def run_bundle(case: Case) -> None:
    """As the core takes it: the envelope, the request's model, the bundle's, then the hall's config."""
    try:
        env = envelope.parse(case.data)
        req = parse_request(BundleApply, env["data"], env["topic"])
        bundle = read_bundle(req.bundle)
        check_bundle(bundle, hall_config())
    except HallError as exc:
        if case.kind == "valid":
            raise refused_valid("bundle.apply", exc) from exc
        raise
    if case.kind == "valid":
        assert bundle.model_dump(mode="json") == read_bundle(case.expected).model_dump(mode="json")
    assert read_bundle(json.loads(bundle.model_dump_json())) == bundle


# -- the panel's JSON bodies ---------------------------------------------------------------------------

FIELDS = ["name", "password", "token", "role", "display", "note", "day", "disabled", "form", "values",
          *bodies.COUNTER_FIELDS]  # fmt: skip
body_values = st.one_of(st.text(max_size=40), json_values, st.sampled_from(["\ud800", "x\udfff", "staff", ""]))
panel_bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), body_values, max_size=6)


def panel_inputs() -> st.SearchStrategy[Case]:
    readable = st.dictionaries(st.sampled_from(FIELDS), st.text(no_surrogates, max_size=10), max_size=6)
    rules = st.dictionaries(st.sampled_from(["longest_wait", "x"]), st.fixed_dictionaries({"enabled": st.booleans()}))
    return st.one_of(
        readable.map(lambda d: valid(json.dumps(d, ensure_ascii=False).encode(), d)),
        rules.map(lambda d: valid(json_bytes(d), d)),
        panel_bodies.map(json_bytes).map(raw),
        mutated(panel_bodies.map(json_bytes)).map(raw),
        st.binary(max_size=200).map(raw),
    )


def run_panel(case: Case) -> None:
    """The body read once, then by every route's reader: each takes its fields, or refuses."""
    try:
        data = bodies.parse(case.data)
    except HallError as exc:
        if case.kind == "valid":
            raise refused_valid("the panel's body", exc) from exc
        raise
    if case.kind == "valid":
        assert data == case.expected
    for reader in bodies.READERS.values():
        try:
            out = reader(data)
        except HallError:
            continue
        # whatever a route takes can be stored in panel.db and written to the hall log
        json.dumps(out, ensure_ascii=False).encode("utf-8")


TARGETS = [
    Target(
        "envelope",
        "bus: message bytes → envelope.parse (bounds, UTF-8, JSON, fields)",
        envelope_inputs(),
        run_envelope,
        (HallError,),
        lambda case: bytes(case.data),
        near_miss=json_near_miss,
    ),
    Target(
        "config-text",
        "config: TOML text → config.load_text (nesting bound, tomllib, models with lines)",
        config_text_inputs(),
        run_config_text,
        (HallError,),
        lambda case: str(case.data),
        baseline="toml",
        tokens=[t.encode() for t in TOML_TOKENS],
        near_miss=toml_near_miss,
    ),
    Target(
        "config-bytes",
        "config: file bytes → config.load_bytes (UTF-8 with line and column, then as text)",
        config_bytes_inputs(),
        run_config_bytes,
        (HallError,),
        lambda case: bytes(case.data),
        baseline="toml",
        tokens=[t.encode() for t in TOML_TOKENS],
        near_miss=toml_near_miss,
    ),
    Target(
        "bundle",
        "core: bundle.apply bytes → envelope → BundleApply → read_bundle → check_bundle",
        bundle_inputs(),
        run_bundle,
        (HallError,),
        lambda case: bytes(case.data),
        near_miss=json_near_miss,
    ),
    Target(
        "panel-body",
        "panel: request body bytes → bodies.parse → every route's reader",
        panel_inputs(),
        run_panel,
        (HallError,),
        lambda case: bytes(case.data),
        near_miss=json_near_miss,
    ),
]
