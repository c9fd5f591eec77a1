"""Connections, versioned SQL migrations and monthly partitions of the hub's PostgreSQL.

Migrations are plain SQL files `province/migrations/NNN_name.sql`, applied in order, each in
one transaction, and recorded in `schema_migrations(version, name, applied_at)`. To change the
schema, add the next file; never edit an applied one. A migration that needs a data step plain
SQL cannot do names it in POST_MIGRATION (run in the same transaction).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_known_partitions: set[tuple[str, str]] = set()


def connect(dsn: str, **kw) -> psycopg.Connection:
    """A connection whose session time zone is UTC (partition bounds and dates are UTC)."""
    return psycopg.connect(dsn, options="-c TimeZone=UTC", **kw)


def _rebuild_monthly(conn) -> None:
    from province.rollup import rebuild_monthly

    rebuild_monthly(conn)


# Data steps that plain SQL cannot do, run in the same transaction as the migration's SQL.
POST_MIGRATION = {2: _rebuild_monthly}


def migrations() -> list[tuple[int, str, str]]:
    out = []
    for f in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = re.match(r"^(\d+)_(.+)\.sql$", f.name)
        if m:
            out.append((int(m.group(1)), m.group(2), f.read_text(encoding="utf-8")))
    return out


def migrate(dsn: str) -> list[int]:
    """Apply the migrations this database has not seen; returns the versions applied."""
    applied = []
    with connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                     "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("SELECT pg_advisory_lock(7170017)")
        try:
            have = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migrations():
                if version in have:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    if version in POST_MIGRATION:
                        POST_MIGRATION[version](conn)
                    conn.execute("INSERT INTO schema_migrations(version, name) VALUES (%s, %s)", (version, name))
                applied.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(7170017)")
    return applied


def month_start(d: date) -> date:
    return d.replace(day=1)


def ensure_partitions(conn: psycopg.Connection, months: set[date]) -> None:
    """Create the monthly partitions of `events` for these months (first days), once each."""
    db = conn.info.dbname
    for m in sorted(months):
        if not 2000 <= m.year <= 2099 or (db, m.isoformat()) in _known_partitions:
            continue
        nxt = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
        name = f"events_{m.year:04d}_{m.month:02d}"
        with conn.transaction():
            exists = conn.execute("SELECT 1 FROM pg_class WHERE relname = %s", (name,)).fetchone()
            if not exists:
                conn.execute("SELECT pg_advisory_xact_lock(7170018)")
                conn.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events "
                             f"FOR VALUES FROM ('{m.isoformat()}') TO ('{nxt.isoformat()}')")
        _known_partitions.add((db, m.isoformat()))
