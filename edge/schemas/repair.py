"""Repair reports (故障报修): what a customer reports at the kiosk, what HQ's repair crews answer.

``repair.report`` is answered with a reference number (``BX-261125-003``: the
hall's day and the report's number that day) that the customer takes away on a
printed slip. The core records the durable ``repair.reported`` event, which goes
up to HQ with what a crew needs: the phone number, the address or supply point,
the description and at most three small photos. These are customer data that
HQ needs for the repair, so they go up on purpose (see ``sync.privacy``).
``repair.update`` applies a status HQ sent down (once per update id), recorded
as ``repair.updated``; ``repair.lookup`` is the kiosk's "my report".
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.schemas.queue import Customer

STATES = ("received", "dispatched", "on_site", "fixed", "closed", "cancelled")
State = Literal["received", "dispatched", "on_site", "fixed", "closed", "cancelled"]
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 48 * 1024  # three of them, base64, fit the 256 KiB an event may carry
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}\d{7,8}|95598)$")
REFERENCE = r"^BX-\d{6}-\d{3,4}$"
HASH = r"^[0-9a-f]{64}$"
MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def phone_number(text: str) -> str:
    """A phone number with its spaces and dashes taken out; ValueError unless it is a mainland number.

    >>> phone_number("138 0013-8000"), phone_number("0755-8888 1234")
    ('13800138000', '075588881234')
    """
    digits = "".join(ch for ch in text if ch not in " -")
    if not PHONE.match(digits):
        raise ValueError("is not a mobile (1xxxxxxxxxx) or landline (0xx-xxxxxxxx) number")
    return digits


def mask_phone(phone: str) -> str:
    """The phone as a slip or a screen shows it.

    >>> mask_phone("13800138000")
    '138****8000'
    """
    return phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:] if len(phone) > 7 else phone


class RepairReport(_Req):
    kind: str = Field(pattern=r"^[a-z_]{1,32}$", description="Fault type (the kiosk's: outage, meter, line…).")
    phone: str = Field(min_length=5, max_length=20, description="Where the crew calls the customer.")
    address: str | None = Field(None, min_length=2, max_length=200, description="Where the fault is.")
    supply_point: str | None = Field(None, pattern=r"^[A-Za-z0-9-]{4,32}$", description="The supply point's number.")
    area: str | None = Field(None, max_length=200, description="The area picked at the kiosk, when no address.")
    description: str = Field("", max_length=500)
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS, description="JPEG or PNG, base64.")
    customer: Customer | None = None
    kiosk: str | None = Field(None, max_length=32)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return phone_number(value)

    @field_validator("photos")
    @classmethod
    def _photos(cls, value: list[str]) -> list[str]:
        for i, text in enumerate(value):
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"photo {i + 1} is not base64") from None
            if len(raw) > MAX_PHOTO_BYTES:
                raise ValueError(f"photo {i + 1} is {len(raw)} bytes; at most {MAX_PHOTO_BYTES} are taken")
            if not any(raw.startswith(m) for m in MAGIC):
                raise ValueError(f"photo {i + 1} is neither JPEG nor PNG")
        return value

    @model_validator(mode="after")
    def _where(self) -> RepairReport:
        if not (self.address or self.supply_point or self.area):
            raise ValueError("give the address, the supply point or the area of the fault")
        return self


class RepairUpdate(_Req):
    reference: str = Field(pattern=REFERENCE)
    update_id: int = Field(ge=1, le=2**62, description="HQ's id of this update: each is applied once.")
    state: State
    note: str = Field("", max_length=300)
    at: str = Field(min_length=1, max_length=40, description="When HQ recorded it (ISO 8601).")


class RepairLookup(_Req):
    reference: str | None = Field(None, pattern=REFERENCE)
    customer_hash: str | None = Field(None, pattern=HASH)
    also: list[Annotated[str, Field(pattern=HASH)]] = Field(default_factory=list, max_length=4)

    @model_validator(mode="after")
    def _one(self) -> RepairLookup:
        if not self.reference and not self.customer_hash:
            raise ValueError("give the reference or the customer")
        return self


REQUESTS: dict[str, type[BaseModel]] = {
    "repair.report": RepairReport,
    "repair.update": RepairUpdate,
    "repair.lookup": RepairLookup,
}
READS = frozenset({"repair.lookup"})
EVENTS = frozenset({"repair.reported", "repair.updated"})
