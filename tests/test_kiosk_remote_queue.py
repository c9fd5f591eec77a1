"""Several kiosks, one queue (issue 8): a kiosk whose config sets `centre.url` issues its tickets
through a real staff server thread, and says plainly when that server cannot be reached."""

from __future__ import annotations

import json
import os
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
    ctl.open_ticket()
    ctl.open_priority()  # "Tôi thuộc diện ưu tiên": the group first, then the service
    ctl.choose_priority("elderly")
    assert ctl.screen == Screen.SERVICE
    ctl.choose_service("A")
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


def test_remote_kiosk_looks_dossiers_up_on_the_server_masked(server, tmp_config):
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    from kiosk.screens import dossier_lookup_hook

    handle, token, db, clock = server
    from centre.dossiers import Dossiers

    reg = Dossiers.from_config(connect(db), tmp_config)
    reg.upsert_many([(1, {"code": "HS-77", "applicant_name": "Nguyễn Văn An", "applicant_phone": "0912345678",
                          "received_at": "2026-11-20 09:00", "due_at": "2026-11-24", "state": "Yêu cầu bổ sung",
                          "counter": "2", "missing_documents": "Tờ khai"})], source="test")
    cfg = remote(tmp_config, handle.url, token)
    lookup = dossier_lookup_hook(cfg)
    found = lookup(" hs-77 ")
    assert found["code"] == "HS-77" and found["applicant"] == "N. V. A."
    assert found["next_action"] == "supplement" and found["missing_documents"] == ["Tờ khai"]
    assert found["late"] is True  # the server's today (25/11) is after the due date
    assert "0912345678" not in json.dumps(found) and "Nguyễn" not in json.dumps(found, ensure_ascii=False)
    assert lookup("HS-78") is None and lookup("HS-7") is None and lookup("../HS-77") is None
    # Through the controller: found, then a server that is gone gives the screen's "failed" state.
    ctl = Controller(cfg, Backend(cfg), synchronous=True, dossier_lookup=lookup)
    ctl.open_dossiers()
    ctl.dossier_typed("HS-77")
    ctl.dossier_find()
    assert ctl.visit.dossier_state == "found" and ctl.visit.dossier["counter"] == "2"
    gone = dossier_lookup_hook(remote(tmp_config, f"http://127.0.0.1:{free_port()}", token))
    ctl.dossier_lookup = gone
    ctl.dossier_find()
    assert ctl.visit.dossier_state == "failed"
    with pytest.raises(q.QueueStorageError, match="cannot reach"):
        gone("HS-77")
    with pytest.raises(q.QueueStorageError, match="refused"):
        dossier_lookup_hook(remote(tmp_config, handle.url, "kt_wrong"))("HS-77")


def test_remote_kiosk_home_is_one_summary_request_issue16(server, tmp_config):
    """Issue 16: a remote kiosk's home made 1 + 2 × services HTTP calls every refresh."""
    handle, token, db, clock = server
    b = Backend(remote(tmp_config, handle.url, token))
    assert isinstance(b.queue, RemoteQueue)
    b.queue.issue("A", actor="test")
    seen = []
    b.queue._http.event_hooks["request"] = [lambda r: seen.append(r.url.path)]
    states = {d["series"]: d for d in b.service_states()}
    assert seen == ["/api/summary"]
    assert states["A"]["waiting"] == 1 and states["A"]["state"] == "open" and states["A"]["wait_text_vi"]
