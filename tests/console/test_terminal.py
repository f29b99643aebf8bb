"""The line editor and the terminal probe over a real pty: what a technician types, what comes back."""

from __future__ import annotations

import os
import pty
import select
import threading
import tty
from collections.abc import Iterator

import pytest
import serial

from edge.console.terminal import Cancelled, Idle, Terminal


class Line:
    """The technician's end of the line (a pty master) and the console's Terminal on the other."""

    def __init__(self) -> None:
        self.master, slave = pty.openpty()
        tty.setraw(master := self.master)
        self.path = os.ttyname(slave)
        self.slave = slave
        self.term = Terminal(serial.serial_for_url(self.path, timeout=0.1), self.path).start()
        os.set_blocking(master, False)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def shown(self, wait: float = 0.3) -> bytes:
        out = b""
        while select.select([self.master], [], [], wait)[0]:
            try:
                out += os.read(self.master, 4096)
            except BlockingIOError:
                break
            wait = 0.05
        return out

    def close(self) -> None:
        self.term.close()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def line() -> Iterator[Line]:
    made = Line()
    yield made
    made.close()


def test_editing_keys(line: Line) -> None:
    line.type(b"abc\x7fd\r")  # Delete (as most terminals send Backspace)
    assert line.term.readline("> ") == "abd"
    assert line.shown() == b"> abc\b \bd\r\n"
    line.type(b"wrong\x15right\x08\x08ht\r")  # Ctrl-U, then Backspace as ^H
    assert line.term.readline("> ") == "right"
    line.type("名字 ok\r".encode())  # UTF-8, as typed on a terminal set to it
    assert line.term.readline("> ") == "名字 ok"
    line.type(b"\x1b[Adone\r")  # an arrow key on a plain line: ignored
    assert line.term.readline("> ") == "done"


def test_typed_ahead_and_crlf(line: Line) -> None:
    line.type(b"one\r\ntwo\rthree\n")
    assert [line.term.readline("> ") for _ in range(3)] == ["one", "two", "three"]


def test_secret_is_not_echoed_and_ctrl_c_ctrl_d(line: Line) -> None:
    line.type(b"hunter22\r")
    assert line.term.readline("password: ", secret=True) == "hunter22"
    assert b"hunter" not in line.shown()
    line.type(b"half\x03")
    with pytest.raises(Cancelled):
        line.term.readline("> ")
    line.type(b"\x04")
    with pytest.raises(EOFError):
        line.term.readline("> ")


def test_idle_ends_the_wait(line: Line) -> None:
    with pytest.raises(Idle):
        line.term.readline("> ", idle_s=0.5)


def test_a_vt100_answers_the_probe_with_its_size_a_dumb_terminal_does_not(line: Line) -> None:
    def answer() -> None:  # as a terminal does: once the question has arrived
        seen = b""
        while b"\x1b[6n" not in seen:
            seen += line.shown(wait=5.0)
        line.type(b"\x1b[40;120R")

    helper = threading.Thread(target=answer, daemon=True)
    helper.start()
    assert line.term.probe() == "vt100" and (line.term.rows, line.term.columns) == (40, 120)
    helper.join(5)
    assert line.term.probe(wait=0.3) == "dumb"
    assert (line.term.rows, line.term.columns) == (40, 120)  # what the last answer said stays
