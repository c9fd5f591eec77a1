"""The one SQLite database of a centre: opening it with the right pragmas, and migrations.

Every process (kiosk, staff server, CLI) opens the same file in WAL mode with a busy
timeout, so readers never block the writer and a writer waits briefly for another.
Each module that owns tables declares them as an ordered list of SQL migrations and
calls `migrate(db, "<module>", MIGRATIONS)` before use; applied versions are kept in
`schema_versions`, so adding a migration later upgrades an installed centre in place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import sqlite_utils

BUSY_TIMEOUT_MS = 5000


class DatabaseError(RuntimeError):
    """The database file cannot be opened or written (missing folder, read-only, locked, corrupt)."""


def connect(path: str | Path | None, *, read_only: bool = False) -> sqlite3.Connection:
    """Open a raw sqlite3 connection with WAL, foreign keys and a busy timeout.

    `path=None` or ":memory:" gives a private in-memory database (tests).
    Autocommit mode (isolation_level=None): callers open transactions explicitly with
    `BEGIN IMMEDIATE` (see `transaction`).
    """
    try:
        if path is None or str(path) == ":memory:":
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            path = Path(path)
            if read_only:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not read_only and path is not None and str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
    except (sqlite3.Error, OSError) as exc:
        raise DatabaseError(f"cannot open database {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    return conn


def open_db(path: str | Path | None, *, read_only: bool = False) -> sqlite_utils.Database:
    """Open the centre database as a sqlite_utils.Database (see `connect`)."""
    return sqlite_utils.Database(connect(path, read_only=read_only))


class transaction:
    """`with transaction(conn):` runs the block in BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error).

    IMMEDIATE takes the write lock at the start, so two processes allocating ticket
    numbers are serialised by SQLite rather than failing at commit.
    """

    def __init__(self, conn: sqlite3.Connection | sqlite_utils.Database):
        self.conn = conn.conn if isinstance(conn, sqlite_utils.Database) else conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error:
                if self.conn.in_transaction:  # a failed COMMIT (disk full) leaves it open: the next
                    self.conn.execute("ROLLBACK")  # BEGIN on this connection would fail for ever
                raise
        elif self.conn.in_transaction:
            # SQLite has already rolled back after some errors (disk full, I/O): a second ROLLBACK
            # failed with "no transaction is active" and hid the error that says what happened.
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the caller's own error goes on; SQLite ends the transaction with the connection


def migrate(db: sqlite3.Connection | sqlite_utils.Database, module: str, migrations: Sequence[str]) -> None:
    """Apply the migrations of `module` that this database has not seen yet, each in one transaction."""
    conn = db.conn if isinstance(db, sqlite_utils.Database) else db
    conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_versions WHERE module = ?", (module,)).fetchone()
    have = row[0] if row else 0
    if have >= len(migrations):
        return
    with transaction(conn):
        row = conn.execute("SELECT version FROM schema_versions WHERE module = ?", (module,)).fetchone()
        have = row[0] if row else 0
        for sql in migrations[have:]:
            for statement in _split(sql):
                conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_versions(module, version) VALUES (?, ?) "
            "ON CONFLICT(module) DO UPDATE SET version = excluded.version",
            (module, len(migrations)),
        )


def _split(sql: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement aware)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
