"""``hall records``: the day's signed records from a shell (a technician's console, an audit).

hall records list [--day D] [--counter C] [--json]
hall records verify [--day D] [--json]       exit 1 when a record was changed, removed or reordered
hall records receipt ID --out FILE.pdf      the customer's receipt, as the staff panel prints it
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

from edge.cli.main import emit, parser, run_with_errors


def _bus() -> Any:
    from edge.bus import BusClient

    return BusClient("cli", timeout=5.0, retries=2)


def main(argv: list[str]) -> int:
    p = parser("records", "Signed records of the counter pads: list, verify, print a receipt.")
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="a day's signed records")
    ls.add_argument("--day", help="YYYY-MM-DD (default: today)")
    ls.add_argument("--counter")
    verify = sub.add_parser("verify", help="check a day's records against their digests and chain")
    verify.add_argument("--day", help="YYYY-MM-DD (default: today)")
    receipt = sub.add_parser("receipt", help="write the customer's PDF receipt of one record")
    receipt.add_argument("id", help="record id, e.g. R20261130-0007")
    receipt.add_argument("--out", required=True, help="PDF file to write")
    for sp in (ls, verify):
        sp.add_argument("--json", action="store_true", help="machine-readable output")
    a = p.parse_args(argv)
    failed = False

    def run() -> None:
        nonlocal failed
        with _bus() as bus:
            if a.cmd == "list":
                data = {k: v for k, v in (("day", a.day), ("counter", a.counter)) if v}
                rows = bus.request("record.list", data)
                emit(rows, a.json, lambda rs: "\n".join(_line(r) for r in rs) or "no signed records")
            elif a.cmd == "verify":
                report = bus.request("record.verify", {"day": a.day} if a.day else {})
                failed = not report["ok"]
                emit(report, a.json, _verdict)
            else:
                _receipt(bus, a.id, Path(a.out))

    code = run_with_errors(run)
    return code or (1 if failed else 0)


def _line(r: dict[str, Any]) -> str:
    return f"{r['id']}  {r['signed_at'][:19]}  counter {r['counter']}  {r['number'] or '—'}  {r['title']}"


def _verdict(report: dict[str, Any]) -> str:
    if report["ok"]:
        return f"{report['day']}: {report['records']} record(s), all intact"
    lines = [f"{report['day']}: {report['records']} record(s), {len(report['problems'])} problem(s)"]
    lines += [f"  {p['id'] or '?'} (#{p['n']}): {p['problem']}" for p in report["problems"]]
    return "\n".join(lines)


def _receipt(bus: Any, record_id: str, out: Path) -> None:
    from edge import config
    from edge.records.receipt import receipt_pdf

    shown = bus.request("record.show", {"id": record_id})
    hall = config.load().hall
    pdf = receipt_pdf(shown["record"], base64.b64decode(shown["rendered_png"]), hall_name=hall.name, zone=hall.timezone)
    out.write_bytes(pdf)
    if not shown["verified"]["ok"]:
        print(
            f"hall records: warning: {record_id} does not verify: the receipt shows a changed record", file=sys.stderr
        )
    print(out)
