"""Errors of the vision package, all under :class:`VisionError`."""

from __future__ import annotations

from edge.errors import HallError


class VisionError(HallError):
    """Root of every error raised by vision/."""

    code = "vision"


class AssetError(VisionError):
    """A model or media file is missing, or its checksum does not match the pinned one."""

    code = "asset"


class CameraError(VisionError):
    """A camera source cannot be opened or stopped delivering frames."""

    code = "camera"


class ImageError(VisionError):
    """An image file cannot be read or holds no usable picture."""

    code = "image"


class NoRoom(VisionError):
    """The disk is full: a file of the vision service's own cannot be opened or written until there is room."""

    code = "no_room"
