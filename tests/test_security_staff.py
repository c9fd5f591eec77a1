"""The staff server and the remote kiosk attacked from outside (coord/attack.md): slow clients
against a real uvicorn server, and a broken or hostile centre server against the kiosk's
`RemoteQueue` (answers that are not JSON, of the wrong shape, endless or trickling)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from staff_helpers import OPEN_TIME

from centre import queue as q
from centre import users
from centre.clock import FixedClock
from centre.db import connect
from staff import auth
from staff.client import RemoteQueue, dossier_lookup
from staff.httpguard import GuardedH11Protocol
from staff.server import free_port, start_in_thread


@pytest.fixture
def server(tmp_config, tmp_path, monkeypatch):
    # Short deadlines so the test is quick (shipped: 10 s for headers, 30 s without a byte of the body).
    monkeypatch.setattr(GuardedH11Protocol, "header_timeout_s", 1.0)
    monkeypatch.setattr(GuardedH11Protocol, "body_idle_s", 2.0)
    handle = start_in_thread(tmp_config, host="127.0.0.1", port=free_port(), clock=FixedClock(OPEN_TIME),
                             db_path=tmp_path / "centre.db")
    conn = connect(tmp_path / "centre.db")
    tv = users.create_user(conn, "tv", "display", "display-pass-1")
    token, _ = users.create_session(conn, tv, hours=1)
    yield handle, token
    handle.stop()


def _closed(s: socket.socket, within: float) -> bool:
    """True when the server closed `s` (it reads the end of the stream) within `within` seconds."""
    s.settimeout(within)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except TimeoutError:
        return False


@pytest.mark.slow
def test_slow_clients_are_cut_off_and_live_streams_are_not(server):
    handle, session = server
    port = int(handle.url.rsplit(":", 1)[1])
    idle = socket.create_connection(("127.0.0.1", port))
    headers = socket.create_connection(("127.0.0.1", port))
    headers.sendall(b"GET /api/services HTTP/1.1\r\nHost: x\r\n")  # never finished
    body = socket.create_connection(("127.0.0.1", port))
    body.sendall(b"POST /api/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{")  # 99 bytes announced and never sent
    with httpx.Client(base_url=handle.url, cookies={auth.SESSION_COOKIE: session}, timeout=10) as client, \
            client.stream("GET", "/api/events") as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert any(line.startswith("event: state") for line, _ in zip(lines, range(5), strict=False))
        # before the fix uvicorn kept all three for ever (a few thousand such sockets: no descriptor left)
        assert _closed(idle, 3) and _closed(headers, 3) and _closed(body, 4)
        # the live stream of the hall display has outlived both deadlines and still works
        assert client.get("/api/display").status_code == 200
        assert not stream.is_closed
    # a normal request after all that
    assert httpx.get(handle.url + "/login").status_code == 200


@pytest.mark.slow
def test_one_address_cannot_hold_every_connection(server, monkeypatch):
    handle, _ = server
    monkeypatch.setattr(GuardedH11Protocol, "exempt", frozenset())  # loopback is exempt when shipped
    monkeypatch.setattr(GuardedH11Protocol, "max_per_address", 5)
    port = int(handle.url.rsplit(":", 1)[1])
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    extra = socket.create_connection(("127.0.0.1", port))
    assert _closed(extra, 0.8)  # the 6th from the same address is closed at once
    assert not any(_closed(s, 0.01) for s in held[:1])  # the first ones are still open (deadline: 1 s)
    for s in held:
        assert _closed(s, 3)  # then cut by the header deadline, and their places freed
    assert httpx.get(handle.url + "/login", timeout=5).status_code == 200


# -- a hostile server against the kiosk's RemoteQueue ----------------------------------------------

class Hostile(BaseHTTPRequestHandler):
    """Answers by path: what a broken, hijacked or impersonated centre server could send."""

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, length: int | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: C901 — one answer per case, on purpose flat
        mode = self.server.mode
        if mode == "not-json":
            self._send(200, b"<html>hello</html>")
        elif mode == "bad-utf8":
            self._send(200, b'{"a": "\xff\xfe"}')
        elif mode == "deep":
            self._send(200, b"[" * 100_000 + b"]" * 100_000)
        elif mode == "wrong-shape":
            self._send(200, json.dumps([{"series": "A"}, 7, "x"]).encode())
        elif mode == "bad-date":
            self._send(200, json.dumps({"ticket": {"issued_at": "yesterday"}, "counters": [], "ahead": 0,
                                        "wait_min": 0}).encode())
        elif mode == "error-list":
            self._send(500, json.dumps(["no", "dict"]).encode())
        elif mode == "huge":
            total = 200 * 1024 * 1024
            self._send(200, b"", length=total)
            block = b" " * (1024 * 1024)
            try:
                for _ in range(200):
                    self.wfile.write(block)
            except OSError:
                pass
        elif mode == "trickle":
            self._send(200, b"", length=1000)
            try:
                for _ in range(60):  # a byte every 0.2 s: each read is quick, the whole answer takes 12 s
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass

    do_POST = do_GET


@pytest.fixture
def hostile():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    srv.daemon_threads = True
    srv.mode = "not-json"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


CALLS = {
    "summary": lambda rq: rq.summary(),
    "services": lambda rq: rq.services(),
    "counters": lambda rq: rq.counters(),
    "status": lambda rq: rq.status(1),
    "issue": lambda rq: rq.issue("A"),
    "history": lambda rq: rq.history(1),
}


@pytest.mark.parametrize("mode", ["not-json", "bad-utf8", "deep", "wrong-shape", "bad-date", "error-list", "huge",
                                  pytest.param("trickle", marks=pytest.mark.slow)])
def test_a_hostile_server_gives_the_kiosk_a_plain_storage_error(hostile, mode):
    hostile.mode = mode
    url = f"http://127.0.0.1:{hostile.server_address[1]}"
    with RemoteQueue(url, "kt_x", timeout=0.5, retries=0) as rq:
        for name, call in CALLS.items():
            started = time.monotonic()
            with pytest.raises(q.QueueStorageError):  # what the kiosk shows as "centre unreachable"
                call(rq)
            # never held longer than the deadline (3 × timeout), never read past MAX_ANSWER
            assert time.monotonic() - started < 4, (mode, name)
    if mode != "bad-date":  # any JSON object is a dossier answer (the kiosk shows its fields as text)
        with pytest.raises(q.QueueStorageError):
            dossier_lookup(_cfg(url), timeout=0.5)("HS-1")


def _cfg(url: str):
    from types import SimpleNamespace

    return SimpleNamespace(centre=SimpleNamespace(url=url, token="kt_x"))


# -- hostile dossier exports (admin upload) ---------------------------------------------------------

def _xlsx_bomb(text_mb: int) -> bytes:
    """A valid-looking workbook whose one shared string is `text_mb` MB of 'A' (~1000:1 compressed)."""
    import io
    import zipfile

    ns = "http://schemas.openxmlformats.org"
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{ns}/package/2006/content-types"><Default Extension="xml" '
                               'ContentType="application/xml"/></Types>',
        "xl/workbook.xml": f'<workbook xmlns="{ns}/spreadsheetml/2006/main"><sheets><sheet name="S" sheetId="1"/>'
                           '</sheets></workbook>',
        "xl/sharedStrings.xml": f'<sst xmlns="{ns}/spreadsheetml/2006/main"><si><t>' + "A" * (text_mb << 20) + "</t></si></sst>",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return buf.getvalue()


@pytest.mark.parametrize("name, data, says", [
    ("bomb.xlsx", _xlsx_bomb(200), "unpacks to more than"),  # ~200 KB (a 400 KB one took the server to 4.9 GB, 110 s)
    ("junk.xlsx", b"PK\x03\x04 not really a zip", "not an Excel workbook"),  # was a 500 (BadZipFile)
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # was a 500 (RecursionError)
])
def test_a_hostile_dossier_export_is_a_clear_error(tmp_config, tmp_path, name, data, says):
    from staff_helpers import Centre

    c = Centre(tmp_config, tmp_path / "centre.db")
    admin = c.client("admin")
    started = time.monotonic()
    r = admin.post("/dossiers/import", files={"file": (name, data)})
    assert r.status_code == 422 and says in r.text
    assert time.monotonic() - started < 10
    assert c.conn.execute("SELECT count(*) FROM dossiers").fetchone()[0] == 0


def test_an_idempotency_key_is_the_callers_own(tmp_config, tmp_path):
    from staff_helpers import Centre

    c = Centre(tmp_config, tmp_path / "centre.db")
    kiosk, admin = c.client("kiosk"), c.client("admin")
    mine = kiosk.post("/api/tickets", json={"service": "A", "idempotency_key": "tap-1"}).json()["ticket"]
    again = kiosk.post("/api/tickets", json={"service": "A"}, headers={"Idempotency-Key": "tap-1"}).json()["ticket"]
    assert again["id"] == mine["id"]  # the retry still gets its ticket
    # another caller with the same key gets a ticket of its own, never the kiosk's status token
    other = admin.post("/api/tickets", json={"service": "A", "idempotency_key": "tap-1"}).json()["ticket"]
    assert other["id"] != mine["id"] and other["token"] != mine["token"]
    assert kiosk.post("/api/tickets", json={"service": "A"}, headers={"Idempotency-Key": "k" * 65}).status_code == 422


# -- a hostile hub against the ward's sync agent ------------------------------------------------------

class HostileHub(BaseHTTPRequestHandler):
    """Answers the ingest with what a broken or impersonated hub could send."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        answer = self.server.answers.pop(0) if self.server.answers else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def test_a_hostile_hub_neither_stops_the_sync_agent_nor_moves_its_cursor(tmp_config, tmp_path):
    from centre import outbox
    from centre.queue import Queue
    from centre.sync import HttpTransport, SyncAgent

    conn = connect(tmp_path / "centre.db")
    qu = Queue(conn, tmp_config, FixedClock(OPEN_TIME))
    outbox.install(conn)
    qu.issue("A")
    last = conn.execute("SELECT max(seq) FROM outbox").fetchone()[0]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), HostileHub)
    srv.answers = [b"[1, 2, 3]", b"{" * 50_000, b'"just a string"', b" " * (1 << 20),
                   json.dumps({"last_seq": last + 1000}).encode(),  # acknowledges events it never got
                   json.dumps({"last_seq": last, "stored": "many", "duplicates": None}).encode()]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        agent = SyncAgent(conn, HttpTransport(f"http://127.0.0.1:{srv.server_address[1]}", "w1", "tok", timeout_s=5),
                          max_backoff_s=0.01, interval_s=0.01)
        agent.backoff.base = 0.01
        stop = threading.Event()
        runner = threading.Thread(target=agent.run, args=(stop,), daemon=True)
        runner.start()
        deadline = time.monotonic() + 20
        while srv.answers and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        runner.join(5)
        assert not srv.answers  # the agent went on through every bad answer (a list used to kill its thread)
        st = outbox.get_state(conn)
        # only the last, well-acknowledged answer moved the cursor, and exactly to the batch's end
        assert int(st["acked_seq"]) == last
    finally:
        srv.shutdown()
        srv.server_close()


# -- login lockout: an insider's own successful logins do not reopen the address ----------------------

def test_own_logins_do_not_reset_the_address_wide_lockout(tmp_path):
    from centre.users import IP_FACTOR

    conn = connect(tmp_path / "centre.db")
    users.ensure_schema(conn)
    users.create_user(conn, "insider", "officer", "counter-pc-pass-77", counters=[1])
    names = [f"victim{i}" for i in range(IP_FACTOR + 1)]
    for n in names:
        users.create_user(conn, n, "officer", f"secret-{n[::-1]}-77", counters=[1])
    now, kw = 1000.0, {"max_tries": 5, "lockout_s": 300}
    refused = 0
    for n in names:  # 4 guesses a name (one under the per-name limit), then the insider's own login
        for i in range(4):
            now += 1
            try:
                users.authenticate(conn, n, f"guess-{i}", "10.0.0.7", now=now, **kw)
            except users.LoginLocked:
                refused += 1
            except users.BadCredentials:
                pass
        now += 1
        try:
            users.authenticate(conn, "insider", "counter-pc-pass-77", "10.0.0.7", now=now, **kw)
        except users.LoginLocked:
            refused += 1
    # 5 x 4 = 20 wrong guesses within the window reach the address's limit (5 x IP_FACTOR): the
    # rest are refused. Before, each own login reset the count and all 20 guesses went through.
    assert refused >= 1
    with pytest.raises(users.LoginLocked):
        users.authenticate(conn, "victim0", "secret-0mitciv-77", "10.0.0.7", now=now + 1, **kw)
    # the victims at their own PCs are not affected
    assert users.authenticate(conn, "victim0", "secret-0mitciv-77", "10.0.0.8", now=now + 2, **kw)


@pytest.mark.parametrize("path", ["/reports?start=9999-12-31", "/api/reports?start=9999-12-31",
                                  "/api/reports.csv?end=9999-12-31", "/api/reports/chart/hourly.svg?start=9999-12-31",
                                  "/reports/print?month=9999-12", "/reports/print?month=0000-01",
                                  "/indicators?month=9999-12", "/api/indicators?month=9999-12"])
def test_the_last_representable_dates_are_no_500(tmp_config, tmp_path, path):
    from staff_helpers import Centre

    admin = Centre(tmp_config, tmp_path / "centre.db").client("admin")
    r = admin.get(path)
    assert r.status_code in (200, 422), (path, r.status_code)  # there is no day after 9999-12-31: it was a 500


@pytest.mark.slow
def test_a_slow_but_steady_body_is_not_cut(server):
    """The body deadline is an idle time: a batch over a slow line that keeps arriving gets through."""
    handle, _ = server
    port = int(handle.url.rsplit(":", 1)[1])
    body = json.dumps({"service": "A", "pad": " " * 40}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /api/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        for i in range(0, len(body), 10):  # 10 bytes every second: 5 s in all, over the 2 s idle limit's total
            s.sendall(body[i:i + 10])
            time.sleep(1.0)
        answer = s.recv(200)
    assert answer.startswith(b"HTTP/1.1 401")  # read to the end and answered (no token), not cut off
