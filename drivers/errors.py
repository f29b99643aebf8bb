"""The drivers' exceptions: one root, derived from the hall's."""

from __future__ import annotations

from edge.errors import HallError


class DriverError(HallError):
    """Root of every device error."""

    code = "device"


class DeviceUnavailable(DriverError):
    """The device cannot be opened or has gone away (unplugged, port closed, no reader)."""

    code = "device_unavailable"


class ProtocolError(DriverError):
    """The device answered something that does not follow its protocol (bad frame, checksum, status)."""

    code = "device_protocol"


class DeviceTimeout(DriverError):
    """The device did not answer in time."""

    code = "device_timeout"


class CardDataError(DriverError):
    """A card was read but its data is unusable: unknown layout, bad field, failed check digit."""

    code = "card_data"


class CardRemoved(DriverError):
    """The card left the reader before the read finished."""

    code = "card_removed"


class CardBusy(DriverError):
    """Another program holds the card (a PC/SC transaction) for longer than the reader waits."""

    code = "card_busy"
