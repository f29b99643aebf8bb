"""Tracked people: the neural detector at the rate the CPU affords, ByteTrack between detections.

:class:`PeopleTracker` runs :class:`~vision.detector.PersonDetector` at most
every ``detect_every_s`` seconds, and only every ``idle_every_s`` when the
motion gate says nothing moved (a hall where everyone sits still looks the
same from one second to the next, and its people stay counted). Detections go
to supervision's ByteTrack, which keeps one id per person through missed
detections and brief occlusions (low-score detections still extend a track);
between detections the last boxes stand. A person is dropped only after
``lost_s`` seconds without a detection, so someone who sits for an hour is
counted for an hour.

The tracks are :class:`~vision.people.Track` objects, as the blob tracker's,
so zones, seats, the heatmap and faces read them the same way; ``missed``
counts the detection rounds a track was not seen in.

supervision's ByteTrack is imported only here: it is the one seam between the
hall's code and the tracking library.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from vision.people import Track

LOW_SCORE = 0.15  # detections down to this extend existing tracks (ByteTrack's second association)
# ByteTrack's cost is 1 − IoU × score: a person scored 0.5 must overlap its track by more than 0.1.
MATCH_COST = 0.95
WALKER_LOST_S = 1.0  # a person last seen walking is held this long at most (they may have walked out of view)
SAME_PERSON_IOU = 0.3  # a new id on a held track's place is the same person: it keeps the old id


class PeopleTracker:
    """People tracks from ``update(frame, t, motion)``; the detector is made on first use if not given."""

    def __init__(
        self,
        detector: Any = None,
        *,
        detect_every_s: float = 0.2,
        idle_every_s: float = 5.0,
        lost_s: float = 3.0,
        threshold: float = 0.4,
        min_hits: int = 1,
    ) -> None:
        self.detector = detector
        self.detect_every_s = detect_every_s
        self.idle_every_s = idle_every_s
        self.lost_s = lost_s
        self.threshold = threshold
        self.min_hits = min_hits
        self.tracks: dict[int, Track] = {}
        self.alias: dict[int, int] = {}  # ByteTrack's id → the id the hall knows the person by
        self.last_detect: float | None = None
        self.detections = 0
        self.pending = False  # a person seen once, not yet confirmed: look again soon
        self._byte: Any = None

    def _tracker(self) -> Any:
        if self._byte is None:
            from supervision.tracker.byte_tracker.core import ByteTrack

            rounds = max(1, math.ceil(self.lost_s / self.detect_every_s))
            with warnings.catch_warnings():  # the class announces its move to another package
                warnings.simplefilter("ignore")
                self._byte = ByteTrack(
                    track_activation_threshold=self.threshold,
                    lost_track_buffer=rounds,
                    minimum_matching_threshold=MATCH_COST,
                    frame_rate=30,  # so that lost_track_buffer counts detection rounds exactly
                    minimum_consecutive_frames=self.min_hits,
                )
        return self._byte

    def due(self, t: float, motion: bool) -> bool:
        """Whether the detector runs on the frame taken at ``t``."""
        if self.last_detect is None or t < self.last_detect:
            return True
        fast = motion or self.pending
        wait = self.detect_every_s if fast else max(self.detect_every_s, self.idle_every_s)
        return t - self.last_detect >= wait

    def update(self, frame: np.ndarray, t: float, motion: bool = True) -> list[Track]:
        """The tracks after the frame taken at ``t`` (detecting only when :meth:`due`)."""
        if self.due(t, motion):
            if self.detector is None:
                from vision.detector import PersonDetector

                self.detector = PersonDetector(threshold=self.threshold)
            found = self.detector.detect(frame, threshold=LOW_SCORE)
            self.observe([(d.box, d.score) for d in found], t)
        return self.live()

    def observe(self, detections: list[tuple[tuple[int, int, int, int], float]], t: float) -> list[Track]:
        """One detection round: ``(box, score)`` pairs seen at ``t``; return the live tracks."""
        self.last_detect = t
        self.detections += 1
        tensors = np.array(
            [[x, y, x + w, y + h, score] for (x, y, w, h), score in detections], dtype=np.float32
        ).reshape(-1, 5)
        # The tracker's own boxes (its motion model's estimate), not the detections re-matched to them:
        # re-matching by overlap would drop a fast walker whose estimate lags behind.
        stracks = [st for st in self._tracker().update_with_tensors(tensors) if int(st.external_track_id) >= 0]
        seen: set[int] = set()
        rows = []
        for st in stracks:
            raw = int(st.external_track_id)
            x1, y1, x2, y2 = (float(v) for v in st.tlbr)
            box = (round(x1), round(y1), max(1, round(x2 - x1)), max(1, round(y2 - y1)))
            rows.append((self.alias.get(raw, raw), raw, box, float(st.score)))
        known = {tid for tid, _, _, _ in rows if tid in self.tracks}
        for tid, raw, box, score in rows:
            if tid not in self.tracks:  # a new id where a held person stands: the tracker lost and re-found them
                held = [tr for tr in self.tracks.values() if tr.id not in known and tr.id not in seen]
                best = max(held, key=lambda tr: _iou(tr.box, box), default=None)
                if best is not None and _iou(best.box, box) >= SAME_PERSON_IOU:
                    self.alias[raw] = tid = best.id
            seen.add(tid)
            track = self.tracks.get(tid)
            if track is None:
                track = self.tracks[tid] = Track(tid, box, hits=0, first_seen=t, last_seen=t, confirmed=True)
            old, dt = track.feet, max(t - track.last_seen, 1e-3)
            track.box = box
            track.velocity = (
                ((track.feet[0] - old[0]) / dt, (track.feet[1] - old[1]) / dt) if track.hits else (0.0, 0.0)
            )
            track.hits += 1
            track.missed = 0
            track.last_seen = t
            track.memo["score"] = score
        strong = sum(1 for _, score in detections if score >= self.threshold)
        self.pending = strong > len(seen)
        predicted = self._predicted()
        for tid, track in list(self.tracks.items()):
            if tid in seen:
                continue
            track.missed += 1
            if tid in predicted:  # a held person moves on as they were moving (still, if they sat)
                track.box = predicted[tid]
            if t - track.last_seen > (self.lost_s if not _walking(track) else min(self.lost_s, WALKER_LOST_S)):
                del self.tracks[tid]
        if len(self.alias) > 4 * len(self.tracks) + 64:
            self.alias = {raw: tid for raw, tid in self.alias.items() if tid in self.tracks}
        return self.live()

    def _predicted(self) -> dict[int, tuple[int, int, int, int]]:
        """Where the tracker's motion model puts each person it has lost, by the hall's id."""
        out = {}
        for st in getattr(self._byte, "lost_tracks", []):
            raw = int(getattr(st, "external_track_id", -1))
            if raw < 0:
                continue
            x1, y1, x2, y2 = (float(v) for v in st.tlbr)
            if all(np.isfinite([x1, y1, x2, y2])) and x2 > x1 and y2 > y1:
                out[self.alias.get(raw, raw)] = (round(x1), round(y1), round(x2 - x1), round(y2 - y1))
        return out

    def live(self) -> list[Track]:
        """Tracks seen within ``lost_s``, oldest first."""
        return sorted(self.tracks.values(), key=lambda tr: tr.id)


def _walking(track: Track) -> bool:
    """Moving more than a third of their height a second when last seen."""
    return float(np.hypot(*track.velocity)) > track.box[3] / 3.0


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0
