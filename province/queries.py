"""Read side of the hub: periods, the ward table, one ward's days, sparklines.

Counts are the additive `Stats` of `monthly` (whole months) and `daily` (other days) rows,
added up and turned into figures by `centre.indicators.indicators` — the same formula the
ward's own staff server uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

import psycopg

from centre.indicators import Stats, decision_766, indicators, total


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
    try:
        return _parse_period((text or "").strip())
    except (ValueError, OverflowError) as exc:  # 9999-12 and 9999-12-31 have no next month or day
        if isinstance(exc, BadPeriod):
            raise
        raise BadPeriod(f"{text!r}: out of range") from None


def _parse_period(text: str) -> Period:
    if m := re.fullmatch(r"([0-9]{4})-Q([1-4])", text, re.I):
        start = date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
        return Period(start, _next_month(start, 3), f"{m.group(1)}-Q{m.group(2)}", "quarter")
    if m := re.fullmatch(r"([0-9]{4})-([0-9]{2})", text):
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
    # Not a day after tomorrow: one ward's clock set to 2099 must not move everyone's default page there.
    row = conn.execute("SELECT max(day) FROM daily WHERE day <= current_date + 1").fetchone()
    d = row[0] or date.today()
    return parse_period(f"{d.year:04d}-{d.month:02d}")


def centres(conn: psycopg.Connection, only: list[str] | None = None) -> dict[str, dict]:
    """The registered wards (only those in `only` when given: a ward user's scope)."""
    sql = "SELECT centre_id, name, last_seen, last_seq, events, duplicates, batches FROM centres"
    params: list = []
    if only is not None:
        sql += " WHERE centre_id = ANY(%s)"
        params.append(only)
    rows = conn.execute(sql + " ORDER BY centre_id", params).fetchall()
    return {r[0]: {"centre_id": r[0], "name": r[1] or r[0], "last_seen": r[2], "last_seq": r[3], "events": r[4],
                   "duplicates": r[5], "batches": r[6]} for r in rows}


def stats_by_centre(conn: psycopg.Connection, start: date, end: date, centre_id: str | list[str] | None = None,
                    ) -> dict[str, Stats]:
    """Summed Stats per ward over [start, end): whole months from `monthly`, other days from `daily`
    (of one ward, or of a list of wards)."""
    out: dict[str, Stats] = {}
    m0 = start if start.day == 1 else _next_month(start.replace(day=1))
    m1 = end.replace(day=1)
    parts = [("monthly", "month", m0, m1)] if m0 < m1 else []
    if parts:
        parts += [("daily", "day", start, m0), ("daily", "day", m1, end)]
    else:
        parts = [("daily", "day", start, end)]
    for table, col, s, e in parts:
        if s >= e:
            continue
        sql = f"SELECT centre_id, stats FROM {table} WHERE {col} >= %s AND {col} < %s"
        params: list = [s, e]
        if isinstance(centre_id, list):
            sql += " AND centre_id = ANY(%s)"
            params.append(centre_id)
        elif centre_id:
            sql += " AND centre_id = %s"
            params.append(centre_id)
        for cid, st in conn.execute(sql, params).fetchall():
            out.setdefault(cid, Stats()).add(Stats.from_dict(st))
    return out


def daily_series(conn: psycopg.Connection, start: date, end: date, centre_id: str | list[str] | None = None,
                 ) -> dict[str, dict]:
    """Per ward, per day: tickets issued (the sparklines)."""
    where, params = "day >= %s AND day < %s", [start, end]
    if isinstance(centre_id, list):
        where += " AND centre_id = ANY(%s)"
        params.append(centre_id)
    elif centre_id:
        where += " AND centre_id = %s"
        params.append(centre_id)
    out: dict[str, dict] = {}
    for cid, day, t in conn.execute(f"SELECT centre_id, day, (stats->>'tickets')::int FROM daily WHERE {where}",
                                    params).fetchall():
        out.setdefault(cid, {})[day] = t
    return out


def sparkline(values: list[float | None], width: int = 120, height: int = 24, label: str = "{n} ngày") -> str:
    """An inline SVG polyline of the values (None = 0); more than 46 values are summed in equal runs.
    `label` is its accessible name, `{n}` the number of points (the page's language says it)."""
    vals = [v or 0 for v in values]
    if not vals:
        return ""
    run = -(-len(vals) // 46)
    if run > 1:
        vals = [sum(vals[i:i + run]) for i in range(0, len(vals), run)]
    hi = max(vals) or 1
    step = width / max(1, len(vals) - 1)
    pts = " ".join("%d,%d" % (i * step, height - 2 - (v * (height - 4)) // hi) for i, v in enumerate(vals))  # noqa: UP031
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{escape(label.format(n=len(vals)))}"><polyline fill="none" stroke="currentColor" '
            f'stroke-width="1.5" points="{pts}"/></svg>')


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


TOTAL_PROVINCE = "Toàn tỉnh"
TOTAL_SCOPE = "Tổng các phường, xã được giao"


def ward_table(conn: psycopg.Connection, period: Period, only: list[str] | None = None,
               spark_label: str = "{n} ngày") -> dict:
    """The province dashboard: one row per ward, the total, sparklines of daily tickets (`spark_label`:
    their accessible name). `total_label` names the total in Vietnamese (the JSON API's `scope`),
    `total_key` the page text that names it (province/i18n).

    With `only` (a ward user's wards) the rows and the total cover those wards alone."""
    cs = centres(conn, only)
    stats = stats_by_centre(conn, period.start, period.end, only)
    series = daily_series(conn, period.start, period.end, only)
    days = _days(period.start, period.end)
    rows = []
    for cid, c in cs.items():
        s = stats.get(cid, Stats())
        ser = series.get(cid, {})
        ind = indicators(s)
        rows.append({"centre_id": cid, "name": c["name"], "ind": ind, "last_seen": c["last_seen"],
                     "spark_tickets": sparkline([ser.get(d, 0) for d in days], label=spark_label),
                     "decision_766": decision_766(ind)})
    prov = indicators(total(stats.values()))
    return {"period": period, "rows": rows, "province": prov, "decision_766": decision_766(prov),
            "total_label": TOTAL_PROVINCE if only is None else TOTAL_SCOPE, "total_key": total_key(only)}


def total_key(only: list[str] | None) -> str:
    """The page text (province/i18n) naming the total of the whole province or of a ward user's wards."""
    return "total_province" if only is None else "total_scope"


def ward_detail(conn: psycopg.Connection, centre_id: str, period: Period, spark_label: str = "{n} ngày") -> dict | None:
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
            "spark_tickets": sparkline([d["ind"]["tickets"] for d in days], 360, 48, spark_label)}
