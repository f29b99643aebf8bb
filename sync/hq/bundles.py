"""HQ's down bundles: published for a hall, a region or every hall, fetched by each hall, and the results.

A mixin of :class:`sync.hq.store.Store` (it uses the store's transactions and dialect).
"""

from __future__ import annotations

import json
import time
from typing import Any

from edge.errors import Conflict, NotFound
from sync.hq import batch as batches
from sync.hq import custkeys

ALL = "*"


class Bundles:
    d: Any
    _tx: Any

    def publish_bundle(self, body: dict[str, Any], hall: str | None = None, *, region: str | None = None) -> int:
        """Publish a bundle for one hall, a region or every hall; its version is the body's, else the next one.

        Customers named by card are turned into the target's keyed hashes, and the bundle is validated
        with the box's own schema first (:mod:`sync.hq.custkeys`): a bundle the box would refuse is refused here.
        """
        target = hall or (f"region:{region}" if region else ALL)
        if custkeys.names_customers(body):
            body = custkeys.resolve(body, self._target_keyring(hall, region))
        with self._tx() as cur:
            if hall is not None:
                cur.execute(f"SELECT 1 FROM halls WHERE hall = {self.d.mark}", (hall,))
                if not cur.fetchone():
                    raise NotFound(f"hall {hall} is not known to HQ")
            elif region is not None:  # a misspelt region would publish a bundle that no hall ever fetches
                cur.execute("SELECT DISTINCT region FROM halls WHERE region <> '' ORDER BY region")
                regions = [r[0] for r in cur.fetchall()]
                if region not in regions:
                    known = ", ".join(regions[:20]) or "none: hall hq hall describe HALL --region R"
                    raise NotFound(f"no hall is in region {region} (regions: {known})")
            cur.execute("SELECT COALESCE(MAX(version), 0) FROM bundles")
            top = int(cur.fetchone()[0])
            version = body.get("version")
            if version is None:
                version = top + 1
            elif not isinstance(version, int) or isinstance(version, bool) or not top < version <= batches.MAX_SEQ:
                raise Conflict(f"bundle version {version!r} must be an integer above {top}, the latest published")
            body = {**body, "version": version}
            body.setdefault("published_at", _iso(time.time()))
            custkeys.validate(body)
            cur.execute(
                f"INSERT INTO bundles (version, target, published_at, body) VALUES ({self.d.marks(4)})",
                (version, target, str(body["published_at"]), _dumps(body)),
            )
        return int(version)

    def _target_keyring(self, hall: str | None, region: str | None) -> Any:
        """The one customer keyring every hall of a bundle's target hashes with; refused when they differ."""
        if hall is not None:
            return custkeys.keyring(self, hall)
        m = self.d.mark
        with self._tx() as cur:
            if region is not None:
                cur.execute(f"SELECT hall FROM halls WHERE region = {m} ORDER BY hall", (region,))
            else:
                cur.execute("SELECT hall FROM halls ORDER BY hall")
            members = [r[0] for r in cur.fetchall()]
        if not members:
            raise NotFound(f"no hall is in region {region}" if region else "HQ knows no hall")
        rings = {h: custkeys.keyring(self, h) for h in members}
        ids = {r.current.id for r in rings.values()}
        if len(ids) > 1:
            first = rings[members[0]].current.id
            odd = [h for h in members if rings[h].current.id != first]
            raise Conflict(
                f"the bundle names customers by card, but its halls hash with different customer keys "
                f"({', '.join(odd[:5])} differ from {members[0]}): publish per hall or per region"
            )
        return rings[members[0]]

    def bundle_for(self, hall: str, after: int) -> dict[str, Any] | None:
        """The newest bundle for ``hall`` (its own, its region's or one for all) above version ``after``."""
        m = self.d.mark
        with self._tx() as cur:
            cur.execute(f"SELECT region FROM halls WHERE hall = {m}", (hall,))
            row = cur.fetchone()
            region = f"region:{row[0]}" if row and row[0] else ALL
            cur.execute(
                f"SELECT body FROM bundles WHERE target IN ({m}, {m}, {m}) AND version > {m} "
                "ORDER BY version DESC LIMIT 1",
                (hall, ALL, region, after),
            )
            row = cur.fetchone()
        return json.loads(row[0]) if row else None

    def record_bundle_result(self, hall: str, version: int, applied: bool, error: str | None, now: float) -> None:
        m = self.d.mark
        with self._tx() as cur:
            cur.execute(f"SELECT region FROM halls WHERE hall = {m}", (hall,))
            row = cur.fetchone()
            region = f"region:{row[0]}" if row and row[0] else ALL
            cur.execute(
                f"SELECT 1 FROM bundles WHERE version = {m} AND target IN ({m}, {m}, {m})", (version, hall, ALL, region)
            )
            if not cur.fetchone():
                raise NotFound(f"bundle version {version} was not published for hall {hall}")
            cur.execute(
                f"INSERT INTO bundle_results (hall, version, applied, error, at) VALUES ({self.d.marks(5)}) "
                "ON CONFLICT (hall, version) DO UPDATE SET applied = excluded.applied, error = excluded.error, "
                "at = excluded.at",
                (hall, version, applied, error, now),
            )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _iso(ts: float | None) -> str | None:
    from edge.envelope import iso

    return iso(ts)
