"""Queue reliability with real OS processes on a real SQLite file (issue 4, Reliability).

- 4 processes issuing and 2 calling at once for 5 s: no duplicate number, no lost ticket,
  each ticket in exactly one state (the one its events lead to), call order respected.
- 50 times kill -9 of a process while it issues (and sometimes calls): the database passes
  PRAGMA integrity_check, numbers continue without duplicates or gaps, and no ticket whose
  commit was reported is missing.

The workers (tests/data/queue/queue_worker.py) print a line only after each commit.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from centre.config import load_config
from centre.db import connect
from centre.queue import Queue

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "data" / "queue" / "queue_worker.py"

pytestmark = pytest.mark.slow


def spawn(mode: str, db: Path, seconds: float, seed: int, zero: float, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, str(db), str(seconds), str(seed), repr(zero), *map(str, extra)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )


def prepare(db: Path) -> None:
    """Create the tables once so that the workers start on an initialised file."""
    Queue(connect(db), load_config()).conn.close()


def parse(lines: str) -> list[tuple[str, int, str]]:
    out = []
    for line in lines.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("I", "C", "S"):
            out.append((parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""))
    return out


def check_consistency(db: Path) -> dict:
    """Invariants that must hold after any mix of processes and crashes; returns the tickets."""
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    try:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tickets = {r["id"]: r for r in c.execute("SELECT * FROM tickets")}
        events = c.execute("SELECT * FROM queue_events WHERE ticket_id IS NOT NULL ORDER BY id").fetchall()
    finally:
        c.close()
    # no duplicate number; numbers of a series run 1..n without gaps (none lost to a rollback)
    by_series = defaultdict(list)
    for t in tickets.values():
        by_series[(t["day"], t["series"])].append(t["number"])
    for key, numbers in by_series.items():
        assert len(numbers) == len(set(numbers)), f"duplicate numbers in {key}"
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), f"gap in {key}"
    # each ticket is in exactly one state: the one its own events lead to
    last = {}
    issues = Counter()
    calls = Counter()
    for e in events:
        if e["kind"] == "issue":
            issues[e["ticket_id"]] += 1
        if e["kind"] == "call":
            calls[e["ticket_id"]] += 1
        assert last.get(e["ticket_id"], None) == e["from_state"], f"event {e['id']} does not follow on"
        last[e["ticket_id"]] = e["to_state"]
    assert set(issues) == set(tickets) and set(issues.values()) == {1}
    assert all(n == 1 for n in calls.values()), "a ticket was called twice"
    for tid, t in tickets.items():
        assert t["state"] == last[tid], f"ticket {tid} is {t['state']} but its events say {last[tid]}"
    return tickets


def test_four_issuers_two_callers_five_seconds(tmp_path):
    db = tmp_path / "centre.db"
    prepare(db)
    zero = time.time()
    procs = [spawn("issue", db, 5.0, seed, zero) for seed in range(4)]
    procs += [spawn("call", db, 5.5, 10 + k, zero, k) for k in (1, 2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outs.append(parse(out))
    issued = {tid: code for out in outs[:4] for kind, tid, code in out if kind == "I"}
    called = [(tid, int(k)) for out in outs[4:] for kind, tid, k in out if kind == "C"]
    assert len(issued) > 200, "the test did not exercise the queue"
    assert len(called) > 50

    tickets = check_consistency(db)
    # no lost ticket: everything reported issued is there, with the reported number
    assert set(issued) == set(tickets)
    for tid, code in issued.items():
        assert f"{tickets[tid]['series']}{tickets[tid]['number']:03d}" == code
    # nobody called twice, across both callers
    assert len({tid for tid, _ in called}) == len(called)
    check_call_order(db)


def check_call_order(db: Path) -> None:
    """At each call, no ticket the counter could have called was ahead of the one it called."""
    cfg = load_config()
    services = {c.id: set(c.services) for c in cfg.counters}
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    tickets = {r["id"]: r for r in c.execute("SELECT * FROM tickets")}
    issued_ev = {r["ticket_id"]: r["id"] for r in c.execute("SELECT * FROM queue_events WHERE kind='issue'")}
    called_ev = {r["ticket_id"]: r["id"] for r in c.execute("SELECT * FROM queue_events WHERE kind='call'")}
    calls = c.execute("SELECT * FROM queue_events WHERE kind='call' ORDER BY id").fetchall()
    c.close()

    def key(t):
        return (-t["prio"], t["queued_at"], t["id"])

    checked = 0
    for ev in calls:
        chosen = tickets[ev["ticket_id"]]
        serves = services[ev["counter_id"]]
        for other in tickets.values():
            if other["service"] not in serves or other["id"] == chosen["id"]:
                continue
            waiting_then = issued_ev[other["id"]] < ev["id"] and called_ev.get(other["id"], 1 << 62) > ev["id"]
            assert not (waiting_then and key(other) < key(chosen)), (
                f"call event {ev['id']}: counter {ev['counter_id']} called {chosen['id']} "
                f"while {other['id']} was ahead"
            )
        checked += 1
    assert checked == len(calls) > 0


def test_kill_9_fifty_times_loses_nothing(tmp_path):
    db = tmp_path / "centre.db"
    prepare(db)
    rng = random.Random(4)
    zero = time.time()
    promised: dict[int, str] = {}
    promised_calls: set[int] = set()
    kills = 0
    batch = 5
    for round_ in range(10):
        # each round is the next day: numbers restart and the day-end expiry runs between crashes
        day_zero = zero - round_ * 86400
        procs = [spawn("mixed", db, 30.0, round_ * batch + i, day_zero) for i in range(batch)]
        for p in procs:  # wait until each is issuing, then kill it at a random moment
            assert p.stdout.readline().strip() == "READY", p.stderr.read()
        time.sleep(rng.uniform(0.02, 0.15))
        for p in procs:
            time.sleep(rng.uniform(0.0, 0.05))
            os.kill(p.pid, signal.SIGKILL)
            kills += 1
        for p in procs:
            out, err = p.communicate(timeout=30)
            assert p.returncode == -signal.SIGKILL, err
            for kind, tid, code in parse(out):
                if kind == "I":
                    promised[tid] = code
                elif kind == "C":
                    promised_calls.add(tid)
    assert kills >= 50
    tickets = check_consistency(db)
    missing = set(promised) - set(tickets)
    assert not missing, f"{len(missing)} reported tickets are missing"
    for tid, code in promised.items():
        assert f"{tickets[tid]['series']}{tickets[tid]['number']:03d}" == code
    for tid in promised_calls:
        assert tickets[tid]["state"] in ("called", "served", "expired")  # expired: called, then the day ended
    assert len(promised) > 100
    assert len({t["day"] for t in tickets.values()}) == 10
    # numbers continue after the crashes
    q = Queue(connect(db), load_config(), clock=_After(day_zero))
    today = q.today()
    top = max((t["number"] for t in tickets.values() if t["series"] == "A" and t["day"] == today), default=0)
    assert q.issue("A", ignore_hours=True).number == top + 1
    stale = q.conn.execute("SELECT count(*) FROM tickets WHERE day < ? AND state IN ('waiting', 'called')",
                           (today,)).fetchone()[0]
    assert stale == 0  # earlier days' open tickets expired


class _After:
    """The workers' clock (see queue_worker.ShiftedClock), a little later."""

    def __init__(self, zero: float):
        self.zero = zero

    def now(self):
        from datetime import UTC, datetime, timedelta

        return datetime(2026, 11, 25, 2, 0, tzinfo=UTC) + timedelta(seconds=time.time() - self.zero)
