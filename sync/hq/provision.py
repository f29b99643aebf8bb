"""HQ's side of setting up a new box: one-time tokens, and ``POST /provision``.

``hall hq provision-token HALL --config hall.toml`` checks the hall's config,
makes a token (120 random bits, shown once as ``XXXX-XXXX-…``; HQ keeps only
its SHA-256 digest) valid for ``--ttl-hours`` and prints it. On the box,
``hall provision --hq URL --token TOKEN`` sends it with the box's X25519
public key (and its bus key) to ``POST /provision``, which is not signed —
the token is the authority. In one transaction HQ spends the token, agrees
the hall's sync key with the box (:mod:`sync.keyex`), installs it (a new hall,
or a new key for a hall whose box was replaced) and records the box's public
keys; it answers with the hall's config, its own public key and a proof.
A token works once; a second use, an unknown token and an expired one are
refused with a sentence saying which.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sync import keyex
from sync.hq.boxes import ProvisionRefused
from sync.hq.store import Store

TTL_HOURS = 72


def new_token() -> str:
    """A token a technician can type: 24 base32 characters in groups of four.

    >>> t = new_token(); len(t), t.count("-"), t == normalize(t.lower().replace("-", " "))
    (29, 5, True)
    """
    raw = base64.b32encode(secrets.token_bytes(15)).decode()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalize(token: str) -> str:
    """The token however it was typed: case, spaces and dashes do not matter."""
    text = "".join(ch for ch in token.upper() if ch.isalnum())
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


class ProvisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=8, max_length=64, description="The one-time token HQ made for the hall.")
    public_key: str = Field(min_length=40, max_length=64, description="The box's X25519 public key, base64.")
    bus_key: str | None = Field(None, max_length=64, description="The box's CurveZMQ public key (Z85), if any.")
    hostname: str = Field("", max_length=64)
    version: str = Field("", max_length=32)


class Provisioned(BaseModel):
    hall: str
    config: str = Field(description="The hall's config file (TOML).")
    hq_public_key: str = Field(description="HQ's X25519 public key for this exchange, base64.")
    proof: str = Field(description="HMAC-SHA256 with the agreed key over 'provisioned', hall, both public keys.")


def register(app: FastAPI, store: Store, clock: Any = time.time) -> None:
    @app.post(
        "/provision",
        response_model=Provisioned,
        responses={403: {"description": "Unknown, used or expired token."}, 422: {"description": "Malformed."}},
        tags=["provisioning"],
    )
    def provision(req: ProvisionRequest) -> Any:
        """Set up a new box: spend the token, agree the hall's key, hand out its config (see the module)."""
        try:
            box_public = keyex.unb64(req.public_key)
        except ValueError as exc:
            return JSONResponse({"detail": f"public_key: {exc}"}, status_code=422)
        token = normalize(req.token)
        own = keyex.generate()
        hq_public = keyex.public_bytes(own)
        keys: dict[str, bytes] = {}

        def make_key(hall: str) -> bytes:
            keys[hall] = keyex.derive(own, box_public, token=token, hall=hall)
            return keys[hall]

        box: dict[str, str | None] = {
            "sync_key": req.public_key,
            "bus_key": req.bus_key,
            "hostname": req.hostname or "?",
            "version": req.version or "?",
        }
        try:
            out = store.provision(keyex.token_digest(token), box, make_key, now=clock())
        except ProvisionRefused as exc:
            return JSONResponse({"detail": str(exc)}, status_code=403)
        hall = out["hall"]
        return Provisioned(
            hall=hall,
            config=out["config"],
            hq_public_key=keyex.b64(hq_public),
            proof=keyex.proof(keys[hall], hall, box_public, hq_public),
        )


def make_token(store: Store, hall: str, config_text: str, *, ttl_hours: float = TTL_HOURS) -> tuple[str, float]:
    """Check ``config_text`` is a valid config of ``hall``; store a new token's digest; the token and its expiry."""
    from edge import config
    from edge.errors import InvalidRequest

    cfg = config.load_text(config_text, f"config of {hall}")
    if cfg.hall.id != hall:
        raise InvalidRequest(f"the config is for hall {cfg.hall.id!r}, not {hall!r}: its [hall] id must be {hall}")
    token = new_token()
    now = time.time()
    expires = now + ttl_hours * 3600
    store.add_provision_token(hall, keyex.token_digest(token), config_text, expires_at=expires, now=now)
    return token, expires
