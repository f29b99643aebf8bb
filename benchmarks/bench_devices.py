"""Devices: what a printed ticket and a spoken call cost, against baselines from the same run.

- ticket encode: ``ticket.render`` (layout to ESC/POS bytes), per ticket;
- print over a pty: ``DLE EOT 1..4`` status + ticket bytes until the simulated printer has cut the
  page (interpretation included, PNG rendering off), per ticket; baseline: one ``DLE EOT`` round trip
  on the same pty, the floor of any status check;
- PNG render of a page (Pillow, CJK font, QR), per ticket;
- a spoken call (espeak-ng to WAV, chime, two repetitions); baseline: ``espeak-ng`` on one syllable,
  i.e. the cost of starting the engine.

    .venv/bin/python benchmarks/bench_devices.py [--tickets 50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=50)
    args = parser.parse_args()
    from drivers.printer import escpos, ticket
    from drivers.printer.printer import Printer
    from drivers.printer.render import render_png
    from drivers.printer.sim import SimulatedPrinter
    from drivers.printer.transport import open_transport, read_exact

    data = ticket.TicketData("国网示范供电营业厅", "电费缴纳", "A001", 3, 9, "2026-11-25 09:30", ticket_id="x")
    layout = ticket.Layout(paper=80, qr_url="https://hall.example/queue?number={number}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        enc = []
        for _ in range(args.tickets):
            t0 = time.perf_counter()
            raw = ticket.render(data, layout)
            enc.append(time.perf_counter() - t0)
        sim = SimulatedPrinter(out / "sim", render=False)
        transport = open_transport("serial://" + sim.serve_pty())
        printer = Printer(transport)
        rtt, prints = [], []
        for _ in range(args.tickets):
            t0 = time.perf_counter()
            transport.write(escpos.status_request(1))
            assert read_exact(transport, 1, 2.0)
            rtt.append(time.perf_counter() - t0)
        for i in range(args.tickets):
            t0 = time.perf_counter()
            status = printer.status()
            assert status is not None and status.ready
            printer.write(raw)
            assert sim.wait_pages(i + 1, 10)
            prints.append(time.perf_counter() - t0)
        printer.close()
        sim.close()
        renders = []
        for i, page in enumerate(sim.pages[: min(10, args.tickets)]):
            t0 = time.perf_counter()
            render_png(page, out / f"p{i}.png", 576)
            renders.append(time.perf_counter() - t0)
        print(f"ticket bytes:             {len(raw)}")
        print(f"ticket encode:            {median_ms(enc):8.3f} ms")
        print(f"DLE EOT round trip (pty): {median_ms(rtt):8.3f} ms   (baseline)")
        print(
            f"status + print + cut:     {median_ms(prints):8.3f} ms   = {median_ms(prints) / median_ms(rtt):.1f}x baseline"
        )
        print(f"PNG render:               {median_ms(renders):8.3f} ms")
        if shutil.which("espeak-ng"):
            from drivers.voice.unit import VoiceUnit

            base, calls = [], []
            for _ in range(5):
                t0 = time.perf_counter()
                subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-w", str(out / "b.wav"), "a1"], check=True)
                base.append(time.perf_counter() - t0)
            unit = VoiceUnit("voice", out / "voice", repeat=2)
            for i in range(5):
                t0 = time.perf_counter()
                unit.announce(f"A{i:03d}", "1号窗口", "1")
                calls.append(time.perf_counter() - t0)
            print(f"espeak-ng one syllable:   {median_ms(base):8.3f} ms   (baseline)")
            print(
                f"spoken call to WAV:       {median_ms(calls):8.3f} ms   = {median_ms(calls) / median_ms(base):.1f}x baseline"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
