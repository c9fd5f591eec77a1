"""The audit log: who changed what, when, with the value before and after (pure core, SQLite).

Every administrative change (services, counters, opening hours, priority groups, users,
catalogue imports) and every login is recorded here by the code that makes the change,
inside the same transaction where possible, so a change without its audit row cannot exist.
Values are stored as JSON; passwords and hashes are never passed in.
"""

from __future__ import annotations

import json
import time
from typing import Any

from centre.db import migrate

MIGRATIONS = [
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        actor TEXT NOT NULL,             -- user name, 'cli:<os user>' or 'system'
        action TEXT NOT NULL,            -- e.g. 'service.update', 'user.create', 'login.failed'
        entity TEXT NOT NULL DEFAULT '', -- e.g. 'service', 'counter', 'user'
        entity_key TEXT NOT NULL DEFAULT '',
        before_json TEXT,                -- NULL when created
        after_json TEXT,                 -- NULL when deleted
        address TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_log_at ON audit_log(at);
    CREATE INDEX audit_log_entity ON audit_log(entity, entity_key);
    """,
]

SECRET_KEYS = {"password", "password_hash", "token", "csrf"}


def ensure_schema(conn) -> None:
    """Create or upgrade the audit table."""
    migrate(conn, "audit", MIGRATIONS)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in SECRET_KEYS else _clean(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(_clean(value), ensure_ascii=False, sort_keys=True, default=str)


def record(conn, actor: str, action: str, *, entity: str = "", key: Any = "", before: Any = None,
           after: Any = None, address: str = "", now: float | None = None) -> int:
    """Append one audit row (call it inside the transaction that makes the change)."""
    cur = conn.execute(
        "INSERT INTO audit_log(at, actor, action, entity, entity_key, before_json, after_json, address) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (time.time() if now is None else now, actor, action, entity, str(key), _dump(before), _dump(after), address),
    )
    return cur.lastrowid


def entries(conn, *, entity: str | None = None, key: str | None = None, limit: int = 200,
            before_id: int | None = None) -> list[dict]:
    """Audit rows, newest first, with `before`/`after` decoded."""
    where, args = [], []
    if entity:
        where.append("entity = ?")
        args.append(entity)
    if key is not None:
        where.append("entity_key = ?")
        args.append(str(key))
    if before_id:
        where.append("id < ?")
        args.append(before_id)
    sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
    out = []
    for r in conn.execute(sql, (*args, max(1, min(int(limit), 1000)))):
        d = dict(r)
        for side in ("before", "after"):
            raw = d.pop(f"{side}_json")
            d[side] = json.loads(raw) if raw is not None else None
        out.append(d)
    return out
