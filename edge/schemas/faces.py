"""Face identity, the words every service shares: purposes a customer consents to, and the events.

A customer consents at the kiosk, per purpose (PIPL art. 29: a separate consent
for sensitive personal information), to:

- ``ticket``: taking a ticket by face at the kiosk (刷脸取号, 无证办理), always
  confirmed on screen by the customer, the ID card always offered beside it;
- ``vip_arrival``: staff being told when they arrive, on the cameras so
  configured, if HQ tags them VIP.

The vision service uses a face for nothing else: a camera matches only the
entries consented to its purpose, and the kiosk's consent screen lists exactly
these purposes (``consent.purpose.<name>`` in its texts).

The events between the kiosk, the vision service and the panel go through the
core's ``event.publish``, which checks them against :data:`EVENT_MODELS`: no
field beyond these passes, so none can carry an image or an embedding. Only
``consent.recorded``, ``face.enrolled``/``face.forgotten`` and the hourly
``face.audit_counts`` are logged (and so reach HQ); the keyed references in
``face.candidate`` and in audit records stay on the hall's bus.

| topic | from | data |
| --- | --- | --- |
| ``face.match_requested`` | kiosk | kiosk, request, purpose (``ticket``) |
| ``face.progress`` | vision | kiosk, request, step (look, blink, turn_left, turn_right) |
| ``face.candidate`` | vision | kiosk, request, customer, display_name, tags |
| ``face.abstained`` | vision | kiosk, request, code, reason (the kiosk offers the ID card) |
| ``face.match_answered`` | kiosk | kiosk, request, customer_hash, answer (confirmed, rejected) |
| ``face.audit.requested`` | panel | request, since, limit |
| ``face.audit.listed`` | vision | request, records, more |
| ``face.audit_counts`` | vision | hour, counts (purpose → decision → n) |
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PURPOSES = ("ticket", "vip_arrival")
"""What a face may be used for, in the order the consent screen lists them."""

Step = Literal["look", "blink", "turn_left", "turn_right"]
AbstainCode = Literal[
    "no_camera",
    "busy",
    "unavailable",
    "timeout",
    "no_face",
    "several_faces",
    "quality",
    "liveness",
    "changed",
    "unknown",
    "unsure",
]
HEX64 = r"^[0-9a-f]{64}$"
REQUEST = r"^[A-Za-z0-9_-]{1,64}$"
KIOSK = r"^[A-Za-z0-9_-]{1,32}$"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Customer(_Event):
    kind: Literal["id", "ic"] = "id"
    hash: str = Field(pattern=HEX64, description="The hall's keyed hash of the card.")
    masked: str = Field(max_length=32)
    name_masked: str = Field("", max_length=16)


class MatchRequested(_Event):
    kiosk: str = Field(pattern=KIOSK)
    request: str = Field(pattern=REQUEST)
    purpose: Literal["ticket"] = "ticket"


class Progress(_Event):
    kiosk: str = Field(pattern=KIOSK)
    request: str = Field(pattern=REQUEST)
    step: Step
    source: str = Field("", max_length=64)


class Candidate(_Event):
    kiosk: str = Field(pattern=KIOSK)
    request: str = Field(pattern=REQUEST)
    customer: Customer
    display_name: str = Field("", max_length=32, description="HQ's name for the customer, if it gave one.")
    tags: list[str] = Field(default_factory=list, max_length=16)
    source: str = Field("", max_length=64)


class Abstained(_Event):
    kiosk: str = Field(pattern=KIOSK)
    request: str = Field(pattern=REQUEST)
    code: AbstainCode
    reason: str = Field(max_length=200)
    source: str = Field("", max_length=64)


class MatchAnswered(_Event):
    kiosk: str = Field(pattern=KIOSK)
    request: str = Field(pattern=REQUEST)
    customer_hash: str = Field(pattern=HEX64)
    answer: Literal["confirmed", "rejected"]


class AuditRequested(_Event):
    request: str = Field(pattern=REQUEST)
    since: float = Field(0.0, ge=0, description="Unix time: records at or after it.")
    limit: int = Field(200, ge=1, le=500)


class AuditRecord(_Event):
    id: int
    at: float
    place: str = Field(max_length=64, description="camera:<name>, kiosk:<id> or cli")
    purpose: str = Field(max_length=32)
    decision: str = Field(max_length=32)
    ref: str = Field("", max_length=64)
    score: float | None = None
    reason: str = Field("", max_length=200)
    request: str = Field("", max_length=64)


class AuditListed(_Event):
    request: str = Field(pattern=REQUEST)
    records: list[AuditRecord] = Field(max_length=500)
    more: bool = False


class AuditCounts(_Event):
    hour: str = Field(min_length=13, max_length=40, description="ISO start of the hour, hall time.")
    counts: dict[str, dict[str, int]]


EVENT_MODELS: dict[str, type[BaseModel]] = {
    "face.match_requested": MatchRequested,
    "face.progress": Progress,
    "face.candidate": Candidate,
    "face.abstained": Abstained,
    "face.match_answered": MatchAnswered,
    "face.audit.requested": AuditRequested,
    "face.audit.listed": AuditListed,
    "face.audit_counts": AuditCounts,
}
