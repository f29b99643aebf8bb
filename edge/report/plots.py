"""The daily report's figures (matplotlib, Agg backend, a CJK font from the box).

Each function takes the ``stats.day`` reply and returns a matplotlib Figure,
or None when there is nothing to plot. Chinese needs a CJK font: Debian's
``fonts-wqy-microhei`` (or Noto CJK / Droid fallback) is registered at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from edge.errors import HallError
from edge.report import staff_names

CJK_FONTS = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "WenQuanYi Micro Hei"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", "Droid Sans Fallback"),
)
COLORS = ["#1f5fa8", "#e07b00", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d35400"]


def use_cjk_font() -> str:
    """Register the first CJK font found and make it the default; raise if the box has none."""
    for path, name in CJK_FONTS:
        if Path(path).is_file():
            font_manager.fontManager.addfont(path)
            plt.rcParams["font.sans-serif"] = [name, "DejaVu Sans"]
            plt.rcParams["font.family"] = "sans-serif"
            plt.rcParams["axes.unicode_minus"] = False
            plt.rcParams["pdf.fonttype"] = 42
            return name
    raise HallError("no CJK font installed: install the Debian package fonts-wqy-microhei")


def _fig(w: float = 8.0, h: float = 3.6) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=(w, h), dpi=110, layout="constrained")
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def volume_by_hour(stats: dict[str, Any]) -> Figure | None:
    names = {b["code"]: f"{b['code']} {b['name']}" for b in stats["businesses"]}
    series = {k: v for k, v in stats["volume_by_hour"].items() if sum(v)}
    if not series:
        return None
    hours = [h for h in range(24) if any(v[h] for v in series.values())]
    lo, hi = min(hours), max(hours) + 1
    fig, ax = _fig()
    bottom = [0] * (hi - lo)
    for i, (code, counts) in enumerate(series.items()):
        part = counts[lo:hi]
        ax.bar(range(lo, hi), part, bottom=bottom, label=names.get(code, code), color=COLORS[i % len(COLORS)])
        bottom = [a + b for a, b in zip(bottom, part, strict=True)]
    ax.set_title("各业务分时取号量 Volume by business and hour")
    ax.set_xlabel("时 hour")
    ax.set_ylabel("张 tickets")
    ax.set_xticks(range(lo, hi))
    ax.legend(fontsize=8, ncols=2)
    return fig


def wait_distribution(stats: dict[str, Any]) -> Figure | None:
    values = [v / 60 for v in stats["waits"].get("values_s", [])]
    if not values:
        return None
    fig, ax = _fig()
    ax.hist(values, bins=min(30, max(5, len(values) // 3)), color=COLORS[0], edgecolor="white")
    avg = sum(values) / len(values)
    ax.axvline(avg, color=COLORS[4], linestyle="--", label=f"平均 {avg:.1f} 分钟")
    ax.set_title("等待时间分布 Wait distribution")
    ax.set_xlabel("分钟 minutes")
    ax.set_ylabel("人 customers")
    ax.legend(fontsize=8)
    return fig


def handling_times(stats: dict[str, Any]) -> Figure | None:
    counters = [c for c in stats["counters"] if c["avg_handling_s"] is not None]
    names = staff_names(stats["staff"])
    staff = [{**s, "shown": names[str(s["staff"])]} for s in stats["staff"] if s["avg_handling_s"] is not None]
    if not counters and not staff:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.6), dpi=110, layout="constrained")
    for ax, rows, label, title in (
        (left, counters, "name", "各窗口平均办理时长"),
        (right, staff, "shown", "各员工平均办理时长"),
    ):
        ax.barh([str(r[label]) for r in rows], [r["avg_handling_s"] / 60 for r in rows], color=COLORS[2])
        for i, r in enumerate(rows):
            ax.text(r["avg_handling_s"] / 60, i, f" {r['served']} 人", va="center", fontsize=8)
        ax.set_title(title)
        ax.set_xlabel("分钟 minutes")
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def evaluations(stats: dict[str, Any]) -> Figure | None:
    ev = stats["evaluations"]
    if not ev["count"]:
        return None
    fig, ax = _fig(8.0, 3.0)
    colors = [COLORS[4], COLORS[4], COLORS[6], COLORS[2], COLORS[2]]
    ax.bar([f"{n} 星" for n in range(1, 6)], ev["histogram"], color=colors)
    ax.set_title(f"服务评价 Evaluations ({ev['count']} 条, 平均 {ev['average']})")
    ax.set_ylabel("条 ratings")
    return fig


def arrivals(stats: dict[str, Any]) -> Figure | None:
    door, before = stats["door"], stats["door_last_week"]
    if door["measured"] or before["measured"]:
        today, last, what = door["hours_in"], before["hours_in"], "进厅人数 people entering"
    else:
        today, last, what = stats["issued_by_hour"], stats["issued_by_hour_last_week"], "取号数 tickets issued"
    if not sum(today) and not sum(last):
        return None
    fig, ax = _fig()
    ax.bar(range(24), today, color=COLORS[0], label=f"{stats['day']}")
    ax.plot(range(24), last, color=COLORS[1], marker="o", label=f"上周同日 {stats['last_week_day']}")
    ax.set_title(f"分时到达 Arrivals by hour: {what}")
    ax.set_xlabel("时 hour")
    ax.set_xticks(range(0, 24, 2))
    ax.legend(fontsize=8)
    return fig


def heatmap(path: Path | None) -> Figure | None:
    if path is None or not path.is_file():
        return None
    import matplotlib.image as mpimg

    fig, ax = plt.subplots(figsize=(8.0, 5.0), dpi=110, layout="constrained")
    ax.imshow(mpimg.imread(str(path)))
    ax.set_axis_off()
    ax.set_title("客流热力图 Heatmap")
    return fig


def all_figures(stats: dict[str, Any], heat: Path | None) -> list[tuple[str, Figure]]:
    use_cjk_font()
    found = [
        ("volume", volume_by_hour(stats)),
        ("arrivals", arrivals(stats)),
        ("waits", wait_distribution(stats)),
        ("handling", handling_times(stats)),
        ("evaluations", evaluations(stats)),
        ("heatmap", heatmap(heat)),
    ]
    return [(name, fig) for name, fig in found if fig is not None]
