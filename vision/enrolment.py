"""Enrolment from photos (``hall vision enroll``): one person per photo, the same person in every photo.

Each capture must show exactly one usable face (:func:`vision.faces.quality`),
and no other face at least half its size beside it: a group photo, or a
customer photographed with someone at their shoulder, is refused with the
count. The captures must then agree with each other: every pair at
``SAME_THRESHOLD`` or more, so photos of two people under one card are
refused, naming the pair. A face already in the gallery under another card is
refused too (one face, one customer). Each refusal says why::

    >>> check_agreement([np.eye(192, dtype=np.float32)[0]] * 2, ["a.jpg", "b.jpg"])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vision.embed import SAME_THRESHOLD
from vision.errors import VisionError


class EnrolmentRefused(VisionError):
    """An enrolment refused, with the reason a person can act on."""

    code = "enrolment"


def capture(encoder: Any, image: np.ndarray, name: str) -> np.ndarray:
    """The embedding of the one person in ``image``; :class:`EnrolmentRefused` naming ``name`` otherwise."""
    from vision.faces import align, quality

    faces = sorted(encoder.detector.detect(image), key=lambda f: -f.box[2] * f.box[3])
    if not faces:
        raise EnrolmentRefused(f"{name}: refused: no face found")
    verdicts = [quality(image, f) for f in faces]
    usable = [f for f, q in zip(faces, verdicts, strict=True) if q.ok]
    if len(usable) > 1:
        raise EnrolmentRefused(f"{name}: refused: {len(usable)} usable faces; a capture must show the customer alone")
    if not usable:
        raise EnrolmentRefused(f"{name}: refused: no usable face ({verdicts[0].reason})")
    face = usable[0]
    area = face.box[2] * face.box[3]
    beside = [f for f in faces if f is not face and f.box[2] * f.box[3] >= 0.5 * area]
    if beside:
        raise EnrolmentRefused(
            f"{name}: refused: {len(beside) + 1} faces; another face beside the customer's is too close to tell apart"
        )
    return np.asarray(encoder.embedder.embed([align(image, face.landmarks)])[0], dtype=np.float32)


def check_agreement(vectors: list[np.ndarray], names: list[str], threshold: float = SAME_THRESHOLD) -> None:
    """Every pair of captures is of the same person, or :class:`EnrolmentRefused` naming the worst pair."""
    worst: tuple[float, int, int] | None = None
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            sim = float(np.dot(vectors[i], vectors[j]))
            if worst is None or sim < worst[0]:
                worst = (sim, i, j)
    if worst is not None and worst[0] < threshold:
        sim, i, j = worst
        raise EnrolmentRefused(
            f"refused: {names[i]} and {names[j]} are not of the same person (similarity {sim:.2f}, "
            f"need {threshold:.2f}); each enrolment is one customer"
        )
