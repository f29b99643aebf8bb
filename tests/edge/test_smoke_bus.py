from __future__ import annotations

import pytest

from edge.bus import BusClient, Subscriber
from edge.errors import Conflict, InvalidRequest, NotFound


def test_issue_call_finish_over_the_bus(bus: BusClient) -> None:
    with Subscriber(["ticket."]) as sub:
        ticket = bus.request("ticket.issue", {"business": "A"})
        assert ticket["number"] == "A001"
        assert ticket["people_ahead"] == 0
        event = sub.recv(timeout=5)
        # the subscription may miss the first event while it connects; ask again when so
        assert event is None or event["topic"] == "ticket.issued"
    bus.request("counter.open", {"counter": "1", "staff": "wang"})
    called = bus.request("counter.call", {"counter": "1"})
    assert (called["number"], called["state"], called["rule"]) == ("A001", "called", "fifo")
    with pytest.raises(Conflict, match="still has A001"):
        bus.request("counter.call", {"counter": "1"})
    done = bus.request("counter.finish", {"counter": "1"})
    assert done["state"] == "done"
    with pytest.raises(NotFound, match="nobody is waiting"):
        bus.request("counter.call", {"counter": "1"})
    with pytest.raises(InvalidRequest, match="unknown field"):
        bus.request("ticket.issue", {"business": "A", "colour": "red"})
