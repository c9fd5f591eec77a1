"""The staff server attacked from outside, round 8, against a real uvicorn server: a database
locked by another program (was a bare 500), names with control or invisible characters (NUL,
newline, bidi override, zero-width space) for counters, services, priority groups, users and
the procedure a kiosk sends, and report CSV cells that smuggle a formula past a ';' (Excel set
to Vietnamese splits cells at ';')."""

from __future__ import annotations

import csv
import io
import sqlite3
import unicodedata

import httpx
import pytest
from staff_helpers import CHROMIUM, OPEN_TIME, PASSWORDS, browser_login, chromium

from centre import db as centre_db
from centre import reports, users
from centre.clock import FixedClock
from centre.db import connect
from staff import auth
from staff.server import free_port, start_in_thread

HOSTILE_NAMES = ["Quầy\x00 1", "Quầy\n1", "\u202eQuầy 1", "\u200b", "Quầy\u200b1", "Quầy\x1b[2J"]


@pytest.fixture
def server(tmp_config, tmp_path, monkeypatch):
    """A real server on a free port, with an admin, an officer at counter 1 and a kiosk token."""
    monkeypatch.setattr(centre_db, "BUSY_TIMEOUT_MS", 300)  # a locked database answers in 0.3 s, not 5 s
    db_path = tmp_path / "centre.db"
    handle = start_in_thread(
        tmp_config, host="127.0.0.1", port=free_port(), clock=FixedClock(OPEN_TIME), db_path=db_path
    )
    conn = connect(db_path)
    admin = users.create_user(conn, "boss", "admin", PASSWORDS["boss"])
    officer = users.create_user(conn, "lan", "officer", PASSWORDS["lan"], counters=[1])
    kiosk = users.create_user(conn, "kiosk2", "kiosk", PASSWORDS["kiosk2"])
    clients = {
        "kiosk": httpx.Client(
            base_url=handle.url,
            timeout=10,
            headers={"Authorization": f"Bearer {users.create_api_token(conn, kiosk.id)}"},
        )
    }
    for role, user in (("admin", admin), ("officer", officer)):
        token, sess = users.create_session(conn, user, hours=1)
        clients[role] = httpx.Client(
            base_url=handle.url,
            timeout=10,
            cookies={auth.SESSION_COOKIE: token},
            headers={"X-CSRF-Token": sess.csrf},
        )
    clients["anon"] = httpx.Client(base_url=handle.url, timeout=10)
    yield handle, conn, clients
    for c in clients.values():
        c.close()
    handle.stop()


def test_a_locked_database_is_a_clear_503_and_nothing_is_half_saved(server, tmp_path):
    _, conn, cl = server
    holder = sqlite3.connect(tmp_path / "centre.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program (a backup, the CLI) holds the write lock
    try:
        anon = cl["anon"]
        anon.cookies.set(auth.FORM_CSRF_COOKIE, "form-token")
        form = {"name": "lan", "password": PASSWORDS["lan"], "csrf_token": "form-token", "next": "/console"}
        page = anon.post("/login", data=form, headers={"Accept": "text/html"})
        # was "500 Internal Server Error" in plain text: a login, audit, user or setting write
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert "Chưa có gì bị thay đổi" in page.text and "Traceback" not in page.text
        group = {"name_vi": "Thương binh", "name_en": "War invalids"}
        r = cl["admin"].put("/api/admin/priority-groups/invalids", json=group)
        assert r.status_code == 503 and r.json()["error"] == "StorageUnavailable"
        assert (
            cl["kiosk"].post("/api/tickets", json={"service": "A", "idempotency_key": "tap-1"}).status_code
            == 503
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # the lock is gone: the same requests go through, once each
    assert anon.post("/login", data=form, headers={"Accept": "text/html"}).status_code == 303
    assert cl["admin"].put("/api/admin/priority-groups/invalids", json=group).status_code == 200
    first = cl["kiosk"].post("/api/tickets", json={"service": "A", "idempotency_key": "tap-1"})
    again = cl["kiosk"].post("/api/tickets", json={"service": "A", "idempotency_key": "tap-1"})
    assert first.status_code == again.status_code == 201
    assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1
    assert (
        conn.execute("SELECT count(*) FROM priority_group_settings WHERE key='invalids'").fetchone()[0] == 1
    )


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_names_with_control_or_invisible_characters_are_refused(server, name):
    _, conn, cl = server
    admin = cl["admin"]
    before = admin.get("/api/display").json()["counters"][0]["name_vi"]
    # counters and services are on the hall display and spoken; groups on the kiosk; users in the log
    for method, path, body in [
        ("PUT", "/api/admin/counters/1", {"name_vi": name}),
        ("PUT", "/api/admin/counters", {"counters": [{"id": 1, "name_en": name}]}),
        ("PUT", "/api/admin/services/A", {"name_vi": name}),
        ("PUT", "/api/admin/priority-groups/elderly", {"name_vi": name, "name_en": "Elderly"}),
        (
            "POST",
            "/api/admin/users",
            {"name": "hoa", "role": "display", "password": "display-pass-77", "full_name": name},
        ),
        ("PUT", "/api/admin/users/2", {"full_name": name}),
    ]:
        r = admin.request(method, path, json=body)
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert "U+" in r.text
    assert admin.get("/api/display").json()["counters"][0]["name_vi"] == before
    assert name not in str(admin.get("/api/admin/priority-groups").json())
    assert conn.execute("SELECT count(*) FROM staff_users WHERE name='hoa'").fetchone()[0] == 0
    assert users.get_user(conn, 2).full_name == ""


def test_ordinary_vietnamese_names_still_save(server):
    admin = server[2]["admin"]
    for name in (
        "Quầy 1 — Hộ tịch",
        unicodedata.normalize("NFD", "Quầy 1 — Hộ tịch"),
    ):  # composed, decomposed
        r = admin.put("/api/admin/counters/1", json={"name_vi": name})
        assert r.status_code == 200 and r.json()["name_vi"] == name
    assert admin.put("/api/admin/users/2", json={"full_name": "Nguyễn Thị Lan"}).status_code == 200


@pytest.mark.parametrize("key", ["1.000894\x00", "a\nb", "\u202e1.000894", "1.000\u200b894"])
def test_a_procedure_key_with_control_characters_issues_no_ticket(server, key):
    _, conn, cl = server
    r = cl["kiosk"].post("/api/tickets", json={"service": "A", "procedure_key": key})
    assert r.status_code == 422 and r.json()["error"] == "InvalidRequest"  # was 201, stored as sent
    assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0
    assert (
        cl["kiosk"].post("/api/tickets", json={"service": "A", "procedure_key": "1.000894"}).status_code
        == 201
    )


def _cells(text: str, delimiter: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter) for c in row]


def test_report_csv_cells_cannot_smuggle_a_formula_past_a_semicolon(server):
    _, _, cl = server
    # an admin's client names the person at the counter; a kiosk names the procedure
    t = cl["kiosk"].post("/api/tickets", json={"service": "A", "procedure_key": "k;=2+5+cmd|'-c calc'!A0"})
    assert t.status_code == 201
    r = cl["admin"].post("/api/counters/1/call-next", json={"actor": "x;=2+5+cmd|'-c calc'!A0"})
    assert r.status_code == 200 and r.json()["ticket"]
    for lang in ("vi", "en"):
        text = cl["admin"].get("/api/reports.csv", params={"start": "2026-11-25", "lang": lang}).text
        assert "=2+5+cmd" in text  # the data is kept ...
        for delimiter in (",", ";", "\t"):  # ... and no reading of the file makes it a formula
            cells = _cells(text, delimiter)
            assert not [c for c in cells if c.startswith(reports._FORMULA_START)], (lang, delimiter)


def test_csv_safe_neutralises_formulas_after_separators():
    assert reports.csv_safe("x;=HYPERLINK(1)") == "x;'=HYPERLINK(1)"
    assert reports.csv_safe("a\t+1") == "a\t'+1"
    assert reports.csv_safe(";@SUM(A1)") == ";'@SUM(A1)"
    assert reports.csv_safe("=1;=2") == "'=1;'=2"
    assert reports.csv_safe("Hộ tịch; chứng thực") == "Hộ tịch; chứng thực" and reports.csv_safe(-3) == -3


def test_opening_hours_with_thousands_of_spans_are_refused(server):
    _, _, cl = server
    admin, kiosk = cl["admin"], cl["kiosk"]
    before = admin.get("/api/admin/services").json()
    many = {
        day: ["08:00-11:00"] * 9000 for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }  # < 1 MB
    for path, body in (
        ("/api/admin/opening-hours", {"opening_hours": many}),
        ("/api/admin/services/A", {"opening_hours": many}),
    ):
        r = admin.put(path, json=body)
        # was 200: every queue read then went through 63,000 spans (the kiosk's home took 5 s)
        assert r.status_code == 422 and "at most 8 opening spans" in r.text, (path, r.status_code)
    assert admin.get("/api/admin/services").json() == before
    assert kiosk.get("/api/summary").status_code == 200
    ok = admin.put(
        "/api/admin/opening-hours", json={"opening_hours": {"mon": ["07:30-11:30", "13:30-17:00"]}}
    )
    assert ok.status_code == 200


@pytest.mark.parametrize("choice, final", [("no_show", "no_show"), ("serve", "served")])
def test_a_repeated_call_next_never_finishes_the_ticket_it_just_called(server, choice, final):
    """The console queues a second click on "no-show"/"served" behind the first (or a retry repeats
    it): the copy used to finish the ticket the first had called a moment before (A002 lost)."""
    _, conn, cl = server
    officer = cl["officer"]
    for _ in range(3):
        assert cl["kiosk"].post("/api/tickets", json={"service": "A"}).status_code == 201
    assert officer.post("/api/counters/1/call-next", json={}).json()["ticket"]["code"] == "A001"
    asked = officer.post("/api/counters/1/call-next", json={})
    assert asked.status_code == 409 and asked.json()["code"] == "A001"
    decision = {"current": choice, "current_code": "A001"}
    first = officer.post("/api/counters/1/call-next", json=decision)
    again = officer.post("/api/counters/1/call-next", json=decision)
    assert first.status_code == 200 and first.json()["ticket"]["code"] == "A002"
    assert again.status_code == 409 and again.json()["error"] == "CurrentNotStarted"
    assert again.json()["code"] == "A002"  # the console asks about A002 instead
    states = dict(conn.execute("SELECT series || printf('%03d', number), state FROM tickets"))
    assert states == {"A001": final, "A002": "called", "A003": "waiting"}
    # the same for calling a chosen ticket out of order
    decision = {"current": choice, "current_code": "A001"}
    r = officer.post("/api/tickets/A003/call", params={"counter": 1}, json=decision)
    assert r.status_code == 409 and r.json()["code"] == "A002"
    assert officer.post("/api/counters/1/call-next", json={"current_code": "A1"}).status_code == 422


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="apt install chromium")
def test_a_double_click_on_no_show_in_the_console_loses_nobody(server):
    """Real Chromium: the officer double-clicks "no-show" in the console's question about A001."""
    from playwright.sync_api import expect

    handle, conn, cl = server
    for _ in range(3):
        cl["kiosk"].post("/api/tickets", json={"service": "A"})
    with chromium() as browser:
        page = browser.new_page()
        browser_login(page, handle.url, "lan", "/console/1")
        page.click("#btn-next")
        expect(page.locator("#current-code")).to_have_text("A001")
        page.click("#btn-next")  # A001 never started: the console asks
        expect(page.locator("#ask")).to_be_visible()
        expect(page.locator("#ask-code")).to_have_text("A001")
        page.dblclick("#ask-noshow")  # two clicks, the second queued behind the first
        expect(page.locator("#current-code")).to_have_text("A002")
        expect(page.locator("#ask-code")).to_have_text("A002")  # asked about A002, not marked no-show
        expect(page.locator("#ask")).to_be_visible()
    states = dict(conn.execute("SELECT series || printf('%03d', number), state FROM tickets"))
    assert states == {"A001": "no_show", "A002": "called", "A003": "waiting"}  # was A002 no_show, A003 called


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "26-11", "2026-1", "1900-01", "2026-11%00", "x"])
def test_a_month_that_is_not_one_is_a_422_not_this_months_figures(server, month):
    admin = server[2]["admin"]
    for path in ("/api/indicators", "/indicators"):
        r = admin.get(f"{path}?month={month}")
        assert r.status_code == 422, (path, month, r.status_code)  # was 200 with this month's figures
    assert admin.get("/api/indicators?month=2026-11").json()["month"] == "2026-11"
    assert admin.get("/indicators?month=2100-12").status_code == 200


def test_an_officer_cannot_put_their_calls_on_a_colleagues_name(server):
    _, conn, cl = server
    for _ in range(2):
        cl["kiosk"].post("/api/tickets", json={"service": "A"})
    officer = cl["officer"]  # lan, at counter 1
    assert officer.post("/api/counters/1/call-next", json={"actor": "officer:minh"}).status_code == 200
    assert (
        officer.post(
            "/api/counters/1/call-next",
            json={"actor": "officer:minh", "current": "no_show", "current_code": "A001"},
        ).status_code
        == 200
    )
    rep = cl["admin"].get("/api/reports", params={"start": "2026-11-25"}).json()
    assert set(rep["by_officer"]) == {"lan"}  # was {"minh"}: lan's no-show counted against minh
    actors = {r[0] for r in conn.execute("SELECT actor FROM queue_events WHERE kind IN ('call', 'no_show')")}
    assert actors == {"officer:lan/officer:minh"}  # the log keeps both names


def test_an_upload_is_refused_before_its_body_is_parsed_unless_an_admin_sends_it(server, monkeypatch):
    """/dossiers/import declared its file as a parameter: FastAPI parsed the multipart body (up to
    max_body_mb, files spooled to disk) before the login check, for anyone."""
    from starlette import formparsers

    _, conn, cl = server
    parsed = []
    real = formparsers.MultiPartParser.parse

    async def counting(self):
        parsed.append(1)
        return await real(self)

    monkeypatch.setattr(formparsers.MultiPartParser, "parse", counting)
    fields = b"".join(
        b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(1200)
    )
    upload = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.json"\r\n\r\n' + b" " * (
        3 << 20
    )
    headers = {"content-type": "multipart/form-data; boundary=B", "Accept": "application/json"}
    for who, status in (("anon", 401), ("officer", 403)):
        for body in (fields + b"--B--\r\n", upload + b"\r\n--B--\r\n"):
            r = cl[who].post("/dossiers/import", content=body, headers=headers)
            assert r.status_code == status, (who, r.status_code, r.text[:80])  # was 400 "Too many fields"
    assert parsed == []
    # the administrator's import works as before (the form is read after the check)
    r = cl["admin"].post("/dossiers/import", files={"file": ("export.json", b"[]")})
    assert r.status_code in (200, 422) and parsed == [1]
    r = cl["admin"].post("/dossiers/import", data={"note": "no file"})
    assert r.status_code == 422 and conn.execute("SELECT count(*) FROM dossiers").fetchone()[0] == 0


def test_a_bug_in_a_statement_stays_a_500_not_a_storage_503():
    import asyncio

    from staff.app import _storage_unavailable

    bug = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as caught:
        bug.execute("SELECT * FROM no_such_table")
    with pytest.raises(sqlite3.OperationalError):  # re-raised: the server answers 500 and logs it
        asyncio.run(_storage_unavailable(None, caught.value))


def test_a_full_disk_is_a_clear_503_and_what_was_saved_stays_whole(server, monkeypatch):
    """SQLite's own 'database or disk is full' (max_page_count at the file's size on every
    connection of the server, old and new): writes that need a new page fail."""
    import staff.app as staff_app

    handle, conn, cl = server
    full = []

    def cap(c):
        pages = c.execute("PRAGMA page_count").fetchone()[0]
        c.execute(f"PRAGMA max_page_count = {pages}")

    real_connect = staff_app.connect

    def connect_full(*args, **kw):
        c = real_connect(*args, **kw)
        if full:
            cap(c)
        return c

    monkeypatch.setattr(staff_app, "connect", connect_full)
    full.append(True)
    for _thread, c in list(handle.app.state.staff._all):
        cap(c)
    admin, saved, answers = cl["admin"], [], set()
    for i in range(300):
        key = "g_" + "".join(chr(97 + int(d)) for d in f"{i:03d}")
        r = admin.put(
            f"/api/admin/priority-groups/{key}", json={"name_vi": "Nhóm " + "ư" * 90, "name_en": "x" * 100}
        )
        answers.add(r.status_code)
        if r.status_code == 200:
            saved.append(key)
        else:
            assert r.status_code == 503 and r.json()["error"] == "StorageUnavailable", r.text[:200]
            assert "full" in r.json()["message"] and r.headers["retry-after"] == "5"
            break
    assert answers & {503}, "the database never filled up"
    # every group answered 200 is there with its audit row; the refused one left nothing behind
    rows = {r[0] for r in conn.execute("SELECT key FROM priority_group_settings")}
    logged = {
        r[0] for r in conn.execute("SELECT entity_key FROM audit_log WHERE action='priority_group.create'")
    }
    assert rows == logged == set(saved)
    # a ticket taken while the disk is full: refused; once there is room, the retry issues it once
    tap = {"service": "A", "idempotency_key": "tap-full"}
    for i in range(400):  # tickets fill the room left in their pages, then need a new one
        r = cl["kiosk"].post("/api/tickets", json={**tap, "idempotency_key": f"fill-{i}"})
        if r.status_code == 503:
            break
    assert r.status_code == 503 and r.json()["error"] == "QueueStorageError"
    assert cl["kiosk"].post("/api/tickets", json=tap).status_code == 503
    full.clear()
    for _thread, c in list(handle.app.state.staff._all):
        c.execute("PRAGMA max_page_count = 1073741823")
    issued = {cl["kiosk"].post("/api/tickets", json=tap).json()["ticket"]["id"] for _ in range(2)}
    assert len(issued) == 1
    keys = [r[0] for r in conn.execute("SELECT key FROM ticket_requests WHERE key LIKE '%tap-full'")]
    assert len(keys) == 1


def test_a_failed_commit_does_not_leave_the_connection_in_a_transaction(tmp_path):
    """A COMMIT refused (disk full) left the transaction open: every later BEGIN on that server
    thread's connection failed ("cannot start a transaction within a transaction")."""

    class RefusingCommit:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql, *args):
            if sql == "COMMIT":
                raise sqlite3.OperationalError("database or disk is full")
            return self.conn.execute(sql, *args)

        @property
        def in_transaction(self):
            return self.conn.in_transaction

    conn = connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t(x)")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        with centre_db.transaction(RefusingCommit(conn)) as c:
            c.execute("INSERT INTO t VALUES (1)")
    assert not conn.in_transaction and conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    with centre_db.transaction(conn) as c:  # the connection works again
        c.execute("INSERT INTO t VALUES (2)")
    assert [tuple(r) for r in conn.execute("SELECT x FROM t")] == [(2,)]


def test_a_failed_login_name_cannot_hide_or_reverse_itself_in_the_admins_lists(server):
    _, conn, cl = server
    anon = cl["anon"]
    anon.cookies.set(auth.FORM_CSRF_COOKIE, "form-token")
    for typed in ("boss\u200b", "\u202enimda", "lan\x00"):
        r = anon.post("/login", data={"name": typed, "password": "guess-1", "csrf_token": "form-token"})
        assert r.status_code == 401
    names = [a["name"] for a in cl["admin"].get("/api/admin/logins").json()]
    assert names[:3] == ["lan\\u0000", "\\u202enimda", "boss\\u200b"]  # was the raw characters
    logged = {r[0] for r in conn.execute("SELECT actor FROM audit_log WHERE action='login.failed'")}
    assert logged == {"lan\\u0000", "\\u202enimda", "boss\\u200b"}
    assert not any(c in str(cl["admin"].get("/api/admin/audit").json()) for c in ("\u200b", "\u202e", "\x00"))
