"""The ``[services.devices]`` section of the hall config.

The defaults describe the demo hall's simulated devices: a simulated 80 mm
printer on a pty, mock GPIO pins for one entrance beam pair, four seat
sensors and the floor lights, and calls spoken to WAV files. A real hall
names its printer URL and sets ``gpio.pin_factory = "default"``::

    [services.devices.printer]
    url = "tcp://192.168.10.20:9100"
    paper = 58

    [services.devices.gpio]
    pin_factory = "default"
"""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.iccard.config import IcCardConfig
from drivers.idcard.config import IdCardConfig
from drivers.printer.ticket import DEFAULT_NOTE

PIN = r"^(GPIO\d{1,2}|BOARD\d{1,2}|\d{1,2})$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrinterConfig(_Section):
    enabled: bool = Field(True, title="Enabled", description="Whether a ticket printer is attached.")
    url: str = Field(
        "sim://pty",
        title="URL",
        description="tcp://host:9100, serial:///dev/ttyUSB0?baudrate=19200, a pyserial URL (spy://…), "
        "usb://VVVV:PPPP, file:///dev/usb/lp0, or sim://pty / sim://tcp for the simulated printer.",
        min_length=3,
        max_length=200,
    )
    paper: Literal[58, 80] = Field(80, title="Paper", description="Paper width in millimetres.")
    channels: list[str] = Field(
        default_factory=lambda: ["kiosk", "appointment"],
        title="Channels",
        description="Tickets issued through these channels are printed (ticket.issued data.channel).",
        max_length=8,
    )
    qr_url: str = Field(
        "https://hall.example/queue?number={number}",
        title="QR link",
        description="Link printed as a QR code; {number} and {ticket_id} are filled in. Empty: no QR code.",
        max_length=200,
    )
    privacy_note: str = Field(
        DEFAULT_NOTE, title="Privacy note", description="How personal data is used.", max_length=120
    )
    footer: str = Field("请留意叫号，过号请重新取号", title="Footer", description="Last line.", max_length=60)
    status_interval_s: float = Field(
        5.0, ge=0.2, le=300, title="Status interval", description="Seconds between status polls (DLE EOT)."
    )
    status: Literal["auto", "yes", "no"] = Field(
        "auto",
        title="Real-time status",
        description="Whether the printer answers DLE EOT. auto: it is asked; one that never answered and leaves "
        "3 requests in a row unanswered is degraded ('no status') and printed to without asking. yes: silence "
        "means offline. no: never asked (paper out is not seen).",
    )

    @field_validator("qr_url")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        unknown = names - {"number", "ticket_id"}
        if unknown:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} (use {{number}} or {{ticket_id}})")
        return value


class EntranceConfig(_Section):
    name: str = Field(
        title="Name", description="Entrance name, used in source ir:<name>.", pattern=r"^[a-z0-9_-]{1,24}$"
    )
    outer_pin: str = Field(title="Outer beam pin", description="Beam on the street side.", pattern=PIN)
    inner_pin: str = Field(title="Inner beam pin", description="Beam on the hall side.", pattern=PIN)
    debounce_s: float = Field(0.05, ge=0.0, le=2.0, title="Debounce", description="Seconds a beam must be stable.")
    broken_high: bool = Field(True, title="Broken is high", description="Pin level when the beam is broken.")


class SeatConfig(_Section):
    counter: str = Field(
        title="Counter", description="Counter id the seat belongs to.", pattern=r"^[A-Za-z0-9_-]{1,16}$"
    )
    pin: str = Field(title="Pin", description="Seat sensor pin.", pattern=PIN)
    hold_s: float = Field(3.0, ge=0.0, le=120.0, title="Hold", description="Seconds a change must last.")
    present_high: bool = Field(True, title="Present is high", description="Pin level when someone sits.")


class LightsConfig(_Section):
    segments: dict[str, str] = Field(
        default_factory=lambda: {"entry": "GPIO17", "left": "GPIO18", "right": "GPIO27", "back": "GPIO22"},
        title="Floor segments",
        description="Floor path light name → PWM pin.",
    )
    lamps: dict[str, str] = Field(
        default_factory=lambda: {"1": "GPIO23", "2": "GPIO24", "3": "GPIO25", "4": "GPIO12"},
        title="Counter lamps",
        description="Counter id → lamp pin.",
    )
    paths: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "1": ["entry", "left"],
            "2": ["entry", "left"],
            "3": ["entry", "right"],
            "4": ["entry", "right", "back"],
        },
        title="Paths",
        description="Counter id → floor segments from the entrance to it, in order.",
    )
    step_s: float = Field(0.4, ge=0.05, le=5, title="Step", description="Seconds between segments lighting up.")
    on_s: float = Field(12.0, ge=1, le=120, title="On time", description="Seconds a call keeps its path lit.")
    blink_s: float = Field(0.5, ge=0.1, le=5, title="Blink", description="Half period of the counter lamp blink.")
    brightness: float = Field(0.8, ge=0.05, le=1.0, title="Brightness", description="PWM duty of lit segments.")

    @model_validator(mode="after")
    def _known(self) -> LightsConfig:
        for counter, path in self.paths.items():
            for seg in path:
                if seg not in self.segments:
                    raise ValueError(f"path of counter {counter} names unknown segment {seg!r}")
        for pin in [*self.segments.values(), *self.lamps.values()]:
            if not re.match(PIN, pin):
                raise ValueError(f"{pin!r} is not a pin name (GPIO17, BOARD11 or 17)")
        return self


class GpioConfig(_Section):
    enabled: bool = Field(True, title="Enabled", description="Whether GPIO sensors and lights are used.")
    pin_factory: Literal["default", "mock"] = Field(
        "mock", title="Pin factory", description="default: the board's real pins; mock: gpiozero's simulated pins."
    )
    entrances: list[EntranceConfig] = Field(
        default_factory=lambda: [EntranceConfig(name="main", outer_pin="GPIO5", inner_pin="GPIO6")],
        title="Entrances",
        description="Beam pairs that count people in and out.",
        max_length=8,
    )
    seats: list[SeatConfig] = Field(
        default_factory=lambda: [
            SeatConfig(counter=str(i), pin=pin) for i, pin in enumerate(("GPIO13", "GPIO19", "GPIO26", "GPIO16"), 1)
        ],
        title="Seats",
        description="Seat sensors at counters: is the counter's seat occupied (staff on duty).",
        max_length=32,
    )
    lights: LightsConfig = Field(default_factory=LightsConfig, title="Lights", description="Guidance lights.")
    demo_walk_mean_s: float = Field(
        15.0, ge=1, le=3600, title="Demo walkers", description="Mean seconds between simulated people (demo only)."
    )

    @model_validator(mode="after")
    def _distinct_pins(self) -> GpioConfig:
        pins = [p for e in self.entrances for p in (e.outer_pin, e.inner_pin)] + [s.pin for s in self.seats]
        pins += [*self.lights.segments.values(), *self.lights.lamps.values()]
        dup = sorted({p for p in pins if pins.count(p) > 1})
        if dup:
            raise ValueError(f"pin {dup[0]} is used twice")
        return self


class VoiceConfig(_Section):
    enabled: bool = Field(True, title="Enabled", description="Whether calls are spoken.")
    voice: str = Field(
        "cmn-latn-pinyin", title="Voice", description="espeak-ng voice (reads our pinyin).", max_length=40
    )
    speed: int = Field(150, ge=80, le=400, title="Speed", description="Words per minute.")
    repeat: int = Field(2, ge=1, le=5, title="Repeat", description="Times each call is spoken.")
    pause_s: float = Field(0.6, ge=0, le=5, title="Pause", description="Seconds between repetitions.")
    out_dir: str = Field(
        "", title="WAV folder", description="Where call WAVs go; empty: $HALL_HOME/voice.", max_length=200
    )
    play_command: list[str] = Field(
        default_factory=list,
        title="Play command",
        description='Command that plays a WAV, {wav} replaced by its path, e.g. ["aplay", "-q", "{wav}"]. Empty: files only.',
        max_length=16,
    )


class DevicesConfig(_Section):
    printer: PrinterConfig = Field(default_factory=PrinterConfig, title="Printer", description="Ticket printer.")
    gpio: GpioConfig = Field(default_factory=GpioConfig, title="GPIO", description="IR sensors and guidance lights.")
    voice: VoiceConfig = Field(default_factory=VoiceConfig, title="Voice", description="Spoken calls.")
    idcard: IdCardConfig = Field(
        default_factory=IdCardConfig, title="ID-card reader", description="二代证 SAM module on a serial port."
    )
    iccard: IcCardConfig = Field(
        default_factory=IcCardConfig, title="IC-card readers", description="PC/SC readers for purchase cards."
    )
    health_interval_s: float = Field(
        30.0,
        ge=1,
        le=3600,
        title="Health interval",
        description="Seconds between device.health reports of every device.",
    )
