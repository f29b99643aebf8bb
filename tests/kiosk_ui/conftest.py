"""Kivy offscreen in this test process, and a kiosk on a real core's bus.

Kivy creates one window per process and reads its environment when first
imported, so the window is made here, once, before any test imports a screen.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.bus import BusClient, Endpoints
from tests.conftest import CoreProcess

_saved = {k: os.environ.get(k) for k in ("SDL_VIDEODRIVER", "KIVY_HOME", "KIVY_NO_ARGS", "KIVY_LOG_MODE")}
from kiosk_ui import boot  # noqa: E402

boot.prepare(Path(tempfile.mkdtemp(prefix="kivy")), width=1280, height=800, fullscreen=False, headless=True)
from kivy.base import EventLoop  # noqa: E402
from kivy.clock import Clock  # noqa: E402
from kivy.core.window import Window  # noqa: E402

EventLoop.ensure_window()
Window.size = (1280, 800)
for _key, _value in _saved.items():  # child processes (hall demo, …) must not inherit the test's Kivy setup
    if _value is None:
        os.environ.pop(_key, None)
    else:
        os.environ[_key] = _value


class FakeClock:
    """The kiosk's idea of time (monotonic seconds), moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def make_kiosk(core: CoreProcess) -> Iterator[Callable[..., Any]]:
    """Build a kiosk with a given ``[services.kiosk]`` config on the core's bus; torn down after the test."""
    from edge import config
    from kiosk_ui.drive import until
    from kiosk_ui.errors import KioskError
    from kiosk_ui.kiosk.config import KioskConfig
    from kiosk_ui.kiosk.kiosk import Kiosk
    from kiosk_ui.link import Link

    made: list[tuple[Kiosk, Link]] = []

    def build(clock: FakeClock | None = None, **settings: Any) -> Kiosk:
        settings.setdefault("fullscreen", False)
        cfg = KioskConfig(**settings)
        link = Link(
            lambda fn: Clock.schedule_once(lambda dt: fn(), 0), endpoints=Endpoints.local(core.home), timeout=1.0
        )
        kiosk = Kiosk(cfg, config.load(), link, clock=clock or FakeClock())
        Window.add_widget(kiosk)
        link.start()
        made.append((kiosk, link))
        until(lambda: kiosk.status is not None, what="the first queue status")
        # The event subscription is live once a probe published on the bus comes back to the kiosk.
        with BusClient("probe", endpoints=Endpoints.local(core.home)) as probe:
            for _ in range(100):
                probe.request(
                    "event.publish", {"topic": "printer.printed", "data": {"ticket_id": "probe"}, "durable": False}
                )
                try:
                    until(lambda: "probe" in kiosk.printer_seen, timeout=0.3, what="the probe event")
                    break
                except KioskError:
                    continue
        return kiosk

    yield build
    for kiosk, link in made:
        link.stop()
        kiosk.close()
        Window.remove_widget(kiosk)


@pytest.fixture
def make_pad(core: CoreProcess) -> Iterator[Callable[..., Any]]:
    """Build a counter pad with a given ``[services.pad]`` config on the core's bus; torn down after the test."""
    from edge import config
    from kiosk_ui.drive import until
    from kiosk_ui.errors import KioskError
    from kiosk_ui.link import Link
    from kiosk_ui.pad.config import PadConfig
    from kiosk_ui.pad.pad import TOPICS, Pad

    made: list[tuple[Pad, Link]] = []

    def build(counter: str = "2", clock: FakeClock | None = None, ready: bool = True, **settings: Any) -> Pad:
        settings.setdefault("fullscreen", False)
        link = Link(
            lambda fn: Clock.schedule_once(lambda dt: fn(), 0),
            endpoints=Endpoints.local(core.home),
            timeout=1.0,
            source=f"pad-{counter}",
            topics=TOPICS,
        )
        pad = Pad(PadConfig(**settings), config.load(), link, counter=counter, clock=clock or FakeClock())
        Window.add_widget(pad)
        link.start()
        made.append((pad, link))
        if not ready:
            return pad
        until(lambda: pad.desk.counter is not None, what="the pad's first word from the core")
        # The event subscription is live once a probe published on the bus comes back to the pad.
        seen: list[str] = []
        handler = link.on_event
        assert handler is not None

        def spy(env: dict[str, Any]) -> None:
            seen.append(env["topic"])
            handler(env)

        link.on_event = spy
        probe = {"topic": "pad.correction_requested", "data": {"counter": "probe"}, "durable": False}
        with BusClient("probe", endpoints=Endpoints.local(core.home)) as bus:
            for _ in range(100):
                bus.request("event.publish", probe)
                try:
                    until(lambda: "pad.correction_requested" in seen, timeout=0.3, what="the probe event")
                    break
                except KioskError:
                    continue
        return pad

    yield build
    for pad, link in made:
        link.stop()
        pad.close()
        Window.remove_widget(pad)


@pytest.fixture
def publish(bus: BusClient) -> Callable[[str, dict[str, Any]], None]:
    """Publish an event the way the devices service does (``event.publish``, not durable)."""

    def send(topic: str, data: dict[str, Any]) -> None:
        bus.request("event.publish", {"topic": topic, "data": data, "durable": False})

    return send
