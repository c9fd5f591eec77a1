"""Counts per ward and day (`daily`) and month (`monthly`): `centre.indicators.Stats` rebuilt from
the fact tables for the days a batch touched, and the months holding them re-added from `daily`."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import psycopg
from psycopg.types.json import Jsonb

from centre.indicators import Stats, finished_stats, rating_stats, received_stats, ticket_stats, total


def day_stats(conn: psycopg.Connection, centre_id: str, days: list[date]) -> dict[date, Stats]:
    """Stats of each of `days` for one ward, straight from the fact tables."""
    out: dict[date, Stats] = {d: Stats() for d in days}
    tickets = defaultdict(list)
    for day, state, issued, called, serving, finished in conn.execute(
            "SELECT day, state, issued_at, first_called_at, serving_at, finished_at FROM tickets "
            "WHERE centre_id = %s AND day = ANY(%s)", (centre_id, days)):
        tickets[day].append({"state": state, "issued_at": issued, "first_called_at": called,
                             "serving_at": serving, "finished_at": finished})
    ratings = defaultdict(list)
    for day, rating in conn.execute("SELECT day, rating FROM ratings WHERE centre_id = %s AND day = ANY(%s)",
                                    (centre_id, days)):
        ratings[day].append(rating)
    received = defaultdict(list)
    for day, channel, digitised in conn.execute(
            "SELECT received_on, channel, digitised FROM dossiers WHERE centre_id = %s AND received_on = ANY(%s)",
            (centre_id, days)):
        received[day].append({"channel": channel, "digitised": digitised})
    finished = defaultdict(list)
    for day, due in conn.execute(
            "SELECT finished_on, due_on FROM dossiers WHERE centre_id = %s AND finished_on = ANY(%s)",
            (centre_id, days)):
        finished[day].append({"finished_on": day, "due_on": due})
    for d in days:
        s = out[d]
        s.add(ticket_stats(tickets[d])).add(rating_stats(ratings[d]))
        s.add(received_stats(received[d])).add(finished_stats(finished[d]))
    return out


def rollup(conn: psycopg.Connection, centre_id: str, days: set[date]) -> None:
    """Rewrite the `daily` rows of these days for one ward (inside the caller's transaction)."""
    if not days:
        return
    stats = day_stats(conn, centre_id, sorted(days))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO daily (centre_id, day, stats) VALUES (%s, %s, %s) "
            "ON CONFLICT (centre_id, day) DO UPDATE SET stats = excluded.stats",
            [(centre_id, d, Jsonb(s.to_dict())) for d, s in stats.items()])
    for month in sorted({d.replace(day=1) for d in days}):
        month_rollup(conn, centre_id, month)


def _next_month(m: date) -> date:
    return date(m.year + (m.month == 12), m.month % 12 + 1, 1)


def month_rollup(conn: psycopg.Connection, centre_id: str, month: date) -> None:
    """Rewrite one ward's `monthly` row as the sum of its `daily` rows of that month."""
    rows = conn.execute("SELECT stats FROM daily WHERE centre_id = %s AND day >= %s AND day < %s",
                        (centre_id, month, _next_month(month))).fetchall()
    s = total(Stats.from_dict(r[0]) for r in rows)
    conn.execute("INSERT INTO monthly (centre_id, month, stats) VALUES (%s, %s, %s) "
                 "ON CONFLICT (centre_id, month) DO UPDATE SET stats = excluded.stats",
                 (centre_id, month, Jsonb(s.to_dict())))


def rebuild_monthly(conn: psycopg.Connection) -> None:
    """Every ward's months from `daily` (after migration 002 on a hub that already has data)."""
    for centre_id, month in conn.execute(
            "SELECT DISTINCT centre_id, date_trunc('month', day)::date FROM daily").fetchall():
        month_rollup(conn, centre_id, month)
