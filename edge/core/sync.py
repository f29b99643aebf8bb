"""The core's side of HQ sync: the log as the outbox, acknowledgements, shedding, down bundles.

The ``sync`` agent never writes ``hall.db``; it asks the core:

- ``sync.batch {lane, after, limit, text}`` (read): the lane's events with ``seq > after`` in seq order,
  with the log's head; with ``text`` each event's data is the JSON text the log holds (the agent
  parses it once, to scrub it, and sends clean events' text on as it is); with ``packed`` the batch comes as
  HQ takes it, built by SQLite from the log's text and gzip-compressed (``body``, base64; with ``count`` and
  ``last``): the agent inflates it to scrub it, and sends those very bytes when nothing needs scrubbing. Refused (``conflict``) when ``after`` lies below what was already reclaimed,
  since HQ would otherwise get a hole (see :mod:`edge.schemas.sync` for lanes and priorities).
- ``sync.acked {lane, seq, keep_s}``: HQ holds the lane up to ``seq``; recorded durably, then the
  lane's acknowledged events older than ``keep_s`` are deleted from the log (the projections,
  tickets, evaluations and the rest, stay), looked for at most once a minute per lane (at once when
  ``keep_s`` is 0). The newest event is always kept so seqs never repeat.
- ``sync.shed {max_events, reason}``: the disk is full. Every acknowledged event goes first, then
  up to ``max_events`` unacknowledged *analytics* events, oldest first, recorded by a ``sync.gap``
  event (records lane) naming the lane, the seq range and the count, so HQ sees the hole. Alerts and
  records (tickets, evaluations, …) are never shed.
- ``sync.link {ok, error}``: the agent's last link outcome (sent on change only).
- ``sync.status`` (read): per-lane cursor and backlog, the overall cursor (every seq up to it is
  acknowledged or gone), last acknowledgement, the link outcome and the bundle in force. Status is
  computed from acknowledged data; the agent also publishes it as a ``sync.status`` event
  (``durable=False``) for the panel.
- ``bundle.apply {bundle}``: HQ's down bundle, validated whole (:class:`edge.schemas.sync.Bundle`,
  and every customer tag must be one the hall's config knows) and applied in the request's
  transaction: its items replace the previous bundle's, and its customer tags replace, in the
  ``customer_tags`` table the queue engine reads, the tags of the hashes the previous bundle set.
  A bad bundle changes nothing, is answered ``{"applied": false, "error": …}`` and recorded by a
  ``bundle.refused`` event; a good one by ``bundle.applied``. Re-applying the bundle in force is a
  no-op; an older version is refused.
- Forms: a bundle that carries form templates (``forms``) replaces the hall's default templates for the
  counter pads (see :mod:`edge.core.records`); each must belong to a business the hall offers.
- ``bundle.status`` (read) and ``bundle.lookup {customer_hash | address}`` (read) for the panel and
  kiosk: version and time of the bundle in force; a customer's bills and usage, and the outages at
  their supply address (``outages_for: "supply"``; the address itself is not returned); outages by address.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from edge import config, envelope
from edge.config import HallConfig
from edge.core.hub import MAX_REQUEST_BYTES
from edge.errors import ConfigError, Conflict, InvalidRequest
from edge.schemas import sync as s
from edge.schemas.bus import REPLY_EVENTS_BYTES

if TYPE_CHECKING:
    from edge.core.service import Core

RECLAIM_EVERY_S = 60.0  # acknowledged events are looked for at most this often per lane (keep_s=0: always)


def register(core: Core) -> None:
    area = SyncArea(core)
    for topic, handler in (
        ("sync.batch", area.batch),
        ("sync.acked", area.acked),
        ("sync.shed", area.shed),
        ("sync.link", area.link),
        ("sync.status", area.status),
        ("bundle.status", area.bundle_status),
        ("bundle.lookup", area.lookup),
    ):
        core.route(topic, handler, s)
    core.route("bundle.apply", area.apply_bundle, s, max_bytes=MAX_REQUEST_BYTES)  # HQ's bundles are large


class SyncArea:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.db = core.db
        self._reclaimed_at: dict[str, float] = {}

    # -- up -------------------------------------------------------------------
    def _lane(self, lane: str) -> tuple[int, float | None, int]:
        row = self.db.one("SELECT acked, acked_at, reclaimed FROM sync_lanes WHERE lane = ?", (lane,))
        return (row[0], row[1], row[2]) if row else (0, None, 0)

    def _head(self) -> int:
        row = self.db.one("SELECT COALESCE(MAX(seq), 0) FROM events")
        return int(row[0]) if row else 0

    def batch(self, req: s.SyncBatch, env: envelope.Envelope) -> dict[str, Any]:
        _, _, reclaimed = self._lane(req.lane)
        if req.after < reclaimed:
            raise Conflict(
                f"lane {req.lane}: events up to seq {reclaimed} were reclaimed after HQ acknowledged them, "
                f"but HQ now asks from seq {req.after}"
            )
        if req.packed:
            return self._packed(req)
        sql = (
            f"SELECT seq, id, ts, source, topic, data FROM events WHERE seq > ? AND {s.lane_sql(req.lane)} "
            "ORDER BY seq LIMIT ?"
        )
        if req.text:  # the data as the log holds it: not parsed here only to be written out again
            events: list[dict[str, Any]] = []
            total = 0
            for seq, eid, ts, source, topic, data in self.db.conn.execute(sql, (req.after, req.limit)):
                total += len(data)
                if events and total > REPLY_EVENTS_BYTES:
                    break
                events.append({"v": envelope.VERSION, "id": eid, "ts": ts, "source": source, "topic": topic,
                               "data": data, "seq": seq})  # fmt: skip
        else:
            events = self.db.read_events(sql, (req.after, req.limit), max_bytes=REPLY_EVENTS_BYTES)
        return {"lane": req.lane, "after": req.after, "head": self._head(), "events": events}

    def _packed(self, req: s.SyncBatch) -> dict[str, Any]:
        """The batch as HQ takes it, each event's JSON made by SQLite from the log's columns (no row becomes a dict)."""
        sql = (
            f'SELECT seq, length(data), \'{{"v":{envelope.VERSION},"id":\' || json_quote(id) || '
            "',\"ts\":' || json_quote(ts) || ',\"source\":' || json_quote(source) || "
            "',\"topic\":' || json_quote(topic) || ',\"data\":' || data || ',\"seq\":' || seq || '}' "
            f"FROM events WHERE seq > ? AND {s.lane_sql(req.lane)} ORDER BY seq LIMIT ?"
        )
        parts: list[str] = []
        total = last = 0
        for seq, size, text in self.db.conn.execute(sql, (req.after, req.limit)):
            total += size
            if parts and total > REPLY_EVENTS_BYTES:
                break
            parts.append(text)
            last = seq
        head = self._head()
        body = f'{{"lane":"{req.lane}","after":{req.after},"head":{head},"events":[{",".join(parts)}]}}'
        packed = base64.b64encode(gzip.compress(body.encode(), compresslevel=1)).decode("ascii") if parts else ""
        return {"lane": req.lane, "after": req.after, "head": head, "count": len(parts), "last": last, "body": packed}

    def acked(self, req: s.SyncAcked, env: envelope.Envelope) -> dict[str, Any]:
        head = self._head()
        if req.seq > head:
            raise InvalidRequest(f"sync.acked: seq {req.seq} is beyond the log's head {head}")
        acked, _, _ = self._lane(req.lane)
        now = self.core.clock()
        if req.seq >= acked:
            self.db.execute(
                "INSERT INTO sync_lanes (lane, acked, acked_at) VALUES (?, ?, ?) "
                "ON CONFLICT(lane) DO UPDATE SET acked = excluded.acked, acked_at = excluded.acked_at",
                (req.lane, req.seq, now),
            )
        reclaimed = 0
        if req.keep_s == 0 or now - self._reclaimed_at.get(req.lane, 0.0) >= RECLAIM_EVERY_S:
            self._reclaimed_at[req.lane] = now
            reclaimed = self._reclaim(req.lane, max(acked, req.seq), envelope.iso(now - req.keep_s) or "")
        return {"lane": req.lane, "acked": max(acked, req.seq), "reclaimed": reclaimed}

    def _reclaim(self, lane: s.Lane, upto: int, before_ts: str) -> int:
        """Delete the lane's acknowledged events up to ``upto`` written before ``before_ts``."""
        head = self._head()
        floor = self._lane(lane)[2]
        row = self.db.one(
            f"SELECT MAX(seq), COUNT(*) FROM events WHERE seq > ? AND seq <= ? AND seq < ? AND ts < ? "
            f"AND {s.lane_sql(lane)}",
            (floor, upto, head, before_ts),
        )
        if not row or not row[1]:
            return 0
        top, count = int(row[0]), int(row[1])
        self.db.execute(
            f"DELETE FROM events WHERE seq > ? AND seq <= ? AND ts < ? AND {s.lane_sql(lane)}",
            (floor, top, before_ts),
        )
        self.db.execute(
            "INSERT INTO sync_lanes (lane, reclaimed) VALUES (?, ?) "
            "ON CONFLICT(lane) DO UPDATE SET reclaimed = MAX(reclaimed, excluded.reclaimed)",
            (lane, top),
        )
        return count

    def shed(self, req: s.SyncShed, env: envelope.Envelope) -> dict[str, Any]:
        far_future = "9999"
        reclaimed = sum(self._reclaim(lane, self._lane(lane)[0], far_future) for lane in s.LANES)
        acked, _, _ = self._lane("analytics")
        head = self._head()
        rows = self.db.all(
            f"SELECT seq FROM events WHERE seq > ? AND seq < ? AND {s.lane_sql('analytics')} ORDER BY seq LIMIT ?",
            (acked, head, req.max_events),
        )
        gap: dict[str, Any] | None = None
        if rows:
            first, last = int(rows[0][0]), int(rows[-1][0])
            self.db.execute(
                f"DELETE FROM events WHERE seq >= ? AND seq <= ? AND {s.lane_sql('analytics')}", (first, last)
            )
            gap = {"lane": "analytics", "first": first, "last": last, "count": len(rows), "reason": req.reason}
            self.core.emit("sync.gap", gap)
        return {"reclaimed": reclaimed, "shed": len(rows), "gap": gap}

    def link(self, req: s.SyncLink, env: envelope.Envelope) -> dict[str, Any]:
        out = {"ok": req.ok, "error": req.error, "url": req.url, "at": envelope.iso(self.core.clock())}
        self.db.set_meta("sync.link", json.dumps(out, ensure_ascii=False))
        return out

    def status(self, req: s.Empty, env: envelope.Envelope) -> dict[str, Any]:
        head = self._head()
        lanes: dict[str, Any] = {}
        cursor = head
        last_ack: float | None = None
        for lane in s.LANES:
            acked, acked_at, _ = self._lane(lane)
            cond = s.lane_sql(lane)
            row = self.db.one(f"SELECT COUNT(*), MIN(seq) FROM events WHERE seq > ? AND {cond}", (acked,))
            backlog, first = (int(row[0]), row[1]) if row else (0, None)
            if first is not None:
                cursor = min(cursor, int(first) - 1)
            if acked_at is not None and (last_ack is None or acked_at > last_ack):
                last_ack = acked_at
            lanes[lane] = {"cursor": acked, "backlog": backlog, "last_ack": envelope.iso(acked_at)}
        link = self.db.get_meta("sync.link")
        return {
            "head": head,
            "cursor": cursor,
            "backlog": sum(v["backlog"] for v in lanes.values()),
            "last_ack": envelope.iso(last_ack),
            "lanes": lanes,
            "link": json.loads(link) if link else None,
            "bundle": self._bundle(),
        }

    # -- down -----------------------------------------------------------------
    def apply_bundle(self, req: s.BundleApply, env: envelope.Envelope) -> dict[str, Any]:
        raw_version = req.bundle.get("version")
        version = raw_version if type(raw_version) is int else None
        current = self.db.one("SELECT version, digest FROM bundle_applied WHERE id = 1")
        digest = hashlib.sha256(json.dumps(req.bundle, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        try:
            bundle = read_bundle(req.bundle)
            if current is not None and bundle.version == current[0] and digest == current[1]:
                return {"applied": True, "version": bundle.version, "already": True}
            if current is not None and bundle.version <= current[0]:
                raise InvalidRequest(f"bundle version {bundle.version} is not newer than version {current[0]} in force")
            new_cfg = self._hall_config(bundle)
        except (InvalidRequest, ConfigError) as exc:
            error = str(exc)
            retry = isinstance(exc, NotNow)
            last = self.db.one("SELECT data FROM events WHERE topic = 'bundle.refused' ORDER BY seq DESC LIMIT 1")
            if not (
                retry
                and last is not None
                and json.loads(last[0]) == {"version": version, "error": error, "retry": True}
            ):
                self.core.emit("bundle.refused", {"version": version, "error": error, "retry": retry})
            return {
                "applied": False,
                "version": version,
                "error": error,
                "retry": retry,
                "in_force": current[0] if current else None,
            }
        counts = self._replace(bundle)
        if new_cfg is not None:
            self.core.set_config(new_cfg)
        published = bundle.published_at.isoformat()
        self.db.execute(
            "INSERT INTO bundle_applied (id, version, published_at, applied_at, digest, counts) "
            "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET version = excluded.version, "
            "published_at = excluded.published_at, applied_at = excluded.applied_at, digest = excluded.digest, "
            "counts = excluded.counts",
            (bundle.version, published, self.core.clock(), digest, json.dumps(counts)),
        )
        self.core.emit("bundle.applied", {"version": bundle.version, "published_at": published, "counts": counts})
        return {"applied": True, "version": bundle.version, "counts": counts}

    def _hall_config(self, bundle: s.Bundle) -> HallConfig | None:
        """The config with the bundle's businesses and counters, refused if it would strand a customer."""
        new = check_bundle(bundle, self.core.cfg)
        if new is None:
            return None
        served = {code for c in new.counters for code in (*c.primary, *c.secondary)}
        for code in sorted({b.code for b in self.core.cfg.businesses} | {b.code for b in new.businesses}):
            if code in served:
                continue
            row = self.db.one(
                "SELECT number FROM tickets WHERE business = ? AND state IN ('issued', 'called', 'serving') LIMIT 1",
                (code,),
            )
            if row is not None:
                raise NotNow(
                    f"with this bundle no counter would serve business {code}, and ticket {row[0]} waits for it"
                )
        closed = {c.id for c in self.core.cfg.counters} - {c.id for c in new.counters}
        for cid in sorted(closed):
            row = self.db.one("SELECT state FROM counters WHERE id = ?", (cid,))
            if row is not None and row[0] != "closed":
                raise NotNow(f"the bundle drops counter {cid} while it is {row[0]}")
            row = self.db.one(
                "SELECT number FROM tickets WHERE target_counter = ? AND state = 'issued' LIMIT 1", (cid,)
            )
            if row is not None:
                raise NotNow(f"the bundle drops counter {cid} while ticket {row[0]} waits for it")
        return new

    def _replace(self, bundle: s.Bundle) -> dict[str, int]:
        previous = [r[0] for r in self.db.all("SELECT key FROM bundle_items WHERE kind = 'tag'")]
        self.db.conn.executemany("DELETE FROM customer_tags WHERE hash = ?", [(h,) for h in previous])
        self.db.execute("DELETE FROM bundle_items")
        items: list[tuple[str, str, str]] = []
        items += [("business", b.code, b.model_dump_json()) for b in bundle.businesses]
        items += [("counter", c.id, c.model_dump_json()) for c in bundle.counters]
        items += [("staff", st.id, st.model_dump_json()) for st in bundle.staff]
        items += [("tag", t.hash, json.dumps(sorted(set(t.tags)))) for t in bundle.customer_tags]
        items += [("name", t.hash, json.dumps(t.display_name)) for t in bundle.customer_tags if t.display_name]
        items += [("outage", o.id, o.model_dump_json()) for o in bundle.outages]
        items += [("bill", f"{b.customer_hash}|{b.period}", b.model_dump_json()) for b in bundle.bills]
        items += [("usage", f"{u.customer_hash}|{u.period}", u.model_dump_json()) for u in bundle.usage]
        items += [("supply", x.customer_hash, x.model_dump_json()) for x in bundle.supplies]
        items += [("form", f.id, f.model_dump_json()) for f in bundle.forms]
        items += [("roster", f"{r.day}|{r.staff}|{r.start}", r.model_dump_json()) for r in bundle.roster]
        self.db.conn.executemany("INSERT INTO bundle_items (kind, key, data) VALUES (?, ?, ?)", items)
        self.db.conn.executemany(
            "INSERT INTO customer_tags (hash, tags) VALUES (?, ?) ON CONFLICT(hash) DO UPDATE SET tags = excluded.tags",
            [(t.hash, json.dumps(sorted(set(t.tags)))) for t in bundle.customer_tags],
        )
        kinds = ("business", "counter", "staff", "tag", "outage", "bill", "usage", "supply", "form", "roster")
        return {k: sum(1 for i in items if i[0] == k) for k in kinds}

    def bundle_status(self, req: s.Empty, env: envelope.Envelope) -> dict[str, Any]:
        return self._bundle()

    def _bundle(self) -> dict[str, Any]:
        row = self.db.one("SELECT version, published_at, applied_at, counts FROM bundle_applied WHERE id = 1")
        if row is None:
            return {"version": None, "published_at": None, "applied_at": None, "counts": {}}
        return {
            "version": row[0],
            "published_at": row[1],
            "applied_at": envelope.iso(row[2]),
            "counts": json.loads(row[3]),
        }

    def _known(self, digest: str) -> bool:
        """Whether the bundle in force holds anything of the customer with this hash."""
        lo, hi = digest + "|", digest + "}"
        row = self.db.one(
            "SELECT 1 FROM bundle_items WHERE (kind IN ('bill', 'usage') AND key >= ? AND key < ?) "
            "OR (kind IN ('supply', 'tag', 'name') AND key = ?) LIMIT 1",
            (lo, hi, digest),
        )
        return row is not None

    def lookup(self, req: s.BundleLookup, env: envelope.Envelope) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bundle": self._bundle()["version"],
            "bills": [],
            "usage": [],
            "outages": [],
        }
        # the bundle is keyed with one customer key: the first of the customer's hashes that finds anything
        hashes = [req.customer_hash, *req.also] if req.customer_hash else []
        digest = next((h for h in hashes if self._known(h)), req.customer_hash)
        if digest:
            # the customer's tags (HQ's and the hall's own, under any key accepted) and the name HQ gives staff
            tags: list[str] = []
            for h in hashes:
                row = self.db.one("SELECT tags FROM customer_tags WHERE hash = ?", (h,))
                tags += [t for t in (json.loads(row[0]) if row is not None else []) if t not in tags]
            out["tags"] = tags
            row = self.db.one("SELECT data FROM bundle_items WHERE kind = 'name' AND key = ?", (digest,))
            out["display_name"] = json.loads(row[0]) if row is not None else ""
            lo, hi = digest + "|", digest + "}"
            for kind, key in (("bill", "bills"), ("usage", "usage")):
                rows = self.db.all(
                    "SELECT data FROM bundle_items WHERE kind = ? AND key >= ? AND key < ? ORDER BY key DESC",
                    (kind, lo, hi),
                )
                out[key] = [json.loads(r[0]) for r in rows]
        address = "".join(req.address.split()) if req.address else ""
        if digest and not address:
            # the customer's own supply address (not returned): their outages come with their bills
            row = self.db.one("SELECT data FROM bundle_items WHERE kind = 'supply' AND key = ?", (digest,))
            if row is not None:
                address = "".join(json.loads(row[0])["address"].split())
                out["outages_for"] = "supply"
        if address:
            for r in self.db.all("SELECT data FROM bundle_items WHERE kind = 'outage' ORDER BY key"):
                outage = json.loads(r[0])
                if any(address.startswith("".join(a.split())) for a in outage["addresses"]):
                    out["outages"].append(outage)
        return out


class NotNow(InvalidRequest):
    """A good bundle that cannot be applied yet (it would strand a customer); the agent tries again."""


def read_bundle(raw: dict[str, Any]) -> s.Bundle:
    """HQ's down bundle as it came (the ``bundle`` of ``bundle.apply``), validated whole.

    Raises :class:`InvalidRequest` naming up to five faults (``bad bundle: outages.0.ends: …``), and no
    other error, whatever the bundle holds.
    """
    try:
        return s.Bundle.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc)) from exc


def check_bundle(bundle: s.Bundle, cfg: HallConfig) -> HallConfig | None:
    """What a valid bundle makes of the hall's config: None when it names no businesses or counters.

    Refused (:class:`InvalidRequest` or :class:`ConfigError`) when it tags customers with a tag the config
    does not know, when its businesses and counters do not make a valid hall, or when one of its forms is
    for a business the hall would not offer.
    """
    known = {t.name for t in cfg.tags}
    for entry in bundle.customer_tags:
        for tag in entry.tags:
            if tag not in known:
                raise InvalidRequest(
                    f"customer tag {tag!r} is not one this hall knows ({', '.join(sorted(known)) or 'none'})"
                )
    new = None
    if bundle.businesses or bundle.counters:
        new = config.overlay(
            cfg, [b.model_dump() for b in bundle.businesses], [c.model_dump() for c in bundle.counters]
        )
    served = {b.code for b in (new or cfg).businesses}
    for form in bundle.forms:
        if form.business not in served:
            raise InvalidRequest(f"form {form.id} is for business {form.business!r}, which this hall does not offer")
    return new


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        field = ".".join(str(p) for p in err["loc"]) or "bundle"
        parts.append(f"{field}: {'unknown field' if err['type'] == 'extra_forbidden' else err['msg']}")
    more = exc.error_count() - 5
    return "bad bundle: " + "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
