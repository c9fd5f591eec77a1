"""The outbox: every change the province needs, written in the same transaction as the change.

SQLite triggers on the centre's own tables (tickets, ticket_ratings, dossiers, dossier_events,
queue_events without a ticket — counter and service settings —, catalogue_meta) append one
row to `outbox` inside the transaction that made the change, so a change and its outbox
row commit or roll back together: nothing the queue or the dossier register writes can be
missed, and the queue code does not know the outbox exists.

Each outbox row has a local `seq` (AUTOINCREMENT: sending order) and a random `uid` (16 bytes,
hex). The hub keys events by (centre, uid), so a row sent twice is stored once, and a centre
restored from an old backup — whose `seq` numbers start again below what the hub has seen —
can never overwrite another event: its new rows get new random uids.

Triggers are installed by `install()` (called by the sync agent, `kiosk sync`), only on a
centre that syncs. A table that gets its triggers for the first time is snapshotted into the
outbox in the same transaction (every existing ticket, rating and dossier), so a centre joining
the province sends its history, and a table created later by another process is picked up at
the next `install()`.

What is sent leaves out personal data: no applicant name or phone, no officer names, no
actor of queue events. Tickets are identified by their random token, never by the local id.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from centre.db import migrate, transaction

MIGRATIONS = [
    """
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,            -- sending order (local)
        uid TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))),  -- event id at the hub
        kind TEXT NOT NULL,                                -- ticket | rating | dossier | dossier_event | setting | catalogue
        at REAL NOT NULL,                                  -- epoch seconds of the change (the row's own time)
        data TEXT NOT NULL                                 -- JSON object
    );
    CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
]

# Local ISO time read as UTC epoch: a stable partition key for dossier rows (exact to the day).
_ISO_EPOCH = "((julianday({x}) - 2440587.5) * 86400.0)"


def _ticket(p: str) -> tuple[str, str]:
    at = f"COALESCE({p}finished_at, {p}serving_at, {p}called_at, {p}issued_at)"
    data = (f"json_object('token', {p}token, 'day', {p}day, 'series', {p}series, 'number', {p}number, "
            f"'service', {p}service, 'origin_service', {p}origin_service, 'priority', {p}priority, "
            f"'procedure_key', {p}procedure_key, 'lang', {p}lang, 'source', {p}source, 'state', {p}state, "
            f"'counter_id', {p}counter_id, 'issued_at', {p}issued_at, 'first_called_at', {p}first_called_at, "
            f"'serving_at', {p}serving_at, 'finished_at', {p}finished_at, 'recalls', {p}recalls, "
            f"'transfers', {p}transfers)")
    return at, data


def _rating(p: str) -> tuple[str, str]:
    data = (f"json_object('token', (SELECT token FROM tickets WHERE id = {p}ticket_id), "
            f"'day', (SELECT day FROM tickets WHERE id = {p}ticket_id), 'rating', {p}rating, 'via', {p}via, "
            f"'at', {p}at)")
    return f"{p}at", data


def _dossier(p: str) -> tuple[str, str]:
    data = (f"json_object('code', {p}code, 'procedure_code', {p}procedure_code, 'received_at', {p}received_at, "
            f"'due_at', {p}due_at, 'due_source', {p}due_source, 'state', {p}state, 'counter', {p}counter, "
            f"'channel', {p}channel, 'digitised', {p}digitised, 'updated_at', {p}updated_at)")
    return _ISO_EPOCH.format(x=f"{p}updated_at"), data


def _dossier_event(p: str) -> tuple[str, str]:
    data = f"json_object('code', {p}code, 'at', {p}at, 'state', {p}state)"
    return _ISO_EPOCH.format(x=f"{p}at"), data


def _setting(p: str) -> tuple[str, str]:
    data = (f"json_object('kind', {p}kind, 'service', {p}service, 'counter_id', {p}counter_id, "
            f"'detail', CASE WHEN json_valid({p}detail) THEN json({p}detail) ELSE {p}detail END)")
    return f"{p}at", data


def _catalogue(p: str) -> tuple[str, str]:
    return "((julianday('now') - 2440587.5) * 86400.0)", f"json_object('key', {p}key, 'value', {p}value)"


@dataclass(frozen=True)
class Source:
    """One table whose changes go to the outbox."""

    table: str
    kind: str
    build: object  # (prefix) -> (at_sql, data_sql)
    events: tuple[str, ...] = ("INSERT", "UPDATE")
    when: str = ""          # trigger WHEN condition on NEW
    snapshot: bool = True   # enqueue existing rows when the triggers are first installed
    order: str = "rowid"


SOURCES = (
    Source("tickets", "ticket", _ticket),
    Source("ticket_ratings", "rating", _rating, order="at"),
    Source("dossiers", "dossier", _dossier),
    Source("dossier_events", "dossier_event", _dossier_event, events=("INSERT",), order="id"),
    Source("queue_events", "setting", _setting, events=("INSERT",), when="NEW.ticket_id IS NULL", snapshot=False),
    Source("catalogue_meta", "catalogue", _catalogue, snapshot=False),
)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _triggers(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}


def _trigger_sql(src: Source, event: str) -> str:
    at, data = src.build("NEW.")
    when = f" WHEN {src.when}" if src.when else ""
    return (f"CREATE TRIGGER IF NOT EXISTS outbox_{src.table}_{event.lower()} AFTER {event} ON {src.table}{when} "
            f"BEGIN INSERT INTO outbox(kind, at, data) VALUES ('{src.kind}', {at}, {data}); END")


def install(conn: sqlite3.Connection) -> list[str]:
    """Create the outbox and the triggers of every source table present; returns tables newly covered."""
    migrate(conn, "outbox", MIGRATIONS)
    tables = _tables(conn)
    if "dossiers" in tables:  # the triggers read the channel/digitised columns (dossiers migration 2)
        from centre.dossiers import MIGRATIONS as DOSSIER_MIGRATIONS

        migrate(conn, "dossiers", DOSSIER_MIGRATIONS)
    have = _triggers(conn)
    todo = [s for s in SOURCES if s.table in tables and any(
        f"outbox_{s.table}_{e.lower()}" not in have for e in s.events)]
    if not todo:
        return []
    with transaction(conn):
        have = _triggers(conn)
        for src in todo:
            first = all(f"outbox_{src.table}_{e.lower()}" not in have for e in src.events)
            for e in src.events:
                conn.execute(_trigger_sql(src, e))
            if first and src.snapshot:
                at, data = src.build("")
                conn.execute(f"INSERT INTO outbox(kind, at, data) SELECT '{src.kind}', {at}, {data} "
                             f"FROM {src.table} ORDER BY {src.order}")
    return [s.table for s in todo]


def installed(conn: sqlite3.Connection) -> bool:
    return "outbox" in _tables(conn)


# -- reading and acknowledging ---------------------------------------------------------------


@dataclass
class Event:
    seq: int
    uid: str
    kind: str
    at: float
    data: dict

    def to_wire(self) -> dict:
        return {"seq": self.seq, "uid": self.uid, "kind": self.kind, "at": self.at, "data": self.data}


def get_state(conn: sqlite3.Connection) -> dict[str, str]:
    if not installed(conn):
        return {}
    return {r[0]: r[1] for r in conn.execute("SELECT key, value FROM sync_state")}


def set_state(conn: sqlite3.Connection, **values) -> None:
    with transaction(conn):
        for k, v in values.items():
            conn.execute("INSERT INTO sync_state(key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (k, str(v)))


def acked_seq(conn: sqlite3.Connection) -> int:
    return int(get_state(conn).get("acked_seq", 0))


def pending(conn: sqlite3.Connection, limit: int) -> list[Event]:
    """The next `limit` events after the acknowledged one, in sending order."""
    rows = conn.execute("SELECT seq, uid, kind, at, data FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                        (acked_seq(conn), limit)).fetchall()
    return [Event(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]


def pending_json(conn: sqlite3.Connection, limit: int) -> tuple[int, int, str]:
    """(count, last seq, JSON array text) of the next `limit` events, built by SQLite itself."""
    row = conn.execute(
        "SELECT COUNT(*), MAX(seq), json_group_array(json_object('seq', seq, 'uid', uid, 'kind', kind, 'at', at, "
        "'data', json(data))) FROM (SELECT * FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?)",
        (acked_seq(conn), limit)).fetchone()
    return row[0], row[1] or 0, row[2]


def backlog(conn: sqlite3.Connection) -> int:
    if not installed(conn):
        return 0
    return conn.execute("SELECT COUNT(*) FROM outbox WHERE seq > ?", (acked_seq(conn),)).fetchone()[0]


def ack(conn: sqlite3.Connection, upto_seq: int, *, now: float | None = None) -> None:
    """The hub has committed every event up to `upto_seq`: move the cursor (never backwards)."""
    now = time.time() if now is None else now
    with transaction(conn):
        # what happened last, in order whatever the clock says (a clock set back made a later error look
        # older than the last success, and `kiosk doctor` called a failing sync fine)
        conn.execute("INSERT INTO sync_state(key, value) VALUES ('last_outcome', 'sent') "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        row = conn.execute("SELECT value FROM sync_state WHERE key = 'acked_seq'").fetchone()
        if row and int(row[0]) >= upto_seq:
            return
        for k, v in (("acked_seq", upto_seq), ("last_sent_at", now)):
            conn.execute("INSERT INTO sync_state(key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (k, str(v)))


def prune(conn: sqlite3.Connection, *, keep_days: float = 30, now: float | None = None) -> int:
    """Delete acknowledged events older than `keep_days` (by the row's own time); returns how many."""
    now = time.time() if now is None else now
    with transaction(conn):
        cur = conn.execute("DELETE FROM outbox WHERE seq <= ? AND at < ?", (acked_seq(conn), now - keep_days * 86400))
    return cur.rowcount
