"""The [services.vision] section, and the pinned, checksum-checked models and media."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge import config
from edge.errors import ConfigError
from vision import assets
from vision.config import VisionConfig
from vision.errors import AssetError

GOOD = """
[services.vision]
heatmap_period_s = 30

[[services.vision.cameras]]
name = "door"
source = "rtsp://10.0.0.21/stream1"
line = [600, 0, 600, 576]
zones = [{ name = "waiting", polygon = [[0, 0], [10, 0], [10, 10]], queue = true }]
"""


def test_vision_section_is_validated_with_the_hall_file() -> None:
    hall = config.load_text(GOOD, "hall.toml")
    cfg = config.service_config(hall, "vision", VisionConfig)
    assert cfg.cameras[0].name == "door" and cfg.cameras[0].zones[0].queue
    assert cfg.heatmap_period_s == 30


def test_bad_vision_key_is_named_with_its_line() -> None:
    bad = GOOD.replace('source = "rtsp', 'fsp = 3\nsource = "rtsp')
    with pytest.raises(ConfigError, match=r"hall.toml:\d+: services.vision.cameras.0.fsp: unknown key"):
        config.load_text(bad, "hall.toml")


def test_bad_line_and_duplicate_cameras_are_refused() -> None:
    with pytest.raises(ConfigError, match="two distinct end points"):
        config.load_text(GOOD.replace("[600, 0, 600, 576]", "[1, 1, 1, 1]"), "hall.toml")
    twice = GOOD + GOOD[GOOD.index("[[services.vision.cameras]]") :]
    with pytest.raises(ConfigError, match="camera door is defined twice"):
        config.load_text(twice, "hall.toml")


def test_fetched_assets_match_their_pinned_checksums(fetched: list[Path]) -> None:
    names = {p.name for p in fetched}
    assert {"vtest.avi", "res10_300x300_ssd_iter_140000.caffemodel", "obama.jpg", "group5.jpg"} <= names
    for path in fetched:
        assert assets.sha256_of(path) == assets.ASSETS[path.name].sha256


def test_an_altered_asset_is_refused(fetched: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "obama.jpg"
    shutil.copy(assets.path("obama.jpg"), copy)
    monkeypatch.setenv("HALL_VISION_ASSETS", str(tmp_path))
    assert assets.path("obama.jpg") == copy
    data = bytearray(copy.read_bytes())
    data[1000] ^= 0xFF
    copy.write_bytes(bytes(data))
    import os

    os.utime(copy, (1, 1))
    with pytest.raises(AssetError, match=r"obama.jpg: .* has sha256"):
        assets.path("obama.jpg")


def test_missing_and_unknown_assets_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALL_VISION_ASSETS", str(tmp_path))
    with pytest.raises(AssetError, match=r"biden.jpg: .* is missing \(PyPI face_recognition 1.3.0\)"):
        assets.path("biden.jpg")
    with pytest.raises(AssetError, match=r"unknown asset 'nobody\.jpg'"):
        assets.path("nobody.jpg")


def test_a_package_with_the_wrong_checksum_is_refused(tmp_path: Path) -> None:
    pkg = assets.FACE_RECOGNITION
    forged = assets.Package(pkg.spec, pkg.filename, "0" * 64)
    with pytest.raises(AssetError, match=r"face_recognition-1\.3\.0\.tar\.gz: sha256"):
        assets.fetch_package(forged, tmp_path)
    assert list(tmp_path.iterdir()) == []
