"""The technicians' shell: sign-in, the command loop, and an audit row for every command.

Sign-in takes the staff panel's accounts and rules (:mod:`edge.panel.signin`):
argon2id hashes, every try counted before its check, delays per name and per
port after five wrong passwords, no default password. Only ``technician`` and
``manager`` accounts get a shell. Before sign-in the line shows nothing about
the hall. Each command, each sign-in and each logout is an audit row in
``panel.db`` and a durable ``audit.recorded`` event in the hall's log, as a
panel action is, with the port as its address (``serial:/dev/ttyS0``).
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.console.settings import ConsoleSettings
from edge.console.terminal import Cancelled, ConsoleError, Hangup, Idle, Terminal
from edge.errors import BusError, HallError
from edge.paths import Home

log = logging.getLogger("hall.console")
BANNER = "Smart Hall Edge · 技术员控制台 technicians' console"
ROLES = ("technician", "manager")
LOGIN_IDLE_S = 60.0
SECRET_PARTS = frozenset({"hash", "key", "token", "secret", "password", "passphrase", "credential"})


class UsageError(ConsoleError):
    """The command was typed wrong; the message is its usage line."""


@dataclass
class Context:
    """What a command gets: the line, who is signed in, the hall's home and config, the bus."""

    term: Terminal
    home: Home
    settings: ConsoleSettings
    config_path: Path
    user: dict[str, Any]
    address: str
    bus: Any
    audit_detail: dict[str, Any] = field(default_factory=dict)  # what a command adds to its audit row
    sink: Callable[[str], None] | None = None  # where output goes instead of the terminal (diag collects it)

    def out(self, text: str = "") -> None:
        if self.sink is not None:
            self.sink(text)
        else:
            self.term.line(text)

    def request(self, topic: str, data: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """A request to the core; a core that does not answer is one sentence, not a traceback."""
        try:
            return self.bus.request(topic, data or {}, timeout=timeout)
        except BusError as exc:
            raise ConsoleError(f"the hall core does not answer ({exc}); see `services`") from exc

    def manager(self) -> Any:
        from edge.console import services

        return services.find(self.home)


Handler = Callable[[Context, list[str]], None]


@dataclass(frozen=True)
class Command:
    run: Handler
    usage: str
    summary: str
    subcommands: tuple[str, ...] = ()  # named in the audit action: console.config.set


def commands() -> dict[str, Command]:
    from edge.console import diag, manage, views

    table = {**views.COMMANDS, **manage.COMMANDS, **diag.COMMANDS}
    table["help"] = Command(_help, "help [COMMAND]", "what each command does")
    table["logout"] = Command(lambda ctx, args: None, "logout", "end this session (also Ctrl-D, exit)")
    return dict(sorted(table.items()))


def _help(ctx: Context, args: list[str]) -> None:
    table = commands()
    if args:
        cmd = table.get(args[0])
        if cmd is None:
            raise UsageError(f"no command {args[0]!r}; `help` lists them")
        ctx.out(f"{cmd.usage}\n  {cmd.summary}")
        return
    for cmd in table.values():
        ctx.out(f"  {cmd.usage:<38} {cmd.summary}")


def redacted(key: str, value: Any) -> Any:
    """A config value as a technician may see it: secrets (hashes, keys, tokens…) are not shown.

    >>> redacted("services.kiosk.technician_pin_hash", "$argon2id$..."), redacted("queue.max_recalls", 3)
    ('(secret)', 3)
    >>> redacted("services.devices.lights.inner_pin", 17)  # a GPIO pin is no secret
    17
    """
    last = key.rsplit(".", 1)[-1]
    return "(secret)" if SECRET_PARTS & set(last.lower().split("_")) else value


class Console:
    """Serve one terminal: sign-in, then commands, until logout; then sign-in again."""

    def __init__(self, term: Terminal, home: Home, settings: ConsoleSettings, config_path: Path, signin: Any) -> None:
        from edge.bus import BusClient
        from edge.panel.live import AuditShipper

        self.term = term
        self.home = home
        self.settings = settings
        self.config_path = config_path
        self.signin = signin
        self.store = signin.store
        self.address = f"serial:{term.label}"
        self.bus = BusClient("console", timeout=5.0, retries=1)
        self.shipper = AuditShipper(self.store, BusClient("console-audit", timeout=3.0, retries=0))
        self.table = commands()
        self.stop = threading.Event()
        self.notices: list[str] = []

    # -- the audit trail --------------------------------------------------------
    def audit(self, user: dict[str, Any] | None, action: str, detail: dict[str, Any], *, ok: bool = True) -> None:
        try:
            self.store.audit(
                name=user["name"] if user else str(detail.pop("_name", "-")),
                role=user["role"] if user else "-",
                action=action,
                detail=detail,
                ok=ok,
                ip=self.address,
                now=time.time(),
            )
        except HallError as exc:  # a full disk: the command still ran; say so where the technician looks
            log.error("audit row not saved: %s", exc)
            self.term.line(f"(audit row not saved: {exc})")
        self.shipper.wake.set()

    # -- the loop ---------------------------------------------------------------------
    def serve(self) -> None:
        """Until the line hangs up (then :class:`Hangup` leaves)."""
        self.shipper.start()
        self.notices = self.finish_change()
        try:
            while not self.stop.is_set():
                user = self.login()
                if user is not None:
                    self.session(user)
        finally:
            self.shipper.stop.set()
            self.shipper.wake.set()
            self.bus.close()

    def finish_change(self) -> list[str]:
        """Finish a ``config set`` a stopped console left under way (:mod:`edge.console.change`); what was said,
        for the next technician who signs in."""
        from edge.console import services
        from edge.console.change import finish_interrupted, pending
        from edge.console.manage import change_lock

        if not pending(self.config_path):
            return []
        said: list[str] = []

        def say(text: str) -> None:
            log.warning("%s", text)
            said.append(text)

        try:
            with change_lock(self.config_path):  # refused while a console on another port is at it: its own
                manager = services.find(self.home)
                finished = finish_interrupted(self.config_path, manager, self.settings.restart_timeout_s, say)
        except HallError as exc:
            log.error("a config change left under way is not finished: %s", exc)
            return [*said, f"a config change left under way is not finished: {exc}"]
        if finished is not None:
            ok = finished["outcome"] != "rolled_back"  # as a `config set` rolled back is audited
            self.audit(None, "console.config.finished", {"_name": "-", **finished}, ok=ok)
        return said

    def login(self) -> dict[str, Any] | None:
        term = self.term
        term.line()
        term.line(BANNER)
        try:
            name = term.readline("login: ", idle_s=3600 * 24 * 365).strip()
            if not name:
                return None
            password = term.readline("password: ", secret=True, idle_s=LOGIN_IDLE_S)
        except (Idle, Cancelled, EOFError):
            return None
        try:
            outcome = self.signin.verify(name, password, self.address)
        except HallError as exc:  # panel.db cannot count the try: nothing is checked
            term.line(f"sign-in unavailable: {exc}")
            return None
        if not outcome.ok:
            self.audit(None, "console.login", {"_name": name[:64], "reason": outcome.reason}, ok=False)
            term.line(outcome.message)
            self._refused(outcome.retry_after)
            return None
        user: dict[str, Any] = dict(outcome.user or {})
        if user.get("role") not in ROLES:
            self.audit(user, "console.login", {"reason": "role"}, ok=False)
            term.line("该账号无权使用技术员控制台 (this account is not a technician's or a manager's)")
            self._refused(0.0)
            return None
        self.audit(user, "console.login", {"terminal": self._terminal_kind()})
        return user

    def _refused(self, retry_after: float) -> None:
        """After a refused sign-in the line waits (``sign_in_delay_s``, or as long as the rules say when they
        throttle), dropping what is typed meanwhile: a script flooding the port gets one try per wait, and
        the audit trail and the hall's log one row per try, not thousands."""

        def left(seconds: float) -> None:
            self.term.line(f"请 {max(1, round(seconds))} 秒后再试 (wait {max(1, round(seconds))} s)")

        self.term.hold(max(self.settings.sign_in_delay_s, retry_after), left)

    def _terminal_kind(self) -> str:
        if self.settings.terminal == "auto":
            return self.term.probe()
        self.term.kind = self.settings.terminal
        return self.term.kind

    def session(self, user: dict[str, Any]) -> None:
        term = self.term
        ctx = Context(term, self.home, self.settings, self.config_path, user, self.address, self.bus)
        hall = self._hall_id(ctx)
        idle = self.settings.idle_timeout_s
        term.line(f"{user['display']} ({user['role']}) · hall {hall} · {term.kind} terminal {term.columns}x{term.rows}")
        term.line(f"`help` lists the commands; idle for {_duration(idle)} logs you out.")
        for notice in self.notices:  # said once, to the first technician after the console started
            term.line(f"at start: {notice}")
        self.notices = []
        prompt = f"{user['name']}@{hall}> "
        session = None
        if term.kind == "vt100":
            session = term.prompt_session(_completer(self.table, _service_names(ctx)))
        reason = "command"
        try:
            while True:
                try:
                    if session is not None:
                        line = term.prompt(session, prompt, idle_s=idle)
                    else:
                        line = term.readline(prompt, idle_s=idle)
                except Cancelled:
                    continue
                except EOFError:
                    break
                except Idle:
                    reason = "idle"
                    term.line(f"idle for {_duration(idle)}: logged out")
                    break
                try:
                    words = shlex.split(line)
                except ValueError as exc:
                    term.line(f"error: {exc}")
                    continue
                if not words:
                    continue
                if words[0] in ("logout", "exit", "quit"):
                    break
                self.run(ctx, words)
        except Hangup:
            reason = "hangup"
            raise
        finally:
            if session is not None:
                session.console_close()
            self.audit(user, "console.logout", {"reason": reason})
            if reason != "hangup":
                term.line("logged out")

    def _hall_id(self, ctx: Context) -> str:
        try:
            return str(ctx.request("hall.ping", timeout=2.0)["hall"])
        except HallError:
            from edge import config

            try:
                return config.load(self.config_path if self.config_path.exists() else None).hall.id
            except HallError:
                return "?"

    def run(self, ctx: Context, words: list[str]) -> None:
        """One command; its audit row whatever came of it (an unknown word, a usage error, a line that dropped)."""
        name, args = words[0], words[1:]
        cmd = self.table.get(name)
        ctx.audit_detail = {"args": audit_args(args)}
        if cmd is None:
            self.audit(ctx.user, "console.unknown", {"command": name[:64], **ctx.audit_detail}, ok=False)
            self.term.line(f"no command {name[:64]!r}; `help` lists them")
            return
        ok, error, hung = True, None, None
        try:
            cmd.run(ctx, args)
        except UsageError as exc:
            ok, error = False, str(exc)
            self.term.line(f"usage: {cmd.usage}" if str(exc) == "usage" else f"error: {exc}")
        except Hangup as exc:
            ok, error, hung = False, f"line gone: {exc}", exc
        except HallError as exc:
            ok, error = False, str(exc)
            self.term.line(f"error: {exc}")
        except Exception as exc:  # a bug in one command must not end the technician's session
            log.exception("console command %s failed", name)
            ok, error = False, f"internal error: {exc}"
            self.term.line(f"error: internal error ({exc}); it is in the console's log")
        finally:
            detail = dict(ctx.audit_detail)
            if error:
                detail["error"] = error[:300]
            action = f"console.{name}" + (f".{args[0]}" if args and args[0] in cmd.subcommands else "")
            self.audit(ctx.user, action, detail, ok=ok)
        if hung is not None:
            raise hung


def audit_args(args: list[str]) -> list[str]:
    """A command's words as its audit row keeps them: eight at most, each cut at 200 characters, and the
    value after a secret key (``config set services.sync.token X``) not kept.

    >>> audit_args(["set", "services.kiosk.technician_pin_hash", "$argon2id$v=19$..."])
    ['set', 'services.kiosk.technician_pin_hash', '(secret)']
    >>> audit_args(["core", "--lines", "20"])
    ['core', '--lines', '20']
    """
    kept: list[str] = []
    for i, arg in enumerate(args[:8]):
        secret = i > 0 and "." in args[i - 1] and redacted(args[i - 1], arg) == "(secret)"
        kept.append("(secret)" if secret else str(arg)[:200])
    return kept


def _duration(seconds: float) -> str:
    """>>> _duration(600), _duration(2), _duration(90)
    ('10 min', '2 s', '1.5 min')
    """
    return f"{seconds:g} s" if seconds < 60 else f"{seconds / 60:g} min"


def _service_names(ctx: Context) -> list[str]:
    """What runs here (as its manager says), else the box's usual services."""
    from edge.console.services import KNOWN

    try:
        listed = [str(s["name"]) for s in ctx.manager().services()]
    except HallError:
        listed = []
    return listed or list(KNOWN)


def _completer(table: dict[str, Command], names: list[str]) -> Any:
    from prompt_toolkit.completion import NestedCompleter

    services = {s: None for s in names}
    devices = {d: None for d in ("printer", "lights", "voice", "idcard", "iccard", "ir")}
    nested: dict[str, Any] = {name: None for name in table}
    nested.update(
        {
            "logs": {**services, "--follow": None, "--lines": None},
            "restart": services,
            "devices": {"test": devices},
            "config": {"show": None, "check": None, "set": None},
            "sync": {"retry": None},
            "help": {name: None for name in table},
        }
    )
    return NestedCompleter.from_nested_dict(nested)
