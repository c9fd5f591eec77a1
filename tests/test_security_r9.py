"""Round 9 attacks from outside, on real servers: the provincial hub (a real `python -m province
serve` process on the test PostgreSQL 15 cluster) and the staff server (real uvicorn).

Hub: a dossier whose received date or finished date moves in a later batch (a corrected re-import
at the ward, a dossier event stamped earlier by a clock set back) used to stay counted on its old
day too: the hub rebuilt only the new day's counts, so the month's report counted the dossier
twice (received in October and in November)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import psycopg
import pytest
from province_helpers import PASSWORD, Hub, add_user, new_database, serving_hub

from province.auth import add_centre
from province.db import migrate


def password_changes(client, csrf: str, olds: list[str], **options) -> list[int]:
    """POST /account/password once per current password in `olds` (the new one "Mat-khau-moi-r9");
    the status codes."""
    codes = []
    for old in olds:
        form = {"old": old, "new": "Mat-khau-moi-r9", "repeat": "Mat-khau-moi-r9", "csrf_token": csrf}
        codes.append(client.post("/account/password", data=form, **options).status_code)
    return codes


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    yield from serving_hub(tmp_path_factory.mktemp("hub"), ("r9a", "r9b"), "so-r9")


def _send(h: Hub, token: str, centre: str, *events: dict) -> httpx.Response:
    batch = [
        {"uid": uuid.uuid4().hex, "seq": i + 1, "kind": kind, "at": time.time(), "data": data}
        for i, (kind, data) in enumerate((e["kind"], e["data"]) for e in events)
    ]
    return httpx.post(
        h.url + "/api/v1/ingest",
        content=json.dumps({"centre": centre, "events": batch}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=60,
    )


def _dossier(code: str, received: str, state: str = "processing") -> dict:
    return {
        "kind": "dossier",
        "data": {
            "code": code,
            "procedure_code": "1.000894",
            "received_at": received,
            "due_at": "2026-11-28",
            "state": state,
            "channel": "online",
            "digitised": 1,
            "updated_at": received,
        },
    }


def _figures(h: Hub, centre: str, *periods: str) -> dict[str, dict]:
    """The ward's row of /api/v1/wards for each period, read by a logged-in province user."""
    with httpx.Client(base_url=h.url, timeout=30) as client:
        page = client.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"name": "so-r9", "password": PASSWORD, "csrf_token": csrf, "next": "/"})
        out = {}
        for p in periods:
            wards = client.get("/api/v1/wards", params={"period": p}).json()["wards"]
            out[p] = next(w for w in wards if w["centre_id"] == centre)
    return out


@pytest.mark.slow
def test_a_dossier_whose_received_date_is_corrected_is_counted_once(hub):
    h, tokens, _ = hub
    assert _send(h, tokens["r9a"], "r9a", _dossier("R9-0001", "2026-11-02T09:00")).json()["stored"] == 1
    # The one-stop platform corrects the receipt date: the ward's register updates the row, the
    # outbox sends its new snapshot.
    assert _send(h, tokens["r9a"], "r9a", _dossier("R9-0001", "2026-10-30T09:00")).json()["stored"] == 1
    f = _figures(h, "r9a", "2026-10", "2026-11", "2026-11-02", "2026-Q4")
    assert f["2026-10"]["dossiers_received"] == 1
    # was 1: November still counted the dossier on its old day, and the quarter twice
    assert f["2026-11"]["dossiers_received"] == 0 and f["2026-11-02"]["dossiers_received"] == 0
    assert f["2026-Q4"]["dossiers_received"] == 1


@pytest.mark.slow
def test_a_dossier_finished_earlier_than_first_told_is_counted_once(hub):
    h, tokens, _ = hub
    t = tokens["r9b"]
    assert _send(h, t, "r9b", _dossier("R9-0002", "2026-11-03T09:00")).json()["stored"] == 1
    ready = {
        "kind": "dossier_event",
        "data": {"code": "R9-0002", "at": "2026-11-24T10:00:00", "state": "ready"},
    }
    assert _send(h, t, "r9b", ready).json()["stored"] == 1
    # an event stamped earlier arrives later (the ward's clock was wrong, then mended; an import
    # of the platform's history): the dossier was finished on the 20th, not the 24th
    earlier = {
        "kind": "dossier_event",
        "data": {"code": "R9-0002", "at": "2026-11-20T10:00:00", "state": "returned"},
    }
    assert _send(h, t, "r9b", earlier).json()["stored"] == 1
    f = _figures(h, "r9b", "2026-11", "2026-11-20", "2026-11-24")
    assert f["2026-11-20"]["dossiers_finished"] == 1
    assert f["2026-11-24"]["dossiers_finished"] == 0  # was 1
    assert f["2026-11"]["dossiers_finished"] == 1  # was 2: one dossier, finished twice


@pytest.mark.slow
def test_a_nul_in_a_synced_text_does_not_stop_the_wards_sync(hub):
    h, tokens, dsn = hub
    t = tokens["r9b"]
    bad = _dossier("R9-0003", "2026-11-05T09:00")
    bad["data"]["counter"] = "Quầy\x00 2"
    bad["data"]["procedure_code"] = "1.000\x00894"
    ticket = {
        "kind": "ticket",
        "data": {
            "token": "r9-nul",
            "day": "2026-11-05",
            "service": "A",
            "state": "waiting",
            "issued_at": 1.7623e9,
            "procedure_key": "khai-sinh\x00",
        },
    }
    r = _send(h, t, "r9b", bad, ticket)
    # was 422 ("unsupported Unicode escape sequence"): the ward's agent resends the same batch for
    # ever, and nothing the ward does after it ever reaches the province
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 2
    with psycopg.connect(dsn) as c:
        row = c.execute(
            "SELECT procedure_code FROM dossiers WHERE centre_id = 'r9b' AND code = 'R9-0003'"
        ).fetchone()
    assert row[0] == "1.000\ufffd894"


@pytest.mark.slow
def test_one_ward_sending_batches_at_once_cannot_take_every_hub_connection(tmp_path):
    """A ward's token (a copied agent, a stuck retry loop, a stolen token) posting several batches
    at once: each waited for the ward's lock *holding* one of the hub's four database connections,
    so the dashboard, the logins and every other ward's sync waited behind them (or got a 500
    after 60 s). Now a batch of a ward that already has one in progress is a 429 at once."""
    from concurrent.futures import ThreadPoolExecutor

    dsn = new_database()
    migrate(dsn)
    with psycopg.connect(dsn, autocommit=True) as c:
        tokens = {cid: add_centre(c, cid) for cid in ("busy", "calm")}
    h = Hub(dsn, tmp_path / "hub.log").start(PROVINCE_INGEST_DELAY_S="2.5")  # each batch holds its lock 2.5 s
    try:
        ticket = {
            "kind": "ticket",
            "data": {
                "token": "t",
                "day": "2026-11-05",
                "service": "A",
                "state": "waiting",
                "issued_at": 1.7623e9,
            },
        }
        with ThreadPoolExecutor(8) as pool:
            flood = [pool.submit(_send, h, tokens["busy"], "busy", ticket) for _ in range(6)]
            time.sleep(0.8)  # the six batches have reached the hub
            t0 = time.monotonic()
            health = httpx.get(h.url + "/healthz", timeout=60)
            waited = time.monotonic() - t0
            answers = [f.result() for f in flood]
        assert health.status_code == 200
        assert waited < 1.5, f"the hub's connections were all taken by one ward for {waited:.1f} s"
        codes = sorted(r.status_code for r in answers)
        assert codes == [200] + [429] * 5, codes
        assert all(r.headers.get("retry-after") for r in answers if r.status_code == 429)
        # refused, not lost: the agent sends them again (one batch in flight) and each is stored
        for _ in range(5):
            assert _send(h, tokens["busy"], "busy", ticket).json()["stored"] == 1
        with psycopg.connect(dsn) as c:
            assert c.execute("SELECT count(*) FROM events WHERE centre_id = 'busy'").fetchone()[0] == 6
    finally:
        h.stop()


@pytest.mark.slow
def test_a_second_batch_of_a_ward_still_sending_one_is_refused_before_its_body(hub):
    """While a ward's batch is still arriving, another batch with its token is a 429 at once, its
    body never read: each such request used to be buffered and parsed (up to 64 MB of JSON each),
    so one token posting many at once could take the hub's memory."""
    import threading

    h, tokens, dsn = hub
    t = tokens["r9a"]
    event = {"uid": uuid.uuid4().hex, "seq": 1, "kind": "setting", "at": time.time(), "data": {"n": 1}}
    go_on = threading.Event()

    def slow_body():
        yield b'{"centre": "r9a", "events": ['
        go_on.wait(20)  # the ward's agent is slow to send the rest (a slow line)
        yield json.dumps(event).encode() + b"]}"

    first: dict = {}

    def send_first():
        first["r"] = httpx.post(
            h.url + "/api/v1/ingest",
            content=slow_body(),
            timeout=60,
            headers={"Authorization": f"Bearer {t}", "Content-Type": "application/json"},
        )

    sender = threading.Thread(target=send_first)
    sender.start()
    try:
        time.sleep(1.0)  # the first batch's headers are in; its body is not
        second = _send(h, t, "r9a", {"kind": "setting", "data": {"n": 2}})
        assert second.status_code == 429, second.text  # was 200: read, parsed and stored beside the first
        assert second.headers.get("retry-after")
    finally:
        go_on.set()
        sender.join(30)
    assert first["r"].status_code == 200 and first["r"].json()["stored"] == 1
    assert (
        _send(h, t, "r9a", {"kind": "setting", "data": {"n": 2}}).json()["stored"] == 1
    )  # sent again: stored


@pytest.mark.slow
def test_a_lone_surrogate_in_a_batch_is_a_clear_422_not_a_500(hub):
    h, tokens, _ = hub
    event = {"uid": uuid.uuid4().hex, "seq": 1, "kind": "setting", "at": time.time(), "data": {"x": "\ud800"}}
    body = '{"centre": "r9b", "events": [' + json.dumps(event) + "]}"  # "\\ud800": valid JSON, not valid text
    r = httpx.post(
        h.url + "/api/v1/ingest",
        content=body.encode(),
        timeout=30,
        headers={"Authorization": f"Bearer {tokens['r9b']}", "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "surrogate" in r.json()["detail"], (r.status_code, r.text)  # was a 500


@pytest.mark.slow
def test_a_nul_in_the_hubs_login_form_is_a_plain_refusal_not_a_500(hub):
    h, _, _ = hub
    with httpx.Client(base_url=h.url, timeout=30) as client:
        page = client.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        for name in ("so-r9\x00", "\x00", "so\x00-r9"):
            form = {"name": name, "password": PASSWORD, "csrf_token": csrf, "next": "/"}
            r = client.post("/login", data=form, follow_redirects=False)
            # was a 500: PostgreSQL text cannot hold NUL, and the name went to the attempts table as typed
            assert r.status_code == 401, (repr(name), r.status_code)
            assert "province_session" not in r.cookies


@pytest.mark.slow
def test_four_failed_logins_at_once_do_not_hang_the_hub(tmp_path):
    """A failed login rendered its page while still holding its database connection, and the page
    took a second one: four anonymous wrong logins at once held the hub's four connections, each
    waiting for another, and the whole hub (dashboard, every ward's sync) hung for 60 s, then 500s."""
    from concurrent.futures import ThreadPoolExecutor

    dsn = new_database()
    migrate(dsn)
    h = Hub(dsn, tmp_path / "hub.log").start()
    try:

        def guess(i: int) -> int:
            with httpx.Client(base_url=h.url, timeout=60) as client:
                page = client.get("/login")
                csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                form = {"name": f"nobody-{i}", "password": "wrong-guess-1", "csrf_token": csrf, "next": "/"}
                return client.post("/login", data=form, follow_redirects=False).status_code

        t0 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(guess, range(8)))
        took = time.monotonic() - t0
        assert codes == [401] * 8, codes
        assert took < 15, f"eight failed logins took {took:.0f} s"
        assert httpx.get(h.url + "/healthz", timeout=5).status_code == 200
    finally:
        h.stop()


@pytest.mark.slow
def test_simultaneous_wrong_passwords_do_not_slip_past_the_hubs_lockout(hub):
    """Passwords guessed in parallel at the hub: every attempt checked the lock before any of them
    was recorded, so twelve guesses at once were all tried (the lockout allows 5 a name from one
    address). Each attempt is now counted when its check passes, before the password is verified."""
    from concurrent.futures import ThreadPoolExecutor

    h, _, dsn = hub
    add_user(dsn, "giam-doc-r9")

    def guess(i: int) -> int:
        with httpx.Client(base_url=h.url, timeout=60) as client:
            page = client.get("/login")
            csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            form = {"name": "giam-doc-r9", "password": f"wrong-guess-{i}", "csrf_token": csrf, "next": "/"}
            return client.post("/login", data=form, follow_redirects=False).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(guess, range(12)))
    assert codes.count(401) == 5 and codes.count(429) == 7, codes  # was twelve 401s: twelve passwords tried
    with psycopg.connect(dsn, autocommit=True) as c:  # later tests log in from 127.0.0.1 too
        c.execute("DELETE FROM hub_login_attempts WHERE name = 'giam-doc-r9'")


@pytest.mark.slow
def test_guessing_the_current_password_on_the_hubs_account_page_is_limited(hub):
    """The hub's /account/password checked the current password with no limit (a stolen session
    cookie could guess for ever); wrong ones now count as failed logins (5, then 429)."""
    h, _, dsn = hub
    add_user(dsn, "van-thu-r9")
    with httpx.Client(base_url=h.url, timeout=30) as client:
        page = client.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post(
            "/login", data={"name": "van-thu-r9", "password": PASSWORD, "csrf_token": csrf, "next": "/"}
        )
        csrf = client.get("/account").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        codes = password_changes(client, csrf, [f"wrong-guess-{i}" for i in range(8)], follow_redirects=False)
    with psycopg.connect(dsn, autocommit=True) as c:  # later tests log in from 127.0.0.1 too
        c.execute("DELETE FROM hub_login_attempts WHERE name = 'van-thu-r9'")
    assert codes == [422] * 5 + [429] * 3, codes  # was eight 422s: eight passwords tried


# -- the staff server ---------------------------------------------------------------------------


@pytest.fixture
def staff_server(tmp_config, tmp_path):
    """A real staff server (uvicorn in a thread) with two administrators logged in."""
    from staff_helpers import OPEN_TIME

    from centre import users
    from centre.clock import FixedClock
    from centre.db import connect
    from staff import auth
    from staff.server import free_port, start_in_thread

    db_path = tmp_path / "centre.db"
    handle = start_in_thread(
        tmp_config, host="127.0.0.1", port=free_port(), clock=FixedClock(OPEN_TIME), db_path=db_path
    )
    conn = connect(db_path)
    clients = {}
    for name in ("boss", "boss2"):
        user = users.create_user(conn, name, "admin", "Quan-tri-vien-r9!")
        token, sess = users.create_session(conn, user, hours=1)
        clients[name] = httpx.Client(
            base_url=handle.url,
            timeout=30,
            cookies={auth.SESSION_COOKIE: token},
            headers={"X-CSRF-Token": sess.csrf},
        )
    try:
        yield handle, conn, clients
    finally:
        for c in clients.values():
            c.close()
        handle.stop()


def test_two_admins_at_once_cannot_remove_the_last_administrator(staff_server, monkeypatch):
    """Disabling one admin and demoting the other in two simultaneous requests: each checked
    "another admin is left" before its own write, both passed, and the centre had no administrator
    (only the command line could mend it). The check now runs inside the write transaction."""
    from concurrent.futures import ThreadPoolExecutor

    from centre import users

    _, conn, cl = staff_server
    ids = {u.name: u.id for u in users.list_users(conn)}
    strength = users.check_password_strength

    def slow_strength(*a, **kw):  # the password check sits between the count and the write: widen it
        time.sleep(0.5)
        return strength(*a, **kw)

    monkeypatch.setattr(users, "check_password_strength", slow_strength)
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(
            cl["boss"].put,
            f"/api/admin/users/{ids['boss2']}",
            json={"active": False, "password": "Bo-new-pass-r9a"},
        )
        b = pool.submit(
            cl["boss"].put,
            f"/api/admin/users/{ids['boss']}",
            json={"role": "officer", "counters": [1], "password": "Bo-new-pass-r9b"},
        )
        answers = sorted((a.result().status_code, b.result().status_code))
    assert users.count_admins(conn) == 1, "no active administrator left"
    assert answers == [200, 422], answers


def test_simultaneous_wrong_passwords_do_not_slip_past_the_lockout(staff_server):
    """Passwords guessed in parallel (held: the staff server's login runs on its event loop, one
    at a time; the hub's did not, see the hub's test above)."""
    from concurrent.futures import ThreadPoolExecutor

    from staff import auth

    handle, _, _ = staff_server

    def guess(i: int) -> int:
        with httpx.Client(base_url=handle.url, timeout=60) as c:
            c.cookies.set(auth.FORM_CSRF_COOKIE, "form-token")
            form = {"name": "boss", "password": f"wrong-guess-{i}", "csrf_token": "form-token", "next": "/"}
            return c.post("/login", data=form, headers={"Accept": "text/html"}).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(guess, range(12)))
    assert codes.count(401) == 5 and codes.count(429) == 7, codes


def test_guessing_the_current_password_on_the_account_page_is_limited(staff_server):
    """/account/password checked the current password with no limit: a stolen session cookie (or
    the hall TV's 30-day display session) could try passwords for ever, each a 0.1 s scrypt on the
    server's event loop (every console and the hall display waited meanwhile). Wrong current
    passwords now count as failed logins of that name from that address (5, then 429)."""
    _, conn, cl = staff_server
    admin = cl["boss2"]
    html = {"headers": {"Accept": "text/html"}}
    codes = password_changes(admin, admin.headers["X-CSRF-Token"], [f"wrong-guess-{i}" for i in range(8)], **html)
    assert codes == [422] * 5 + [429] * 3, codes  # was eight 422s: eight passwords tried
    # even the right one is refused while locked (so guessing cannot tell), and so is the login form
    assert password_changes(admin, admin.headers["X-CSRF-Token"], ["Quan-tri-vien-r9!"], **html) == [429]
    from centre import users

    assert users.authenticate(conn, "boss2", "Quan-tri-vien-r9!", "10.9.9.9")  # another address: not locked
