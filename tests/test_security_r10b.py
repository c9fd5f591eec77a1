"""Hardening left by round 10's attack on the servers: the hub registers only ward ids a ward's
config can send; the kiosk's staff PIN lockout holds against tries made at once; one staff login
cannot hold more than MAX_STREAMS_PER_SESSION live streams (a 429, the project's error shape)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from staff_helpers import OPEN_TIME

from centre import pin as pin_module
from centre import users
from centre.clock import FixedClock
from centre.config import ProvinceSection
from centre.db import connect
from centre.pin import PinGate, PinResult, hash_pin
from province import cli
from province.auth import CENTRE_ID_PATTERN, BadCentreId, check_centre_id
from staff import auth
from staff.events import MAX_STREAMS_PER_SESSION, Broker, StreamLimits, TooManySessionStreams, TooManyStreams
from staff.server import free_port, start_in_thread

# -- 1. the hub's add-centre ---------------------------------------------------------------------

BAD_IDS = ["phường-1", "Mong-Duong", 'a"b', "x;y", "a b", "-lead", "_lead", "", "a" * 65, "a\nb", "..%2F"]
GOOD_IDS = ["mong-duong", "phuong-001", "w1", "cam_pha", "9", "a" * 64]


def test_the_hubs_centre_id_rule_is_the_wards_own():
    pattern = next(
        m.pattern for m in ProvinceSection.model_fields["centre_id"].metadata if hasattr(m, "pattern")
    )
    assert pattern == CENTRE_ID_PATTERN


@pytest.mark.parametrize("ward", BAD_IDS)
def test_add_centre_refuses_an_id_no_ward_could_send(ward, capsys):
    with pytest.raises(BadCentreId):
        check_centre_id(ward)
    # refused before any database is opened: the DSN points at nothing (was a connection error)
    rc = cli.main(
        ["add-centre", "--dsn", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", "--", ward]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "lower-case ASCII letters, digits" in err and "province.centre_id" in err, err


@pytest.mark.parametrize("ward", GOOD_IDS)
def test_ids_a_ward_can_send_are_accepted(ward):
    assert check_centre_id(ward) == ward


# -- 2. the staff PIN: tries made at once ------------------------------------------------------


def test_pin_tries_made_at_once_cannot_slip_past_the_lockout(tmp_path, monkeypatch):
    """Eight wrong PINs from eight connections at once (two kiosk processes on one database, or
    threads): each checked the count, spent the scrypt, then wrote it, so all eight were tried and
    none locked. Now at most max_tries reach the hash and the gate is locked afterwards."""
    stored = hash_pin("730591")
    PinGate(stored, connect(tmp_path / "c.db"), max_tries=3)  # the tables
    hashed = []
    real_verify = pin_module.verify_pin

    def slow_verify(pin, h):
        hashed.append(pin)
        time.sleep(0.3)  # a slow scrypt: the others arrive meanwhile
        return real_verify(pin, h)

    monkeypatch.setattr(pin_module, "verify_pin", slow_verify)
    start = threading.Barrier(8)
    results: list[PinResult] = []

    def attempt():
        gate = PinGate(stored, connect(tmp_path / "c.db"), max_tries=3, lockout_s=300)
        start.wait()
        results.append(gate.check("111111"))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8
    assert len(hashed) <= 3, hashed  # was 8
    assert results.count(PinResult.WRONG) <= 2 and results.count(PinResult.LOCKED) >= 6, results
    gate = PinGate(stored, connect(tmp_path / "c.db"), max_tries=3)
    assert gate.locked_for() > 0
    assert gate.check("730591") == PinResult.LOCKED  # even the right PIN, while locked


def test_a_pin_try_lost_during_its_hash_does_not_refuse_for_ever(tmp_path):
    """A kiosk that dies during the scrypt leaves its try counted: at max_tries the gate locks
    (for the usual time) rather than refusing every try with no end."""
    from centre import audit

    now = [1000.0]
    conn = connect(tmp_path / "c.db")
    gate = PinGate(hash_pin("730591"), conn, max_tries=3, lockout_s=300, clock=lambda: now[0])
    gate._save(3, 0, 0.0)  # three tries counted, none of them finished
    assert gate.check("730591") == PinResult.LOCKED
    assert 299 <= gate.locked_for() <= 300
    now[0] += 301
    assert gate.check("730591") == PinResult.OK and gate.tries_left == 3
    assert [e["action"] for e in audit.entries(conn, entity="pin")] == ["pin.locked"]


# -- 3. staff live streams per login ---------------------------------------------------------------


def test_one_login_holds_at_most_its_share_of_staff_streams(tmp_path):
    broker = Broker(tmp_path / "c.db", StreamLimits())
    held = [broker.admit("staff", session="session:a") for _ in range(MAX_STREAMS_PER_SESSION)]
    with pytest.raises(TooManySessionStreams) as refused:
        broker.admit("staff", session="session:a")
    assert refused.value.retry_after_s > 0 and f"at most {MAX_STREAMS_PER_SESSION}" in str(refused.value)
    other = broker.admit("staff", session="session:b")  # another login is not affected
    held[0].release()
    held.append(broker.admit("staff", session="session:a"))  # a closed stream gives its place back
    assert broker.open_streams("staff") == MAX_STREAMS_PER_SESSION + 1
    for slot in [*held, other]:
        slot.release()
    assert broker.open_streams("staff") == 0
    assert issubclass(TooManySessionStreams, TooManyStreams) and 2 <= MAX_STREAMS_PER_SESSION <= 16


def test_a_login_past_its_stream_share_gets_a_429_in_the_error_shape(tmp_config, tmp_path):
    """A real server: one officer login opens MAX_STREAMS_PER_SESSION live streams (queue and robot
    count together); the next is a 429 with the error shape and Retry-After, another login still
    gets its stream, and a closed stream gives its place back. Before: all 64 of an address."""
    handle = start_in_thread(
        tmp_config,
        host="127.0.0.1",
        port=free_port(),
        clock=FixedClock(OPEN_TIME),
        db_path=tmp_path / "centre.db",
    )
    conn = connect(tmp_path / "centre.db")
    officer = users.create_user(conn, "lan", "officer", "officer-pass-1", counters=[1])
    mine, _ = users.create_session(conn, officer, hours=1)
    other, _ = users.create_session(conn, officer, hours=1)  # the same person's second login
    opened = []
    try:
        with httpx.Client(base_url=handle.url, cookies={auth.SESSION_COOKIE: mine}, timeout=10) as client:
            for i in range(MAX_STREAMS_PER_SESSION):
                cm = client.stream("GET", "/api/events" if i % 2 else "/api/robot/events")
                opened.append(cm)
                assert cm.__enter__().status_code == 200
            for path in ("/api/events", "/api/robot/events"):
                with client.stream("GET", path) as r:  # (before: a 200 stream)
                    assert r.status_code == 429, (path, r.status_code)
                    r.read()
                body = r.json()
                assert (
                    body["error"] == "TooManySessionStreams"
                    and f"at most {MAX_STREAMS_PER_SESSION}" in body["message"]
                )
                assert body["text"] and body["text"] != body["message"] and int(r.headers["retry-after"]) > 0
            with (
                httpx.Client(base_url=handle.url, cookies={auth.SESSION_COOKIE: other}, timeout=10) as second,
                second.stream("GET", "/api/events") as stream,
            ):
                assert stream.status_code == 200
            opened.pop().__exit__(None, None, None)
            deadline = time.monotonic() + 5
            while True:  # the server sees the closed stream within a heartbeat of the poller
                with client.stream("GET", "/api/events") as again:
                    if again.status_code == 200 or time.monotonic() > deadline:
                        break
                time.sleep(0.2)
            assert again.status_code == 200
    finally:
        for cm in opened:
            cm.__exit__(None, None, None)
        handle.stop()
