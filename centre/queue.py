"""The queue: services, counters, tickets, their lifecycle and wait estimates, in SQLite.

One `Queue` object wraps one database connection (the kiosk, the staff server and the CLI
each open their own; WAL mode lets them share the file). Every change is one
`BEGIN IMMEDIATE` transaction that also appends a row to `queue_events`, so a crash at any
instant leaves either the whole change or none of it, and other processes can follow
changes by polling `events(since_id)`.

Public API (see docs/queue.md for the full story)::

    q = Queue(conn, cfg, clock=None)          # conn: sqlite3.Connection or sqlite_utils.Database
    q = Queue.open(cfg)                       # opens cfg.database_path itself
    t = q.issue("A", priority="elderly", procedure_key="1.000894", source="kiosk", lang="vi")
    q.call_next(counter_id, actor="officer:lan") -> Ticket | None
    q.call(ticket, counter_id, actor=...)     # call one chosen waiting ticket
    q.recall(ticket, actor=...)  q.start(ticket, actor=...)  q.serve(ticket, actor=...)
    q.no_show(ticket, actor=...)  q.cancel(ticket, actor=...)
    q.transfer(ticket, service="B" | None, counter=2 | None, actor=...)
    q.set_counter_state(counter_id, "open" | "paused" | "closed", actor=...)
    q.update_counter(...), q.update_service(...)   # runtime overrides of config.yaml, audited
    q.services(), q.service(series), q.counters(), q.counter(id), q.current_ticket(counter_id)
    q.get(ref), q.resolve(ref), q.list(state=, series=, day=, counter=), q.history(ref)
    q.position(ticket), q.estimate_wait_min(ticket), q.status(ticket), q.waiting_counts()
    q.by_token(token), q.public_status(token, lang)   # the public status page: tokens only
    q.recent_calls(limit)                              # the hall display
    q.expire_day(actor=...), q.events(since_id=0), q.last_event_id()

A ticket reference (`ref`) is a `Ticket`, its integer `id`, its public `token` (the random
string in the status URL `/t/<token>`), or today's display code such as "A012".

Numbers run 001..cfg.queue.max_number per printed series letter per local day (centre time
zone). They are allocated inside the issuing transaction and guarded by
UNIQUE(day, series, number). A full series continues in `cfg.queue.overflow_series[letter]`
when configured, else raises `SeriesFull`.

Call order for a counter: among today's waiting tickets of the services it serves (and
tickets transferred to that counter), priority tickets first, then the earliest
`queued_at` (the original issue time, kept across transfers), then the lowest id.

Times are stored as UTC epoch seconds (REAL) and returned as aware UTC datetimes.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from centre.clock import Clock, SystemClock
from centre.config import WEEKDAYS, Config, OpeningHours
from centre.db import connect, migrate
from centre.queue_api import Forecast, ServiceState
from centre.text import storable, unshowable

TICKET_STATES = ("waiting", "called", "serving", "served", "no_show", "cancelled", "expired")
FINAL_STATES = ("served", "no_show", "cancelled", "expired")
COUNTER_STATES = ("open", "paused", "closed")
#: Transitions as (event kind) -> (states it may start from, state it leads to).
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "call": (("waiting",), "called"),
    "recall": (("called",), "called"),
    "start": (("called",), "serving"),
    "serve": (("called", "serving"), "served"),
    "no_show": (("called",), "no_show"),
    "cancel": (("waiting", "called"), "cancelled"),
    "transfer": (("waiting", "called", "serving"), "waiting"),
    "expire": (("waiting", "called"), "expired"),
}
#: Mean service times outside this range (seconds) are ignored as mistakes (a ticket left open).
_SANE_SERVICE_S = (10, 4 * 3600)
log = logging.getLogger(__name__)
_CODE_RE = re.compile(r"^([A-Za-z])(\d{1,3})$")

MIGRATIONS = [
    """
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY,
        token TEXT NOT NULL UNIQUE,            -- random; public status URL /t/<token>
        day TEXT NOT NULL,                     -- local date of issue, YYYY-MM-DD
        series TEXT NOT NULL,                  -- printed letter (the overflow letter when A was full)
        number INTEGER NOT NULL CHECK (number >= 1),
        service TEXT NOT NULL,                 -- series letter of the service it waits for now
        origin_service TEXT NOT NULL,          -- service it was issued for
        priority TEXT,                         -- priority group key, NULL = ordinary
        prio INTEGER NOT NULL DEFAULT 0,       -- 1 = priority (sort key)
        procedure_key TEXT,                    -- catalogue procedures.key chosen at the kiosk
        lang TEXT NOT NULL DEFAULT 'vi',
        source TEXT NOT NULL DEFAULT 'kiosk',  -- kiosk | staff | cli | api
        state TEXT NOT NULL DEFAULT 'waiting'
            CHECK (state IN ('waiting','called','serving','served','no_show','cancelled','expired')),
        counter_id INTEGER,                    -- counter that called / serves it
        target_counter INTEGER,                -- transferred to this counter: only it may call it
        issued_at REAL NOT NULL,               -- UTC epoch seconds
        queued_at REAL NOT NULL,               -- ordering time (issue time, kept across transfers)
        first_called_at REAL,                  -- first call (wait time for reports)
        called_at REAL,                        -- latest call
        serving_at REAL,
        finished_at REAL,                      -- served / no_show / cancelled / expired
        recalls INTEGER NOT NULL DEFAULT 0,
        transfers INTEGER NOT NULL DEFAULT 0,
        UNIQUE (day, series, number)
    );
    CREATE INDEX tickets_next ON tickets(service, day, prio DESC, queued_at, id)
        WHERE state = 'waiting' AND target_counter IS NULL;
    CREATE INDEX tickets_next_counter ON tickets(target_counter, day, prio DESC, queued_at, id)
        WHERE state = 'waiting' AND target_counter IS NOT NULL;
    CREATE INDEX tickets_current ON tickets(counter_id) WHERE state IN ('called', 'serving');
    CREATE INDEX tickets_open_by_day ON tickets(day) WHERE state IN ('waiting', 'called');
    CREATE INDEX tickets_served ON tickets(service, finished_at) WHERE state = 'served';
    CREATE INDEX tickets_day_service ON tickets(day, service);

    CREATE TABLE queue_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,                      -- UTC epoch seconds
        kind TEXT NOT NULL,                    -- issue, call, recall, start, serve, no_show, cancel,
                                               -- transfer, expire, counter_state, counter_update, service_update
        ticket_id INTEGER REFERENCES tickets(id),
        from_state TEXT,
        to_state TEXT,
        service TEXT,
        counter_id INTEGER,
        actor TEXT NOT NULL,                   -- who or what: 'kiosk', 'officer:lan', 'system'
        detail TEXT NOT NULL DEFAULT '{}'      -- JSON
    );
    CREATE INDEX queue_events_ticket ON queue_events(ticket_id);

    CREATE TABLE counter_settings (            -- runtime overrides of config.yaml counters (NULL = as config)
        counter_id INTEGER PRIMARY KEY,
        state TEXT CHECK (state IS NULL OR state IN ('open','paused','closed')),
        services TEXT,                         -- JSON list of series letters
        name_vi TEXT,
        name_en TEXT,
        waypoint TEXT,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    );
    CREATE TABLE service_settings (            -- runtime overrides of config.yaml services (NULL = as config)
        series TEXT PRIMARY KEY,
        name_vi TEXT,
        name_en TEXT,
        target_wait_min REAL,
        default_service_min REAL,
        opening_hours TEXT,                    -- JSON {"mon": ["07:30-11:30"], ...}
        closed INTEGER,                        -- 1 = closed by an administrator until reopened
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    );
    CREATE TABLE queue_settings_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,                    -- 'counter' | 'service'
        key TEXT NOT NULL,                     -- counter id or series letter
        before TEXT NOT NULL,                  -- JSON of the effective settings before
        after TEXT NOT NULL                    -- JSON of the effective settings after
    );
    """,
    """
    CREATE TABLE ticket_requests (             -- idempotency keys of issue requests (a retry gets the same ticket)
        key TEXT PRIMARY KEY,                  -- chosen by the client, e.g. a UUID per "take a ticket" tap
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        at REAL NOT NULL                       -- UTC epoch seconds; keys older than two days are dropped
    );
    """,
    """
    ALTER TABLE counter_settings ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;  -- 1 = deleted by an administrator
    """,
]
#: Idempotency keys: printable ASCII, at most this long.
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,80}$")
#: What call_next/call may do with the counter's current ticket that was called but never started.
CURRENT_CHOICES = ("ask", "no_show", "serve")


# -- errors ------------------------------------------------------------------------------



def ticket_token() -> str:
    """The ticket's secret for its status page and rating (72 random bits, URL-safe). Never
    starting with "-": officers paste it into `kiosk ticket … TOKEN`, where it would read as
    an option (1 token in 64 did)."""
    while True:
        token = secrets.token_urlsafe(9)
        if not token.startswith("-"):
            return token

class QueueError(Exception):
    """Base class of the queue's errors; the message is plain and fit to show staff."""


class UnknownService(QueueError):
    """No service has this series letter."""


class UnknownCounter(QueueError):
    """No counter has this id."""


class UnknownTicket(QueueError):
    """No ticket matches this id, token or code."""


class UnknownPriority(QueueError):
    """The priority group is not one of cfg.priority_groups."""


class InvalidInput(QueueError):
    """A value given to the queue is not allowed (language, state name, empty actor...)."""


class CounterClosed(QueueError):
    """The counter is paused or closed, so it cannot call tickets."""


class CounterBusy(QueueError):
    """The counter still has a called or serving ticket and was asked not to finish it."""


class ServiceClosed(QueueError):
    """The service is outside its opening hours (or closed by an administrator)."""

    def __init__(self, series: str, opens_at: datetime | None, message: str):
        super().__init__(message)
        self.series = series
        #: Next opening time (aware, centre time zone), or None when unknown/closed by hand.
        self.opens_at = opens_at


class CurrentNotStarted(CounterBusy):
    """The counter's ticket was called but never started: say recall, no-show or served before the next."""

    def __init__(self, counter_id: int, code: str, recalls: int, message: str):
        super().__init__(message)
        self.counter_id = counter_id
        self.code = code
        self.recalls = recalls


class InvalidTransition(QueueError):
    """The ticket's state does not allow this action (e.g. serving a cancelled ticket)."""


class SeriesFull(QueueError):
    """Today's numbers of this series (and its overflow letter) are used up."""


class QueueStorageError(QueueError):
    """The database cannot be read or written (read-only file, locked, disk full, corrupt)."""


# -- records -----------------------------------------------------------------------------


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class Ticket:
    """One queue ticket as stored (times are aware UTC datetimes)."""

    id: int
    token: str
    day: str
    series: str
    number: int
    service: str
    origin_service: str
    priority: str | None
    procedure_key: str | None
    lang: str
    source: str
    state: str
    counter_id: int | None
    target_counter: int | None
    issued_at: datetime
    queued_at: datetime
    first_called_at: datetime | None
    called_at: datetime | None
    serving_at: datetime | None
    finished_at: datetime | None
    recalls: int
    transfers: int

    @property
    def code(self) -> str:
        """The printed number, e.g. 'A012'."""
        return f"{self.series}{self.number:03d}"

    @property
    def status_path(self) -> str:
        """Path of the public status page, to append to cfg.centre.base_url."""
        return f"/t/{self.token}"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, datetime):
                d[k] = v.isoformat()
        d["code"] = self.code
        d["status_path"] = self.status_path
        return d

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Ticket:
        return cls(
            id=row["id"], token=row["token"], day=row["day"], series=row["series"], number=row["number"],
            service=row["service"], origin_service=row["origin_service"], priority=row["priority"],
            procedure_key=row["procedure_key"], lang=row["lang"], source=row["source"], state=row["state"],
            counter_id=row["counter_id"], target_counter=row["target_counter"],
            issued_at=_ts(row["issued_at"]), queued_at=_ts(row["queued_at"]),
            first_called_at=_ts(row["first_called_at"]), called_at=_ts(row["called_at"]),
            serving_at=_ts(row["serving_at"]), finished_at=_ts(row["finished_at"]),
            recalls=row["recalls"], transfers=row["transfers"],
        )


@dataclass(frozen=True)
class Event:
    """One row of queue_events: a ticket transition or a settings change."""

    id: int
    at: datetime
    kind: str
    ticket_id: int | None
    from_state: str | None
    to_state: str | None
    service: str | None
    counter_id: int | None
    actor: str
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return d

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Event:
        return cls(
            id=row["id"], at=_ts(row["at"]), kind=row["kind"], ticket_id=row["ticket_id"],
            from_state=row["from_state"], to_state=row["to_state"], service=row["service"],
            counter_id=row["counter_id"], actor=row["actor"], detail=json.loads(row["detail"] or "{}"),
        )


@dataclass(frozen=True)
class ServiceInfo:
    """A service as in effect now: config.yaml plus administrator overrides."""

    series: str
    name_vi: str
    name_en: str
    fields: tuple[str, ...]
    procedures: tuple[str, ...]
    target_wait_min: float
    default_service_min: float
    opening_hours: OpeningHours
    closed: bool  # closed by an administrator, whatever the hours say

    def name(self, lang: str = "vi") -> str:
        return self.name_en if lang == "en" else self.name_vi

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fields"] = list(self.fields)
        d["procedures"] = list(self.procedures)
        d["opening_hours"] = self.opening_hours.model_dump()
        return d


@dataclass(frozen=True)
class CounterInfo:
    """A counter as in effect now: config.yaml plus administrator overrides and its state."""

    id: int
    name_vi: str
    name_en: str
    services: tuple[str, ...]
    waypoint: str
    x: float | None
    y: float | None
    state: str

    def name(self, lang: str = "vi") -> str:
        return self.name_en if lang == "en" else self.name_vi

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["services"] = list(self.services)
        return d


@dataclass(frozen=True)
class TicketStatus:
    """What a citizen wants to know about a ticket: place, wait, and where to go."""

    ticket: Ticket
    ahead: int                  # people ahead (0 once called)
    wait_min: float             # estimated minutes until called (0 once called)
    counters: tuple[CounterInfo, ...]   # counters that can call it (or the one that called it)
    forecast: Forecast | None = None    # the rounded estimate every screen shows (wait_text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket.to_dict(), "ahead": self.ahead, "wait_min": self.wait_min,
            "counters": [c.to_dict() for c in self.counters],
            "forecast": self.forecast.to_dict() if self.forecast else None,
        }


# -- the queue ---------------------------------------------------------------------------


class Queue:
    """Tickets, counters and services of one centre, stored in its SQLite database."""

    def __init__(self, conn, cfg: Config, clock: Clock | None = None):
        self.conn: sqlite3.Connection = getattr(conn, "conn", conn)
        self.cfg = cfg
        self.clock: Clock = clock or SystemClock()
        self.tz = cfg.centre.tz
        self._lock = threading.RLock()
        self._expired_through: str | None = None
        self._pending_expiry: str | None = None
        self._holidays: tuple | None = None
        try:
            # FULL: a committed (printed) ticket survives a power cut too. With WAL's default
            # NORMAL the last commits may roll back, and their numbers would be issued twice.
            if cfg.queue.durable_commits:
                self.conn.execute("PRAGMA synchronous = FULL")
            migrate(self.conn, "queue", MIGRATIONS)
        except sqlite3.Error as exc:
            raise QueueStorageError(f"cannot prepare the queue tables: {exc}") from exc

    @classmethod
    def open(cls, cfg: Config, clock: Clock | None = None, path: str | Path | None = None) -> Queue:
        """Open the centre's database file (cfg.database_path unless `path`) and wrap it."""
        from centre.db import DatabaseError

        try:
            return cls(connect(path or cfg.database_path), cfg, clock)
        except DatabaseError as exc:
            raise QueueStorageError(str(exc)) from exc

    # -- time ----------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def local(self, when: datetime | None = None) -> datetime:
        """A time (default now) in the centre's time zone."""
        return (when or self.now()).astimezone(self.tz)

    def today(self) -> str:
        """Today's local date as YYYY-MM-DD (the ticket day)."""
        return self.local().date().isoformat()

    # -- transactions --------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction; sqlite errors become QueueStorageError."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise QueueStorageError(_storage_message(exc)) from exc
            try:
                yield self.conn
                self.conn.execute("COMMIT")
                if self._pending_expiry:
                    self._expired_through = self._pending_expiry
            except BaseException as exc:
                if self.conn.in_transaction:
                    try:
                        self.conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if isinstance(exc, sqlite3.Error):
                    raise QueueStorageError(_storage_message(exc)) from exc
                raise
            finally:
                self._pending_expiry = None

    def _read(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise QueueStorageError(_storage_message(exc)) from exc
            except (UnicodeEncodeError, OverflowError):
                # a value SQLite cannot even bind (a lone surrogate from a JSON "\ud800" escape, an integer
                # past 64 bits) equals nothing stored: no rows, not a crash of the caller
                return []

    def _event(self, c: sqlite3.Connection, at: float, kind: str, actor: str, *, ticket_id=None,
               from_state=None, to_state=None, service=None, counter_id=None, detail=None) -> int:
        _check_text("actor", actor)  # raised inside the caller's transaction: the change is rolled back
        cur = c.execute(
            "INSERT INTO queue_events(at, kind, ticket_id, from_state, to_state, service, counter_id, actor, detail) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (at, kind, ticket_id, from_state, to_state, service, counter_id, actor,
             json.dumps(detail or {}, ensure_ascii=False)),
        )
        return cur.lastrowid

    def _maybe_expire(self, c: sqlite3.Connection, now: datetime) -> None:
        """Expire earlier days' open tickets, once a day per Queue object (cheap otherwise)."""
        day = now.astimezone(self.tz).date().isoformat()
        if self._expired_through != day:
            self._expire_before(c, day, now.timestamp(), "system")
            c.execute("DELETE FROM ticket_requests WHERE at < ?", (now.timestamp() - 2 * 86400,))
            self._pending_expiry = day  # remembered only once the transaction commits

    def _expire_before(self, c: sqlite3.Connection, day: str, at: float, actor: str) -> int:
        rows = c.execute(
            "SELECT id, state, service, counter_id FROM tickets WHERE state IN ('waiting','called') AND day < ?",
            (day,),
        ).fetchall()
        for r in rows:
            c.execute("UPDATE tickets SET state='expired', finished_at=? WHERE id=?", (at, r["id"]))
            self._event(c, at, "expire", actor, ticket_id=r["id"], from_state=r["state"], to_state="expired",
                        service=r["service"], counter_id=r["counter_id"], detail={"reason": "day_end"})
        return len(rows)

    # -- services and counters -----------------------------------------------------------
    def services(self) -> list[ServiceInfo]:
        """Every service in effect now (config order, then services added at runtime)."""
        over = {r["series"]: r for r in self._read("SELECT * FROM service_settings")}
        out = []
        for s in self.cfg.services:
            out.append(self._service_info(s.series, s, over.get(s.series)))
        for series, r in sorted(over.items()):
            if not any(s.series == series for s in self.cfg.services):
                out.append(self._service_info(series, None, r))
        return out

    def _service_info(self, series: str, s, r) -> ServiceInfo:
        def pick(col, default):
            return r[col] if r is not None and r[col] is not None else default

        hours = self.cfg.opening_hours
        if s is not None and s.opening_hours is not None:
            hours = s.opening_hours
        if r is not None and r["opening_hours"]:
            hours = OpeningHours.model_validate(json.loads(r["opening_hours"]))
        return ServiceInfo(
            series=series,
            name_vi=pick("name_vi", s.name.vi if s else series),
            name_en=pick("name_en", s.name.en if s else series),
            fields=tuple(s.fields) if s else (),
            procedures=tuple(s.procedures) if s else (),
            target_wait_min=float(pick("target_wait_min", s.target_wait_min if s else 15)),
            default_service_min=float(pick("default_service_min", s.default_service_min if s else 8)),
            opening_hours=hours,
            closed=bool(pick("closed", 0)),
        )

    def service(self, series: str) -> ServiceInfo:
        """The service with this series letter, or UnknownService."""
        for s in self.services():
            if s.series == series:
                return s
        have = ", ".join(s.series for s in self.services())
        raise UnknownService(f"there is no service {series!r} (services: {have})")

    def counters(self) -> list[CounterInfo]:
        """Every counter in effect now (config order, then counters added at runtime)."""
        over = {r["counter_id"]: r for r in self._read("SELECT * FROM counter_settings")}
        gone = {cid for cid, r in over.items() if r["removed"]}
        out = [self._counter_info(c.id, c, over.get(c.id)) for c in self.cfg.counters if c.id not in gone]
        for cid, r in sorted(over.items()):
            if cid not in gone and not any(c.id == cid for c in self.cfg.counters):
                out.append(self._counter_info(cid, None, r))
        return out

    def _counter_info(self, cid: int, c, r) -> CounterInfo:
        def pick(col, default):
            return r[col] if r is not None and r[col] is not None else default

        waypoint = pick("waypoint", c.waypoint if c else "")
        wp = self.cfg.floor_map.waypoints.get(waypoint)
        services = json.loads(r["services"]) if r is not None and r["services"] else (list(c.services) if c else [])
        return CounterInfo(
            id=cid,
            name_vi=pick("name_vi", c.name.vi if c else f"Quầy {cid}"),
            name_en=pick("name_en", c.name.en if c else f"Counter {cid}"),
            services=tuple(services),
            waypoint=waypoint,
            x=wp.x if wp else None,
            y=wp.y if wp else None,
            state=pick("state", c.state if c else "closed"),
        )

    def counter(self, counter_id: int) -> CounterInfo:
        """The counter with this id, or UnknownCounter."""
        for c in self.counters():
            if c.id == counter_id:
                return c
        have = ", ".join(str(c.id) for c in self.counters())
        raise UnknownCounter(f"there is no counter {counter_id!r} (counters: {have})")

    def counters_for(self, series: str) -> list[CounterInfo]:
        """Counters that serve a service (any state)."""
        return [c for c in self.counters() if series in c.services]

    def is_open(self, series: str, when: datetime | None = None) -> tuple[bool, datetime | None]:
        """(open now?, next opening time in local time or None) for a service.

        Public holidays from cfg.paths.holidays are closed days; a weekend date listed there
        as a make-up working day keeps Monday's hours.
        """
        svc = self.service(series)
        local = self.local(when)
        if svc.closed:
            return False, None
        now_t = local.time().replace(tzinfo=None)
        for start, end in self._spans(svc, local.date()):
            if start <= now_t < end:
                return True, None
        for offset in range(0, 60):  # Tết can close the centre for nine days
            d = local.date() + timedelta(days=offset)
            for start, _end in self._spans(svc, d):
                at = datetime.combine(d, start, tzinfo=self.tz)
                if at > local:
                    return False, at
        return False, None

    def _spans(self, svc: ServiceInfo, d: date) -> list:
        holidays, makeup = self._calendar()
        if d in holidays:
            return []
        if d in makeup and d.weekday() >= 5:
            return svc.opening_hours.spans(0)
        return svc.opening_hours.spans(d.weekday())

    def _calendar(self) -> tuple[frozenset, frozenset]:
        """(holidays, make-up working days), re-read when the holidays file changes; empty without it."""
        path = self.cfg.path(self.cfg.paths.holidays)
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            return frozenset(), frozenset()
        if self._holidays is None or self._holidays[0] != stamp:
            try:
                from centre.workdays import HolidayFileError, load_calendar
            except ImportError:
                return frozenset(), frozenset()
            try:
                cal = load_calendar(path)
                self._holidays = (stamp, cal.holidays, cal.extra_working_days)
            except HolidayFileError as exc:  # kiosk doctor reports the file; tickets still work
                log.warning("holidays ignored: %s", exc)
                self._holidays = (stamp, frozenset(), frozenset())
        return self._holidays[1], self._holidays[2]

    def set_counter_state(self, counter_id: int, state: str, *, actor: str) -> CounterInfo:
        """Open, pause or close a counter (a closed/paused counter cannot call)."""
        if state not in COUNTER_STATES:
            raise InvalidInput(f"counter state must be one of {', '.join(COUNTER_STATES)}, not {state!r}")
        self.counter(counter_id)  # an unknown counter: "there is no counter 9 (counters: 1, 2, 3, 4)"
        return self.update_counter(counter_id, actor=actor, state=state)

    def update_counter(self, counter_id: int, *, actor: str, state: str | None = None,
                       services: list[str] | None = None, name_vi: str | None = None,
                       name_en: str | None = None, waypoint: str | None = None) -> CounterInfo:
        """Change a counter at runtime (stored in the DB, audited with before/after).

        A counter id not in config.yaml is added when name_vi, name_en, services and
        waypoint are all given. None leaves a setting as it is.
        """
        _need_actor(actor)
        if state is not None and state not in COUNTER_STATES:
            raise InvalidInput(f"counter state must be one of {', '.join(COUNTER_STATES)}, not {state!r}")
        if not isinstance(counter_id, int) or counter_id < 1:
            raise UnknownCounter(f"there is no counter {counter_id!r}")
        series_known = {s.series for s in self.services()}
        if services is not None:
            if not services:
                raise InvalidInput("a counter must serve at least one service")
            bad = [s for s in services if s not in series_known]
            if bad:
                raise UnknownService(f"there is no service {bad[0]!r} (services: {', '.join(sorted(series_known))})")
        if waypoint is not None and self.cfg.floor_map.waypoints and waypoint not in self.cfg.floor_map.waypoints:
            raise InvalidInput(f"waypoint {waypoint!r} is not on the floor map")
        _check_names(name_vi=name_vi, name_en=name_en)
        exists = any(c.id == counter_id for c in self.counters())
        if not exists and None in (name_vi, name_en, services, waypoint):
            raise UnknownCounter(
                f"there is no counter {counter_id}; to add one give its vi and en names, services and waypoint"
            )
        now = self.now()
        with self._tx() as c:
            before = self.counter(counter_id).to_dict() if exists else {}
            c.execute(
                "INSERT INTO counter_settings(counter_id, state, services, name_vi, name_en, waypoint, updated_at, updated_by) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(counter_id) DO UPDATE SET "
                "state=coalesce(excluded.state, state), services=coalesce(excluded.services, services), "
                "name_vi=coalesce(excluded.name_vi, name_vi), name_en=coalesce(excluded.name_en, name_en), "
                "waypoint=coalesce(excluded.waypoint, waypoint), updated_at=excluded.updated_at, "
                "updated_by=excluded.updated_by, removed=0",
                (counter_id, state, json.dumps(services) if services is not None else None, name_vi, name_en,
                 waypoint, now.timestamp(), actor),
            )
            after = self.counter(counter_id).to_dict()
            c.execute(
                "INSERT INTO queue_settings_audit(at, actor, kind, key, before, after) VALUES (?,?,?,?,?,?)",
                (now.timestamp(), actor, "counter", str(counter_id), json.dumps(before, ensure_ascii=False),
                 json.dumps(after, ensure_ascii=False)),
            )
            kind = "counter_state" if state is not None and before.get("state") != state else "counter_update"
            self._event(c, now.timestamp(), kind, actor, counter_id=counter_id,
                        from_state=before.get("state"), to_state=after["state"],
                        detail={"before": before, "after": after})
        return self.counter(counter_id)

    def remove_counter(self, counter_id: int, *, actor: str) -> CounterInfo:
        """Delete a counter (audited; config.yaml's counters are hidden, not erased: adding the id back
        with names, services and waypoint restores it). Refused while it holds a called or serving
        ticket, has tickets transferred to it, is the last counter, or is the only counter of a
        service with waiting tickets."""
        _need_actor(actor)
        old = self.counter(counter_id)
        others = [c for c in self.counters() if c.id != counter_id]
        if not others:
            raise InvalidInput("the centre needs at least one counter")
        now = self.now()
        with self._tx() as c:
            busy = c.execute("SELECT count(*) FROM tickets WHERE (counter_id=? AND state IN ('called','serving')) "
                             "OR (target_counter=? AND state='waiting')", (counter_id, counter_id)).fetchone()[0]
            if busy:
                raise CounterBusy(f"counter {counter_id} has tickets called to it or waiting for it; finish them first")
            for series in old.services:
                if not any(series in o.services for o in others):
                    waiting = c.execute("SELECT count(*) FROM tickets WHERE state='waiting' AND service=? AND day=?",
                                        (series, self.today())).fetchone()[0]
                    if waiting:
                        raise CounterBusy(f"counter {counter_id} is the only one serving {series}, and "
                                          f"{waiting} tickets wait for it; give {series} to another counter first")
            c.execute("INSERT INTO counter_settings(counter_id, updated_at, updated_by, removed) VALUES (?,?,?,1) "
                      "ON CONFLICT(counter_id) DO UPDATE SET removed=1, updated_at=excluded.updated_at, "
                      "updated_by=excluded.updated_by", (counter_id, now.timestamp(), actor))
            c.execute("INSERT INTO queue_settings_audit(at, actor, kind, key, before, after) VALUES (?,?,?,?,?,?)",
                      (now.timestamp(), actor, "counter", str(counter_id),
                       json.dumps(old.to_dict(), ensure_ascii=False), json.dumps({"removed": True})))
            self._event(c, now.timestamp(), "counter_update", actor, counter_id=counter_id, from_state=old.state,
                        detail={"before": old.to_dict(), "after": {"removed": True}})
        return old

    def update_service(self, series: str, *, actor: str, name_vi: str | None = None, name_en: str | None = None,
                       target_wait_min: float | None = None, default_service_min: float | None = None,
                       opening_hours: dict[str, list[str]] | None = None, closed: bool | None = None) -> ServiceInfo:
        """Change a service at runtime (stored in the DB, audited with before/after).

        A series letter not in config.yaml is added when name_vi and name_en are given
        (assign it to a counter with update_counter). None leaves a setting as it is.
        """
        _need_actor(actor)
        if not re.match(r"^[A-Z]$", series or ""):
            raise InvalidInput(f"a series is one capital letter A-Z, not {series!r}")
        if series in self.cfg.queue.overflow_series.values():
            raise InvalidInput(f"letter {series!r} is reserved as an overflow series")
        for label, v in (("target_wait_min", target_wait_min), ("default_service_min", default_service_min)):
            if v is not None and not (0 < float(v) <= 600):
                raise InvalidInput(f"{label} must be between 0 and 600 minutes, not {v!r}")
        _check_names(name_vi=name_vi, name_en=name_en)
        hours_json = None
        if opening_hours is not None:
            try:
                hours_json = json.dumps(OpeningHours.model_validate(opening_hours).model_dump())
            except ValueError as exc:
                raise InvalidInput(f"opening hours not valid: {_validation_message(exc)}") from None
        exists = any(s.series == series for s in self.services())
        if not exists and None in (name_vi, name_en):
            raise UnknownService(f"there is no service {series!r}; to add one give its vi and en names")
        now = self.now()
        with self._tx() as c:
            before = self.service(series).to_dict() if exists else {}
            c.execute(
                "INSERT INTO service_settings(series, name_vi, name_en, target_wait_min, default_service_min, "
                "opening_hours, closed, updated_at, updated_by) VALUES (?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(series) DO UPDATE SET name_vi=coalesce(excluded.name_vi, name_vi), "
                "name_en=coalesce(excluded.name_en, name_en), "
                "target_wait_min=coalesce(excluded.target_wait_min, target_wait_min), "
                "default_service_min=coalesce(excluded.default_service_min, default_service_min), "
                "opening_hours=coalesce(excluded.opening_hours, opening_hours), "
                "closed=coalesce(excluded.closed, closed), updated_at=excluded.updated_at, updated_by=excluded.updated_by",
                (series, name_vi, name_en, target_wait_min, default_service_min, hours_json,
                 None if closed is None else int(bool(closed)), now.timestamp(), actor),
            )
            after = self.service(series).to_dict()
            c.execute(
                "INSERT INTO queue_settings_audit(at, actor, kind, key, before, after) VALUES (?,?,?,?,?,?)",
                (now.timestamp(), actor, "service", series, json.dumps(before, ensure_ascii=False),
                 json.dumps(after, ensure_ascii=False)),
            )
            self._event(c, now.timestamp(), "service_update", actor, service=series,
                        detail={"before": before, "after": after})
        return self.service(series)

    def priority_groups(self) -> list[dict]:
        """Active priority groups [{key, name_vi, name_en}]: config.yaml plus the administrator's
        changes (centre.admin), or config.yaml alone when that module is absent."""
        try:
            from centre import admin
        except ImportError:
            admin = None
        if admin is not None:
            try:
                with self._lock:
                    admin.ensure_schema(self.conn)
                    return [{"key": g["key"], "name_vi": g["name_vi"], "name_en": g["name_en"]}
                            for g in admin.priority_groups(self.conn, self.cfg)]
            except sqlite3.Error as exc:
                raise QueueStorageError(_storage_message(exc)) from exc
        return [{"key": g.key, "name_vi": g.name.vi, "name_en": g.name.en} for g in self.cfg.priority_groups]

    def settings_audit(self, limit: int = 200) -> list[dict]:
        """Latest changes of counters and services: who, when, before and after."""
        rows = self._read("SELECT * FROM queue_settings_audit ORDER BY id DESC LIMIT ?", (limit,))
        return [{"id": r["id"], "at": _iso(_ts(r["at"])), "actor": r["actor"], "kind": r["kind"], "key": r["key"],
                 "before": json.loads(r["before"]), "after": json.loads(r["after"])} for r in rows]

    # -- issuing -------------------------------------------------------------------------
    def issue(self, series: str, *, priority: str | None = None, procedure_key: str | None = None,
              source: str = "kiosk", lang: str = "vi", actor: str | None = None,
              ignore_hours: bool = False, idempotency_key: str | None = None) -> Ticket:
        """Issue a new waiting ticket for a service and return it.

        With `idempotency_key` (a string the client makes once per "take a ticket", e.g. a
        UUID), a retried request returns the ticket the first one issued, whatever happened
        since (hours closing, a full series), and never issues a second ticket.

        Raises UnknownService, UnknownPriority, InvalidInput (language, key), ServiceClosed
        (outside opening hours unless ignore_hours), SeriesFull, QueueStorageError.
        """
        if idempotency_key is not None:
            if not isinstance(idempotency_key, str) or not _KEY_RE.match(idempotency_key):
                raise InvalidInput("an idempotency key is 1 to 80 printable ASCII characters")
            done = self._issued_for(idempotency_key)
            if done is not None:
                return done
        svc = self.service(series)
        keys = {g["key"] for g in self.priority_groups()} if priority is not None else set()
        if priority is not None and priority not in keys:
            have = ", ".join(sorted(keys)) or "none configured"
            raise UnknownPriority(f"there is no priority group {priority!r} (groups: {have})")
        if lang not in ("vi", "en"):
            raise InvalidInput(f"ticket language must be 'vi' or 'en', not {lang!r}")
        _check_text("procedure key", procedure_key)
        _check_text("source", source)
        _check_text("actor", actor)
        if not self.counters_for(series):
            raise ServiceClosed(series, None, f"no counter serves service {series} ({svc.name_en}); "
                                              "assign it to a counter first")
        now = self.now()
        if not ignore_hours:
            is_open, opens_at = self.is_open(series, now)
            if not is_open:
                raise ServiceClosed(series, opens_at, _closed_message(svc, opens_at))
        day = now.astimezone(self.tz).date().isoformat()
        at = now.timestamp()
        letters = [series]
        if series in self.cfg.queue.overflow_series:
            letters.append(self.cfg.queue.overflow_series[series])
        with self._tx() as c:
            self._maybe_expire(c, now)
            if idempotency_key is not None:
                row = c.execute("SELECT t.* FROM ticket_requests r JOIN tickets t ON t.id = r.ticket_id "
                                "WHERE r.key=?", (idempotency_key,)).fetchone()
                if row is not None:  # the same request raced in another process
                    return Ticket.from_row(row)
            for letter in letters:
                top = c.execute("SELECT MAX(number) FROM tickets WHERE day=? AND series=?", (day, letter)).fetchone()[0]
                number = (top or 0) + 1
                if number <= self.cfg.queue.max_number:
                    break
            else:
                raise SeriesFull(
                    f"all numbers of series {' and '.join(letters)} are used today "
                    f"(up to {self.cfg.queue.max_number:03d}); numbers restart tomorrow"
                )
            token = ticket_token()
            # the place in line never goes before a ticket issued earlier today, even when the clock has
            # been set back (an NTP step of an hour put every new ticket ahead of the people waiting)
            last = c.execute("SELECT MAX(queued_at) FROM tickets WHERE day=?", (day,)).fetchone()[0]
            queued = max(at, last or at)
            cur = c.execute(
                "INSERT INTO tickets(token, day, series, number, service, origin_service, priority, prio, "
                "procedure_key, lang, source, state, issued_at, queued_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?, 'waiting', ?, ?)",
                (token, day, letter, number, series, series, priority, 1 if priority else 0, procedure_key,
                 lang, source, at, queued),
            )
            tid = cur.lastrowid
            self._event(c, at, "issue", actor or source, ticket_id=tid, to_state="waiting", service=series,
                        detail={"code": f"{letter}{number:03d}", "priority": priority})
            if idempotency_key is not None:
                c.execute("INSERT INTO ticket_requests(key, ticket_id, at) VALUES (?,?,?)", (idempotency_key, tid, at))
            row = c.execute("SELECT * FROM tickets WHERE id=?", (tid,)).fetchone()
        return Ticket.from_row(row)

    def _issued_for(self, key: str) -> Ticket | None:
        rows = self._read("SELECT t.* FROM ticket_requests r JOIN tickets t ON t.id = r.ticket_id WHERE r.key=?",
                          (key,))
        return Ticket.from_row(rows[0]) if rows else None

    # -- looking up ----------------------------------------------------------------------
    def get(self, ref) -> Ticket:
        """The current state of a ticket (see `resolve` for what `ref` may be)."""
        return self.resolve(ref)

    def resolve(self, ref) -> Ticket:
        """A ticket from a Ticket, an int id, a token, or today's code like 'A012'."""
        if isinstance(ref, Ticket):
            rows = self._read("SELECT * FROM tickets WHERE id=?", (ref.id,))
        elif isinstance(ref, int) and not isinstance(ref, bool):
            rows = self._read("SELECT * FROM tickets WHERE id=?", (ref,))
        elif isinstance(ref, str) and ref.strip():
            text = ref.strip()
            m = _CODE_RE.match(text)
            if m:
                rows = self._read("SELECT * FROM tickets WHERE day=? AND series=? AND number=?",
                                  (self.today(), m.group(1).upper(), int(m.group(2))))
            elif text.isascii() and text.isdigit() and len(text) < 12:  # tokens are 12 characters, ids shorter
                rows = self._read("SELECT * FROM tickets WHERE id=?", (int(text),))
            else:
                rows = self._read("SELECT * FROM tickets WHERE token=?", (text,))
        else:
            raise UnknownTicket(f"{ref!r} is not a ticket id, token or code")
        if not rows:
            raise UnknownTicket(f"there is no ticket {ref.code if isinstance(ref, Ticket) else ref!r}")
        return Ticket.from_row(rows[0])

    def by_token(self, token: str) -> Ticket:
        """The ticket of a public status URL token (never by id or code: tokens are unguessable)."""
        rows = self._read("SELECT * FROM tickets WHERE token=?", (token,))
        if not rows:
            raise UnknownTicket("there is no such ticket")
        return Ticket.from_row(rows[0])

    def list(self, state: str | None = None, series: str | None = None, day: str | date | None = None,
             counter: int | None = None, limit: int | None = None) -> list[Ticket]:
        """Tickets of a day (default today; day='all' for every day) in call order for waiting ones."""
        where, params = [], []
        if day != "all":
            where.append("day=?")
            params.append(day.isoformat() if isinstance(day, date) else (day or self.today()))
        if state is not None:
            states = [state] if isinstance(state, str) else list(state)
            bad = [s for s in states if s not in TICKET_STATES]
            if bad:
                raise InvalidInput(f"ticket state must be one of {', '.join(TICKET_STATES)}, not {bad[0]!r}")
            where.append(f"state IN ({','.join('?' * len(states))})")
            params += states
        if series is not None:
            where.append("service=?")
            params.append(series)
        if counter is not None:
            where.append("(counter_id=? OR target_counter=?)")
            params += [counter, counter]
        sql = "SELECT * FROM tickets" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY prio DESC, queued_at, id" if state == "waiting" else " ORDER BY issued_at, id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [Ticket.from_row(r) for r in self._read(sql, params)]

    def history(self, ref) -> list[Event]:
        """Every event of one ticket, oldest first."""
        t = self.resolve(ref)
        return [Event.from_row(r) for r in self._read("SELECT * FROM queue_events WHERE ticket_id=? ORDER BY id", (t.id,))]

    def events(self, since_id: int = 0, limit: int = 1000) -> list[Event]:
        """Events after `since_id`, oldest first (the staff server's live stream polls this)."""
        return [Event.from_row(r) for r in
                self._read("SELECT * FROM queue_events WHERE id > ? ORDER BY id LIMIT ?", (since_id, limit))]

    def last_event_id(self) -> int:
        return self._read("SELECT coalesce(max(id), 0) FROM queue_events")[0][0]

    def current_ticket(self, counter_id: int) -> Ticket | None:
        """The ticket a counter has called or is serving, if any (the latest called)."""
        rows = self._read("SELECT * FROM tickets WHERE counter_id=? AND state IN ('called','serving') "
                          "ORDER BY called_at DESC LIMIT 1", (counter_id,))
        return Ticket.from_row(rows[0]) if rows else None

    # -- calling and the lifecycle -------------------------------------------------------
    def call_next(self, counter_id: int, *, actor: str, current: str = "ask",
                  finish_current: bool = True, current_code: str | None = None) -> Ticket | None:
        """Call the next ticket for a counter; None when nobody waits.

        The counter's current ticket is finished first (see `_finish_current`): a serving one
        is served; one that was called but never started is NOT served: `current` says what
        happened to it ("no_show", or "serve" when the officer confirms the citizen was
        served); with "ask" it becomes a no-show once it was recalled
        cfg.queue.no_show_after_recalls times, else CurrentNotStarted is raised so the console
        can ask. finish_current=False raises CounterBusy whenever the counter holds a ticket.
        `current_code` names the ticket the officer's "no_show"/"serve" is about (the code the
        console asked about): when the counter's not-started ticket is another one, it is asked
        about again (CurrentNotStarted), so a repeated request never finishes the ticket its
        first copy had just called.
        """
        _need_actor(actor)
        counter = self.counter(counter_id)
        if counter.state != "open":
            raise CounterClosed(f"counter {counter_id} is {counter.state}; open it before calling")
        now = self.now()
        at = now.timestamp()
        day = now.astimezone(self.tz).date().isoformat()
        with self._tx() as c:
            self._maybe_expire(c, now)
            rows = c.execute("SELECT * FROM tickets WHERE counter_id=? AND state IN ('called','serving')",
                             (counter_id,)).fetchall()
            self._finish_current(c, rows, counter_id, at, actor, current, finish_current, "call_next", current_code)
            best = None
            for series in counter.services:
                r = c.execute(
                    "SELECT * FROM tickets WHERE state='waiting' AND target_counter IS NULL AND service=? AND day=? "
                    "ORDER BY prio DESC, queued_at, id LIMIT 1", (series, day)).fetchone()
                if r is not None and (best is None or _order(r) < _order(best)):
                    best = r
            r = c.execute(
                "SELECT * FROM tickets WHERE state='waiting' AND target_counter=? AND day=? "
                "ORDER BY prio DESC, queued_at, id LIMIT 1", (counter_id, day)).fetchone()
            if r is not None and (best is None or _order(r) < _order(best)):
                best = r
            if best is None:
                return None
            self._apply(c, best, "call", at, actor, counter_id)
            row = c.execute("SELECT * FROM tickets WHERE id=?", (best["id"],)).fetchone()
        return Ticket.from_row(row)

    def call(self, ref, counter_id: int, *, actor: str, current: str = "ask", finish_current: bool = True,
             current_code: str | None = None) -> Ticket:
        """Call one chosen waiting ticket of today to a counter (out of order, by staff choice).

        The counter's current ticket is finished as with call_next (`current`, `finish_current`, `current_code`);
        a counter never holds two called tickets.
        """
        _need_actor(actor)
        counter = self.counter(counter_id)
        if counter.state != "open":
            raise CounterClosed(f"counter {counter_id} is {counter.state}; open it before calling")
        t = self.resolve(ref)
        if t.state == "waiting" and t.day != self.today():
            raise InvalidTransition(f"ticket {t.code} is from {t.day}; only today's tickets can be called")
        at = self.now().timestamp()
        with self._tx() as c:
            row = c.execute("SELECT * FROM tickets WHERE id=?", (t.id,)).fetchone()
            target = row["target_counter"]
            if row["state"] == "waiting" and target is not None and target != counter_id:
                raise InvalidTransition(f"ticket {t.code} was transferred to counter {target}; "
                                        f"only that counter can call it")
            rows = c.execute("SELECT * FROM tickets WHERE counter_id=? AND state IN ('called','serving') "
                             "AND id<>?", (counter_id, t.id)).fetchall()
            if row["state"] == "waiting":
                self._finish_current(c, rows, counter_id, at, actor, current, finish_current, "call", current_code)
            self._apply(c, row, "call", at, actor, counter_id)
            row = c.execute("SELECT * FROM tickets WHERE id=?", (t.id,)).fetchone()
        return Ticket.from_row(row)

    def _finish_current(self, c: sqlite3.Connection, rows: list, counter_id: int, at: float, actor: str,
                        current: str, finish: bool, why: str, current_code: str | None = None) -> None:
        """Finish a counter's tickets before it calls another (inside the calling transaction).

        serving → served; called but never started → no-show when current="no_show" or after
        the configured recalls, served only when current="serve" (the officer says so), else
        CurrentNotStarted. Nothing becomes "served" just because a key was pressed twice; with
        `current_code`, the officer's choice applies to that ticket only (another is asked about).
        """
        if current not in CURRENT_CHOICES:
            raise InvalidInput(f"current must be one of {', '.join(CURRENT_CHOICES)}, not {current!r}")
        limit = self.cfg.queue.no_show_after_recalls
        for r in rows:
            code = f"{r['series']}{r['number']:03d}"
            if not finish:
                raise CounterBusy(f"counter {counter_id} still has ticket {code}; finish it first")
            chosen = current if current_code is None or current_code == code else "ask"
            if r["state"] == "serving":
                self._apply(c, r, "serve", at, actor, counter_id, detail={"auto": why})
            elif chosen == "serve":
                self._apply(c, r, "serve", at, actor, counter_id, detail={"auto": why, "confirmed": True})
            elif chosen == "no_show" or (limit is not None and r["recalls"] >= limit):
                self._apply(c, r, "no_show", at, actor, counter_id,
                            detail={"auto": why, "recalls": r["recalls"]})
            else:
                raise CurrentNotStarted(
                    counter_id, code, r["recalls"],
                    f"ticket {code} was called but never started: recall it, mark it no-show, "
                    f"or say it was served before calling the next")

    def recall(self, ref, *, actor: str) -> Ticket:
        """Announce a called ticket again."""
        return self._transition(self.resolve(ref), "recall", actor)

    def start(self, ref, *, actor: str) -> Ticket:
        """The citizen arrived at the counter: serving starts."""
        return self._transition(self.resolve(ref), "start", actor)

    def serve(self, ref, *, actor: str) -> Ticket:
        """Serving finished."""
        return self._transition(self.resolve(ref), "serve", actor)

    def no_show(self, ref, *, actor: str) -> Ticket:
        """The called citizen did not come."""
        return self._transition(self.resolve(ref), "no_show", actor)

    def cancel(self, ref, *, actor: str) -> Ticket:
        """The citizen left (or the ticket was issued by mistake)."""
        return self._transition(self.resolve(ref), "cancel", actor)

    def transfer(self, ref, *, service: str | None = None, counter: int | None = None, actor: str) -> Ticket:
        """Send a ticket to another service and/or a specific counter; it waits there keeping its place.

        With `counter`, only that counter may call it; with only `service`, any counter
        serving that service may. The original issue time still orders it.
        """
        if service is None and counter is None:
            raise InvalidInput("transfer needs a service or a counter")
        if service is not None:
            self.service(service)
        if counter is not None:
            self.counter(counter)
        t = self.resolve(ref)
        return self._transition(t, "transfer", actor, detail={"service": service, "counter": counter},
                                new_service=service or t.service, target_counter=counter)

    def _transition(self, t: Ticket, kind: str, actor: str, *, counter_id: int | None = None,
                    detail: dict | None = None, new_service: str | None = None,
                    target_counter: int | None = None) -> Ticket:
        _need_actor(actor)
        now = self.now()
        with self._tx() as c:
            row = c.execute("SELECT * FROM tickets WHERE id=?", (t.id,)).fetchone()
            self._apply(c, row, kind, now.timestamp(), actor, counter_id, detail=detail,
                        new_service=new_service, target_counter=target_counter)
            row = c.execute("SELECT * FROM tickets WHERE id=?", (t.id,)).fetchone()
        return Ticket.from_row(row)

    def _apply(self, c: sqlite3.Connection, row: sqlite3.Row, kind: str, at: float, actor: str,
               counter_id: int | None, *, detail: dict | None = None, new_service: str | None = None,
               target_counter: int | None = None) -> None:
        """Check and write one transition plus its event (inside an open transaction)."""
        allowed, to_state = TRANSITIONS[kind]
        state = row["state"]
        code = f"{row['series']}{row['number']:03d}"
        if state not in allowed:
            raise InvalidTransition(
                f"ticket {code} is {state.replace('_', '-')}; '{kind.replace('_', '-')}' needs it to be "
                f"{' or '.join(s.replace('_', '-') for s in allowed)}"
            )
        tid = row["id"]
        if kind == "call":
            c.execute("UPDATE tickets SET state='called', counter_id=?, called_at=?, "
                      "first_called_at=coalesce(first_called_at, ?), target_counter=NULL WHERE id=?",
                      (counter_id, at, at, tid))
        elif kind == "recall":
            c.execute("UPDATE tickets SET recalls=recalls+1, called_at=? WHERE id=?", (at, tid))
        elif kind == "start":
            c.execute("UPDATE tickets SET state='serving', serving_at=? WHERE id=?", (at, tid))
        elif kind == "serve":
            c.execute("UPDATE tickets SET state='served', finished_at=?, serving_at=coalesce(serving_at, called_at) "
                      "WHERE id=?", (at, tid))
        elif kind in ("no_show", "cancel", "expire"):
            c.execute("UPDATE tickets SET state=?, finished_at=? WHERE id=?", (to_state, at, tid))
        elif kind == "transfer":
            c.execute("UPDATE tickets SET state='waiting', service=?, target_counter=?, counter_id=NULL, "
                      "serving_at=NULL, transfers=transfers+1 WHERE id=?", (new_service, target_counter, tid))
        ev_counter = counter_id if counter_id is not None else row["counter_id"]
        ev_detail = {"code": code, **(detail or {})}
        if kind == "transfer":
            ev_detail["from_service"] = row["service"]
        self._event(c, at, kind, actor, ticket_id=tid, from_state=state, to_state=to_state,
                    service=new_service or row["service"], counter_id=ev_counter, detail=ev_detail)

    def expire_day(self, day: str | date | None = None, *, actor: str = "system") -> int:
        """Expire waiting/called tickets of days before `day` (default today); returns how many."""
        _need_actor(actor)
        now = self.now()
        today = now.astimezone(self.tz).date().isoformat()
        d = day.isoformat() if isinstance(day, date) else (day or today)
        try:
            ok = date.fromisoformat(d).isoformat() == d
        except (TypeError, ValueError):
            ok = False
        if not ok or d > today:  # "9999-99-99" compared after today: today's waiting tickets were expired
            raise InvalidInput(f"day must be a date like 2026-11-25, not after today ({today}): {str(day)[:40]!r}")
        with self._tx() as c:
            n = self._expire_before(c, d, now.timestamp(), actor)
        return n

    # -- estimates -----------------------------------------------------------------------
    def position(self, ref) -> int:
        """People ahead of a waiting ticket in its call order (0 when called or finished)."""
        t = self.resolve(ref)
        if t.state != "waiting":
            return 0
        prio = 1 if t.priority else 0
        q = t.queued_at.timestamp()
        order = "(prio > ? OR (prio = ? AND (queued_at < ? OR (queued_at = ? AND id < ?))))"
        args = [prio, prio, q, q, t.id]
        if t.target_counter is None:
            n = self._read(f"SELECT count(*) FROM tickets WHERE state='waiting' AND target_counter IS NULL "
                           f"AND service=? AND day=? AND {order}", [t.service, t.day, *args])[0][0]
        else:
            services = self.counter(t.target_counter).services if self._counter_exists(t.target_counter) else ()
            n = self._read(f"SELECT count(*) FROM tickets WHERE state='waiting' AND target_counter=? AND day=? "
                           f"AND {order}", [t.target_counter, t.day, *args])[0][0]
            for s in services:
                n += self._read(f"SELECT count(*) FROM tickets WHERE state='waiting' AND target_counter IS NULL "
                                f"AND service=? AND day=? AND {order}", [s, t.day, *args])[0][0]
        return n

    def _counter_exists(self, counter_id: int) -> bool:
        return any(c.id == counter_id for c in self.counters())

    def mean_service_min(self, series: str) -> float:
        """Mean service time of the service's last cfg.queue.service_time_window served tickets,
        or the configured default before there is data."""
        svc = self.service(series)
        row = self._read(
            "SELECT avg(d), count(*) FROM (SELECT finished_at - serving_at AS d FROM tickets "
            "WHERE state='served' AND service=? AND serving_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?) "
            "WHERE d BETWEEN ? AND ?",
            (series, self.cfg.queue.service_time_window, *_SANE_SERVICE_S),
        )[0]
        if not row[1]:
            return svc.default_service_min
        return row[0] / 60.0

    def estimate_wait_min(self, ref) -> float:
        """Estimated minutes until a waiting ticket is called (0 when called or finished).

        ahead × mean service time ÷ open counters serving the service, plus half a
        service time when every such counter is busy (the person at the counter now).
        With no open counter the estimate assumes one.
        """
        t = self.resolve(ref)
        if t.state != "waiting":
            return 0.0
        return self._wait_min(t.service, self.position(t), self._open_counters(t))

    def _open_counters(self, t: Ticket) -> list[CounterInfo]:
        if t.target_counter is not None:
            return [c for c in self.counters() if c.id == t.target_counter and c.state == "open"]
        return [c for c in self.counters_for(t.service) if c.state == "open"]

    def _wait_min(self, series: str, ahead: int, counters: list[CounterInfo]) -> float:
        mean = self.mean_service_min(series)
        n = max(1, len(counters))
        busy = 0
        if counters:
            ids = [c.id for c in counters]
            busy = self._read(f"SELECT count(DISTINCT counter_id) FROM tickets WHERE state IN ('called','serving') "
                              f"AND counter_id IN ({','.join('?' * len(ids))})", ids)[0][0]
        wait = mean * ahead / n + (mean / 2 if busy >= n else 0.0)
        return round(wait, 1)

    def forecast(self, series: str | None = None, *, priority: str | None = None, ticket=None) -> Forecast:
        """The wait of a ticket taken now for `series` (a priority one when `priority`), or of an
        issued `ticket` (any ref; 0 minutes once called). Rounded once: `Forecast.minutes`."""
        if ticket is not None:
            t = self.resolve(ticket)
            counters = self._open_counters(t)
            if t.state != "waiting":
                return Forecast.from_estimate(t.service, 0, len(counters), 0.0)
            ahead = self.position(t)
            return Forecast.from_estimate(t.service, ahead, len(counters), self._wait_min(t.service, ahead, counters))
        self.service(series)
        counters = [c for c in self.counters_for(series) if c.state == "open"]
        prio = "AND prio = 1" if priority else ""
        ahead = self._read(f"SELECT count(*) FROM tickets WHERE state='waiting' AND target_counter IS NULL "
                           f"AND service=? AND day=? {prio}", (series, self.today()))[0][0]
        return Forecast.from_estimate(series, ahead, len(counters), self._wait_min(series, ahead, counters))

    def summary(self, when: datetime | None = None) -> list[ServiceState]:
        """Every service as a kiosk's home shows it (state, next opening, waiting, forecast): one call."""
        counts = self.waiting_counts()
        out = []
        for s in self.services():
            counters = self.counters_for(s.series)
            opens_at = None
            if not counters:
                state = "no_counter"
            else:
                is_open, opens_at = self.is_open(s.series, when)
                if not is_open:
                    state = "closed"
                elif not any(c.state == "open" for c in counters):
                    state = "paused"
                else:
                    state = "open"
            out.append(ServiceState(series=s.series, name_vi=s.name_vi, name_en=s.name_en, state=state,
                                    opens_at=opens_at, waiting=counts.get(s.series, 0),
                                    forecast=self.forecast(s.series)))
        return out

    def status(self, ref) -> TicketStatus:
        """Position, estimate and counters of a ticket (for the kiosk, the ticket and the status page)."""
        t = self.resolve(ref)
        if t.counter_id is not None and t.state in ("called", "serving"):
            counters = tuple(c for c in self.counters() if c.id == t.counter_id)
        elif t.target_counter is not None:
            counters = tuple(c for c in self.counters() if c.id == t.target_counter)
        else:
            counters = tuple(self.counters_for(t.service))
        fc = self.forecast(ticket=t)
        return TicketStatus(ticket=t, ahead=fc.ahead, wait_min=self.estimate_wait_min(t), counters=counters,
                            forecast=fc)

    def recent_calls(self, limit: int = 8) -> list[Ticket]:
        """Today's latest called tickets, newest first (for the hall display), whatever their state now."""
        rows = self._read("SELECT * FROM tickets WHERE day=? AND called_at IS NOT NULL AND state != 'waiting' "
                          "ORDER BY called_at DESC, id DESC LIMIT ?", (self.today(), limit))
        return [Ticket.from_row(r) for r in rows]

    def last_served(self, counter_id: int) -> Ticket | None:
        """The ticket this counter finished serving most recently today (what its rating tablet rates)."""
        rows = self._read("SELECT * FROM tickets WHERE counter_id = ? AND state = 'served' AND day = ? "
                          "ORDER BY finished_at DESC, id DESC LIMIT 1", (counter_id, self.today()))
        return Ticket.from_row(rows[0]) if rows else None

    def call_events(self, limit: int = 40) -> list[dict[str, Any]]:
        """Today's latest call and recall events, newest first: {event_id, at, kind, counter_id, code,
        state (the ticket's state now)} (the hall display's latest call per counter and recent calls)."""
        rows = self._read(
            "SELECT e.id, e.at, e.kind, e.counter_id, t.series, t.number, t.state FROM queue_events e "
            "JOIN tickets t ON t.id = e.ticket_id WHERE e.kind IN ('call', 'recall') AND t.day = ? "
            "ORDER BY e.id DESC LIMIT ?", (self.today(), limit))
        return [{"event_id": r["id"], "at": r["at"], "kind": r["kind"], "counter_id": r["counter_id"],
                 "code": f"{r['series']}{r['number']:03d}", "state": r["state"]} for r in rows]

    def public_status(self, token: str, lang: str = "vi") -> dict[str, Any]:
        """What the public status page /t/<token> may show: no ids, actors or other tickets' data.

        Raises UnknownTicket for a token that does not exist.
        """
        from centre.tickets import wait_text

        st = self.status(self.by_token(token))
        t = st.ticket
        svc = self.service(t.service)
        local = self.local(t.issued_at)
        called = t.state in ("called", "serving")
        first = st.counters[0] if called and st.counters else None
        return {
            "code": t.code, "state": t.state, "service": t.service, "service_name": svc.name(lang),
            "service_name_vi": svc.name_vi, "service_name_en": svc.name_en,
            "day": t.day, "issued_at": t.issued_at.isoformat(), "issued_local": local.strftime("%H:%M %d/%m/%Y"),
            "ahead": st.ahead, "wait_min": st.wait_min, "minutes": st.forecast.minutes,
            "wait_text_vi": wait_text(st.forecast, "vi"), "wait_text_en": wait_text(st.forecast, "en"),
            "priority": t.priority is not None, "recalls": t.recalls,
            "counters": [{"id": c.id, "name": c.name(lang), "waypoint": c.waypoint} for c in st.counters],
            "called_counter": t.counter_id if called else None,
            "counter": {"id": first.id, "name_vi": first.name_vi, "name_en": first.name_en} if first else None,
            "expired": t.state == "expired" or (t.state == "waiting" and t.day != self.today()),
        }

    def ticket_at_counters(self, ref, counter_ids) -> bool:
        """Whether a ticket is at, for, or waiting for a service of one of these counters (what an
        officer bound to them may act on)."""
        t = self.resolve(ref)
        mine = set(counter_ids)
        if t.counter_id in mine or t.target_counter in mine:
            return True
        if t.state == "waiting" and t.target_counter is None:
            return any(t.service in c.services for c in self.counters() if c.id in mine)
        return False

    def waiting_counts(self, day: str | None = None) -> dict[str, int]:
        """{series: waiting tickets today} for every service (0 included)."""
        out = {s.series: 0 for s in self.services()}
        for r in self._read("SELECT service, count(*) FROM tickets WHERE state='waiting' AND day=? GROUP BY service",
                            (day or self.today(),)):
            out[r[0]] = r[1]
        return out


# -- helpers -----------------------------------------------------------------------------


def _order(row: sqlite3.Row) -> tuple:
    return (-row["prio"], row["queued_at"], row["id"])


def _validation_message(exc: ValueError) -> str:
    """A pydantic error as 'mon: '25:00-26:00' is not a time span ...', without its type and URL."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ()))
        msg = err.get("msg", "").removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def _need_actor(actor: str) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidInput("every change needs an actor (who or what made it), e.g. 'officer:lan' or 'kiosk'")


#: the longest text the queue stores from a caller (an actor, a procedure key, a name): catalogue keys
#: have under 50 characters, service names under 100; megabytes would be kept in every ticket and event
MAX_TEXT = 200


def _check_text(label: str, value) -> None:
    """InvalidInput for a text too long or holding a lone surrogate (SQLite cannot store it)."""
    if value is None or not isinstance(value, str):
        return
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{label} is longer than {MAX_TEXT} characters")
    if not storable(value):
        raise InvalidInput(f"{label} holds a character that is not text (a lone surrogate)")


def _check_names(**names: str | None) -> None:
    """Raise InvalidInput for a given name that is blank, too long or holds a character no display
    may show (a control or format character: NUL, newline, a bidi override, a zero-width space)."""
    for label, v in names.items():
        if v is None:
            continue
        if not v.strip():
            raise InvalidInput(f"{label} must not be empty")
        _check_text(label, v)
        bad = unshowable(v)
        if bad:
            raise InvalidInput(f"{label} holds a control or invisible character ({bad})")


def _storage_message(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"the queue database is read-only ({text}); check the file's permissions"
    if "locked" in text or "busy" in text:
        return f"the queue database is locked by another program ({text}); try again"
    return f"the queue database cannot be used: {text}"


def _closed_message(svc: ServiceInfo, opens_at: datetime | None) -> str:
    if opens_at is None:
        return f"service {svc.series} ({svc.name_en}) is closed now"
    day = WEEKDAYS[opens_at.weekday()].capitalize()
    return f"service {svc.series} ({svc.name_en}) is closed now; it opens at {opens_at:%H:%M} on {day} {opens_at:%d/%m/%Y}"
