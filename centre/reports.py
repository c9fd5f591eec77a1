"""Queue reports: per day or date range, per service and per counter (pure computations).

Figures (DESIGN.md §5, issue 8):
- ``tickets``: tickets issued; ``served``, ``no_show``, ``cancelled``, ``transferred_out``,
  ``open`` (still waiting/called/serving, or expired at the day's end) by final state;
- ``wait``: minutes from issue to the first call, over the tickets that were called;
- ``service``: minutes from the start of service (or the call, when "start" was never pressed)
  to "served", over the served tickets;
- mean and 90th percentile (nearest-rank: the smallest value with at least 90 % of values at
  or below it; exact on hand-countable data, no interpolation);
- ``service_level``: the share of called tickets whose wait was within the service's target
  wait (``target_wait_min``), a number in 0..1 (None when nothing was called);
- ``ratings``: count, mean and the 1..5 distribution of citizen ratings.

A transferred ticket is counted once, under the service and counter that finally handled it,
and its wait runs from its original issue time (it kept its place). ``transferred_out`` counts
the tickets that were transferred at least once, ``transfers`` every move (issue 16: both were
always 0, because a transferred ticket goes back to "waiting").

Groups: total, per day, service, counter, officer (the person who last called the ticket:
the actor's name without its role, "officer:lan" → "lan"), procedure (chosen at the kiosk;
"" = none), and service × day. CSV headers are Vietnamese by default (``lang="en"`` for
English), and every text cell is escaped against spreadsheet formulas (``csv_safe``).

The input is a list of `TicketFacts` (plain values, no database), so every figure is tested on
hand-made data; `load_facts(conn, ...)` reads them from the queue tables.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

FINAL_STATES = ("served", "no_show", "cancelled", "transferred", "expired")


class ReportRangeError(ValueError):
    """The report's date range is reversed or too long."""


@dataclass(frozen=True)
class TicketFacts:
    """What a report needs of one ticket. Times are timezone-aware datetimes or None."""

    id: int | str
    series: str
    state: str                     # final or current state
    issued_at: datetime
    called_at: datetime | None = None     # first call
    started_at: datetime | None = None    # service started
    finished_at: datetime | None = None   # served / no-show / cancelled
    counter_id: int | None = None         # counter that called/served it
    priority: str | None = None
    rating: int | None = None
    transfers: int = 0                    # times it was transferred
    officer: str | None = None            # who last called it (actor name without its role)
    procedure_key: str | None = None      # procedure chosen at the kiosk


@dataclass
class Stats:
    """Figures of one group of tickets (a service, a counter, a day or everything)."""

    tickets: int = 0
    served: int = 0
    no_show: int = 0
    cancelled: int = 0
    transferred_out: int = 0
    transfers: int = 0
    open: int = 0
    priority: int = 0
    called: int = 0
    wait_mean_min: float | None = None
    wait_p90_min: float | None = None
    wait_max_min: float | None = None
    service_mean_min: float | None = None
    service_p90_min: float | None = None
    service_level: float | None = None
    within_target: int = 0
    ratings: int = 0
    rating_mean: float | None = None
    rating_counts: dict[int, int] = field(default_factory=lambda: {i: 0 for i in range(1, 6)})

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["rating_counts"] = {str(k): v for k, v in self.rating_counts.items()}
        return d


@dataclass
class Report:
    """A report over [start, end] (local dates, inclusive)."""

    start: date
    end: date
    total: Stats
    by_service: dict[str, Stats]
    by_counter: dict[int, Stats]
    by_day: dict[date, Stats]
    by_hour: dict[int, int]              # tickets issued per local hour of day
    targets: dict[str, float]            # target wait minutes per series
    by_officer: dict[str, Stats] = field(default_factory=dict)
    by_procedure: dict[str, Stats] = field(default_factory=dict)
    service_day: dict[tuple[str, date], Stats] = field(default_factory=dict)   # (series, day)

    def to_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "total": self.total.to_dict(),
            "by_service": {k: v.to_dict() for k, v in self.by_service.items()},
            "by_counter": {str(k): v.to_dict() for k, v in self.by_counter.items()},
            "by_officer": {k: v.to_dict() for k, v in self.by_officer.items()},
            "by_procedure": {k: v.to_dict() for k, v in self.by_procedure.items()},
            "service_day": {f"{k[0]}|{k[1].isoformat()}": v.to_dict() for k, v in self.service_day.items()},
            "by_day": {k.isoformat(): v.to_dict() for k, v in self.by_day.items()},
            "by_hour": {str(k): v for k, v in self.by_hour.items()},
            "targets": self.targets,
        }


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds() / 60)


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


_STATE_FIELD = {"served": "served", "no_show": "no_show", "cancelled": "cancelled", "transferred": "transferred_out"}


def _count_state(s: Stats, t: TicketFacts) -> None:
    s.tickets += 1
    name = _STATE_FIELD.get(t.state, "open")
    setattr(s, name, getattr(s, name) + 1)
    if t.transfers and t.state != "transferred":
        s.transferred_out += 1
    s.transfers += max(t.transfers, 1 if t.state == "transferred" else 0)


def compute_stats(tickets: Iterable[TicketFacts], target_wait_min: Callable[[str], float]) -> Stats:
    """The figures of one group of tickets; `target_wait_min(series)` gives each ticket's target."""
    s = Stats()
    waits: list[float] = []
    services: list[float] = []
    ratings: list[int] = []
    for t in tickets:
        _count_state(s, t)
        if t.priority:
            s.priority += 1
        w = _minutes(t.issued_at, t.called_at)
        if w is not None:
            s.called += 1
            waits.append(w)
            # Compare in seconds so that float minutes cannot tip a boundary case.
            if (t.called_at - t.issued_at).total_seconds() <= target_wait_min(t.series) * 60 + 1e-6:
                s.within_target += 1
        if t.state == "served":
            d = _minutes(t.started_at or t.called_at, t.finished_at)
            if d is not None:
                services.append(d)
        if t.rating is not None and 1 <= t.rating <= 5:
            ratings.append(t.rating)
            s.rating_counts[t.rating] += 1
    if waits:
        s.wait_mean_min = _r(sum(waits) / len(waits))
        s.wait_p90_min = _r(percentile(waits, 90))
        s.wait_max_min = _r(max(waits))
        s.service_level = _r(s.within_target / s.called, 4)
    if services:
        s.service_mean_min = _r(sum(services) / len(services))
        s.service_p90_min = _r(percentile(services, 90))
    if ratings:
        s.ratings = len(ratings)
        s.rating_mean = _r(sum(ratings) / len(ratings))
    return s


def build_report(tickets: Iterable[TicketFacts], start: date, end: date, targets: dict[str, float],
                 tz: ZoneInfo, *, default_target: float = 15.0) -> Report:
    """Group the tickets issued between `start` and `end` (local dates, inclusive) and compute figures."""
    if end < start:
        raise ReportRangeError(f"the end date {end} is before the start date {start}")
    chosen = [t for t in tickets if start <= t.issued_at.astimezone(tz).date() <= end]

    def target(series: str) -> float:
        return targets.get(series, default_target)

    def group(key) -> dict:
        out: dict = {}
        for t in chosen:
            k = key(t)
            if k is not None:
                out.setdefault(k, []).append(t)
        return out

    by_service = {k: compute_stats(v, target) for k, v in sorted(group(lambda t: t.series).items())}
    by_counter = {k: compute_stats(v, target) for k, v in sorted(group(lambda t: t.counter_id).items())}
    by_day = {}
    d = start
    days = group(lambda t: t.issued_at.astimezone(tz).date())
    while d <= end:
        by_day[d] = compute_stats(days.get(d, []), target)
        d += timedelta(days=1)
    by_hour: dict[int, int] = {}
    for t in chosen:
        h = t.issued_at.astimezone(tz).hour
        by_hour[h] = by_hour.get(h, 0) + 1
    by_officer = {k: compute_stats(v, target) for k, v in sorted(group(lambda t: t.officer).items())}
    by_procedure = {k: compute_stats(v, target)
                    for k, v in sorted(group(lambda t: t.procedure_key or "").items())}
    service_day = {k: compute_stats(v, target) for k, v in
                   sorted(group(lambda t: (t.series, t.issued_at.astimezone(tz).date())).items())}
    return Report(start=start, end=end, total=compute_stats(chosen, target), by_service=by_service,
                  by_counter=by_counter, by_day=by_day, by_hour=dict(sorted(by_hour.items())),
                  targets={k: float(v) for k, v in targets.items()}, by_officer=by_officer,
                  by_procedure=by_procedure, service_day=service_day)


CSV_COLUMNS = ["scope", "key", "tickets", "served", "no_show", "cancelled", "transferred_out", "transfers", "open",
               "priority", "called", "wait_mean_min", "wait_p90_min", "wait_max_min", "service_mean_min",
               "service_p90_min", "service_level", "within_target", "ratings", "rating_mean"]
#: Vietnamese CSV headers (the default): what a ward's staff read in a spreadsheet.
CSV_HEADERS_VI = {
    "scope": "Phạm vi", "key": "Mục", "tickets": "Số phiếu", "served": "Đã phục vụ", "no_show": "Vắng mặt",
    "cancelled": "Đã hủy", "transferred_out": "Phiếu được chuyển", "transfers": "Số lần chuyển",
    "open": "Chưa xong", "priority": "Ưu tiên", "called": "Đã gọi", "wait_mean_min": "Chờ TB (phút)",
    "wait_p90_min": "Chờ P90 (phút)", "wait_max_min": "Chờ lâu nhất (phút)",
    "service_mean_min": "Phục vụ TB (phút)", "service_p90_min": "Phục vụ P90 (phút)",
    "service_level": "Tỷ lệ đúng hạn chờ", "within_target": "Trong hạn chờ", "ratings": "Số đánh giá",
    "rating_mean": "Điểm đánh giá TB",
}
SCOPES_VI = {"total": "Tổng", "day": "Ngày", "service": "Dịch vụ", "counter": "Quầy", "officer": "Cán bộ",
             "procedure": "Thủ tục", "service_day": "Dịch vụ × ngày"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


#: A formula start after a ';' or a tab inside a cell. The csv module quotes a cell only for ',',
#: '"' and line ends, and Excel set to Vietnamese (list separator ';') splits an unquoted
#: "x;=HYPERLINK(…)" into two cells, the second a live formula.
_FORMULA_AFTER_SEPARATOR = re.compile(r"([;\t])(?=[=+\-@\t\r])")


def csv_safe(value):
    """A CSV cell that a spreadsheet will not run as a formula ('=cmd|…' → "'=cmd|…", and
    'x;=cmd' → "x;'=cmd" for spreadsheets that split cells at ';'); numbers unchanged."""
    if not isinstance(value, str):
        return value
    value = _FORMULA_AFTER_SEPARATOR.sub(r"\1'", value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def report_rows(report: Report) -> list[dict]:
    """One flat row per group: total, each day, each service, each counter."""
    rows = []

    def add(scope: str, key, s: Stats) -> None:
        d = s.to_dict()
        rows.append({"scope": scope, "key": str(key), **{c: d[c] for c in CSV_COLUMNS[2:]}})

    add("total", f"{report.start.isoformat()}..{report.end.isoformat()}", report.total)
    for k, s in report.by_day.items():
        add("day", k.isoformat(), s)
    for k, s in report.by_service.items():
        add("service", k, s)
    for k, s in report.by_counter.items():
        add("counter", k, s)
    for k, s in report.by_officer.items():
        add("officer", k, s)
    for k, s in report.by_procedure.items():
        add("procedure", k, s)
    for (series, day), s in report.service_day.items():
        add("service_day", f"{series} {day.isoformat()}", s)
    return rows


def report_csv(report: Report, lang: str = "vi") -> str:
    """The report as CSV text (UTF-8, comma-separated, header row; empty cell = no data).

    Vietnamese headers and scope names unless lang="en"; text cells escaped (csv_safe)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    vi = lang != "en"
    w.writerow([CSV_HEADERS_VI[c] if vi else c for c in CSV_COLUMNS])
    for row in report_rows(report):
        if vi:
            row = {**row, "scope": SCOPES_VI.get(row["scope"], row["scope"])}
        w.writerow([csv_safe("" if row[c] is None else row[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


def day_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) local, as aware datetimes."""
    a = datetime.combine(start, datetime.min.time(), tzinfo=tz)
    b = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return a, b


# -- reading the queue tables ---------------------------------------------------------------


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def load_facts(conn, start: date, end: date) -> list[TicketFacts]:
    """Tickets whose ticket day is in [start, end] from the queue tables, with their ratings."""
    have_ratings = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ticket_ratings'").fetchone() is not None
    rating = "r.rating" if have_ratings else "NULL"
    join = "LEFT JOIN ticket_ratings r ON r.ticket_id = t.id" if have_ratings else ""
    rows = conn.execute(
        f"SELECT t.id, t.service, t.state, t.issued_at, t.first_called_at, t.serving_at, t.finished_at, "
        f"t.counter_id, t.priority, t.transfers, t.procedure_key, {rating} AS rating, "
        f"(SELECT e.actor FROM queue_events e WHERE e.ticket_id = t.id AND e.kind = 'call' "
        f" ORDER BY e.id DESC LIMIT 1) AS caller FROM tickets t {join} "
        f"WHERE t.day BETWEEN ? AND ? ORDER BY t.id", (start.isoformat(), end.isoformat())).fetchall()
    return [TicketFacts(id=r["id"], series=r["service"], state=r["state"], issued_at=_dt(r["issued_at"]),
                        called_at=_dt(r["first_called_at"]), started_at=_dt(r["serving_at"]),
                        finished_at=_dt(r["finished_at"]) if r["state"] != "expired" else None,
                        counter_id=r["counter_id"], priority=r["priority"], rating=r["rating"],
                        transfers=r["transfers"] or 0, officer=officer_name(r["caller"]),
                        procedure_key=r["procedure_key"]) for r in rows]


def officer_name(actor: str | None) -> str | None:
    """'officer:lan' → 'lan'; 'kiosk:hall/officer:lan' (through a remote client) → 'lan'; None stays None.

    An officer's own login names the officer: what their client claims after it ('officer:lan/
    officer:minh') is kept in the log but does not move lan's calls, no-shows and ratings to minh."""
    if not actor:
        return None
    parts = actor.split("/")
    first, last = parts[0], parts[-1]
    if first.startswith("officer:"):
        return first.split(":", 1)[1]
    return last.split(":", 1)[1] if ":" in last else last


def report_for(queue, start: date, end: date) -> Report:
    """The report of a `centre.queue.Queue` (its database, services' targets and time zone)."""
    targets = {s.series: s.target_wait_min for s in queue.services()}
    return build_report(load_facts(queue.conn, start, end), start, end, targets, queue.tz)


def report_text(report: Report) -> str:
    """A plain-text table for the terminal."""
    head = f"{'':<14}{'tickets':>8}{'served':>8}{'no-show':>8}{'wait':>7}{'p90':>7}{'serv':>7}{'p90':>7}" \
           f"{'SL':>6}{'rating':>8}\n"

    def fmt(x, nd=1):
        return "-" if x is None else f"{x:.{nd}f}"

    def line(label, s: Stats) -> str:
        sl = "-" if s.service_level is None else f"{s.service_level * 100:.0f}%"
        return (f"{label:<14}{s.tickets:>8}{s.served:>8}{s.no_show:>8}{fmt(s.wait_mean_min):>7}"
                f"{fmt(s.wait_p90_min):>7}{fmt(s.service_mean_min):>7}{fmt(s.service_p90_min):>7}{sl:>6}"
                f"{fmt(s.rating_mean, 2):>8}\n")

    span = report.start.isoformat() + ("" if report.end == report.start else f" .. {report.end.isoformat()}")
    out = f"Report {span} (minutes; SL = share called within the target wait)\n" + head
    out += line("total", report.total)
    for k, s in report.by_service.items():
        out += line(f"service {k}", s)
    for k, s in report.by_counter.items():
        out += line(f"counter {k}", s)
    if report.end > report.start:
        for k, s in report.by_day.items():
            out += line(k.isoformat(), s)
    return out
