"""Process housekeeping every service shares."""

from __future__ import annotations


def set_title(name: str) -> None:
    """Name this process (``ps``, ``top``, systemd) when setproctitle is installed, e.g. ``hall core``."""
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(name)
