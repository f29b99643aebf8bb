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


class BatchRefused(Refused):
    """HQ refused a batch as inconsistent (422): the lane, and where known the seq and field at fault.

    Sending the same batch again cannot succeed: the box's log and HQ's store disagree.
    """

    code = "batch_refused"

    def __init__(self, lane: str, message: str, *, seq: int | None = None, field: str | None = None) -> None:
        super().__init__(422, message)
        self.lane = lane
        self.seq = seq
        self.field = field


class Inconsistent(SyncError):
    """At HQ: a batch contradicts itself or what HQ holds; names the lane, seq and field at fault."""

    code = "inconsistent"

    def __init__(self, lane: str, field: str, message: str, *, seq: int | None = None) -> None:
        super().__init__(f"lane {lane}: {field}: {message}")
        self.lane = lane
        self.field = field
        self.seq = seq


class StoreUnavailable(SyncError):
    """At HQ: the store cannot be read or written now (connection lost, disk full); retry later."""

    code = "store_unavailable"


class StoreFull(StoreUnavailable):
    """At HQ: the store's disk is full; nothing of the request was kept."""

    code = "store_full"


class KeyFileError(SyncError):
    """At HQ: the key file that encrypts hall secrets is missing, unreadable, too open, or not this store's."""

    code = "key_file"
