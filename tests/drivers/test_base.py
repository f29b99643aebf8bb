"""The unit runner and health board every device unit shares."""

from __future__ import annotations

import logging
import threading

import pytest

from drivers.base import HealthBoard, UnitRunner, one_line
from tests.drivers.conftest_cards import wait_until


class Flaky:
    """A unit's work that fails with an exception nobody foresaw until ``fixed`` is set."""

    def __init__(self, board: HealthBoard) -> None:
        self.board = board
        self.fixed = threading.Event()
        self.resets = 0
        self.closed = 0

    def step(self) -> float:
        if not self.fixed.is_set():
            raise ValueError("invalid literal for int() with base 10: '²'\nsecond line of the message")
        self.board.count("rounds")
        return 0.01

    def reset(self) -> None:
        self.resets += 1

    def close(self) -> None:
        self.closed += 1


def test_a_failing_step_is_logged_shown_as_fault_restarted_with_backoff_and_clears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    board = HealthBoard("reader", ("rounds",), state="ok", detail="")
    work = Flaky(board)
    runner = UnitRunner(
        "reader", work.step, board, reset=work.reset, close=work.close, restart_first=0.01, restart_max=0.04
    )
    with caplog.at_level(logging.ERROR, logger="hall.devices"):
        runner.start()
        try:
            assert wait_until(lambda: board.counter("restarts") >= 4, 10)
            health = board.health()
            assert health.state == "fault"
            assert (
                health.detail
                == "restarting after an internal error: ValueError: invalid literal for int() with base 10: '²'"
            )
            assert runner.alive and work.resets == board.counter("restarts")
            work.fixed.set()
            assert wait_until(lambda: board.counter("rounds") >= 2, 10)
            assert board.health().state == "ok" and board.health().detail == ""
        finally:
            runner.stop()
    assert not runner.alive and work.closed == 1
    failures = [r for r in caplog.records if r.getMessage().startswith("reader failed; restarting")]
    assert failures and all(r.exc_info and r.exc_info[0] is ValueError for r in failures)
    assert [r.args[1] for r in failures[:4]] == [0.01, 0.02, 0.04, 0.04]  # type: ignore[index]


def test_a_state_the_unit_reports_after_a_failure_is_kept() -> None:
    board = HealthBoard("printer", state="ok", detail="")
    rounds = iter([RuntimeError("bug"), "offline"])

    def step() -> float:
        item = next(rounds, None)
        if isinstance(item, Exception):
            raise item
        if item == "offline":
            board.set("offline", "cannot connect to printer tcp://10.0.0.9:9100")
        return 0.01

    runner = UnitRunner("printer", step, board, restart_first=0.01)
    runner.start()
    try:
        assert wait_until(lambda: board.counter("restarts") == 1 and board.state == "offline", 10)
    finally:
        runner.stop()
    assert board.detail == "cannot connect to printer tcp://10.0.0.9:9100"


# The test ends the thread on purpose; pytest would report that as an unhandled thread exception.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_thread_that_ends_without_being_stopped_is_a_fault() -> None:
    board = HealthBoard("voice", state="ok", detail="")

    def step() -> float:
        raise SystemExit(3)  # not an Exception: it ends the thread

    runner = UnitRunner("voice", step, board)
    runner.start()
    assert wait_until(lambda: not runner.alive, 10)
    health = runner.checked(board.health())
    assert (health.state, health.detail) == ("fault", "voice thread has stopped")
    runner.stop()
    assert runner.checked(board.health()).state == "ok"


def test_health_details_are_one_short_line() -> None:
    board = HealthBoard("idcard")
    board.set("offline", "port /dev/ttyUSB0 failed: " + "x" * 400 + "\nTraceback (most recent call last):")
    assert "\n" not in board.detail and len(board.detail) == 200 and board.detail.endswith("…")
    assert one_line("\n\n  second\nthird") == "second"
