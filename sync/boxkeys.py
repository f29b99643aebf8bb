"""The box's side of HQ's customer keys: fetch them, open them, install them for every service.

The agent asks HQ for the hall's customer keys at start and at every bundle poll
(``GET /v1/halls/{hall}/customer-keys?have=DIGEST``, answered 204 when nothing
changed) and takes them from every bundle it fetches; :func:`install` opens them
with the hall's sync key (:mod:`sync.keywrap`) and writes ``$HALL_HOME/customer.keys``
(mode 0640 as ``secret.key``, replaced whole), which the card readers, the kiosk,
the vision service and the command line read (:class:`edge.identity.Keyring`). When HQ's first key arrives, the box's
own ``secret.key`` stays accepted for ``LOCAL_OVERLAP_S``, so cards hashed before
(appointments, tags set on the box) still match.

For provisioning (``hall provision``): once the credential is stored, call
``fetch(HqClient(cred), home)``; it returns whether keys were installed (HQ may
not have issued any yet; the agent fetches them later).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from edge.identity import CustomerKey, Keyring, load_key, save_keyring
from edge.paths import Home
from sync import keywrap

log = logging.getLogger("hall.sync")
LOCAL_OVERLAP_S = 30 * 86400.0


def installed(home: Home) -> Keyring | None:
    """HQ's keyring as installed on this box, or None before HQ sent one."""
    if not home.customer_keys_path.exists():
        return None
    return Keyring.load(home.customer_keys_path, home.secret_path)


def install(home: Home, sync_key: bytes, hall: str, items: Any, *, now: float | None = None) -> Keyring:
    """Open the keys HQ sent and make them the box's keyring; the keyring installed."""
    at = time.time() if now is None else now
    ring = keywrap.unwrap(sync_key, hall, items)
    local = CustomerKey("local", load_key(home.secret_path))
    ring = keywrap.with_local(ring, installed(home), local, now=at, overlap_s=LOCAL_OVERLAP_S)
    save_keyring(home.customer_keys_path, ring)
    log.info("customer keys from HQ installed: %s in force, %d accepted besides", ring.current.id, len(ring.previous))
    return ring


def fetch(client: Any, home: Home, have: str = "") -> str | None:
    """Ask HQ for the hall's customer keys and install them when they changed; the digest installed, or None."""
    answer = client.customer_keys(have)
    if answer is None:
        return None
    install(home, client.cred.key, client.cred.hall, answer["keys"])
    return str(answer["digest"])
