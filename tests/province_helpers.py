"""Shared set-up of the province tests: one real PostgreSQL cluster per test run, a database per
test, the hub as a real process, ward centres as config files + SQLite databases."""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from province.cluster import Cluster, free_port

ROOT = Path(__file__).resolve().parent.parent
_cluster: Cluster | None = None
_dbs = itertools.count(1)


def cluster() -> Cluster:
    """The test run's cluster, started on first use in a fresh temporary folder, stopped at exit."""
    global _cluster
    if _cluster is None:
        tmp = Path(tempfile.mkdtemp(prefix="province-pg-"))
        os.chmod(tmp, 0o755)  # the postgres user must reach its folder
        cl = Cluster(tmp, free_port())
        cl.init()
        cl.start(settings={"fsync": "on", "shared_buffers": "64MB"})

        def _stop():
            try:
                cl.stop()
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

        atexit.register(_stop)
        _cluster = cl
    return _cluster


def new_database() -> str:
    """A fresh empty database in the test cluster; returns its DSN."""
    import psycopg

    cl = cluster()
    name = f"t{os.getpid()}_{next(_dbs)}"
    with psycopg.connect(f"host={cl.sock} port={cl.port} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return f"host={cl.sock} port={cl.port} user=postgres dbname={name}"


@pytest.fixture
def dsn() -> str:
    from province.db import migrate

    d = new_database()
    migrate(d)
    return d


class Hub:
    """`python -m province serve` as a real process on a free port."""

    def __init__(self, dsn: str, log: Path, env: dict | None = None):
        self.dsn, self.log, self.env = dsn, log, env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, **env) -> Hub:
        e = {**os.environ, **self.env, **env}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "province", "serve", "--dsn", self.dsn,
                                          "--port", str(self.port)], cwd=ROOT, env=e, stdout=out, stderr=out)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {self.log.read_text()[-2000:]}")
        raise RuntimeError("hub did not start")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def write_centre_config(folder: Path, centre_id: str, hub_url: str, token: str, *, batch_size: int = 500,
                        max_backoff_s: float = 1.0) -> Path:
    """A config.yaml for a ward centre in `folder` (its own database and token file)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "province.token").write_text(token + "\n", encoding="utf-8")
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    for old, new in (('data_dir: "var"', f'data_dir: "{folder}"'),
                     ('database: "var/centre.db"', f'database: "{folder}/centre.db"'),
                     ('catalogue: "data/procedures"', f'catalogue: "{ROOT}/data/procedures"'),
                     ('holidays: "data/holidays.yaml"', f'holidays: "{ROOT}/data/holidays.yaml"'),
                     ('forms: "data/forms"', f'forms: "{ROOT}/data/forms"'),
                     ('  url: null                    # e.g.', f'  url: "{hub_url}"  # e.g.'),
                     ('  centre_id: null ', f'  centre_id: "{centre_id}" '),
                     ('token_file: "var/province.token"', f'token_file: "{folder}/province.token"'),
                     ('batch_size: 1000 ', f'batch_size: {batch_size} '),
                     ('interval_s: 5 ', 'interval_s: 0.2 '),
                     ('max_backoff_s: 300 ', f'max_backoff_s: {max_backoff_s} ')):
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def kiosk(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", "--config", str(config), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def start_agent(config: Path, log: Path) -> subprocess.Popen:
    out = open(log, "ab")  # noqa: SIM115 — closed with the process
    return subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(config), "sync"], cwd=ROOT,
                            stdout=out, stderr=out)


def hub_uids(dsn: str, centre_id: str) -> list[str]:
    import psycopg

    with psycopg.connect(dsn) as c:
        return [r[0].hex for r in c.execute("SELECT uid FROM events WHERE centre_id = %s", (centre_id,))]


def local_uids(db: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(db) as c:
        return [r[0] for r in c.execute("SELECT uid FROM outbox")]


def wait_for(pred, timeout: float = 60, step: float = 0.2) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


PASSWORD = "Mong-Duong-2026!"  # a password the centre's rules accept (10+ chars, not common)


def add_user(dsn: str, name: str, role: str = "province", centres: tuple[str, ...] = (), password: str = PASSWORD):
    """A hub user (the same call `kiosk province add-user` makes)."""
    import psycopg

    from province import users

    with psycopg.connect(dsn, autocommit=True) as c:
        return users.create_user(c, name, role, password, centres=centres)


def login(client, name: str, password: str = PASSWORD, next: str = "/"):
    """Log a TestClient in through the real form (CSRF token from the page); returns the POST's response."""
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"name": name, "password": password, "next": next, "csrf_token": token},
                       follow_redirects=False)


def serving_hub(folder: Path, centres: tuple[str, ...], user: str):
    """For a module's hub fixture: a new migrated database with `centres` ("Phường <id>") and a
    province `user`, a hub process on it; yields (hub, {centre: token}, dsn), stops it after."""
    import psycopg

    from province.auth import add_centre
    from province.db import migrate

    dsn = new_database()
    migrate(dsn)
    with psycopg.connect(dsn, autocommit=True) as c:
        tokens = {cid: add_centre(c, cid, f"Phường {cid}") for cid in centres}
    add_user(dsn, user)
    h = Hub(dsn, folder / "hub.log").start()
    try:
        yield h, tokens, dsn
    finally:
        h.stop()


#: the month of `three_wards`' data
PERIOD = "2026-10"


class Transport:
    """A ward's sync agent talking to a hub app through a TestClient."""

    def __init__(self, client, cid, token):
        self.client, self.cid, self.token = client, cid, token

    def send(self, events_json):
        import json

        r = self.client.post("/api/v1/ingest", json={"centre": self.cid, "events": json.loads(events_json)},
                             headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def three_wards(tmp_path_factory):
    """One hub app with three wards of data (a week each of PERIOD), the province user "tinh" and
    "chu-tich-w12", director of w1 and w2; yields (app, dsn). A module takes it as
    `hub = province_helpers.three_wards`."""
    from datetime import date

    import psycopg
    from fastapi.testclient import TestClient

    from centre.db import connect
    from centre.sync import SyncAgent
    from province.app import create_app
    from province.auth import add_centre
    from province.db import migrate
    from province.generate import generate_centre

    pg = new_database()
    migrate(pg)
    tmp = tmp_path_factory.mktemp("hub")
    app = create_app(pg, migrate_db=False, login_max_tries=3, login_lockout_s=60)
    with TestClient(app) as client, psycopg.connect(pg, autocommit=True) as c:
        for i in (1, 2, 3):
            token = add_centre(c, f"w{i}", f"Phường Số {i}")
            db = tmp / f"w{i}.db"
            generate_centre(db, i, date(2026, 10, 5), 5, holidays=set())
            agent = SyncAgent(connect(db), Transport(client, f"w{i}", token), batch_size=2000)
            while agent.step().backlog:
                pass
        add_user(pg, "tinh")
        add_user(pg, "chu-tich-w12", "ward", ("w1", "w2"))
        yield app, pg
