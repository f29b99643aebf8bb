"""Per counter and hour, the negative-expression share of the faces seen there beside the ratings given there."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from edge.bus import BusClient


def _window(counter: str | None, negative: float, people: int) -> dict[str, object]:
    data: dict[str, object] = {
        "zone": f"counter-{counter}" if counter else "waiting",
        "positive": round(1 - negative, 3),
        "neutral": 0.0,
        "negative": negative,
        "people": people,
        "start": 0.0,
        "seconds": 300.0,
        "source": "camera:hall",
    }
    if counter:
        data["counter"] = counter
    return data


def test_stats_day_puts_each_counters_negative_share_beside_its_ratings(bus: BusClient) -> None:
    before = datetime.now(ZoneInfo("Asia/Shanghai")).hour  # the demo hall's zone
    bus.request("counter.open", {"counter": "1", "staff": "li"})
    for number_score in ((1, 2), (2, 4)):
        bus.request("ticket.issue", {"business": "A"})
        called = bus.request("counter.call", {"counter": "1"})
        bus.request("counter.finish", {"counter": "1"})
        bus.request("ticket.evaluate", {"number": called["number"], "score": number_score[1]})
    # Two windows at counter 1: 4 people, half negative; 4 people, none negative → 1 of 2 on average,
    # weighted: (0.5·4 + 0·4) / 8 = 0.25. The waiting zone names no counter and is left out.
    for data in (_window("1", 0.5, 4), _window("1", 0.0, 4), _window(None, 1.0, 9)):
        bus.request("event.publish", {"topic": "emotion.window", "data": data, "durable": True})
    mood = bus.request("stats.day", {})["counter_mood"]
    if datetime.now(ZoneInfo("Asia/Shanghai")).hour != before:  # an hour turned during the test: cells split
        assert {c["counter"] for c in mood} == {"1"} and sum(c["faces"] for c in mood) == 8
        return
    assert mood == [
        {"counter": "1", "hour": before, "faces": 8, "negative_share": 0.25, "ratings": 2, "rating_avg": 3.0}
    ]


def test_the_daily_report_lists_the_counter_hours_with_their_share_and_ratings() -> None:
    from edge.report.build import summary_rows

    stats = {
        "businesses": [],
        "counters": [{"id": "1", "name": "1号窗口", "served": 2, "no_show": 0, "avg_handling_s": 60.0}],
        "staff": [],
        "evaluations": {"count": 2, "average": 3.0, "histogram": [0, 1, 0, 1, 0], "low": 1},
        "waits": {"average_s": None, "max_s": None},
        "door": {"in": 0, "measured": False},
        "no_shows": 0,
        "alerts": {},
        "counter_mood": [
            {"counter": "1", "hour": 9, "faces": 8, "negative_share": 0.25, "ratings": 2, "rating_avg": 3.0},
            {"counter": "1", "hour": 10, "faces": 0, "negative_share": None, "ratings": 1, "rating_avg": 5.0},
        ],
    }
    assert summary_rows(stats)["mood"][1:] == [
        ["1号窗口", "09:00–10:00", "8", "25%", "2", "3.0"],
        ["1号窗口", "10:00–11:00", "0", "—", "1", "5.0"],
    ]
