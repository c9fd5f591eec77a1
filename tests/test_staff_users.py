"""centre.users and centre.audit: hashing, roles, sessions, login lockout, audit rows (issue 8)."""

from __future__ import annotations

import pytest

from centre import audit, users
from centre.db import connect


@pytest.fixture
def conn(tmp_path):
    c = connect(tmp_path / "centre.db")
    users.ensure_schema(c)
    audit.ensure_schema(c)
    yield c
    c.close()


def test_password_hash_is_salted_and_verifies():
    a, b = users.hash_password("correct horse"), users.hash_password("correct horse")
    assert a != b and a.startswith("scrypt$")
    assert "correct horse" not in a
    assert users.verify_password("correct horse", a)
    assert not users.verify_password("correct horsE", a)
    assert not users.verify_password("x", "garbage")


@pytest.mark.parametrize(
    "name,role,password,counters,words",
    [
        ("Bad Name", "officer", "s3cret-pass", [1], "must be 2-32"),
        ("anna", "boss", "s3cret-pass", [], "not one of"),
        ("anna", "officer", "s3cret-pass", [], "at least one counter"),
        ("anna", "display", "s3cret-pass", [1], "only officers"),
        ("anna", "officer", "short", [1], "at least 10"),
        ("anna", "officer", "aaaaaaaaaa", [1], "too simple"),
        ("anna", "officer", "s3cret-pass", [9], "counter 9 does not exist"),
    ],
)
def test_bad_user_input_is_refused_and_nothing_is_stored(conn, name, role, password, counters, words):
    with pytest.raises(users.UserError, match=words):
        users.create_user(conn, name, role, password, counters=counters, valid_counters=[1, 2, 3, 4])
    assert users.list_users(conn) == []


def test_duplicate_name_and_last_admin_protection(conn):
    admin = users.create_user(conn, "boss", "admin", "very-secret-1")
    with pytest.raises(users.UserError, match="already exists"):
        users.create_user(conn, "BOSS", "admin", "very-secret-2")
    with pytest.raises(users.UserError, match="last active administrator"):
        users.update_user(conn, admin.id, active=False)
    with pytest.raises(users.UserError, match="last active administrator"):
        users.delete_user(conn, admin.id)
    users.create_user(conn, "boss2", "admin", "very-secret-2")
    assert users.update_user(conn, admin.id, active=False).active is False


def test_login_session_and_csrf(conn):
    u = users.create_user(conn, "lan", "officer", "mat-khau-123", counters=[2, 1])
    assert u.counters == (1, 2) and u.can_use_counter(2) and not u.can_use_counter(3)
    got = users.authenticate(conn, "Lan ", "mat-khau-123", "10.0.0.5")
    assert got.id == u.id
    token, sess = users.create_session(conn, got, hours=1)
    again = users.get_session(conn, token)
    assert again.user.name == "lan" and again.csrf == sess.csrf and len(sess.csrf) >= 24
    assert users.get_session(conn, token + "x") is None
    assert users.get_session(conn, token, now=sess.expires_at + 1) is None
    # A password change ends the sessions.
    users.update_user(conn, u.id, password="new-pass-456")
    assert users.get_session(conn, token) is None


def test_lockout_after_max_tries_then_window_passes(conn):
    users.create_user(conn, "lan", "officer", "mat-khau-123", counters=[1])
    t0 = 1_000_000.0
    for i in range(5):
        with pytest.raises(users.BadCredentials):
            users.authenticate(conn, "lan", f"wrong{i}", "10.0.0.5", max_tries=5, lockout_s=300, now=t0 + i)
    # Locked: even the right password is refused without being checked.
    with pytest.raises(users.LoginLocked) as exc:
        users.authenticate(conn, "lan", "mat-khau-123", "10.0.0.5", max_tries=5, lockout_s=300, now=t0 + 10)
    assert exc.value.retry_after == pytest.approx(290)  # the oldest of the 5 failures leaves the window at t0+300
    # After the window the right password works, and the success resets the count.
    assert users.authenticate(conn, "lan", "mat-khau-123", "10.0.0.5", max_tries=5, lockout_s=300, now=t0 + 301)
    with pytest.raises(users.BadCredentials):
        users.authenticate(conn, "lan", "wrong", "10.0.0.5", max_tries=5, lockout_s=300, now=t0 + 302)
    attempts = users.login_attempts(conn)
    assert len(attempts) == 7 and attempts[0]["ok"] == 0 and attempts[1]["ok"] == 1


def test_unknown_name_counts_against_the_address(conn):
    for i in range(20):
        with pytest.raises(users.BadCredentials):
            users.authenticate(conn, f"user{i}", "x", "10.9.9.9", max_tries=5, lockout_s=60, now=100.0 + i)
    with pytest.raises(users.LoginLocked):
        users.authenticate(conn, "someone", "x", "10.9.9.9", max_tries=5, lockout_s=60, now=121.0)


def test_api_tokens(conn):
    k = users.create_user(conn, "kiosk-2", "kiosk", "kiosk-pass-9")
    tok = users.create_api_token(conn, k.id, "hall PC")
    assert users.user_for_token(conn, tok).role == "kiosk"
    assert users.user_for_token(conn, "kt_nope") is None
    assert "kt_" not in str(conn.execute("SELECT * FROM staff_api_tokens").fetchall()[0][0])


def test_audit_records_before_and_after_without_secrets(conn):
    audit.record(conn, "boss", "user.update", entity="user", key=3, before={"role": "officer", "password": "p"},
                 after={"role": "admin"}, now=5.0)
    audit.record(conn, "boss", "service.create", entity="service", key="E", after={"series": "E"}, now=6.0)
    rows = audit.entries(conn)
    assert [r["action"] for r in rows] == ["service.create", "user.update"]
    assert rows[1]["before"] == {"role": "officer", "password": "***"} and rows[1]["after"] == {"role": "admin"}
    assert rows[0]["before"] is None
    assert [r["action"] for r in audit.entries(conn, entity="user", key="3")] == ["user.update"]


@pytest.mark.parametrize("password", ["12345678", "1234567890", "Password123!", "matkhau2024", "0912345678",
                                      "qwertyuiop", "short-pw"])
def test_weak_passwords_are_refused_issue16(conn, password):
    with pytest.raises(users.UserError):
        users.create_user(conn, "hoa", "display", password)


def test_self_service_password_change_issue16(conn):
    u = users.create_user(conn, "lan", "officer", "mat-khau-123", counters=[1])
    token, _ = users.create_session(conn, u, hours=1)
    with pytest.raises(users.BadCredentials):
        users.change_password(conn, u.id, "wrong-old-pass", "another-pass-9")
    with pytest.raises(users.UserError):
        users.change_password(conn, u.id, "mat-khau-123", "password1")
    users.change_password(conn, u.id, "mat-khau-123", "another-pass-9")
    assert users.get_session(conn, token) is None  # every session ends
    assert users.authenticate(conn, "lan", "another-pass-9", "10.0.0.5").id == u.id


def test_outsider_cannot_lock_an_officer_out_issue16(conn):
    """Issue 16: anyone could lock out a named account; the lock is per address + account."""
    users.create_user(conn, "lan", "officer", "mat-khau-123", counters=[1])
    for i in range(5):
        with pytest.raises(users.BadCredentials):
            users.authenticate(conn, "lan", f"wrong{i}", "203.0.113.9", max_tries=5, lockout_s=300, now=100.0 + i)
    with pytest.raises(users.LoginLocked):
        users.authenticate(conn, "lan", "mat-khau-123", "203.0.113.9", max_tries=5, lockout_s=300, now=110.0)
    # Lan at her own counter PC still logs in.
    assert users.authenticate(conn, "lan", "mat-khau-123", "10.0.0.5", max_tries=5, lockout_s=300, now=111.0)
