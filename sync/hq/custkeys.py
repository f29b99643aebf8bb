"""Customer keys HQ issues, and bundles built from HQ's own customer records.

A customer key belongs to a scope: one hall (``hall:ID``), a region
(``region:NAME``) or the whole fleet (``all``). A hall hashes with the key of
its narrowest scope that has one. ``hall hq customer-key rotate --hall ID |
--region NAME | --all [--overlap-days N]`` makes a new key for the scope; the one
it replaces stays accepted until the overlap ends (30 days by default), and so
does, for a hall's or a region's first key, the wider scope's key its halls
hashed with until then, so
references made before the rotation (cards hashed at the box, tags in a bundle
not yet replaced) still match. Keys are sealed at rest with HQ's key file, as
hall keys are, and go down to each hall wrapped for it (:mod:`sync.keywrap`): in
every bundle it fetches, and at ``GET /v1/halls/{hall}/customer-keys``.

A bundle file may name customers by card (``"customer": "id:NUMBER"`` or
``"ic:ACCOUNT"``) in ``bills``, ``usage``, ``supplies`` and ``customer_tags``: at
publish, HQ turns each into the keyed hash the target halls compute for that
card, so the numbers stay at HQ. The bundle is then validated with the schema the
box applies (:class:`edge.schemas.sync.Bundle`); a refused bundle is not
published and says why.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from pydantic import ValidationError

from edge.errors import Conflict, InvalidRequest, NotFound
from edge.identity import CustomerKey, Keyring, id_number_valid
from sync.hq.secrets import SecretBox

OVERLAP_DAYS = 30.0
MAX_PREVIOUS = 3


def scope_of(hall: str | None, region: str | None) -> str:
    if hall:
        return f"hall:{hall}"
    if region:
        return f"region:{region}"
    return "all"


def _open(box: SecretBox, key_id: str, sealed: str) -> bytes:
    return box.open(f"customer-key:{key_id}", sealed)


def rotate(store: Any, scope: str, *, overlap_s: float = OVERLAP_DAYS * 86400, now: float | None = None) -> str:
    """A new key in force for ``scope``; the one it replaces is accepted for ``overlap_s`` more. Its id."""
    at = time.time() if now is None else now
    if not 0 <= overlap_s <= 366 * 86400:
        raise InvalidRequest("the overlap is 0 to 366 days")
    m = store.d.mark
    key_id = "ck-" + secrets.token_hex(6)
    with store._tx() as cur:
        if scope.startswith("hall:"):
            cur.execute(f"SELECT 1 FROM halls WHERE hall = {m}", (scope[5:],))
            if not cur.fetchone():
                raise NotFound(f"hall {scope[5:]} is not known to HQ")
        box = store._secret_box(cur)
        sealed = box.seal(f"customer-key:{key_id}", secrets.token_bytes(32))
        cur.execute(
            f"UPDATE customer_keys SET retired_at = {m}, accept_until = {m} WHERE scope = {m} AND retired_at IS NULL",
            (at, at + overlap_s, scope),
        )
        if not cur.rowcount and scope != "all":
            _keep_wider(cur, m, box, scope, at, overlap_s)
        cur.execute(
            f"INSERT INTO customer_keys (id, scope, sealed, created_at) VALUES ({m}, {m}, {m}, {m})",
            (key_id, scope, sealed, at),
        )
    return key_id


def _keep_wider(cur: Any, m: str, box: SecretBox, scope: str, at: float, overlap_s: float) -> None:
    """The first key of a hall or a region: the key of the wider scope its halls hashed with until now
    stays accepted for the overlap (a copy under this scope), as a replaced key of its own would."""
    wider = ["all"]
    if scope.startswith("hall:"):
        cur.execute(f"SELECT region FROM halls WHERE hall = {m}", (scope[5:],))
        region = cur.fetchone()[0]
        wider = [f"region:{region}", "all"] if region else ["all"]
    for one in wider:
        cur.execute(f"SELECT id, sealed FROM customer_keys WHERE scope = {m} AND retired_at IS NULL", (one,))
        row = cur.fetchone()
        if row is not None:
            copy_id = "ck-" + secrets.token_hex(6)
            sealed = box.seal(f"customer-key:{copy_id}", _open(box, row[0], row[1]))
            cur.execute(
                "INSERT INTO customer_keys (id, scope, sealed, created_at, retired_at, accept_until) "
                f"VALUES ({m}, {m}, {m}, {m}, {m}, {m})",
                (copy_id, scope, sealed, at - 1e-3, at, at + overlap_s),
            )
            return


def keys_for(store: Any, hall: str, *, now: float | None = None) -> list[dict[str, Any]]:
    """The keys ``hall`` hashes with: ``[{id, key, current, until}]``, the one in force first; [] when none."""
    at = time.time() if now is None else now
    m = store.d.mark
    with store._tx() as cur:
        cur.execute(f"SELECT region FROM halls WHERE hall = {m}", (hall,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"hall {hall} is not known to HQ")
        scopes = [f"hall:{hall}", *([f"region:{row[0]}"] if row[0] else []), "all"]
        for scope in scopes:
            cur.execute(
                f"SELECT id, sealed, retired_at, accept_until FROM customer_keys WHERE scope = {m} "
                f"AND (retired_at IS NULL OR accept_until > {m}) ORDER BY created_at DESC",
                (scope, at),
            )
            found = cur.fetchall()
            current = [r for r in found if r[2] is None]
            if not current:
                continue
            box = store._secret_box(cur)
            previous = [r for r in found if r[2] is not None][:MAX_PREVIOUS]
            return [{"id": r[0], "key": _open(box, r[0], r[1]), "current": r[2] is None,
                     "until": None if r[2] is None else float(r[3])} for r in [current[0], *previous]]  # fmt: skip
    return []


def keyring(store: Any, hall: str, *, now: float | None = None) -> Keyring:
    keys = keys_for(store, hall, now=now)
    if not keys:
        raise Conflict(
            f"hall {hall} has no customer key from HQ yet: hall hq customer-key rotate --hall {hall} "
            "(or --region, or --all)"
        )
    current = CustomerKey(keys[0]["id"], keys[0]["key"])
    return Keyring(current, tuple(CustomerKey(k["id"], k["key"], k["until"]) for k in keys[1:]))


def listing(store: Any, *, now: float | None = None) -> list[dict[str, Any]]:
    """Every key HQ issued with its scope and state (never the key itself)."""
    from edge.envelope import iso

    at = time.time() if now is None else now
    with store._tx() as cur:
        cur.execute("SELECT id, scope, created_at, retired_at, accept_until FROM customer_keys ORDER BY created_at")
        rows = cur.fetchall()
    return [{"id": r[0], "scope": r[1], "created_at": iso(r[2]),
             "state": "in force" if r[3] is None else ("accepted" if r[4] and r[4] > at else "retired"),
             "accepted_until": iso(r[4])} for r in rows]  # fmt: skip


# -- bundles -----------------------------------------------------------------------
CUSTOMER_LISTS = {"bills": "customer_hash", "usage": "customer_hash", "supplies": "customer_hash",
                  "customer_tags": "hash"}  # fmt: skip


def names_customers(body: dict[str, Any]) -> bool:
    return any(isinstance(i, dict) and "customer" in i for k in CUSTOMER_LISTS for i in body.get(k) or [])


def resolve(body: dict[str, Any], ring: Keyring) -> dict[str, Any]:
    """``body`` with every ``"customer": "id:NUMBER"`` replaced by its keyed hash under ``ring``'s key in force."""
    out = dict(body)
    for name, field in CUSTOMER_LISTS.items():
        items = body.get(name)
        if not isinstance(items, list):
            continue
        resolved = []
        for i, item in enumerate(items):
            if isinstance(item, dict) and "customer" in item:
                ref = item["customer"]
                kind, _, number = str(ref).partition(":")
                if kind not in ("id", "ic") or not number:
                    raise InvalidRequest(f"{name}[{i}].customer: {ref!r} is not id:NUMBER or ic:ACCOUNT")
                if kind == "id" and len(number.strip()) == 18 and not id_number_valid(number.strip()):
                    # no card read will ever give this number: a typo in HQ's records would go down unmatched
                    raise InvalidRequest(
                        f"{name}[{i}].customer: the ID number ending {number.strip()[-4:]} fails its check "
                        "character (GB 11643-1999): correct HQ's record"
                    )
                try:
                    digest = Keyring(ring.current).ref(kind, number).hash
                except InvalidRequest as exc:
                    raise InvalidRequest(f"{name}[{i}].customer: {exc}") from None
                item = {**{k: v for k, v in item.items() if k != "customer"}, field: digest}
            resolved.append(item)
        out[name] = resolved
    return out


def validate(body: dict[str, Any]) -> None:
    """Refuse (:class:`InvalidRequest`, naming the fields) a bundle the box would refuse."""
    from edge.schemas.sync import Bundle

    if "customer_keys" in body:
        raise InvalidRequest("customer_keys: HQ adds the customer keys itself (hall hq customer-key rotate)")
    try:
        Bundle.model_validate(body)
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            field = ".".join(str(p) for p in err["loc"]) or "bundle"
            parts.append(f"{field}: {'unknown field' if err['type'] == 'extra_forbidden' else err['msg']}")
        more = exc.error_count() - 5
        raise InvalidRequest("bad bundle: " + "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")) from None
