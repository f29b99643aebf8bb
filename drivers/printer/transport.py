"""Byte transports under the ESC/POS protocol: each only writes and reads raw bytes.

``open_transport(url)`` picks one by URL:

- ``tcp://host:9100`` — a network printer's raw port;
- ``serial:///dev/ttyUSB0?baudrate=19200`` or any pyserial URL (``spy://``,
  ``socket://``, ``rfc2217://``, ``loop://``), opened with ``serial_for_url``
  for this process alone (a second program gets a clear error);
- ``usb://04b8:0e15`` — a USB printer class device by vendor:product (needs pyusb);
- ``file:///dev/usb/lp0`` — a device node or file, write-only (no status).

Failures to open or to move bytes are :class:`~drivers.errors.DeviceUnavailable`.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from drivers.errors import DeviceUnavailable

try:  # pyserial's POSIX ports raise termios.error from tcdrain/tcflush when the line has gone
    from termios import error as _TermiosError
except ImportError:  # pragma: no cover - not POSIX

    class _TermiosError(Exception):  # type: ignore[no-redef]
        pass


class Transport(Protocol):
    url: str
    readable: bool

    def write(self, data: bytes) -> None: ...

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes, waiting at most ``timeout`` seconds; ``b""`` when nothing came."""

    def drain(self) -> None:
        """Discard bytes waiting to be read."""

    def close(self) -> None: ...


class SerialTransport:
    readable = True

    def __init__(self, url: str, baudrate: int = 19200) -> None:
        import serial

        self.url = url
        try:
            self.port: Any = serial.serial_for_url(url, baudrate=baudrate, timeout=0, write_timeout=5, exclusive=True)
        except (serial.SerialException, ValueError, OSError) as exc:
            reason = str(exc)
            if "exclusively lock" in reason:
                reason = "the port is in use by another program (is hall devices running?)"
            raise DeviceUnavailable(f"cannot open printer port {url}: {reason}") from exc

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError, _TermiosError) as exc:
            raise DeviceUnavailable(f"printer port {self.url} failed: {exc}") from exc

    def read(self, n: int, timeout: float) -> bytes:
        import serial

        try:
            self.port.timeout = timeout
            data: bytes = self.port.read(n)
        except (serial.SerialException, OSError, TypeError, _TermiosError) as exc:
            raise DeviceUnavailable(f"printer port {self.url} failed: {exc}") from exc
        return data

    def drain(self) -> None:
        import serial

        try:
            self.port.reset_input_buffer()
        except (serial.SerialException, OSError, _TermiosError) as exc:
            raise DeviceUnavailable(f"printer port {self.url} failed: {exc}") from exc

    def close(self) -> None:
        import serial

        try:
            self.port.close()
        except (serial.SerialException, OSError, _TermiosError):
            pass


class TcpTransport:
    readable = True

    def __init__(self, host: str, port: int = 9100, connect_timeout: float = 3.0) -> None:
        self.url = f"tcp://{host}:{port}"
        try:
            self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as exc:
            raise DeviceUnavailable(f"cannot connect to printer {self.url}: {exc}") from exc

    def write(self, data: bytes) -> None:
        try:
            self.sock.settimeout(10.0)
            self.sock.sendall(data)
        except OSError as exc:
            raise DeviceUnavailable(f"printer {self.url} failed: {exc}") from exc

    def read(self, n: int, timeout: float) -> bytes:
        try:
            self.sock.settimeout(timeout)
            data = self.sock.recv(n)
        except (TimeoutError, BlockingIOError):
            return b""
        except OSError as exc:
            raise DeviceUnavailable(f"printer {self.url} failed: {exc}") from exc
        if not data:
            raise DeviceUnavailable(f"printer {self.url} closed the connection")
        return data

    def drain(self) -> None:
        while self.read(256, 0.0):
            pass

    def close(self) -> None:
        self.sock.close()


class FileTransport:
    """A device node or file; nothing can be read back, so the printer's status is unknown."""

    readable = False

    def __init__(self, path: str) -> None:
        self.url = f"file://{path}"
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DeviceUnavailable(f"cannot open printer {path}: {exc.strerror}") from exc

    def write(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            raise DeviceUnavailable(f"printer {self.url} failed: {exc.strerror}") from exc

    def read(self, n: int, timeout: float) -> bytes:
        return b""

    def drain(self) -> None:
        pass

    def close(self) -> None:
        os.close(self.fd)


class UsbTransport:
    """A USB printer-class device found by vendor and product id (pyusb, libusb)."""

    readable = True

    def __init__(self, vendor: int, product: int) -> None:
        self.url = f"usb://{vendor:04x}:{product:04x}"
        try:
            import usb.core
            import usb.util
        except ImportError as exc:
            raise DeviceUnavailable(f"{self.url} needs pyusb (pip install smart-hall-edge[usb])") from exc
        try:
            dev = usb.core.find(idVendor=vendor, idProduct=product)
        except usb.core.NoBackendError as exc:
            raise DeviceUnavailable(f"{self.url}: no libusb backend on this system") from exc
        if dev is None:
            raise DeviceUnavailable(f"no USB printer {self.url} is attached")
        try:
            if dev.is_kernel_driver_active(0):
                dev.detach_kernel_driver(0)
            dev.set_configuration()
            intf = dev.get_active_configuration()[(0, 0)]
            direction = usb.util.endpoint_direction
            self.out_ep = usb.util.find_descriptor(
                intf, custom_match=lambda e: direction(e.bEndpointAddress) == usb.util.ENDPOINT_OUT
            )
            self.in_ep = usb.util.find_descriptor(
                intf, custom_match=lambda e: direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN
            )
        except usb.core.USBError as exc:
            raise DeviceUnavailable(f"cannot claim {self.url}: {exc}") from exc
        self.dev = dev
        self.readable = self.in_ep is not None

    def write(self, data: bytes) -> None:
        import usb.core

        try:
            self.out_ep.write(data, timeout=10_000)
        except usb.core.USBError as exc:
            raise DeviceUnavailable(f"printer {self.url} failed: {exc}") from exc

    def read(self, n: int, timeout: float) -> bytes:
        import usb.core

        if self.in_ep is None:
            return b""
        try:
            return bytes(self.in_ep.read(max(n, self.in_ep.wMaxPacketSize), timeout=max(1, int(timeout * 1000))))
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as exc:
            raise DeviceUnavailable(f"printer {self.url} failed: {exc}") from exc

    def drain(self) -> None:
        while self.read(64, 0.01):
            pass

    def close(self) -> None:
        import usb.util

        usb.util.dispose_resources(self.dev)


def open_transport(url: str) -> Transport:
    """Open the transport a printer URL names; raise DeviceUnavailable (or ValueError for a bad URL)."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme == "tcp":
        if not parts.hostname:
            raise ValueError(f"printer URL {url!r} has no host")
        return TcpTransport(parts.hostname, parts.port or 9100)
    if scheme == "serial":
        query = dict(parse_qsl(parts.query))
        baud = int(query.get("baudrate", "19200"))
        return SerialTransport(parts.path, baudrate=baud)
    if scheme == "file":
        return FileTransport(parts.path)
    if scheme == "usb":
        try:
            vendor, product = (int(x, 16) for x in parts.netloc.split(":"))
        except ValueError:
            raise ValueError(f"printer URL {url!r}: expected usb://VVVV:PPPP (hex vendor and product id)") from None
        return UsbTransport(vendor, product)
    if scheme in ("spy", "socket", "rfc2217", "loop", "hwgrep", "alt"):
        return SerialTransport(url)
    if not scheme and url.startswith("/"):
        return SerialTransport(url)
    raise ValueError(f"printer URL {url!r}: unknown scheme (tcp, serial, usb, file or a pyserial URL)")


def read_exact(t: Transport, n: int, timeout: float) -> bytes:
    """Exactly ``n`` bytes, or fewer if ``timeout`` passed first."""
    deadline = time.monotonic() + timeout
    out = b""
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        out += t.read(n - len(out), left)
    return out
