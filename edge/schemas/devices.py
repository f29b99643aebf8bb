"""Facts the devices and vision services publish (through ``event.publish``), checked by the core.

The face-identity events are defined in :mod:`edge.schemas.faces`.

``device.health`` is the one shape every device reports in, whoever drives it::

    {"device": "printer", "state": "fault", "detail": "paper_out", "counters": {"printed": 12}}

States: ``ok``; ``degraded`` (works, with a problem staff should fix: paper near end);
``fault`` (cannot do its job: paper out, cover open); ``offline`` (cannot be reached).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.schemas.faces import EVENT_MODELS as FACE_EVENTS

HealthState = Literal["ok", "degraded", "fault", "offline"]


class DeviceHealth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = Field(min_length=1, max_length=64, description="printer, idcard, camera:entrance, …")
    state: HealthState
    detail: str = Field("", max_length=500)
    counters: dict[str, int] = Field(default_factory=dict)


# Published facts whose data the core validates before logging or publishing them.
EVENT_MODELS: dict[str, type[BaseModel]] = {"device.health": DeviceHealth, **FACE_EVENTS}
