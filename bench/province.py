"""Benchmark: 100 ward centres × 90 days through the real sync path into the provincial hub.

Generates the traffic (province/generate.py) into 100 SQLite databases with the outbox
triggers, starts a PostgreSQL cluster and the hub as a real process, and sends every outbox
through `centre.sync.SyncAgent` + `HttpTransport` (gzip JSON over HTTP), several centres at
a time. Halfway through the hub is SIGKILLed and restarted, so batches are cut and re-sent.
Then one centre's week of work done offline is caught up alone, and the rest of the
province's week after it. Finally the dashboard and a ward drill-down are timed over HTTP, by a
province office user logged in through the login form (each page checks the session).

Prints ONE JSON line: centres, events, ingest_events_per_s, catchup_week_s, dashboard_p95_ms,
sync_lost, sync_duplicates (+ detail). Takes a few minutes on 2 cores; not run by the tests.
Env: PROVINCE_BENCH_CENTRES (100), PROVINCE_BENCH_DAYS (90), PROVINCE_BENCH_AGENTS (4).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from centre.db import connect as sqlite_connect  # noqa: E402
from centre.sync import HttpTransport, SyncAgent  # noqa: E402
from province.auth import add_centre  # noqa: E402
from province.cluster import Cluster, free_port  # noqa: E402
from province.db import migrate  # noqa: E402
from province.generate import generate  # noqa: E402

CENTRES = int(os.environ.get("PROVINCE_BENCH_CENTRES", 100))
DAYS = int(os.environ.get("PROVINCE_BENCH_DAYS", 90))
AGENTS = int(os.environ.get("PROVINCE_BENCH_AGENTS", 4))
WEEK = 7
BATCH = 2000
START = date(2026, 8, 31)


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


class HubProcess:
    def __init__(self, dsn: str, logfile: Path):
        self.dsn, self.logfile, self.port = dsn, logfile, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> None:
        with open(self.logfile, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "province", "serve", "--dsn", self.dsn,
                                          "--port", str(self.port)], cwd=ROOT, stdout=out, stderr=out)
        for _ in range(300):
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("hub did not start")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)


def sync_all(dbs: list[tuple[str, Path]], hub: HubProcess, tokens: dict[str, str], *, agents: int,
             on_progress=None) -> None:
    """Send every listed centre's outbox until empty, `agents` centres at a time."""
    todo = list(dbs)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                cid, path = todo.pop(0)
            conn = sqlite_connect(path)
            agent = SyncAgent(conn, HttpTransport(hub.url, cid, tokens[cid], timeout_s=120), batch_size=BATCH,
                              max_backoff_s=2.0)
            agent.backoff.base = 0.5
            agent.run(threading.Event(), until_empty=True)
            conn.close()
            if on_progress:
                on_progress()

    threads = [threading.Thread(target=worker) for _ in range(agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def outbox_count(path: Path) -> int:
    with sqlite_connect(path) as c:
        return c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]


def verify(dsn: str, dbs: list[tuple[str, Path]]) -> tuple[int, int, int]:
    """(lost, duplicates, stored): events in a centre's outbox missing at the hub, rows stored twice."""
    lost = 0
    with psycopg.connect(dsn) as c:
        stored, distinct = c.execute("SELECT COUNT(*), COUNT(DISTINCT (centre_id, uid)) FROM events").fetchone()
        for cid, path in dbs:
            hub = {r[0].hex for r in c.execute("SELECT uid FROM events WHERE centre_id = %s", (cid,))}
            with sqlite_connect(path) as s:
                local = {r[0] for r in s.execute("SELECT uid FROM outbox")}
            lost += len(local - hub)
    return lost, stored - distinct, stored


BENCH_USER, BENCH_PASSWORD = "bench-tinh", secrets.token_urlsafe(16)


def logged_in(dsn: str, url: str) -> urllib.request.OpenerDirector:
    """A province user, logged in through the real form: an opener carrying the session cookie."""
    from province import users

    with psycopg.connect(dsn, autocommit=True) as c:
        users.create_user(c, BENCH_USER, "province", BENCH_PASSWORD)
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(url + "/login", timeout=30).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"name": BENCH_USER, "password": BENCH_PASSWORD, "csrf_token": csrf}).encode()
    with opener.open(url + "/login", data=form, timeout=30) as r:
        assert "Toàn tỉnh" in r.read().decode(), "login failed"
    return opener


def time_pages(opener: urllib.request.OpenerDirector, url: str, paths: list[str], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {p: [] for p in paths}
    for p in paths:  # warm-up
        opener.open(url + p, timeout=30).read()
    for _ in range(rounds):
        for p in paths:
            t0 = time.perf_counter()
            with opener.open(url + p, timeout=30) as r:
                r.read()
                assert r.status == 200 and r.url == url + p  # not redirected to the login page
            times[p].append((time.perf_counter() - t0) * 1000)
    every = [t for v in times.values() for t in v]
    q = lambda v: statistics.quantiles(v, n=20, method="inclusive")[18]  # noqa: E731 — p95
    return {"all": q(every), **{p: q(v) for p, v in times.items()}}


def main() -> None:  # noqa: C901 — a linear script
    work = Path(tempfile.mkdtemp(prefix="province-bench-"))
    os.chmod(work, 0o755)
    cluster = Cluster(work / "pg", free_port())
    hub = None
    try:
        t0 = time.time()
        gen = work / "gen"
        res = generate(gen, CENTRES, START, DAYS - WEEK, workers=2)
        dbs = [(r["centre_id"], gen / f"{r['centre_id']}.db") for r in res]
        log(f"generated {sum(r['events'] for r in res)} events ({DAYS - WEEK} days) in {time.time() - t0:.0f}s")
        cluster.init()
        cluster.start()
        migrate(cluster.dsn)
        with psycopg.connect(cluster.dsn, autocommit=True) as c:
            tokens = {cid: add_centre(c, cid, f"Phường {cid[-3:]}") for cid, _ in dbs}
        hub = HubProcess(cluster.dsn, work / "hub.log")
        hub.start()

        # 1. the whole province's history through the sync path, the hub killed halfway
        n1 = sum(outbox_count(p) for _, p in dbs)
        done = [0]
        killed = threading.Event()

        def progress():
            done[0] += 1
            if done[0] == len(dbs) // 2 and not killed.is_set():
                killed.set()
                log("killing the hub (SIGKILL) and restarting it")
                hub.kill()
                hub.start()

        t0 = time.time()
        sync_all(dbs, hub, tokens, agents=AGENTS, on_progress=progress)
        ingest_s = time.time() - t0
        log(f"ingested {n1} events in {ingest_s:.0f}s ({n1 / ingest_s:.0f}/s)")

        # 2. a week of work while the network was down: one centre alone, then the rest
        t0 = time.time()
        one = dbs[0]
        one_before = outbox_count(one[1])
        week = generate(gen, CENTRES, START + timedelta(days=DAYS - WEEK), WEEK, workers=2)
        log(f"generated the outage week in {time.time() - t0:.0f}s")
        n2 = sum(r["events"] for r in week) - n1
        one_week_events = outbox_count(one[1]) - one_before
        t0 = time.time()
        sync_all([one], hub, tokens, agents=1)
        catchup_week_s = time.time() - t0
        t0 = time.time()
        sync_all(dbs[1:], hub, tokens, agents=AGENTS)
        province_week_s = time.time() - t0

        # 3. the dashboard at that size
        with psycopg.connect(cluster.dsn) as c:
            last = c.execute("SELECT max(day) FROM daily").fetchone()[0]
        month = f"{last:%Y-%m}"
        quarter = f"{last.year}-Q{(last.month - 1) // 3 + 1}"
        pages = time_pages(logged_in(cluster.dsn, hub.url), hub.url, ["/", f"/?period={quarter}", f"/ward/{dbs[len(dbs) // 3][0]}",
                                     f"/ward/{dbs[len(dbs) // 2][0]}?period={quarter}"], rounds=15)

        lost, dup, stored = verify(cluster.dsn, dbs)
        with psycopg.connect(cluster.dsn) as c:
            resent = c.execute("SELECT sum(duplicates) FROM centres").fetchone()[0]
            size = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        print(json.dumps({
            "centres": len(dbs), "days": DAYS, "events": stored,
            "ingest_events_per_s": round(n1 / ingest_s),
            "catchup_week_s": round(catchup_week_s, 2),
            "dashboard_p95_ms": round(pages["all"], 1),
            "sync_lost": lost, "sync_duplicates": dup,
            "detail": {
                "ingest_events": n1, "ingest_s": round(ingest_s, 1), "hub_killed_once": killed.is_set(),
                "resent_events_dropped_by_hub": int(resent or 0),
                "one_centre_week_events": one_week_events,
                "province_week_events": n2, "province_week_s": round(province_week_s, 1),
                "province_week_events_per_s": round(n2 / province_week_s) if province_week_s else None,
                "dashboard_p95_ms": {k: round(v, 1) for k, v in pages.items() if k != "all"},
                "month": month, "batch": BATCH, "agents": AGENTS, "db_mb": round(size / 2**20),
                "cores": os.cpu_count(),
            },
        }, ensure_ascii=False))
    finally:
        if hub:
            hub.kill(signal.SIGTERM)
        try:
            cluster.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
