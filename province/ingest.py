"""Idempotent ingest of one centre's batch: events, facts and the daily rollup in one transaction.

1. the months the batch touches get their partitions (own short transaction);
2. then, in one transaction holding the centre's advisory lock (a centre's batches are applied
   one at a time, in the order they arrive; a batch arriving while another of its centre is being
   applied is refused with `CentreBusy`, 429, rather than waiting on a database connection): expand the batch into a temporary table in one
   statement (jsonb_to_recordset: the JSON goes to PostgreSQL as one parameter), insert it
   into `events` with ON CONFLICT DO NOTHING — an event already stored is a duplicate and is
   dropped —, apply only the new events to the fact tables (the last snapshot of a ticket or
   dossier in the batch wins), rebuild the daily counts of the days touched (the days its rows
   were counted on before, and after), update the
   centre's counters, commit. A hub killed at any point before the commit leaves nothing; the
   centre did not get its acknowledgement and sends the batch again.

The centre id always comes from the token (the caller), never from the batch.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg

from province.db import ensure_partitions
from province.rollup import rollup

KINDS = ("ticket", "rating", "dossier", "dossier_event", "setting", "catalogue")
_UID = re.compile(r"^[0-9a-f]{32}$")
MAX_EVENTS = 20000  # the largest province.batch_size a centre may set
# A NUL escape in the batch's JSON text (after an even run of backslashes, so not an escaped "\\"
# followed by "u0000"): PostgreSQL text and jsonb cannot hold U+0000.
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


class BadBatch(ValueError):
    """The batch is not well formed (the message names the event and field)."""


class CentreBusy(RuntimeError):
    """Another batch of this centre is being applied now; send this one again later.

    Waiting for the centre's lock would hold one of the hub's few database connections: a few
    batches of one ward posted at once took them all, and the dashboard, the logins and every
    other ward waited behind them."""

    retry_after_s = 5


@dataclass
class IngestResult:
    received: int
    stored: int
    duplicates: int
    last_seq: int | None
    days: int

    def to_dict(self) -> dict:
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
                "last_seq": self.last_seq, "days": self.days}


def validate(events: list) -> list[tuple]:
    """Rows (uid, seq, kind, at) of a well-formed batch, in the batch's order."""
    if not isinstance(events, list):
        raise BadBatch("events must be a list")
    if len(events) > MAX_EVENTS:
        raise BadBatch(f"at most {MAX_EVENTS} events a batch (province.batch_size), not {len(events)}")
    rows, last = [], None
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            raise BadBatch(f"event {i}: not an object")
        uid, seq, kind, at, data = e.get("uid"), e.get("seq"), e.get("kind"), e.get("at"), e.get("data")
        if not isinstance(uid, str) or not _UID.fullmatch(uid):
            raise BadBatch(f"event {i}: uid must be 32 hex digits")
        if not isinstance(seq, int) or isinstance(seq, bool) or (last is not None and seq <= last):
            raise BadBatch(f"event {i}: seq must be an integer increasing within the batch")
        if kind not in KINDS:
            raise BadBatch(f"event {i}: unknown kind {kind!r}")
        if not isinstance(at, int | float) or not -1e10 < at < 1e11:
            raise BadBatch(f"event {i}: at must be epoch seconds")
        if not isinstance(data, dict):
            raise BadBatch(f"event {i}: data must be an object")
        last = seq
        rows.append((uid, seq, kind, float(at)))
    return rows


def _months(rows: list[tuple]) -> set[date]:
    out = set()
    for r in rows:
        try:
            d = datetime.fromtimestamp(r[3], UTC)
        except (OverflowError, OSError, ValueError):
            continue
        out.add(date(d.year, d.month, 1))
    return out


_STAGE = ("CREATE TEMP TABLE IF NOT EXISTS stage (uid uuid, seq bigint, kind text, at_epoch float8, data jsonb) "
          "ON COMMIT DELETE ROWS")

_TICKETS = """
INSERT INTO tickets AS t (centre_id, token, day, service, state, priority, procedure_key, counter_id,
                          issued_at, first_called_at, serving_at, finished_at, recalls, transfers)
SELECT DISTINCT ON (data->>'token') %(c)s, data->>'token', (data->>'day')::date, data->>'service',
       data->>'state', data->>'priority', data->>'procedure_key', (data->>'counter_id')::int,
       (data->>'issued_at')::float8, (data->>'first_called_at')::float8, (data->>'serving_at')::float8,
       (data->>'finished_at')::float8, COALESCE((data->>'recalls')::int, 0), COALESCE((data->>'transfers')::int, 0)
FROM stage WHERE kind = 'ticket' ORDER BY data->>'token', seq DESC
ON CONFLICT (centre_id, token) DO UPDATE SET day = excluded.day, service = excluded.service,
    state = excluded.state, priority = excluded.priority, procedure_key = excluded.procedure_key,
    counter_id = excluded.counter_id, issued_at = excluded.issued_at, first_called_at = excluded.first_called_at,
    serving_at = excluded.serving_at, finished_at = excluded.finished_at, recalls = excluded.recalls,
    transfers = excluded.transfers
RETURNING day
"""

_RATINGS = """
INSERT INTO ratings (centre_id, token, day, rating, at)
SELECT DISTINCT ON (data->>'token') %(c)s, data->>'token', (data->>'day')::date, (data->>'rating')::smallint,
       (data->>'at')::float8
FROM stage WHERE kind = 'rating' AND data->>'token' IS NOT NULL ORDER BY data->>'token', seq DESC
ON CONFLICT (centre_id, token) DO UPDATE SET day = excluded.day, rating = excluded.rating, at = excluded.at
RETURNING day
"""

_DOSSIERS = """
INSERT INTO dossiers (centre_id, code, procedure_code, received_on, due_on, state, channel, digitised, updated_at)
SELECT DISTINCT ON (data->>'code') %(c)s, data->>'code', COALESCE(data->>'procedure_code', ''),
       (data->>'received_at')::timestamp::date, (data->>'due_at')::date, data->>'state',
       COALESCE(data->>'channel', ''), (data->>'digitised')::int::boolean, COALESCE(data->>'updated_at', '')
FROM stage WHERE kind = 'dossier' ORDER BY data->>'code', seq DESC
ON CONFLICT (centre_id, code) DO UPDATE SET procedure_code = excluded.procedure_code,
    received_on = excluded.received_on, due_on = excluded.due_on, state = excluded.state,
    channel = excluded.channel, digitised = excluded.digitised, updated_at = excluded.updated_at
RETURNING received_on, finished_on
"""

_FINISHED = """
UPDATE dossiers d SET finished_on = LEAST(COALESCE(d.finished_on, x.f), x.f)
FROM (SELECT data->>'code' AS code, min((data->>'at')::timestamp::date) AS f FROM stage
      WHERE kind = 'dossier_event' AND data->>'state' IN ('ready', 'returned', 'rejected') GROUP BY 1) x
WHERE d.centre_id = %(c)s AND d.code = x.code
RETURNING d.finished_on
"""


def ingest(conn: psycopg.Connection, centre_id: str, events: list) -> IngestResult:
    """Store a batch from `centre_id` (already authenticated); safe to call again with the same batch."""
    rows = validate(events)
    if not rows:
        return IngestResult(0, 0, 0, None, 0)
    ensure_partitions(conn, _months(rows))
    delay = float(os.environ.get("PROVINCE_INGEST_DELAY_S", "0") or 0)  # tests: widen the mid-batch window
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (centre_id,)).fetchone()[0]:
            raise CentreBusy(f"a batch of centre {centre_id} is being stored now; send this one again later")
        conn.execute(_STAGE)
        conn.execute("INSERT INTO stage (uid, seq, kind, at_epoch, data) SELECT uid, seq, kind, at, data "
                     "FROM jsonb_to_recordset(%s::jsonb) AS x(uid uuid, seq bigint, kind text, at float8, data jsonb)",
                     (_batch_json(events),))
        new = conn.execute(
            "INSERT INTO events (centre_id, uid, seq, kind, at, data) "
            "SELECT %s, uid, seq, kind, to_timestamp(at_epoch), data FROM stage "
            "ON CONFLICT DO NOTHING RETURNING uid", (centre_id,)).fetchall()
        stored = len(new)
        if stored < len(rows):
            conn.execute("DELETE FROM stage WHERE NOT (uid = ANY(%s))", ([r[0] for r in new],))
        days = _apply_facts(conn, centre_id) if stored else set()
        rollup(conn, centre_id, days)
        if delay:
            time.sleep(delay)
        # the highest seq ever received (GREATEST skips NULL): a replayed older batch (a ward's
        # database restored from a backup, a retry after a lost answer) set it back
        conn.execute("UPDATE centres SET last_seen = now(), last_seq = GREATEST(last_seq, %s), events = events + %s, "
                     "duplicates = duplicates + %s, batches = batches + 1 WHERE centre_id = %s",
                     (rows[-1][1], stored, len(rows) - stored, centre_id))
    return IngestResult(len(rows), stored, len(rows) - stored, rows[-1][1], len(days))


# The days the batch's tickets, ratings and dossiers are counted on *before* it is applied: a row
# that moves (a dossier's receipt date corrected, a finish stamped earlier) leaves its old day, whose
# counts must be rebuilt too, or the month counts it twice.
_OLD_DAYS = """
SELECT day FROM tickets WHERE centre_id = %(c)s AND token IN (SELECT data->>'token' FROM stage WHERE kind = 'ticket')
UNION SELECT day FROM ratings WHERE centre_id = %(c)s AND token IN (SELECT data->>'token' FROM stage WHERE kind = 'rating')
UNION SELECT unnest(ARRAY[received_on, finished_on]) FROM dossiers
      WHERE centre_id = %(c)s AND code IN (SELECT data->>'code' FROM stage WHERE kind IN ('dossier', 'dossier_event'))
"""


def _batch_json(events: list) -> str:
    """The batch as JSON for PostgreSQL, a NUL in any text as U+FFFD: one value PostgreSQL cannot
    store made the whole batch a 422, and the ward's agent sent that batch again for ever (nothing
    the ward did afterwards reached the hub)."""
    text = _NUL_ESCAPE.sub(r"\1\\ufffd", json.dumps(events, ensure_ascii=False, separators=(",", ":")))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON): was a 500 when sent to PostgreSQL
        raise BadBatch("the batch holds text that is not valid Unicode (a lone surrogate)") from None
    return text


def _apply_facts(conn: psycopg.Connection, centre_id: str) -> set[date]:
    p = {"c": centre_id}
    days: set[date] = {r[0] for r in conn.execute(_OLD_DAYS, p) if r[0]}
    kinds = {r[0] for r in conn.execute("SELECT DISTINCT kind FROM stage")}
    if "ticket" in kinds:
        days.update(r[0] for r in conn.execute(_TICKETS, p))
    if "rating" in kinds:
        days.update(r[0] for r in conn.execute(_RATINGS, p))
    if "dossier" in kinds:
        for received, finished in conn.execute(_DOSSIERS, p):
            days.add(received)
            if finished:
                days.add(finished)
    if "dossier_event" in kinds:
        days.update(r[0] for r in conn.execute(_FINISHED, p) if r[0])
    return days
