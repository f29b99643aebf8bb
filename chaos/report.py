"""The run's figures and invariants, as a table for people and as JSON (``--json``, ``report.json``)."""

from __future__ import annotations

from typing import Any

from chaos.check import Invariant
from chaos.garbage import Tally
from chaos.run import Record


def figures(record: Record, **extra: Any) -> dict[str, Any]:
    outages = {
        name: {"kills": record.kills[name], "outage_s": round(sum(v), 1), "longest_s": max(v)}
        for name, v in sorted(record.outages.items())
    }
    return {
        **extra,
        "kills": outages,
        "link": {"episodes": dict(record.link), "seconds": round(record.link_s, 1)},
        "disk_full": {
            "episodes": record.disk_episodes,
            "seconds": round(record.disk_s, 1),
            "ballast_mib": record.disk_bytes >> 20,
        },
        "devices": dict(record.devices),
        "skipped": dict(record.skipped),
        "malformed": {"bus": _tally(record.bus), "panel": _tally(record.panel)},
    }


def _tally(t: Tally) -> dict[str, Any]:
    return {"sent": sum(t.sent.values()), "by_kind": dict(t.sent), "answers": dict(t.answers)}


def invariants(checks: list[Invariant]) -> list[dict[str, Any]]:
    return [{"name": c.name, "held": c.held, "violations": c.count, "problems": c.problems} for c in checks]


def table(fig: dict[str, Any], checks: list[Invariant]) -> str:
    lines = [
        f"hall chaos: {fig['seconds'] / 60:g} min, seed {fig['seed']}, run directory {fig['home']}",
        f"full disk by: {fig['ran']['disk']}; pcscd: {fig['ran']['pcscd']}",
        "",
        f"{'fault':<34}{'count':>7}  figures",
    ]
    for name, k in fig["kills"].items():
        lines.append(f"{'kill -9 ' + name:<34}{k['kills']:>7}  outage {k['outage_s']} s (longest {k['longest_s']} s)")
    for mode, n in sorted(fig["link"]["episodes"].items()):
        lines.append(f"{'HQ link ' + mode:<34}{n:>7}")
    lines.append(f"{'  (HQ link faulty, all modes)':<34}{'':>7}  {fig['link']['seconds']} s; proxy {fig['proxy']}")
    d = fig["disk_full"]
    lines.append(f"{'disk full':<34}{d['episodes']:>7}  {d['seconds']} s full, {d['ballast_mib']} MiB of ballast")
    for what, n in sorted(fig["devices"].items()):
        lines.append(f"{'device ' + what:<34}{n:>7}")
    for where in ("bus", "panel"):
        m = fig["malformed"][where]
        answers = ", ".join(f"{k} {v}" for k, v in sorted(m["answers"].items()))
        lines.append(f"{'malformed requests, ' + where:<34}{m['sent']:>7}  answers: {answers}")
    h = fig.get("history")
    if h:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(h["imports"].items()))
        lines.append(
            f"{'history imports':<34}{sum(h['imports'].values()):>7}  {outcomes or 'none'}; {h['rows_added']} rows added "
            f"in {h['seconds']} s, {h['tickets_meanwhile']} tickets meanwhile "
            f"(slowest {h['longest_ticket_meanwhile_s']} s)"
        )
    for what, n in sorted(fig["skipped"].items()):
        lines.append(f"{'skipped: ' + what:<34}{n:>7}")
    e, t = fig["events"], fig["tickets"]
    lines += [
        "",
        f"events: {e['hall_head']} in the hall's log up to the check, {e['at_hq']} at HQ, "
        f"{e['shed']} shed (sync.gap), {e['reclaimed']} reclaimed; settled in {fig['settle_s']} s",
        f"tickets: {t['acknowledged']} acknowledged to the harness's clients "
        f"({', '.join(f'{k} {v}' for k, v in sorted(t['outcomes'].items()))}; slowest answer "
        f"{t.get('longest_answer_s', 0)} s); {t['in_hall']} in the hall",
        "",
        "invariants:",
    ]
    for c in checks:
        lines.append(f"  {'held  ' if c.held else 'BROKEN'}  {c.name}")
        lines += [f"          {p}" for p in c.problems]
        if c.count > len(c.problems):
            lines.append(f"          … and {c.count - len(c.problems)} more")
    lines.append("")
    lines.append("every invariant held" if all(c.held for c in checks) else "INVARIANTS BROKEN")
    return "\n".join(lines)
