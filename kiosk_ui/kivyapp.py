"""The Kivy application around :class:`kiosk_ui.kiosk.Kiosk` (imported only after :func:`boot.prepare`)."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.clock import Clock

from edge.config import HallConfig
from kiosk_ui.config import KioskConfig
from kiosk_ui.kiosk import Kiosk
from kiosk_ui.link import Link


class KioskApp(App):
    title = "Smart Hall kiosk"

    def __init__(self, cfg: KioskConfig, hall: HallConfig, **kw: Any) -> None:
        super().__init__(**kw)
        self.cfg, self.hall = cfg, hall
        self.link: Link | None = None

    def build(self) -> Kiosk:
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
