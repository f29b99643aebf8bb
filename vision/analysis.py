"""One camera's analysis: frames in, facts out (no bus, no disk).

:class:`Analyzer` runs detection, tracking, the counting line, zones, seats
and the heatmap on each frame and returns :class:`Fact` objects — the topic,
data and durability of an event the service will publish:

- ``door.crossed`` ``{"direction": "in"|"out", "source": "camera:<name>", "track"}`` (durable);
- ``zone.occupancy`` ``{"zone", "people", "dwell_avg_s", "source"}`` every ``occupancy_every_s``;
- ``queue.length`` ``{"zone", "length", "source"}`` for zones marked ``queue``, at the same rate;
- ``zone.dwell`` ``{"zone", "seconds", "source"}`` when a confirmed person leaves a zone;
- ``seat.presence`` ``{"counter", "present", "source": "camera", "camera"}`` on a change, with
  hysteresis: present after ``seat_on_s`` of continuous occupancy, absent after ``seat_off_s`` empty
  (durable);
- ``heatmap.minute`` ``{"camera", "start", "seconds", "cell", "cols", "rows", "cells",
  "person_seconds"}`` once per ``heatmap_period_s`` (durable);
- ``vip.arrived`` from :mod:`vision.facetrack` on cameras with faces on.

People come from :class:`~vision.tracking.PeopleTracker` (a neural detector
and ByteTrack), so someone who stands or sits still stays in its zone, seat
and heatmap cell. The counting line still follows moving blobs
(:class:`~vision.people.BlobDetector`), which also serve as the detector's
motion gate: with nothing moving, the detector runs only every
``idle_every_s``.

Times ``t`` are seconds (wall clock in the service, video time offline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vision.config import Camera, VisionConfig
from vision.geometry import Homography, Line, Polygon
from vision.heatmap import HeatGrid
from vision.people import BlobDetector, Crossing, LineCounter, Track, Tracker, centre
from vision.tracking import PeopleTracker


@dataclass(frozen=True)
class Fact:
    topic: str
    data: dict[str, Any]
    durable: bool = False


class Presence:
    """A debounced boolean: turns on after ``on_s`` of raw True, off after ``off_s`` of raw False.

    >>> p = Presence(on_s=2, off_s=5)
    >>> [p.update(raw, t) for raw, t in [(True, 0), (True, 1), (True, 2), (False, 3), (False, 8)]]
    [None, None, True, None, False]
    """

    def __init__(self, on_s: float, off_s: float) -> None:
        self.on_s, self.off_s = on_s, off_s
        self.state = False
        self.since: float | None = None  # when raw last started to differ from state

    def update(self, raw: bool, t: float) -> bool | None:
        """The new state when it changes at ``t``, else None."""
        if raw == self.state:
            self.since = None
            return None
        if self.since is None:
            self.since = t
        if t - self.since >= (self.on_s if raw else self.off_s):
            self.state = raw
            self.since = None
            return raw
        return None


@dataclass
class _ZoneState:
    name: str
    polygon: Polygon
    queue: bool
    entered: dict[int, float] = field(default_factory=dict)
    dwells: list[float] = field(default_factory=list)


class Analyzer:
    """Facts from one camera's frames; see the module docstring for the events."""

    def __init__(
        self,
        camera: Camera,
        cfg: VisionConfig | None = None,
        *,
        floor_size: tuple[int, int] = (800, 500),
        detector: BlobDetector | None = None,
        faces: Any = None,
        people: PeopleTracker | None = None,
    ) -> None:
        self.camera = camera
        self.cfg = cfg or VisionConfig()
        self.source = f"camera:{camera.name}"
        self.detector = detector or BlobDetector()
        self.people = people or PeopleTracker(
            detect_every_s=self.cfg.detect_every_s,
            idle_every_s=self.cfg.idle_every_s,
            lost_s=self.cfg.lost_s,
            threshold=self.cfg.person_threshold,
        )
        self.faces = faces  # a vision.facetrack.FaceStage on cameras with faces on
        self.tracker = Tracker(min_hits=self.cfg.min_hits, max_missed=self.cfg.max_missed)
        self.counter = LineCounter(Line(*camera.line)) if camera.line else None
        self.zones = [_ZoneState(z.name, Polygon(z.polygon), z.queue) for z in camera.zones]
        self.seats = [
            (s.counter, Polygon(s.polygon), Presence(self.cfg.seat_on_s, self.cfg.seat_off_s)) for s in camera.seats
        ]
        self.homography = Homography(camera.homography.image, camera.homography.floor) if camera.homography else None
        self.heat = HeatGrid(floor_size[0], floor_size[1], self.cfg.cell)
        self.heat_start: float | None = None
        self.next_occupancy: float | None = None
        self.last_t: float | None = None
        self.crossings: list[Crossing] = []

    def step(self, frame: np.ndarray, t: float) -> list[Fact]:
        """Analyse one frame taken at ``t``; return the facts it produced."""
        blobs = self.detector.detect(frame)
        moving = self.tracker.update(blobs, t)
        tracks = self.people.update(frame, t, motion=bool(blobs) or self.detector.learning)
        facts = self.observe(tracks, t, moving=moving)
        if self.faces is not None:
            facts += self.faces.step(frame, tracks, t)
        return facts

    def observe(self, tracks: list[Track], t: float, *, moving: list[Track] | None = None) -> list[Fact]:
        """The facts for this frame's people ``tracks``; ``moving`` are the blob tracks for the counting
        line (default: the same tracks). Separate from detection so it can be fed directly."""
        facts: list[Fact] = []
        dt = 0.0 if self.last_t is None else max(0.0, min(t - self.last_t, 2.0))
        self.last_t = t
        live = [tr for tr in tracks if tr.confirmed and tr.missed == 0]
        if self.counter is not None:
            for c in self.counter.update(tracks if moving is None else moving, t):
                self.crossings.append(c)
                data = {"direction": c.direction, "source": self.source, "track": c.track}
                facts.append(Fact("door.crossed", data, durable=True))
        facts += self._zones([tr for tr in tracks if tr.confirmed], t)
        facts += self._seats(tracks, t)
        facts += self._heat(live, t, dt)
        return facts

    def _zones(self, present: list[Track], t: float) -> list[Fact]:
        facts: list[Fact] = []
        for zone in self.zones:
            inside = {tr.id for tr in present if zone.polygon.contains(tr.feet)}
            for tid in inside - zone.entered.keys():
                zone.entered[tid] = t
            for tid in list(zone.entered):
                if tid not in inside:
                    seconds = t - zone.entered.pop(tid)
                    zone.dwells.append(seconds)
                    facts.append(
                        Fact("zone.dwell", {"zone": zone.name, "seconds": round(seconds, 1), "source": self.source})
                    )
        if self.next_occupancy is None:
            self.next_occupancy = t + self.cfg.occupancy_every_s
        elif t >= self.next_occupancy:
            self.next_occupancy = t + self.cfg.occupancy_every_s
            for zone in self.zones:
                people = len(zone.entered)
                dwell = sum(zone.dwells) / len(zone.dwells) if zone.dwells else 0.0
                zone.dwells.clear()
                data = {"zone": zone.name, "people": people, "dwell_avg_s": round(dwell, 1), "source": self.source}
                facts.append(Fact("zone.occupancy", data))
                if zone.queue:
                    facts.append(Fact("queue.length", {"zone": zone.name, "length": people, "source": self.source}))
        return facts

    def occupancy(self) -> dict[str, int]:
        """People in each zone now."""
        return {z.name: len(z.entered) for z in self.zones}

    def _seats(self, tracks: list[Track], t: float) -> list[Fact]:
        facts = []
        for counter, polygon, presence in self.seats:
            raw = any(polygon.contains(centre(tr.box)) for tr in tracks if tr.hits >= 2)
            changed = presence.update(raw, t)
            if changed is not None:
                data = {"counter": counter, "present": changed, "source": "camera", "camera": self.camera.name}
                facts.append(Fact("seat.presence", data, durable=True))
        return facts

    def _heat(self, live: list[Track], t: float, dt: float) -> list[Fact]:
        if self.homography is None:
            return []
        if self.heat_start is None:
            self.heat_start = t
        if live and dt > 0:
            pts = self.homography.map_many(np.array([tr.feet for tr in live], dtype=np.float64))
            self.heat.add(((float(x), float(y)) for x, y in pts), dt)
        if t - self.heat_start < self.cfg.heatmap_period_s:
            return []
        data = {
            "camera": self.camera.name,
            "start": round(self.heat_start, 3),
            "seconds": round(t - self.heat_start, 3),
            **self.heat.aggregate(),
        }
        self.heat.clear()
        self.heat_start = t
        return [Fact("heatmap.minute", data, durable=True)]
