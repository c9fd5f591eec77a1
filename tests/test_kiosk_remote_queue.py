"""Several kiosks, one queue (issue 8): a kiosk whose config sets `centre.url` issues its tickets
through a real staff server thread, and says plainly when that server cannot be reached."""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import httpx
import pytest
from staff_helpers import OPEN_TIME, PASSWORDS

from centre import queue as q
from centre import users
from centre.clock import FixedClock
from centre.db import connect
from kiosk.controller import Backend, Controller, Screen
from staff.client import RemoteQueue
from staff.server import free_port, start_in_thread

warnings.filterwarnings("ignore", message=".*httpx2.*")


@pytest.fixture
def server(tmp_config, tmp_path):
    clock = FixedClock(OPEN_TIME)  # Wednesday 09:00: open
    db = tmp_path / "server.db"
    handle = start_in_thread(tmp_config, host="127.0.0.1", port=free_port(), clock=clock, db_path=db)
    conn = connect(db)
    kiosk = users.create_user(conn, "kiosk2", "kiosk", PASSWORDS["kiosk2"])
    token = users.create_api_token(conn, kiosk.id, "kiosk 2")
    yield handle, token, db, clock
    conn.close()
    handle.stop()


def remote(cfg, url: str, token: str | None):
    return cfg.model_copy(update={"centre": cfg.centre.model_copy(update={"url": url, "token": token,
                                                                          "base_url": url})})


def _take_ticket(cfg) -> Controller:
    ctl = Controller(cfg, Backend(cfg), synchronous=True)
    ctl.choose_service("A")
    assert ctl.screen == Screen.PRIORITY
    ctl.issue("elderly")
    return ctl


def test_kiosk_issues_through_the_staff_server(server, tmp_config):
    handle, token, db, clock = server
    cfg = remote(tmp_config, handle.url, token)
    ctl = _take_ticket(cfg)
    assert ctl.message is None and ctl.screen == Screen.TICKET
    t = ctl.visit.ticket
    assert t["number"] == "A001" and t["priority"] == "elderly" and Path(t["png"]).exists()
    assert t["destination"]["waypoint"] == "counter_1"
    # The ticket is in the server's database, issued by the kiosk ...
    server_q = q.Queue(connect(db), tmp_config, clock)
    [issued] = server_q.list()
    assert (issued.code, issued.priority, issued.source, issued.id) == ("A001", "elderly", "kiosk", t["id"])
    # ... and its QR opens the server's status page.
    assert t["url"] == handle.url + issued.status_path
    assert httpx.get(t["url"]).status_code == 200
    # A second kiosk (another Backend) continues the same numbering.
    ctl2 = _take_ticket(cfg)
    assert ctl2.visit.ticket["number"] == "A002" and ctl2.visit.ticket["ahead"] == 1
    home = Backend(cfg).waiting_counts()
    assert home["A"]["waiting"] == 2 and home["A"]["wait_min"] > 0
    # The kiosk's own database file holds no ticket.
    local = cfg.database_path
    if local.exists():
        with sqlite3.connect(local) as c:
            assert not c.execute("SELECT name FROM sqlite_master WHERE name = 'tickets'").fetchone() or \
                c.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 0


def test_server_down_or_refusing_gives_a_plain_message(server, tmp_config):
    handle, token, db, clock = server
    for cfg in (remote(tmp_config, f"http://127.0.0.1:{free_port()}", token),  # nobody listens there
                remote(tmp_config, handle.url, "kt_not_a_token")):              # the server refuses the kiosk
        ctl = _take_ticket(cfg)
        assert ctl.message == ("error.centre_unreachable", {})
        assert ctl.visit.ticket is None and ctl.visit.print_status == ""
        assert "máy chủ của trung tâm" in ctl.t("error.centre_unreachable")
        ctl.visit.lang = "en"
        assert "centre's server" in ctl.t("error.centre_unreachable")
        ctl.refresh_home()  # the home screen's waiting counts fail quietly
        assert ctl.waiting == {}
    assert q.Queue(connect(db), tmp_config, clock).list() == []


def test_local_kiosk_still_uses_its_own_database(tmp_config):
    b = Backend(tmp_config, queue_clock=FixedClock(OPEN_TIME))
    assert not b.remote and isinstance(b.queue, q.Queue) and not isinstance(b.queue, RemoteQueue)
    t = b.issue_ticket("A", None, None)
    assert t["number"] == "A001"
    assert [x.code for x in q.Queue(connect(tmp_config.database_path), tmp_config).list(day=OPEN_TIME.date().isoformat())] \
        == ["A001"]
