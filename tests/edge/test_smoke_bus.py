from __future__ import annotations

import pytest

from edge.bus import BusClient
from edge.errors import Conflict, InvalidRequest, NotFound
from edge.paths import Home
from tests.busutil import connected, wait_event


def test_issue_call_finish_over_the_bus(bus: BusClient, hall_home: Home) -> None:
    with connected(bus, hall_home, ["ticket."]) as sub:
        ticket = bus.request("ticket.issue", {"business": "A"})
        assert ticket["number"] == "A001"
        assert ticket["people_ahead"] == 0
        event = wait_event(sub, "ticket.issued")
        assert event["data"]["id"] == ticket["id"] and event["seq"] >= 1
        bus.request("counter.open", {"counter": "1", "staff": "wang"})
        called = bus.request("counter.call", {"counter": "1"})
        assert (called["number"], called["state"], called["rule"]) == ("A001", "called", "fifo")
        assert wait_event(sub, "ticket.called")["data"]["counter_name"] == "1号窗口"
    with pytest.raises(Conflict, match="still has A001"):
        bus.request("counter.call", {"counter": "1"})
    done = bus.request("counter.finish", {"counter": "1"})
    assert done["state"] == "done"
    with pytest.raises(NotFound, match="nobody is waiting"):
        bus.request("counter.call", {"counter": "1"})
    with pytest.raises(InvalidRequest, match="unknown field"):
        bus.request("ticket.issue", {"business": "A", "colour": "red"})
