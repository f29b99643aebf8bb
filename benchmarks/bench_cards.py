"""Card readers: SAM frame parsing speed, ID-card read cycle over a pty, IC-card account read via pcscd.

Each figure has a baseline measured in the same run: the parser against a bare
``bytes.find`` scan of the same stream, a full find → select → read cycle
against a single find round trip, the IC-card read (its own PC/SC context,
thread and transaction around the profile) against the same profile on a card
already connected, and one SELECT.
On real hardware a SAM read is bound by the UART: at 115200 baud the 1295-byte
answer alone takes about 112 ms.

    .venv/bin/python benchmarks/bench_cards.py [--cycles 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from drivers.idcard import frames as fr


def parser_figures(frames: int = 2000) -> None:
    one = fr.encode_response(fr.SW3_OK, fr.encode_read_payload(bytes(256), bytes(1024)))
    stream = (b"\x00\x13" + one) * frames
    t0 = time.perf_counter()
    got = fr.FrameParser()
    count = 0
    for i in range(0, len(stream), 4096):
        count += len(got.feed(stream[i : i + 4096]))
    parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    pos, hits = 0, 0
    while (pos := stream.find(fr.PREAMBLE, pos) + 1) > 0:
        hits += 1
    scan = time.perf_counter() - t0
    mb = len(stream) / 1e6
    assert count == hits == frames
    print(f"frame parser: {mb / parse:8.1f} MB/s  ({frames / parse:9.0f} read answers/s)")
    print(f"baseline scan: {mb / scan:7.1f} MB/s  (bytes.find of the preamble only)")


def id_cycle_figures(cycles: int) -> None:
    from drivers.idcard.reader import IdCardReader
    from drivers.idcard.sim import SamModule, SimCard, resident_text

    module = SamModule(Path(tempfile.mkdtemp(prefix="bench-sam-"))).start()
    module.place(SimCard(resident_text("张三", "11010519491231002X")))
    reader = IdCardReader(module.url, timeout=2.0)
    reader.open()
    finds, full = [], []
    for _ in range(cycles):
        t0 = time.perf_counter()
        reader.transact(fr.CMD_FIND)
        finds.append(time.perf_counter() - t0)
        reader._last_serial = None  # read the same card again each cycle
        t0 = time.perf_counter()
        assert reader.poll_once() is not None
        full.append(time.perf_counter() - t0)
    reader.close()
    module.stop()
    print(f"ID read cycle over pty: median {statistics.median(full) * 1e3:6.2f} ms, p95 {_p95(full) * 1e3:6.2f} ms")
    print(f"baseline find round trip: median {statistics.median(finds) * 1e3:6.2f} ms")


def ic_figures(cycles: int) -> None:
    try:
        from smartcard import scard
    except ImportError:
        print("IC card: pyscard not installed, skipped")
        return
    from drivers.iccard import apdu as ap
    from drivers.iccard.config import EXAMPLE_PROFILE
    from drivers.iccard.pcsc import CardLink
    from drivers.iccard.reader import IcCardWatcher
    from drivers.iccard.vicc import ElectricityCard, VirtualCard

    watcher = IcCardWatcher(EXAMPLE_PROFILE, reader_pattern="^Virtual PCD 00 00$")
    try:
        watcher.poll(0.1)
    except Exception as exc:
        print(f"IC card: pcscd with vpcd not reachable ({exc}), skipped")
        return
    card = VirtualCard(ElectricityCard("3301234567890")).insert()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not watcher._present:
        watcher.poll(0.2)
    reader = "Virtual PCD 00 00"
    reads, bare, selects = [], [], []
    for _ in range(cycles):
        t0 = time.perf_counter()
        assert watcher.read_account(reader) == "3301234567890"
        reads.append(time.perf_counter() - t0)
        hresult, handle, proto = scard.SCardConnect(watcher._ctx, reader, scard.SCARD_SHARE_SHARED, 3)
        assert hresult == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hresult)
        link = CardLink(reader, handle, proto)
        t0 = time.perf_counter()
        assert ap.run_profile(EXAMPLE_PROFILE, link.send) == "3301234567890"
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        link.transmit(ap.select_fid("3F00"))
        selects.append(time.perf_counter() - t0)
        scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
    card.remove()
    print(f"IC account read (context, connect, transaction, 4 APDUs + GET RESPONSE): median {_ms(reads)} ms")
    print(f"baseline the same profile on a connected card, no transaction: median {_ms(bare)} ms")
    print(f"baseline one SELECT through pcscd + vpcd: median {_ms(selects)} ms")


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:6.2f}"


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    parser_figures()
    id_cycle_figures(args.cycles)
    ic_figures(max(10, args.cycles // 4))


if __name__ == "__main__":
    main()
