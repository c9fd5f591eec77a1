"""Realistic traffic for many ward centres: each gets its own SQLite database, written through
the same tables (and so the same outbox triggers) as the real queue and dossier register.

    python -m province.generate --out var/gen --centres 100 --days 90 [--start 2026-09-01] [--seed 17]

Per centre (sizes vary from small communes to busy wards):
- opening hours Mon–Fri 07:30–11:30 and 13:30–17:00, Saturday morning; arrivals peak at 8–9:30
  and 14–15 h; no traffic on Sundays and public holidays in `data/holidays.yaml`;
- four services (A–D) with their shares; waits grow with the morning queue; service times
  log-normal around each service's default; about 5 % no-shows and 1 % cancellations;
- ratings from about 40 % of served citizens, mostly 4–5;
- dossiers for about a quarter of the tickets, plus online submissions (a centre-specific
  share), each with a due date 1–15 working days on, most finished early or on time, a
  centre-specific share late; digitised for a centre-specific share.
Every ticket goes through insert → called → serving → served/no-show as the queue writes it, so
the outbox holds ~4 events a ticket, as in production. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from centre import outbox

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SERVICES = (("A", 0.40, 8.0), ("B", 0.20, 12.0), ("C", 0.20, 10.0), ("D", 0.20, 8.0))  # series, share, minutes
SESSIONS = ((dtime(7, 30), dtime(11, 30)), (dtime(13, 30), dtime(17, 0)))
PROCEDURES = ("1.001193", "1.000894", "2.000908", "1.004227", "1.003583", "2.001255")


@dataclass(frozen=True)
class CentreProfile:
    index: int
    centre_id: str
    tickets_per_day: float
    online_share: float
    digitised_share: float
    late_share: float
    counters: int


def profile(index: int, seed: int) -> CentreProfile:
    rng = random.Random(seed * 1000 + index)
    return CentreProfile(index, f"phuong-{index:03d}", rng.uniform(35, 85), rng.uniform(0.15, 0.65),
                         rng.uniform(0.5, 0.98), rng.uniform(0.01, 0.12), rng.randint(3, 6))


def _schema(conn: sqlite3.Connection) -> None:
    from centre.config import load_config
    from centre.db import migrate
    from centre.dossiers import MIGRATIONS as DOSSIERS
    from centre.queue import Queue
    from centre.ratings import ensure_schema

    Queue(conn, load_config(None))
    ensure_schema(conn)
    migrate(conn, "dossiers", DOSSIERS)
    outbox.install(conn)


def _holidays() -> set[date]:
    try:
        from centre.config import load_config
        from centre.workdays import load_calendar

        cfg = load_config(None)
        cal = load_calendar(cfg.path(cfg.paths.holidays))
        return {d for d in (date(2024, 1, 1) + timedelta(days=i) for i in range(365 * 4)) if not cal.is_working_day(d)
                and d.weekday() < 5}
    except Exception:  # noqa: BLE001 — a generator without a holiday file still works
        return set()


def _epoch(day: date, minutes: float) -> float:
    return datetime.combine(day, dtime(), TZ).timestamp() + minutes * 60


def _arrivals(rng: random.Random, day: date, n_mean: float) -> list[float]:
    """Minutes after midnight of each arrival in the day, sorted."""
    saturday = day.weekday() == 5
    n = max(0, int(rng.gauss(n_mean * (0.5 if saturday else 1.0), math.sqrt(n_mean))))
    out = []
    for _ in range(n):
        if saturday or rng.random() < 0.62:  # morning, peaking at 8:00-9:30
            m = rng.triangular(7.5 * 60, 11.25 * 60, 8.6 * 60)
        else:
            m = rng.triangular(13.5 * 60, 16.75 * 60, 14.4 * 60)
        out.append(m)
    return sorted(out)


def _service(rng: random.Random) -> tuple[str, float]:
    r, acc = rng.random(), 0.0
    for series, share, minutes in SERVICES:
        acc += share
        if r <= acc:
            return series, minutes
    return SERVICES[-1][0], SERVICES[-1][2]


def _tickets_of_day(rng: random.Random, p: CentreProfile, day: date) -> list[dict]:
    free_at = [0.0] * p.counters
    numbers: dict[str, int] = {}
    out = []
    for arrive in _arrivals(rng, day, p.tickets_per_day):
        series, svc_min = _service(rng)
        numbers[series] = numbers.get(series, 0) + 1
        k = min(range(p.counters), key=free_at.__getitem__)
        called = max(arrive + rng.uniform(0.2, 2.0), free_at[k])
        r = rng.random()
        state = "no_show" if r < 0.05 else "cancelled" if r < 0.06 else "served"
        duration = rng.lognormvariate(math.log(svc_min), 0.45)
        start = called + rng.uniform(0.3, 1.5)
        end = start + duration if state == "served" else called + 2.0
        free_at[k] = end
        out.append({"series": series, "number": numbers[series], "state": state, "counter": k + 1,
                    "issued": _epoch(day, arrive), "called": _epoch(day, called),
                    "serving": _epoch(day, start) if state == "served" else None, "finished": _epoch(day, end),
                    "priority": "elderly" if rng.random() < 0.08 else None})
    return out


def _write_tickets(conn: sqlite3.Connection, rng: random.Random, day: date, tickets: list[dict]) -> None:
    iso = day.isoformat()
    rows = []
    for t in tickets:
        t["token"] = f"{rng.getrandbits(128):032x}"
        rows.append((t["token"], iso, t["series"], t["number"], t["series"], t["series"], t["priority"],
                     1 if t["priority"] else 0, t["issued"], t["issued"]))
    conn.executemany("INSERT INTO tickets(token, day, series, number, service, origin_service, priority, prio, "
                     "issued_at, queued_at) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    live = [t for t in tickets if t["state"] != "cancelled"]
    conn.executemany("UPDATE tickets SET state = 'called', counter_id = ?, first_called_at = ?, called_at = ? "
                     "WHERE token = ?", [(t["counter"], t["called"], t["called"], t["token"]) for t in live])
    served = [t for t in live if t["state"] == "served"]
    conn.executemany("UPDATE tickets SET state = 'serving', serving_at = ? WHERE token = ?",
                     [(t["serving"], t["token"]) for t in served])
    conn.executemany("UPDATE tickets SET state = ?, finished_at = ? WHERE token = ?",
                     [(t["state"], t["finished"], t["token"]) for t in tickets])
    ratings = []
    for t in served:
        if rng.random() < 0.4:
            r = rng.choices((1, 2, 3, 4, 5), (2, 3, 10, 35, 50))[0]
            ratings.append((t["token"], r, t["finished"] + rng.uniform(10, 600)))
    conn.executemany("INSERT INTO ticket_ratings(ticket_id, rating, at, via) "
                     "SELECT id, ?, ?, 'status_page' FROM tickets WHERE token = ?",
                     [(r, at, tok) for tok, r, at in ratings])


def _add_working_days(d: date, n: int, holidays: set[date]) -> date:
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5 and d not in holidays:
            n -= 1
    return d


def _dossiers_of_day(rng: random.Random, p: CentreProfile, day: date, n_tickets: int, holidays: set[date],
                     serial: int) -> list[dict]:
    n_counter = sum(rng.random() < 0.22 for _ in range(n_tickets))
    n_online = int(n_counter * p.online_share / max(0.05, 1 - p.online_share) + rng.random())
    out = []
    for i in range(n_counter + n_online):
        online = i >= n_counter
        received = datetime.combine(day, dtime(7, 30)) + timedelta(minutes=rng.uniform(0, 9 * 60))
        days = rng.choice((1, 1, 3, 5, 5, 7, 10, 15))
        due = _add_working_days(day, days, holidays)
        r = rng.random()
        if r < p.late_share:
            done = _add_working_days(due, rng.randint(1, 5), holidays)
        elif r < p.late_share + 0.3:
            done = due
        else:
            done = _add_working_days(day, rng.randint(0, max(0, days - 1)), holidays)
        out.append({"code": f"{p.centre_id.upper()}-{day:%y%m%d}-{serial + i:05d}",
                    "procedure_code": rng.choice(PROCEDURES), "received_at": received.isoformat(timespec="minutes"),
                    "due_at": due.isoformat(), "done": done, "channel": "online" if online else "in_person",
                    "digitised": 1 if rng.random() < p.digitised_share else 0})
    return out


def _write_dossiers(conn: sqlite3.Connection, dossiers: list[dict], until: date) -> None:
    """Insert received dossiers and move them to processing / ready / returned as days pass."""
    conn.executemany(
        "INSERT INTO dossiers(code, procedure_code, received_at, due_at, due_source, state, channel, digitised, "
        "updated_at) VALUES (?,?,?,?,'platform','received',?,?,?)",
        [(d["code"], d["procedure_code"], d["received_at"], d["due_at"], d["channel"], d["digitised"],
          d["received_at"]) for d in dossiers])
    conn.executemany("INSERT INTO dossier_events(code, at, state, source) VALUES (?, ?, 'received', 'platform')",
                     [(d["code"], d["received_at"]) for d in dossiers])


def _finish_dossiers(conn: sqlite3.Connection, pending: list[dict], today: date) -> list[dict]:
    """Dossiers whose result is ready today: ready then returned (two snapshots, two history rows)."""
    done = [d for d in pending if d["done"] <= today]
    rest = [d for d in pending if d["done"] > today]
    for state, hour in (("ready", "10:00"), ("returned", "15:00")):
        stamp = lambda d, h=hour: f"{d['done'].isoformat()}T{h}"  # noqa: E731
        conn.executemany("UPDATE dossiers SET state = ?, updated_at = ? WHERE code = ?",
                         [(state, stamp(d), d["code"]) for d in done])
        conn.executemany("INSERT INTO dossier_events(code, at, state, source) VALUES (?, ?, ?, 'platform')",
                         [(d["code"], stamp(d), state) for d in done])
    return rest


def generate_centre(path: Path, index: int, start: date, days: int, *, seed: int = 17,
                    holidays: set[date] | None = None) -> dict:
    """Write `days` days of one centre's traffic into the database at `path`; returns counts."""
    from centre.db import connect

    p = profile(index, seed)
    rng = random.Random(f"{seed}-{index}-{start.isoformat()}")  # another period appends new tokens
    holidays = _holidays() if holidays is None else holidays
    conn = connect(path)
    _schema(conn)
    conn.execute("PRAGMA synchronous = OFF")
    pending: list[dict] = []
    n_tickets = n_dossiers = 0
    serial = 0
    for i in range(days):
        day = start + timedelta(days=i)
        conn.execute("BEGIN")
        pending = _finish_dossiers(conn, pending, day)
        if day.weekday() < 6 and day not in holidays:
            tickets = _tickets_of_day(rng, p, day)
            _write_tickets(conn, rng, day, tickets)
            ds = _dossiers_of_day(rng, p, day, len(tickets), holidays, serial)
            serial += len(ds)
            _write_dossiers(conn, ds, day)
            pending.extend(ds)
            n_tickets += len(tickets)
            n_dossiers += len(ds)
        conn.execute("COMMIT")
    events = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    conn.close()
    return {"centre_id": p.centre_id, "tickets": n_tickets, "dossiers": n_dossiers, "events": events}


def _one(args: tuple) -> dict:
    out, index, start, days, seed, holidays = args
    return generate_centre(Path(out) / f"phuong-{index:03d}.db", index, start, days, seed=seed, holidays=holidays)


def generate(out: Path, centres: int, start: date, days: int, *, seed: int = 17, workers: int = 2) -> list[dict]:
    """Generate every centre (in `workers` processes); returns per-centre counts."""
    from multiprocessing import get_context

    out.mkdir(parents=True, exist_ok=True)
    holidays = _holidays()
    jobs = [(str(out), i, start, days, seed, holidays) for i in range(1, centres + 1)]
    if workers <= 1:
        return [_one(j) for j in jobs]
    with get_context("spawn").Pool(workers) as pool:
        return pool.map(_one, jobs, chunksize=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m province.generate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="var/gen")
    ap.add_argument("--centres", type=int, default=100)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--start", default=None, help="first day (default: 90 days before today)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    start = date.fromisoformat(a.start) if a.start else datetime.now(UTC).date() - timedelta(days=a.days)
    t0 = time.time()
    res = generate(Path(a.out), a.centres, start, a.days, seed=a.seed, workers=a.workers)
    print(json.dumps({"centres": len(res), "tickets": sum(r["tickets"] for r in res),
                      "dossiers": sum(r["dossiers"] for r in res), "events": sum(r["events"] for r in res),
                      "seconds": round(time.time() - t0, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
