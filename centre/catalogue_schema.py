"""Tables of the procedure catalogue (the contract between catalogue import, search, queue and UI).

- `fields`: lĩnh vực, with vi/en names and an icon name.
- `procedures`: one row a procedure. `key` is the stable id (the national code when there
  is one, else "m-<slug>" for hand-added ones); `code` is the official code or '' (never
  invented). List-valued facts are JSON text columns (`*_json`).
- `aliases`: the words citizens use for a procedure (vi or en).
- `catalogue_meta`: `version` grows by one at every import, so long-running readers
  (the kiosk's search index) know when to reload.
"""

from __future__ import annotations

from centre.db import migrate

MIGRATIONS = [
    """
    CREATE TABLE fields (
        id TEXT PRIMARY KEY,            -- slug of the Vietnamese name, e.g. 'ho-tich'
        name_vi TEXT NOT NULL,
        name_en TEXT NOT NULL,
        icon TEXT NOT NULL DEFAULT '',  -- icon name under assets/images/icons/
        sort INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE procedures (
        key TEXT PRIMARY KEY,
        code TEXT NOT NULL DEFAULT '',          -- official national code or ''
        name TEXT NOT NULL,                     -- Vietnamese display name (no 'Thủ tục ' prefix)
        official_name TEXT NOT NULL,            -- the name exactly as published
        name_en TEXT NOT NULL DEFAULT '',
        field_id TEXT NOT NULL REFERENCES fields(id),
        level TEXT NOT NULL DEFAULT '',
        processing_text TEXT NOT NULL DEFAULT '',   -- original text
        processing_value REAL,                      -- e.g. 3
        processing_unit TEXT NOT NULL DEFAULT 'unknown',  -- working_days | days | same_day | unknown
        processing_json TEXT NOT NULL DEFAULT '[]', -- per channel [{channel, value, unit, text}]
        fee_text TEXT NOT NULL DEFAULT '',
        fee_amount INTEGER,                         -- VND, NULL when none/unknown
        fee_note TEXT NOT NULL DEFAULT '',
        fee_json TEXT NOT NULL DEFAULT '[]',        -- per channel [{channel, amount, note, text}]
        documents_json TEXT NOT NULL DEFAULT '[]',  -- [{group: submit|show, text, originals, copies}]
        notes_json TEXT NOT NULL DEFAULT '[]',      -- explanatory rows that are not documents
        forms_json TEXT NOT NULL DEFAULT '[]',      -- [{name, file}]
        legal_basis_json TEXT NOT NULL DEFAULT '[]',-- [{title, number}]
        steps_json TEXT NOT NULL DEFAULT '[]',
        submission_json TEXT NOT NULL DEFAULT '[]',
        applicants TEXT NOT NULL DEFAULT '',
        result TEXT NOT NULL DEFAULT '',
        conditions TEXT NOT NULL DEFAULT '',
        agency TEXT NOT NULL DEFAULT '',
        service TEXT NOT NULL DEFAULT '',           -- queue series override; '' = by field (config)
        source TEXT NOT NULL DEFAULT '',            -- 'portal:<file>' or 'manual'
        portal_url TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX procedures_field ON procedures(field_id);
    CREATE INDEX procedures_code ON procedures(code);
    CREATE TABLE aliases (
        procedure_key TEXT NOT NULL REFERENCES procedures(key) ON DELETE CASCADE,
        alias TEXT NOT NULL,
        lang TEXT NOT NULL DEFAULT 'vi',
        PRIMARY KEY (procedure_key, alias)
    );
    CREATE TABLE catalogue_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
]


def ensure_schema(conn) -> None:
    """Create or upgrade the catalogue tables."""
    migrate(conn, "catalogue", MIGRATIONS)
