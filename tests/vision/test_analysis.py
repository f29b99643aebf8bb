"""Zones, dwell, queue length, seat presence with hysteresis, heatmap aggregates and the PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vision.analysis import Analyzer, Presence
from vision.config import Camera, HomographyPoints, Seat, VisionConfig, Zone
from vision.heatmap import HeatGrid, load_floorplan, render, write_png
from vision.people import Track

CFG = VisionConfig(occupancy_every_s=5, seat_on_s=2, seat_off_s=4, heatmap_period_s=10, cell=20)
CAMERA = Camera(
    name="hall",
    source="0",
    zones=[Zone(name="waiting", polygon=[[0, 0], [100, 0], [100, 100], [0, 100]], queue=True)],
    seats=[Seat(counter="2", polygon=[[200, 0], [300, 0], [300, 100], [200, 100]])],
    homography=HomographyPoints(
        image=[[0, 0], [400, 0], [400, 400], [0, 400]], floor=[[0, 0], [200, 0], [200, 200], [0, 200]]
    ),
)


def _track(tid: int, box: tuple[int, int, int, int]) -> Track:
    return Track(tid, box, hits=5, confirmed=True)


def test_zone_occupancy_dwell_and_queue_length() -> None:
    an = Analyzer(CAMERA, CFG, floor_size=(200, 200))
    a, b = _track(1, (40, 20, 10, 40)), _track(2, (60, 30, 10, 40))  # feet at (45, 60), (65, 70)
    facts = []
    for t in range(0, 4):
        facts += an.observe([a, b], float(t))
    assert an.occupancy() == {"waiting": 2}
    b.box = (160, 30, 10, 40)  # walks out of the zone at t=4
    for t in range(4, 7):
        facts += an.observe([a, b], float(t))
    dwell = [f.data for f in facts if f.topic == "zone.dwell"]
    assert dwell == [{"zone": "waiting", "seconds": 4.0, "source": "camera:hall"}]
    occ = [f.data for f in facts if f.topic == "zone.occupancy"]
    assert occ and occ[-1]["people"] == 1 and occ[-1]["dwell_avg_s"] == 4.0
    queue = [f.data for f in facts if f.topic == "queue.length"]
    assert queue[-1] == {"zone": "waiting", "length": 1, "source": "camera:hall"}
    assert all(not f.durable for f in facts)


def test_seat_presence_needs_time_both_ways() -> None:
    an = Analyzer(CAMERA, CFG, floor_size=(200, 200))
    clerk = _track(7, (230, 20, 40, 60))
    events = []
    for t in np.arange(0, 10, 0.5):
        tracks = [clerk] if t < 6 or 6.5 <= t < 7 else []  # leaves at 6, flickers back at 6.5
        events += [(t, f.data["present"]) for f in an.observe(tracks, float(t)) if f.topic == "seat.presence"]
    assert events == [(2.0, True)]  # a 0.5 s return does not reset into absence before 4 s empty
    for t in np.arange(10, 12, 0.5):
        events += [(t, f.data["present"]) for f in an.observe([], float(t)) if f.topic == "seat.presence"]
    assert events == [(2.0, True), (11.0, False)]


def test_presence_hysteresis_resets_on_a_blip() -> None:
    p = Presence(on_s=2, off_s=2)
    assert [p.update(r, t) for r, t in [(True, 0), (False, 1), (True, 2), (True, 3.9), (True, 4)]] == [
        None,
        None,
        None,
        None,
        True,
    ]


def test_heatmap_minute_aggregates_person_seconds_in_floor_cells() -> None:
    an = Analyzer(CAMERA, CFG, floor_size=(200, 200))
    walker = _track(3, (190, 300, 20, 100))  # feet (200, 400) → floor (100, 200): off the plan's edge
    walker.box = (190, 200, 20, 100)  # feet (200, 300) → floor (100, 150): cell col 5, row 7
    got = []
    for t in range(0, 11):
        got += [f for f in an.observe([walker], float(t)) if f.topic == "heatmap.minute"]
    assert len(got) == 1 and got[0].durable
    data = got[0].data
    assert data["cells"] == [[5, 7, 10.0]]
    assert data["person_seconds"] == 10.0 and data["camera"] == "hall" and data["seconds"] == 10.0


def test_render_colours_hot_cells_and_writes_atomically(tmp_path: Path) -> None:
    import cv2

    plan = load_floorplan()
    grid = HeatGrid(plan.shape[1], plan.shape[0], cell=20)
    grid.add([(410.0, 270.0)] * 5, seconds=1.0)
    image = render(grid, plan)
    assert image.shape == plan.shape
    assert np.abs(image[270, 410].astype(int) - plan[270, 410].astype(int)).sum() > 60
    assert np.array_equal(image[30, 30], plan[30, 30])  # cold corner untouched
    out = write_png(image, tmp_path / "vision" / "heatmap.png")
    assert np.array_equal(cv2.imread(str(out)), image)
    assert [p.name for p in out.parent.iterdir()] == ["heatmap.png"]
