"""Process housekeeping every service shares: its name, and the start-up lines every service has.

A service's main calls :func:`start` once, before anything else::

    started = start("hall devices", args.config, "devices", DevicesConfig)
    started.config     # the hall's HallConfig
    started.settings   # DevicesConfig from [services.devices], or its defaults
    started.home       # HALL_HOME, created and writable
    started.notify     # its service manager (systemd, hall run): notify.ready() once serving,
                       # notify.alive() on every round of its main loop (edge.sdnotify)

It turns on faulthandler (a hung or crashed service dumps its threads), names
the process (``ps``, ``top``, systemd), sets up logging, loads and checks the
config and makes sure HALL_HOME can be written. A bad config or an unusable
HALL_HOME is said in one sentence on stderr (``hall devices: hall.toml:7:
queue.max_recall: unknown key``) and the process exits with status 2: a
restart cannot fix either.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from pydantic import BaseModel

from edge.errors import ConfigError

if TYPE_CHECKING:
    from edge.config import HallConfig
    from edge.paths import Home
    from edge.sdnotify import Notifier

M = TypeVar("M", bound=BaseModel | None)
S = TypeVar("S", bound=BaseModel)
LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def set_title(name: str) -> None:
    """Name this process (``ps``, ``top``, systemd) when setproctitle is installed, e.g. ``hall core``."""
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(name)


def die_with_parent(parent: int | None = None) -> None:
    """In a child process: get SIGTERM when the parent dies, even by ``kill -9`` (Linux ``PR_SET_PDEATHSIG``).

    A worker whose parent is gone would otherwise run on beside the parent's replacement. When the
    parent (``parent``: its pid) is already gone by the time this runs, SIGTERM comes at once.
    """
    import ctypes
    import os
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass(frozen=True)
class Started(Generic[M]):
    """What a service starts from: the hall's config, its own section, and its home."""

    config: HallConfig
    settings: M
    home: Home
    notify: Notifier


@overload
def start(title: str, config_path: str | None) -> Started[None]: ...


@overload
def start(title: str, config_path: str | None, section: str, model: type[S]) -> Started[S]: ...


def start(
    title: str, config_path: str | None, section: str | None = None, model: type[BaseModel] | None = None
) -> Started[Any]:
    """faulthandler, process title, logging, the config (and ``[services.<section>]``), HALL_HOME.

    Exits with status 2 and one sentence on stderr when the config or HALL_HOME cannot be used.
    """
    from edge import config, sdnotify
    from edge.paths import Home

    notify = sdnotify.notifier()  # read before anything starts a child: children must not speak for this process
    faulthandler.enable()
    set_title(title)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        cfg = config.load(config_path)
        settings = config.service_config(cfg, section, model) if section and model else None
        home = Home.from_env().ensure()
    except ConfigError as exc:
        print(f"{title}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return Started(cfg, settings, home, notify)
