"""``hall users``: panel accounts from the box's shell (add, list, passwd, unlock, disable).

The password is asked twice on the terminal, or read from the first line of
standard input with ``--password-stdin`` (for scripts); it is never an
argument, so it does not land in the shell history::

    hall users add wang --role manager
    echo 'a long passphrase' | hall users add li --role staff --password-stdin

This is how a manager always gets in, whatever was guessed on the LAN: on the
box, ``hall users unlock NAME`` clears every sign-in delay on the name (or
``--address IP`` every delay on one machine), and ``hall users passwd NAME``
sets a new password and signs the old sessions out.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time

from edge.errors import InvalidRequest
from edge.panel.accounts import ROLES, Store
from edge.panel.signin import SignIn
from edge.paths import Home


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise InvalidRequest("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hall users", description="Manage the staff panel's accounts.")
    sub = p.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--display", default="", help="name shown at the counter (default: NAME)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    lst = sub.add_parser("list", help="list accounts")
    lst.add_argument("--json", action="store_true")
    pw = sub.add_parser("passwd", help="set a new password (signs the user out everywhere)")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true")
    unlock = sub.add_parser("unlock", help="clear the sign-in delays of a name (or of an address)")
    unlock.add_argument("name", nargs="?")
    unlock.add_argument("--address", help="clear every delay of this address instead")
    for cmd, text in (("disable", "disable an account"), ("enable", "re-enable it")):
        sub.add_parser(cmd, help=text).add_argument("name")
    a = p.parse_args(argv)

    from edge.cli.main import run_with_errors

    def body() -> None:
        store = Store(str(Home.from_env().ensure().root / "panel.db"))
        signin = SignIn(store)
        try:
            if a.cmd == "add":
                user = store.add_user(a.name, a.role, _password(a.password_stdin), display=a.display, now=time.time())
                store.audit(
                    name="shell",
                    role="-",
                    action="user.add",
                    detail={"user": a.name, "role": a.role},
                    ok=True,
                    ip="local",
                    now=time.time(),
                )
                print(f"user {user['name']} ({user['role']}) created")
            elif a.cmd == "list":
                users, delays = store.users(), signin.delays()
                for u in users:
                    u["delayed"] = [d for d in delays if d["key"].startswith(f"name:{u['name']}@")]
                if a.json:
                    print(json.dumps(users, ensure_ascii=False, indent=2))
                for u in [] if a.json else users:
                    flags = " disabled" if u["disabled"] else ""
                    for d in u["delayed"]:
                        flags += f" waits {d['wait_s']}s at {d['key'].rsplit('@', 1)[1]}"
                    print(f"{u['name']:<16} {u['role']:<11} {u['display']}{flags}")
            elif a.cmd == "passwd":
                store.set_password(a.name, _password(a.password_stdin))
                print(f"password of {a.name} changed")
            elif a.cmd == "unlock":
                if (a.name is None) == (a.address is None):
                    raise InvalidRequest("name a user, or give --address, not both")
                if a.name is not None:
                    store.user(a.name)
                cleared = signin.unlock(a.name, address=a.address)
                print(f"{a.name or a.address}: {cleared} sign-in delay(s) cleared")
            else:
                store.set_disabled(a.name, a.cmd == "disable")
                print(f"{a.name} {a.cmd}d")
        finally:
            store.close()

    return run_with_errors(body)
