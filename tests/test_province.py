"""The provincial hub on a real PostgreSQL (issue 17): idempotent ingest, monthly partitions,
per-centre credentials, the same figures as the ward, dashboard, drill-down and reports."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from province_helpers import add_user, dsn, login  # noqa: F401 — fixture

from centre import outbox, ward_stats
from centre.db import connect
from centre.indicators import indicators, total
from centre.sync import SyncAgent
from province import queries
from province.app import create_app
from province.auth import add_centre
from province.generate import generate_centre

pytestmark = pytest.mark.slow
START = date(2026, 9, 28)  # two weeks across a month boundary


class ClientTransport:
    def __init__(self, client, centre_id, token):
        self.client, self.centre_id, self.token = client, centre_id, token
        self.answers = []

    def send(self, events_json):
        r = self.client.post("/api/v1/ingest", json={"centre": self.centre_id, "events": json.loads(events_json)},
                             headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code == 200, r.text
        self.answers.append(r.json())
        return r.json()


@pytest.fixture
def hub(dsn):  # noqa: F811
    app = create_app(dsn, migrate_db=False)
    with TestClient(app) as client, psycopg.connect(dsn, autocommit=True) as c:
        tokens = {cid: add_centre(c, cid, f"Phường {cid[-3:]}") for cid in ("phuong-001", "phuong-002")}
        add_user(dsn, "so-noi-vu")
        assert login(client, "so-noi-vu").status_code == 303  # the dashboard needs a province office login
        yield client, tokens, dsn


def _sync(client, tokens, db, cid, batch=400):
    conn = connect(db)
    tr = ClientTransport(client, cid, tokens[cid])
    agent = SyncAgent(conn, tr, batch_size=batch)
    while agent.step().backlog:
        pass
    return conn, tr


def test_ingest_is_idempotent_partitioned_and_agrees_with_the_ward(hub, tmp_path):
    client, tokens, pg = hub
    db = tmp_path / "p1.db"
    generate_centre(db, 1, START, 14, holidays=set())
    conn, tr = _sync(client, tokens, db, "phuong-001")
    n_local = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    with psycopg.connect(pg) as c:
        assert c.execute("SELECT COUNT(*), COUNT(DISTINCT uid) FROM events").fetchone() == (n_local, n_local)
        parts = {r[0] for r in c.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                         "WHERE i.inhparent = 'events'::regclass")}
        assert {"events_2026_09", "events_2026_10", "events_default"} <= parts
        assert c.execute("SELECT COUNT(*) FROM ONLY events_default").fetchone()[0] == 0
        assert c.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall() == [(1,), (2,), (3,)]
    # the whole outbox again, as a centre restored from a backup would: all duplicates, nothing changes
    before = client.get("/api/v1/wards?period=2026-10").json()
    conn.execute("DELETE FROM sync_state")
    tr2 = ClientTransport(client, "phuong-001", tokens["phuong-001"])
    agent = SyncAgent(conn, tr2, batch_size=1000)
    while agent.step().backlog:
        pass
    assert sum(a["stored"] for a in tr2.answers) == 0 and sum(a["duplicates"] for a in tr2.answers) == n_local
    assert client.get("/api/v1/wards?period=2026-10").json() == before
    # the hub's figures for the ward are the ward's own (same rows, same formula)
    for label, s, e in (("2026-10", date(2026, 10, 1), date(2026, 11, 1)), ("2026-09-29", date(2026, 9, 29),
                                                                          date(2026, 9, 30))):
        mine = indicators(total(ward_stats.daily_stats(conn, s, e).values()))
        hubs = next(w for w in client.get(f"/api/v1/wards?period={label}").json()["wards"]
                    if w["centre_id"] == "phuong-001")
        assert {k: hubs[k] for k in mine} == mine
        assert mine["tickets"] > 0 and (label != "2026-10" or mine["dossiers_finished"] > 0)


def test_a_centre_cannot_write_another_centres_rows(hub, tmp_path):
    client, tokens, pg = hub
    db = tmp_path / "p1.db"
    generate_centre(db, 1, START, 2, holidays=set())
    conn = connect(db)
    events = [e.to_wire() for e in outbox.pending(conn, 50)]
    auth = {"Authorization": f"Bearer {tokens['phuong-001']}"}
    r = client.post("/api/v1/ingest", json={"centre": "phuong-002", "events": events}, headers=auth)
    assert r.status_code == 403 and "phuong-001" in r.json()["detail"]
    r = client.post("/api/v1/ingest", json={"centre": "phuong-002", "events": events},
                    headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert client.post("/api/v1/ingest", json={"centre": "phuong-002", "events": events}).status_code == 401
    bad = [dict(events[0], uid="zz")]
    assert client.post("/api/v1/ingest", json={"centre": "phuong-001", "events": bad}, headers=auth).status_code == 422
    unordered = [events[1], events[0]]
    assert client.post("/api/v1/ingest", json={"centre": "phuong-001", "events": unordered},
                       headers=auth).status_code == 422
    with psycopg.connect(pg) as c:
        assert c.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    # the same uid from two centres is two events: one centre's ids never collide with another's
    r1 = client.post("/api/v1/ingest", json={"centre": "phuong-001", "events": events[:5]}, headers=auth)
    r2 = client.post("/api/v1/ingest", json={"centre": "phuong-002", "events": events[:5]},
                     headers={"Authorization": f"Bearer {tokens['phuong-002']}"})
    assert r1.json()["stored"] == r2.json()["stored"] == 5
    assert client.get("/api/v1/me", headers=auth).json()["events"] == 5


def test_an_event_from_a_broken_clock_lands_in_the_default_partition(hub, tmp_path):
    client, tokens, pg = hub
    db = tmp_path / "p1.db"
    generate_centre(db, 1, START, 1, holidays=set())
    conn = connect(db)
    conn.execute("UPDATE outbox SET at = 5900000000 WHERE seq = 1")  # year 2156
    _sync(client, tokens, db, "phuong-001")
    with psycopg.connect(pg) as c:
        assert c.execute("SELECT COUNT(*) FROM ONLY events_default").fetchone()[0] == 1


def test_dashboard_drill_down_and_reports(hub, tmp_path):
    client, tokens, pg = hub
    for i in (1, 2):
        db = tmp_path / f"p{i}.db"
        generate_centre(db, i, START, 14, holidays=set())
        _sync(client, tokens, db, f"phuong-00{i}")
    page = client.get("/?period=2026-10")
    assert page.status_code == 200
    t = page.text
    assert "Phường 001" in t and "Phường 002" in t and "Toàn tỉnh" in t and t.count("<svg") >= 2
    assert 'class="sortable"' in t and "Tiến độ, kết quả giải quyết" in t and "/ward/phuong-001?period=2026-10" in t
    assert client.get("/?period=2026-Q4").status_code == 200 and client.get("/?period=nope").status_code == 422
    ward = client.get("/ward/phuong-002?period=2026-10")
    assert ward.status_code == 200 and "02/10/2026" in ward.text and client.get("/ward/none").status_code == 404
    rep = client.get("/report?period=2026-10&ward=phuong-001")
    assert rep.status_code == 200 and "BÁO CÁO" in rep.text and "Tỷ lệ trước hạn và đúng hạn" in rep.text
    csv_text = client.get("/report?period=2026-10&format=csv").content.decode("utf-8-sig")
    assert "Toàn tỉnh" in csv_text and "Số lượt lấy số" in csv_text
    prov = client.get("/report?period=2026-10")
    assert prov.status_code == 200 and "landscape" in prov.text and prov.text.count("<tr") >= 4
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(client.get("/report?period=2026-10&format=xlsx").content))
    rows = list(wb["Bao cao"].iter_rows(values_only=True))
    header = rows[1]
    col = header.index("Số lượt lấy số")
    wards, total_row = rows[2:4], rows[4]
    assert [r[0] for r in wards] == ["Phường 001", "Phường 002"] and total_row[0] == "Toàn tỉnh"
    assert total_row[col] == wards[0][col] + wards[1][col] > 0          # province = sum of wards
    ward_rows = list(openpyxl.load_workbook(io.BytesIO(client.get(
        "/report?period=2026-10&ward=phuong-001&format=xlsx").content))["Bao cao"].iter_rows(values_only=True))
    assert ("Số lượt lấy số", wards[0][col]) in [tuple(r[:2]) for r in ward_rows]
    assert [r[0] for r in wb["QD766"].iter_rows(values_only=True)][1:] == [
        "Công khai, minh bạch", "Tiến độ, kết quả giải quyết", "Số hóa hồ sơ", "Cung cấp dịch vụ trực tuyến",
        "Mức độ hài lòng"]
    assert queries.parse_period("2026-Q4").end == date(2027, 1, 1)
    assert queries.parse_period("2026-12").end - timedelta(days=1) == date(2026, 12, 31)


def test_kiosk_province_creates_a_cluster_registers_a_centre_and_serves(tmp_path):
    """What `make run-province` does, in a temporary folder: initdb as the postgres user, migrate,
    a centre's token written mode 600, the hub answering, the cluster stopped."""
    import os
    import stat
    import subprocess
    import sys
    import tempfile
    import urllib.request
    from pathlib import Path

    from province_helpers import PASSWORD, ROOT, wait_for

    from province.cluster import free_port

    base = Path(tempfile.mkdtemp(prefix="province-cli-"))
    os.chmod(base, 0o755)
    pg_port, http_port = str(free_port()), free_port()
    cmd = [sys.executable, "-m", "kiosk", "province"]
    token_file = tmp_path / "ward.token"
    r = subprocess.run([*cmd, "add-centre", "mong-duong", "--name", "Phường Mông Dương", "--dir", str(base / "pg"),
                        "--pg-port", pg_port, "--token-file", str(token_file)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    try:
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600 and len(token_file.read_text().strip()) >= 40
        where = ["--dir", str(base / "pg"), "--pg-port", pg_port]
        weak = subprocess.run([*cmd, "add-user", "lan", "--role", "ward", "--centre", "mong-duong", "--password-stdin",
                               *where], cwd=ROOT, input="password123\n", capture_output=True, text=True, timeout=60)
        assert weak.returncode == 2 and "common" in weak.stderr
        r = subprocess.run([*cmd, "add-user", "lan", "--role", "ward", "--centre", "mong-duong", "--password-stdin",
                            *where], cwd=ROOT, input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        listed = subprocess.run([*cmd, "list-users", *where], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert "lan\tward\tmong-duong" in listed.stdout
        hub = subprocess.Popen([*cmd, "run", "--dir", str(base / "pg"), "--pg-port", pg_port, "--port",
                                str(http_port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def up():
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/", timeout=2) as resp:
                        return "Đăng nhập" in resp.read().decode()  # anonymous: the login page
                except OSError:
                    return False

            assert wait_for(up, 30)
            import http.cookiejar
            import re
            import urllib.parse

            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            base_url = f"http://127.0.0.1:{http_port}"
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', opener.open(base_url + "/login").read().decode())
            form = urllib.parse.urlencode({"name": "lan", "password": PASSWORD, "next": "/",
                                           "csrf_token": csrf.group(1)}).encode()
            with opener.open(base_url + "/login", data=form, timeout=10) as resp:
                assert "Phường Mông Dương" in resp.read().decode()
        finally:
            hub.terminate()
            hub.wait(15)
    finally:
        subprocess.run([*cmd, "stop", "--dir", str(base / "pg"), "--pg-port", pg_port], cwd=ROOT, timeout=60)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def test_migration_2_fills_the_monthly_counts_of_a_hub_that_has_data(tmp_path):
    """A hub at schema 1 with data: migration 002 creates `monthly` and fills it from `daily` (003 adds users)."""
    from province_helpers import new_database

    from province import db as pdb

    pg = new_database()
    with psycopg.connect(pg, autocommit=True) as c:   # schema 1 only, as an older hub had
        c.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                  "applied_at timestamptz NOT NULL DEFAULT now())")
        c.execute(pdb.migrations()[0][2])
        c.execute("INSERT INTO schema_migrations VALUES (1, 'init')")
        c.execute("""INSERT INTO daily VALUES ('w', '2026-10-01', '{"tickets": 3, "wait_hist": [1, 2]}'),
                     ('w', '2026-10-02', '{"tickets": 4, "wait_hist": [0, 0, 5]}')""")
    assert pdb.migrate(pg) == [2, 3]
    with psycopg.connect(pg) as c:
        (stats,) = c.execute("SELECT stats FROM monthly WHERE centre_id = 'w' AND month = '2026-10-01'").fetchone()
    assert stats["tickets"] == 7 and stats["wait_hist"] == [1, 2, 5]
    assert pdb.migrate(pg) == []
