"""``[services.console]`` in the hall config: the technicians' serial console."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    baudrate: int = Field(
        115200,
        ge=1200,
        le=4_000_000,
        title="Baud rate",
        description="Speed of the serial port (8N1); the technician's terminal must use the same.",
    )
    terminal: Literal["auto", "vt100", "dumb"] = Field(
        "auto",
        title="Terminal",
        description="auto: ask the terminal for its cursor position after sign-in; one that answers gets line "
        "editing, history and completion (VT100), one that does not a plain line at a time (dumb).",
    )
    idle_timeout_s: float = Field(
        600.0,
        ge=1.0,
        le=24 * 3600,
        title="Idle logout",
        description="Seconds without a key pressed after which the session logs out.",
    )
    sign_in_delay_s: float = Field(
        2.0,
        ge=0.2,
        le=60.0,
        title="Delay after a refused sign-in",
        description="Seconds the line waits after a refused sign-in, dropping keys typed meanwhile (longer when "
        "the panel's rules slow a name or the port down).",
    )
    restart_timeout_s: float = Field(
        60.0,
        ge=1.0,
        le=600,
        title="Restart timeout",
        description="Seconds a restarted service has to say it is ready before `config set` rolls back.",
    )
    test_timeout_s: float = Field(
        30.0, ge=1.0, le=300, title="Device test timeout", description="Seconds `devices test` waits for its answer."
    )
    diag_dir: str | None = Field(
        None,
        title="Diagnostics folder",
        description="Where `diag` writes when no USB stick is mounted (default $HALL_HOME/diag).",
        max_length=4096,
    )
