"""A ward's own indicators from its SQLite database, with the formulas of `centre.indicators`.

The provincial hub computes the same `Stats` from the synced copies of these rows, so a ward's
staff server and the province show the same figures for the same days.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import date, timedelta

from centre.indicators import (
    FINISHED_STATES,
    Stats,
    finished_stats,
    rating_stats,
    received_stats,
    ticket_stats,
)


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is not None


def daily_stats(conn: sqlite3.Connection, start: date, end: date) -> dict[date, Stats]:
    """Stats of each day in [start, end) (days without traffic included, empty)."""
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    s, e = start.isoformat(), end.isoformat()
    tickets, ratings, received, finished = (defaultdict(list) for _ in range(4))
    if _has(conn, "tickets"):
        for r in conn.execute("SELECT day, state, issued_at, first_called_at, serving_at, finished_at FROM tickets "
                              "WHERE day >= ? AND day < ?", (s, e)):
            tickets[r[0]].append({"state": r[1], "issued_at": r[2], "first_called_at": r[3], "serving_at": r[4],
                                  "finished_at": r[5]})
    if _has(conn, "ticket_ratings"):
        for day, rating in conn.execute("SELECT t.day, r.rating FROM ticket_ratings r JOIN tickets t ON t.id = r.ticket_id "
                                        "WHERE t.day >= ? AND t.day < ?", (s, e)):
            ratings[day].append(rating)
    if _has(conn, "dossiers"):
        cols = {r[1] for r in conn.execute("PRAGMA table_info(dossiers)")}
        chan = "channel, digitised" if "channel" in cols else "'', NULL"
        for day, channel, digitised in conn.execute(
                f"SELECT substr(received_at, 1, 10), {chan} FROM dossiers WHERE received_at >= ? AND received_at < ?",
                (s, e)):
            received[day].append({"channel": channel, "digitised": digitised})
        marks = ", ".join("?" * len(FINISHED_STATES))
        for day, due in conn.execute(
                f"SELECT f.day, d.due_at FROM (SELECT code, min(substr(at, 1, 10)) AS day FROM dossier_events "
                f"WHERE state IN ({marks}) GROUP BY code) f JOIN dossiers d ON d.code = f.code "
                f"WHERE f.day >= ? AND f.day < ?", (*FINISHED_STATES, s, e)):
            finished[day].append({"finished_on": day, "due_on": due})
    out = {}
    for d in days:
        k = d.isoformat()
        st = ticket_stats(tickets[k]).add(rating_stats(ratings[k]))
        out[d] = st.add(received_stats(received[k])).add(finished_stats(finished[k]))
    return out
