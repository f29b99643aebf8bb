"""The demo's sample HQ bundle (``sample_bundle.json``), applied through the core's ``bundle.apply``.

HQ knows customers only by the hall's keyed hash, so the sample names its demo
customers by card (``"customer": "id:NUMBER"``, the demo ID cards of the devices
service) and :func:`sample_bundle` turns each into the ``customer_hash`` this
hall computes for that card. Only the demo does this, and only while it has no
HQ of its own: a real hall gets its bundles from HQ through ``hall sync``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from edge.bus import BusClient
from edge.identity import Keyring, make_ref
from edge.paths import Home
from kiosk_ui.errors import KioskError


def sample_bundle(home: Home) -> dict[str, Any]:
    """The sample bundle with the demo cards' hashes under this hall's customer key in force."""
    key = Keyring.load(home.customer_keys_path, home.secret_path).current.key
    try:
        bundle: dict[str, Any] = json.loads(
            resources.files("kiosk_ui").joinpath("sample_bundle.json").read_text(encoding="utf-8")
        )
    except (OSError, json.JSONDecodeError) as exc:
        raise KioskError(f"kiosk sample bundle: {exc}") from exc
    for kind in ("bills", "usage", "supplies", "customer_tags"):
        field = "hash" if kind == "customer_tags" else "customer_hash"
        for item in bundle.get(kind, []):
            card_kind, _, number = str(item.pop("customer")).partition(":")
            item[field] = make_ref(card_kind, number, key=key).hash
    return bundle


CREDENTIAL = "sync.credential"  # written by ``hall sync credential`` (sync.config.credential_path)


def load_sample(bus: BusClient, home: Home) -> bool:
    """Apply the sample bundle when the hall has none yet and no HQ of its own; True when it was applied now.

    A demo hall linked to a real HQ (``hall sync credential``) gets its bundles from that HQ: a sample
    applied first would hold the version HQ numbers its first bundle with, and HQ's would never come.
    """
    if (home.root / CREDENTIAL).exists() or bus.request("bundle.status").get("version") is not None:
        return False
    result = bus.request("bundle.apply", {"bundle": sample_bundle(home)}, timeout=10.0)
    if not result.get("applied"):
        raise KioskError(f"the core refused the sample bundle: {result.get('error')}")
    return True
