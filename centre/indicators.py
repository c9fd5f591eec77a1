"""Service-quality indicators, one formula for a ward's staff server and for the provincial hub.

Pure code: no SQL, no HTTP. A `Stats` holds additive counts for a ward and a period (sums,
counts and per-minute histograms, so days add up to months, quarters and the province
without losing the 90th percentile). `ticket_stats`, `rating_stats` and `dossier_stats`
build one from plain rows (the ward reads them from SQLite, the hub from PostgreSQL);
`indicators()` turns it into the figures shown on dashboards and reports, and
`decision_766()` maps them onto the component groups of Decision 766/QĐ-TTg (2022).

Definitions (docs/province.md gives the sources):
- wait = first call − issue; service time = finished − start of service (served tickets);
- p90 = nearest-rank 90th percentile on one-minute buckets (the upper edge of the bucket);
- satisfaction: share of ratings ≥ 4 on the 1–5 scale, and the mean rating;
- a dossier is *finished* when it first reaches ready, returned or rejected; it is early when
  finished before its due date, on time on the due date, late after it; on-time rate =
  (early + on time) / finished dossiers that have a due date;
- online share = dossiers received online / dossiers received; digitised share = dossiers
  marked digitised / dossiers received (unknown counts as not digitised).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date

FINISHED_STATES = ("ready", "returned", "rejected")
_MAX_MIN = 600  # waits and services longer than 10 hours are counted in the last bucket


def _count(hist: list[int], seconds: float) -> None:
    """Add one duration to a per-minute histogram (a list grown as needed)."""
    b = max(0, min(_MAX_MIN, int(seconds // 60)))
    if len(hist) <= b:
        hist.extend([0] * (b + 1 - len(hist)))
    hist[b] += 1


@dataclass
class Stats:
    """Additive counts for one ward (or many) over one period (or many)."""

    tickets: int = 0
    served: int = 0
    no_show: int = 0
    cancelled: int = 0
    wait_n: int = 0
    wait_sum: float = 0.0
    wait_hist: list[int] = field(default_factory=list)  # count of waits in minute 0, 1, 2…
    service_n: int = 0
    service_sum: float = 0.0
    service_hist: list[int] = field(default_factory=list)
    ratings: int = 0
    rating_sum: int = 0
    rating_ge4: int = 0
    received: int = 0
    online: int = 0
    digitised: int = 0
    finished: int = 0
    early: int = 0
    on_due: int = 0
    late: int = 0
    no_due: int = 0

    def add(self, other: Stats) -> Stats:
        for name in _SCALARS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in _HISTS:
            a, b = getattr(self, name), getattr(other, name)
            if len(a) < len(b):
                a.extend([0] * (len(b) - len(a)))
            for i, v in enumerate(b):
                if v:
                    a[i] += v
        return self

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> Stats:
        """From `to_dict()` output (also after a JSON round trip)."""
        s = cls()
        for name in _SCALARS:
            v = d.get(name)
            if v is not None:
                setattr(s, name, v)
        for name in _HISTS:
            v = d.get(name)
            if v:
                setattr(s, name, list(v))
        return s


_HISTS = ("wait_hist", "service_hist")
_SCALARS = tuple(f.name for f in fields(Stats) if f.name not in _HISTS)


def total(items: Iterable[Stats]) -> Stats:
    out = Stats()
    for s in items:
        out.add(s)
    return out


# -- building Stats from rows ----------------------------------------------------------------


def ticket_stats(rows: Iterable[dict]) -> Stats:
    """Rows with state, issued_at, first_called_at, serving_at, finished_at (epoch seconds)."""
    s = Stats()
    for t in rows:
        s.tickets += 1
        state = t["state"]
        s.served += state == "served"
        s.no_show += state == "no_show"
        s.cancelled += state == "cancelled"
        if t.get("first_called_at") is not None:
            w = max(0.0, t["first_called_at"] - t["issued_at"])
            s.wait_n += 1
            s.wait_sum += w
            _count(s.wait_hist, w)
        if state == "served" and t.get("serving_at") is not None and t.get("finished_at") is not None:
            d = max(0.0, t["finished_at"] - t["serving_at"])
            s.service_n += 1
            s.service_sum += d
            _count(s.service_hist, d)
    return s


def rating_stats(ratings: Iterable[int]) -> Stats:
    s = Stats()
    for r in ratings:
        s.ratings += 1
        s.rating_sum += int(r)
        s.rating_ge4 += int(r) >= 4
    return s


def received_stats(rows: Iterable[dict]) -> Stats:
    """Dossiers received in the period: rows with channel and digitised."""
    s = Stats()
    for d in rows:
        s.received += 1
        s.online += d.get("channel") == "online"
        s.digitised += bool(d.get("digitised"))
    return s


def finished_stats(rows: Iterable[dict]) -> Stats:
    """Dossiers finished in the period: rows with finished_on and due_on (dates or ISO strings)."""
    s = Stats()
    for d in rows:
        s.finished += 1
        due, done = _as_date(d.get("due_on")), _as_date(d.get("finished_on"))
        if due is None or done is None:
            s.no_due += 1
        elif done < due:
            s.early += 1
        elif done == due:
            s.on_due += 1
        else:
            s.late += 1
    return s


def _as_date(v) -> date | None:
    if v is None or v == "":
        return None
    if isinstance(v, date):
        return v
    return date.fromisoformat(str(v)[:10])


# -- indicators --------------------------------------------------------------------------


def percentile(hist: list[int], q: float = 0.9) -> float | None:
    """Nearest-rank percentile in minutes (upper edge of the one-minute bucket)."""
    n = sum(hist)
    if n == 0:
        return None
    rank = max(1, -(-int(q * n * 1000) // 1000))  # ceil(q*n) without float surprises
    seen = 0
    for k, c in enumerate(hist):
        seen += c
        if seen >= rank:
            return float(k + 1)
    return float(len(hist))


def _ratio(a: float, b: float, nd: int = 4) -> float | None:
    return round(a / b, nd) if b else None


def indicators(s: Stats) -> dict:
    """The figures of a dashboard row (None where there is nothing to divide by)."""
    return {
        "tickets": s.tickets,
        "served": s.served,
        "no_show": s.no_show,
        "no_show_rate": _ratio(s.no_show, s.tickets),
        "wait_mean_min": _ratio(s.wait_sum, 60 * s.wait_n, 1),
        "wait_p90_min": percentile(s.wait_hist),
        "service_mean_min": _ratio(s.service_sum, 60 * s.service_n, 1),
        "service_p90_min": percentile(s.service_hist),
        "ratings": s.ratings,
        "satisfied_share": _ratio(s.rating_ge4, s.ratings),
        "rating_mean": _ratio(s.rating_sum, s.ratings, 2),
        "dossiers_received": s.received,
        "dossiers_finished": s.finished,
        "dossiers_early": s.early,
        "dossiers_on_due": s.on_due,
        "dossiers_on_time": s.early + s.on_due,
        "dossiers_late": s.late,
        "on_time_rate": _ratio(s.early + s.on_due, s.finished - s.no_due),
        "online_share": _ratio(s.online, s.received),
        "digitised_share": _ratio(s.digitised, s.received),
    }


# Decision 766/QĐ-TTg of 23 June 2022, five component groups and their maximum points (of 100).
# Within-group scoring rules are set by the Government Office's guidance, not reproduced here:
# we show the raw rate each group is judged on, never a score we cannot source.
DECISION_766 = (
    ("cong_khai", "Công khai, minh bạch", 18, None,
     "không tính được từ dữ liệu của trung tâm (công khai thủ tục trên cổng dịch vụ công)"),
    ("tien_do", "Tiến độ, kết quả giải quyết", 20, "on_time_rate",
     "hồ sơ giải quyết trước hạn và đúng hạn / hồ sơ đã giải quyết có ngày hẹn trả"),
    ("so_hoa", "Số hóa hồ sơ", 22, "digitised_share", "hồ sơ được số hóa / hồ sơ tiếp nhận"),
    ("truc_tuyen", "Cung cấp dịch vụ trực tuyến", 22, "online_share", "hồ sơ nộp trực tuyến / hồ sơ tiếp nhận"),
    ("hai_long", "Mức độ hài lòng", 18, "satisfied_share",
     "lượt đánh giá 4–5 sao tại quầy / tổng lượt đánh giá (khảo sát của trung tâm, gần đúng với chỉ số trên cổng)"),
)


def decision_766(ind: dict) -> list[dict]:
    """The Decision 766 groups these data support, each with its raw rate and maximum points."""
    return [{"key": k, "name": name, "max_points": pts, "rate": ind.get(src) if src else None,
             "formula": formula} for k, name, pts, src, formula in DECISION_766]
