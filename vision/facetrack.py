"""Faces on a camera: anonymous expression shares, VIP arrival for consenting VIPs, the kiosk's face work.

:class:`FaceStage` runs only on cameras configured with ``faces = true``.
Every ``every_s`` seconds it looks for faces over the whole frame (YuNet) and
gives each to the person track whose box holds the face's centre in its upper
half.

- **Expression** (with an :class:`~vision.emotion.EmotionWindow`): every usable
  face adds its expression to its track's mean, and the window's anonymous
  shares per zone go out as ``emotion.window``; a zone configured with a
  ``counter`` adds ``"counter"`` to its reports.
- **VIP arrival** (cameras with ``vip = true`` only): a usable face is compared
  with the gallery entries consented to ``vip_arrival`` and nothing else. A
  :class:`~vision.matching.Voter` per track names a customer only when several
  frames agree. Staff are told (``vip.arrived`` ``{"who", "camera", "source"}``,
  ``who`` being the display name HQ gave, never the card) only when HQ's bundle
  tags the customer with a VIP tag (``lookup``), the face showed a sign of life
  on its track (the head turning with parallax, or a blink: a poster or a photo on
  a counter does not arrive), and not already this visit (``visit_gap_s``, hall
  wide, read from the audit). Each announcement, and each match withheld, is
  audited first. The event is not logged.
- **The kiosk** (cameras with ``kiosk = "<id>"``): :class:`~vision.kioskface.KioskFaces`
  takes every frame while a customer takes a ticket by face or enrols.

The gallery is loaded once into a :class:`~vision.matching.GalleryIndex`;
enrolments and withdrawals reach it as changes (:meth:`FaceStage.apply_changes`,
sent by the service), so the frame loop never reads the gallery file.
Embeddings stay in this process and are dropped with their track.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vision.analysis import Fact
from vision.audit import AuditError, AuditLog
from vision.emotion import EmotionWindow
from vision.gallery import Gallery
from vision.geometry import Polygon
from vision.kioskface import KioskFaces, Lookup
from vision.matching import GalleryIndex, Voter
from vision.people import Track

log = logging.getLogger("hall.vision")
VISIT_GAP_S = 3 * 3600.0
LIFE_WAIT_S = 30.0  # how long a matched VIP's track may take to show a sign of life
LIFE_YAW_DEG = 8.0  # head turned this much over the track (five points and the mesh agreeing)


@dataclass
class _Life:
    """Signs of life of one matched track: head yaw (five points and mesh) and eye ratio over time."""

    entry: str
    since: float
    score: float
    yaws: list[tuple[float, float]] = field(default_factory=list)
    eyes: list[float] = field(default_factory=list)

    def alive(self) -> bool:
        if len(self.yaws) >= 2:
            five = [y[0] for y in self.yaws]
            mesh = [y[1] for y in self.yaws]
            if max(five) - min(five) >= LIFE_YAW_DEG and max(mesh) - min(mesh) >= LIFE_YAW_DEG * 0.6:
                return True
        if len(self.eyes) >= 3:
            level = statistics.median(self.eyes)
            return min(self.eyes) < 0.8 * level
        return False


class FaceStage:
    def __init__(
        self,
        camera_name: str,
        gallery: Gallery,
        *,
        every_s: float = 0.0,
        encoder: Any = None,
        zones: list[tuple[str, Polygon]] | None = None,
        emotions: EmotionWindow | None = None,
        expressions: Any = None,
        match_threshold: float | None = None,
        counters: dict[str, str] | None = None,
        vip: bool = False,
        audit: AuditLog | None = None,
        lookup: Lookup | None = None,
        vip_tags: frozenset[str] = frozenset({"VIP"}),
        kiosk: KioskFaces | Callable[[GalleryIndex], KioskFaces] | None = None,
        visit_gap_s: float = VISIT_GAP_S,
        retention_days: int = 180,
    ) -> None:
        if encoder is None:
            from vision.embed import FaceEncoder

            encoder = FaceEncoder()
        self.encoder = encoder
        self.zones = zones or []
        self.counters = counters or {}  # zone → the counter whose customers stand there
        self.emotions = emotions
        if emotions is not None and expressions is None:
            from vision.emotion import ExpressionModel

            expressions = ExpressionModel()
        self.expressions = expressions
        self.camera = camera_name
        self.gallery = gallery
        self.every_s = every_s
        self.last_search: float | None = None
        self.index = GalleryIndex.load(gallery)
        self.voters: dict[int, Voter] = {}
        self.match_threshold = match_threshold
        self.vip = vip
        self.audit = audit
        self.lookup = lookup
        self.vip_tags = vip_tags
        self.visit_gap_s = visit_gap_s
        self.retention_days = retention_days
        self.lives: dict[int, _Life] = {}
        self.done: set[int] = set()
        self.mesher: Any = None
        self.kiosk = kiosk(self.index) if callable(kiosk) else kiosk

    def _voter(self) -> Voter:
        return Voter() if self.match_threshold is None else Voter(threshold=self.match_threshold)

    def apply_changes(self, changes: list[tuple[int, str, str]]) -> int:
        """Enrolments and withdrawals since the index was current (from the service, between frames)."""
        return self.index.apply(self.gallery, changes)

    def step(self, frame: np.ndarray, tracks: list[Track], t: float) -> list[Fact]:
        """Facts from the faces in ``frame`` (``tracks``: this frame's person tracks)."""
        from vision.faces import align, quality

        facts = self.kiosk.step(frame, t) if self.kiosk is not None else []
        alive = {tr.id for tr in tracks}
        for tid in list(self.voters):
            if tid not in alive:
                del self.voters[tid]
                self.done.discard(tid)
        for tid in list(self.lives):
            if tid not in alive:
                facts += self._withhold(self.lives.pop(tid), "the face left before showing a sign of life")
        if self.emotions is not None:
            facts += [self._emotion(r) for r in self.emotions.tick(t)]
        vip = self.vip and self.audit is not None and self.index.count("vip_arrival") > 0
        if not vip and self.emotions is None:
            return facts
        if self.last_search is not None and 0 <= t - self.last_search < self.every_s:
            return facts
        self.last_search = t
        for track, face in self._faces(frame, tracks):
            q = quality(frame, face)
            if track.id in self.lives:
                facts += self._watch_safely(track.id, frame, face, t)
            if not q.ok:
                continue
            if self.emotions is not None:
                scores = self.expressions.scores(frame, face.box)
                for report in self.emotions.add(track.id, self._zone(track), scores, t):
                    facts.append(self._emotion(report))
            if not vip or track.id in self.done or track.id in self.lives:
                continue
            vec = self.encoder.embedder.embed([align(frame, face.landmarks)])[0]
            best, sim, second = self.index.best_two(vec, "vip_arrival")
            decided = self.voters.setdefault(track.id, self._voter()).add(best, sim, second)
            if decided is not None:
                self.lives[track.id] = _Life(decided, t, sim)
                facts += self._watch_safely(track.id, frame, face, t)
        return facts

    def _watch_safely(self, tid: int, frame: np.ndarray, face: Any, t: float) -> list[Fact]:
        """:meth:`_watch`; without an audit no one is announced (and the track is left alone)."""
        try:
            return self._watch(tid, frame, face, t)
        except AuditError as exc:
            log.error("camera %s: VIP arrival not announced: %s", self.camera, exc)
            self.lives.pop(tid, None)
            self.done.add(tid)
            return []

    # -- VIP arrival ----------------------------------------------------------------
    def _watch(self, tid: int, frame: np.ndarray, face: Any, t: float) -> list[Fact]:
        """One more look at a matched track's face: alive → announce; too long without → withhold."""
        from vision.faces import head_pose
        from vision.liveness import eye_ratio

        life = self.lives[tid]
        if self.mesher is None:
            from vision.facemesh import FaceMesh

            self.mesher = FaceMesh()
        mesh = self.mesher.mesh(frame, face.landmarks)
        life.yaws.append((head_pose(face.landmarks).yaw, mesh.pose().yaw))
        life.eyes.append(eye_ratio(mesh.points))
        if life.alive():
            del self.lives[tid]
            self.done.add(tid)
            return self._announce(life, t)
        if t - life.since > LIFE_WAIT_S:
            del self.lives[tid]
            self.done.add(tid)
            return self._withhold(life, f"no sign of life in {LIFE_WAIT_S:.0f} s (a photo or a poster?)")
        return []

    def _ref(self, entry_id: str) -> str:
        got = self.gallery.entry(entry_id)
        return got[0].ref if got is not None else ""

    def _withhold(self, life: _Life, reason: str) -> list[Fact]:
        assert self.audit is not None
        self.audit.record(
            place=f"camera:{self.camera}",
            purpose="vip_arrival",
            decision="withheld",
            ref=self._ref(life.entry),
            score=life.score,
            reason=reason,
        )
        return []

    def _announce(self, life: _Life, t: float) -> list[Fact]:
        assert self.audit is not None
        ref = self._ref(life.entry)
        if not ref:
            return []  # withdrawn meanwhile
        found = self.lookup(ref) if self.lookup is not None else None
        tags, display = found if found is not None else ([], "")
        if not self.vip_tags & set(tags):
            return self._withhold(life, "HQ does not tag this customer VIP")
        last = self.audit.last(purpose="vip_arrival", decision="announced", ref=ref)
        if last is not None and self.audit.clock() - last < self.visit_gap_s:
            return []  # the same visit, seen again (by this camera or another)
        self.audit.record(
            place=f"camera:{self.camera}", purpose="vip_arrival", decision="announced", ref=ref, score=life.score
        )
        self.gallery.touch_ref(ref, self.retention_days)
        data = {"who": display or "VIP 客户", "camera": self.camera, "source": f"camera:{self.camera}"}
        return [Fact("vip.arrived", data, durable=False)]

    # -- tracks and zones -------------------------------------------------------------
    def _faces(self, frame: np.ndarray, tracks: list[Track]) -> list[tuple[Track, Any]]:
        """Faces over the whole frame, each with the confirmed person track it belongs to (faces
        with no such track are left out: a VIP is followed by their track's votes)."""
        live = [tr for tr in tracks if tr.confirmed and not tr.missed]
        if not live:
            return []
        out, taken = [], set()
        for face in self.encoder.detector.detect(frame):
            owner = _owner(face.box, live)
            if owner is not None and owner.id not in taken:
                taken.add(owner.id)
                out.append((owner, face))
        return out

    def _emotion(self, report: dict[str, Any]) -> Fact:
        """An ``emotion.window`` fact; a counter's zone names its counter, so the hall sees it beside
        that counter's ratings."""
        counter = self.counters.get(str(report.get("zone")))
        return Fact("emotion.window", {**report, "counter": counter} if counter else report, durable=True)

    def _zone(self, track: Track) -> str:
        for name, polygon in self.zones:
            if polygon.contains(track.feet):
                return name
        return self.camera


def _owner(box: tuple[int, int, int, int], tracks: list[Track]) -> Track | None:
    """The track whose box holds the face centre in its upper half (the smallest such box)."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    best: Track | None = None
    for tr in tracks:
        x, y, w, h = tr.box
        if x <= cx <= x + w and y <= cy <= y + h * 0.5 and (best is None or w * h < best.box[2] * best.box[3]):
            best = tr
    return best
