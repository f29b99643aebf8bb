"""The technician's terminal at the other end of a serial line: keys in, text out, VT100 or dumb.

A :class:`Terminal` owns one open port (any pyserial URL: ``/dev/ttyS0``,
``/dev/ttyGS0`` for a USB gadget, ``rfc2217://host:port``, a pty in the
tests). A reader thread takes every byte the technician types; text goes out
with ``\\r\\n`` line ends, since a serial line has no terminal driver to add
the carriage return.

Two ways to read a line:

- :meth:`Terminal.readline` works on any terminal, even a dumb one (no cursor
  movement at all): characters are echoed as typed (not for a password),
  Backspace/Delete erase the last one, Ctrl-U the line, Ctrl-C abandons it,
  Ctrl-D on an empty line ends the session. UTF-8 is decoded as it comes.
- :meth:`Terminal.prompt` hands the keys to prompt_toolkit for line editing,
  history (Up/Down, Ctrl-R) and Tab completion, on a terminal that answered
  :meth:`probe` (VT100 and everything after it).

Both end with :class:`Idle` when no key came for the idle time, and with
:class:`Hangup` when the line went away.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from edge.errors import HallError

MAX_LINE = 1024  # characters of a line kept
LINE_BYTES = 4 * MAX_LINE  # bytes of one line taken from the wire; the rest of a longer one is dropped
KEYS_BYTES = 64 * 1024  # bytes typed ahead kept while a command runs
LINE_END = re.compile(rb"([\r\n\x03\x15])")  # what ends or clears a line: CR, LF, Ctrl-C, Ctrl-U
CPR = re.compile(rb"\x1b\[(\d{1,4});(\d{1,4})R")
PROBE = "\x1b7\x1b[999;999H\x1b[6n\x1b8"  # save cursor, go far right and down, report where, restore
PROBE_WAIT_S = 1.0


class ConsoleError(HallError):
    """Root of the console's own errors."""

    code = "console"


class Hangup(ConsoleError):
    """The serial line (or pty) went away."""


class Idle(ConsoleError):
    """No key was pressed for the idle time."""


class Cancelled(ConsoleError):
    """Ctrl-C: the line being typed is abandoned."""


class Terminal:
    """Keys from ``port`` on a reader thread; text to it with CR LF line ends."""

    def __init__(self, port: Any, label: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.port = port
        self.label = label
        self.clock = clock
        self.kind = "dumb"
        self.rows, self.columns = 24, 80
        self.last_key = clock()
        self.closed = False
        self._keys = bytearray()
        self._cond = threading.Condition()
        self._pipe: Any = None  # prompt_toolkit's pipe input while a VT100 prompt reads
        self._skip_lf = False
        self._run = 0  # bytes of the line being typed, so far
        self._thread = threading.Thread(target=self._read, name="console-keys", daemon=True)

    def start(self) -> Terminal:
        self._thread.start()
        return self

    # -- the reader thread --------------------------------------------------------
    def _read(self) -> None:
        import serial

        while True:
            try:
                data = self.port.read(max(1, getattr(self.port, "in_waiting", 0) or 1))
            except (serial.SerialException, OSError, TypeError, AttributeError):
                break  # the port is gone (a pty closed, a USB adapter pulled) or was closed under us
            if not data:
                if self.closed:
                    break
                continue
            with self._cond:
                self.last_key = self.clock()
                data = self._limit(bytes(data))
                if self._pipe is not None:
                    self._pipe.send_bytes(data)
                else:
                    self._keys += data[: max(0, KEYS_BYTES - len(self._keys))]
                self._cond.notify_all()
        with self._cond:
            self.closed = True
            self._cond.notify_all()
            if self._pipe is not None:
                self._pipe.close()

    def _limit(self, data: bytes) -> bytes:
        """What is kept of bytes from the wire: a line (a paste, line noise without an end) is cut at
        ``LINE_BYTES``, so neither editor ever holds more, however long the technician's end sends.

        >>> t = Terminal(None, "x")
        >>> [len(t._limit(b"a" * 3000)), len(t._limit(b"b" * 3000 + b"\\r" + b"c" * 10))]
        [3000, 1107]
        """
        kept = bytearray()
        for piece in LINE_END.split(data):
            if len(piece) == 1 and LINE_END.fullmatch(piece):
                kept += piece
                self._run = 0
                continue
            kept += piece[: max(0, LINE_BYTES - self._run)]
            self._run += len(piece)
        return bytes(kept)

    # -- out ----------------------------------------------------------------------
    def write(self, text: str) -> None:
        """Send text; ``\\n`` becomes ``\\r\\n``."""
        self.write_raw(text.replace("\r\n", "\n").replace("\n", "\r\n"))

    def write_raw(self, text: str) -> None:
        import serial

        if self.closed:
            raise Hangup(f"{self.label}: the line is gone")
        try:
            self.port.write(text.encode("utf-8", "replace"))
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise Hangup(f"{self.label}: {exc}") from exc

    def line(self, text: str = "") -> None:
        self.write(text + "\n")

    # -- raw keys -----------------------------------------------------------------
    def key(self, timeout: float) -> bytes | None:
        """Every byte typed so far, waiting up to ``timeout`` for one; None when none came."""
        with self._cond:
            if not self._keys and not self.closed:
                self._cond.wait(timeout)
            if self._keys:
                data = bytes(self._keys)
                self._keys.clear()
                return data
            if self.closed:
                raise Hangup(f"{self.label}: the line is gone")
            return None

    def hold(self, seconds: float, on_enter: Callable[[float], None] | None = None) -> None:
        """Wait ``seconds``, dropping every key typed meanwhile (after a refused sign-in: tries typed ahead by
        a script are not tries); Enter calls ``on_enter`` with the seconds left, at most once a second."""
        deadline = self.clock() + seconds
        said = float("-inf")
        while (left := deadline - self.clock()) > 0:
            data = self.key(min(left, 1.0))
            if data and on_enter is not None and (b"\r" in data or b"\n" in data) and self.clock() - said >= 1.0:
                said = self.clock()
                on_enter(deadline - said)
        self.drain()
        self._skip_lf = False

    def drain(self) -> None:
        with self._cond:
            self._keys.clear()

    def idle_for(self) -> float:
        return self.clock() - self.last_key

    def probe(self, wait: float = PROBE_WAIT_S) -> str:
        """Ask for the cursor position (far bottom right): a VT100 answers with its size, a dumb terminal not."""
        self.drain()
        self.write_raw(PROBE)
        deadline = self.clock() + wait
        with self._cond:
            while True:
                match = CPR.search(self._keys)
                if match:
                    rows, columns = int(match.group(1)), int(match.group(2))
                    del self._keys[match.start() : match.end()]
                    self.kind = "vt100"
                    self.rows, self.columns = max(8, rows), max(40, columns)
                    return self.kind
                left = deadline - self.clock()
                if left <= 0 or self.closed:
                    break
                self._cond.wait(left)
        self.kind = "dumb"
        self.write_raw("\r" + " " * 24 + "\r")  # over what a dumb terminal printed of the question
        return self.kind

    # -- a line, on any terminal ----------------------------------------------------
    def readline(self, prompt: str, *, secret: bool = False, idle_s: float = 600.0) -> str:
        """A line typed by the technician (see the module docstring); EOFError for Ctrl-D on an empty line."""
        self.write(prompt)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text: list[str] = []
        escape = False
        while True:
            data = self._wait_key(idle_s)
            for i, byte in enumerate(data):
                if self._skip_lf and byte == 0x0A:
                    self._skip_lf = False
                    continue
                self._skip_lf = False
                if escape:  # the rest of an escape sequence (an arrow key): ignored on a plain line
                    escape = not (0x40 <= byte <= 0x7E and byte != 0x5B)
                    continue
                if byte in (0x0D, 0x0A):
                    self._skip_lf = byte == 0x0D
                    self.write("\n")
                    with self._cond:
                        self._keys[:0] = data[i + 1 :]  # typed ahead: the next line's
                    return "".join(text)
                if byte in (0x08, 0x7F):
                    if text:
                        text.pop()
                        if not secret:
                            self.write_raw("\b \b")
                elif byte == 0x15:  # Ctrl-U
                    if not secret:
                        self.write_raw("\b \b" * len(text))
                    text.clear()
                elif byte == 0x03:  # Ctrl-C
                    self.write("^C\n")
                    raise Cancelled("line abandoned")
                elif byte == 0x04 and not text:  # Ctrl-D
                    self.write("\n")
                    raise EOFError
                elif byte == 0x1B:
                    escape = True
                elif byte >= 0x20 or byte == 0x09:
                    char = decoder.decode(bytes([byte]))
                    if char and len(text) < MAX_LINE:
                        text.append(" " if char == "\t" else char)
                        if not secret:
                            self.write_raw(text[-1])

    def _wait_key(self, idle_s: float) -> bytes:
        while True:
            left = idle_s - self.idle_for()
            if left <= 0:
                raise Idle(f"no key for {idle_s:g} s")
            data = self.key(min(left, 1.0))
            if data:
                return data

    # -- a line, with prompt_toolkit ------------------------------------------------
    def prompt(self, session: Any, message: str, *, idle_s: float = 600.0) -> str:
        """A line read by prompt_toolkit's ``session`` (made by :meth:`prompt_session`)."""
        return asyncio.run(self._prompt(session, message, idle_s))

    async def _prompt(self, session: Any, message: str, idle_s: float) -> str:
        with self._cond:
            if self.closed:
                raise Hangup(f"{self.label}: the line is gone")
            self._pipe = session.input
            if self._keys:
                self._pipe.send_bytes(bytes(self._keys))
                self._keys.clear()
        task = asyncio.ensure_future(_read_line(session, message))
        try:
            while True:
                left = idle_s - self.idle_for()
                if left <= 0:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                    self.write("\n")
                    raise Idle(f"no key for {idle_s:g} s")
                done, _ = await asyncio.wait({task}, timeout=min(left, 1.0))
                if done:
                    try:
                        result = task.result()
                    except EOFError:
                        if self.closed:
                            raise Hangup(f"{self.label}: the line is gone") from None
                        raise
                    if result is None:
                        raise Cancelled("line abandoned")
                    # bytes that are not UTF-8 come as lone surrogates: made printable before anything stores them
                    return result.encode("utf-8", "replace").decode("utf-8")
        finally:
            with self._cond:
                self._pipe = None

    def prompt_session(self, completer: Any = None) -> Any:
        """A prompt_toolkit session on this line: its own pipe for keys, VT100 output of the probed size."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.data_structures import Size
        from prompt_toolkit.history import InMemoryHistory
        from prompt_toolkit.input import create_pipe_input
        from prompt_toolkit.output.vt100 import Vt100_Output
        from prompt_toolkit.shortcuts import CompleteStyle

        stack = contextlib.ExitStack()
        pipe = stack.enter_context(create_pipe_input())
        wire: Any = _Wire(self)
        output = Vt100_Output(wire, lambda: Size(self.rows, self.columns), term="vt100", enable_cpr=False)
        session: Any = PromptSession(
            input=pipe,
            output=output,
            history=InMemoryHistory(),  # this sign-in's commands only
            completer=completer,
            complete_style=CompleteStyle.READLINE_LIKE,  # candidates printed below, as a serial line can show
            enable_suspend=False,
        )
        session.console_close = stack.close
        return session

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        with contextlib.suppress(Exception):
            self.port.close()


async def _read_line(session: Any, message: str) -> str | None:
    """prompt_toolkit's line; None for Ctrl-C. Its KeyboardInterrupt must not leave a task: asyncio would
    take it for the process's own and stop the loop, and the console with it."""
    try:
        line: str = await session.prompt_async(message)
    except KeyboardInterrupt:
        return None
    return line


class _Wire:
    """What prompt_toolkit writes to: the serial line, as text."""

    encoding = "utf-8"

    def __init__(self, term: Terminal) -> None:
        self.term = term

    def write(self, data: str) -> int:
        self.term.write_raw(data)
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
