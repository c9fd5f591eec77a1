"""A separate OS process that uses the queue, for the reliability tests and the benchmark.

    python queue_worker.py issue  DB SECONDS SEED ZERO   # issue tickets until SECONDS pass
    python queue_worker.py call   DB SECONDS SEED ZERO COUNTER
    python queue_worker.py mixed  DB SECONDS SEED ZERO   # issue, sometimes call and serve (kill -9 runs)

It prints "READY" once the queue is open, then one line per committed change:
"I <id> <code>" after an issue, "C <id> <counter>" after a call, "S <id>" after serving.
A line is printed only after its transaction committed, so every line is a promise the
database must keep even if the process is killed right after.

Time is the real clock shifted so that ZERO (a time.time() value chosen by the parent) is
Wed 25 Nov 2026, 09:00 local: every process agrees on the ticket day and on the order of
events whatever the hour the tests run.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta

from centre.config import load_config
from centre.queue import InvalidTransition, Queue

BASE = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


class ShiftedClock:
    """Real elapsed time since `zero`, moved to a fixed working day."""

    def __init__(self, zero: float):
        self.zero = zero

    def now(self) -> datetime:
        return BASE + timedelta(seconds=time.time() - self.zero)


def main(argv: list[str]) -> int:
    mode, db, seconds, seed, zero = argv[0], argv[1], float(argv[2]), int(argv[3]), float(argv[4])
    rng = random.Random(seed)
    cfg = load_config()
    q = Queue.open(cfg, clock=ShiftedClock(zero), path=db)
    out = sys.stdout
    print("READY", flush=True)
    deadline = time.monotonic() + seconds
    if mode == "call":
        counter = int(argv[5])
        while time.monotonic() < deadline:
            t = q.call_next(counter, actor=f"counter{counter}", finish_current=False)
            if t is None:
                time.sleep(0.002)
                continue
            out.write(f"C {t.id} {counter}\n")
            out.flush()
            q.serve(t, actor=f"counter{counter}")
            out.write(f"S {t.id}\n")
            out.flush()
        return 0
    while time.monotonic() < deadline:
        series = rng.choice("ABCD")
        prio = "elderly" if rng.random() < 0.1 else None
        t = q.issue(series, priority=prio, source="test", ignore_hours=True)
        out.write(f"I {t.id} {t.code}\n")
        out.flush()
        if mode == "mixed" and rng.random() < 0.3:
            c = q.call_next(2, actor="worker", current="serve")  # a killed worker may leave one called
            if c is not None:
                out.write(f"C {c.id} 2\n")
                out.flush()
                try:
                    q.serve(c, actor="worker")
                except InvalidTransition:
                    continue  # another process called next at counter 2, which finished this one
                out.write(f"S {c.id}\n")
                out.flush()
        time.sleep(rng.uniform(0.001, 0.003) if mode == "mixed" else rng.uniform(0.01, 0.03))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
