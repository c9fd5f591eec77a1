"""Read side of the hub: periods, the ward table, one ward's days, sparklines.

Counts are added up in PostgreSQL (sums of the daily JSON counts, histograms merged with
jsonb_each), then turned into figures by `centre.indicators.indicators` — the same formula the
ward's own staff server uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import psycopg

from centre.indicators import Stats, decision_766, indicators, total

SCALARS = ("tickets", "served", "no_show", "cancelled", "wait_n", "wait_sum", "service_n", "service_sum",
           "ratings", "rating_sum", "rating_ge4", "received", "online", "digitised", "finished", "early",
           "on_due", "late", "no_due")


class BadPeriod(ValueError):
    """The period is not YYYY-MM-DD, YYYY-MM or YYYY-Qn."""


@dataclass(frozen=True)
class Period:
    start: date
    end: date          # exclusive
    label: str
    kind: str          # day | month | quarter

    @property
    def key(self) -> str:
        return self.label


def _next_month(d: date, n: int = 1) -> date:
    m = d.month - 1 + n
    return date(d.year + m // 12, m % 12 + 1, 1)


def parse_period(text: str) -> Period:
    text = (text or "").strip()
    if m := re.fullmatch(r"(\d{4})-Q([1-4])", text, re.I):
        start = date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
        return Period(start, _next_month(start, 3), f"{m.group(1)}-Q{m.group(2)}", "quarter")
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        try:
            start = date(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise BadPeriod(f"{text!r}: no such month") from None
        return Period(start, _next_month(start), text, "month")
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise BadPeriod(f"{text!r}: use YYYY-MM-DD, YYYY-MM or YYYY-Qn") from None
    return Period(d, d + timedelta(days=1), text, "day")


def latest_period(conn: psycopg.Connection) -> Period:
    row = conn.execute("SELECT max(day) FROM daily").fetchone()
    d = row[0] or date.today()
    return parse_period(f"{d.year:04d}-{d.month:02d}")


def centres(conn: psycopg.Connection) -> dict[str, dict]:
    rows = conn.execute("SELECT centre_id, name, last_seen, last_seq, events, duplicates, batches FROM centres "
                        "ORDER BY centre_id").fetchall()
    return {r[0]: {"centre_id": r[0], "name": r[1] or r[0], "last_seen": r[2], "last_seq": r[3], "events": r[4],
                   "duplicates": r[5], "batches": r[6]} for r in rows}


def stats_by_centre(conn: psycopg.Connection, start: date, end: date, centre_id: str | None = None) -> dict[str, Stats]:
    """Summed Stats per ward over [start, end)."""
    where, params = "day >= %s AND day < %s", [start, end]
    if centre_id:
        where += " AND centre_id = %s"
        params.append(centre_id)
    cols = ", ".join(f"sum((stats->>'{k}')::float8)" for k in SCALARS)
    out: dict[str, Stats] = {}
    for row in conn.execute(f"SELECT centre_id, {cols} FROM daily WHERE {where} GROUP BY centre_id", params):
        s = Stats()
        for k, v in zip(SCALARS, row[1:], strict=True):
            setattr(s, k, v if k.endswith("_sum") and k != "rating_sum" else int(v or 0))
        out[row[0]] = s
    for hist in ("wait_hist", "service_hist"):
        for cid, k, n in conn.execute(
                f"SELECT centre_id, h.key::int, sum(h.value::int) FROM daily, jsonb_each_text(stats->'{hist}') h "
                f"WHERE {where} GROUP BY 1, 2", params):
            if cid in out:
                getattr(out[cid], hist)[k] = int(n)
    return out


def daily_series(conn: psycopg.Connection, start: date, end: date, centre_id: str | None = None) -> dict[str, dict]:
    """Per ward, per day: tickets, on-time dossiers, finished dossiers with a due date, rating ≥ 4, ratings."""
    where, params = "day >= %s AND day < %s", [start, end]
    if centre_id:
        where += " AND centre_id = %s"
        params.append(centre_id)
    out: dict[str, dict] = {}
    for cid, day, t, ot, fin, ge4, n in conn.execute(
            "SELECT centre_id, day, (stats->>'tickets')::int, (stats->>'early')::int + (stats->>'on_due')::int, "
            "(stats->>'finished')::int - (stats->>'no_due')::int, (stats->>'rating_ge4')::int, (stats->>'ratings')::int "
            f"FROM daily WHERE {where} ORDER BY centre_id, day", params):
        out.setdefault(cid, {})[day] = (t, ot, fin, ge4, n)
    return out


def sparkline(values: list[float | None], width: int = 120, height: int = 24) -> str:
    """An inline SVG polyline of the values (None = gap counted as 0)."""
    vals = [v or 0 for v in values]
    if not vals:
        return ""
    hi = max(vals) or 1
    step = width / max(1, len(vals) - 1)
    pts = " ".join(f"{i * step:.1f},{height - 2 - (v / hi) * (height - 4):.1f}" for i, v in enumerate(vals))
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{len(vals)} ngày"><polyline fill="none" stroke="currentColor" '
            f'stroke-width="1.5" points="{pts}"/></svg>')


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def ward_table(conn: psycopg.Connection, period: Period) -> dict:
    """The province dashboard: one row per ward, the province total, sparklines of daily tickets."""
    cs = centres(conn)
    stats = stats_by_centre(conn, period.start, period.end)
    series = daily_series(conn, period.start, period.end)
    days = _days(period.start, period.end)
    rows = []
    for cid, c in cs.items():
        s = stats.get(cid, Stats())
        ser = series.get(cid, {})
        ind = indicators(s)
        rows.append({"centre_id": cid, "name": c["name"], "ind": ind, "last_seen": c["last_seen"],
                     "spark_tickets": sparkline([ser.get(d, (0,))[0] for d in days]),
                     "decision_766": decision_766(ind)})
    prov = indicators(total(stats.values()))
    return {"period": period, "rows": rows, "province": prov, "decision_766": decision_766(prov)}


def ward_detail(conn: psycopg.Connection, centre_id: str, period: Period) -> dict | None:
    cs = centres(conn)
    if centre_id not in cs:
        return None
    s = stats_by_centre(conn, period.start, period.end, centre_id).get(centre_id, Stats())
    ind = indicators(s)
    days = []
    for day, st in conn.execute("SELECT day, stats FROM daily WHERE centre_id = %s AND day >= %s AND day < %s "
                                "ORDER BY day", (centre_id, period.start, period.end)):
        days.append({"day": day, "ind": indicators(Stats.from_dict(st))})
    return {"centre": cs[centre_id], "period": period, "ind": ind, "decision_766": decision_766(ind), "days": days,
            "spark_tickets": sparkline([d["ind"]["tickets"] for d in days], 360, 48)}
