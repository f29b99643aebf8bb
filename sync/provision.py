"""``hall provision --hq URL --token TOKEN``: a new box sets itself up from HQ.

1. Makes the box's X25519 key pair (``$HALL_HOME/keys/sync.x25519``, mode
   0600) and its bus key pair, and sends HQ only their public halves with the
   one-time token HQ made for the hall (``hall hq provision-token``).
2. Agrees the hall's sync key with HQ (:mod:`sync.keyex`): neither side sends
   it. HQ's proof is checked: an answer that does not match our key installs
   nothing.
3. Checks the hall's config HQ handed over and writes it where the services
   read it (``--config``, ``HALL_CONFIG``, else ``$HALL_HOME/hall.toml``; a
   file already there is kept as ``.previous``), then installs the
   credential (``$HALL_HOME/sync.credential``, mode 0600), and HQ's customer
   keys for the hall (:mod:`sync.boxkeys`), so the first card read is hashed as
   HQ hashes it (when HQ cannot give them now, the sync agent fetches them).
4. Tests every device the config lists (``hall devices test``: a test ticket,
   a test call, the lights, a card within ``--device-timeout`` seconds).
5. Prints what is left to do by hand.

Without ``--hq`` and ``--token`` it prints the steps to set a box up by hand.
Exit status 0 when provisioned (devices may still need work: see what is
left), 1 when HQ refused or could not be reached, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import HallError
from edge.paths import Home, write_durably
from sync import keyex
from sync.errors import SyncError

TESTABLE = ("printer", "lights", "voice", "idcard", "iccard")


class ProvisionError(SyncError):
    """HQ refused the token, could not be reached, or answered something that cannot be trusted."""

    code = "provision"


@dataclass
class Outcome:
    hall: str
    url: str
    config_path: Path
    credential_path: Path
    kept_previous: bool
    summary: str
    customer_keys: str = ""
    devices: list[dict[str, Any]] = field(default_factory=list)


def manual_steps(config_path: Path) -> str:
    return f"""Without HQ, set the box up by hand:
  1. The config: write {config_path}
     (`hall config defaults` shows every key, `hall config check FILE` checks a file).
  2. The link to HQ: at HQ, `hall hq hall add HALL --url https://HQ:8470 > HALL.credential`;
     on this box, `hall sync credential HALL.credential`.
  3. Accounts: `hall users add NAME --role manager`, and `--role technician` for the console.
  4. Devices: `hall devices list`, then `hall devices test printer|lights|voice|idcard|iccard`.
  5. Start: `systemctl enable --now hall.target hall-console@ttyS0.service` (or `hall run`).
With HQ: `hall hq provision-token HALL --config hall.toml` at HQ, then here
`hall provision --hq https://HQ:8470 --token TOKEN` does steps 1, 2 and 4."""


def box_keys(home: Home) -> tuple[Any, bytes | None]:
    """The box's X25519 key (made on first use, mode 0600) and its bus public key (Z85), if it can be made."""
    keys = home.keys_dir
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = keys / "sync.x25519"
    if path.exists():
        own = keyex.load_private(path.read_bytes())
    else:
        own = keyex.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(keyex.private_bytes(own))
            fh.flush()
            os.fsync(fh.fileno())
    try:
        from edge.bus import curve

        bus_public: bytes | None = curve.ensure_keypair(keys, "server")[0]
    except (OSError, ValueError):
        bus_public = None
    return own, bus_public


def ask_hq(url: str, token: str, own: Any, bus_public: bytes | None, *, timeout: float = 15.0) -> dict[str, Any]:
    import httpx

    from edge import __version__
    from sync.hq.provision import normalize

    body = {
        "token": normalize(token),
        "public_key": keyex.b64(keyex.public_bytes(own)),
        "bus_key": bus_public.decode() if bus_public else None,
        "hostname": platform.node()[:64],
        "version": __version__,
    }
    try:
        res = httpx.post(url.rstrip("/") + "/provision", json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ProvisionError(f"cannot reach HQ at {url}: {type(exc).__name__}: {exc}") from exc
    try:
        answer: dict[str, Any] = res.json()
    except ValueError:
        answer = {}
    if res.status_code != 200:
        detail = answer.get("detail") if isinstance(answer, dict) else None
        raise ProvisionError(f"HQ refused ({res.status_code}): {detail or res.text[:200]}")
    return answer


def provision(url: str, token: str, home: Home, config_path: Path) -> Outcome:
    from edge import config
    from sync.config import Credential, credential_path, save_credential
    from sync.hq.provision import normalize

    own, bus_public = box_keys(home)
    answer = ask_hq(url, token, own, bus_public)
    try:
        hall, text = str(answer["hall"]), str(answer["config"])
        hq_public = keyex.unb64(str(answer["hq_public_key"]))
        given_proof = str(answer["proof"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProvisionError(f"HQ's answer is not a provisioning answer: {exc}") from exc
    key = keyex.derive(own, hq_public, token=normalize(token), hall=hall)
    if not keyex.check_proof(key, hall, keyex.public_bytes(own), hq_public, given_proof):
        raise ProvisionError(
            "HQ's answer does not match the key this box agreed: it was changed on the way; nothing was installed"
        )
    cfg = config.load_text(text, f"the config HQ sent for {hall}")
    if cfg.hall.id != hall:
        raise ProvisionError(f"HQ sent the config of hall {cfg.hall.id} for hall {hall}; nothing was installed")
    kept = _write_config(config_path, text)
    cred = save_credential(home, Credential(hall, url.rstrip("/"), key))
    assert cred == credential_path(home)
    summary = f"{len(cfg.businesses)} businesses, {len(cfg.counters)} counters"
    keys = install_customer_keys(home, Credential(hall, url.rstrip("/"), key))
    return Outcome(hall, url, config_path, cred, kept, f"{cfg.hall.name} · {summary}", keys)


def install_customer_keys(home: Home, cred: Any) -> str:
    """Install HQ's customer keys for the hall now; what was done, in words (never fails the provisioning)."""
    from sync import boxkeys
    from sync.client import HqClient

    try:
        with HqClient(cred) as client:
            digest = boxkeys.fetch(client, home)
    except HallError as exc:
        return f"not installed now ({exc}); the sync agent fetches them when it starts"
    if digest is None:
        return "HQ has issued none for this hall yet; the box hashes with its own key until it does"
    return f"installed from HQ ({home.customer_keys_path})"


def _write_config(path: Path, text: str) -> bool:
    """Write atomically; an existing different file is kept as ``.previous``. Whether one was kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = path.exists() and path.read_text(encoding="utf-8", errors="replace") != text
    if kept:
        os.replace(path, path.with_name(path.name + ".previous"))
    write_durably(path, text)
    return kept


def check_devices(config_path: Path, timeout: float) -> list[dict[str, Any]]:
    """Every device the config lists, each tested as ``hall devices test`` tests it."""
    base = [sys.executable, "-m", "edge", "--config", str(config_path), "devices"]
    listed = subprocess.run([*base, "list", "--json"], capture_output=True, text=True, timeout=60, check=False)
    try:
        devices = json.loads(listed.stdout)
    except ValueError:
        return [{"device": "devices", "ok": False, "detail": listed.stderr.strip()[-300:] or "cannot list devices"}]
    out = []
    for d in devices:
        name = d["device"]
        if name not in TESTABLE:
            out.append(
                {
                    "device": name,
                    "ok": None,
                    "detail": f"{d['kind']} {d['target']}: no self-test; its health "
                    "shows in `hall devices list` once the hall runs",
                }
            )
            continue
        res = subprocess.run(
            [*base, "test", name, "--json", "--timeout", str(timeout)],
            capture_output=True,
            text=True,
            timeout=timeout + 60,
            check=False,
        )
        if res.returncode == 0:
            detail = ", ".join(f"{k}: {v}" for k, v in json.loads(res.stdout).items())
            out.append({"device": name, "ok": True, "detail": detail})
        else:
            said = (res.stderr.strip().splitlines() or [res.stdout.strip() or f"exit {res.returncode}"])[-1]
            out.append({"device": name, "ok": False, "detail": said.removeprefix("hall devices: ")})
    return out


def left_to_do(outcome: Outcome, home: Home) -> list[str]:
    todo = []
    for d in outcome.devices:
        if d["ok"] is False:
            todo.append(f"{d['device']}: {_short(d['detail'])} — fix it, then `hall devices test {d['device']}`")
    try:
        from edge.panel.accounts import Store

        store = Store(str(home.root / "panel.db"))
        try:
            roles = {u["role"] for u in store.users() if not u["disabled"]}
        finally:
            store.close()
    except HallError:
        roles = set()
    if "manager" not in roles:
        todo.append("the first manager: `hall users add NAME --role manager`")
    if "technician" not in roles:
        todo.append("technicians for the console: `hall users add NAME --role technician`")
    from edge.console.views import kernel_sync

    if kernel_sync().startswith("NOT"):
        todo.append(
            "the clock is not synchronized (HQ refuses signed requests from a clock far off): enable "
            "systemd-timesyncd or chrony"
        )
    todo.append(
        "start the hall: `systemctl enable --now hall.target hall-console@ttyS0.service` (or `hall run`); a sync "
        "agent waiting for a credential takes it by itself, one linked before needs `systemctl restart hall-sync`"
    )
    return todo


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="hall provision",
        description="Set this box up from HQ with a one-time token; without one, print the steps to do by hand.",
    )
    p.add_argument("--hq", metavar="URL", help="HQ's sync API, e.g. https://hq.example.net:8470")
    p.add_argument("--token", help="the one-time token `hall hq provision-token HALL` printed at HQ")
    p.add_argument("--config", help="where the hall's config goes (default: $HALL_CONFIG, else $HALL_HOME/hall.toml)")
    p.add_argument("--device-timeout", type=float, default=5.0, help="seconds to wait for a card on each reader")
    p.add_argument("--skip-devices", action="store_true", help="do not test the devices")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    home = Home.from_env()
    chosen = a.config or os.environ.get("HALL_CONFIG")
    config_path = Path(chosen).absolute() if chosen else home.config_path
    if not a.hq and not a.token:
        print(manual_steps(config_path))
        return 0
    if not (a.hq and a.token):
        print(
            "hall provision: give both --hq URL and --token TOKEN (or neither, for the steps by hand)", file=sys.stderr
        )
        return 2
    try:
        home.ensure()
        outcome = provision(a.hq, a.token, home, config_path)
    except HallError as exc:
        print(f"hall provision: {exc}", file=sys.stderr)
        if isinstance(exc, ProvisionError) and "cannot reach" in str(exc):
            print("\n" + manual_steps(config_path), file=sys.stderr)
        return 1
    print(f"provisioned hall {outcome.hall} from {outcome.url}: {outcome.summary}")
    kept = f" (the old one is {outcome.config_path.name}.previous)" if outcome.kept_previous else ""
    print(f"  config      {outcome.config_path}{kept}")
    print(f"  credential  {outcome.credential_path} (the key was agreed with HQ; it never left this box)")
    print(f"  keys        public halves sent to HQ; private halves stay in {home.keys_dir}")
    print(f"  customer keys  {outcome.customer_keys}")
    if not a.skip_devices:
        print("devices:")
        outcome.devices = check_devices(outcome.config_path, a.device_timeout)
        for d in outcome.devices:
            mark = {True: "ok  ", False: "FAIL", None: "-   "}[d["ok"]]
            print(f"  {d['device']:<10} {mark} {_short(d['detail'])}")
    print("left to do:")
    for item in left_to_do(outcome, home):
        print(f"  - {item}")
    return 0
