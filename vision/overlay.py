"""Drawings for people and faces on a frame, as a hall manager checks them (PNG, never kept by a camera).

:func:`draw_people` outlines each person with its score and track id;
:func:`draw_faces` outlines each face, marks its five landmarks, and writes
the quality verdict (or the reason it was refused) under it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GREEN = (60, 200, 60)
AMBER = (0, 170, 255)
RED = (40, 40, 230)


def _label(image: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    import cv2

    text = text.replace("°", " deg").encode("ascii", "replace").decode()  # OpenCV's fonts draw ASCII only
    scale = max(0.4, min(1.2, image.shape[1] / 1400))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    y = max(h + base + 2, min(y, image.shape[0] - 2))
    x = max(0, min(x, image.shape[1] - w - 3))  # the label stays inside the picture
    cv2.rectangle(image, (x, y - h - base - 1), (x + w + 2, y + 1), colour, -1)
    cv2.putText(image, text, (x + 1, y - base + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def draw_people(frame: np.ndarray, people: list[dict[str, Any]]) -> np.ndarray:
    """A copy of ``frame`` with each person's box, score and track id."""
    import cv2

    out = np.array(frame, copy=True)
    thick = max(1, round(out.shape[1] / 600))
    for p in people:
        x, y, w, h = (int(v) for v in p["box"])
        cv2.rectangle(out, (x, y), (x + w, y + h), GREEN, thick)
        tag = f"#{p['track']} " if p.get("track") is not None else ""
        _label(out, f"{tag}{float(p['score']):.2f}", x, y - 2, GREEN)
    _label(out, f"{len(people)} people", 4, 4 + 20, (80, 80, 80))
    return out


def draw_faces(frame: np.ndarray, faces: list[dict[str, Any]]) -> np.ndarray:
    """A copy of ``frame`` with each face's box, landmarks and quality verdict.

    Each item: ``{"box", "score", "landmarks": [[x, y] × 5], "usable": bool, "reason": str}``.
    """
    import cv2

    out = np.array(frame, copy=True)
    thick = max(1, round(out.shape[1] / 600))
    for f in faces:
        x, y, w, h = (int(v) for v in f["box"])
        colour = GREEN if f.get("usable", True) else AMBER
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thick)
        for i, (px, py) in enumerate(f.get("landmarks") or []):
            dot = (255, 80, 80) if i < 2 else (80, 220, 255)
            cv2.circle(out, (round(px), round(py)), max(2, thick + 1), dot, -1)
        text = f"{float(f['score']):.2f}" + ("" if f.get("usable", True) else f" {f.get('reason', '')}")
        _label(out, text[:48], x, y + h + 16, colour)
    return out
