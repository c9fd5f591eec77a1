"""Runtime-editable settings that config.yaml only seeds: priority groups (pure core, SQLite).

Services, counters and opening hours are overridden through the queue's own tables
(`Queue.update_service`, `Queue.update_counter`, see docs/queue.md). Priority groups live
here: `priority_groups(conn, cfg)` is config.yaml's list with the administrator's changes
applied (names edited, groups added, groups switched off). Every change is written to the
audit log in the same transaction.
"""

from __future__ import annotations

import re
import time

from centre import audit
from centre.config import Config
from centre.db import migrate, transaction
from centre.text import unshowable

KEY_RE = re.compile(r"^[a-z_]{2,32}$")
MIGRATIONS = [
    """
    CREATE TABLE priority_group_settings (
        key TEXT PRIMARY KEY,
        name_vi TEXT NOT NULL,
        name_en TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        sort INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    );
    """,
]


class AdminError(ValueError):
    """A setting cannot be changed as asked (the message says why)."""


def ensure_schema(conn) -> None:
    migrate(conn, "admin", MIGRATIONS)
    audit.ensure_schema(conn)


def priority_groups(conn, cfg: Config, *, include_inactive: bool = False) -> list[dict]:
    """Priority groups in effect: [{key, name_vi, name_en, active, source}] in display order."""
    over = {r["key"]: r for r in conn.execute("SELECT * FROM priority_group_settings")}
    out = []
    for i, g in enumerate(cfg.priority_groups):
        r = over.pop(g.key, None)
        out.append({"key": g.key, "name_vi": r["name_vi"] if r else g.name.vi, "name_en": r["name_en"] if r else g.name.en,
                    "active": bool(r["active"]) if r else True, "sort": r["sort"] if r else i, "source": "config"})
    for r in over.values():
        out.append({"key": r["key"], "name_vi": r["name_vi"], "name_en": r["name_en"], "active": bool(r["active"]),
                    "sort": r["sort"], "source": "admin"})
    out.sort(key=lambda g: (g["sort"], g["key"]))
    return out if include_inactive else [g for g in out if g["active"]]


def set_priority_group(conn, cfg: Config, key: str, *, name_vi: str, name_en: str, active: bool = True,
                       sort: int | None = None, actor: str, now: float | None = None) -> dict:
    """Add or change a priority group (audited)."""
    if not KEY_RE.match(key or ""):
        raise AdminError(f"a priority group key is 2-32 lower-case letters or '_', not {key!r}")
    name_vi, name_en = (name_vi or "").strip(), (name_en or "").strip()
    if not name_vi or not name_en:
        raise AdminError("a priority group needs a Vietnamese and an English name")
    bad = unshowable(name_vi + name_en)
    if bad:
        raise AdminError(f"a priority group's name holds a control or invisible character ({bad})")
    now = time.time() if now is None else now
    groups = {g["key"]: g for g in priority_groups(conn, cfg, include_inactive=True)}
    before = groups.get(key)
    if sort is None:
        sort = before["sort"] if before else len(groups)
    with transaction(conn):
        conn.execute(
            "INSERT INTO priority_group_settings(key, name_vi, name_en, active, sort, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET name_vi=excluded.name_vi, "
            "name_en=excluded.name_en, active=excluded.active, sort=excluded.sort, updated_at=excluded.updated_at, "
            "updated_by=excluded.updated_by",
            (key, name_vi, name_en, int(bool(active)), int(sort), now, actor))
        after = {"key": key, "name_vi": name_vi, "name_en": name_en, "active": bool(active), "sort": int(sort)}
        audit.record(conn, actor, "priority_group.update" if before else "priority_group.create",
                     entity="priority_group", key=key, before=before, after=after, now=now)
    return after
