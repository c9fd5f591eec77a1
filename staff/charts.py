"""Report charts drawn with matplotlib (Agg backend, no display), as SVG or PNG bytes."""

from __future__ import annotations

import io
import threading

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from centre.reports import Report  # noqa: E402

KINDS = ("hourly", "services", "daily", "ratings")
_LOCK = threading.Lock()  # pyplot keeps global state
LABELS = {
    "vi": {"hourly": "Số phiếu theo giờ", "services": "Thời gian chờ theo dịch vụ (phút)", "hour": "Giờ",
           "tickets": "Số phiếu", "mean": "Trung bình", "p90": "P90", "target": "Mục tiêu",
           "daily": "Số phiếu và tỉ lệ đạt chuẩn theo ngày", "sl": "Tỉ lệ đạt chuẩn (%)",
           "ratings": "Đánh giá của người dân", "count": "Số lượt", "nodata": "Chưa có dữ liệu"},
    "en": {"hourly": "Tickets per hour", "services": "Wait per service (minutes)", "hour": "Hour",
           "tickets": "Tickets", "mean": "Mean", "p90": "P90", "target": "Target",
           "daily": "Tickets and service level per day", "sl": "Service level (%)",
           "ratings": "Citizen ratings", "count": "Count", "nodata": "No data yet"},
}


def chart(report: Report, kind: str, fmt: str = "svg", lang: str = "vi") -> bytes:
    """One chart of a report; `kind` in KINDS, `fmt` 'svg' or 'png'."""
    if kind not in KINDS:
        raise ValueError(f"unknown chart {kind!r}")
    L = LABELS.get(lang, LABELS["vi"])
    with _LOCK:
        plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 10, "svg.fonttype": "none"})
        fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
        try:
            _draw(ax, report, kind, L)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
            return buf.getvalue()
        finally:
            plt.close(fig)


def _empty(ax, L) -> None:
    ax.text(0.5, 0.5, L["nodata"], ha="center", va="center", transform=ax.transAxes, color="#5b6776")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw(ax, rep: Report, kind: str, L: dict) -> None:
    ax.set_title(L[kind], loc="left", fontsize=11)
    ax.yaxis.set_major_locator(MaxNLocator(integer=kind != "services"))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if kind == "hourly":
        hours = list(range(6, 19))
        extra = sorted(h for h in rep.by_hour if h not in hours)
        hours = sorted(set(hours) | set(extra))
        ax.bar(hours, [rep.by_hour.get(h, 0) for h in hours], color="#0b5cab")
        ax.set_xticks(hours)
        ax.set_xlabel(L["hour"])
        ax.set_ylabel(L["tickets"])
        if not rep.by_hour:
            ax.text(0.5, 0.5, L["nodata"], ha="center", va="center", transform=ax.transAxes, color="#5b6776")
    elif kind == "services":
        series = list(rep.by_service)
        if not series:
            return _empty(ax, L)
        x = range(len(series))
        mean = [rep.by_service[s].wait_mean_min or 0 for s in series]
        p90 = [rep.by_service[s].wait_p90_min or 0 for s in series]
        ax.bar([i - 0.2 for i in x], mean, 0.4, label=L["mean"], color="#0b5cab")
        ax.bar([i + 0.2 for i in x], p90, 0.4, label=L["p90"], color="#8fb3de")
        for i, s in enumerate(series):
            target = rep.targets.get(s)
            if target:
                ax.hlines(target, i - 0.45, i + 0.45, colors="#b3261e", linestyles="dashed",
                          label=L["target"] if i == 0 else None)
        ax.set_xticks(list(x), series)
        ax.legend(frameon=False, fontsize=9)
    elif kind == "daily":
        days = list(rep.by_day)
        labels = [d.strftime("%d/%m") for d in days]
        ax.bar(labels, [rep.by_day[d].tickets for d in days], color="#0b5cab")
        ax.set_ylabel(L["tickets"])
        ax2 = ax.twinx()
        sl = [(rep.by_day[d].service_level * 100) if rep.by_day[d].service_level is not None else float("nan")
              for d in days]
        ax2.plot(labels, sl, color="#b35c00", marker="o")
        ax2.set_ylim(0, 105)
        ax2.set_ylabel(L["sl"], color="#b35c00")
        ax2.spines["top"].set_visible(False)
        if len(labels) > 14:
            ax.set_xticks(labels[:: max(1, len(labels) // 10)])
    elif kind == "ratings":
        counts = rep.total.rating_counts
        if not rep.total.ratings:
            return _empty(ax, L)
        ax.bar([str(k) for k in counts], list(counts.values()),
               color=["#b3261e", "#e07b39", "#c9b037", "#6aa84f", "#1e7d3a"])
        ax.set_ylabel(L["count"])
