"""Round-10 leftover faults: the counter a dossier names is a core rule (Config.find_counter), the
queue's current_code reaches the CLI and the staff console, scrypt runs off the event loop, and the
hub's centres.last_seq never goes backwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "text,counter_id",
    [
        ("2", 2),
        ("Quầy 2", 2),
        ("  quầy   3 ", 3),
        ("QUẦY 1", 1),
        ("Counter 2", 2),
        ("counter 3", 3),
        ("Quay 1", 1),
        ("quầy 2", 2),
    ],
)
def test_find_counter_is_a_core_rule_by_number_or_name(project_config, text, counter_id):
    assert project_config.find_counter(text).id == counter_id


@pytest.mark.parametrize("text", ["", "   ", "99", "Quầy 99", "Quầy", "Phòng 2", "2a"])
def test_find_counter_names_none(project_config, text):
    assert project_config.find_counter(text) is None


def test_find_counter_lives_only_in_the_core():
    """One rule in one place: the kiosk adapter no longer has its own copy."""
    import kiosk.aloud

    assert not hasattr(kiosk.aloud, "find_counter")


# -- 2. current_code from the CLI and from the console's "call this ticket" ----------------------


@pytest.fixture
def cli(capsys, tmp_path):
    """`kiosk -c <tmp config> ...` in-process: (exit status, stdout, stderr)."""
    from kiosk.cli import main

    cfg = tmp_path / "config.yaml"
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
    cfg.write_text(text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"'), encoding="utf-8")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["-c", str(cfg), *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def _states(run) -> dict:
    code, out, err = run("ticket", "list", "--json")
    assert code == 0, err
    return {t["code"]: t["state"] for t in json.loads(out)}


@pytest.mark.parametrize("how", [(), ("--ticket", "A003")])
def test_cli_call_answers_about_the_ticket_it_names(cli, how):
    for _ in range(3):
        assert cli("ticket", "issue", "-s", "A", "--ignore-hours")[0] == 0
    assert cli("ticket", "call", "-k", "1")[0] == 0  # A001 called, never started
    code, _, err = cli("ticket", "call", "-k", "1", *how)
    assert code == 2 and "A001" in err and "--current-code A001" in err  # asked, and told how to answer
    # the answer names another ticket than the counter holds: asked again, nothing finished
    code, _, err = cli("ticket", "call", "-k", "1", *how, "--current", "no-show", "--current-code", "A002")
    assert code == 2 and "A001" in err
    assert _states(cli) == {"A001": "called", "A002": "waiting", "A003": "waiting"}
    code, out, err = cli(
        "ticket", "call", "-k", "1", *how, "--current", "no-show", "--current-code", "a001", "--json"
    )
    assert code == 0, err
    called = json.loads(out)["code"]
    assert called == ("A003" if how else "A002")
    # the same command repeated (a retry): asked about the ticket it just called, which stays called
    code, _, err = cli("ticket", "call", "-k", "1", "--current", "no-show", "--current-code", "A001")
    assert code == 2 and called in err
    states = _states(cli)
    assert states["A001"] == "no_show" and states[called] == "called"


def test_cli_serve_answer_and_a_bad_code(cli, capsys):
    for _ in range(2):
        cli("ticket", "issue", "-s", "A", "--ignore-hours")
    cli("ticket", "call", "-k", "1")
    with pytest.raises(SystemExit) as exited:  # argparse refuses it
        cli("ticket", "call", "-k", "1", "--current", "serve", "--current-code", "A1")
    assert exited.value.code == 2 and "not a ticket code" in capsys.readouterr().err
    code, out, err = cli(
        "ticket", "call", "-k", "1", "--current", "serve", "--current-code", "A001", "--json"
    )
    assert code == 0 and json.loads(out)["code"] == "A002", err
    assert _states(cli)["A001"] == "served"


@pytest.fixture
def server(tmp_config, tmp_path):
    """A real staff server on a free port, with an officer at counter 1 and three A tickets."""
    from staff_helpers import OPEN_TIME, PASSWORDS

    from centre import queue as q
    from centre import users
    from centre.clock import FixedClock
    from centre.db import connect
    from staff.server import free_port, start_in_thread

    db_path = tmp_path / "centre.db"
    clock = FixedClock(OPEN_TIME)
    handle = start_in_thread(tmp_config, host="127.0.0.1", port=free_port(), clock=clock, db_path=db_path)
    conn = connect(db_path)
    users.create_user(conn, "lan", "officer", PASSWORDS["lan"], counters=[1])
    qu = q.Queue(connect(db_path), tmp_config, clock)
    for _ in range(3):
        qu.issue("A", actor="kiosk")
    yield handle, conn
    handle.stop()


@pytest.mark.slow
def test_console_call_this_ticket_asks_and_answers_about_the_shown_code(server):
    """Real Chromium: "call this ticket" (A003) while A001 was called and never started. Before: the
    console printed the server's refusal and offered no answer; the call sent no current_code."""
    from playwright.sync_api import expect
    from staff_helpers import CHROMIUM, browser_login, chromium

    if not CHROMIUM.exists():
        pytest.skip("apt install chromium")
    handle, conn = server
    with chromium() as browser:
        page = browser.new_page()
        sent = []
        page.on(
            "request", lambda r: "/call" in r.url and r.method == "POST" and sent.append(r.post_data_json)
        )
        browser_login(page, handle.url, "lan", "/console/1")
        page.click("#btn-next")
        expect(page.locator("#current-code")).to_have_text("A001")
        page.locator("#waiting-body tr", has_text="A003").locator("button").click()
        expect(page.locator("#ask")).to_be_visible()  # asked, as for "Next"
        expect(page.locator("#ask-code")).to_have_text("A001")
        page.click("#ask-noshow")
        expect(page.locator("#current-code")).to_have_text("A003")  # the chosen ticket, not the next one
        expect(page.locator("#ask")).to_be_hidden()
    states = dict(conn.execute("SELECT series || printf('%03d', number), state FROM tickets"))
    assert states == {"A001": "no_show", "A002": "waiting", "A003": "called"}
    assert sent[-1] == {"current": "no_show", "current_code": "A001"}


# -- 3. scrypt off the event loop ------------------------------------------------------------------


def _login(url: str, name: str, password: str) -> int:
    """One login through the real form (double-submit CSRF cookie): its status code."""
    import httpx

    from staff import auth

    with httpx.Client(base_url=url, timeout=30, cookies={auth.FORM_CSRF_COOKIE: "c" * 20}) as client:
        form = {"name": name, "password": password, "csrf_token": "c" * 20, "next": "/"}
        return client.post("/login", data=form, follow_redirects=False).status_code


def _slow_password_checks(monkeypatch, module) -> dict:
    """Every password check of `module` takes 0.8 s more; records how many ran at once."""
    import threading
    import time

    real, lock, seen = module.verify_password, threading.Lock(), {"now": 0, "most": 0}

    def slow(password: str, stored: str) -> bool:
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        try:
            time.sleep(0.8)
            return real(password, stored)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(module, "verify_password", slow)
    return seen


@pytest.fixture
def slow_hash(monkeypatch):
    """The staff server's password checks take 0.8 s more (centre.users)."""
    from centre import users

    return _slow_password_checks(monkeypatch, users)


@pytest.mark.slow
def test_a_burst_of_logins_does_not_stall_the_other_requests(server, slow_hash):
    """Before: scrypt ran on the event loop, so four logins held every other request for 3.2 s
    (the hall display, the counters); now they run in threads, two at a time."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from staff_helpers import PASSWORDS

    from staff.passwords import HASH_WORKERS

    handle, _ = server
    names = [("lan", PASSWORDS["lan"]), ("lan", "wrong-password-1"), ("nobody", "x" * 12), ("lan", "wrong-2")]
    with ThreadPoolExecutor(4) as pool:
        logins = [pool.submit(_login, handle.url, n, p) for n, p in names]
        time.sleep(0.3)  # the logins are being checked
        t0 = time.monotonic()
        other = httpx.get(handle.url + "/t/no-such-token", timeout=30)
        waited = time.monotonic() - t0
        codes = [f.result() for f in logins]
    assert other.status_code == 404 and waited < 1.0, f"another request waited {waited:.2f} s"
    assert codes == [303, 401, 401, 401]
    assert slow_hash["most"] == HASH_WORKERS  # bounded: not one thread per login


@pytest.mark.slow
def test_simultaneous_wrong_passwords_do_not_slip_past_the_staff_lockout(server):
    """Checked in threads, twelve guesses at once each checked the lock before any was recorded;
    each attempt is now written (as a failure) in the transaction that checks the lock."""
    from concurrent.futures import ThreadPoolExecutor

    handle, _ = server
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda i: _login(handle.url, "lan", f"wrong-guess-{i}"), range(12)))
    assert codes.count(401) == 5 and codes.count(429) == 7, codes


@pytest.fixture
def hub_in_process(tmp_path):
    """The hub app on a new database of the test cluster, served by uvicorn in a thread of this
    process (so a test can slow its password checks); yields (url, dsn, app)."""
    import threading
    import time

    import uvicorn
    from province_helpers import add_user, new_database

    from province.app import create_app
    from province.cluster import free_port
    from province.db import migrate

    dsn = new_database()
    migrate(dsn)
    add_user(dsn, "so-noi-vu")
    port = free_port()
    app = create_app(dsn, migrate_db=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", dsn, app
    server.should_exit = True
    thread.join(10)


def _hub_login(url: str, name: str, password: str) -> int:
    import httpx
    from province_helpers import login

    with httpx.Client(base_url=url, timeout=60) as client:
        return login(client, name, password).status_code


@pytest.mark.slow
def test_a_burst_of_hub_logins_leaves_the_pool_to_the_wards(hub_in_process, monkeypatch):
    """Before: each login held one of the hub's four database connections for its scrypt, and
    every login ran its own at once: eight logins took the pool (the wards' batches, /healthz and
    the pages waited 2.2 s). Now the scrypt holds no connection and runs two at a time."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from province_helpers import PASSWORD

    from province import users
    from staff.passwords import HASH_WORKERS

    url, _, _ = hub_in_process
    seen = _slow_password_checks(monkeypatch, users)
    tries = [("so-noi-vu", PASSWORD)] + [("so-noi-vu", f"wrong-{i}-password") for i in range(3)]
    tries += [(f"khach-{i}", "wrong-password") for i in range(4)]
    with ThreadPoolExecutor(8) as pool:
        logins = [pool.submit(_hub_login, url, n, p) for n, p in tries]
        time.sleep(0.5)  # the logins are being checked
        t0 = time.monotonic()
        health = httpx.get(url + "/healthz", timeout=60)
        waited = time.monotonic() - t0
        codes = [f.result() for f in logins]
    assert health.status_code == 200 and waited < 1.0, f"/healthz waited {waited:.2f} s for a connection"
    assert codes == [303] + [401] * 7
    assert seen["most"] == HASH_WORKERS


# -- 4. the hub's centres.last_seq never goes backwards -------------------------------------------


@pytest.mark.slow
def test_a_replayed_older_batch_does_not_set_the_hubs_last_seq_back():
    """A ward replays seq 1-3 after 4-6 (a backup restored, a retry after a lost answer): last_seq
    went back to 3 though the hub holds 6. Real PostgreSQL (the test cluster)."""
    import uuid

    import psycopg
    from province_helpers import new_database

    from province.auth import add_centre
    from province.db import migrate
    from province.ingest import ingest

    dsn = new_database()
    migrate(dsn)

    def batch(seqs):
        return [
            {
                "uid": uuid.uuid5(uuid.NAMESPACE_OID, str(n)).hex,
                "seq": n,
                "kind": "ticket",
                "at": 1.7623e9 + n,
                "data": {
                    "token": f"t{n}",
                    "day": "2026-11-05",
                    "service": "A",
                    "state": "waiting",
                    "issued_at": 1.7623e9 + n,
                },
            }
            for n in seqs
        ]

    with psycopg.connect(dsn, autocommit=True) as c:
        add_centre(c, "mong-duong")
        last = lambda: c.execute("SELECT last_seq, events, batches FROM centres").fetchone()  # noqa: E731
        assert ingest(c, "mong-duong", batch([1, 2, 3])).last_seq == 3
        assert ingest(c, "mong-duong", batch([4, 5, 6])).last_seq == 6
        assert last() == (6, 6, 2)
        replay = ingest(c, "mong-duong", batch([1, 2, 3]))
        assert (replay.stored, replay.duplicates, replay.last_seq) == (
            0,
            3,
            3,
        )  # the agent's ack is its batch's
        assert last() == (6, 6, 3)  # was (3, 6, 3)
        ingest(c, "mong-duong", batch([2, 7]))
        assert last() == (7, 7, 4)


@pytest.mark.slow
def test_the_hubs_password_checks_hold_no_database_connection(hub_in_process, monkeypatch):
    """Login and password change on the hub: while each scrypt runs (the current password checked,
    the new one hashed) none of the pool's connections is taken. Before, the account page held
    one through both (and the login one through its check)."""
    import re

    import httpx
    from province_helpers import PASSWORD, login

    from province import users

    url, _, app = hub_in_process
    pool, held = app.state.pool, []
    real_verify, real_hash = users.verify_password, users.hash_password

    def in_use() -> int:
        return pool._made - pool._q.qsize()

    def verify(password: str, stored: str) -> bool:
        held.append(("verify", in_use()))
        return real_verify(password, stored)

    def hashing(password: str) -> str:
        held.append(("hash", in_use()))
        return real_hash(password)

    monkeypatch.setattr(users, "verify_password", verify)
    monkeypatch.setattr(users, "hash_password", hashing)
    new_password = "Cam-Pha-2027-moi!"
    with httpx.Client(base_url=url, timeout=60) as client:
        assert login(client, "so-noi-vu").status_code == 303
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account").text).group(1)
        form = {"old": "not-the-password", "new": new_password, "repeat": new_password, "csrf_token": csrf}
        assert client.post("/account/password", data=form).status_code == 422
        form["old"] = PASSWORD
        assert client.post("/account/password", data=form, follow_redirects=False).status_code == 303
    with httpx.Client(base_url=url, timeout=60) as client:
        assert login(client, "so-noi-vu", new_password).status_code == 303
    assert [kind for kind, _ in held] == ["verify", "verify", "verify", "hash", "verify"]
    assert all(n == 0 for _, n in held), held
