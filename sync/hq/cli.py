"""``hall hq``: run the HQ side of the sync API and administer it.

    hall hq serve --host H --port P [--db URL]   serve the API (OpenAPI at /openapi.json; --ssl-* for HTTPS)
    hall hq hall add HALL_ID --url URL [--rotate] create the hall's key; print the box's credential
    hall hq hall list                             halls known
    hall hq bundle publish FILE [--hall ID]      publish a down bundle (JSON) for one hall or all
    hall hq status HALL [--json]                 link status of a hall, from acknowledged data
    hall hq events HALL [--after SEQ] [--limit N] the hall's events held, one JSON envelope per line
    hall hq key reset                             after losing the key file for good: a new one
    hall hq customer-key rotate --hall ID | --region R | --all [--overlap-days N]   a new customer key
    hall hq customer-key list                     the customer keys issued, their scopes and states
    hall hq customer-key ref HALL id:NUMBER       the keyed hash hall HALL computes for that card now
    hall hq repair list [--hall ID] [--state S] [--json]   repair reports from the halls
    hall hq repair show HALL REF [--photos DIR]   one report, its updates (photos written to DIR)
    hall hq repair update HALL REF --state S [--note TEXT]   a status for the customer, sent to the hall
    hall hq records verify [--hall ID] [--day D] [--json]   the signed records held: exit 1 when one is broken
    hall hq fleet [--json]                        every hall: link, backlog, last ack, alerts, today's figures
    hall hq hall describe HALL [--name N] [--region R]   a hall's name and region (the fleet lists by region)
    hall hq operator add NAME --role R            an operator of the fleet page (viewer, operator, admin)
    hall hq operator list | passwd NAME | remove NAME | unlock NAME
    hall hq provision-token HALL --config FILE    a one-time token a new box sets itself up with

``--db`` (or ``HALL_HQ_DB``) is ``sqlite:///path`` or a path (default ``hq.db``), or
``postgresql://user@host/db`` for a real HQ. ``--key-file`` (or ``HALL_HQ_KEY_FILE``)
is the file that seals the halls' keys in the store, made (mode 0600) on first
start: beside an SQLite store by default (``hq.db`` → ``hq.key``), required with
PostgreSQL. Back it up apart from the database; every worker of one store needs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from edge.cli.main import emit, run_with_errors
from sync.config import HALL_RE, Credential


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=os.environ.get("HALL_HQ_DB", "hq.db"), help="store URL or SQLite path")
    p.add_argument(
        "--key-file",
        default=os.environ.get("HALL_HQ_KEY_FILE") or None,
        help="the file sealing hall keys (default: beside an SQLite store, e.g. hq.key; required for PostgreSQL)",
    )


def _links(p: argparse.ArgumentParser) -> None:
    p.add_argument("--late-after", type=float, default=180.0, help="seconds of silence after which a link is late")
    p.add_argument("--down-after", type=float, default=600.0, help="seconds of silence after which a link is down")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hall hq", description="The HQ side of the hall sync API.")
    sub = p.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="serve the sync API over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8470)
    serve.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    serve.add_argument(
        "--body-timeout", type=float, default=30.0, help="seconds a request body may stall before it is refused (408)"
    )
    _links(serve)
    _db(serve)
    rp = sub.add_parser("repair", help="repair reports from the halls' kiosks")
    rp_sub = rp.add_subparsers(dest="rp_cmd", required=True)
    rp_list = rp_sub.add_parser("list", help="reports, newest first")
    rp_list.add_argument("--hall")
    rp_list.add_argument("--state")
    rp_list.add_argument("--json", action="store_true")
    rp_show = rp_sub.add_parser("show", help="one report and its updates")
    rp_show.add_argument("hall_id")
    rp_show.add_argument("reference")
    rp_show.add_argument("--photos", help="write the report's photos into this directory")
    rp_up = rp_sub.add_parser("update", help="a status for the customer; the hall's kiosk shows it")
    rp_up.add_argument("hall_id")
    rp_up.add_argument("reference")
    rp_up.add_argument("--state", required=True, choices=("received", "dispatched", "on_site", "fixed", "closed",
                                                          "cancelled"))  # fmt: skip
    rp_up.add_argument("--note", default="")
    for one in (rp_list, rp_show, rp_up):
        _db(one)
    rec = sub.add_parser("records", help="the counter pads' signed records HQ holds")
    rec_sub = rec.add_subparsers(dest="rec_cmd", required=True)
    rec_verify = rec_sub.add_parser(
        "verify", help="check each record's digest and each day's chain, per hall; exit 1 naming each broken record"
    )
    rec_verify.add_argument("--hall", help="only this hall (default: every hall)")
    rec_verify.add_argument("--day", help="only this day, YYYY-MM-DD (default: every day held)")
    rec_verify.add_argument("--json", action="store_true")
    _db(rec_verify)
    fl = sub.add_parser("fleet", help="every hall at a glance: link, backlog, last ack, alerts, today's figures")
    fl.add_argument("--json", action="store_true", help="one JSON array of rows")
    _links(fl)
    _db(fl)
    op = sub.add_parser("operator", help="operators of the fleet page")
    op_sub = op.add_subparsers(dest="op_cmd", required=True)
    op_add = op_sub.add_parser("add", help="a new operator (password asked twice, or --password-stdin)")
    op_add.add_argument("name")
    op_add.add_argument("--role", required=True, choices=("viewer", "operator", "admin"))
    op_add.add_argument("--password-stdin", action="store_true")
    op_pw = op_sub.add_parser("passwd", help="a new password (ends the operator's sessions)")
    op_pw.add_argument("name")
    op_pw.add_argument("--password-stdin", action="store_true")
    for name, text in (("remove", "remove an operator"), ("unlock", "clear the delays wrong passwords left")):
        one = op_sub.add_parser(name, help=text)
        one.add_argument("name")
    op_sub.add_parser("list", help="operators and their roles")
    for one in op_sub.choices.values():
        _db(one)
    hall = sub.add_parser("hall", help="halls and their credentials")
    hall_sub = hall.add_subparsers(dest="hall_cmd", required=True)
    add = hall_sub.add_parser("add", help="create a hall's key and print the credential for its box")
    add.add_argument("hall_id")
    add.add_argument("--url", required=True, help="the URL the box reaches this server at")
    add.add_argument("--rotate", action="store_true", help="replace the key of a hall that has one")
    add.add_argument("--name", help="the hall's name, as people know it")
    add.add_argument("--region", help="the region the hall belongs to (the fleet view lists halls by region)")
    _db(add)
    desc = hall_sub.add_parser("describe", help="set a hall's name or region")
    desc.add_argument("hall_id")
    desc.add_argument("--name")
    desc.add_argument("--region")
    _db(desc)
    lst = hall_sub.add_parser("list", help="halls known")
    _db(lst)
    bundle = sub.add_parser("bundle", help="down bundles")
    bundle_sub = bundle.add_subparsers(dest="bundle_cmd", required=True)
    pub = bundle_sub.add_parser("publish", help="publish a bundle (JSON file, - for stdin)")
    pub.add_argument("file")
    where = pub.add_mutually_exclusive_group()
    where.add_argument("--hall", help="only for this hall (default: every hall)")
    where.add_argument("--region", help="for every hall of this region")
    _db(pub)
    ck = sub.add_parser("customer-key", help="the keys customer references are made with")
    ck_sub = ck.add_subparsers(dest="ck_cmd", required=True)
    rot = ck_sub.add_parser("rotate", help="a new key in force; the one it replaces is accepted a while more")
    scope = rot.add_mutually_exclusive_group(required=True)
    scope.add_argument("--hall")
    scope.add_argument("--region")
    scope.add_argument("--all", action="store_true", help="one key for every hall without one of its own")
    rot.add_argument("--overlap-days", type=float, default=30.0, help="days the replaced key stays accepted")
    ck_list = ck_sub.add_parser("list", help="keys issued, with their scope and state (never the keys)")
    ref = ck_sub.add_parser("ref", help="the keyed hash a hall computes for a card (id:NUMBER or ic:ACCOUNT)")
    ref.add_argument("hall_id")
    ref.add_argument("customer")
    for one in (rot, ck_list, ref):
        _db(one)
    st = sub.add_parser("status", help="a hall's link status")
    st.add_argument("hall_id")
    st.add_argument("--json", action="store_true")
    _db(st)
    ev = sub.add_parser("events", help="a hall's events held, in seq order")
    ev.add_argument("hall_id")
    ev.add_argument("--after", type=int, default=0)
    ev.add_argument("--limit", type=int, default=1000)
    _db(ev)
    key = sub.add_parser("key", help="HQ's key file, which seals the halls' keys")
    key_sub = key.add_subparsers(dest="key_cmd", required=True)
    reset = key_sub.add_parser(
        "reset", help="make a new key file after the old one is lost for good; every hall then needs a new credential"
    )
    _db(reset)
    tok = sub.add_parser("provision-token", help="a one-time token for a new box: hall provision --hq URL --token T")
    tok.add_argument("hall_id")
    given = tok.add_mutually_exclusive_group(required=True)
    given.add_argument("--config", help="the hall's config file (TOML), checked here and handed to the box")
    given.add_argument("--name", help="the hall's name, for a box that starts from the defaults")
    tok.add_argument("--ttl-hours", type=float, default=72.0, help="hours the token stays valid (default 72)")
    _db(tok)
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    if a.cmd == "serve":
        return _serve(a)
    code = run_with_errors(lambda: _admin(a))
    return code or (1 if getattr(a, "broken", False) else 0)


def _serve(a: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from sync.hq.app import create_app
    from sync.hq.store import open_store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from edge.errors import HallError

    try:
        store = open_store(a.db, key_file=a.key_file)
    except HallError as exc:
        print(f"hall hq: {exc}", file=sys.stderr)
        return 2
    try:
        key_id = store.check_secrets()
    except HallError as exc:
        store.close()
        print(f"hall hq: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("hall.hq").info(
        "HQ store %s (schema %d), hall keys sealed with key %s", a.db.split("@")[-1], store.schema_version(), key_id
    )
    try:
        uvicorn.run(
            create_app(store, body_idle_s=a.body_timeout, late_s=a.late_after, down_s=a.down_after),
            host=a.host,
            port=a.port,
            log_level="warning",
            access_log=False,
            ssl_certfile=a.ssl_certfile,
            ssl_keyfile=a.ssl_keyfile,
        )
    finally:
        store.close()
    return 0


def _admin(a: argparse.Namespace) -> None:
    from edge.errors import InvalidRequest
    from sync import auth
    from sync.hq.store import open_store

    store = open_store(a.db, key_file=a.key_file)
    try:
        if a.cmd == "key":
            lost = store.reset_key_file()
            print(
                f"made a new key file {store.key_file.path if store.key_file else ''}; the keys of {lost} hall(s) "
                "are lost: issue each a new credential (hall hq hall add HALL --url URL --rotate)"
            )
        elif a.cmd == "hall" and a.hall_cmd == "add":
            if not HALL_RE.match(a.hall_id):
                raise InvalidRequest(f"hall id {a.hall_id!r} must be 1-64 letters, digits, _ or -")
            key = auth.new_key()
            if a.rotate:
                store.rotate_key(a.hall_id, key)
                if a.name is not None or a.region is not None:
                    store.describe_hall(a.hall_id, name=a.name, region=a.region)
            else:
                store.add_hall(a.hall_id, key, name=a.name or "", region=a.region or "")
            print(Credential(a.hall_id, a.url.rstrip("/"), key).to_json())
            print(f"on the box of hall {a.hall_id}: hall sync credential FILE (this line)", file=sys.stderr)
        elif a.cmd == "hall" and a.hall_cmd == "describe":
            store.describe_hall(a.hall_id, name=a.name, region=a.region)
        elif a.cmd == "hall":
            for hall in store.halls():
                print(hall)
        elif a.cmd == "fleet":
            _fleet(store, a)
        elif a.cmd == "operator":
            _operator(store, a)
        elif a.cmd == "repair":
            _repair(store, a)
        elif a.cmd == "records":
            from sync.hq import records

            report = records.verify(store, a.hall, a.day)
            a.broken = not report["ok"]
            emit(report, a.json, records.verdict)
        elif a.cmd == "bundle":
            text = sys.stdin.read() if a.file == "-" else _read(a.file)
            try:
                body: Any = json.loads(text)
            except ValueError as exc:
                raise InvalidRequest(f"{a.file}: not JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise InvalidRequest(f"{a.file}: a bundle is a JSON object")
            version = store.publish_bundle(body, a.hall, region=a.region)
            whom = f"hall {a.hall}" if a.hall else f"region {a.region}" if a.region else "every hall"
            print(f"published bundle version {version} for {whom}")
        elif a.cmd == "customer-key":
            _customer_key(store, a)
        elif a.cmd == "status":
            emit(store.status(a.hall_id), a.json, lambda s: json.dumps(s, indent=2))
        elif a.cmd == "provision-token":
            _provision_token(store, a)
        elif a.cmd == "events":
            for env in store.events(a.hall_id, a.after, a.limit):
                sys.stdout.write(json.dumps(env, ensure_ascii=False) + "\n")
    finally:
        store.close()


def _fleet(store: Any, a: argparse.Namespace) -> None:
    import time

    from sync.hq import fleet

    rows = fleet.rows(store, now=time.time(), late_s=a.late_after, down_s=a.down_after)
    if a.json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    s = fleet.summary(rows)
    zone = fleet.hq_zone()
    print(f"{s['halls']} halls: " + ", ".join(f"{n} {link}" for link, n in s["links"].items()))
    head = ("hall", "region", "link", "backlog", f"last_ack ({zone.key})", "alerts", "tickets", "wait_min", "rating")
    table = [head] + [
        (r["hall"], r["region"] or "-", r["link"], str(r["backlog"]), _local(r["last_ack"], zone),
         str(r["alerts_open"]), str(r["tickets_today"]), _or_dash(r["wait_avg_min"]), _or_dash(r["rating_avg"]))
        for r in rows
    ]  # fmt: skip
    widths = [max(_width(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=True)).rstrip())


def _local(when: str | None, zone: Any) -> str:
    """An ISO time as HQ's clock shows it (``HALL_HQ_TZ``), to the second; "never" for none."""
    from datetime import datetime

    return "never" if when is None else datetime.fromisoformat(when).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: a Chinese character takes two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _customer_key(store: Any, a: argparse.Namespace) -> None:
    from sync.hq import custkeys

    if a.ck_cmd == "rotate":
        scope = custkeys.scope_of(a.hall, a.region)
        before = {k["id"] for k in custkeys.listing(store)}
        replaces = [k["id"] for k in custkeys.listing(store) if k["scope"] == scope and k["state"] == "in force"]
        key_id = custkeys.rotate(store, scope, overlap_s=a.overlap_days * 86400)
        kept = [k["id"] for k in custkeys.listing(store) if k["id"] not in before and k["state"] == "accepted"]
        print(
            f"customer key {key_id} in force for {scope}; "
            + (f"{replaces[0]}, which it replaces, is accepted {a.overlap_days:g} days more" if replaces else
               f"the first key of this scope; the wider scope's key its halls used until now is accepted "
               f"{a.overlap_days:g} days more (as {kept[0]})" if kept else "the first key of this scope")
        )  # fmt: skip
        print(
            "each hall installs it at its next bundle poll; publish bundles built with it from now on", file=sys.stderr
        )
    elif a.ck_cmd == "list":
        for row in custkeys.listing(store):
            until = f" until {row['accepted_until']}" if row["state"] == "accepted" else ""
            print(f"{row['id']}\t{row['scope']}\t{row['state']}{until}")
    else:
        kind, _, number = a.customer.partition(":")
        print(custkeys.keyring(store, a.hall_id).ref(kind, number).hash)


def _repair(store: Any, a: argparse.Namespace) -> None:
    from pathlib import Path

    from sync.hq import repairs

    if a.rp_cmd == "list":
        rows = repairs.listing(store, hall=a.hall, state=a.state)
        if a.json:
            print(json.dumps(rows, ensure_ascii=False))
        for r in [] if a.json else rows:
            print(f"{r['hall']}\t{r['reference']}\t{r['state']}\t{r['kind']}\t{r['phone']}\t{r['place']}")
    elif a.rp_cmd == "show":
        report = repairs.show(store, a.hall_id, a.reference, photos_to=Path(a.photos) if a.photos else None)
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        update_id = repairs.update(store, a.hall_id, a.reference, a.state, a.note)
        print(f"update {update_id}: {a.reference} is {a.state}; hall {a.hall_id} gets it at its next poll")


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _operator(store: Any, a: argparse.Namespace) -> None:
    from sync.hq.operators import Operators

    ops = Operators(store)
    if a.op_cmd == "list":
        for row in ops.list():
            print(f"{row['name']}\t{row['role']}")
    elif a.op_cmd == "add":
        ops.add(a.name, a.role, _password(a.password_stdin))
        print(f"operator {a.name} ({a.role}) added")
    elif a.op_cmd == "passwd":
        ops.passwd(a.name, _password(a.password_stdin))
        print(f"operator {a.name}: new password set, sessions ended")
    elif a.op_cmd == "remove":
        ops.remove(a.name)
        print(f"operator {a.name} removed")
    else:
        print(f"cleared {ops.unlock(a.name)} delay(s) on {a.name}")


def _password(from_stdin: bool) -> str:
    import getpass

    from edge.errors import InvalidRequest

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise InvalidRequest("the two passwords differ")
    return first


def _provision_token(store: Any, a: argparse.Namespace) -> None:
    import time

    from edge.errors import InvalidRequest
    from sync.hq.provision import make_token

    if not HALL_RE.match(a.hall_id):
        raise InvalidRequest(f"hall id {a.hall_id!r} must be 1-64 letters, digits, _ or -")
    if not 0 < a.ttl_hours <= 24 * 30:
        raise InvalidRequest("--ttl-hours must be more than 0 and at most 720 (30 days)")
    if a.config:
        text = _read(a.config)
    else:
        text = f"[hall]\nid = {json.dumps(a.hall_id)}\nname = {json.dumps(a.name, ensure_ascii=False)}\n"
    token, expires = make_token(store, a.hall_id, text, ttl_hours=a.ttl_hours)
    print(token)
    until = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(expires))
    print(
        f"on the new box of hall {a.hall_id}: hall provision --hq URL --token {token}  (once, until {until})",
        file=sys.stderr,
    )


def _read(path: str) -> str:
    from edge.errors import InvalidRequest

    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot read: {exc.strerror}") from exc
