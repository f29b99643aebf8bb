"""``[services.panel]`` in the hall config: where the panel listens and how it guards sessions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PanelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("0.0.0.0", title="Host", description="Address the panel listens on.", max_length=64)
    port: int = Field(8080, ge=1, le=65535, title="Port", description="TCP port of the panel.")
    session_idle_minutes: int = Field(
        30, ge=1, le=720, title="Idle timeout", description="A session unused this long must sign in again."
    )
    session_max_hours: int = Field(
        12, ge=1, le=72, title="Session lifetime", description="A session this old must sign in again."
    )
    lockout_failures: int = Field(
        5, ge=3, le=20, title="Lockout after", description="Wrong passwords in a row that lock an account."
    )
    lockout_minutes: int = Field(
        15, ge=1, le=1440, title="Lockout time", description="Minutes an account stays locked."
    )
