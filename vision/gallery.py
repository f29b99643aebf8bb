"""The consented VIP gallery: face embeddings only, encrypted at rest, with expiry and withdrawal.

The gallery is its own SQLite file (``$HALL_HOME/vision/gallery.db``); the
key is a separate file (``$HALL_HOME/vision/gallery.key``, mode 0600, created
on first use) so a copy of the database alone reveals nothing. Each entry's
embeddings, ID-card reference and consent record are one AES-256-GCM blob,
bound to the entry's id; only the id, the enrolment time and the expiry are
in clear. No image is ever stored. Removing an entry deletes its row at once
(``secure_delete`` overwrites the freed pages); expired entries are deleted
whenever the gallery is opened or listed.

The schema is owned by numbered sqlite-utils migrations (the ``gallery`` set,
recorded in ``_sqlite_migrations``); a file made before they existed upgrades
in place, ``m001`` being that schema verbatim. Every enrolment and deletion
also appends a row to ``changes`` (sequence number, ``enrolled`` or
``removed``, entry id: no personal data) in the same transaction, so a camera
keeps its :class:`GalleryIndex` in memory, loaded once, and applies only what
changed since (:meth:`Gallery.changes_since`), never re-reading the gallery
while it analyses frames.

:class:`Voter` decides over several frames of one person track: it names a
VIP only when most recent frames agree on the same entry above the threshold
and clearly above the runner-up, and abstains otherwise — an unknown face
must not become a VIP. :class:`Visits` lets each VIP arrive once per visit.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from vision.errors import VisionError

MIGRATIONS = Migrations("gallery")
ID_DTYPE = "<U64"  # entry ids are 32 hex digits

MATCH_THRESHOLD = 0.55  # calibrated with vision.embed.SAME_THRESHOLD; see vision/MODELS.md
MATCH_MARGIN = 0.08  # best must beat the second-best entry by this much


class GalleryError(VisionError):
    """The gallery refused an enrolment, or its key or file cannot be used."""

    code = "gallery"


class Consent(BaseModel):
    """Who consented, when, for what, and on which screen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    who: str = Field(min_length=1, max_length=64, description="The customer, as they signed.")
    when: str = Field(min_length=10, max_length=40, description="ISO time of the consent.")
    purpose: str = Field(min_length=1, max_length=200, description="What the face will be used for.")
    screen: str = Field(min_length=1, max_length=64, description="The kiosk or screen that took it.")


@dataclass(frozen=True)
class Entry:
    id: str
    enrolled: float
    expires: float
    id_card_ref: str
    consent: dict[str, Any]


def _key(path: Path) -> bytes:
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise GalleryError(f"{path}: key file is readable by others (mode {mode:o}); chmod 600 it")
        key = path.read_bytes()
        if len(key) != 32:
            raise GalleryError(f"{path}: not a 32-byte key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


class Gallery:
    """Encrypted embeddings of consenting customers. ``clock`` is injectable for expiry tests."""

    def __init__(self, db_path: Path, key_path: Path, *, clock: Any = time.time) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.aead = AESGCM(_key(key_path))
        self.clock = clock
        db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(db_path, isolation_level=None, timeout=10.0)
            self.db.execute("PRAGMA secure_delete = ON")
            migrate(self.db)
        except sqlite3.Error as exc:
            raise GalleryError(f"{db_path}: cannot open the gallery: {exc}") from exc
        self.purge()

    @classmethod
    def at_home(cls, home_root: Path, **kw: Any) -> Gallery:
        return cls(home_root / "vision" / "gallery.db", home_root / "vision" / "gallery.key", **kw)

    def close(self) -> None:
        self.db.close()

    def purge(self) -> int:
        """Delete expired entries now; return how many."""
        now = self.clock()
        expired = [r[0] for r in self.db.execute("SELECT id FROM entries WHERE expires <= ?", (now,))]
        return sum(self.remove(entry_id) for entry_id in expired)

    def _write(self, sql: str, args: tuple[Any, ...], op: str, entry_id: str) -> int:
        """One change of ``entries`` and its row in ``changes``, in one transaction."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                n = self.db.execute(sql, args).rowcount
                if n:
                    self.db.execute(
                        "INSERT INTO changes (at, op, entry) VALUES (?, ?, ?)", (self.clock(), op, entry_id)
                    )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise GalleryError(f"the gallery cannot be written: {exc}") from exc
        return int(n)

    def changes_since(self, seq: int) -> list[tuple[int, str, str]]:
        """``(seq, "enrolled"|"removed", entry id)`` after ``seq``, oldest first."""
        rows = self.db.execute("SELECT seq, op, entry FROM changes WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
        return [(int(a), str(b), str(c)) for a, b, c in rows]

    def last_change(self) -> int:
        """The sequence number of the latest change (0 for none): a cheap check for news."""
        row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()
        return int(row[0])

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

    def enroll(self, embeddings: np.ndarray, consent: Consent, id_card_ref: str, days: int) -> str:
        """Add one consenting customer (1–5 embeddings of usable faces); return the entry id."""
        if not id_card_ref.strip():
            raise GalleryError("enrolment needs the ID-card reference")
        if not 1 <= days <= 3650:
            raise GalleryError(f"expiry must be 1–3650 days, not {days}")
        vecs = np.asarray(embeddings, dtype=np.float32).reshape(-1, 192)
        if not 1 <= len(vecs) <= 5:
            raise GalleryError("enrolment takes one to five face embeddings")
        entry_id = uuid.uuid4().hex
        now = self.clock()
        payload = {"embeddings": vecs.round(6).tolist(), "id_card_ref": id_card_ref, "consent": consent.model_dump()}
        nonce, sealed = self._seal(entry_id, payload)
        self._write(
            "INSERT INTO entries (id, enrolled, expires, nonce, sealed) VALUES (?, ?, ?, ?, ?)",
            (entry_id, now, now + days * 86400.0, nonce, sealed),
            "enrolled",
            entry_id,
        )
        return entry_id

    def remove(self, entry_id: str) -> bool:
        """Withdrawal: delete the entry at once. False if there was none."""
        return self._write("DELETE FROM entries WHERE id = ?", (entry_id,), "removed", entry_id) > 0

    def entry(self, entry_id: str) -> tuple[Entry, np.ndarray] | None:
        """One live entry and its ``(n, 192)`` embeddings, or None."""
        row = self.db.execute(
            "SELECT id, enrolled, expires, nonce, sealed FROM entries WHERE id = ? AND expires > ?",
            (entry_id, self.clock()),
        ).fetchone()
        if row is None:
            return None
        data = self._open(row[0], row[3], row[4])
        entry = Entry(row[0], row[1], row[2], data["id_card_ref"], data["consent"])
        return entry, np.asarray(data["embeddings"], dtype=np.float32).reshape(-1, 192)

    def remove_ref(self, id_card_ref: str) -> int:
        """Withdrawal by ID-card reference: delete every entry of that customer at once."""
        gone = 0
        for entry_id, nonce, sealed in self.db.execute("SELECT id, nonce, sealed FROM entries").fetchall():
            if self._open(entry_id, nonce, sealed)["id_card_ref"] == id_card_ref:
                gone += self.remove(entry_id)
        return gone

    def entries(self) -> list[Entry]:
        self.purge()
        rows = self.db.execute("SELECT id, enrolled, expires, nonce, sealed FROM entries ORDER BY enrolled").fetchall()
        out = []
        for entry_id, enrolled, expires, nonce, sealed in rows:
            data = self._open(entry_id, nonce, sealed)
            out.append(Entry(entry_id, enrolled, expires, data["id_card_ref"], data["consent"]))
        return out

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


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Bring a gallery file's schema up to date; return the migrations applied."""
    db = Database(conn, execute_plugins=False)
    pending = [m.name for m in MIGRATIONS.pending(db)]
    if pending:
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; another waits, then finds nothing pending
        try:
            MIGRATIONS.apply(db)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return pending


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


class GalleryIndex:
    """The live gallery in memory for matching: loaded once, then kept current by :meth:`apply`.

    ``ids`` names the entry of each row of ``matrix``; ``names`` and ``expires`` are per entry.
    """

    def __init__(self) -> None:
        self.ids: np.ndarray = np.asarray([], dtype=ID_DTYPE)
        self.matrix = np.zeros((0, 192), np.float32)
        self.names: dict[str, str] = {}
        self.expires: dict[str, float] = {}
        self.seq = 0

    @classmethod
    def load(cls, gallery: Gallery) -> GalleryIndex:
        """Every live entry, and the change it is current to."""
        index = cls()
        index.seq = gallery.last_change()
        for e in gallery.entries():
            got = gallery.entry(e.id)
            if got is not None:
                index.add(e.id, got[1], str(e.consent.get("who", "")), e.expires)
        return index

    def __len__(self) -> int:
        return len(self.names)

    def add(self, entry_id: str, vectors: np.ndarray, who: str, expires: float) -> None:
        """Add (or replace) one entry."""
        self.remove(entry_id)
        vecs = np.asarray(vectors, dtype=np.float32).reshape(-1, 192)
        self.ids = np.concatenate([self.ids, np.asarray([entry_id] * len(vecs), dtype=ID_DTYPE)])
        self.matrix = np.vstack([self.matrix, vecs])
        self.names[entry_id] = who
        self.expires[entry_id] = expires

    def remove(self, entry_id: str) -> bool:
        if entry_id not in self.names:
            return False
        keep = self.ids != entry_id
        self.ids, self.matrix = self.ids[keep], self.matrix[keep]
        del self.names[entry_id]
        del self.expires[entry_id]
        return True

    def expire(self, now: float) -> list[str]:
        """Drop entries whose term ended (the gallery deletes them too when next opened)."""
        gone = [e for e, until in self.expires.items() if until <= now]
        for entry_id in gone:
            self.remove(entry_id)
        return gone

    def apply(self, gallery: Gallery, changes: list[tuple[int, str, str]]) -> int:
        """Apply ``(seq, op, entry)`` changes newer than this index (reading only enrolled entries)."""
        applied = 0
        for seq, op, entry_id in changes:
            if seq <= self.seq:
                continue
            self.seq = seq
            applied += 1
            if op == "removed":
                self.remove(entry_id)
                continue
            got = gallery.entry(entry_id)
            if got is not None:
                entry, vectors = got
                self.add(entry_id, vectors, str(entry.consent.get("who", "")), entry.expires)
        return applied

    def best_two(self, probe: np.ndarray) -> tuple[str | None, float, float]:
        return best_two(self.ids, self.matrix, probe)


def best_two(ids: list[str] | np.ndarray, matrix: np.ndarray, probe: np.ndarray) -> tuple[str | None, float, float]:
    """The best entry for ``probe``, its similarity, and the best similarity of any other entry.

    ``ids`` names the entry of each matrix row; pass it as a numpy array to match many probes fast.
    """
    if len(ids) == 0:
        return None, -1.0, -1.0
    names = ids if isinstance(ids, np.ndarray) else np.asarray(ids)
    sims = matrix @ probe
    best = int(np.argmax(sims))
    others = names != names[best]
    second = float(sims[others].max()) if others.any() else -1.0
    return str(names[best]), float(sims[best]), second


class Voter:
    """Per-track decision over the last ``window`` face frames; abstains (None) unless ``need`` agree."""

    def __init__(self, window: int = 5, need: int = 3, threshold: float = MATCH_THRESHOLD) -> None:
        self.votes: deque[str | None] = deque(maxlen=window)
        self.need = need
        self.threshold = threshold

    def add(self, best: str | None, sim: float, second: float) -> str | None:
        ok = best is not None and sim >= self.threshold and sim - second >= MATCH_MARGIN
        self.votes.append(best if ok else None)
        top = Counter(v for v in self.votes if v is not None).most_common(1)
        if top and top[0][1] >= self.need and top[0][1] > len(self.votes) - top[0][1]:
            return top[0][0]
        return None


class Visits:
    """A VIP arrives once per visit: again only after ``gap_s`` without being seen."""

    def __init__(self, gap_s: float = 3 * 3600.0) -> None:
        self.gap_s = gap_s
        self.last_seen: dict[str, float] = {}

    def arrived(self, entry_id: str, t: float) -> bool:
        last = self.last_seen.get(entry_id)
        self.last_seen[entry_id] = t
        return last is None or t - last >= self.gap_s
