"""Sync end to end with real processes (issue 17): `kiosk sync` against `python -m province serve`
on a real PostgreSQL. A centre offline for a week catches up; the hub killed mid-batch; a centre
restored from an old backup re-sends events; a centre writing another centre's rows is refused.
Nothing lost, nothing doubled."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import time
from datetime import date, timedelta

import psycopg
import pytest
from province_helpers import Hub, dsn, hub_uids, kiosk, local_uids, start_agent, wait_for, write_centre_config  # noqa: F401

from province.auth import add_centre
from province.generate import generate_centre

pytestmark = pytest.mark.slow
START = date(2026, 10, 5)  # a Monday


def _backlog(db) -> int:
    with sqlite3.connect(db) as c:
        acked = c.execute("SELECT value FROM sync_state WHERE key = 'acked_seq'").fetchone()
        return c.execute("SELECT COUNT(*) FROM outbox WHERE seq > ?", (int(acked[0]) if acked else 0,)).fetchone()[0]


def _no_duplicates(pg: str, centre_id: str) -> int:
    with psycopg.connect(pg) as c:
        n, distinct = c.execute("SELECT COUNT(*), COUNT(DISTINCT uid) FROM events WHERE centre_id = %s",
                                (centre_id,)).fetchone()
    assert n == distinct
    return n


def _centre(tmp_path, pg, hub, cid="phuong-001", **kw):
    with psycopg.connect(pg, autocommit=True) as c:
        token = add_centre(c, cid, cid)
    folder = tmp_path / cid
    cfg = write_centre_config(folder, cid, hub.url, token, **kw)
    return cfg, folder / "centre.db"


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def test_a_centre_offline_for_a_week_catches_up(dsn, tmp_path):  # noqa: F811
    hub = Hub(dsn, tmp_path / "hub.log")
    cfg, db = _centre(tmp_path, dsn, hub, batch_size=500)
    generate_centre(db, 1, START, 7, holidays=set())            # a week with the network down
    generate_centre(db, 1, START - timedelta(days=40), 1, holidays=set())  # then the clock set back a month
    agent = start_agent(cfg, tmp_path / "agent.log")
    try:
        assert wait_for(lambda: "last_error" in json.loads(kiosk(cfg, "sync", "--status", "--json").stdout)
                        and json.loads(kiosk(cfg, "sync", "--status", "--json").stdout)["last_error"], 30)
        doc = [json.loads(line) for line in kiosk(cfg, "doctor", "--json").stdout.splitlines()]
        sync_check = next(d for d in doc if d["part"] == "sync")
        assert not sync_check["ok"] and "backlog" in sync_check["message"] and "not reachable" in sync_check["message"]
        backlog = _backlog(db)
        assert backlog > 1500
        hub.start()
        t0 = time.time()
        assert wait_for(lambda: _backlog(db) == 0, 60)
        catchup = time.time() - t0
    finally:
        _stop(agent)
        hub.stop()
    assert sorted(hub_uids(dsn, "phuong-001")) == sorted(local_uids(db))
    assert _no_duplicates(dsn, "phuong-001") == backlog
    assert catchup < 30
    doc = [json.loads(line) for line in kiosk(cfg, "doctor", "--json").stdout.splitlines()]
    assert next(d for d in doc if d["part"] == "sync")["ok"]


def test_the_hub_killed_mid_batch(dsn, tmp_path):  # noqa: F811
    hub = Hub(dsn, tmp_path / "hub.log")
    cfg, db = _centre(tmp_path, dsn, hub, batch_size=200)
    generate_centre(db, 1, START, 5, holidays=set())
    hub.start(PROVINCE_INGEST_DELAY_S="0.6")  # each batch holds its transaction open for 0.6 s
    agent = start_agent(cfg, tmp_path / "agent.log")
    try:
        def batches():
            with psycopg.connect(dsn) as c:
                return c.execute("SELECT batches FROM centres WHERE centre_id = 'phuong-001'").fetchone()[0]

        assert wait_for(lambda: batches() >= 2, 30, 0.05)
        time.sleep(0.3)          # the next batch is inside its transaction
        hub.kill()               # SIGKILL: no clean shutdown
        stored = _no_duplicates(dsn, "phuong-001")
        assert stored % 200 == 0 and stored >= 400   # whole batches only, never part of one
        assert _backlog(db) > 0
        time.sleep(1.5)          # the agent fails and backs off meanwhile
        hub.start()
        assert wait_for(lambda: _backlog(db) == 0, 60)
    finally:
        _stop(agent)
        hub.stop()
    assert sorted(hub_uids(dsn, "phuong-001")) == sorted(local_uids(db))
    _no_duplicates(dsn, "phuong-001")


def test_a_centre_restored_from_an_old_backup(dsn, tmp_path):  # noqa: F811
    hub = Hub(dsn, tmp_path / "hub.log").start()
    try:
        cfg, db = _centre(tmp_path, dsn, hub, batch_size=300)
        generate_centre(db, 1, START, 3, holidays=set())
        backup = tmp_path / "backup.db"
        with sqlite3.connect(db) as src, sqlite3.connect(backup) as dst:
            src.backup(dst)                                      # last night's backup: nothing sent yet
        assert kiosk(cfg, "sync", "--once").returncode == 0
        generate_centre(db, 1, START + timedelta(days=3), 2, holidays=set())
        assert kiosk(cfg, "sync", "--once").returncode == 0
        first_life = set(local_uids(db))
        for suffix in ("", "-wal", "-shm"):                     # the disk dies; the backup comes back
            (db.parent / (db.name + suffix)).unlink(missing_ok=True)
        shutil.copy(backup, db)
        resent = len(local_uids(db))
        generate_centre(db, 1, START + timedelta(days=7), 2, holidays=set())   # the next week's work
        r = kiosk(cfg, "sync", "--once")
        assert r.returncode == 0, r.stdout + r.stderr
        second_life = set(local_uids(db))
    finally:
        hub.stop()
    assert set(hub_uids(dsn, "phuong-001")) == first_life | second_life
    assert _no_duplicates(dsn, "phuong-001") == len(first_life | second_life)
    with psycopg.connect(dsn) as c:
        assert c.execute("SELECT duplicates FROM centres WHERE centre_id = 'phuong-001'").fetchone()[0] == resent
        # tickets are keyed by their random token: the restored centre's new tickets 001, 002…
        # of the next week do not overwrite the lost life's tickets with the same numbers
        assert c.execute("SELECT COUNT(*) FROM tickets WHERE day >= %s", (START + timedelta(days=3),)).fetchone()[0] > 0


def test_a_centre_writing_another_centres_rows_is_refused(dsn, tmp_path):  # noqa: F811
    hub = Hub(dsn, tmp_path / "hub.log").start()
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            token_a = add_centre(c, "phuong-001", "A")
            add_centre(c, "phuong-002", "B")
        cfg = write_centre_config(tmp_path / "b", "phuong-002", hub.url, token_a)   # B's config, A's token
        db = tmp_path / "b" / "centre.db"
        generate_centre(db, 2, START, 1, holidays=set())
        agent = start_agent(cfg, tmp_path / "agent.log")
        try:
            assert wait_for(lambda: "403" in (json.loads(kiosk(cfg, "sync", "--status", "--json").stdout)
                                              ["last_error"] or ""), 30)
        finally:
            _stop(agent)
        assert _backlog(db) == len(local_uids(db)) > 0
    finally:
        hub.stop()
    with psycopg.connect(dsn) as c:
        assert c.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
        assert c.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 0
