"""``diag``: a diagnostics bundle for the people behind the technician, with nothing secret in it.

One ``hall-diag-HALL-YYYYmmdd-HHMMSS.tar.gz`` holding: versions (the hall's,
Python's, the packages', the kernel's, the OS's), the config file and the
effective config with every secret replaced by ``(secret)``, what runs, the
HQ link, the network and the clock, each service's recent log, device health
history and alerts from the hall's log. Never in it: ``hall.db``,
``panel.db``, keys, credentials, the face gallery. ID numbers (18 characters,
GB 11643) in logs are masked to their first 6 and last 4 characters, mobile
numbers to their first 3 and last 4, long hex and base64 strings (keys, tokens)
are cut, and the value after ``password=``, ``token:``, ``Authorization:`` or in
a URL's ``user:password@`` is replaced.

It goes to the folder named, else to a USB stick mounted under ``/media``,
``/run/media`` or ``/mnt`` (the first writable one), else to
``[services.console] diag_dir``, else ``$HALL_HOME/diag``; the file is
flushed to the stick before the console says where it is.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import platform
import re
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.console.shell import Command, Context, UsageError, redacted
from edge.console.terminal import ConsoleError
from edge.errors import HallError

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9A-Za-z])(1[3-9]\d)\d{4}(\d{4})(?![0-9A-Za-z])")  # 11 digits, China's mobiles
LONG_HEX = re.compile(r"(?<![0-9a-fA-F])([0-9a-fA-F]{8})[0-9a-fA-F]{24,}")
LONG_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])([A-Za-z0-9+/_-]{8})[A-Za-z0-9+/_-]{24,}=*")
SAID_SECRET = re.compile(
    r"(?i)\b(password|passwd|token|secret|credential|authorization|api[_-]?key)(\"?\s*[:=]\s*\"?)"
    r"(?:bearer\s+|basic\s+)?[^\s\",;&]+"
)
URL_USER = re.compile(r"(://)[^/\s:@]+:[^/\s@]+@")
LOG_LINES = 2000
PACKAGES = ("smart-hall-edge", "pyzmq", "pydantic", "pyserial", "pyscard", "gpiozero", "fastapi", "kivy", "onnxruntime")
MOUNT_ROOTS = ("/media/", "/run/media/", "/mnt/")


def scrub(text: str) -> str:
    """A log line with ID numbers and mobile numbers masked, long hex and base64 strings (keys, tokens) cut,
    and what follows ``password=``, ``token:``, ``Authorization:`` or a URL's ``user:password@`` replaced.

    >>> scrub("card 110105194912310025 read; key 00112233445566778899aabbccddeeff0011")
    'card 110105********0025 read; key 00112233…(cut)'
    >>> scrub("id 11010519491231002X, sms to 13800138000 at 2026-06-01 10:00:00, seq 20260601100000")
    'id 110105********002X, sms to 138****8000 at 2026-06-01 10:00:00, seq 20260601100000'
    >>> scrub('POST token=EJG7-L4BN-HERR Authorization: Bearer abc.def {"password": "hunter2"}')
    'POST token=(secret) Authorization: (secret) {"password": "(secret)"}'
    >>> scrub("curve key rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7 hmac zQx7GmF2k9PpV3sT8wY1aB4cD6eF0gH2jK5lM7nN")
    'curve key rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7 hmac zQx7GmF2…(cut)'
    >>> scrub("HQ https://box:s3cret@hq.example.net:8470/healthz; /opt/smart-hall/.venv/lib/python3.11/site-packages")
    'HQ https://(secret)@hq.example.net:8470/healthz; /opt/smart-hall/.venv/lib/python3.11/site-packages'
    """
    text = ID_NUMBER.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
    text = MOBILE.sub(lambda m: m.group(1) + "*" * 4 + m.group(2), text)
    text = URL_USER.sub(r"\1(secret)@", text)
    text = SAID_SECRET.sub(lambda m: m.group(1) + m.group(2) + "(secret)", text)
    text = LONG_HEX.sub(lambda m: m.group(1) + "…(cut)", text)
    return LONG_B64.sub(_cut_b64, text)


def _cut_b64(m: re.Match[str]) -> str:
    """Key material mixes upper case, lower case and digits; a long path or name of words does not."""
    run = m.group(0)
    if any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run):
        return m.group(1) + "…(cut)"
    return run


def scrub_config(text: str) -> str:
    """The config file's text with the values of secret keys replaced (comments and layout kept)."""
    import tomlkit

    doc = tomlkit.parse(text)

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key in list(node.keys()):
                dotted = f"{prefix}.{key}" if prefix else str(key)
                if redacted(dotted, node[key]) == "(secret)":
                    node[key] = "(secret)"
                else:
                    walk(node[key], dotted)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{prefix}.{i}")

    walk(doc, "")
    return tomlkit.dumps(doc)


def usb_sticks(mounts: Path = Path("/proc/mounts")) -> list[Path]:
    """Writable mount points of removable media (under /media, /run/media or /mnt)."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or not fields[0].startswith("/dev/"):
            continue
        point = fields[1].replace("\\040", " ")
        if point.startswith(MOUNT_ROOTS) and "rw" in fields[3].split(",") and os.access(point, os.W_OK):
            out.append(Path(point))
    return out


def destination(ctx: Context, arg: str | None) -> Path:
    if arg:
        return Path(arg)
    sticks = usb_sticks()
    if sticks:
        return sticks[0]
    if ctx.settings.diag_dir:
        return Path(ctx.settings.diag_dir)
    return ctx.home.root / "diag"


def diag(ctx: Context, args: list[str]) -> None:
    if len(args) > 1:
        raise UsageError("usage")
    target = destination(ctx, args[0] if args else None)
    hall = _hall(ctx)
    name = f"hall-diag-{hall}-{time.strftime('%Y%m%d-%H%M%S')}.tar.gz"
    path = target if target.name.endswith(".tar.gz") else target / name
    ctx.out(f"collecting diagnostics for {path}…")
    parts = collect(ctx)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as fh:
            with tarfile.open(fileobj=fh, mode="w:gz") as tar:
                for member, data in parts.items():
                    info = tarfile.TarInfo(f"{path.name.removesuffix('.tar.gz')}/{member}")
                    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o640
                    tar.addfile(info, io.BytesIO(data))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        os.sync()  # on a USB stick: on the stick before the technician pulls it
    except OSError as exc:
        raise ConsoleError(f"cannot write {path}: {exc.strerror or exc}") from exc
    ctx.audit_detail.update({"args": [], "file": str(path), "bytes": path.stat().st_size})
    ctx.out(f"written {path} ({path.stat().st_size // 1024 + 1} KiB, {len(parts)} files); safe to remove the stick")


def _hall(ctx: Context) -> str:
    try:
        return str(ctx.request("hall.ping", timeout=2.0)["hall"])
    except HallError:
        return "unknown"


def collect(ctx: Context) -> dict[str, bytes]:
    """Every file of the bundle by name; a part that cannot be had says why instead."""
    parts: dict[str, bytes] = {}

    def add(member: str, make: Callable[[], Any]) -> None:
        try:
            value = make()
        except Exception as exc:  # one missing part must not cost the whole bundle
            value = f"not available: {type(exc).__name__}: {exc}\n"
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2, default=str)
        parts[member] = scrub(text).encode()

    add("versions.json", versions)
    if ctx.config_path.exists():
        add("config/hall.toml", lambda: scrub_config(ctx.config_path.read_text(encoding="utf-8")))
    add("config/effective.json", lambda: _effective(ctx))
    manager = ctx.manager()
    add("services.json", manager.services)
    add("sync.json", lambda: ctx.request("sync.status", timeout=3.0))
    add("facts.json", lambda: ctx.request("hall.facts", timeout=3.0))
    add("alerts.json", lambda: ctx.request("alert.list", {"state": "all", "limit": 500}, timeout=3.0))
    add("health-history.jsonl", lambda: _health(ctx))
    add("network.txt", lambda: _lines(ctx, "network"))
    add("time.txt", lambda: _lines(ctx, "time"))
    add("disk.txt", lambda: _disk(ctx))
    try:
        listed = [s["name"] for s in manager.services()]
    except HallError:
        listed = []
    for name in listed:
        add(f"logs/{name}.log", lambda n=name: "\n".join(manager.log_lines(n, LOG_LINES)) + "\n")  # type: ignore[misc]
    return parts


def versions() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    from edge import __version__

    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    os_release = ""
    try:
        os_release = Path("/etc/os-release").read_text()
    except OSError:
        pass
    return {
        "hall": __version__,
        "python": sys.version,
        "platform": platform.platform(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "os": dict(line.split("=", 1) for line in os_release.splitlines() if "=" in line),
        "packages": packages,
    }


def _effective(ctx: Context) -> dict[str, Any]:
    from edge import config as hall_config
    from edge.console.manage import flatten

    cfg = hall_config.load(ctx.config_path if ctx.config_path.exists() else None)
    return {key: redacted(key, value) for key, value in flatten(cfg.model_dump(mode="json"))}


def _health(ctx: Context) -> str:
    from collections import deque

    recent: deque[dict[str, Any]] = deque(maxlen=1000)
    seq = 0
    while True:
        batch = ctx.request("events.since", {"seq": seq, "prefix": "device.health", "limit": 5000}, timeout=10.0)
        recent.extend(batch)
        if len(batch) < 5000:
            break
        seq = batch[-1]["seq"]
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in recent)


def _lines(ctx: Context, command: str) -> str:
    from edge.console import views

    captured: list[str] = []
    views.COMMANDS[command].run(dataclasses.replace(ctx, sink=captured.append, audit_detail={}), [])
    return "\n".join(captured) + "\n"


def _disk(ctx: Context) -> str:
    import shutil

    usage = shutil.disk_usage(ctx.home.root)
    return f"{ctx.home.root}: {usage.free // 2**20} MiB free of {usage.total // 2**20} MiB\n"


COMMANDS = {
    "diag": Command(diag, "diag [FOLDER|FILE.tar.gz]", "a diagnostics bundle (no secrets) to a USB stick or a file"),
}
