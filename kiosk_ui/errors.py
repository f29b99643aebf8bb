"""The kiosk's exceptions: one root, derived from the hall's."""

from __future__ import annotations

from edge.errors import HallError


class KioskError(HallError):
    """Root of every kiosk error (no CJK font, bad catalogue, bad sample bundle, …)."""

    code = "kiosk"
