"""One registry of screens per app: each screen a function of the app's state, rebuilt on every change.

An app (the kiosk, the counter pad) owns one :class:`Registry`; its screen
modules register builders by name, and the app shows a screen by name
(``app.go("ticket")``). The registry also says how each screen behaves: after
how long without a touch the app gives up on it (``timeout``, ``None``: never),
whether the footer is drawn, and where the footer's "back" leads::

    SCREENS: Registry[Kiosk] = Registry("kiosk")

    @SCREENS.screen("ticket")
    def ticket(k: Kiosk) -> Widget: ...

Screens shared by both apps (offline, PIN, done, rating) are added to each
registry with :meth:`Registry.add`. Nothing here imports Kivy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from kiosk_ui.errors import KioskError

if TYPE_CHECKING:
    from kiosk_ui.shell import Shell

A = TypeVar("A")
Build = Callable[[A], Any]  # returns the screen's body widget
Timeout = Callable[[Any], float]  # the app -> seconds


def idle(app: Shell) -> float:
    """The app's idle timeout: the default for every screen."""
    return float(app.idle_timeout_s)


@dataclass(frozen=True)
class Screen(Generic[A]):
    name: str
    build: Build[A]
    timeout: Timeout | None
    footer: bool
    back: str | None


class Registry(Generic[A]):
    """The screens of one app, by name."""

    def __init__(self, app: str) -> None:
        self.app = app
        self.screens: dict[str, Screen[A]] = {}

    def add(
        self,
        name: str,
        build: Build[A],
        *,
        timeout: Timeout | None = idle,
        footer: bool = True,
        back: str | None = None,
    ) -> None:
        """Register ``build`` as screen ``name``; a name is registered once."""
        if name in self.screens:
            raise KioskError(f"{self.app}: screen {name!r} is registered twice")
        self.screens[name] = Screen(name, build, timeout, footer, back)

    def screen(
        self, name: str, *, timeout: Timeout | None = idle, footer: bool = True, back: str | None = None
    ) -> Callable[[Build[A]], Build[A]]:
        """Decorator form of :meth:`add`."""

        def register(build: Build[A]) -> Build[A]:
            self.add(name, build, timeout=timeout, footer=footer, back=back)
            return build

        return register

    def __getitem__(self, name: str) -> Screen[A]:
        try:
            return self.screens[name]
        except KeyError:
            known = ", ".join(sorted(self.screens))
            raise KioskError(f"{self.app}: no screen {name!r} (there are: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self.screens
