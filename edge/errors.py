"""One exception root for the hall.

Every failure the hall reports derives from :class:`HallError`. Errors that
cross the bus carry a stable ``code`` so that a client can tell "unknown
business" from "counter is paused" without parsing text::

    >>> err = Conflict("counter 2 is paused")
    >>> err.code, str(err)
    ('conflict', 'counter 2 is paused')
"""

from __future__ import annotations

from typing import Any


class HallError(Exception):
    """Root of every error raised by the hall's own code."""

    code = "error"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self)}


class ConfigError(HallError):
    """The configuration is invalid; the message names the key and line."""

    code = "config"


class HomeUnusable(ConfigError):
    """HALL_HOME cannot be created or written (read-only, not ours): a setting to fix, not a fault to retry."""


class StorageError(HallError):
    """The hall database cannot be opened, migrated or written."""

    code = "storage"


class DiskFull(StorageError):
    """The disk under HALL_HOME is full: the write was refused and nothing of it kept."""

    code = "disk_full"


class BusError(HallError):
    """The bus cannot be reached or answered with something unreadable."""

    code = "bus"


class BusTimeout(BusError):
    """No reply arrived after every retry."""

    code = "timeout"


class BusDown(BusTimeout):
    """Not sent: the core left a request unanswered a moment ago, and the client waits before asking again."""

    code = "core_down"


class InvalidRequest(HallError):
    """A request is malformed: bad envelope, unknown topic, bad field."""

    code = "invalid"


class NotFound(HallError):
    """The ticket, counter, business or record named does not exist."""

    code = "not_found"


class Conflict(HallError):
    """The request is well-formed but not allowed in the current state."""

    code = "conflict"


class RemoteError(HallError):
    """An error reply from the core, re-raised in the client process."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


ERRORS_BY_CODE: dict[str, type[HallError]] = {
    cls.code: cls for cls in (InvalidRequest, NotFound, Conflict, ConfigError, StorageError, DiskFull)
}
