"""The Kivy application around :class:`kiosk_ui.kiosk.Kiosk` (imported only after :func:`boot.prepare`)."""

from __future__ import annotations

import logging
from typing import Any

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock

from edge.config import HallConfig
from kiosk_ui.config import KioskConfig
from kiosk_ui.kiosk import Kiosk
from kiosk_ui.link import Link

log = logging.getLogger("hall.kiosk")


class _KeepRunning(ExceptionHandler):
    """A fault in one screen's code is logged and the kiosk goes on (a crash would leave a black screen)."""

    def handle_exception(self, exc: BaseException) -> Any:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            return ExceptionManager.RAISE
        log.error("kiosk fault, carrying on: %r", exc, exc_info=exc)
        app = App.get_running_app()
        if isinstance(app, KioskApp) and isinstance(app.root, Kiosk):
            app.root.home()
        return ExceptionManager.PASS


class KioskApp(App):
    title = "Smart Hall kiosk"

    def __init__(self, cfg: KioskConfig, hall: HallConfig, **kw: Any) -> None:
        super().__init__(**kw)
        self.cfg, self.hall = cfg, hall
        self.link: Link | None = None

    def build(self) -> Kiosk:
        ExceptionManager.add_handler(_KeepRunning())
        self.link = Link(lambda fn: Clock.schedule_once(lambda dt: fn(), 0), source="kiosk")
        kiosk = Kiosk(self.cfg, self.hall, self.link, on_exit=self.stop)
        self.link.start()
        return kiosk

    def request_stop(self) -> None:
        """Stop from a signal handler: on the UI thread, at the next frame."""
        Clock.schedule_once(lambda dt: self.stop(), 0)

    def on_stop(self) -> None:
        if self.link is not None:
            self.link.stop()
