"""``[services.kiosk]`` in the hall config: what this kiosk shows and how it guards its exit.

    >>> KioskConfig().idle_timeout_s, KioskConfig().technician_pin_hash is None
    (60, True)

There is no default technician PIN: without ``technician_pin_hash`` the kiosk
cannot be left from its screen at all (only by stopping the service).
``hall kiosk --hash-pin`` prints the hash of a PIN typed on stdin.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MOVED = {
    "face_retention_days": "is [faces] retention_days now, the one number the gallery deletes by and the kiosk shows",
    "enrol_wait_s": "is face_wait_s now (ticket by face and enrolment alike)",
}
DEFAULT_AREAS = ["示范市城东区解放路", "示范市城东区人民街", "示范市城西区建设路", "示范市高新区科技园"]


class KioskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        """A setting that moved is named, with where it went, rather than refused as unknown."""
        if isinstance(data, dict):
            for key, where in MOVED.items():
                if key in data:
                    raise ValueError(f"{key} {where}")
        return data

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
    face_ticket: bool = Field(
        True,
        title="Ticket by face",
        description="Offer 刷脸取号 on the start screen (the vision service needs a camera with kiosk = this kiosk).",
    )
    face_wait_s: int = Field(
        40,
        ge=10,
        le=300,
        title="Face wait",
        description="Seconds to wait for the vision service's answer to a ticket by face or an enrolment.",
    )
    technician_pin_hash: str | None = Field(
        None,
        title="Technician PIN hash",
        description="argon2id hash of the PIN that leaves full screen (hall kiosk --hash-pin); none: no exit.",
        pattern=r"^\$argon2id\$[A-Za-z0-9$=,+/.-]{20,300}$",
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
