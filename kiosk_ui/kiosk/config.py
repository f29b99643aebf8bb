"""``[services.kiosk]`` in the hall config: what this kiosk shows and how it guards its exit.

    >>> KioskConfig().idle_timeout_s, KioskConfig().technician_pin_hash is None
    (60, True)

There is no default technician PIN: without ``technician_pin_hash`` the kiosk
cannot be left from its screen at all (only by stopping the service).
``hall kiosk --hash-pin`` prints the hash of a PIN typed on stdin.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_AREAS = ["示范市城东区解放路", "示范市城东区人民街", "示范市城西区建设路", "示范市高新区科技园"]


class KioskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kiosk_id: str = Field(
        "kiosk-1",
        title="Kiosk id",
        description="Name of this kiosk in the events it publishes (staff see it on a call for help).",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
    )
    language: Literal["zh", "en"] = Field(
        "zh", title="Language", description="Language shown first; customers can switch to the other."
    )
    idle_timeout_s: int = Field(
        60, ge=10, le=600, title="Idle timeout", description="Seconds without a touch before returning to the start."
    )
    evaluation_counter: str | None = Field(
        None,
        title="Evaluation counter",
        description="When set, this kiosk is that counter's evaluation pad and asks for a rating after each service.",
        pattern=r"^[A-Za-z0-9_-]{1,16}$",
    )
    evaluation_timeout_s: int = Field(
        30, ge=5, le=300, title="Rating timeout", description="Seconds the rating question stays up unanswered."
    )
    print_wait_s: int = Field(
        8, ge=1, le=60, title="Print wait", description="Seconds to wait for the printer's word before saying so."
    )
    enrol_wait_s: int = Field(
        30,
        ge=5,
        le=300,
        title="Enrolment wait",
        description="Seconds to wait for the vision service to take a consenting customer's face.",
    )
    technician_pin_hash: str | None = Field(
        None,
        title="Technician PIN hash",
        description="argon2id hash of the PIN that leaves full screen (hall kiosk --hash-pin); none: no exit.",
        pattern=r"^\$argon2id\$[A-Za-z0-9$=,+/.-]{20,300}$",
    )
    face_retention_days: int = Field(
        180,
        ge=1,
        le=3650,
        title="Face retention",
        description="Days a face template is kept unused (shown to customers).",
    )
    fullscreen: bool = Field(True, title="Full screen", description="Run full screen without window borders.")
    width: int = Field(1280, ge=640, le=3840, title="Width", description="Window width when not full screen.")
    height: int = Field(800, ge=480, le=3840, title="Height", description="Window height when not full screen.")
    card_readers: list[str] = Field(
        default_factory=list,
        title="Card readers",
        description="Readers whose card taps this kiosk takes (devices' reader names); empty: every reader.",
        max_length=8,
    )
    outage_areas: list[str] = Field(
        default_factory=lambda: list(DEFAULT_AREAS),
        title="Service areas",
        description="Addresses of the hall's area a customer picks from for outage notices and repairs.",
        min_length=1,
        max_length=12,
    )
