"""Staff server benchmark (issue 8): prints one JSON line.

50 concurrent clients on loopback against a real `kiosk serve` process (uvicorn, SQLite file):
- 8 counter officers calling the next ticket (POST /api/counters/N/call-next) with a short pause;
- 2 kiosks issuing tickets through the JSON API (bearer token);
- 20 hall displays following /api/events (server-sent events);
- 20 citizens' ticket status pages following /api/public/tickets/<token>/events and
  re-reading their status every 2 s.

Officers press "start" after each call (a called ticket is never served by the next "next"), and
each begins with a double "next" (the second must be refused with CurrentNotStarted).

Figures: `call_next_http_p95_ms` (officer's request to response), `display_update_ms`
(p95 over every display of the time from an officer sending the call to that display
receiving its event), `errors` (any non-2xx answer, failed request or dropped stream).
Targets: p95 <= 20 ms, display update <= 500 ms, 0 errors.

Then (issue 16):
- `display_ok_under_public_flood`: 2,000 public ticket streams are attempted at once (tokens of
  the waiting tickets; the per-address limit is raised in this run's config, as if every phone
  had its own address, so the whole public pool fills); a display connects meanwhile and must
  receive an officer's call within 5 s. Also `flood_admitted`, `flood_refused`, `flood_display_ms`.
- `served_without_start`: tickets served although "start" was never pressed nor served confirmed
  (must be 0 after the double "next").
- `max_body_accepted_mb`: the largest body the server read (JSON and multipart, anonymous and
  admin upload, and a 200 MB chunked body) over `max_body_limit_mb` (staff.max_body_mb).
- `orphan_tickets_after_kill`: 3 remote kiosks (`RemoteQueue`, idempotency key and retries) issue
  tickets while the server is killed with SIGKILL and restarted 4 times: tickets in the database
  that no kiosk got back. `orphan_tickets_without_key` is the same without the key (the old way).

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
    # Loopback is one address: let it stand for many phones (the per-address limit has its own test).
    text = re.sub(r"^  streams_per_client: \d+", "  streams_per_client: 100000", text, flags=re.M)
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
        self.double_next_refused = 0

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


async def officer(url, cookie, csrf, counter, stats: Stats, stop, start):
    async with httpx.AsyncClient(base_url=url, cookies={"staff_session": cookie},
                                 headers={"X-CSRF-Token": csrf}, timeout=10) as c:
        await start.wait()
        await double_next(c, counter, stats)
        while time.monotonic() < stop[0]:
            t0 = time.perf_counter()
            try:
                r = await c.post(f"/api/counters/{counter}/call-next")
            except httpx.HTTPError as exc:
                stats.error(f"call:{type(exc).__name__}")
                continue
            t1 = time.perf_counter()
            if r.status_code == 409 and r.json().get("error") == "CurrentNotStarted":
                # two officers share a counter: the other one's call is not started yet
                await c.post(f"/api/tickets/{r.json()['code']}/start")
                continue
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
                    s = await c.post(f"/api/tickets/{ticket['id']}/start")  # the citizen came
                    if s.status_code not in (200, 409):  # 409: the counter's other officer moved on
                        stats.error(f"start:{s.status_code}")
            await asyncio.sleep(0.3)


async def double_next(c, counter, stats: Stats):
    """N, N: the second "next" must not serve the first ticket (it is refused: CurrentNotStarted)."""
    first = await c.post(f"/api/counters/{counter}/call-next")
    second = await c.post(f"/api/counters/{counter}/call-next")
    if second.status_code == 409 and second.json().get("error") == "CurrentNotStarted":
        stats.double_next_refused += 1
    if first.status_code == 200 and first.json()["ticket"]:
        await c.post(f"/api/tickets/{first.json()['ticket']['id']}/no-show")


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


async def flood_phase(url, tokens, display_cookie, officer, n=2000, wait_s=5.0) -> dict:
    """2,000 public streams attempted at once; meanwhile a display connects and must get a call."""
    limits = httpx.Limits(max_connections=n + 50, max_keepalive_connections=0)
    admitted, refused, other = [0], [0], [0]
    hold = asyncio.Event()

    async def public(c, token):
        try:
            async with c.stream("GET", f"/api/public/tickets/{token}/events") as r:
                if r.status_code == 503:
                    refused[0] += 1
                    return
                if r.status_code != 200:
                    other[0] += 1
                    return
                admitted[0] += 1
                await hold.wait()
        except httpx.HTTPError:
            other[0] += 1

    result = {"display_ok_under_public_flood": False, "flood_display_ms": None}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(30, read=60)) as c, \
            httpx.AsyncClient(base_url=url, cookies={"staff_session": display_cookie},
                              timeout=httpx.Timeout(10, read=30)) as d, \
            httpx.AsyncClient(base_url=url, cookies={"staff_session": officer[0]},
                              headers={"X-CSRF-Token": officer[1]}, timeout=10) as o:
        flood = [asyncio.create_task(public(c, tokens[i % len(tokens)])) for i in range(n)]
        await asyncio.sleep(1.0)  # the flood is under way
        got_state = asyncio.Event()
        seen: dict = {}

        async def listen():
            async for event, data in sse_lines(d, "/api/events", [time.monotonic() + 30]):
                if event == "state":
                    got_state.set()
                elif event == "queue" and json.loads(data)["kind"] == "call":
                    seen["at"] = time.perf_counter()
                    return

        listener = asyncio.create_task(listen())
        try:
            await asyncio.wait_for(got_state.wait(), wait_s)
            cur = await o.get("/api/counters/2/queue")
            if cur.json().get("current"):
                await o.post(f"/api/tickets/{cur.json()['current']['id']}/start")
            t0 = time.perf_counter()
            r = await o.post("/api/counters/2/call-next")
            await asyncio.wait_for(listener, wait_s)
            if r.status_code == 200 and "at" in seen:
                result["display_ok_under_public_flood"] = True
                result["flood_display_ms"] = round((seen["at"] - t0) * 1000, 1)
        except (TimeoutError, httpx.HTTPError, RuntimeError):
            pass
        listener.cancel()
        result["flood_admitted_at_display_check"] = admitted[0]
        settle = time.monotonic() + 60  # then let every attempt get its answer: the public pool's cap holds
        while admitted[0] + refused[0] + other[0] < n and time.monotonic() < settle:
            await asyncio.sleep(0.2)
        result.update(flood_admitted=admitted[0], flood_refused=refused[0], flood_failed=other[0])
        hold.set()
        for t in flood:
            t.cancel()
        await asyncio.gather(*flood, return_exceptions=True)
    return result


def body_phase(url, admin) -> float:
    """The largest request body (MB) the server read instead of refusing it with 413."""
    mb = 1024 * 1024
    accepted = [0.0]
    cookies = {"staff_session": admin[0]}

    def attempt(path, size_mb, *, multipart=False, chunked=False, auth=False):
        size = int(size_mb * mb)
        kw = {"cookies": cookies, "headers": {"X-CSRF-Token": admin[1]}} if auth else {}
        try:
            if multipart:
                r = httpx.post(url + path, files={"file": ("export.csv", b"0" * size)}, timeout=60, **kw)
            elif chunked:
                def gen():
                    for _ in range(size // mb):
                        yield b" " * mb
                r = httpx.post(url + path, content=gen(), headers={"Content-Type": "application/json"}, timeout=60)
            else:
                r = httpx.post(url + path, content=b"{" + b" " * size + b"}",
                               headers={"Content-Type": "application/json"}, timeout=60)
        except httpx.HTTPError:
            return  # the server hung up on the body: not accepted
        if r.status_code != 413:
            accepted[0] = max(accepted[0], size_mb)

    for size in (0.5, 0.99, 1.5, 20):
        attempt("/api/tickets", size)          # anonymous JSON
        attempt("/login", size, multipart=True)  # anonymous multipart to the login form
    attempt("/api/tickets", 200, chunked=True)   # no Content-Length: counted as it comes
    for size in (5, 9.9, 10.5, 50):
        attempt("/dossiers/import", size, multipart=True, auth=True)  # the one upload form
    return accepted[0]


def served_without_start(db_path) -> int:
    conn = connect(db_path)
    try:
        return conn.execute(
            "SELECT count(*) FROM tickets t WHERE t.state = 'served' AND NOT EXISTS (SELECT 1 FROM queue_events e "
            "WHERE e.ticket_id = t.id AND (e.kind = 'start' OR (e.kind = 'serve' AND e.detail LIKE '%confirmed%')))"
        ).fetchone()[0]
    finally:
        conn.close()


def start_server(cfg_path: Path, port: int) -> subprocess.Popen:
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(cfg_path), "serve", "--host",
                               "127.0.0.1", "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/login", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"the staff server did not start: {server.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def kill_phase(cfg_path: Path, cfg, kiosk_token: str, *, kiosks=3, per_kiosk=12, kills=4) -> dict:
    """Kiosks issue tickets while the server is SIGKILLed and restarted; count tickets nobody got."""
    import threading

    from staff.client import RemoteQueue

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    box = {"server": start_server(cfg_path, port)}
    got: dict[str, list[int]] = {"key": [], "nokey": []}
    lock = threading.Lock()
    done = threading.Event()

    def with_key(n):
        with RemoteQueue(url, kiosk_token, cfg=cfg, timeout=3, retries=60, retry_delay_s=0.05) as rq:
            for _ in range(per_kiosk):
                t = rq.issue("ABCD"[n % 4], actor=f"kill-bench-{n}")
                with lock:
                    got["key"].append(t.id)

    def without_key(n):
        hdr = {"Authorization": f"Bearer {kiosk_token}"}
        for _ in range(per_kiosk):
            for _attempt in range(200):  # the old client: retry the same request, no key
                try:
                    r = httpx.post(url + "/api/tickets", json={"service": "ABCD"[n % 4], "actor": "kill-bench-nokey"},
                                   headers=hdr, timeout=3)
                    if r.status_code == 201:
                        with lock:
                            got["nokey"].append(r.json()["ticket"]["id"])
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)

    def killer():
        import random

        rnd = random.Random(16)
        for _ in range(kills):
            time.sleep(0.6 + rnd.random() * 0.8)
            box["server"].kill()
            box["server"].wait()
            box["server"] = start_server(cfg_path, port)
        done.set()

    threads = [threading.Thread(target=with_key, args=(n,)) for n in range(kiosks)]
    threads += [threading.Thread(target=without_key, args=(n,)) for n in range(kiosks)]
    kt = threading.Thread(target=killer)
    for th in [kt, *threads]:
        th.start()
    for th in [kt, *threads]:
        th.join(300)
    stop_server(box["server"])
    conn = connect(cfg.database_path)
    try:
        rows = conn.execute("SELECT t.id, e.actor FROM tickets t JOIN queue_events e ON e.ticket_id = t.id "
                            "AND e.kind = 'issue' WHERE e.actor LIKE '%kill-bench%'").fetchall()
    finally:
        conn.close()
    keyed = {r[0] for r in rows if "nokey" not in r[1]}
    unkeyed = {r[0] for r in rows if "nokey" in r[1]}
    return {"orphan_tickets_after_kill": len(keyed - set(got["key"])),
            "orphan_tickets_without_key": len(unkeyed - set(got["nokey"])),
            "kill_tickets_requested": kiosks * per_kiosk, "kill_tickets_received": len(got["key"]),
            "server_kills": kills}


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
        boss = users.create_user(conn, "boss", "admin", "bench-password-1")
        admin_tok, admin_sess = users.create_session(conn, boss, hours=1)
        flood_display = users.create_session(conn, disp, hours=1)[0]
        sessions = {"officers": [], "displays": []}
        for u in officers:
            token, sess = users.create_session(conn, u, hours=1)
            sessions["officers"].append((token, sess.csrf))
        for _ in range(DISPLAYS):
            sessions["displays"].append(users.create_session(conn, disp, hours=1)[0])
        kiosk_token = users.create_api_token(conn, kio.id, "bench")
        conn.close()

        flood_tokens = [t.token for t in Queue(connect(cfg.database_path), seed_cfg).list(state="waiting", limit=4000)]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(cfg_path, port)
        stats = Stats()
        try:
            asyncio.run(run_clients(url, sessions, kiosk_token, status_tickets, args.duration, stats))
            flood = asyncio.run(flood_phase(url, flood_tokens, flood_display, sessions["officers"][2]))
            body_mb = body_phase(url, (admin_tok, admin_sess.csrf))
        finally:
            stop_server(server)
        unstarted = served_without_start(cfg.database_path)
        killed = kill_phase(cfg_path, cfg, kiosk_token)
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
            **flood,
            "served_without_start": unstarted,
            "double_next_refused": stats.double_next_refused,
            "max_body_accepted_mb": body_mb,
            "max_body_limit_mb": cfg.staff.max_body_mb,
            **killed,
        }
        if stats.error_kinds:
            out["error_kinds"] = stats.error_kinds
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
