"""Staff users, roles, password hashing, sessions and login rate limiting (pure core, SQLite).

Roles:
- ``admin``: everything (administration, reports, any counter);
- ``officer``: the consoles of the counters they are bound to (``counters``);
- ``display``: read-only hall display screens;
- ``kiosk``: a remote kiosk that issues tickets through the JSON API (bearer token).

Passwords are hashed with ``hashlib.scrypt`` (salted, parameters stored with the hash) and
never stored or logged in clear. There is no default user and no default password: the
first administrator is created with ``kiosk users add NAME --role admin``.

Passwords have at least 10 characters, are not all digits and are not a common password (nor a
common word with digits or signs around it: ``centre/common_passwords.txt``); every user can
change their own (``change_password``, the /account page).

Sessions are random tokens given to the browser in a cookie; only their SHA-256 is stored,
with a CSRF token bound to the session. Failed logins are stored (name, address, time). A name
that fails ``max_tries`` times from one address within ``lockout_s`` is refused from that
address until the window passes, and an address that fails ``max_tries × IP_FACTOR`` times is
refused for every name; so guessing is slowed, but an outsider elsewhere cannot lock an officer
out of their own counter (issue 16). Both hold across restarts and server processes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from centre.db import migrate, transaction
from centre.text import escape_unshowable, unshowable

log = logging.getLogger("centre.users")

ROLES = ("admin", "officer", "display", "kiosk")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
_COMMON_FILE = __import__("pathlib").Path(__file__).with_name("common_passwords.txt")
_COMMON: frozenset[str] | None = None
# scrypt cost: n=2**14, r=8 takes ~40 ms and 16 MiB: slow for a guesser, fine for a login.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
# A single address may try several names (a shared counter PC), so it gets more tries.
IP_FACTOR = 4

MIGRATIONS = [
    """
    CREATE TABLE staff_users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        full_name TEXT NOT NULL DEFAULT '',
        role TEXT NOT NULL CHECK (role IN ('admin', 'officer', 'display', 'kiosk')),
        counters_json TEXT NOT NULL DEFAULT '[]',
        password_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE staff_sessions (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES staff_users(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        address TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX staff_sessions_user ON staff_sessions(user_id);
    CREATE TABLE staff_api_tokens (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES staff_users(id) ON DELETE CASCADE,
        label TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );
    CREATE TABLE staff_login_attempts (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        name TEXT NOT NULL,
        address TEXT NOT NULL,
        ok INTEGER NOT NULL
    );
    CREATE INDEX staff_login_attempts_name ON staff_login_attempts(name, at);
    CREATE INDEX staff_login_attempts_address ON staff_login_attempts(address, at);
    """,
]


class UserError(ValueError):
    """A user cannot be created or changed as asked (bad name, role, counter or password).

    The message is English (the command line, the log); `code` and `params` let a page say it
    in its own language (staff/i18n: `err_<code>`)."""

    def __init__(self, message: str, code: str = "", **params):
        super().__init__(message)
        self.code = code
        self.params = params


class UnknownUser(UserError):
    """No user has this name or id."""


class BadCredentials(Exception):
    """The name or the password is wrong (deliberately not saying which)."""


class LoginLocked(Exception):
    """Too many failed logins for this name or address; try again after `retry_after` seconds."""

    def __init__(self, retry_after: float):
        super().__init__(f"too many failed logins; try again in {int(retry_after) + 1} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    """A staff user as the web layer sees it (never carries the password hash)."""

    id: int
    name: str
    role: str
    counters: tuple[int, ...] = ()
    full_name: str = ""
    active: bool = True

    def can_use_counter(self, counter_id: int) -> bool:
        return self.role == "admin" or (self.role == "officer" and counter_id in self.counters)

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "counters": list(self.counters),
                "full_name": self.full_name, "active": self.active}


@dataclass(frozen=True)
class Session:
    """A logged-in browser: its user, CSRF token and expiry (epoch seconds)."""

    user: User
    csrf: str
    expires_at: float
    token_hash: str = field(repr=False, default="")


def ensure_schema(conn) -> None:
    """Create or upgrade the staff user tables."""
    migrate(conn, "users", MIGRATIONS)


# -- passwords -----------------------------------------------------------------------


def hash_password(password: str) -> str:
    """A salted scrypt hash: ``scrypt$n$r$p$salt$hash`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored` (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# A hash of nothing in particular, checked when the name is unknown so that a wrong name
# costs as long as a wrong password (no user enumeration by timing).
_DUMMY_HASH = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    return _DUMMY_HASH


def common_passwords() -> frozenset[str]:
    """The list of passwords nobody may choose (lower case), read once."""
    global _COMMON
    if _COMMON is None:
        lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines() if _COMMON_FILE.exists() else []
        _COMMON = frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))
    return _COMMON


def check_password_strength(password: str, name: str = "") -> None:
    """Raise UserError when a password is too weak to protect a counter or the admin pages."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters", "password_short", min=MIN_PASSWORD)
    low = password.lower()
    if name and (low == name.lower() or (len(name) >= 4 and name.lower() in low)):
        raise UserError("the password must not contain the user name", "password_has_name")
    if len(set(password)) < 4:
        raise UserError("the password is too simple (use at least 4 different characters)", "password_simple")
    if low.isdigit():
        raise UserError("the password must not be only digits (a phone number or a date is easy to guess)",
                        "password_digits")
    core = re.sub(r"^[\d\W_]+|[\d\W_]+$", "", low)
    if low in common_passwords() or core in common_passwords():
        raise UserError("this password is on the list of common passwords; choose another", "password_common")


def change_password(conn, user_id: int, old: str, new: str, *, now: float | None = None, address: str = "",
                    max_tries: int = 5, lockout_s: float = 300) -> User:
    """A user changes their own password (the old one is checked; every session of theirs ends).

    The current password is a password guess like a login's: counted with the logins of that
    name from that address, and refused (LoginLocked) as a login would be. Unlimited, a stolen
    session cookie could try passwords for ever."""
    row = conn.execute("SELECT * FROM staff_users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise BadCredentials("the current password is wrong")
    now = time.time() if now is None else now
    attempt = _begin_attempt(conn, row["name"], address, max_tries=max_tries, lockout_s=lockout_s, now=now)
    ok = verify_password(old or "", row["password_hash"])
    if ok:
        conn.execute("UPDATE staff_login_attempts SET ok = 1 WHERE id = ?", (attempt,))
    if not ok:
        raise BadCredentials("the current password is wrong")
    if old == new:
        raise UserError("the new password must differ from the current one", "password_same")
    return update_user(conn, user_id, password=new, now=now)


# -- users -------------------------------------------------------------------------


def _row_to_user(row) -> User:
    return User(id=row["id"], name=row["name"], role=row["role"],
                counters=tuple(json.loads(row["counters_json"])), full_name=row["full_name"],
                active=bool(row["active"]))


def _check(name: str, role: str, counters: Iterable[int], valid_counters: Iterable[int] | None) -> list[int]:
    if not NAME_RE.match(name or ""):
        raise UserError(f"user name {name!r} must be 2-32 lower-case letters, digits, '.', '_' or '-'",
                        "name_invalid", name=name)
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}", "role_invalid", role=role)
    counters = sorted({int(c) for c in counters})
    if role == "officer" and not counters:
        raise UserError("an officer must be bound to at least one counter (--counter N)", "officer_needs_counter")
    if role != "officer" and counters:
        raise UserError(f"only officers are bound to counters, not a {role} user", "counters_only_officers", role=role)
    if valid_counters is not None:
        bad = [c for c in counters if c not in set(valid_counters)]
        if bad:
            raise UserError(f"counter {bad[0]} does not exist", "counter_missing", counter=bad[0])
    return counters


def _check_full_name(full_name: str | None) -> None:
    """Raise UserError when a full name holds a control or invisible character (NUL, newline, a
    bidi override or zero-width space: shown on the admin pages and in the change log)."""
    bad = unshowable(full_name or "")
    if bad:
        raise UserError(f"the full name holds a control or invisible character ({bad})", "name_unshowable", char=bad)


def create_user(conn: sqlite3.Connection, name: str, role: str, password: str, *, counters: Iterable[int] = (),
                full_name: str = "", valid_counters: Iterable[int] | None = None,
                now: float | None = None) -> User:
    """Add a user; raise UserError when the name is taken or anything is invalid."""
    name = (name or "").strip().lower()
    counters = _check(name, role, counters, valid_counters)
    _check_full_name(full_name)
    check_password_strength(password, name)
    now = time.time() if now is None else now
    try:
        with transaction(conn):
            cur = conn.execute(
                "INSERT INTO staff_users(name, full_name, role, counters_json, password_hash, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, full_name.strip(), role, json.dumps(counters), hash_password(password), now, now),
            )
    except sqlite3.IntegrityError:
        raise UserError(f"user {name!r} already exists", "user_exists", name=name) from None
    return get_user(conn, cur.lastrowid)


def get_user(conn, user: int | str) -> User:
    """A user by id or name; UnknownUser if none."""
    col = "id" if isinstance(user, int) else "name"
    row = conn.execute(f"SELECT * FROM staff_users WHERE {col} = ?", (user,)).fetchone()
    if row is None:
        raise UnknownUser(f"no user {user!r}", "unknown_user", name=user)
    return _row_to_user(row)


def list_users(conn) -> list[User]:
    return [_row_to_user(r) for r in conn.execute("SELECT * FROM staff_users ORDER BY name")]


def count_admins(conn) -> int:
    return conn.execute("SELECT count(*) FROM staff_users WHERE role = 'admin' AND active = 1").fetchone()[0]


def update_user(conn, user_id: int, *, role: str | None = None, counters: Iterable[int] | None = None,
                full_name: str | None = None, active: bool | None = None, password: str | None = None,
                valid_counters: Iterable[int] | None = None, now: float | None = None) -> User:
    """Change a user; ending a user's activity or changing a password ends their sessions.

    Refuses to leave the centre without an active administrator.
    """
    old = get_user(conn, user_id)
    role = old.role if role is None else role
    counters = (old.counters if role == "officer" else ()) if counters is None else counters
    counters = _check(old.name, role, counters, valid_counters)
    _check_full_name(full_name)
    active = old.active if active is None else bool(active)
    if password is not None:
        check_password_strength(password, old.name)
    now = time.time() if now is None else now
    with transaction(conn):
        if old.role == "admin" and old.active and (role != "admin" or not active):
            _keep_an_admin(conn, user_id)
        conn.execute(
            "UPDATE staff_users SET role = ?, counters_json = ?, full_name = ?, active = ?, updated_at = ? WHERE id = ?",
            (role, json.dumps(counters), old.full_name if full_name is None else full_name.strip(), int(active), now,
             user_id),
        )
        if password is not None:
            conn.execute("UPDATE staff_users SET password_hash = ? WHERE id = ?", (hash_password(password), user_id))
        if password is not None or not active or role != old.role:
            conn.execute("DELETE FROM staff_sessions WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM staff_api_tokens WHERE user_id = ?", (user_id,))
    return get_user(conn, user_id)


def delete_user(conn, user_id: int) -> User:
    """Remove a user (and their sessions); never the last administrator."""
    old = get_user(conn, user_id)
    with transaction(conn):
        if old.role == "admin" and old.active:
            _keep_an_admin(conn, user_id)
        conn.execute("DELETE FROM staff_users WHERE id = ?", (user_id,))
    return old


def _keep_an_admin(conn, user_id: int) -> None:
    """Refuse to take the last active administrator away (`user_id` demoted, disabled or deleted).

    Called inside the write transaction: checked before it, two requests at once (one admin
    disabling the other while being demoted) each saw another admin left, and none was."""
    others = conn.execute("SELECT count(*) FROM staff_users WHERE role = 'admin' AND active = 1 AND id != ?",
                          (user_id,)).fetchone()[0]
    if others < 1:
        raise UserError("this is the last active administrator; add another one first", "last_admin")


# -- login, rate limiting -------------------------------------------------------------


def _failure_times(conn, cols: tuple[str, ...], values: tuple[str, ...], since: float,
                   after_success: bool = True) -> list[float]:
    """Times of the failures of this (name and) address within the window (and after its last success)."""
    where = " AND ".join(f"{c} = ?" for c in cols)
    last_ok = conn.execute(
        f"SELECT max(at) FROM staff_login_attempts WHERE {where} AND ok = 1", values).fetchone()[0] or 0
    if not after_success:
        last_ok = 0
    return [r[0] for r in conn.execute(
        f"SELECT at FROM staff_login_attempts WHERE {where} AND ok = 0 AND at > ? ORDER BY at DESC",
        (*values, max(since, last_ok)))]


def lock_remaining(conn, name: str, address: str, *, max_tries: int, lockout_s: float,
                   now: float | None = None) -> float:
    """Seconds until this name/address may try again (0 = may try now)."""
    now = time.time() if now is None else now
    wait = 0.0
    # A success resets its own name's count, not the address's: someone with an account of their own
    # could otherwise log in now and then to try every other name max_tries - 1 times a window.
    for cols, values, limit in ((("name", "address"), (name, address), max_tries),
                                (("address",), (address,), max_tries * IP_FACTOR)):
        times = _failure_times(conn, cols, values, now - lockout_s, after_success=len(cols) == 2)
        if len(times) >= limit:
            # Locked until the limit-th newest failure leaves the window.
            wait = max(wait, times[limit - 1] + lockout_s - now)
    return max(0.0, wait)


def login_name(typed: str | None) -> str:
    """A name typed at the login form as it is counted and recorded: trimmed, lower case, at most 64
    characters, control and invisible characters written as escapes ('boss\\u200b', not a second
    'boss' in the admin's list of failed logins, nor a line reversed by a bidi override)."""
    return escape_unshowable((typed or "").strip().lower()[:64])


def _begin_attempt(conn, name: str, address: str, *, max_tries: int, lockout_s: float, now: float) -> int:
    """Check the lock and write the attempt, as a failure, in one transaction (BEGIN IMMEDIATE: one
    at a time); the caller marks it ok after the password matched. The servers check passwords in
    worker threads: checked first and recorded after the scrypt, guesses sent at once all passed
    the check (as on the hub, province.users)."""
    with transaction(conn):
        wait = lock_remaining(conn, name, address, max_tries=max_tries, lockout_s=lockout_s, now=now)
        if wait > 0:
            raise LoginLocked(wait)
        attempt = conn.execute("INSERT INTO staff_login_attempts(at, name, address, ok) VALUES (?, ?, ?, 0)",
                               (now, name, address)).lastrowid
        # Keep the table small: a month of attempts is plenty for an audit.
        conn.execute("DELETE FROM staff_login_attempts WHERE at < ?", (now - 31 * 86400,))
    return attempt


def authenticate(conn, name: str, password: str, address: str = "", *, max_tries: int = 5,
                 lockout_s: float = 300, now: float | None = None) -> User:
    """Check a login; record the attempt; raise LoginLocked or BadCredentials.

    A locked name is refused without checking the password, so guessing stops at
    `max_tries` per window even with the right password in the list.
    """
    name = login_name(name)
    now = time.time() if now is None else now
    try:
        attempt = _begin_attempt(conn, name, address, max_tries=max_tries, lockout_s=lockout_s, now=now)
    except LoginLocked:
        log.warning("login refused (locked) name=%r address=%s", name, address)
        raise
    row = conn.execute("SELECT * FROM staff_users WHERE name = ?", (name,)).fetchone()
    ok = verify_password(password or "", row["password_hash"] if row else _dummy_hash())
    ok = ok and row is not None and bool(row["active"])
    if ok:
        conn.execute("UPDATE staff_login_attempts SET ok = 1 WHERE id = ?", (attempt,))
    if not ok:
        log.warning("login failed name=%r address=%s", name, address)
        raise BadCredentials("wrong user name or password")
    log.info("login ok name=%r address=%s", name, address)
    return _row_to_user(row)


def login_attempts(conn, limit: int = 100) -> list[dict]:
    """The latest login attempts, newest first (for the admin page)."""
    return [dict(r) for r in conn.execute(
        "SELECT at, name, address, ok FROM staff_login_attempts ORDER BY id DESC LIMIT ?", (limit,))]


# -- sessions and API tokens -------------------------------------------------------------


def _h(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_session(conn, user: User, *, hours: float, address: str = "", now: float | None = None) -> tuple[str, Session]:
    """A new session: returns the cookie token (shown once) and the session."""
    now = time.time() if now is None else now
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = now + hours * 3600
    with transaction(conn):
        conn.execute("DELETE FROM staff_sessions WHERE expires_at < ?", (now,))
        conn.execute(
            "INSERT INTO staff_sessions(token_hash, user_id, csrf, created_at, expires_at, address) VALUES (?, ?, ?, ?, ?, ?)",
            (_h(token), user.id, csrf, now, expires, address),
        )
    return token, Session(user=user, csrf=csrf, expires_at=expires, token_hash=_h(token))


def get_session(conn, token: str | None, *, now: float | None = None) -> Session | None:
    """The live session of a cookie token, or None (unknown, expired, user inactive)."""
    if not token or len(token) > 200:
        return None
    now = time.time() if now is None else now
    row = conn.execute(
        "SELECT s.csrf, s.expires_at, s.token_hash, u.* FROM staff_sessions s JOIN staff_users u ON u.id = s.user_id "
        "WHERE s.token_hash = ?", (_h(token),)).fetchone()
    if row is None or row["expires_at"] < now or not row["active"]:
        return None
    return Session(user=_row_to_user(row), csrf=row["csrf"], expires_at=row["expires_at"], token_hash=row["token_hash"])


def end_session(conn, token: str | None) -> None:
    if token:
        conn.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (_h(token),))


def create_api_token(conn, user_id: int, label: str = "", *, now: float | None = None) -> str:
    """A bearer token for API clients (remote kiosks); only its hash is stored; shown once."""
    get_user(conn, user_id)
    token = "kt_" + secrets.token_urlsafe(32)
    conn.execute("INSERT INTO staff_api_tokens(token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?)",
                 (_h(token), user_id, label, time.time() if now is None else now))
    return token


def user_for_token(conn, token: str | None) -> User | None:
    """The active user of a bearer token, or None."""
    if not token or len(token) > 200:
        return None
    row = conn.execute(
        "SELECT u.* FROM staff_api_tokens t JOIN staff_users u ON u.id = t.user_id WHERE t.token_hash = ?",
        (_h(token),)).fetchone()
    if row is None or not row["active"]:
        return None
    return _row_to_user(row)
