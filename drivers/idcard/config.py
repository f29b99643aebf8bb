"""Configuration of the ID-card reader: ``[services.devices.idcard]``.

>>> IdCardConfig(port="spy:///dev/ttyUSB0?file=/tmp/sam.log").elderly_age
65
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IdCardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, title="Enabled", description="Poll the ID-card reader.")
    port: str = Field(
        "/dev/ttyUSB0",
        title="Port URL",
        description="pyserial URL or device path of the SAM module (spy:// traces the line).",
        min_length=1,
        max_length=300,
    )
    baudrate: int = Field(
        115200, title="Baud rate", description="The module's UART speed (factory default 115200).", ge=9600, le=115200
    )
    poll_interval: float = Field(
        0.3, ge=0.05, le=10.0, title="Poll interval", description="Seconds between find-card commands."
    )
    timeout: float = Field(
        1.0, ge=0.1, le=10.0, title="Answer timeout", description="Seconds to wait for the module's answer."
    )
    elderly_age: int = Field(
        65, ge=50, le=100, title="Elderly age", description="Card holders this old or older are flagged elderly."
    )
    name: str = Field("idcard", title="Unit name", description="Device name in health reports.", max_length=32)
