"""The kiosk's screens, in one registry: its own (queueing, self-service, consent, face) and the shared ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk_ui import common, rating
from kiosk_ui.kiosk import consent, faceflow, queueing, repairs, selfservice
from kiosk_ui.registry import Registry

if TYPE_CHECKING:
    from kiosk_ui.kiosk.kiosk import Kiosk

SCREENS: Registry[Kiosk] = Registry("kiosk")
for _module in (queueing, selfservice, repairs, consent, faceflow, common, rating):
    _module.register(SCREENS)
