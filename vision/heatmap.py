"""Floor heatmaps: person-seconds per floor-plan cell, per-period aggregates, and a PNG.

Feet positions are mapped to floor-plan pixels by a
:class:`~vision.geometry.Homography`; :class:`HeatGrid` adds the time each
person spends in a ``cell`` × ``cell`` pixel square. :func:`render` colours a
grid over the floor-plan image and :func:`write_png` replaces the file
atomically, so a reader never sees half a picture::

    >>> g = HeatGrid(100, 60, cell=20)
    >>> g.add([(10.0, 10.0), (95.0, 55.0)], seconds=0.5)
    >>> g.cells()
    [[0, 0, 0.5], [4, 2, 0.5]]
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vision.errors import ImageError
from vision.geometry import Point


class HeatGrid:
    """Person-seconds per cell of a ``width`` × ``height`` floor plan."""

    def __init__(self, width: int, height: int, cell: int = 20) -> None:
        self.width, self.height, self.cell = width, height, cell
        self.cols = (width + cell - 1) // cell
        self.rows = (height + cell - 1) // cell
        self.grid = np.zeros((self.rows, self.cols), dtype=np.float64)

    def add(self, points: Iterable[Point], seconds: float) -> None:
        """Add ``seconds`` for each floor point; points off the plan are ignored."""
        for x, y in points:
            if 0 <= x < self.width and 0 <= y < self.height:
                self.grid[int(y) // self.cell, int(x) // self.cell] += seconds

    def merge(self, cells: Iterable[Iterable[float]]) -> None:
        """Add ``[col, row, seconds]`` triples (as :meth:`cells` gives them)."""
        for item in cells:
            col, row, seconds = (float(v) for v in item)
            if 0 <= int(row) < self.rows and 0 <= int(col) < self.cols:
                self.grid[int(row), int(col)] += seconds

    def cells(self) -> list[list[float]]:
        """Non-empty cells as ``[col, row, seconds]``, row by row."""
        rows, cols = np.nonzero(self.grid)
        return [[int(c), int(r), round(float(self.grid[r, c]), 2)] for r, c in zip(rows, cols, strict=True)]

    def total(self) -> float:
        return float(self.grid.sum())

    def clear(self) -> None:
        self.grid[:] = 0.0

    def aggregate(self) -> dict[str, Any]:
        """The JSON body of a ``heatmap.minute`` event (before camera and time are added)."""
        return {
            "cell": self.cell,
            "cols": self.cols,
            "rows": self.rows,
            "cells": self.cells(),
            "person_seconds": round(self.total(), 2),
        }


def default_floorplan() -> Path:
    """The demo hall's floor plan shipped with the package."""
    return Path(str(resources.files("vision").joinpath("floorplan.png")))


def load_floorplan(path: str | Path | None = None) -> np.ndarray:
    import cv2

    p = Path(path) if path else default_floorplan()
    image = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{p}: not a readable image")
    return np.asarray(image)


def render(grid: HeatGrid, floorplan: np.ndarray, *, alpha: float = 0.55) -> np.ndarray:
    """The floor plan with the grid coloured over it (blue = little, red = most time)."""
    import cv2

    plan = floorplan
    if plan.shape[1] != grid.width or plan.shape[0] != grid.height:
        plan = cv2.resize(plan, (grid.width, grid.height))
    if float(grid.grid.max()) <= 0:
        return np.array(plan, copy=True)
    size = (grid.cols * grid.cell, grid.rows * grid.cell)
    heat = cv2.resize(grid.grid.astype(np.float32), size, interpolation=cv2.INTER_NEAREST)
    heat = cv2.GaussianBlur(heat, (0, 0), grid.cell / 2)[: grid.height, : grid.width]
    big = np.asarray(heat / float(heat.max()) * 255, dtype=np.uint8)
    colour = cv2.applyColorMap(big, cv2.COLORMAP_JET)
    weight = (big.astype(np.float32) / 255.0 * alpha)[..., None]
    weight[big < 8] = 0.0
    out = np.asarray(plan, dtype=np.float32) * (1 - weight) + colour.astype(np.float32) * weight
    return np.asarray(out, dtype=np.uint8)


def write_png(image: np.ndarray, path: Path) -> Path:
    """Write ``image`` as PNG to ``path`` atomically (temporary file, then rename)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ImageError(f"cannot encode {path.name} as PNG")
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    part.write_bytes(data.tobytes())
    os.replace(part, path)
    return path
