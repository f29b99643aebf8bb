"""Faces on a camera: each face follows its person track; consented VIPs are recognised by vote.

:class:`FaceStage` runs only on cameras configured with ``faces = true``. Every
``every_s`` seconds it looks for faces over the whole frame (YuNet, so a face
is found wherever the camera's resolution makes it usable), gives each to the
person track whose box holds the face's centre in its upper half, and for
faces that pass the quality gate compares the embedding with the gallery. A :class:`Voter` per
track names a VIP only when several frames agree; :class:`Visits` lets a
VIP arrive once per visit, as ``vip.arrived`` ``{"entry", "who", "camera",
"source": "camera:<name>", "similarity"}``. The event is not logged: a VIP's
presence is not shipped to HQ. The gallery is loaded once into a
:class:`~vision.gallery.GalleryIndex`; enrolments and withdrawals reach it
as changes (:meth:`FaceStage.apply_changes`, sent by the service), so the
frame loop never reads the gallery file.
Embeddings stay in this process and are dropped with their track.

With an :class:`~vision.emotion.EmotionWindow`, every usable face also adds
its expression to its track's mean, and the window's anonymous shares per
zone (the zone holding the track's feet, else the camera) go out as
``emotion.window`` (logged: an analytics aggregate with no identity); a zone
configured with a ``counter`` adds ``"counter"`` to its reports.

Enrolment at a kiosk (:meth:`FaceStage.request_enrolment`, after the customer
consented there) takes the largest usable face in view on the next frames:
three embeddings make a gallery entry with the consent record and the
customer's card reference, announced as ``face.enrolled`` ``{"customer"
(masked), "kiosk", "entry"}``; none within the time allowed gives
``face.enroll_failed`` with the reason. The frames themselves are not kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vision.analysis import Fact
from vision.emotion import EmotionWindow
from vision.gallery import Gallery, GalleryIndex, Visits, Voter
from vision.geometry import Polygon
from vision.people import Track


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
        self.visits = Visits()
        self.announced: set[int] = set()
        self.enrolment: dict[str, Any] | None = None

    def _voter(self) -> Voter:
        return Voter() if self.match_threshold is None else Voter(threshold=self.match_threshold)

    def request_enrolment(self, customer: dict[str, str], kiosk: str, when: str, until: float, days: int) -> None:
        """Take the next three usable faces in view (before ``until``) as this customer's enrolment."""
        self.enrolment = {
            "customer": customer,
            "kiosk": kiosk,
            "when": when,
            "until": until,
            "days": days,
            "vectors": [],
            "reason": "no face in view",
        }

    def _enrol(self, frame: np.ndarray, t: float) -> list[Fact]:
        """One frame of a pending enrolment: the largest face, if usable, adds an embedding."""
        from vision.faces import align, quality
        from vision.gallery import Consent

        job = self.enrolment
        assert job is not None
        masked = job["customer"].get("masked", "")
        base = {"customer": masked, "kiosk": job["kiosk"], "source": f"camera:{self.camera}"}
        faces = sorted(self.encoder.detector.detect(frame), key=lambda f: -f.box[2] * f.box[3])
        if faces:
            q = quality(frame, faces[0])
            if q.ok:
                job["vectors"].append(self.encoder.embedder.embed([align(frame, faces[0].landmarks)])[0])
            else:
                job["reason"] = q.reason
        if len(job["vectors"]) >= 3:
            self.enrolment = None
            consent = Consent(
                who=masked or "customer", when=job["when"], purpose="face_recognition", screen=job["kiosk"]
            )
            vectors = np.stack(job["vectors"])
            entry = self.gallery.enroll(vectors, consent, job["customer"]["hash"], job["days"])
            self.index.add(entry, vectors, consent.who, t + job["days"] * 86400.0)  # matched from the next frame
            return [Fact("face.enrolled", {**base, "entry": entry}, durable=True)]
        if t >= job["until"]:
            self.enrolment = None
            return [Fact("face.enroll_failed", {**base, "reason": job["reason"]})]
        return []

    def apply_changes(self, changes: list[tuple[int, str, str]]) -> int:
        """Enrolments and withdrawals since the index was current (from the service, between frames)."""
        return self.index.apply(self.gallery, changes)

    def step(self, frame: np.ndarray, tracks: list[Track], t: float) -> list[Fact]:
        """Facts from the faces in ``frame`` (``tracks``: this frame's person tracks)."""
        from vision.faces import align, quality

        enrolled = self._enrol(frame, t) if self.enrolment is not None else []
        alive = {tr.id for tr in tracks}
        for tid in list(self.voters):
            if tid not in alive:
                del self.voters[tid]
                self.announced.discard(tid)
        facts = enrolled
        if self.emotions is not None:
            facts += [self._emotion(r) for r in self.emotions.tick(t)]
        if len(self.index) == 0 and self.emotions is None:
            return facts
        if self.last_search is not None and 0 <= t - self.last_search < self.every_s:
            return facts
        self.last_search = t
        for track, face in self._faces(frame, tracks):
            q = quality(frame, face)
            if not q.ok:
                continue
            if self.emotions is not None:
                scores = self.expressions.scores(frame, face.box)
                for report in self.emotions.add(track.id, self._zone(track), scores, t):
                    facts.append(self._emotion(report))
            if len(self.index) == 0 or track.id in self.announced:
                continue
            vec = self.encoder.embedder.embed([align(frame, face.landmarks)])[0]
            best, sim, second = self.index.best_two(vec)
            decided = self.voters.setdefault(track.id, self._voter()).add(best, sim, second)
            if decided is None:
                continue
            self.announced.add(track.id)
            if self.visits.arrived(decided, t):
                data = {
                    "entry": decided,
                    "who": self.index.names.get(decided, ""),
                    "camera": self.camera,
                    "source": f"camera:{self.camera}",
                    "similarity": round(sim, 3),
                }
                facts.append(Fact("vip.arrived", data, durable=False))
        return facts

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
