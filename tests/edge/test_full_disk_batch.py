"""A request that fills the disk part way is answered "disk full", even when SQLite undid the whole batch.

SQLite rolls back the whole transaction when a statement of a multi-row step runs out of room; the
hub then cannot roll back to the request's savepoint. The request must still be told its real cause
(``disk_full``, as ``hall history import`` shows it), and the core must go on serving. The disk fills
by ``max_page_count`` on the core's own database; requests and replies go over a real ZeroMQ pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from edge import config, envelope
from edge.core.hub import Pending
from edge.core.service import Core
from edge.ops import history
from edge.paths import Home


@pytest.fixture
def core(hall_home: Home) -> Iterator[Core]:
    c = Core(hall_home, config.load())
    yield c
    c.close()


def _ask(core: Core, topic: str, data: dict[str, Any]) -> dict[str, Any]:
    ctx = zmq.Context.instance()
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    try:
        address = f"inproc://full-disk-{envelope.new_id()}"
        router.bind(address)
        dealer.connect(address)
        dealer.send(envelope.encode(envelope.make(topic, data, source="test")))
        ident, raw = router.recv_multipart()
        core.hub.process([Pending(router, ident, raw)])
        assert dealer.poll(5000), "no reply"
        reply: dict[str, Any] = envelope.parse(dealer.recv())["data"]
        return reply
    finally:
        dealer.close(0)
        router.close(0)


def _rows(n: int) -> list[dict[str, Any]]:
    """``n`` visits as ``hall history import`` stages them (each keyed by its content)."""
    visits = [history.Visit("A", 1.7e9 + 60 * i, counter="1", line=i + 2) for i in range(n)]
    return [{**v.to_json(), "key": k} for v, k in zip(visits, history.keys(visits), strict=True)]


def test_a_step_that_fills_the_disk_is_answered_disk_full_and_the_core_serves_on(core: Core) -> None:
    pages = int(core.db.one("PRAGMA page_count")[0])  # type: ignore[index]
    core.db.execute(f"PRAGMA max_page_count = {pages + 8}")
    reply = _ask(core, "history.stage", {"import_id": "import-0001", "rows": _rows(1000)})
    assert reply["ok"] is False
    assert reply["error"]["code"] == "disk_full"
    assert reply["error"]["message"].startswith("the hall's disk is full: history.stage was not saved")
    assert not core.db.conn.in_transaction
    assert core.db.one("SELECT COUNT(*) FROM history_stage")[0] == 0  # type: ignore[index]
    core.db.execute(f"PRAGMA max_page_count = {pages + 100_000}")  # room again
    ticket = _ask(core, "ticket.issue", {"business": "A"})
    assert ticket["ok"] and ticket["result"]["number"] == "A001"
