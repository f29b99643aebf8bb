"""The Kivy application around a :class:`~kiosk_ui.shell.Shell` (imported only after :func:`boot.prepare`).

Both the kiosk and the counter pad run in a :class:`HallApp`: it makes the bus
link, builds the app's root widget with it, and keeps running when one screen's
code fails (the fault is logged and the app goes home: a crash would leave a
black screen in front of a customer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock

from kiosk_ui.link import Link
from kiosk_ui.shell import Shell

log = logging.getLogger("hall.kiosk")

Build = Callable[[Link, Callable[[], None]], Shell]  # (link, on_exit) -> root widget


class _KeepRunning(ExceptionHandler):
    """A fault in one screen's code is logged and the app goes on."""

    def handle_exception(self, exc: BaseException) -> Any:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            return ExceptionManager.RAISE
        log.error("fault, carrying on: %r", exc, exc_info=exc)
        app = App.get_running_app()
        if isinstance(app, HallApp) and isinstance(app.root, Shell):
            app.root.home()
        return ExceptionManager.PASS


class HallApp(App):
    def __init__(
        self, title: str, source: str, build: Build, *, topics: tuple[str, ...] | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.title = title
        self.source = source
        self.make = build
        self.topics = topics
        self.link: Link | None = None

    def build(self) -> Shell:
        ExceptionManager.add_handler(_KeepRunning())
        post = lambda fn: Clock.schedule_once(lambda dt: fn(), 0)  # noqa: E731
        self.link = (
            Link(post, source=self.source, topics=self.topics)
            if self.topics is not None
            else Link(post, source=self.source)
        )
        root = self.make(self.link, self.stop)
        self.link.start()
        return root

    def request_stop(self) -> None:
        """Stop from a signal handler: on the UI thread, at the next frame."""
        Clock.schedule_once(lambda dt: self.stop(), 0)

    def on_stop(self) -> None:
        if self.link is not None:
            self.link.stop()
