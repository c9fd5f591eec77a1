"""Staff server benchmark (issue 8): prints one JSON line.

50 concurrent clients on loopback against a real `kiosk serve` process (uvicorn, SQLite file):
- 8 counter officers calling the next ticket (POST /api/counters/N/call-next) with a short pause;
- 2 kiosks issuing tickets through the JSON API (bearer token);
- 20 hall displays following /api/events (server-sent events);
- 20 citizens' ticket status pages following /api/public/tickets/<token>/events and
  re-reading their status every 2 s.

Figures: `call_next_http_p95_ms` (officer's request to response), `display_update_ms`
(p95 over every display of the time from an officer sending the call to that display
receiving its event), `errors` (any non-2xx answer, failed request or dropped stream).
Targets: p95 <= 20 ms, display update <= 500 ms, 0 errors.

Usage: python bench/staff.py [--duration 60]
"""

import sys
from pathlib import Path

# This file is named staff.py: keep its folder off sys.path so `import staff` finds the package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402

from centre import users  # noqa: E402
from centre.config import load_config, parse_config  # noqa: E402
from centre.db import connect  # noqa: E402
from centre.queue import Queue  # noqa: E402
from staff.server import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OFFICERS = [1, 1, 2, 2, 3, 3, 4, 4]
KIOSKS, DISPLAYS, STATUS_PAGES = 2, 20, 20
SEED = {"A": 700, "B": 450, "C": 300, "D": 400}


def p95(values):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, int(0.95 * len(ordered) + 0.999999) - 1)]


def make_config(tmp: Path) -> Path:
    """The shipped config, runtime files in `tmp`, open all day every day (the bench runs at any hour)."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{tmp}/var/centre.db"')
    text = re.sub(r"^  (mon|tue|wed|thu|fri|sat|sun): \[.*\]$", r'  \1: ["00:00-23:59"]', text, flags=re.M)
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    parse_config(text, base_dir=ROOT, source=path)  # fail early on a bad edit
    return path


class Stats:
    def __init__(self):
        self.call_ms: list[float] = []
        self.display_ms: list[float] = []
        self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self.sent: dict[tuple[int, str], float] = {}  # (counter, code) -> time the officer sent the call
        self.pending: dict[tuple[int, str], list[float]] = {}  # events seen before the officer's answer
        self.calls = 0
        self.issued = 0
        self.status_reads = 0

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


async def officer(url, cookie, csrf, counter, stats: Stats, stop, start):
    async with httpx.AsyncClient(base_url=url, cookies={"staff_session": cookie},
                                 headers={"X-CSRF-Token": csrf}, timeout=10) as c:
        await start.wait()
        while time.monotonic() < stop[0]:
            t0 = time.perf_counter()
            try:
                r = await c.post(f"/api/counters/{counter}/call-next")
            except httpx.HTTPError as exc:
                stats.error(f"call:{type(exc).__name__}")
                continue
            t1 = time.perf_counter()
            if r.status_code != 200:
                stats.error(f"call:{r.status_code}")
            else:
                stats.call_ms.append((t1 - t0) * 1000)
                ticket = r.json()["ticket"]
                if ticket:
                    stats.calls += 1
                    key = (counter, ticket["code"])
                    stats.sent[key] = t0
                    for seen in stats.pending.pop(key, []):
                        stats.display_ms.append((seen - t0) * 1000)
            await asyncio.sleep(0.3)


async def kiosk(url, token, stats: Stats, stop, start, n):
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
        await start.wait()
        i = 0
        while time.monotonic() < stop[0]:
            i += 1
            try:
                r = await c.post("/api/tickets", json={"service": "ABCD"[(i + n) % 4]})
                if r.status_code != 201:
                    stats.error(f"issue:{r.status_code}")
                else:
                    stats.issued += 1
            except httpx.HTTPError as exc:
                stats.error(f"issue:{type(exc).__name__}")
            await asyncio.sleep(0.5)


async def sse_lines(client, path, stop, grace=0.0):
    """Yield (event, data) of a server-sent event stream until `stop[0] + grace`."""
    async with client.stream("GET", path) as r:
        if r.status_code != 200:
            raise RuntimeError(f"stream {path}: {r.status_code}")
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                yield event, line[5:]
            if time.monotonic() > stop[0] + grace:
                return


async def display(url, cookie, stats: Stats, stop, ready):
    async with httpx.AsyncClient(base_url=url, cookies={"staff_session": cookie},
                                 timeout=httpx.Timeout(10, read=30)) as c:
        try:
            # Displays listen 2 s longer than the officers call, so the last calls are seen too.
            async for event, data in sse_lines(c, "/api/events", stop, grace=2.0):
                if event == "state":
                    ready()
                if event != "queue":
                    continue
                ev = json.loads(data)
                if ev["kind"] != "call":
                    continue
                now = time.perf_counter()
                key = (ev["counter_id"], ev["code"])
                if key in stats.sent:
                    stats.display_ms.append((now - stats.sent[key]) * 1000)
                else:  # the event beat the officer's HTTP answer
                    stats.pending.setdefault(key, []).append(now)
        except (httpx.HTTPError, RuntimeError) as exc:
            if time.monotonic() < stop[0]:
                stats.error(f"display:{type(exc).__name__}")


async def status_page(url, token, stats: Stats, stop):
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10, read=30)) as c:
        async def poll():
            while time.monotonic() < stop[0]:
                try:
                    r = await c.get(f"/api/public/tickets/{token}")
                    if r.status_code != 200:
                        stats.error(f"status:{r.status_code}")
                    stats.status_reads += 1
                except httpx.HTTPError as exc:
                    stats.error(f"status:{type(exc).__name__}")
                await asyncio.sleep(2)

        async def follow():
            try:
                async for _event, _data in sse_lines(c, f"/api/public/tickets/{token}/events", stop):
                    pass
            except (httpx.HTTPError, RuntimeError) as exc:
                if time.monotonic() < stop[0]:
                    stats.error(f"status-stream:{type(exc).__name__}")

        await asyncio.gather(poll(), follow())


async def run_clients(url, sessions, kiosk_token, tokens, duration, stats):
    # `stop` is set once every display is connected (so no call happens before all listen).
    stop = [time.monotonic() + duration + 30]
    start = asyncio.Event()
    connected = []

    def ready():
        connected.append(1)
        if len(connected) == DISPLAYS and not start.is_set():
            stop[0] = time.monotonic() + duration
            start.set()

    tasks = [officer(url, *sessions["officers"][i], counter, stats, stop, start) for i, counter in enumerate(OFFICERS)]
    tasks += [kiosk(url, kiosk_token, stats, stop, start, n) for n in range(KIOSKS)]
    tasks += [display(url, sessions["displays"][i], stats, stop, ready) for i in range(DISPLAYS)]
    tasks += [status_page(url, tokens[i], stats, stop) for i in range(STATUS_PAGES)]
    # Streams end at their next line after the stop; a quiet stream is cut after a grace period.
    done = asyncio.gather(*tasks)
    try:
        await asyncio.wait_for(done, duration + 45)
    except TimeoutError:
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-staff-") as tmpdir:
        tmp = Path(tmpdir)
        cfg_path = make_config(tmp)
        cfg = load_config(cfg_path)
        conn = connect(cfg.database_path)
        # Seed waiting tickets quickly (no fsync per ticket); the server below runs with the shipped settings.
        seed_cfg = cfg.model_copy(update={"queue": cfg.queue.model_copy(update={"durable_commits": False})})
        qu = Queue(conn, seed_cfg)
        for series, n in SEED.items():
            for _ in range(n):
                qu.issue(series, actor="bench")
        status_tickets = [t.token for t in qu.list(state="waiting", limit=4000)[-STATUS_PAGES:]]
        from centre import audit

        users.ensure_schema(conn)
        audit.ensure_schema(conn)
        officers = [users.create_user(conn, f"officer{i}", "officer", "bench-password-1", counters=[c])
                    for i, c in enumerate(OFFICERS)]
        disp = users.create_user(conn, "display", "display", "bench-password-1")
        kio = users.create_user(conn, "kiosk", "kiosk", "bench-password-1")
        sessions = {"officers": [], "displays": []}
        for u in officers:
            token, sess = users.create_session(conn, u, hours=1)
            sessions["officers"].append((token, sess.csrf))
        for _ in range(DISPLAYS):
            sessions["displays"].append(users.create_session(conn, disp, hours=1)[0])
        kiosk_token = users.create_api_token(conn, kio.id, "bench")
        conn.close()

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(cfg_path), "serve", "--host",
                                   "127.0.0.1", "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        stats = Stats()
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/login", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the staff server did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
            asyncio.run(run_clients(url, sessions, kiosk_token, status_tickets, args.duration, stats))
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        missed = stats.calls * DISPLAYS - len(stats.display_ms)
        out = {
            "call_next_http_p95_ms": round(p95(stats.call_ms), 2) if stats.call_ms else None,
            "call_next_http_p50_ms": round(statistics.median(stats.call_ms), 2) if stats.call_ms else None,
            "display_update_ms": round(p95(stats.display_ms), 1) if stats.display_ms else None,
            "display_update_p50_ms": round(statistics.median(stats.display_ms), 1) if stats.display_ms else None,
            "errors": stats.errors,
            "display_events_missed": missed,
            "calls": stats.calls,
            "tickets_issued": stats.issued,
            "status_reads": stats.status_reads,
            "clients": len(OFFICERS) + KIOSKS + DISPLAYS + STATUS_PAGES,
            "duration_s": args.duration,
        }
        if stats.error_kinds:
            out["error_kinds"] = stats.error_kinds
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
