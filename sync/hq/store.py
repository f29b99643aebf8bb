"""HQ's store: halls and their sealed keys, every hall's events by (hall, seq), cursors, bundles.

SQLite by default (``sqlite:///path`` or a plain path, made mode 0600), PostgreSQL
for a real HQ (``postgresql://…``, psycopg 3). The schema is owned by numbered
migrations (:mod:`sync.hq.migrations`) and the SQL is written once; the few
differences live in :mod:`sync.hq.dialect`. Every write is one transaction, and
driver errors leave as :mod:`sync.errors` (a full disk is :class:`StoreFull`).

Hall keys are sealed with HQ's key file (:mod:`sync.hq.secrets`), which is kept
outside the database: beside an SQLite store by default (``hq.db`` → ``hq.key``),
named explicitly for PostgreSQL.

Ingest is idempotent and gap-refusing, per lane (see :mod:`edge.schemas.sync`):
a batch names the lane cursor it follows (``after``). Events at or below HQ's
cursor must be the very events HQ holds, and are skipped; a batch whose
``after`` is above the cursor would leave a hole and is refused with :class:`Gap`,
naming the cursor; a batch that contradicts itself or claims a seq HQ holds in
another lane is refused with :class:`~sync.errors.Inconsistent`, naming the seq.
Link status is computed from what was acknowledged: ``backlog`` is the box's
head (as reported with its last accepted batch) minus the events held and the
events the box reported shed; ``last_ack`` the time of the last accepted batch;
``last_seen`` the last authenticated request.

    >>> st = open_store(":memory:"); st.add_hall("h1", bytes(32))
    >>> ev = {"v": 1, "id": "e1", "ts": "t", "source": "core", "topic": "ticket.issued", "data": {}, "seq": 1}
    >>> st.ingest("h1", "records", 0, 1, [ev], now=0.0)
    1
    >>> st.ingest("h1", "records", 0, 1, [ev], now=0.0)  # again: held once
    1
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge.errors import Conflict, NotFound
from edge.schemas.sync import LANES
from sync.errors import Inconsistent, KeyFileError, SyncError
from sync.hq import batch as batches
from sync.hq import fleet, repairs
from sync.hq.boxes import Boxes
from sync.hq.bundles import Bundles
from sync.hq.dialect import Dialect, Duplicate, dialect_for, redact, sqlite_path
from sync.hq.migrations import Context, migrate
from sync.hq.secrets import KeyFile, SecretBox

log = logging.getLogger("hall.hq")
NONCE_KEEP_S = 900.0
KEYS_KEPT = 100_000  # opened hall keys kept per process (each checked against the stored one at every use)
LOST = "lost"  # a hall key that cannot be opened any more (key file reset): the hall needs a new credential
EVENT_COLS = ("hall", "seq", "lane", "id", "ts", "source", "topic", "data", "received_at")


class Gap(SyncError):
    """A batch does not follow HQ's cursor of its lane."""

    code = "gap"

    def __init__(self, lane: str, cursor: int, after: int) -> None:
        super().__init__(f"lane {lane}: batch follows seq {after}, but HQ holds this lane only up to seq {cursor}")
        self.lane = lane
        self.cursor = cursor


class Replayed(SyncError):
    """The request's nonce was used before."""

    code = "replayed"


class Store(Bundles, Boxes):
    def __init__(self, url: str, *, key_file: str | Path | None = None) -> None:
        self.url = url
        self.d: Dialect = dialect_for(url)
        self.key_file, self._no_key_file = _key_file(url, self.d, key_file)
        self._memory_key = secrets.token_bytes(32) if self.key_file is None and not self._no_key_file else None
        self.lock = threading.RLock()
        self.zone = fleet.hq_zone()
        self._box: SecretBox | None = None
        self._purged = 0.0
        self._keys: dict[str, tuple[str, bytes]] = {}  # hall -> (sealed key as stored, the key)
        self.conn = self.d.connect(url)
        ctx = Context(self.d, self._secret_box)
        try:
            self.migrated = migrate(self._tx, ctx)
        except BaseException:
            self.conn.close()
            raise
        if ctx.sealed:
            log.info("sealed the keys of %d hall(s) with %s", ctx.sealed, self.key_file)
            self.d.forget_cleartext(self.conn)

    @property
    def dialect(self) -> str:
        return self.d.name

    # -- plumbing ---------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction; driver errors leave translated (:mod:`sync.errors`), after a rollback."""
        with self.lock:
            cur = self._begin()
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException as exc:
                self._rollback(cur)
                mine = self.d.translate(exc) if isinstance(exc, Exception) else exc
                if mine is exc:
                    raise
                raise mine from exc

    def _begin(self) -> Any:
        """A cursor in a new transaction; a connection found dead (database restarted) is opened again once."""
        for attempt in (1, 2):
            if self.d.broken(self.conn):
                self.conn.close()
                self.conn = self.d.connect(self.url)
            cur = self.conn.cursor()
            try:
                cur.execute(self.d.begin)
                return cur
            except Exception as exc:
                if attempt == 2 or not self.d.lost(self.conn, exc):
                    raise self.d.translate(exc) from exc
                log.warning("HQ store connection lost (%s): connecting again", exc)
                self.conn.close()
                self.conn = self.d.connect(self.url)
        raise AssertionError("unreachable")

    def _read_one(self, sql: str, params: tuple[Any, ...]) -> Any:
        """One row of one statement run on its own (no write lock taken); driver errors translated."""
        with self.lock:
            for attempt in (1, 2):
                if self.d.broken(self.conn):
                    self.conn.close()
                    self.conn = self.d.connect(self.url)
                try:
                    cur = self.conn.cursor()
                    cur.execute(sql, params)
                    return cur.fetchone()
                except Exception as exc:
                    if attempt == 1 and self.d.lost(self.conn, exc):  # a read: asked again on a new session
                        log.warning("HQ store connection lost (%s): connecting again", exc)
                        self.conn.close()
                        self.conn = self.d.connect(self.url)
                        continue
                    mine = self.d.translate(exc)
                    if mine is exc:
                        raise
                    raise mine from exc
        raise AssertionError("unreachable")

    def _rollback(self, cur: Any) -> None:
        try:
            cur.execute("ROLLBACK")
        except Exception as exc:  # the connection itself is gone: the next transaction opens a new one
            log.debug("rollback failed: %s", exc)

    def close(self) -> None:
        self.conn.close()

    # -- HQ's secrets key ---------------------------------------------------------
    def _secret_box(self, cur: Any) -> SecretBox:
        if self._box is not None:
            return self._box
        m = self.d.mark
        cur.execute(f"SELECT value FROM meta WHERE name = {m}", ("secrets_key_id",))
        row = cur.fetchone()
        known: str | None = row[0] if row else None
        if self._no_key_file:
            raise KeyFileError(self._no_key_file)
        if self.key_file is None:
            assert self._memory_key is not None
            key = self._memory_key
        elif self.key_file.exists():
            key = self.key_file.load()
        elif known:
            raise KeyFileError(_lost(self.key_file.path, known, self.url))
        else:
            key = self.key_file.create()
            log.warning("made HQ's key file %s: back it up apart from the database", self.key_file.path)
        box = SecretBox(key)
        if known and known != box.key_id:
            raise KeyFileError(
                f"HQ's key file {self.key_file.path if self.key_file else '(memory)'} holds key {box.key_id}, "
                f"but this store's hall keys are sealed with key {known}: start HQ with the key file made for "
                f"this store (--key-file)"
            )
        if not known:
            cur.execute(
                f"INSERT INTO meta (name, value) VALUES ({m}, {m}) ON CONFLICT (name) DO NOTHING",
                ("secrets_key_id", box.key_id),
            )
        self._box = box
        return box

    def check_secrets(self) -> str:
        """Load (or, on first start, make) the key file and open one hall's key; return the key id."""
        with self._tx() as cur:
            box = self._secret_box(cur)
            cur.execute(f"SELECT hall, secret FROM halls WHERE secret <> {self.d.mark} ORDER BY hall LIMIT 1", (LOST,))
            row = cur.fetchone()
        if row:
            box.open(row[0], row[1])
        return box.key_id

    def reset_key_file(self) -> int:
        """After the key file is lost for good: make a new one; every hall's key is then lost (re-issue them)."""
        if self.key_file is None:
            raise KeyFileError("an in-memory store has no key file")
        if self.key_file.exists():
            raise KeyFileError(f"{self.key_file.path} exists: move it away first if you mean to replace it")
        box = SecretBox(self.key_file.create())
        m = self.d.mark
        try:
            with self._tx() as cur:
                cur.execute(f"DELETE FROM meta WHERE name = {m}", ("secrets_key_id",))
                cur.execute(f"INSERT INTO meta (name, value) VALUES ({m}, {m})", ("secrets_key_id", box.key_id))
                cur.execute(f"UPDATE halls SET secret = {m}", (LOST,))
                lost = int(cur.rowcount)
        except BaseException:
            self.key_file.path.unlink(missing_ok=True)
            raise
        self._box = box
        return lost

    # -- halls and authentication -------------------------------------------
    def add_hall(self, hall: str, key: bytes, *, name: str = "", region: str = "") -> None:
        m = self.d.mark
        with self._tx() as cur:
            cur.execute(f"SELECT 1 FROM halls WHERE hall = {m}", (hall,))
            if cur.fetchone():
                raise Conflict(f"hall {hall} already has a credential (use --rotate to replace it)")
            sealed = self._secret_box(cur).seal(hall, key)
            cur.execute(
                f"INSERT INTO halls (hall, secret, created_at, name, region) VALUES ({self.d.marks(5)})",
                (hall, sealed, time.time(), name, region),
            )
            for lane in LANES:
                cur.execute(f"INSERT INTO lanes (hall, lane) VALUES ({m}, {m})", (hall, lane))

    def rotate_key(self, hall: str, key: bytes) -> None:
        m = self.d.mark
        with self._tx() as cur:
            sealed = self._secret_box(cur).seal(hall, key)
            cur.execute(f"UPDATE halls SET secret = {m} WHERE hall = {m}", (sealed, hall))
            if cur.rowcount != 1:
                raise NotFound(f"hall {hall} is not known to HQ")

    def describe_hall(self, hall: str, *, name: str | None = None, region: str | None = None) -> None:
        """Set a hall's name or region (the fleet view lists halls by region)."""
        m = self.d.mark
        with self._tx() as cur:
            for column, value in (("name", name), ("region", region)):
                if value is not None:
                    cur.execute(f"UPDATE halls SET {column} = {m} WHERE hall = {m}", (value, hall))
                    if cur.rowcount != 1:
                        raise NotFound(f"hall {hall} is not known to HQ")

    def hall_key(self, hall: str) -> bytes | None:
        """The hall's key; None for a hall HQ does not know; :class:`KeyFileError` when it cannot be opened."""
        return self.credentials(hall, "")[0]

    def credentials(self, hall: str, nonce: str) -> tuple[bytes | None, bool]:
        """The hall's key (as :meth:`hall_key`) and whether ``nonce`` was already used by this hall.

        One statement, outside any write transaction. The opened key is kept per sealed text, so a key
        rotated (or lost) by any process is read anew at the next request.
        """
        m = self.d.mark
        row = self._read_one(
            f"SELECT secret, EXISTS (SELECT 1 FROM nonces WHERE hall = {m} AND nonce = {m}) FROM halls WHERE hall = {m}",
            (hall, nonce, hall),
        )
        if row is None:
            return None, False
        sealed, used = row[0], bool(row[1])
        if sealed == LOST:
            raise KeyFileError(f"hall {hall}'s key was lost with HQ's old key file: issue it a new credential")
        cached = self._keys.get(hall)
        if cached is not None and cached[0] == sealed:
            return cached[1], used
        box = self._box
        if box is None:
            with self._tx() as cur:
                box = self._secret_box(cur)
        key = box.open(hall, sealed)
        if len(self._keys) >= KEYS_KEPT:
            self._keys.clear()
        self._keys[hall] = (sealed, key)
        return key, used

    def use_nonce(self, hall: str, nonce: str, now: float) -> bool:
        """Remember ``nonce`` for ``hall``; False when it was already used (a replay)."""
        with self._tx() as cur:
            return self._keep_nonce(cur, hall, nonce, now)

    def _keep_nonce(self, cur: Any, hall: str, nonce: str, now: float, *, seen: bool = True) -> bool:
        """Inside a transaction: keep ``nonce`` (and, with ``seen``, when the hall was last heard from); False for a replay."""
        m = self.d.mark
        if now - self._purged > 60:
            cur.execute(f"DELETE FROM nonces WHERE at < {m}", (now - NONCE_KEEP_S,))
            self._purged = now
        cur.execute(
            f"INSERT INTO nonces (hall, nonce, at) VALUES ({self.d.marks(3)}) ON CONFLICT DO NOTHING",
            (hall, nonce, now),
        )
        fresh: bool = cur.rowcount == 1
        if fresh and seen:
            cur.execute(f"UPDATE halls SET last_seen = {m} WHERE hall = {m}", (now, hall))
        return fresh

    def halls(self) -> list[str]:
        with self._tx() as cur:
            cur.execute("SELECT hall FROM halls ORDER BY hall")
            return [r[0] for r in cur.fetchall()]

    # -- up ---------------------------------------------------------------------
    def ingest(
        self,
        hall: str,
        lane: str,
        after: int,
        head: int,
        events: list[dict[str, Any]],
        *,
        now: float,
        nonce: str | None = None,
    ) -> int:
        """Store a batch of one lane following ``after``; return the lane's cursor afterwards.

        With ``nonce``, the request's nonce is kept in the same transaction (:class:`Replayed` when it was
        used already), so a batch over HTTP is one transaction; a refused batch keeps nothing, its nonce neither.
        """
        batches.check(lane, after, head, events)
        try:
            return self._ingest(hall, lane, after, head, events, now, nonce)
        except Duplicate:
            raise self._held_elsewhere(hall, lane, events) from None
        except UnicodeEncodeError:  # JSON's \udXXX escapes can carry what no database column takes
            i = next((i for i, e in enumerate(events) if not _storable(e)), 0)
            raise Inconsistent(
                lane,
                f"events[{i}].data",
                "holds a lone UTF-16 surrogate (\\udXXX), which is not text",
                seq=events[i]["seq"],
            ) from None

    def _ingest(
        self, hall: str, lane: str, after: int, head: int, events: list[dict[str, Any]], now: float, nonce: str | None
    ) -> int:
        m = self.d.mark
        with self._tx() as cur:
            if nonce is not None and not self._keep_nonce(cur, hall, nonce, now, seen=False):  # seen: below
                raise Replayed("nonce already used (replayed request)")
            cur.execute(f"SELECT cursor FROM lanes WHERE hall = {m} AND lane = {m}{self.d.lock_rows}", (hall, lane))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"hall {hall} is not known to HQ")
            cursor = int(row[0])
            seqs = [e["seq"] for e in events]
            if after > cursor or (after < cursor < seqs[-1] and cursor not in seqs):
                raise Gap(lane, cursor, after)
            new = [e for e in events if e["seq"] > cursor]
            old = events[: len(events) - len(new)]
            if old:
                self._check_held(cur, hall, lane, old)
            if new:
                self.d.insert_many(
                    cur,
                    "events",
                    EVENT_COLS,
                    [
                        (hall, e["seq"], lane, e["id"], e["ts"], e["source"], e["topic"], _text(e["data"]), now)
                        for e in new
                    ],
                )
                fleet.project(cur, m, hall, new, self.zone)
                repairs.project(cur, m, hall, new, now)
                shed = sum(_gap_count(e["data"]) for e in new if e["topic"] == "sync.gap")
                cursor = new[-1]["seq"]
                cur.execute(
                    f"UPDATE lanes SET cursor = {m}, acked_at = {m} WHERE hall = {m} AND lane = {m}",
                    (cursor, now, hall, lane),
                )
                cur.execute(
                    f"UPDATE halls SET held = held + {m}, shed = shed + {m}, "
                    f"head = CASE WHEN head > {m} THEN head ELSE {m} END, last_ack = {m}, "
                    f"last_seen = CASE WHEN {m} THEN {m} ELSE last_seen END WHERE hall = {m}",
                    (len(new), shed, head, head, now, nonce is not None, now, hall),
                )
            else:
                cur.execute(
                    f"UPDATE halls SET head = CASE WHEN head > {m} THEN head ELSE {m} END, "
                    f"last_seen = CASE WHEN {m} THEN {m} ELSE last_seen END WHERE hall = {m}",
                    (head, head, nonce is not None, now, hall),
                )
        return cursor

    def _check_held(self, cur: Any, hall: str, lane: str, old: list[dict[str, Any]]) -> None:
        """Events at or below the cursor, sent again: each must be the very event HQ holds in this lane."""
        m = self.d.mark
        cur.execute(
            f"SELECT seq, lane, id FROM events WHERE hall = {m} AND seq >= {m} AND seq <= {m}",
            (hall, old[0]["seq"], old[-1]["seq"]),
        )
        held = {int(r[0]): (r[1], r[2]) for r in cur.fetchall()}
        for i, e in enumerate(old):
            got = held.get(e["seq"])
            if got is None:
                raise Inconsistent(
                    lane,
                    f"events[{i}].seq",
                    f"seq {e['seq']} is at or below HQ's cursor of this lane, but HQ never received it in this lane",
                    seq=e["seq"],
                )
            if got != (lane, e["id"]):
                raise Inconsistent(
                    lane,
                    f"events[{i}].seq",
                    f"seq {e['seq']} (event {e['id']}) is held at HQ as event {got[1]} of lane {got[0]}",
                    seq=e["seq"],
                )

    def _held_elsewhere(self, hall: str, lane: str, events: list[dict[str, Any]]) -> Inconsistent:
        """After a duplicate key: which seq of the batch HQ already holds, and in which lane."""
        m = self.d.mark
        with self._tx() as cur:
            cur.execute(
                f"SELECT seq, lane, id FROM events WHERE hall = {m} AND seq >= {m} AND seq <= {m}",
                (hall, events[0]["seq"], events[-1]["seq"]),
            )
            held = {int(r[0]): (r[1], r[2]) for r in cur.fetchall()}
        for i, e in enumerate(events):
            if e["seq"] in held and held[e["seq"]] != (lane, e["id"]):
                other_lane, other_id = held[e["seq"]]
                return Inconsistent(
                    lane,
                    f"events[{i}].seq",
                    f"seq {e['seq']} is already held at HQ in lane {other_lane} (event {other_id}); "
                    "a seq belongs to one lane only",
                    seq=e["seq"],
                )
        return Inconsistent(lane, "events", "the batch collides with events HQ holds")

    def cursors(self, hall: str) -> dict[str, int]:
        with self._tx() as cur:
            cur.execute(f"SELECT lane, cursor FROM lanes WHERE hall = {self.d.mark}", (hall,))
            rows = cur.fetchall()
        if not rows:
            raise NotFound(f"hall {hall} is not known to HQ")
        return {r[0]: int(r[1]) for r in rows}

    def status(self, hall: str) -> dict[str, Any]:
        m = self.d.mark
        with self._tx() as cur:
            cur.execute(f"SELECT head, held, shed, last_seen, last_ack FROM halls WHERE hall = {m}", (hall,))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"hall {hall} is not known to HQ")
            cur.execute(f"SELECT lane, cursor, acked_at FROM lanes WHERE hall = {m}", (hall,))
            lanes = {r[0]: {"cursor": int(r[1]), "last_ack": _iso(r[2])} for r in cur.fetchall()}
            cur.execute(
                f"SELECT version, applied, error, at FROM bundle_results WHERE hall = {m} ORDER BY at DESC LIMIT 1",
                (hall,),
            )
            res = cur.fetchone()
        head, held, shed = int(row[0]), int(row[1]), int(row[2])
        return {
            "hall": hall,
            "head": head,
            "held": held,
            "shed": shed,
            "backlog": max(0, head - held - shed),
            "last_seen": _iso(row[3]),
            "last_ack": _iso(row[4]),
            "lanes": lanes,
            "bundle": {"version": int(res[0]), "applied": bool(res[1]), "error": res[2], "at": _iso(res[3])}
            if res
            else None,
        }

    def events(self, hall: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """The hall's events held, in seq order (across lanes)."""
        m = self.d.mark
        with self._tx() as cur:
            cur.execute(
                f"SELECT seq, id, ts, source, topic, data FROM events WHERE hall = {m} AND seq > {m} "
                f"ORDER BY seq LIMIT {m}",
                (hall, after, limit),
            )
            rows = cur.fetchall()
        return [
            {"v": 1, "id": r[1], "ts": r[2], "source": r[3], "topic": r[4], "data": json.loads(r[5]), "seq": int(r[0])}
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        """Rows per data table (nonces excepted): what a rejected request must not change."""
        out = {}
        with self._tx() as cur:
            for table in ("halls", "events", "bundles", "bundle_results"):
                cur.execute(f"SELECT COUNT(*) FROM {table}")
                out[table] = int(cur.fetchone()[0])
            cur.execute("SELECT COALESCE(SUM(cursor), 0) FROM lanes")
            out["cursors"] = int(cur.fetchone()[0])
        return out

    def schema_version(self) -> int:
        with self._tx() as cur:
            cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            return int(cur.fetchone()[0])


def _storable(event: dict[str, Any]) -> bool:
    try:
        _dumps(event).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _text(data: dict[str, Any] | str) -> str:
    """An event's data as stored: the JSON text as received (:mod:`sync.hq.wire`), or an object written out."""
    return data if isinstance(data, str) else _dumps(data)


def _gap_count(data: dict[str, Any] | str) -> int:
    """How many events a ``sync.gap`` says were shed (0 when it does not say it plainly)."""
    try:
        obj = json.loads(data) if isinstance(data, str) else data
        count = obj.get("count", 0) if isinstance(obj, dict) else 0
    except (ValueError, RecursionError):
        return 0
    return count if isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= 2**40 else 0


def _iso(ts: float | None) -> str | None:
    from edge.envelope import iso

    return iso(ts)


def _key_file(url: str, d: Dialect, given: str | Path | None) -> tuple[KeyFile | None, str | None]:
    """The key file, or why there is none (raised when a hall key is first needed)."""
    if given:
        return KeyFile(given), None
    if d.name == "postgresql":
        return None, (
            f"HQ store {redact(url)} needs --key-file (or HALL_HQ_KEY_FILE): the file that seals hall keys, "
            "kept apart from the database and shared by every HQ worker"
        )
    path = sqlite_path(url)
    if path == ":memory:":
        return None, None
    return KeyFile(Path(path).with_suffix(".key")), None


def _lost(path: Path, key_id: str, url: str) -> str:
    return (
        f"HQ's key file {path} is missing, and the hall keys in this store are sealed with key {key_id}. "
        f"Restore the file from your backup (it is kept apart from the database on purpose), or start HQ with "
        f"--key-file naming where it is. If it is lost for good: `hall hq key reset --db {redact(url)} "
        f"--key-file {path}` makes a new one, then issue every hall a new credential "
        "(`hall hq hall add HALL --url URL --rotate`) and store it on its box."
    )


def open_store(url: str, *, key_file: str | Path | None = None) -> Store:
    """``postgresql://…`` (psycopg 3, with ``key_file``), ``sqlite:///path``, or a path (``:memory:`` in tests)."""
    return Store(url, key_file=key_file)
