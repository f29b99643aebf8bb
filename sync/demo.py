"""The demo's HQ: with ``HALL_DEMO=1`` and no credential, the agent runs an HQ of its own.

``hall demo`` then shows a live link (cursor, backlog, acknowledgements) without
any real HQ: a ``hall hq serve`` child on a free loopback port, its store in
``$HALL_HOME/demo-hq.db``, and a fresh key for the hall that is kept in memory
only (nothing is written to ``sync.credential``).
"""

from __future__ import annotations

import socket
import subprocess
import sys

from edge.paths import Home
from edge.proc import die_with_parent
from sync import auth
from sync.config import Credential
from sync.hq.store import open_store


def start_demo_hq(home: Home, hall: str) -> tuple[subprocess.Popen[bytes], Credential]:
    """Start the demo HQ server; return the child process and the hall's credential for it."""
    db = str(home.root / "demo-hq.db")
    key = auth.new_key()
    store = open_store(db)
    try:
        if hall in store.halls():
            store.rotate_key(hall, key)
        else:
            store.add_hall(hall, key)
    finally:
        store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "edge", "hq", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", db]
    proc = subprocess.Popen(argv, preexec_fn=die_with_parent)
    return proc, Credential(hall, f"http://127.0.0.1:{port}", key)
