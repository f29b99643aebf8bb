"""``hall hq``: run the HQ side of the sync API and administer it.

    hall hq serve --host H --port P [--db URL]   serve the API (OpenAPI at /openapi.json; --ssl-* for HTTPS)
    hall hq hall add HALL_ID --url URL [--rotate] create the hall's key; print the box's credential
    hall hq hall list                             halls known
    hall hq bundle publish FILE [--hall ID]      publish a down bundle (JSON) for one hall or all
    hall hq status HALL [--json]                 link status of a hall, from acknowledged data
    hall hq events HALL [--after SEQ] [--limit N] the hall's events held, one JSON envelope per line
    hall hq key reset                             after losing the key file for good: a new one
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
    _db(serve)
    hall = sub.add_parser("hall", help="halls and their credentials")
    hall_sub = hall.add_subparsers(dest="hall_cmd", required=True)
    add = hall_sub.add_parser("add", help="create a hall's key and print the credential for its box")
    add.add_argument("hall_id")
    add.add_argument("--url", required=True, help="the URL the box reaches this server at")
    add.add_argument("--rotate", action="store_true", help="replace the key of a hall that has one")
    _db(add)
    lst = hall_sub.add_parser("list", help="halls known")
    _db(lst)
    bundle = sub.add_parser("bundle", help="down bundles")
    bundle_sub = bundle.add_subparsers(dest="bundle_cmd", required=True)
    pub = bundle_sub.add_parser("publish", help="publish a bundle (JSON file, - for stdin)")
    pub.add_argument("file")
    pub.add_argument("--hall", help="only for this hall (default: every hall)")
    _db(pub)
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
    return run_with_errors(lambda: _admin(a))


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
            create_app(store, body_idle_s=a.body_timeout),
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
            else:
                store.add_hall(a.hall_id, key)
            print(Credential(a.hall_id, a.url.rstrip("/"), key).to_json())
            print(f"on the box of hall {a.hall_id}: hall sync credential FILE (this line)", file=sys.stderr)
        elif a.cmd == "hall":
            for hall in store.halls():
                print(hall)
        elif a.cmd == "bundle":
            text = sys.stdin.read() if a.file == "-" else _read(a.file)
            try:
                body: Any = json.loads(text)
            except ValueError as exc:
                raise InvalidRequest(f"{a.file}: not JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise InvalidRequest(f"{a.file}: a bundle is a JSON object")
            version = store.publish_bundle(body, a.hall)
            print(f"published bundle version {version} for {'hall ' + a.hall if a.hall else 'every hall'}")
        elif a.cmd == "status":
            emit(store.status(a.hall_id), a.json, lambda s: json.dumps(s, indent=2))
        elif a.cmd == "provision-token":
            _provision_token(store, a)
        elif a.cmd == "events":
            for env in store.events(a.hall_id, a.after, a.limit):
                sys.stdout.write(json.dumps(env, ensure_ascii=False) + "\n")
    finally:
        store.close()


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
