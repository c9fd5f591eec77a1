"""The staff server as a real uvicorn process thread on a free loopback port (issue 8):
a remote kiosk's RemoteQueue, live events, `kiosk users add` and `kiosk serve`'s building blocks."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from staff_helpers import OPEN_TIME, PASSWORDS, Centre

from centre import queue as q
from centre import users
from centre.clock import FixedClock
from centre.db import connect
from staff.client import RemoteQueue, open_queue
from staff.server import ServerError, free_port, start_in_thread

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(tmp_config, tmp_path):
    clock = FixedClock(OPEN_TIME)
    handle = start_in_thread(tmp_config, host="127.0.0.1", port=free_port(), clock=clock,
                             db_path=tmp_path / "centre.db")
    centre = Centre.__new__(Centre)  # users on the server's database
    centre.cfg, centre.db_path, centre.clock, centre.app = tmp_config, tmp_path / "centre.db", clock, handle.app
    centre.conn = connect(centre.db_path)
    u = users.create_user(centre.conn, "kiosk2", "kiosk", PASSWORDS["kiosk2"])
    centre.kiosk_token = users.create_api_token(centre.conn, u.id)
    centre.officer = users.create_user(centre.conn, "lan", "officer", PASSWORDS["lan"], counters=[1])
    centre.display = users.create_user(centre.conn, "tv", "display", PASSWORDS["tv"])
    yield handle, centre
    handle.stop()
    assert not handle.thread.is_alive()


def test_remote_kiosk_issues_through_the_api(server, tmp_config):
    handle, centre = server
    remote_cfg = tmp_config.model_copy(update={"centre": tmp_config.centre.model_copy(
        update={"url": handle.url, "token": centre.kiosk_token})})
    rq = open_queue(remote_cfg)
    assert isinstance(rq, RemoteQueue)
    with rq:
        t1 = rq.issue("A", lang="en")
        t2 = rq.issue("A", priority="elderly")
        assert (t1.code, t2.code) == ("A001", "A002") and t1.lang == "en"
        st = rq.status(t1)
        assert st.ahead == 1 and st.wait_min > 0 and st.ticket.token == t1.token
        assert rq.position(t2) == 0 and rq.estimate_wait_min(t1) == st.wait_min
        assert [s.series for s in rq.services()] == ["A", "B", "C", "D"]
        assert rq.service("B").target_wait_min == 20
        assert rq.counters()[0].waypoint == "counter_1"
        assert rq.waiting_counts()["A"] == 2
        assert rq.is_open("A") == (True, None)
        with pytest.raises(q.UnknownService):
            rq.issue("Z")
        with pytest.raises(q.UnknownPriority):
            rq.issue("A", priority="vip")
        centre.clock.set(OPEN_TIME.replace(hour=18))
        with pytest.raises(q.ServiceClosed) as exc:
            rq.issue("A")
        assert exc.value.opens_at is not None and exc.value.opens_at.hour == 7
    # The server's own database holds the tickets.
    local = q.Queue(connect(centre.db_path), tmp_config, centre.clock)
    assert [t.code for t in local.list()] == ["A001", "A002"]
    # A wrong token or an unreachable server: QueueStorageError (the kiosk says "try again").
    with RemoteQueue(handle.url, "kt_wrong") as bad, pytest.raises(q.QueueStorageError, match="centre.token"):
        bad.issue("A")
    with RemoteQueue(f"http://127.0.0.1:{free_port()}", "x", timeout=1) as gone, \
            pytest.raises(q.QueueStorageError, match="cannot reach"):
        gone.issue("A")


def test_display_stream_gets_a_call_within_a_second(server):
    handle, centre = server
    qu = q.Queue(connect(centre.db_path), centre.cfg, centre.clock)
    qu.issue("A", actor="kiosk")
    qu.issue("A", actor="kiosk")
    display = httpx.Client(base_url=handle.url)
    token, _ = users.create_session(centre.conn, centre.display, hours=1)
    display.cookies.set("staff_session", token)
    officer = httpx.Client(base_url=handle.url)
    otoken, osess = users.create_session(centre.conn, centre.officer, hours=1)
    officer.cookies.set("staff_session", otoken)
    got: list = []
    ready = threading.Event()

    def listen():
        with display.stream("GET", "/api/events", timeout=10) as r:
            event = None
            for line in r.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    if event == "state":
                        ready.set()
                elif line.startswith("data:") and event == "queue":
                    ev = json.loads(line[5:])
                    if ev["kind"] == "call":
                        got.append((time.perf_counter(), ev))
                        if len(got) == 2:
                            return

    th = threading.Thread(target=listen, daemon=True)
    th.start()
    assert ready.wait(10)
    t0 = time.perf_counter()
    r = officer.post("/api/counters/1/call-next", headers={"X-CSRF-Token": osess.csrf})
    assert r.status_code == 200
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got, "no call event reached the display"
    assert got[0][1]["code"] == "A001" and got[0][1]["counter_id"] == 1
    assert got[0][0] - t0 < 1.0  # the issue's requirement for the hall display
    # A call made by another process (the CLI: no wake-up of the server) arrives by polling.
    t1 = time.perf_counter()
    qu.call_next(1, actor="cli", current="no_show")
    th.join(5)
    assert len(got) == 2 and got[1][1]["code"] == "A002" and got[1][0] - t1 < 1.0
    display.close()
    officer.close()


def test_port_in_use_is_a_clear_error(tmp_config, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ServerError, match="could not start"):
            start_in_thread(tmp_config, host="127.0.0.1", port=port, db_path=tmp_path / "c.db", timeout=5)


def _cli(tmp_path, *args, stdin=""):
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "kiosk", "--config", str(cfg), *args], input=stdin,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_kiosk_users_add_never_uses_a_default_password(tmp_path):
    r = _cli(tmp_path, "users", "add", "boss", "--role", "admin", "--password-stdin", stdin="")
    assert r.returncode == 2 and "no password" in r.stderr
    r = _cli(tmp_path, "users", "add", "boss", "--role", "admin")  # no terminal to ask on
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    r = _cli(tmp_path, "users", "add", "boss", "--role", "admin", "--password-stdin", stdin="short\n")
    assert r.returncode == 2 and "at least 10" in r.stderr
    r = _cli(tmp_path, "users", "add", "boss", "--role", "admin", "--password-stdin", stdin="good-admin-pass\n")
    assert r.returncode == 0, r.stderr
    r = _cli(tmp_path, "users", "add", "lan", "--role", "officer", "--counter", "9", "--password-stdin",
             stdin="good-officer-pass\n")
    assert r.returncode == 2 and "counter 9 does not exist" in r.stderr
    r = _cli(tmp_path, "users", "add", "lan", "--role", "officer", "--counter", "1", "--counter", "2",
             "--password-stdin", stdin="good-officer-pass\n")
    assert r.returncode == 0 and "counters 1, 2" in r.stdout
    r = _cli(tmp_path, "users", "list", "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(u["name"], u["role"], u["counters"]) for u in rows] == [("boss", "admin", []), ("lan", "officer", [1, 2])]
    assert "good-admin-pass" not in (tmp_path / "var" / "centre.db").read_bytes().decode("latin-1")
    r = _cli(tmp_path, "doctor", "--json")
    assert any(json.loads(line)["part"] == "staff users" and json.loads(line)["ok"] for line in r.stdout.splitlines())


def test_announcement_cache_is_bounded_issue16(tmp_config, tmp_path):
    """Issue 16: the announcement WAV cache grew without end."""
    from staff.announce import Announcer, chime_wav

    out = tmp_path / "tts"
    out.mkdir()

    def synth(text, lang):
        p = out / f"{abs(hash(text))}.wav"
        chime_wav(p)
        return p

    ann = Announcer(tmp_config, synth, max_files=5)
    for i in range(60):
        assert ann.speech(f"Mời số A{i:03d} đến quầy 1").exists()
    assert len(list(out.glob("*.wav"))) <= 5 + 20  # pruned every 20 calls to at most 5
    ann.speech("Mời số B001 đến quầy 2")
    assert len(list(out.glob("*.wav"))) <= 5


def test_forwarded_headers_only_from_configured_proxies_issue16(tmp_config, tmp_path):
    """Issue 16: X-Forwarded-For was believed from 127.0.0.1 (uvicorn's default)."""
    from staff.server import _config

    plain = _config(tmp_config, "127.0.0.1", 8999, db_path=tmp_path / "a.db")
    assert plain.proxy_headers is False and plain.forwarded_allow_ips in ("", [])
    cfg = tmp_config.model_copy(update={"staff": tmp_config.staff.model_copy(update={"trusted_proxies": ["10.0.0.2"]})})
    proxied = _config(cfg, "127.0.0.1", 8999, db_path=tmp_path / "b.db")
    assert proxied.proxy_headers is True and "10.0.0.2" in proxied.forwarded_allow_ips
