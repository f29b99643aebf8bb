"""The face gallery of consenting customers: embeddings only, encrypted at rest, kept while used.

The gallery is its own SQLite file (``$HALL_HOME/vision/gallery.db``, mode
0600); the key is a separate file (``gallery.key``, mode 0600, created on
first use, readable by the vision service's user alone: see
:func:`check_private`) so a copy of the database alone reveals nothing. Each
entry's embeddings, customer reference and consent record are one AES-256-GCM
blob bound to the entry's id. In clear are only the id, the enrolment time,
the expiry, the purposes consented to (``ticket``, ``vip_arrival``: see
:mod:`edge.schemas.faces`) and a blind index of the reference (an HMAC of it under the
gallery key, so a withdrawal finds the customer's entries without decrypting
every row, and the file alone does not link them to the hall's tickets). No
image is ever stored.

A customer reference is always the hall's keyed hash of the card
(:mod:`edge.identity`): :meth:`Gallery.enroll` refuses anything else. Rows
written before this rule may hold a raw ID number: opening the gallery with
the hall's key (``hall_key``) hashes them in place, once (migration ``m003``
adds the columns; the rows are rewritten on the first open that has the key).

An entry lives ``days`` after its enrolment or its last use
(:meth:`Gallery.touch_ref`), the one retention the kiosk tells customers
(``[faces] retention_days``). Removing an entry deletes its row at once
(``secure_delete`` overwrites the freed pages); expired entries are deleted
whenever the gallery is opened, listed or purged.

The schema is owned by numbered sqlite-utils migrations (the ``gallery`` set,
recorded in ``_sqlite_migrations``). Every enrolment, rewrite and deletion also
appends a row to ``changes`` (sequence number, ``enrolled`` or ``removed``,
entry id: no personal data) in the same transaction, so a camera keeps its
:class:`~vision.matching.GalleryIndex` in memory, loaded once, and applies
only what changed since (:meth:`Gallery.changes_since`).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import logging
import os
import sqlite3
import stat
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from edge.identity import HASH_RE
from edge.schemas.faces import PURPOSES
from edge.storage.db import no_room
from vision.audit import AuditError, AuditLog
from vision.errors import NoRoom, VisionError
from vision.private_db import open_private

MIGRATIONS = Migrations("gallery")
log = logging.getLogger("hall.vision")


class GalleryError(VisionError):
    """The gallery refused an enrolment, or its key or file cannot be used."""

    code = "gallery"


class GalleryFull(GalleryError, NoRoom):
    """The disk is full: the gallery (or its key, the first time) cannot be written until there is room."""


class Consent(BaseModel):
    """Who consented (their masked name or card), when, to which purposes, and on which screen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    who: str = Field(min_length=1, max_length=32, description="The customer, masked (张*三, 1101**********002X).")
    when: str = Field(min_length=10, max_length=40, description="ISO time of the consent.")
    purposes: list[str] = Field(min_length=1, max_length=len(PURPOSES), description="What the face may be used for.")
    screen: str = Field(min_length=1, max_length=64, description="The kiosk or screen that took it.")

    @field_validator("purposes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in PURPOSES]
        if unknown:
            raise ValueError(f"unknown purpose {unknown[0]!r} (known: {', '.join(PURPOSES)})")
        return sorted(set(value))


@dataclass(frozen=True)
class Entry:
    id: str
    enrolled: float
    expires: float
    customer: dict[str, str]  # kind, hash (the keyed reference), masked, name_masked
    consent: dict[str, Any]
    purposes: tuple[str, ...]

    @property
    def ref(self) -> str:
        return self.customer["hash"]

    def public(self) -> dict[str, Any]:
        """What an operator may see: no embedding, the reference as its keyed hash."""
        return {
            "id": self.id,
            "enrolled": self.enrolled,
            "expires": self.expires,
            "ref": self.ref,
            "masked": self.customer.get("masked", ""),
            "name_masked": self.customer.get("name_masked", ""),
            "purposes": list(self.purposes),
            "consent": {k: self.consent.get(k) for k in ("who", "when", "screen")},
        }


def _private(path: Path, what: str) -> None:
    """``path`` must be this user's and unreadable by anyone else."""
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise GalleryError(f"{path}: {what} is readable by others (mode {mode:o}); chmod 600 it")
    if st.st_uid != os.geteuid():
        raise GalleryError(f"{path}: {what} belongs to user id {st.st_uid}, not to this service's ({os.geteuid()})")


def load_key(path: Path) -> bytes:
    """The gallery key: 32 bytes, private to this user; made (0600) on first use."""
    if path.exists():
        _private(path, "key file")
        key = path.read_bytes()
        if len(key) != 32:
            raise GalleryError(f"{path}: not a 32-byte key")
        return key
    key = os.urandom(32)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.new")
    try:  # written whole beside it, then linked: a full disk never leaves a short key behind
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
    except FileExistsError:  # another process made it a moment ago
        return load_key(path)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise GalleryFull(f"{path}: the disk is full: the gallery key cannot be made until there is room") from exc
        raise GalleryError(f"{path}: the gallery key cannot be made: {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return key


def check_private(home_root: Path) -> list[str]:
    """Why the face data under ``home_root/vision`` is not private to this user ([] when it is).

    The key and the gallery must be this user's, mode 0600, and the folder must not be writable by
    others (who could swap the key)."""
    folder = home_root / "vision"
    problems = []
    if folder.exists():
        mode = stat.S_IMODE(folder.stat().st_mode)
        if mode & 0o022:
            problems.append(f"{folder}: writable by others (mode {mode:o}); chmod 750 it")
    for name, what in (("gallery.key", "key file"), ("gallery.db", "gallery")):
        path = folder / name
        if path.exists():
            try:
                _private(path, what)
            except GalleryError as exc:
                problems.append(str(exc))
    return problems


class Gallery:
    """Encrypted embeddings of consenting customers. ``clock`` is injectable for expiry tests;
    ``hall_key`` (the hall's customer key) is needed only to hash raw references left by older versions;
    with an ``audit``, every expiry is recorded there before the entry is deleted."""

    def __init__(
        self,
        db_path: Path,
        key_path: Path,
        *,
        clock: Any = time.time,
        hall_key: bytes | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = load_key(key_path)
        self.aead = AESGCM(key)
        self.index_key = hashlib.sha256(b"gallery ref index\0" + key).digest()
        self.clock = clock
        self.audit = audit
        self.db = open_private(
            db_path,
            MIGRATIONS,
            what="the gallery",
            error=GalleryError,
            full=GalleryFull,
            pragmas=("secure_delete = ON",),
        )
        try:
            self._hash_old_rows(hall_key)
        except sqlite3.Error as exc:
            self.db.close()
            raise GalleryError(f"{db_path}: cannot bring the gallery up to date: {exc}") from exc
        self.purge()

    @classmethod
    def at_home(cls, home_root: Path, **kw: Any) -> Gallery:
        return cls(home_root / "vision" / "gallery.db", home_root / "vision" / "gallery.key", **kw)

    def remove_ref_audited(self, ref: str, *, place: str, reason: str) -> list[str]:
        """:meth:`remove_ref`, the withdrawal audited first (with how many entries it deletes)."""
        ids = [r[0] for r in self.db.execute("SELECT id FROM entries WHERE ref_index = ?", (self.ref_index(ref),))]
        if self.audit is not None:
            what = f"{reason}: {len(ids)} entr{'y' if len(ids) == 1 else 'ies'} deleted"
            try:
                self.audit.record(place=place, purpose="withdrawal", decision="withdrawn", ref=ref, reason=what)
            except AuditError as exc:  # a withdrawal is never held back: the face goes, the lost record is logged
                log.error("withdrawal of %s… not audited: %s", ref[:12], exc)
        self._write([("DELETE FROM entries WHERE id = ?", (e,), "removed", e) for e in ids])
        return ids

    def close(self) -> None:
        self.db.close()

    # -- storage -----------------------------------------------------------------
    def _write(self, steps: list[tuple[str, tuple[Any, ...], str, str]]) -> int:
        """Changes of ``entries`` and their rows in ``changes``, in one transaction; rows changed."""
        n = 0
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args, op, entry_id in steps:
                    done = self.db.execute(sql, args).rowcount
                    if done and op:  # a step with no op changes no embedding: the cameras need not hear of it
                        self.db.execute(
                            "INSERT INTO changes (at, op, entry) VALUES (?, ?, ?)", (self.clock(), op, entry_id)
                        )
                    n += done
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if no_room(exc):
                raise GalleryFull("the disk is full: the gallery cannot be written until there is room") from exc
            raise GalleryError(f"the gallery cannot be written: {exc}") from exc
        return n

    def _seal(self, entry_id: str, payload: dict[str, Any]) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        return nonce, self.aead.encrypt(nonce, json.dumps(payload).encode(), entry_id.encode())

    def _open(self, entry_id: str, nonce: bytes, sealed: bytes) -> dict[str, Any]:
        from cryptography.exceptions import InvalidTag

        try:
            data: dict[str, Any] = json.loads(self.aead.decrypt(nonce, sealed, entry_id.encode()))
        except InvalidTag as exc:
            raise GalleryError(f"entry {entry_id}: cannot be decrypted with this key") from exc
        return data

    def ref_index(self, ref: str) -> str:
        """The blind index of a customer reference (an HMAC under a key derived from the gallery key)."""
        return hmac.new(self.index_key, ref.encode(), hashlib.sha256).hexdigest()

    def _hash_old_rows(self, hall_key: bytes | None) -> int:
        """Rows from before references were always keyed hashes: hash, index and reseal them."""
        rows = self.db.execute("SELECT id, nonce, sealed FROM entries WHERE ref_index IS NULL").fetchall()
        if not rows:
            return 0
        steps = []
        for entry_id, nonce, sealed in rows:
            payload = _upgrade(self._open(entry_id, nonce, sealed), hall_key)
            n2, s2 = self._seal(entry_id, payload)
            purposes = json.dumps(payload["consent"]["purposes"])
            steps.append(
                (
                    "UPDATE entries SET nonce = ?, sealed = ?, ref_index = ?, purposes = ? WHERE id = ?",
                    (n2, s2, self.ref_index(payload["customer"]["hash"]), purposes, entry_id),
                    "enrolled",
                    entry_id,
                )
            )
        return self._write(steps)

    # -- changes -----------------------------------------------------------------
    def changes_since(self, seq: int) -> list[tuple[int, str, str]]:
        """``(seq, "enrolled"|"removed", entry id)`` after ``seq``, oldest first."""
        rows = self.db.execute("SELECT seq, op, entry FROM changes WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
        return [(int(a), str(b), str(c)) for a, b, c in rows]

    def last_change(self) -> int:
        """The sequence number of the latest change (0 for none): a cheap check for news."""
        row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()
        return int(row[0])

    # -- entries -----------------------------------------------------------------
    def enroll(self, embeddings: np.ndarray, consent: Consent, customer: dict[str, str], days: int) -> str:
        """Add one consenting customer (1–5 embeddings of usable faces); return the entry id.

        ``customer`` is the card's reference as the kiosk has it: ``hash`` (the hall's keyed hash),
        ``masked`` and optionally ``kind`` and ``name_masked``. Earlier entries of the same customer are
        replaced in the same transaction."""
        ref = str(customer.get("hash", ""))
        if not HASH_RE.match(ref):
            raise GalleryError(
                "the customer reference must be the hall's keyed hash of the card (64 hex digits), never the number"
            )
        if not 1 <= days <= 3650:
            raise GalleryError(f"the retention must be 1–3650 days, not {days}")
        vecs = np.asarray(embeddings, dtype=np.float32).reshape(-1, 192)
        if not 1 <= len(vecs) <= 5:
            raise GalleryError("enrolment takes one to five face embeddings")
        who = {
            "kind": str(customer.get("kind", "id")),
            "hash": ref,
            "masked": str(customer.get("masked", ""))[:32],
            "name_masked": str(customer.get("name_masked", ""))[:16],
        }
        entry_id = uuid.uuid4().hex
        now = self.clock()
        payload = {"v": 2, "embeddings": vecs.round(6).tolist(), "customer": who, "consent": consent.model_dump()}
        nonce, sealed = self._seal(entry_id, payload)
        index = self.ref_index(ref)
        old = [r[0] for r in self.db.execute("SELECT id FROM entries WHERE ref_index = ?", (index,))]
        steps: list[tuple[str, tuple[Any, ...], str, str]] = [
            ("DELETE FROM entries WHERE id = ?", (e,), "removed", e) for e in old
        ]
        steps.append(
            (
                "INSERT INTO entries (id, enrolled, expires, nonce, sealed, ref_index, purposes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (entry_id, now, now + days * 86400.0, nonce, sealed, index, json.dumps(consent.purposes)),
                "enrolled",
                entry_id,
            )
        )
        self._write(steps)
        return entry_id

    def remove(self, entry_id: str) -> bool:
        """Withdrawal: delete the entry at once. False if there was none."""
        return self._write([("DELETE FROM entries WHERE id = ?", (entry_id,), "removed", entry_id)]) > 0

    def remove_ref(self, ref: str) -> list[str]:
        """Withdrawal by the customer's reference: delete every entry of theirs at once; their ids."""
        gone = [r[0] for r in self.db.execute("SELECT id FROM entries WHERE ref_index = ?", (self.ref_index(ref),))]
        self._write([("DELETE FROM entries WHERE id = ?", (e,), "removed", e) for e in gone])
        return gone

    def rekey_ref(self, ref: str, previous: Iterable[str], *, place: str) -> list[str]:
        """The entries enrolled under one of ``previous`` (the same card's hashes under keys still accepted)
        now under ``ref`` (its hash under the key in force), each audited first; their ids.

        Raw numbers are never kept, so an entry is re-keyed only when its customer's card is read while
        the key it was enrolled under is still accepted (a rotation's overlap). The embeddings are not
        touched: the cameras read an entry's reference from the gallery when they use it.
        """
        if not HASH_RE.match(ref):
            raise GalleryError("a customer reference is a keyed hash (64 hex digits)")
        steps: list[tuple[str, tuple[Any, ...], str, str]] = []
        for old in dict.fromkeys(h for h in previous if h != ref and HASH_RE.match(h)):
            rows = self.db.execute(
                "SELECT id, nonce, sealed FROM entries WHERE ref_index = ?", (self.ref_index(old),)
            ).fetchall()
            for entry_id, nonce, sealed in rows:
                payload = self._open(entry_id, nonce, sealed)
                payload["customer"] = {**payload["customer"], "hash": ref}
                n2, s2 = self._seal(entry_id, payload)
                if self.audit is not None:  # before it takes effect; an audit that fails leaves the entry as it was
                    self.audit.record(
                        place=place,
                        purpose="enrolment",
                        decision="rekeyed",
                        ref=ref,
                        reason=f"card read during a customer-key rotation: was {old[:12]}… under the previous key",
                    )
                steps.append(
                    (
                        "UPDATE entries SET nonce = ?, sealed = ?, ref_index = ? WHERE id = ? AND ref_index = ?",
                        (n2, s2, self.ref_index(ref), entry_id, self.ref_index(old)),
                        "",
                        entry_id,
                    )
                )
        self._write(steps)
        return [step[3] for step in steps]

    def has_ref(self, ref: str) -> bool:
        """Whether the customer has an entry."""
        row = self.db.execute("SELECT 1 FROM entries WHERE ref_index = ? LIMIT 1", (self.ref_index(ref),)).fetchone()
        return row is not None

    def touch_ref(self, ref: str, days: int) -> int:
        """A use of the customer's face: their entries now expire ``days`` from now (never sooner)."""
        until = self.clock() + days * 86400.0
        cur = self.db.execute(
            "UPDATE entries SET expires = ? WHERE ref_index = ? AND expires < ?", (until, self.ref_index(ref), until)
        )
        return int(cur.rowcount)

    def purge(self) -> list[str]:
        """Delete expired entries now (audited as ``expired``); return their ids."""
        rows = self.db.execute("SELECT id, nonce, sealed FROM entries WHERE expires <= ?", (self.clock(),)).fetchall()
        if not rows:
            return []
        expired = [r[0] for r in rows]
        if self.audit is not None:
            for entry_id, nonce, sealed in rows:
                ref = str(self._open(entry_id, nonce, sealed).get("customer", {}).get("hash", ""))
                self.audit.record(
                    place="gallery",
                    purpose="withdrawal",
                    decision="expired",
                    ref=ref,
                    reason="unused for the retention",
                )
        self._write([("DELETE FROM entries WHERE id = ?", (e,), "removed", e) for e in expired])
        return expired

    def _entry(self, row: tuple[Any, ...]) -> tuple[Entry, dict[str, Any]]:
        entry_id, enrolled, expires, nonce, sealed = row
        data = self._open(entry_id, nonce, sealed)
        consent = data["consent"]
        entry = Entry(entry_id, enrolled, expires, data["customer"], consent, tuple(consent["purposes"]))
        return entry, data

    def entry(self, entry_id: str) -> tuple[Entry, np.ndarray] | None:
        """One live entry and its ``(n, 192)`` embeddings, or None."""
        row = self.db.execute(
            "SELECT id, enrolled, expires, nonce, sealed FROM entries WHERE id = ? AND expires > ?",
            (entry_id, self.clock()),
        ).fetchone()
        if row is None:
            return None
        entry, data = self._entry(row)
        return entry, np.asarray(data["embeddings"], dtype=np.float32).reshape(-1, 192)

    def entries(self) -> list[Entry]:
        self.purge()
        rows = self.db.execute("SELECT id, enrolled, expires, nonce, sealed FROM entries ORDER BY enrolled").fetchall()
        return [self._entry(r)[0] for r in rows]

    def matrix(self) -> tuple[list[str], np.ndarray]:
        """Entry ids (one per embedding row) and the ``(N, 192)`` embeddings of live entries."""
        self.purge()
        ids: list[str] = []
        rows: list[list[float]] = []
        for entry_id, nonce, sealed in self.db.execute("SELECT id, nonce, sealed FROM entries"):
            for vec in self._open(entry_id, nonce, sealed)["embeddings"]:
                ids.append(entry_id)
                rows.append(vec)
        return ids, np.asarray(rows, dtype=np.float32).reshape(-1, 192)


def _upgrade(payload: dict[str, Any], hall_key: bytes | None) -> dict[str, Any]:
    """A payload of the first format (``id_card_ref`` as typed, a free-text purpose) in the second."""
    from edge.errors import InvalidRequest
    from edge.identity import mask_name, mask_number, parse_ref_arg

    if "customer" in payload:
        return payload
    raw = str(payload.get("id_card_ref", "")).strip()
    consent = dict(payload.get("consent", {}))
    who = str(consent.get("who", ""))
    if HASH_RE.match(raw):
        customer = {"kind": "id", "hash": raw, "masked": who if "*" in who else "", "name_masked": ""}
    else:
        if hall_key is None:
            raise GalleryError(
                "the gallery holds entries keyed by a raw ID number; the hall's key (secret.key) is needed to hash "
                "them: start the vision service (or this command) as a user that can read it"
            )
        try:
            ref = parse_ref_arg(raw, key=hall_key)
            customer = ref.to_dict()
        except InvalidRequest:  # not a card number at all: hashed as typed, masked
            digest = hmac.new(hall_key, f"id:{raw.upper()}".encode(), hashlib.sha256).hexdigest()
            customer = {"kind": "id", "hash": digest, "masked": mask_number(raw), "name_masked": ""}
    # the first consent screen offered ticket by face only; a signed name is kept masked
    consent = {
        "who": (who if "*" in who else mask_name(who))[:32] or customer["masked"] or "customer",
        "when": consent.get("when", ""),
        "purposes": ["ticket"],
        "screen": consent.get("screen", ""),
    }
    return {"v": 2, "embeddings": payload["embeddings"], "customer": customer, "consent": consent}


@MIGRATIONS()
def m001_entries(db: Database) -> None:
    """The schema the gallery had before its migrations were numbered (kept verbatim)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS entries (id TEXT PRIMARY KEY, enrolled REAL NOT NULL,"
        " expires REAL NOT NULL, nonce BLOB NOT NULL, sealed BLOB NOT NULL)"
    )


@MIGRATIONS()
def m002_changes(db: Database) -> None:
    """Enrolments and deletions in order, so cameras update their copy by change, not by re-reading."""
    db.execute(
        "CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,"
        " op TEXT NOT NULL CHECK (op IN ('enrolled', 'removed')), entry TEXT NOT NULL)"
    )
    # entries already present when the log begins count as enrolled
    db.execute("INSERT INTO changes (at, op, entry) SELECT enrolled, 'enrolled', id FROM entries ORDER BY enrolled")


@MIGRATIONS()
def m003_purposes_and_ref_index(db: Database) -> None:
    """The purposes consented to, in clear for the cameras, and the blind index of the reference.

    Both are NULL on older rows until the gallery is next opened with the hall's key (:func:`_upgrade`)."""
    db.execute("ALTER TABLE entries ADD COLUMN ref_index TEXT")
    db.execute("ALTER TABLE entries ADD COLUMN purposes TEXT")
    db.execute("CREATE INDEX entries_ref ON entries(ref_index)")
