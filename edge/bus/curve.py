"""CurveZMQ keys for TCP endpoints: the bus never listens on TCP in the clear.

Keys live in ``$HALL_HOME/keys``: ``server.key``/``server.key_secret`` for the
core, and one ``NAME.key`` per authorised client in ``keys/clients/`` (copy a
client's public key there to let it in; delete it to shut it out)::

    keys = ensure_keypair(home.keys_dir, "server")
"""

from __future__ import annotations

import os
from pathlib import Path

import zmq
import zmq.auth


def ensure_keypair(directory: Path, name: str) -> tuple[bytes, bytes]:
    """Load ``NAME.key_secret`` from ``directory``, creating the pair (secret mode 0600) if absent."""
    secret = directory / f"{name}.key_secret"
    if not secret.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        zmq.auth.create_certificates(str(directory), name)
        os.chmod(secret, 0o600)
    public, private = zmq.auth.load_certificate(str(secret))
    assert private is not None
    return public, private


def load_public(path: Path) -> bytes:
    public, _ = zmq.auth.load_certificate(str(path))
    return public


def clients_dir(keys_dir: Path) -> Path:
    path = keys_dir / "clients"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def make_server(sock: zmq.Socket[bytes], keys_dir: Path) -> None:
    public, secret = ensure_keypair(keys_dir, "server")
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True


def make_client(sock: zmq.Socket[bytes], server_public: bytes, client_public: bytes, client_secret: bytes) -> None:
    sock.curve_serverkey = server_public
    sock.curve_publickey = client_public
    sock.curve_secretkey = client_secret
