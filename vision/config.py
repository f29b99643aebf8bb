"""The ``[services.vision]`` section: cameras, their lines, zones, seats and floor mapping.

Registered under the ``hall.config`` entry-point group, so ``hall config
check`` validates it with the rest of the hall's file. A camera's ``source``
is a USB index (``"0"``), an RTSP/HTTP URL, or a video file (played in a
loop). Coordinates are pixels of the camera's own frames::

    [[services.vision.cameras]]
    name = "entrance"
    source = "rtsp://10.0.0.21/stream1"
    fps = 5
    line = [600, 0, 600, 576]
    zones = [{ name = "waiting", polygon = [[0, 300], [400, 300], [400, 576], [0, 576]], queue = true }]
    seats = [{ counter = "1", polygon = [[500, 100], [600, 100], [600, 250], [500, 250]] }]
    homography = { image = [[0, 576], [768, 576], [768, 200], [0, 200]], floor = [[340, 490], [460, 490], [460, 300], [340, 300]] }
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

Pt = list[float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _points(value: list[list[float]], n_min: int, n_max: int) -> list[list[float]]:
    if not n_min <= len(value) <= n_max:
        raise ValueError(f"needs {n_min}–{n_max} points, got {len(value)}")
    for p in value:
        if len(p) != 2:
            raise ValueError(f"a point is [x, y], not {p}")
    return value


class Zone(_Strict):
    name: str = Field(title="Name", description="Zone name in events.", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    polygon: list[Pt] = Field(title="Polygon", description="Zone outline in frame pixels, [[x, y], …].")
    queue: bool = Field(False, title="Queue", description="People here are waiting: publish queue.length.")
    counter: str = Field(
        "",
        title="Counter",
        description="The counter whose customers stand here: its emotion shares are reported for that counter.",
        pattern=r"^[A-Za-z0-9_-]{0,16}$",
    )

    @field_validator("polygon")
    @classmethod
    def _poly(cls, v: list[list[float]]) -> list[list[float]]:
        return _points(v, 3, 64)


class Seat(_Strict):
    counter: str = Field(
        title="Counter", description="Counter id this seat belongs to.", pattern=r"^[A-Za-z0-9_-]{1,16}$"
    )
    polygon: list[Pt] = Field(title="Polygon", description="Seat region in frame pixels.")

    @field_validator("polygon")
    @classmethod
    def _poly(cls, v: list[list[float]]) -> list[list[float]]:
        return _points(v, 3, 64)


class HomographyPoints(_Strict):
    image: list[Pt] = Field(title="Image points", description="Four floor points as seen in the frame.")
    floor: list[Pt] = Field(title="Floor points", description="The same four points on the floor-plan image.")

    @field_validator("image", "floor")
    @classmethod
    def _four(cls, v: list[list[float]]) -> list[list[float]]:
        return _points(v, 4, 4)


class Camera(_Strict):
    name: str = Field(
        title="Name", description="Camera name; events say camera:<name>.", pattern=r"^[A-Za-z0-9_-]{1,32}$"
    )
    source: str = Field(
        title="Source",
        description='USB index ("0"), RTSP/HTTP URL, or a video file played in a loop.',
        min_length=1,
        max_length=512,
    )
    fps: float = Field(5.0, ge=0.5, le=30.0, title="Analysis rate", description="Frames analysed per second.")
    line: list[float] | None = Field(
        None, title="Counting line", description="[x1, y1, x2, y2]; crossing toward the left of P1→P2 is 'in'."
    )
    zones: list[Zone] = Field(default_factory=list, title="Zones", description="Occupancy and dwell zones.")
    seats: list[Seat] = Field(default_factory=list, title="Seats", description="Counter seats watched for presence.")
    homography: HomographyPoints | None = Field(
        None, title="Floor mapping", description="Four point pairs mapping the frame's floor to the floor plan."
    )
    faces: bool = Field(False, title="Faces", description="Run face processing on this camera.")
    kiosk: str = Field(
        "",
        title="Kiosk",
        description="Id of the kiosk this camera faces: ticket by face and enrolment there use it, only while a "
        "customer asks.",
        max_length=32,
    )
    vip: bool = Field(
        False,
        title="VIP arrival",
        description="Tell staff when a customer who consented to VIP arrival, and whom HQ tags VIP, comes into view. "
        "Every face in view is compared, so confine the camera to where VIPs are received and post [faces] signage "
        "(PIPL art. 26).",
    )

    @field_validator("line")
    @classmethod
    def _line(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (len(v) != 4 or (v[0], v[1]) == (v[2], v[3])):
            raise ValueError("a line is [x1, y1, x2, y2] with two distinct end points")
        return v


class VisionConfig(_Strict):
    cameras: list[Camera] = Field(
        default_factory=list,
        title="Cameras",
        description="Cameras to analyse; empty runs none (the demo plays the sample video).",
        max_length=16,
    )
    floorplan: str = Field(
        "",
        title="Floor plan",
        description="Floor-plan PNG for the heatmap; empty uses the demo hall's.",
        max_length=512,
    )
    cell: int = Field(20, ge=4, le=200, title="Heatmap cell", description="Heatmap cell size in floor-plan pixels.")
    heatmap_period_s: float = Field(
        60.0, ge=1.0, le=3600.0, title="Heatmap period", description="Seconds per heatmap aggregate (a minute)."
    )
    occupancy_every_s: float = Field(
        10.0, ge=1.0, le=600.0, title="Occupancy period", description="Seconds between zone occupancy reports."
    )
    match_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        title="Match threshold",
        description="Similarity a match (ticket by face, VIP arrival) needs, from `hall vision calibrate` on this hall's labelled pairs; "
        "absent: the built-in value (see vision/MODELS.md).",
    )
    identify_timeout_s: float = Field(
        20.0,
        ge=5.0,
        le=120.0,
        title="Kiosk face time",
        description="Seconds a customer has at the kiosk camera to be recognised or enrolled (look, blink, turn).",
    )
    seat_on_s: float = Field(3.0, ge=0.0, le=600.0, title="Seat on", description="Seconds occupied before present.")
    seat_off_s: float = Field(20.0, ge=0.0, le=3600.0, title="Seat off", description="Seconds empty before absent.")
    emotion_window_s: float = Field(
        300.0, ge=10.0, le=3600.0, title="Emotion window", description="Seconds per emotion.window report."
    )
    emotion_min_people: int = Field(
        3, ge=1, le=100, title="Emotion group", description="Fewest people in a zone for its shares to be reported."
    )
    min_hits: int = Field(
        3, ge=1, le=30, title="Confirm after", description="Frames before a moving blob counts at the door line."
    )
    max_missed: int = Field(
        8, ge=0, le=100, title="Keep lost", description="Frames a lost blob is kept at the door line."
    )
    detect_every_s: float = Field(
        0.2,
        ge=0.05,
        le=10.0,
        title="Detector period",
        description="Seconds between runs of the person detector while something moves (it costs ~30 ms a run).",
    )
    idle_every_s: float = Field(
        5.0,
        ge=0.05,
        le=60.0,
        title="Idle detector period",
        description="Seconds between runs of the person detector while nothing moves.",
    )
    person_threshold: float = Field(
        0.4, ge=0.05, le=0.99, title="Person score", description="Detector score a new person needs."
    )
    lost_s: float = Field(
        3.0,
        ge=0.1,
        le=120.0,
        title="Keep unseen",
        description="Seconds a tracked person is kept without a detection (occlusion, a missed frame).",
    )
    face_every_s: float = Field(
        0.5, ge=0.05, le=10.0, title="Face period", description="Seconds between face searches on cameras with faces."
    )
    reopen_max_s: float = Field(
        30.0, ge=0.5, le=600.0, title="Reopen backoff", description="Longest wait between camera reopen attempts."
    )

    @field_validator("cameras")
    @classmethod
    def _unique(cls, v: list[Camera]) -> list[Camera]:
        names = [c.name for c in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"camera {dup[0]} is defined twice")
        return v


def demo_camera() -> Camera:
    """The demo hall's entrance camera: the sample pedestrian video, mapped onto the demo floor plan."""
    from vision import assets

    return Camera(
        name="entrance",
        source=str(assets.path("vtest.avi")),
        fps=10.0,
        line=[600, 0, 600, 576],
        zones=[Zone(name="waiting", polygon=[[0, 200], [560, 200], [560, 480], [0, 480]], queue=True)],
        seats=[Seat(counter="1", polygon=[[620, 120], [768, 120], [768, 260], [620, 260]])],
        homography=HomographyPoints(
            image=[[0, 520], [768, 520], [768, 140], [0, 140]],
            floor=[[200, 480], [600, 480], [600, 200], [200, 200]],
        ),
    )
