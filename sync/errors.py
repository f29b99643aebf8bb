"""Errors of the sync package, all under :class:`edge.errors.HallError`."""

from __future__ import annotations

from edge.errors import HallError


class SyncError(HallError):
    """Root of the sync package's errors."""

    code = "sync"


class LinkDown(SyncError):
    """HQ cannot be reached, or the exchange broke off (timeout, reset, bad framing)."""

    code = "link_down"


class Refused(SyncError):
    """HQ answered, and refused: the status and its reason."""

    code = "refused"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HQ refused ({status}): {message}")
        self.status = status


class GapRefused(Refused):
    """HQ refused a batch that does not follow its cursor; ``cursor`` is where HQ is."""

    code = "gap"

    def __init__(self, lane: str, cursor: int, message: str) -> None:
        super().__init__(409, message)
        self.lane = lane
        self.cursor = cursor


class AuthError(SyncError):
    """A request's signature, time, nonce or hall is not acceptable."""

    code = "auth"
