"""Camera pictures of a customer at the kiosk, and of attacks on it, composed from the pinned portraits.

No package on PyPI, npm or Debian ships a video of a person blinking and
turning their head, or of a printed photo or a phone held up to a camera, so
the liveness check (:mod:`vision.liveness`) is measured on pictures composed
here, openly, from the pinned portraits (``obama.jpg``, ``biden.jpg``):

- :class:`Portrait`: one portrait cut to a 640×480 kiosk-camera frame with the
  face about 190 px wide, its face mesh (:mod:`vision.facemesh`) read once.
  :meth:`Portrait.render` turns the head (yaw, pitch) by rotating the mesh's
  own 3-D points about an axis behind the face and warping each mesh triangle
  of the picture to where it lands (a 2.5-D animation: no hidden side is
  invented, so turns are kept within ±30°); a blink draws both eyelids of the
  mesh together three quarters of the way down. Around the face, a ring of
  points turns with the head (hair, ears) and a second ring and the corners
  stay put, so the background does not move.
- :class:`Person`: a customer over time: small sway, a spontaneous blink every
  3–5 s (closed about 0.2 s), and what the screen says done after a human delay
  for as long as it says it (a turn held, a blink of about 0.4 s repeated).
- :class:`PrintedSheet`: the same portrait printed and held up: a plane (or a
  sheet bent around a vertical axis) moved by hand in front of a pinhole
  camera, tilted toward the side asked for, as an attacker would try.
- :func:`on_screen`: a picture shown on a screen held up to the camera: the
  content on a grid of RGB-stripe pixels of a given pitch (in camera pixels)
  with a black matrix between them, turned a little and sampled again by the
  camera, a raised black level, a bluish white point and a bezel around it.
  :class:`ScreenReplay` plays a recorded :class:`Person` that way.

Every frame gets camera noise. These are stand-ins measured as such (see
``vision/MODELS.md``); none was filmed.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from vision import assets

WIDTH, HEIGHT = 640, 480
FACE_WIDTH = 190.0

# Mesh indices of the eyelids (mediapipe face mesh), upper above lower, and of the skin above each upper lid.
UPPER_LIDS = (246, 161, 160, 159, 158, 157, 173, 466, 388, 387, 386, 385, 384, 398)
LOWER_LIDS = (7, 163, 144, 145, 153, 154, 155, 249, 390, 373, 374, 380, 381, 382)
ABOVE_LIDS = (247, 30, 29, 27, 28, 56, 190, 467, 260, 259, 257, 258, 286, 414)


def _triangles(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Delaunay triangles (index triples) of ``points``, by OpenCV's subdivision."""
    import cv2

    sub = cv2.Subdiv2D((-1, -1, width + 2, height + 2))
    for x, y in points.tolist():
        sub.insert((float(x), float(y)))
    out = []
    for tri in np.asarray(sub.getTriangleList()).reshape(-1, 3, 2):
        ids = []
        for q in tri:
            d = np.hypot(points[:, 0] - q[0], points[:, 1] - q[1])
            j = int(d.argmin())
            if d[j] > 0.5:
                break
            ids.append(j)
        if len(ids) == 3:
            out.append(ids)
    return np.asarray(out, dtype=np.int64)


class Portrait:
    """A pinned portrait as a kiosk camera frame, and its face turned and blinking."""

    def __init__(self, name: str = "obama.jpg", *, face_width: float = FACE_WIDTH, cache: int = 128) -> None:
        import cv2

        from vision.facemesh import FaceMesh
        from vision.faces import FaceDetector, read_image

        photo = read_image(assets.path(name, fetch=True))
        detector = FaceDetector()
        faces = detector.detect(photo)
        if not faces:
            raise ValueError(f"{name}: no face")
        x, y, w, h = faces[0].box
        k = face_width / w
        small = cv2.resize(photo, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        cx, cy = (x + w / 2) * k, (y + h / 2) * k
        x0 = int(np.clip(cx - WIDTH / 2, 0, max(0, small.shape[1] - WIDTH)))
        y0 = int(np.clip(cy - HEIGHT * 0.45, 0, max(0, small.shape[0] - HEIGHT)))
        frame = np.full((HEIGHT, WIDTH, 3), 96, np.uint8)
        part = small[y0 : y0 + HEIGHT, x0 : x0 + WIDTH]
        frame[: part.shape[0], : part.shape[1]] = part
        self.name = name
        self.image = frame
        face = detector.detect(frame)[0]
        mesh = FaceMesh().mesh(frame, face.landmarks).points
        self._build(mesh)
        self.cache: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self.cache_size = cache

    def _build(self, mesh: np.ndarray) -> None:
        import cv2

        xy = mesh[:, :2]
        centre = xy.mean(axis=0)
        hull = cv2.convexHull(xy.astype(np.float32)).reshape(-1, 2)
        angles = np.arctan2(hull[:, 1] - centre[1], hull[:, 0] - centre[0])
        ring, ring_z = [], []
        for a in np.linspace(-math.pi, math.pi, 24, endpoint=False):
            j = int(np.abs(np.angle(np.exp(1j * (angles - a)))).argmin())
            ring.append(centre + (hull[j] - centre) * 1.25)
            ring_z.append(mesh[int(np.argmin(np.hypot(*(xy - hull[j]).T))), 2])
        inner = np.asarray(ring)
        outer = centre + (inner - centre) * 1.8
        corners = np.array([[0, 0], [WIDTH - 1, 0], [0, HEIGHT - 1], [WIDTH - 1, HEIGHT - 1]], float)
        points = np.vstack([xy, inner, outer, corners])
        points[:, 0] = points[:, 0].clip(0, WIDTH - 1)
        points[:, 1] = points[:, 1].clip(0, HEIGHT - 1)
        self.points = points
        self.depth = np.concatenate([mesh[:, 2], ring_z, np.zeros(len(outer) + 4)])
        self.weight = np.concatenate([np.ones(len(mesh)), np.full(len(inner), 0.7), np.zeros(len(outer) + 4)])
        self.triangles = _triangles(points, WIDTH, HEIGHT)
        self.centre = centre
        self.axis_z = float(mesh[:, 2].mean() + 0.6 * (mesh[:, 0].max() - mesh[:, 0].min()))
        x0, y0, w, h = cv2.boundingRect(outer.astype(np.float32))
        self.roi = (max(0, x0 - 2), max(0, y0 - 2), min(WIDTH, x0 + w + 2), min(HEIGHT, y0 + h + 2))

    def render(self, yaw: float = 0.0, pitch: float = 0.0, blink: float = 0.0) -> np.ndarray:
        """The frame with the head turned by ``yaw``/``pitch`` degrees and the eyes ``blink`` (0–1) closed."""
        key = (round(yaw), round(pitch), round(blink * 4))  # whole degrees: a camera sees no finer
        hit = self.cache.get(key)
        if hit is not None:
            self.cache.move_to_end(key)
            return hit
        frame = self._render(key[0], key[1], key[2] / 4)
        self.cache[key] = frame
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return frame

    def _render(self, yaw: float, pitch: float, blink: float) -> np.ndarray:
        src = self.points
        dst = src.copy()
        if blink > 0:
            for up, low, above in zip(UPPER_LIDS, LOWER_LIDS, ABOVE_LIDS, strict=True):
                meet = src[up] + 0.75 * (src[low] - src[up])
                dst[up] = src[up] + blink * (meet - src[up])
                dst[low] = src[low] + blink * (meet - src[low])
                dst[above] = src[above] + blink * 0.5 * (src[low] - src[up])
        ty, tp = math.radians(yaw), math.radians(pitch)
        x, y, z = dst[:, 0] - self.centre[0], dst[:, 1] - self.centre[1], self.depth - self.axis_z
        x2, z2 = x * math.cos(ty) - z * math.sin(ty), x * math.sin(ty) + z * math.cos(ty)
        y2, z3 = y * math.cos(tp) - z2 * math.sin(tp), y * math.sin(tp) + z2 * math.cos(tp)
        dst[:, 0] = (1 - self.weight) * src[:, 0] + self.weight * (self.centre[0] + x2)
        dst[:, 1] = (1 - self.weight) * src[:, 1] + self.weight * (self.centre[1] + y2)
        depth = np.where(self.weight > 0, z3, 1e9)
        return warp_triangles(self.image, src, dst, self.triangles, depth, self.roi, reflect=True)


def warp_triangles(
    image: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    triangles: np.ndarray,
    depth: np.ndarray,
    roi: tuple[int, int, int, int] | None = None,
    *,
    reflect: bool = False,
    fill: tuple[int, int, int] = (70, 75, 80),
    step: int = 1,
) -> np.ndarray:
    """``image`` with each triangle of points ``src`` moved to ``dst`` (the nearest in front, by ``depth``
    per point: larger is farther); outside every triangle, ``fill`` (or the picture itself with ``reflect``).
    Only ``roi`` (x0, y0, x1, y1) is redrawn; with ``step`` > 1 the warp is worked out on every
    ``step``-th pixel and interpolated between (for smooth warps: a sheet)."""
    import cv2

    h, w = image.shape[:2]
    x0, y0, x1, y1 = roi or (0, 0, w, h)
    rw, rh = -(-(x1 - x0) // step), -(-(y1 - y0) // step)
    ids = np.full((rh, rw), -1, np.int32)
    shift = np.array([x0, y0])
    for k in np.argsort(-depth[triangles].mean(axis=1)):  # far triangles first, near ones over them
        cv2.fillConvexPoly(ids, ((dst[triangles[k]] - shift) / step).round().astype(np.int32), int(k))
    inverse = np.zeros((len(triangles) + 1, 2, 3), np.float32)
    # no triangle: the picture as it is (reflect), or far outside it (the fill)
    inverse[-1] = [[1, 0, 0], [0, 1, 0]] if reflect else [[0, 0, -1e4], [0, 0, -1e4]]
    # each triangle's affine map from where it lands back to where it came from: S · D⁻¹, all at once
    d = np.ones((len(triangles), 3, 3))
    d[:, :2, :] = dst[triangles].transpose(0, 2, 1)
    flat = np.abs(np.linalg.det(d)) < 1e-9  # no area: never drawn
    d[flat] = np.eye(3)
    inverse[:-1] = src[triangles].transpose(0, 2, 1) @ np.linalg.inv(d)
    a = inverse[ids]  # index -1 is the "no triangle" row
    ys, xs = np.mgrid[y0 : y0 + rh * step : step, x0 : x0 + rw * step : step].astype(np.float32)
    map_x = a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2]
    map_y = a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2]
    if step > 1:
        size = (rw * step, rh * step)
        map_x = cv2.resize(map_x, size, interpolation=cv2.INTER_LINEAR)[: y1 - y0, : x1 - x0]
        map_y = cv2.resize(map_y, size, interpolation=cv2.INTER_LINEAR)[: y1 - y0, : x1 - x0]
    out = image.copy() if reflect else np.empty_like(image)
    if not reflect:
        out[:] = fill
    border = cv2.BORDER_REFLECT if reflect else cv2.BORDER_CONSTANT
    out[y0:y1, x0:x1] = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=border, borderValue=fill)
    return out


_NOISE: dict[tuple[int, ...], list[np.ndarray]] = {}


def noisy(frame: np.ndarray, rng: np.random.Generator, sigma: float = 2.0) -> np.ndarray:
    """Camera noise: Gaussian (σ = ``sigma``) per pixel and channel, one of eight patterns made once per size
    (drawn afresh each frame it costs a camera thread more than the picture)."""
    patterns = _NOISE.get(frame.shape)
    if patterns is None:
        maker = np.random.default_rng(len(_NOISE))
        patterns = _NOISE[frame.shape] = [
            np.clip(maker.standard_normal(frame.shape, dtype=np.float32) * 2.0, -8, 8).round().astype(np.int16)
            for _ in range(8)
        ]
    noise = patterns[int(rng.integers(8))]
    if sigma != 2.0:
        noise = (noise * (sigma / 2.0)).astype(np.int16)
    return np.asarray(np.clip(frame.astype(np.int16) + noise, 0, 255), dtype=np.uint8)


ACTIONS = ("look", "blink", "turn_left", "turn_right")


def _spans(asked: list[tuple[float, str]]) -> list[tuple[float, float, str]]:
    """Each instruction with the time it was shown until the next one replaced it."""
    ordered = sorted(asked)
    if not ordered:
        return []
    ends = [t for t, _ in ordered[1:]] + [math.inf]
    return [(start, end, action) for (start, action), end in zip(ordered, ends, strict=True)]


def _held(t: float, start: float, end: float, rise: float) -> float:
    """0 → 1 from ``start`` over ``rise`` s, 1 until ``end``, back to 0 over ``rise`` s."""
    if t <= start:
        return 0.0
    up = 0.5 - 0.5 * math.cos(math.pi * min(1.0, (t - start) / rise))
    if t <= end:
        return up
    return up * (0.5 + 0.5 * math.cos(math.pi * min(1.0, (t - end) / rise)))


@dataclass
class Person:
    """A customer in front of the camera, who does what the screen says, for as long as it says it.

    After ``delay_s`` they turn their head (held until the screen says something else) or blink (once
    deliberately, and again every 1.5 s while still asked). Sides are the customer's own:
    ``turn_left`` turns the face to the customer's left, which the camera (not mirrored) sees as a
    turn toward the picture's right, a positive yaw.
    """

    portrait: Portrait
    seed: int = 0
    delay_s: float = 0.6
    turn_deg: float = 24.0
    asked: list[tuple[float, str]] = field(default_factory=list)
    rng: np.random.Generator = field(init=False)
    blinks: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.blinks = [float(t) for t in np.cumsum(self.rng.uniform(3.0, 5.0, 64))]
        self.sway = self.rng.uniform(0, 2 * math.pi, 4)

    def ask(self, action: str, t: float) -> None:
        """The screen shows ``action`` from time ``t`` (``look``: face the camera and hold still)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        self.asked.append((t, action))

    def state(self, t: float) -> tuple[float, float, float]:
        """Yaw, pitch and eye closure at ``t``."""
        yaw = 2.0 * math.sin(0.7 * t + self.sway[0]) + 1.0 * math.sin(1.9 * t + self.sway[1])
        pitch = 1.5 * math.sin(0.5 * t + self.sway[2]) + 0.8 * math.sin(1.3 * t + self.sway[3])
        blink = max((_bump(t - b, rise=0.07, hold=0.12, fall=0.08) for b in self.blinks), default=0.0)
        for start, end, action in _spans(self.asked):
            start, end = start + self.delay_s, end + self.delay_s
            if action.startswith("turn_"):
                side = 1.0 if action == "turn_left" else -1.0
                yaw += side * self.turn_deg * _held(t, start, end, 0.6)
            elif action == "blink" and start <= t < end + 0.5:
                # a blink asked for is slower than one that just happens, and comes again while still asked
                since = (t - start) % 1.5
                blink = max(blink, _bump(since, rise=0.1, hold=0.25, fall=0.1))
        return yaw, pitch, blink

    def frame(self, t: float) -> np.ndarray:
        yaw, pitch, blink = self.state(t)
        return noisy(self.portrait.render(yaw, pitch, blink), self.rng)


def _bump(dt: float, *, rise: float, hold: float, fall: float) -> float:
    """0 → 1 over ``rise`` s (smoothly), 1 for ``hold`` s, back to 0 over ``fall`` s."""
    if dt <= 0 or dt >= rise + hold + fall:
        return 0.0
    if dt < rise:
        return 0.5 - 0.5 * math.cos(math.pi * dt / rise)
    if dt < rise + hold:
        return 1.0
    return 0.5 + 0.5 * math.cos(math.pi * (dt - rise - hold) / fall)


def sheet_warp(image: np.ndarray, *, yaw: float, pitch: float, bend: float, dx: float, dy: float) -> np.ndarray:
    """``image`` as a printed sheet turned by ``yaw``/``pitch`` degrees, bent back at its sides by ``bend``
    (0: flat, 1: the edges 15 % of the width behind the centre), moved by ``dx``/``dy`` px, as a pinhole
    camera with a 600 px focal length sees it; outside the sheet, a grey wall."""
    h, w = image.shape[:2]
    cx, cy, focal = w / 2, h / 2, 600.0
    gx, gy = np.meshgrid(np.linspace(0, w - 1, 33), np.linspace(0, h - 1, 25))
    x, y = gx - cx, gy - cy
    z = bend * (x / (w / 2)) ** 2 * w * 0.15
    a, b = math.radians(yaw), math.radians(pitch)
    x1, z1 = x * math.cos(a) + z * math.sin(a), -x * math.sin(a) + z * math.cos(a)
    y2, z2 = y * math.cos(b) - z1 * math.sin(b), y * math.sin(b) + z1 * math.cos(b)
    u, v = cx + dx + focal * x1 / (focal + z2), cy + dy + focal * y2 / (focal + z2)
    src = np.stack([gx.ravel(), gy.ravel()], axis=1)
    dst = np.stack([u.ravel(), v.ravel()], axis=1)
    return warp_triangles(image, src, dst, _grid_triangles(*gx.shape), z2.ravel(), step=2)


def _grid_triangles(rows: int, cols: int) -> np.ndarray:
    out = []
    for i in range(rows - 1):
        for j in range(cols - 1):
            p, q, r, s = i * cols + j, i * cols + j + 1, (i + 1) * cols + j, (i + 1) * cols + j + 1
            out += [(p, q, r), (s, q, r)]
    return np.asarray(out, dtype=np.int64)


@dataclass
class PrintedSheet:
    """A printed portrait held up by hand: it wobbles, and tilts toward whichever side is asked."""

    portrait: Portrait
    seed: int = 0
    bend: float = 0.0
    tilt_deg: float = 30.0
    asked: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.phase = self.rng.uniform(0, 2 * math.pi, 4)

    def ask(self, action: str, t: float) -> None:
        self.asked.append((t, action))

    def frame(self, t: float) -> np.ndarray:
        yaw = 3.0 * math.sin(0.9 * t + self.phase[0])
        pitch = 4.0 * math.sin(0.6 * t + self.phase[1])
        for start, end, action in _spans(self.asked):
            held = _held(t, start + 0.6, end + 0.6, 0.5)
            if action.startswith("turn_"):
                # turned as the face would turn (toward the picture's right for the customer's left)
                yaw += (self.tilt_deg if action == "turn_left" else -self.tilt_deg) * held
            elif action == "blink":
                pitch += self.tilt_deg * held  # tilting the sheet back shortens the eyes
        dx = 6.0 * math.sin(1.1 * t + self.phase[2])
        dy = 4.0 * math.sin(0.8 * t + self.phase[3])
        image = sheet_warp(self.portrait.image, yaw=yaw, pitch=pitch, bend=self.bend, dx=dx, dy=dy)
        return noisy(image, self.rng)


def on_screen(content: np.ndarray, *, pitch_px: float, angle_deg: float = 3.0, scale: float = 0.75) -> np.ndarray:
    """``content`` shown on a screen held up to the camera (see the module's docstring).

    ``pitch_px`` is the size of one screen pixel in camera pixels. A 640-px-wide camera with a 60° lens
    sees 0.45 mm per pixel at 25 cm and 0.18 mm at 10 cm, so a 160 ppi tablet (0.16 mm pixels) is 0.35
    camera pixels at 25 cm and 0.9 at 10 cm, a 400 ppi phone 0.14 and 0.35: only coarse screens, or
    screens held very close, have pixels the camera resolves (``pitch_px`` above 1);
    ``scale`` is the screen's size in the camera frame relative to the content (the face a little
    smaller than a real one at the same distance).
    """
    import cv2

    h, w = content.shape[:2]
    sw, sh = max(8, round(w * scale / pitch_px)), max(8, round(h * scale / pitch_px))
    screen = cv2.resize(content, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    screen = 18.0 + screen * (215.0 / 255.0)  # the black level a lit room leaves on glass
    screen *= np.array([1.06, 1.0, 0.93], np.float32)  # a bluish white point (BGR)
    up = 3  # each screen pixel as three stripes (R, G, B) with a dark matrix between the rows
    grid = np.repeat(np.repeat(screen, up, axis=0), up, axis=1)
    stripes = np.zeros((up, up, 3), np.float32)
    for sub, channel in enumerate((2, 1, 0)):  # R, G, B columns in BGR
        stripes[:2, sub, channel] = 4.5  # lit two thirds of each pixel's height: the mean stays the content's
    grid *= np.tile(stripes, (sh, sw, 1))
    # the camera integrates the light over each of its pixels (and its lens blurs a little): a blur of
    # one camera pixel's size in grid units, then the grid turned a little and sampled at the camera's pixels
    target = (round(w * scale), round(h * scale))
    per_px = grid.shape[1] / target[0]
    grid = cv2.GaussianBlur(grid, (0, 0), max(0.3, 0.45 * per_px))
    m = cv2.getRotationMatrix2D((grid.shape[1] / 2, grid.shape[0] / 2), angle_deg, 1.0 / per_px)
    m[0, 2] += (target[0] - grid.shape[1]) / 2
    m[1, 2] += (target[1] - grid.shape[0]) / 2
    seen = cv2.warpAffine(grid, m, target, flags=cv2.INTER_LINEAR, borderValue=(10, 10, 10))
    frame = np.full((h, w, 3), (70, 75, 80), np.float32)
    x0, y0 = (w - target[0]) // 2, (h - target[1]) // 2
    bezel = 14
    frame[max(0, y0 - bezel) : y0 + target[1] + bezel, max(0, x0 - bezel) : x0 + target[0] + bezel] = 12.0
    frame[y0 : y0 + target[1], x0 : x0 + target[0]] = seen
    return np.clip(frame, 0, 255).astype(np.uint8)


@dataclass
class ScreenReplay:
    """A recording of a :class:`Person` played on a screen held up to the camera.

    ``follow`` says whether the attacker plays the clip that does what is asked (driving the replay by
    hand); otherwise the recording does its own actions: a blink at 2 s, a turn to the left from 3 s
    and to the right from 6 s (each held 1.5 s), then again every 8 s.
    """

    portrait: Portrait
    pitch_px: float = 2.8
    seed: int = 0
    follow: bool = False

    def __post_init__(self) -> None:
        self.person = Person(self.portrait, seed=self.seed)
        self.rng = np.random.default_rng(self.seed + 1)
        if not self.follow:
            for start in range(0, 64, 8):
                for at, action in ((2.0, "blink"), (2.6, "look"), (3.0, "turn_left"), (4.5, "look")):
                    self.person.ask(action, start + at)
                for at, action in ((6.0, "turn_right"), (7.5, "look")):
                    self.person.ask(action, start + at)

    def ask(self, action: str, t: float) -> None:
        if self.follow:
            self.person.ask(action, t)

    def frame(self, t: float) -> np.ndarray:
        yaw, pitch, blink = self.person.state(t)
        shown = self.portrait.render(yaw, pitch, blink)
        return noisy(on_screen(shown, pitch_px=self.pitch_px), self.rng)
