"""Province office users of the hub's dashboard and reports (PostgreSQL): roles, sessions, rate limiting.

Roles:
- ``province``: every ward, the province totals and the province-wide report;
- ``ward``: only the wards (centre ids) the user is bound to — a ward director sees their own.

Passwords are hashed, checked and judged by the centre's own functions (``centre.users``:
salted scrypt, at least 10 characters, not a common password, not the user name), so the hub
and the ward staff server follow one password policy. Sessions are random cookie tokens stored
as SHA-256 with a CSRF token and an expiry. Failed logins are stored: a name that fails
``max_tries`` times from one address within ``lockout_s`` is refused from that address until the
window passes, and an address failing ``max_tries × IP_FACTOR`` times is refused for every name
(the centre's policy, issue 16), across restarts and hub processes.

The centres' ingest credentials are separate (``province.auth``): a centre token never opens a
page, and a user never writes events.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from centre.users import (
    IP_FACTOR,
    NAME_RE,
    BadCredentials,
    LoginLocked,
    UnknownUser,
    UserError,
    check_password_strength,
    hash_password,
    login_name,
    verify_password,
)

__all__ = ["ROLES", "BadCredentials", "LoginLocked", "UnknownUser", "UserError", "HubUser", "HubSession",
           "create_user", "get_user", "list_users", "set_active", "set_password", "change_password",
           "authenticate", "begin_login", "password_matches", "finish_login", "LoginTry",
           "begin_password_change", "finish_password_change", "lock_remaining", "create_session", "get_session", "end_session"]

log = logging.getLogger("province.users")
ROLES = ("province", "ward")


@dataclass(frozen=True)
class HubUser:
    """A hub user as the web layer sees it (never carries the password hash)."""

    id: int
    name: str
    role: str
    centres: tuple[str, ...] = ()
    full_name: str = ""
    active: bool = True

    def sees_all(self) -> bool:
        return self.role == "province"

    def may_see(self, centre_id: str) -> bool:
        return self.role == "province" or centre_id in self.centres

    def scope(self) -> list[str] | None:
        """The centre ids this user may see, or None for all."""
        return None if self.sees_all() else list(self.centres)


@dataclass(frozen=True)
class HubSession:
    """A logged-in browser: its user, CSRF token and expiry."""

    user: HubUser
    csrf: str
    expires_at: datetime
    token_sha256: bytes = field(repr=False, default=b"")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _h(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


_USER_COLS = ("u.id, u.name, u.role, u.full_name, u.active, "
              "ARRAY(SELECT centre_id FROM hub_user_centres c WHERE c.user_id = u.id ORDER BY centre_id)")


def _user(row) -> HubUser:
    uid, name, role, full_name, active, centres = row[:6]
    return HubUser(id=uid, name=name, role=role, centres=tuple(centres), full_name=full_name, active=active)


def _check(name: str, role: str, centres: Iterable[str]) -> list[str]:
    if not NAME_RE.match(name or ""):
        raise UserError(f"user name {name!r} must be 2-32 lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    centres = sorted({c.strip() for c in centres if c.strip()})
    if role == "ward" and not centres:
        raise UserError("a ward user must be bound to at least one centre (--centre ID)")
    if role == "province" and centres:
        raise UserError("a province user sees every ward; --centre is only for ward users")
    return centres


def create_user(conn: psycopg.Connection, name: str, role: str, password: str, *, centres: Iterable[str] = (),
                full_name: str = "") -> HubUser:
    """Add a user; raise UserError when the name is taken, a centre unknown or anything invalid."""
    name = (name or "").strip().lower()
    centres = _check(name, role, centres)
    check_password_strength(password, name)
    with conn.transaction():
        known = {r[0] for r in conn.execute("SELECT centre_id FROM centres WHERE centre_id = ANY(%s)", (centres,))}
        missing = [c for c in centres if c not in known]
        if missing:
            raise UserError(f"centre {missing[0]!r} is not registered on the hub (kiosk province add-centre first)")
        try:
            with conn.transaction():
                (uid,) = conn.execute(
                    "INSERT INTO hub_users(name, full_name, role, password_hash) VALUES (%s, %s, %s, %s) RETURNING id",
                    (name, full_name.strip(), role, hash_password(password))).fetchone()
        except psycopg.errors.UniqueViolation:
            raise UserError(f"user {name!r} already exists") from None
        for c in centres:
            conn.execute("INSERT INTO hub_user_centres(user_id, centre_id) VALUES (%s, %s)", (uid, c))
    return get_user(conn, uid)


def get_user(conn: psycopg.Connection, user: int | str) -> HubUser:
    """A user by id or name; UnknownUser if none."""
    col = "u.id" if isinstance(user, int) else "u.name"
    row = conn.execute(f"SELECT {_USER_COLS} FROM hub_users u WHERE {col} = %s", (user,)).fetchone()
    if row is None:
        raise UnknownUser(f"no user {user!r}")
    return _user(row)


def list_users(conn: psycopg.Connection) -> list[HubUser]:
    return [_user(r) for r in conn.execute(f"SELECT {_USER_COLS} FROM hub_users u ORDER BY u.name")]


def set_active(conn: psycopg.Connection, name: str, active: bool) -> HubUser:
    """Enable or disable a user; disabling ends their sessions."""
    user = get_user(conn, name)
    with conn.transaction():
        conn.execute("UPDATE hub_users SET active = %s, updated_at = now() WHERE id = %s", (active, user.id))
        if not active:
            conn.execute("DELETE FROM hub_sessions WHERE user_id = %s", (user.id,))
    return get_user(conn, user.id)


def set_password(conn: psycopg.Connection, name: str, password: str, *, hashed: str | None = None) -> HubUser:
    """Give a user a new password (an administrator's reset); every session of theirs ends.
    `hashed`: the hash of `password` made beforehand (by the web layer, holding no connection)."""
    user = get_user(conn, name)
    check_password_strength(password, user.name)
    with conn.transaction():
        conn.execute("UPDATE hub_users SET password_hash = %s, updated_at = now() WHERE id = %s",
                     (hashed or hash_password(password), user.id))
        conn.execute("DELETE FROM hub_sessions WHERE user_id = %s", (user.id,))
    return user


def change_password(conn: psycopg.Connection, user_id: int, old: str, new: str, *, address: str = "",
                    max_tries: int = 5, lockout_s: float = 300) -> HubUser:
    """A user changes their own password (the old one is checked; every session of theirs ends).

    A wrong current password counts as a failed login of that name from that address (LoginLocked
    as a login would be): unlimited, a stolen session cookie could guess for ever. The steps below
    on one connection; the hub's account page runs them without holding one for the scrypts."""
    change = begin_password_change(conn, user_id, address, max_tries=max_tries, lockout_s=lockout_s)
    return finish_password_change(conn, change, password_matches(change, old), old, new)


def begin_password_change(conn: psycopg.Connection, user_id: int, address: str = "", *, max_tries: int = 5,
                          lockout_s: float = 300) -> LoginTry:
    """Check the lockout and record the attempt (as a failure) of a password change."""
    row = conn.execute("SELECT name, password_hash FROM hub_users WHERE id = %s", (user_id,)).fetchone()
    if row is None:
        raise BadCredentials("the current password is wrong")
    attempt = _begin_attempt(conn, row[0], address[:100], max_tries=max_tries, lockout_s=lockout_s, now=_now(None))
    return LoginTry(row[0], address[:100], attempt, user_id=user_id, password_hash=row[1], active=True)


def finish_password_change(conn: psycopg.Connection, change: LoginTry, ok: bool, old: str, new: str,
                           hashed: str | None = None) -> HubUser:
    """Mark the attempt ok and store the new password (`hashed`: its hash, made beforehand), or
    raise BadCredentials / UserError."""
    if not ok:
        raise BadCredentials("the current password is wrong")
    conn.execute("UPDATE hub_login_attempts SET ok = true WHERE id = %s", (change.attempt,))
    if old == new:
        raise UserError("the new password must differ from the current one", "password_same")
    return set_password(conn, change.name, new, hashed=hashed)


# -- login, rate limiting -------------------------------------------------------------


def _failures(conn, where: str, values: tuple, since: datetime, after_success: bool = True) -> list[datetime]:
    """Times of the failures (newest first) within the window (and after the last success)."""
    last_ok = conn.execute(f"SELECT max(at) FROM hub_login_attempts WHERE {where} AND ok", values).fetchone()[0]
    since = max(since, last_ok) if last_ok and after_success else since
    return [r[0] for r in conn.execute(
        f"SELECT at FROM hub_login_attempts WHERE {where} AND NOT ok AND at > %s ORDER BY at DESC", (*values, since))]


def lock_remaining(conn, name: str, address: str, *, max_tries: int, lockout_s: float,
                   now: datetime | None = None) -> float:
    """Seconds until this name/address may try again (0 = may try now)."""
    now = _now(now)
    window = timedelta(seconds=lockout_s)
    wait = 0.0
    # A success resets its own name's count, not the address's (an insider's own logins must not
    # reopen the address for trying every other name).
    for where, values, limit in (("name = %s AND address = %s", (name, address), max_tries),
                                 ("address = %s", (address,), max_tries * IP_FACTOR)):
        times = _failures(conn, where, values, now - window, after_success="name" in where)
        if len(times) >= limit:
            wait = max(wait, (times[limit - 1] + window - now).total_seconds())
    return max(0.0, wait)


_DUMMY: list[str] = []


def _begin_attempt(conn: psycopg.Connection, name: str, address: str, *, max_tries: int, lockout_s: float,
                   now: datetime) -> int:
    """Check the lockout and record the attempt as a failure (its id; marked ok once the password
    matched), in one transaction, one address at a time; LoginLocked when locked."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("hub-login:" + address,))
        wait = lock_remaining(conn, name, address, max_tries=max_tries, lockout_s=lockout_s, now=now)
        if wait > 0:
            log.warning("hub login refused (locked) name=%r address=%s", name, address)
            raise LoginLocked(wait)
        attempt = conn.execute("INSERT INTO hub_login_attempts(at, name, address, ok) VALUES (%s, %s, %s, false) "
                               "RETURNING id", (now, name, address)).fetchone()[0]
        conn.execute("DELETE FROM hub_login_attempts WHERE at < %s", (now - timedelta(days=31),))
    return attempt


@dataclass(frozen=True)
class LoginTry:
    """A login between its two database steps (`begin_login`, `finish_login`): the password is
    checked in between (`password_matches`, ~40 ms of scrypt) without holding a connection."""

    name: str
    address: str
    attempt: int
    user_id: int | None = field(default=None)
    password_hash: str | None = field(default=None, repr=False)
    active: bool = False


def begin_login(conn: psycopg.Connection, name: str, address: str = "", *, max_tries: int = 5,
                lockout_s: float = 300, now: datetime | None = None) -> LoginTry:
    """Check the lockout and record the attempt (as a failure); LoginLocked when locked."""
    # As the ward's staff server counts it (centre.users.login_name): control and invisible
    # characters as escapes. A NUL went to PostgreSQL as typed: text cannot hold it, a 500.
    name = login_name(name)
    address = address[:100]
    # The check and the attempt's row in one transaction, one address at a time, the row written
    # as a failure before the password is verified (and marked ok after): checked first and
    # recorded after the scrypt, twelve guesses sent at once all passed the check.
    attempt = _begin_attempt(conn, name, address, max_tries=max_tries, lockout_s=lockout_s, now=_now(now))
    row = conn.execute("SELECT password_hash, active, id FROM hub_users WHERE name = %s", (name,)).fetchone()
    if row is None:
        return LoginTry(name, address, attempt)
    return LoginTry(name, address, attempt, user_id=row[2], password_hash=row[0], active=bool(row[1]))


def password_matches(login: LoginTry, password: str) -> bool:
    """The scrypt check (no database): an unknown name costs one scrypt like a known one (no user
    enumeration by timing)."""
    if login.password_hash is None and not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(8)))
    ok = verify_password(password or "", login.password_hash or _DUMMY[0])
    return ok and login.user_id is not None and login.active


def finish_login(conn: psycopg.Connection, login: LoginTry, ok: bool) -> HubUser:
    """Mark the attempt ok and return the user, or raise BadCredentials."""
    if not ok:
        log.warning("hub login failed name=%r address=%s", login.name, login.address)
        raise BadCredentials("wrong user name or password")
    conn.execute("UPDATE hub_login_attempts SET ok = true WHERE id = %s", (login.attempt,))
    log.info("hub login ok name=%r address=%s", login.name, login.address)
    return get_user(conn, login.user_id)


def authenticate(conn: psycopg.Connection, name: str, password: str, address: str = "", *, max_tries: int = 5,
                 lockout_s: float = 300, now: datetime | None = None) -> HubUser:
    """Check a login; record the attempt; raise LoginLocked or BadCredentials (the three steps
    above on one connection; the hub's login form runs them without holding one for the scrypt).

    A locked name is refused without checking the password; an unknown name costs one scrypt
    like a known one (no user enumeration by timing).
    """
    login = begin_login(conn, name, address, max_tries=max_tries, lockout_s=lockout_s, now=now)
    return finish_login(conn, login, password_matches(login, password))


# -- sessions ---------------------------------------------------------------------------


def create_session(conn: psycopg.Connection, user: HubUser, *, hours: float, address: str = "",
                   now: datetime | None = None) -> tuple[str, HubSession]:
    """A new session: returns the cookie token (given once) and the session."""
    now = _now(now)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    expires = now + timedelta(hours=hours)
    with conn.transaction():
        conn.execute("DELETE FROM hub_sessions WHERE expires_at < %s", (now,))
        conn.execute("INSERT INTO hub_sessions(token_sha256, user_id, csrf, created_at, expires_at, address) "
                     "VALUES (%s, %s, %s, %s, %s, %s)", (_h(token), user.id, csrf, now, expires, address[:100]))
    return token, HubSession(user=user, csrf=csrf, expires_at=expires, token_sha256=_h(token))


def get_session(conn: psycopg.Connection, token: str | None, *, now: datetime | None = None) -> HubSession | None:
    """The live session of a cookie token, or None (unknown, expired, user disabled)."""
    if not token or len(token) > 200:
        return None
    row = conn.execute(
        f"SELECT {_USER_COLS}, s.csrf, s.expires_at FROM hub_sessions s JOIN hub_users u ON u.id = s.user_id "
        "WHERE s.token_sha256 = %s AND s.expires_at > %s AND u.active", (_h(token), _now(now))).fetchone()
    if row is None:
        return None
    return HubSession(user=_user(row), csrf=row[6], expires_at=row[7], token_sha256=_h(token))


def end_session(conn: psycopg.Connection, token: str | None) -> None:
    if token:
        conn.execute("DELETE FROM hub_sessions WHERE token_sha256 = %s", (_h(token),))
