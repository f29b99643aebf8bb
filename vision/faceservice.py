"""The vision service's side of face identity: requests routed to cameras, consent, answers, audit, counts.

:class:`FaceDesk` lives in the ``hall vision`` process (never in a camera
worker) and reacts to the hall's events:

- ``face.match_requested`` (kiosk): the camera facing that kiosk starts a
  ticket-by-face session; with no such camera, ``face.abstained`` (``no_camera``)
  at once, so the kiosk offers the ID card.
- ``consent.recorded`` (kiosk, durable): a grant sends that camera to enrol the
  customer for the purposes consented to; a withdrawal deletes every entry of
  the customer at once (audited), passes the deletion to every camera worker
  before anything else happens, and answers ``face.forgotten``.
- ``card.id.read`` / ``card.ic.read`` (devices) during a rotation of HQ's customer
  key (the read carries the card's hashes under the keys still accepted): the
  customer's entries enrolled under a previous key are re-keyed to the key in
  force, audited (``enrolment``/``rekeyed``), so HQ's tags made with the new key
  meet them after the overlap ends. A card read before the consent screen so
  also lets a withdrawal by card find an entry enrolled under the previous key.
- ``face.match_answered`` (kiosk): the customer's answer to a candidate is
  audited; a confirmation counts as a use, so the entry is kept another
  ``retention_days``.
- ``face.audit.requested`` (panel): answered with ``face.audit.listed``, the
  newest records (or those since a time), over the bus only.
- every hour: ``face.audit_counts`` (durable), the previous hours' decisions
  counted by purpose, which is all HQ learns of the audit.

The audit is opened when first needed. While the disk is too full to open the
audit or the gallery (:meth:`FaceDesk.check` says why), face work is refused
and nothing else: a ticket by face is answered ``face.abstained``
(``unavailable``) so the kiosk offers the ID card, an enrolment
``face.enroll_failed``, and withdrawals wait in the hall's log, applied from
there once there is room.

Handlers return the events to publish as ``(topic, data, durable)``.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.identity import HASH_RE
from edge.schemas.faces import PURPOSES
from vision.audit import AuditLog
from vision.errors import NoRoom
from vision.gallery import Gallery

log = logging.getLogger("hall.vision")
WITHDRAWAL_LATER = "; a withdrawal is applied from the hall's log once there is room"
Out = list[tuple[str, dict[str, Any], bool]]


class FaceDesk:
    def __init__(
        self,
        home_root: Path,
        cameras: list[Any],
        queues: dict[str, Any],
        *,
        retention_days: int = 180,
        hall_key: bytes | None = None,
        timezone: str = "Asia/Shanghai",
        clock: Any = time.time,
    ) -> None:
        self.home_root = home_root
        self.cameras = cameras
        self.queues = queues  # camera name → its worker's command queue (owned by the service)
        self.retention_days = retention_days
        self.hall_key = hall_key
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self._audit: AuditLog | None = None
        self.refused = ""  # why face work is refused now ("" when it is not)
        self.gallery_seq: int | None = None
        self.consent_cursor = 0  # the log's seq up to which withdrawals were applied
        self.counts_cursor: tuple[Path, int] | None = None

    @property
    def audit(self) -> AuditLog:
        """The face audit, opened on first use (:class:`~vision.audit.AuditFull` while the disk is full)."""
        if self._audit is None:
            self._audit = AuditLog.at_home(self.home_root, clock=self.clock)
        return self._audit

    def close(self) -> None:
        if self._audit is not None:
            self._audit.close()

    def check(self) -> str:
        """Open the audit and the gallery (older raw references hashed); the reason face work is refused now,
        "" when it is not. Only a full disk refuses face work; any other failure is raised."""
        try:
            self.gallery().close()
        except NoRoom as exc:
            self.refused = str(exc)
        else:
            self.refused = ""
        return self.refused

    def refusal(self, env: dict[str, Any]) -> Out:
        """The answer to a face request while face work is refused (see :meth:`check`)."""
        data = dict(env["data"])
        kiosk, request = str(data.get("kiosk", "")), str(data.get("request", ""))
        reason = f"face work refused: {self.refused}"[:200]
        if env["topic"] == "face.match_requested":
            return [
                ("face.abstained", {"kiosk": kiosk, "request": request, "code": "unavailable", "reason": reason}, False)
            ]
        if env["topic"] == "consent.recorded" and data.get("decision") == "granted":
            masked = str((data.get("customer") or {}).get("masked", ""))
            answer = {"customer": masked, "kiosk": kiosk, "request": request, "code": "unavailable", "reason": reason}
            return [("face.enroll_failed", answer, False)]
        log.warning(
            "%s not handled now (%s)%s", env["topic"], reason, WITHDRAWAL_LATER * (env["topic"] == "consent.recorded")
        )
        return []

    def gallery(self) -> Gallery:
        return Gallery.at_home(self.home_root, audit=self.audit, hall_key=self.hall_key, clock=self.clock)

    def kiosk_camera(self, kiosk: str) -> Any | None:
        """The camera with faces on that faces ``kiosk`` and has a worker, if any."""
        for camera in self.cameras:
            if camera.faces and camera.kiosk and camera.kiosk == kiosk and camera.name in self.queues:
                return camera
        return None

    # -- requests from the kiosk ------------------------------------------------------
    def on_match_requested(self, data: dict[str, Any]) -> Out:
        kiosk, request = str(data.get("kiosk", "")), str(data.get("request", ""))
        camera = self.kiosk_camera(kiosk)
        if camera is None:
            reason = f"no camera with faces on faces kiosk {kiosk or '?'}"
            self.audit.record(
                place=f"kiosk:{kiosk}",
                purpose="ticket",
                decision="abstained",
                reason=f"no_camera: {reason}",
                request=request,
            )
            answer = {"kiosk": kiosk, "request": request, "code": "no_camera", "reason": reason}
            return [("face.abstained", answer, False)]
        self.queues[camera.name].put({"op": "identify", "kiosk": kiosk, "request": request})
        return []

    def on_consent(self, data: dict[str, Any], ts: str) -> Out:
        """A kiosk's ``consent.recorded``: withdrawal deletes at once; a grant sends the kiosk's camera to enrol."""
        customer = data.get("customer") or {}
        ref, masked = str(customer.get("hash", "")), str(customer.get("masked", ""))
        kiosk, request = str(data.get("kiosk", "")), str(data.get("request", ""))
        purposes = data.get("purposes")
        if purposes is None and data.get("purpose") == "face_recognition":
            purposes = ["ticket"]  # the first consent screen offered ticket by face only
        if not isinstance(purposes, list) or not HASH_RE.match(ref):
            return []
        purposes = [p for p in purposes if p in PURPOSES]
        if data.get("decision") == "withdrawn":
            gallery = self.gallery()
            try:
                removed = gallery.remove_ref_audited(ref, place=f"kiosk:{kiosk}", reason="withdrawn by the customer")
            finally:
                gallery.close()
            self.forward_gallery_changes()  # every camera forgets the face before anything else happens
            log.info("consent withdrawn at %s: %d gallery entries deleted", kiosk, len(removed))
            return [("face.forgotten", {"customer": masked, "kiosk": kiosk, "removed": len(removed)}, False)]
        if data.get("decision") != "granted" or not purposes:
            return []
        camera = self.kiosk_camera(kiosk)
        if camera is None:
            reason = f"no camera with faces on faces kiosk {kiosk or '?'}"
            self.audit.record(
                place=f"kiosk:{kiosk}",
                purpose="enrolment",
                decision="refused",
                ref=ref,
                reason=f"no_camera: {reason}",
                request=request,
            )
            answer = {"customer": masked, "kiosk": kiosk, "request": request, "code": "no_camera", "reason": reason}
            return [("face.enroll_failed", answer, False)]
        who = {k: str(customer.get(k, "")) for k in ("kind", "hash", "masked", "name_masked")}
        who["kind"] = who["kind"] or "id"
        self.queues[camera.name].put(
            {
                "op": "enrol",
                "kiosk": kiosk,
                "request": request,
                "customer": who,
                "consent": {"when": ts, "purposes": purposes},
            }
        )
        return []

    def on_match_answered(self, data: dict[str, Any]) -> Out:
        ref, answer = str(data.get("customer_hash", "")), str(data.get("answer", ""))
        if not HASH_RE.match(ref) or answer not in ("confirmed", "rejected"):
            return []
        self.audit.record(
            place=f"kiosk:{data.get('kiosk', '')}",
            purpose="ticket",
            decision=answer,
            ref=ref,
            request=str(data.get("request", "")),
        )
        if answer == "confirmed":
            gallery = self.gallery()
            try:
                gallery.touch_ref(ref, self.retention_days)
            finally:
                gallery.close()
        return []

    def on_card_read(self, data: dict[str, Any], topic: str) -> Out:
        """A card read (``card.id.read`` / ``card.ic.read``) while HQ's customer key is rotating: the customer's
        gallery entries enrolled under the previous key take the hash under the key in force (audited)."""
        customer = data.get("customer") or {}
        ref, also = str(customer.get("hash", "")), customer.get("also")
        if not HASH_RE.match(ref) or not isinstance(also, list) or not also:
            return []
        gallery = self.gallery()
        try:
            moved = gallery.rekey_ref(ref, [str(h) for h in also], place=f"reader:{data.get('reader', topic)}")
        finally:
            gallery.close()
        if moved:
            log.info("%d gallery entr%s re-keyed under the customer key in force", len(moved),
                     "y" if len(moved) == 1 else "ies")  # fmt: skip
        return []

    # -- the panel and HQ -------------------------------------------------------------
    def on_audit_requested(self, data: dict[str, Any]) -> Out:
        limit = max(1, min(500, int(data.get("limit", 200))))
        since = float(data.get("since", 0.0))
        rows = self.audit.since(since, limit + 1) if since > 0 else self.audit.latest(limit + 1)
        more = len(rows) > limit
        rows = rows[:limit] if since > 0 else rows[-limit:]
        return [("face.audit.listed", {"request": str(data.get("request", "")), "records": rows, "more": more}, False)]

    def hourly_counts(self) -> Out:
        """``face.audit_counts`` for each whole hour since the last sent (the cursor is kept on disk)."""
        cursor_file = self.home_root / "vision" / "audit_counts.cursor"
        now_hour = int(self.clock() // 3600 * 3600)
        try:
            cursor = int(cursor_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            first = self.audit.first_time()
            cursor = now_hour if first is None else int(first // 3600 * 3600)
        out: Out = []
        for hour in range(cursor, now_hour, 3600):
            counts = self.audit.counts(hour, hour + 3600)
            if counts:
                start = datetime.fromtimestamp(hour, self.tz).isoformat(timespec="minutes")
                out.append(("face.audit_counts", {"hour": start, "counts": counts}, True))
        self.counts_cursor = (cursor_file, now_hour)
        return out

    def counts_sent(self) -> None:
        """The hourly counts were published: remember the hour they reach."""
        if self.counts_cursor is None:
            return
        cursor_file, hour = self.counts_cursor
        try:
            cursor_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cursor_file.with_suffix(".tmp")
            tmp.write_text(str(hour))
            tmp.replace(cursor_file)
        except OSError as exc:  # a full disk: these hours are counted again next time
            log.warning("audit counts cursor not saved yet: %s", exc)

    # -- the gallery and the cameras ----------------------------------------------------
    def forward_gallery_changes(self) -> int:
        """Send enrolments and deletions since the last look to every face camera; return how many.

        Cameras load the gallery once and apply these changes, so none re-reads it while analysing."""
        gallery = self.gallery()
        try:
            last = gallery.last_change()
            if self.gallery_seq is None:
                self.gallery_seq = last  # workers spawned now load the gallery as it is
                return 0
            if last <= self.gallery_seq:
                return 0
            changes = gallery.changes_since(self.gallery_seq)
        finally:
            gallery.close()
        self.gallery_seq = last
        for camera in self.cameras:
            if camera.faces and camera.name in self.queues:
                self.queues[camera.name].put({"op": "gallery", "changes": [list(c) for c in changes]})
        return len(changes)

    def _enrolled(self, ref: str) -> bool:
        gallery = self.gallery()
        try:
            return bool(HASH_RE.match(ref)) and gallery.has_ref(ref)
        finally:
            gallery.close()

    def catch_up_withdrawals(self, bus: Any) -> Out:
        """Apply every withdrawal in the hall's log after the saved cursor (a missed event, or one recorded
        while this service was down, still deletes the face); the answers to publish."""
        cursor_file = self.home_root / "vision" / "consent.cursor"
        try:
            cursor = int(cursor_file.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            cursor = 0
        cursor = max(cursor, self.consent_cursor)
        out: Out = []
        while True:
            batch = bus.request("events.since", {"seq": cursor, "prefix": "consent.recorded", "limit": 500})
            for env in batch:
                cursor = int(env["seq"])
                data = dict(env["data"])
                ref = str((data.get("customer") or {}).get("hash", ""))
                if env["topic"] == "consent.recorded" and data.get("decision") == "withdrawn" and self._enrolled(ref):
                    out += self.on_consent(data, str(env["ts"]))
            if len(batch) < 500:
                break
        self.consent_cursor = cursor
        try:
            cursor_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cursor_file.with_suffix(".tmp")
            tmp.write_text(str(cursor))
            tmp.replace(cursor_file)
        except OSError as exc:  # a full disk: kept in memory, saved next time (a restart reads again, harmlessly)
            log.warning("consent cursor %d not saved yet: %s", cursor, exc)
        return out
