"""HQ's side of a new box: one-time provisioning tokens, spent once, and the public keys of each hall's box.

A mixin of :class:`sync.hq.store.Store` (it uses the store's transactions, dialect and secret box);
the HTTP side is :mod:`sync.hq.provision`.
"""

from __future__ import annotations

from typing import Any

from edge.schemas.sync import LANES
from sync.errors import SyncError


class ProvisionRefused(SyncError):
    """A provisioning token that cannot be used: unknown, spent or expired."""

    code = "refused"


class Boxes:
    d: Any
    _tx: Any
    _secret_box: Any

    def add_provision_token(self, hall: str, digest: str, config: str, *, expires_at: float, now: float) -> None:
        """A one-time token for a new box of ``hall`` (only its digest is kept), with the config it will get."""
        with self._tx() as cur:
            cur.execute(
                f"INSERT INTO provision_tokens (digest, hall, config, created_at, expires_at) VALUES ({self.d.marks(5)})",
                (digest, hall, config, now, expires_at),
            )

    def provision(self, digest: str, box: dict[str, str | None], make_key: Any, *, now: float) -> dict[str, Any]:
        """Spend a token: install (sealed) the key ``make_key(hall)`` agrees with the box, record its public keys.

        Refused (:class:`ProvisionRefused`) for a token HQ never made, one already used, or one expired.
        """
        m = self.d.mark
        with self._tx() as cur:
            cur.execute(
                f"SELECT hall, config, expires_at, used_at FROM provision_tokens WHERE digest = {m}{self.d.lock_rows}",
                (digest,),
            )
            row = cur.fetchone()
            if row is None:
                raise ProvisionRefused("HQ made no such provisioning token (check it, or ask HQ for one)")
            hall, config, expires_at, used_at = row
            if used_at is not None:
                raise ProvisionRefused(
                    f"this token was used at {_iso(used_at)}: a token sets up one box; ask HQ for a new one"
                )
            if expires_at < now:
                raise ProvisionRefused(f"this token expired at {_iso(expires_at)}: ask HQ for a new one")
            sealed = self._secret_box(cur).seal(hall, make_key(hall))
            cur.execute(f"UPDATE halls SET secret = {m} WHERE hall = {m}", (sealed, hall))
            if cur.rowcount == 0:
                cur.execute(
                    f"INSERT INTO halls (hall, secret, created_at) VALUES ({self.d.marks(3)})", (hall, sealed, now)
                )
                for lane in LANES:
                    cur.execute(f"INSERT INTO lanes (hall, lane) VALUES ({m}, {m})", (hall, lane))
            cur.execute(f"UPDATE provision_tokens SET used_at = {m} WHERE digest = {m}", (now, digest))
            cur.execute(f"DELETE FROM hall_boxes WHERE hall = {m}", (hall,))
            cur.execute(
                "INSERT INTO hall_boxes (hall, sync_key, bus_key, hostname, version, provisioned_at) "
                f"VALUES ({self.d.marks(6)})",
                (hall, box["sync_key"], box.get("bus_key"), box["hostname"], box["version"], now),
            )
        return {"hall": hall, "config": config}

    def box(self, hall: str) -> dict[str, Any] | None:
        """The public keys and name of the box that was last provisioned for ``hall``."""
        with self._tx() as cur:
            cur.execute(
                "SELECT sync_key, bus_key, hostname, version, provisioned_at FROM hall_boxes "
                f"WHERE hall = {self.d.mark}",
                (hall,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        keys = ("sync_key", "bus_key", "hostname", "version")
        return {**dict(zip(keys, row[:4], strict=True)), "provisioned_at": _iso(row[4])}


def _iso(ts: float | None) -> str | None:
    from edge.envelope import iso

    return iso(ts)
