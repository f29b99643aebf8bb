"""The hall's configuration: one TOML file, validated at start.

Unknown keys are errors, every field has a title, description and bounds, and
a bad file is reported with the key and the line it is on::

    >>> cfg = load_text('[hall]\\nid = "h1"\\nname = "Hall"\\n', "x.toml", defaults=True)
    >>> cfg.hall.id, cfg.business("A").name
    ('h1', '电费缴纳')

Without ``--config`` the hall runs on the embedded defaults (a demo hall,
``edge/hall_defaults.toml``); a file given is merged over them table by table,
so a real hall's file need only say what differs.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpeningHours(Strict):
    days: list[Day] = Field(title="Days", description="Weekdays these hours apply to.", min_length=1)
    open: HHMM = Field(title="Opens", description="Local opening time, HH:MM.")
    close: HHMM = Field(title="Closes", description="Local closing time, HH:MM (24:00 allowed).")

    @model_validator(mode="after")
    def _order(self) -> OpeningHours:
        if self.close <= self.open:
            raise ValueError(f"close {self.close} is not after open {self.open}")
        return self


class HallSection(Strict):
    id: str = Field(
        title="Hall id",
        description="Unique id of this hall towards HQ.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
    )
    name: str = Field(title="Name", description="Hall name shown to customers.", min_length=1, max_length=64)
    name_en: str = Field("", title="English name", description="Hall name in English.", max_length=96)
    timezone: str = Field("Asia/Shanghai", title="Time zone", description="IANA zone of the hall.", max_length=64)
    day_rollover: HHMM = Field(
        "04:00",
        title="Day rollover",
        description="Local time at which ticket numbers start again from 001.",
    )
    opening_hours: list[OpeningHours] = Field(
        default_factory=list, title="Opening hours", description="When the hall is open."
    )
    enforce_opening_hours: bool = Field(
        False,
        title="Enforce opening hours",
        description="When true, tickets are refused outside the opening hours.",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def rollover_time(self) -> time:
        hh, mm = (int(p) for p in self.day_rollover.split(":"))
        return time(hh % 24, mm)


class QueuePolicy(Strict):
    ratio_normal: int = Field(
        2,
        ge=1,
        le=20,
        title="Normal share",
        description="When both wait, this many normal tickets are called per priority run.",
    )
    ratio_priority: int = Field(
        1,
        ge=1,
        le=20,
        title="Priority share",
        description="When both wait, this many priority tickets are called per normal run.",
    )
    max_wait_minutes: int = Field(
        30,
        ge=1,
        le=600,
        title="Maximum wait",
        description="A normal ticket waiting this long goes before priority tickets.",
    )
    max_recalls: int = Field(
        3, ge=0, le=10, title="Recalls", description="Recalls allowed; the next one marks a no-show."
    )
    appointment_early_minutes: int = Field(
        30, ge=0, le=240, title="Early check-in", description="Minutes before the booked time."
    )
    appointment_late_minutes: int = Field(
        15,
        ge=0,
        le=240,
        title="Late check-in",
        description="Minutes after the booked time; later check-ins get a normal ticket.",
    )
    estimate_window: int = Field(
        20,
        ge=1,
        le=500,
        title="Estimate window",
        description="Recent finished tickets per business used for the wait estimate.",
    )


class Business(Strict):
    code: str = Field(title="Code", description="Ticket prefix, one capital letter.", pattern=r"^[A-Z]$")
    name: str = Field(title="Name", description="Name shown to customers.", min_length=1, max_length=32)
    name_en: str = Field("", title="English name", description="Name in English.", max_length=48)
    icon: str = Field("", title="Icon", description="Icon name for the kiosk tile.", max_length=32)
    default_service_minutes: int = Field(
        5, ge=1, le=240, title="Service time", description="Assumed minutes per customer until measured."
    )
    green_channel: bool = Field(
        True, title="Green channel", description="Whether elderly/disabled customers may take priority."
    )


class Counter(Strict):
    id: str = Field(title="Id", description="Counter id as staff and lights know it.", pattern=r"^[A-Za-z0-9_-]{1,16}$")
    name: str = Field(title="Name", description="Name announced to customers.", min_length=1, max_length=32)
    name_en: str = Field(
        "", title="English name", description="Shown on English screens (default: Counter ID).", max_length=48
    )
    primary: list[str] = Field(title="Primary", description="Business codes served first.", min_length=1)
    secondary: list[str] = Field(
        default_factory=list, title="Secondary", description="Business codes served when no primary waits."
    )


class Tag(Strict):
    name: str = Field(title="Name", description="Tag as HQ sends it.", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    priority: Literal["vip", "green", "none"] = Field(
        "none", title="Priority", description="Priority a tagged customer's ticket gets."
    )
    description: str = Field("", title="Description", description="Shown to staff.", max_length=64)


class BusSection(Strict):
    tcp_requests: str | None = Field(
        None,
        title="TCP requests",
        description="Also bind the request socket on this TCP endpoint (CurveZMQ required).",
        pattern=r"^tcp://[^\s]+:\d+$",
    )
    tcp_events: str | None = Field(
        None,
        title="TCP events",
        description="Also bind the event socket on this TCP endpoint (CurveZMQ required).",
        pattern=r"^tcp://[^\s]+:\d+$",
    )


SIGNAGE = (
    "本区域设有摄像头。人脸识别仅用于已在自助机上单独同意的客户：刷脸取号、VIP 到店提醒；"
    "人脸特征值只保存在本厅设备内，不上传。不同意不影响办理任何业务，可刷身份证办理。"
)
SIGNAGE_EN = (
    "Cameras in use. Face recognition is used only for customers who consented at the kiosk, for ticket "
    "by face and VIP arrival; face templates stay on this hall's box. You can always use your ID card instead."
)


class FacesSection(Strict):
    """Face identity, for every service that touches it: one retention, one notice."""

    retention_days: int = Field(
        180,
        ge=1,
        le=3650,
        title="Face retention",
        description="Days a customer's face template is kept after its enrolment or last use (a confirmed ticket by "
        "face, a VIP arrival); the kiosk tells customers this number.",
    )
    signage: str = Field(
        SIGNAGE,
        min_length=10,
        max_length=300,
        title="Camera notice",
        description="The notice posted where cameras see customers (PIPL art. 26), shown on the kiosk too.",
    )
    signage_en: str = Field(SIGNAGE_EN, max_length=400, title="Camera notice (English)", description="In English.")


class HallConfig(Strict):
    hall: HallSection = Field(title="Hall", description="Who and where this hall is.")
    queue: QueuePolicy = Field(default_factory=QueuePolicy, title="Queue", description="Queue rules.")
    businesses: list[Business] = Field(title="Businesses", description="Businesses offered.", min_length=1)
    counters: list[Counter] = Field(title="Counters", description="Staffed counters.", min_length=1)
    tags: list[Tag] = Field(default_factory=list, title="Tags", description="Customer tags known.")
    bus: BusSection = Field(default_factory=BusSection, title="Bus", description="Extra endpoints.")
    faces: FacesSection = Field(
        default_factory=FacesSection, title="Faces", description="Face identity: retention and the camera notice."
    )
    services: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        title="Services",
        description="Per-service sections (devices, vision, …), each validated by its service.",
    )

    @model_validator(mode="after")
    def _references(self) -> HallConfig:
        codes = [b.code for b in self.businesses]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"business code {sorted(dup)[0]} is defined twice")
        ids = [c.id for c in self.counters]
        dup = {c for c in ids if ids.count(c) > 1}
        if dup:
            raise ValueError(f"counter id {sorted(dup)[0]} is defined twice")
        for counter in self.counters:
            for code in [*counter.primary, *counter.secondary]:
                if code not in codes:
                    raise ValueError(f"counter {counter.id} names unknown business {code!r}")
        return self

    def business(self, code: str) -> Business:
        for b in self.businesses:
            if b.code == code:
                return b
        raise KeyError(code)

    def counter(self, counter_id: str) -> Counter:
        for c in self.counters:
            if c.id == counter_id:
                return c
        raise KeyError(counter_id)


def default_text() -> str:
    return resources.files("edge").joinpath("hall_defaults.toml").read_text(encoding="utf-8")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "services":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


MAX_NESTING = 16  # arrays and inline tables inside one another; a hall's file needs three or four


def load_text(text: str, name: str = "<config>", *, defaults: bool = True) -> HallConfig:
    """Parse and validate TOML text; raise :class:`ConfigError` naming key and line, and no other error."""
    deep = _too_deep(text, MAX_NESTING)
    if deep is not None:
        raise ConfigError(f"{name}:{deep}: arrays or inline tables nested more than {MAX_NESTING} deep")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # a number too long to read, …: the bound above keeps recursion off
        raise ConfigError(f"{name}: not usable TOML: {exc}") from exc
    data = _merge(tomllib.loads(default_text()), raw) if defaults else raw
    try:
        cfg = HallConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, text, name)) from exc
    for section, values in cfg.services.items():
        try:
            service_model(section).model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, text, name, ("services", section))) from exc
    return cfg


def service_model(section: str) -> type[BaseModel]:
    """The config model a service registered (entry point group ``hall.config``) for its section."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="hall.config"):
        if ep.name == section:
            try:
                model: type[BaseModel] = ep.load()
            except Exception as exc:  # an installed service whose code is gone or broken: reinstall it
                raise ConfigError(
                    f"services.{section}: the installed service's settings ({ep.value}) cannot be loaded: "
                    f"{type(exc).__name__}: {exc}; reinstall the hall (make setup)"
                ) from exc
            return model
    known = sorted(ep.name for ep in entry_points(group="hall.config"))
    raise ConfigError(
        f"services.{section}: no installed service has this section (known: {', '.join(known) or 'none'})"
    )


def service_config(cfg: HallConfig, section: str, model: type[M]) -> M:
    """A service's own section of the config, validated, or its defaults when absent."""
    try:
        return model.model_validate(cfg.services.get(section, {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "", "config", ("services", section))) from exc


def load(path: str | Path | None = None) -> HallConfig:
    """Load ``path``, else ``$HALL_CONFIG``, else ``$HALL_HOME/hall.toml``, else the defaults."""
    from edge.paths import Home

    chosen = path or os.environ.get("HALL_CONFIG")
    if not chosen and Home.from_env().config_path.exists():
        chosen = Home.from_env().config_path
    if not chosen:
        return load_text(default_text(), "<embedded defaults>", defaults=False)
    p = Path(chosen)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror}") from exc
    except ValueError as exc:  # a NUL in the path
        raise ConfigError(f"{chosen!r}: cannot read config: {exc}") from exc
    return load_bytes(raw, str(p))


def load_bytes(raw: bytes, name: str = "<config>") -> HallConfig:
    """A config file's bytes, decoded (:func:`decode`) and validated (:func:`load_text`); only :class:`ConfigError`."""
    return load_text(decode(raw, name), name)


def decode(raw: bytes, name: str) -> str:
    r"""A config file's bytes as text; :class:`ConfigError` naming the line and column of a byte that is not UTF-8.

    >>> decode('[hall]\nname = "福田"\n'.encode("gb18030"), "hall.toml")
    Traceback (most recent call last):
    ...
    edge.errors.ConfigError: hall.toml:2:9: not UTF-8 (byte 0xb8); save the file as UTF-8
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{name}:{line}:{column}: not UTF-8 (byte {raw[exc.start]:#04x}); save the file as UTF-8"
        ) from None


def _too_deep(text: str, limit: int) -> int | None:
    r"""The line where TOML ``text`` first nests arrays or inline tables deeper than ``limit``, or None.

    Strings and comments are skipped; table headers (``[hall]``, ``[[counters]]``) do not nest.

    >>> _too_deep("a = [[1], {b = [2]}]\n", 3), _too_deep("x = 1\na = " + "[" * 40 + "]" * 40, 16)
    (None, 2)
    """
    depth, line, i, n = 0, 1, 0, len(text)
    at_line_start = True
    while i < n:
        ch = text[i]
        if ch == "\n":
            line, at_line_start = line + 1, True
            i += 1
            continue
        if ch in " \t\r":
            i += 1
            continue
        if ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in "\"'":
            quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else ch
            j = i + len(quote)
            while j < n and text[j : j + len(quote)] != quote:
                if ch == '"' and text[j] == "\\":
                    j += 1
                elif len(quote) == 1 and text[j] == "\n":
                    break  # an unclosed one-line string: tomllib says so
                j += 1
            line += text.count("\n", i, j)
            i = j + len(quote)
            at_line_start = False
            continue
        if ch in "[{" and not (ch == "[" and at_line_start and depth == 0):
            depth += 1
            if depth > limit:
                return line
        elif ch in "]}" and depth > 0:
            depth -= 1
        elif ch == "[" and at_line_start and depth == 0:  # a table header: skip to the end of its line
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        at_line_start = False
        i += 1
    return None


def _describe(exc: ValidationError, text: str, name: str, prefix: tuple[Any, ...] = ()) -> str:
    lines = []
    index = _index_lines(text)
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        line = _find_line(index, loc)
        where = f"{name}:{line}" if line else name
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{where}: {dotted}: {msg}")
    return "\n".join(lines)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"-]+)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\"-]+(?:\s*\.\s*[A-Za-z0-9_\"-]+)*)\s*=")


def _index_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Map each key path in the TOML text to the line it is defined on."""
    index: dict[tuple[Any, ...], int] = {}
    counts: dict[tuple[str, ...], int] = {}
    current: tuple[Any, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            parts = tuple(p.strip().strip('"') for p in header.group(2).split("."))
            if header.group(1) == "[[":
                base = _resolve(parts, counts)
                n = counts.get(base, 0)
                counts[base] = n + 1
                current = (*base, n)
            else:
                current = _resolve(parts, counts)
            index.setdefault(current, number)
            continue
        key = _KEY.match(line)
        if key:
            parts = tuple(p.strip().strip('"') for p in key.group(1).split("."))
            index.setdefault((*current, *parts), number)
    return index


def _resolve(parts: tuple[str, ...], counts: dict[tuple[str, ...], int]) -> tuple[Any, ...]:
    """Insert array-of-table indices into a header path (``hall.opening_hours`` → ``hall.opening_hours.1``)."""
    out: list[Any] = []
    for part in parts[:-1]:
        out.append(part)
        n = counts.get(tuple(out))
        if n:
            out.append(n - 1)
    out.append(parts[-1])
    return tuple(out)


def _find_line(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in index:
            return index[loc[:end]]
    return None


def overlay(cfg: HallConfig, businesses: list[dict[str, Any]], counters: list[dict[str, Any]]) -> HallConfig:
    """The config with HQ's businesses and counters (from a down bundle) in place of the file's.

    An empty list keeps the file's. A business HQ names keeps the file's local settings
    (icon, default service time, green channel) when the file has the same code.
    Raises :class:`ConfigError` naming the fault when the result is not a valid hall.
    """
    data = cfg.model_dump()
    if businesses:
        local = {b.code: b.model_dump() for b in cfg.businesses}
        data["businesses"] = [{**local.get(b["code"], {}), **b} for b in businesses]
    if counters:
        data["counters"] = counters
    try:
        return HallConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "", "bundle")) from exc
