"""Staff PIN: strength rules, hashing, and a gate with a persistent, lengthening lockout (pure core).

A kiosk's staff screen is opened with a PIN typed on a public touchscreen, so:
- a PIN has 6 to 12 digits and is not trivial (not one digit repeated, not a run such as
  123456 or 987654, not a short pattern repeated such as 121212 or 123123);
- it is stored as a salted scrypt hash (`centre.users.hash_password`), never in clear;
- after `max_tries` wrong PINs in a row the gate refuses every try for `lockout_s`, and each
  further lockout doubles (up to `max_lockout_s`) until a right PIN resets it;
- the count and the lockout live in the database (table `pin_lockout`), so restarting the
  kiosk does not give a guesser fresh tries;
- every wrong PIN and every lockout is written to the audit log (`centre.audit.record`).

    gate = PinGate(cfg.kiosk.staff_pin_hash, conn, max_tries=5, lockout_s=300)
    gate.check("730591")   -> PinResult.OK | WRONG | LOCKED | NOT_SET
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from centre import audit, users
from centre.db import migrate, transaction

MIN_DIGITS = 6
MAX_DIGITS = 12

MIGRATIONS = [
    """
    CREATE TABLE pin_lockout (
        scope TEXT PRIMARY KEY,           -- which PIN: 'kiosk'
        failures INTEGER NOT NULL DEFAULT 0,   -- wrong PINs in a row since the last lockout
        lockouts INTEGER NOT NULL DEFAULT 0,   -- lockouts since the last right PIN (each doubles)
        locked_until REAL NOT NULL DEFAULT 0   -- unix time
    );
    """,
]


class PinFormatError(ValueError):
    """A staff PIN must be 6 to 12 digits and not trivial."""


def weakness(pin: str) -> str | None:
    """Why `pin` may not be used as a staff PIN, or None when it is acceptable."""
    if not pin.isdigit():
        return "digits only"
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        return f"{MIN_DIGITS} to {MAX_DIGITS} digits"
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    if len(steps) == 1:
        return "one digit repeated or a run of digits"
    for period in range(2, len(pin) // 2 + 1):
        if len(pin) % period == 0 and pin == pin[:period] * (len(pin) // period):
            return "a short pattern repeated"
    if len(set(pin)) <= 2:
        return "only one or two different digits"
    return None


def hash_pin(pin: str) -> str:
    """Salted scrypt hash of a staff PIN (what config.yaml stores); PinFormatError for a weak PIN."""
    why = weakness(pin)
    if why:
        raise PinFormatError(f"the staff PIN must be {MIN_DIGITS} to {MAX_DIGITS} digits and not trivial ({why})")
    return users.hash_password(pin)


def verify_pin(pin: str, stored: str | None) -> bool:
    """True when `pin` matches the stored hash; False for no hash or a malformed one."""
    return bool(stored and pin) and users.verify_password(pin, stored)


class PinResult(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"
    NOT_SET = "not_set"


class PinGate:
    """Checks staff PINs; counts failures and lockouts in `conn` (an sqlite3 connection)."""

    def __init__(self, pin_hash: str | None, conn, *, scope: str = "kiosk", max_tries: int = 5,
                 lockout_s: float = 300, max_lockout_s: float = 24 * 3600, actor: str = "kiosk",
                 clock: Callable[[], float] = time.time):
        self.pin_hash = pin_hash
        self.conn = conn
        self.scope = scope
        self.max_tries = max_tries
        self.lockout_s = lockout_s
        self.max_lockout_s = max_lockout_s
        self.actor = actor
        self.clock = clock
        migrate(conn, "pin", MIGRATIONS)
        audit.ensure_schema(conn)

    def _state(self) -> tuple[int, int, float]:
        row = self.conn.execute("SELECT failures, lockouts, locked_until FROM pin_lockout WHERE scope = ?",
                                (self.scope,)).fetchone()
        return (int(row[0]), int(row[1]), float(row[2])) if row else (0, 0, 0.0)

    def _save(self, failures: int, lockouts: int, locked_until: float) -> None:
        self.conn.execute(
            "INSERT INTO pin_lockout(scope, failures, lockouts, locked_until) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(scope) DO UPDATE SET failures = excluded.failures, lockouts = excluded.lockouts, "
            "locked_until = excluded.locked_until", (self.scope, failures, lockouts, locked_until))

    def locked_for(self) -> float:
        """Seconds left of a lockout (0 when not locked)."""
        return max(0.0, self._state()[2] - self.clock())

    @property
    def tries_left(self) -> int:
        return self.max_tries - self._state()[0]

    def next_lockout_s(self, lockouts: int) -> float:
        """Length of the `lockouts`-th lockout in a row (1: lockout_s, then doubling)."""
        return min(self.max_lockout_s, self.lockout_s * 2 ** max(0, lockouts - 1))

    def check(self, pin: str, *, address: str = "") -> PinResult:
        """Check one try; a wrong PIN is counted and audited, the max_tries-th one locks.

        The try is counted before the scrypt, in the transaction that checks the lock (BEGIN
        IMMEDIATE: one at a time, across the kiosk's threads and processes), and its outcome is
        written after it, as `centre.users` does for logins: read first and written after the
        slow hash, tries made at once all saw the same count and slipped past the lockout."""
        now = self.clock()
        with transaction(self.conn):
            failures, lockouts, until = self._state()
            if self.pin_hash and until <= now and failures >= self.max_tries:
                # every try left is already counted (in flight, or lost with a crash during its
                # hash): lock now, as the last of them would, rather than refuse for ever
                lockouts += 1
                until = now + self.next_lockout_s(lockouts)
                self._save(0, lockouts, until)
                audit.record(self.conn, self.actor, "pin.locked", entity="pin", key=self.scope,
                             after={"failures": 0, "lockouts": lockouts, "locked_until": until},
                             address=address, now=now)
                return PinResult.LOCKED
            if until > now:
                audit.record(self.conn, self.actor, "pin.refused_locked", entity="pin", key=self.scope,
                             after={"locked_until": until}, address=address, now=now)
                return PinResult.LOCKED
            if not self.pin_hash:
                return PinResult.NOT_SET
            self._save(failures + 1, lockouts, until)
        ok = verify_pin(pin, self.pin_hash)
        with transaction(self.conn):
            if ok:
                self._save(0, 0, 0.0)
                return PinResult.OK
            return self._wrong(now, address)

    def _wrong(self, now: float, address: str) -> PinResult:
        """Inside the second transaction: this wrong try is already counted; lock at max_tries."""
        failures, lockouts, until = self._state()
        action, result = "pin.failed", PinResult.WRONG
        if until > now:  # another try, made at the same time, locked meanwhile
            result = PinResult.LOCKED
        elif failures >= self.max_tries:
            lockouts += 1
            until = now + self.next_lockout_s(lockouts)
            failures = 0
            action, result = "pin.locked", PinResult.LOCKED
            self._save(failures, lockouts, until)
        audit.record(self.conn, self.actor, action,
                     entity="pin", key=self.scope, after={"failures": failures, "lockouts": lockouts,
                                                          "locked_until": until}, address=address, now=now)
        return result
