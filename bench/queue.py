"""Queue benchmark (issue 4): prints one JSON line.

- issue_p50_ms / issue_p95_ms: one process issuing 2,000 tickets into a fresh database file.
- throughput_4proc_per_s: 4 OS processes issuing into one file for 2 s, tickets committed a second.
- duplicates / lost: in that run, numbers given twice, and tickets a process was told were
  committed that the database does not have.
- call_next_p95_ms: `call_next` with 10,000 waiting tickets (12 services; each call also
  finishes the counter's previous ticket, as at a real counter).

Real components: centre.queue.Queue on a real SQLite file (WAL), real processes.
Targets: issue p95 <= 10 ms, >= 200 tickets/s with 4 processes, call-next p95 <= 10 ms,
0 duplicates, 0 lost.
"""

import sys
from pathlib import Path

# This file is named queue.py: keep its folder off sys.path so `import queue` finds the stdlib.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

from centre.config import Counter, Service, Text, load_config  # noqa: E402
from centre.db import connect  # noqa: E402
from centre.queue import Queue, SeriesFull  # noqa: E402

SERIES = "ABCDEFGHIJKL"
WAITING = 10_000


def bench_config():
    """The shipped config with 12 services (10,000 waiting tickets need more than 999 per series)."""
    cfg = load_config()
    base = cfg.services[0]
    services = [base.model_copy(update={"series": s, "name": Text(vi=f"Dịch vụ {s}", en=f"Service {s}")})
                if s not in {x.series for x in cfg.services} else cfg.service(s) for s in SERIES]
    services = [s if isinstance(s, Service) else Service.model_validate(s) for s in services]
    counters = [Counter(id=i + 1, name=Text(vi=f"Quầy {i + 1}", en=f"Counter {i + 1}"),
                        services=list(SERIES[2 * i:2 * i + 2]) + (["A", "B"] if i else []),
                        waypoint=f"counter_{min(i + 1, 4)}") for i in range(6)]
    return cfg.model_copy(update={"services": services, "counters": counters})


class ShiftedClock:
    """Real elapsed time moved to a working day, so runs at any hour fall on one ticket day."""

    def __init__(self, zero: float):
        self.zero = zero

    def now(self):
        return datetime(2026, 11, 25, 2, 0, tzinfo=UTC) + timedelta(seconds=time.time() - self.zero)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def worker(db: str, start: float, seconds: float, seed: int, zero: float) -> None:
    q = Queue.open(bench_config(), clock=ShiftedClock(zero), path=db)
    got = []
    while time.time() < start:
        time.sleep(0.001)
    i = seed
    while time.time() < start + seconds:
        try:
            t = q.issue(SERIES[i % len(SERIES)], source="bench", ignore_hours=True)
        except SeriesFull:  # a very fast machine used up the day's numbers: stop early
            break
        got.append([t.id, t.code])
        i += 1
    print(json.dumps({"tickets": got, "end": time.time()}))


def main() -> dict:
    cfg = bench_config()
    zero = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        # 1. single-process issue latency
        db1 = Path(tmp) / "single.db"
        q = Queue(connect(db1), cfg, ShiftedClock(zero))
        lat = []
        for i in range(2000):
            t0 = time.perf_counter()
            q.issue(SERIES[i % len(SERIES)], ignore_hours=True)
            lat.append((time.perf_counter() - t0) * 1000)
        q.conn.close()

        # 2. four processes
        db2 = Path(tmp) / "multi.db"
        Queue(connect(db2), cfg).conn.close()
        seconds = 2.0
        start = time.time() + 2.5  # after every process has imported and opened the file
        procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(db2), repr(start), str(seconds),
                                   str(k), repr(zero)], stdout=subprocess.PIPE, text=True) for k in range(4)]
        reported, end = [], start
        for p in procs:
            out, _ = p.communicate(timeout=120)
            if p.returncode != 0:
                raise SystemExit(f"worker failed with {p.returncode}")
            result = json.loads(out)
            reported += result["tickets"]
            end = max(end, result["end"])
        c = connect(db2)
        rows = c.execute("SELECT id, series, number, day FROM tickets").fetchall()
        in_db = {r["id"]: f"{r['series']}{r['number']:03d}" for r in rows}
        codes = [(r["day"], r["series"], r["number"]) for r in rows]
        duplicates = len(codes) - len(set(codes))
        duplicates += len(reported) - len({(code) for _, code in reported})
        lost = sum(1 for tid, code in reported if in_db.get(tid) != code)
        throughput = len(reported) / (end - start)
        c.close()

        # 3. call_next with 10,000 waiting
        db3 = Path(tmp) / "calls.db"
        fast = cfg.model_copy(update={"queue": cfg.queue.model_copy(update={"durable_commits": False})})
        q = Queue(connect(db3), fast, ShiftedClock(zero))  # filling the queue is not what is measured
        for i in range(WAITING + 600):
            q.issue(SERIES[i % len(SERIES)], ignore_hours=True, priority="elderly" if i % 17 == 0 else None)
        q.conn.close()
        q = Queue(connect(db3), cfg, ShiftedClock(zero))
        call_lat = []
        for i in range(500):
            counter = 1 + i % 6
            t0 = time.perf_counter()
            t = q.call_next(counter, actor="bench", current="serve")  # the officer says the last one was served
            call_lat.append((time.perf_counter() - t0) * 1000)
            assert t is not None
        waiting_after = sum(q.waiting_counts().values())
        q.conn.close()

    return {
        "issue_p50_ms": round(statistics.median(lat), 3),
        "issue_p95_ms": round(pct(lat, 95), 3),
        "throughput_4proc_per_s": round(throughput, 1),
        "call_next_p95_ms": round(pct(call_lat, 95), 3),
        "duplicates": duplicates,
        "lost": lost,
        "issued_4proc": len(reported),
        "call_next_p50_ms": round(statistics.median(call_lat), 3),
        "waiting_during_calls_min": waiting_after,
        "durable_commits": cfg.queue.durable_commits,
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    else:
        print(json.dumps(main()))
