"""``[services.panel]`` in the hall config: where the panel listens, its certificate, how it guards sign-in."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PanelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        "127.0.0.1",
        title="Host",
        description="Address the panel listens on: the box's LAN address (e.g. 192.168.10.2). "
        "The default is this machine only; 0.0.0.0 (every address) must be written here.",
        max_length=64,
    )
    port: int = Field(8443, ge=1, le=65535, title="HTTPS port", description="TCP port of the panel (HTTPS).")
    redirect_port: int = Field(
        8080,
        ge=0,
        le=65535,
        title="HTTP redirect port",
        description="Plain HTTP on this port answers only with a redirect to HTTPS; 0 turns it off.",
    )
    tls_cert: str | None = Field(
        None,
        title="Certificate",
        description="PEM certificate (chain) the hall provides; without it the panel makes a self-signed one "
        "in $HALL_HOME/tls on first start and prints its fingerprint.",
        max_length=4096,
    )
    tls_key: str | None = Field(None, title="Private key", description="PEM key of tls_cert.", max_length=4096)
    tls_names: list[str] = Field(
        [],
        title="Certificate names",
        description="Extra host names and addresses the generated certificate is valid for.",
        max_length=16,
    )
    session_idle_minutes: int = Field(
        30, ge=1, le=720, title="Idle timeout", description="A session unused this long must sign in again."
    )
    session_max_hours: int = Field(
        12, ge=1, le=72, title="Session lifetime", description="A session this old must sign in again."
    )
    lockout_failures: int = Field(
        5,
        ge=3,
        le=20,
        title="Free tries",
        description="Wrong passwords in a row for one name from one address before each further try must wait "
        "(1 s, then twice as long each time).",
    )
    lockout_minutes: int = Field(
        15, ge=1, le=1440, title="Longest wait", description="The longest wait between two tries, in minutes."
    )
    address_failures: int = Field(
        20,
        ge=5,
        le=200,
        title="Free tries per address",
        description="Wrong passwords from one address, over every name, before each further try must wait.",
    )
    login_slots: int = Field(
        2,
        ge=1,
        le=64,
        title="Password checks at once",
        description="Argon2 checks that run at the same time (64 MiB each); more sign-ins wait their turn.",
    )
    max_body_kb: int = Field(
        64, ge=4, le=4096, title="Largest request", description="Largest request body in KiB; larger ones get 413."
    )

    @model_validator(mode="after")
    def _ports_and_files(self) -> Self:
        if self.redirect_port == self.port:
            raise ValueError(
                f"port {self.port} is also redirect_port: the panel serves HTTPS on port (default 8443) and "
                "redirects plain HTTP from redirect_port (default 8080); give them different numbers"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both, or neither for a generated certificate")
        return self
