"""``[services.pad]`` in the hall config: which counter a pad faces and how long it waits.

    >>> PadConfig().form_timeout_s, PadConfig().counter is None
    (300, True)

``hall pad --counter ID`` names the counter on the command line (one config file
can then serve every pad of the hall); without it the pad takes ``counter`` here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PadConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    counter: str | None = Field(
        None,
        title="Counter",
        description="The counter this pad faces (hall pad --counter overrides it).",
        pattern=r"^[A-Za-z0-9_-]{1,16}$",
    )
    language: Literal["zh", "en"] = Field(
        "zh", title="Language", description="Language shown first; customers can switch to the other."
    )
    large_text: bool = Field(
        False, title="Large text", description="Always use the elderly's larger type (customers can also switch it on)."
    )
    form_timeout_s: int = Field(
        300,
        ge=30,
        le=3600,
        title="Form timeout",
        description="Seconds a form (or its signature) may wait untouched before the pad withdraws it.",
    )
    signed_show_s: int = Field(
        20, ge=3, le=300, title="Signed result", description="Seconds the signed result stays up untouched."
    )
    rating_timeout_s: int = Field(
        30, ge=5, le=300, title="Rating timeout", description="Seconds the rating question stays up unanswered."
    )
    idle_timeout_s: int = Field(
        60, ge=10, le=600, title="Idle timeout", description="Seconds other screens (messages, PIN) stay untouched."
    )
    technician_pin_hash: str | None = Field(
        None,
        title="Technician PIN hash",
        description="argon2id hash of the PIN that leaves full screen (hall pad --hash-pin); none: no exit.",
        pattern=r"^\$argon2id\$[A-Za-z0-9$=,+/.-]{20,300}$",
    )
    fullscreen: bool = Field(True, title="Full screen", description="Run full screen without window borders.")
    width: int = Field(1280, ge=640, le=3840, title="Width", description="Window width when not full screen.")
    height: int = Field(800, ge=480, le=3840, title="Height", description="Window height when not full screen.")
