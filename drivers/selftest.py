"""Self-tests of devices the ``devices`` service is running, asked for over the bus.

While ``hall devices`` runs it owns every port (a serial port has one owner),
so the technicians' console cannot open a device itself. It publishes
``device.test_requested`` {"request", "device"} instead; the service runs the
test with the unit it already has and answers ``device.tested`` {"request",
"device", "ok", "detail"} (both on the bus only, not in the log):

- ``printer``: a test ticket (T000) through the printer's own queue, between
  customers' tickets; ok when it printed, else why not (``paper_out``…).
- ``voice``: a test call made (and played, if ``play_command`` is set).
- ``lights``: the path to the first counter lit as for a call.
- anything else (card readers, IR beams): its health now; a card reader is
  tested by reading a card, which then shows as ``card.id.read`` in the log.
"""

from __future__ import annotations

from typing import Any

from drivers.base import DeviceUnit
from drivers.errors import DriverError

REQUEST_TOPIC = "device.test_requested"
RESULT_TOPIC = "device.tested"


def run(unit: DeviceUnit, timeout: float = 30.0, request: str = "") -> dict[str, Any]:
    """Test ``unit`` in place; ``ok`` and a one-line ``detail`` a technician reads."""
    from drivers.gpio.units import LightsUnit
    from drivers.printer.printer import PrinterUnit
    from drivers.voice.unit import VoiceUnit

    if isinstance(unit, PrinterUnit):
        failed = unit.test_print(request or "console", timeout)
        if failed is None:
            return {"ok": True, "detail": "test ticket T000 printed"}
        return {"ok": False, "detail": f"test ticket not printed: {failed}"}
    if isinstance(unit, VoiceUnit):
        try:
            wav = unit.announce("T000", "测试")
        except DriverError as exc:
            return {"ok": False, "detail": f"test call not made: {exc}"}
        played = " and played" if unit.play_command else ""
        return {"ok": True, "detail": f"test call made{played}: {wav}"}
    if isinstance(unit, LightsUnit):
        counters = sorted({*unit.plan.paths, *unit.plan.lamps})
        health = unit.health()
        if health.state not in ("ok", "degraded") or not counters:
            return {"ok": False, "detail": f"lights {health.state}: {health.detail or 'no counter has lights'}"}
        unit.on_event({"topic": "ticket.called", "data": {"counter": counters[0]}})
        return {"ok": True, "detail": f"path to counter {counters[0]} lit for {unit.plan.on_s:g} s"}
    health = unit.health()
    ok = health.state in ("ok", "degraded")
    from drivers.cards import IcCardUnit, IdCardUnit

    hint = "; put a card on it: the read shows in `logs devices`" if isinstance(unit, (IdCardUnit, IcCardUnit)) else ""
    return {"ok": ok, "detail": f"{health.state}{': ' + health.detail if health.detail else ''}{hint}"}
