"""Read API of the procedure catalogue (used by kiosk UI, queue, voice and staff pages).

`Catalogue(conn)` reads the catalogue tables (see centre/catalogue_schema.py) and returns
plain dataclasses with the JSON columns already parsed:

    cat = Catalogue(conn)
    cat.fields()                       -> [Field]            (kiosk's field screen, in sort order)
    cat.procedures(field_id=None)      -> [ProcedureSummary] (a field's list)
    cat.get("1.000894" | "m-...")      -> Procedure | None   (detail screen, voice answers)
    cat.stats()                        -> {total, by_field, missing: {code, time, fee, documents}}
    cat.version()                      -> int (grows at every import; reload caches when it changes)
    service_for(procedure, cfg)        -> queue series letter

`ensure_catalogue(conn, cfg)` imports the shipped catalogue (cfg.paths.catalogue) when the
tables are empty, so `make run` and other areas' tests start with real data.
The import itself lives in centre/catalogue_import.py.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from centre.catalogue_schema import ensure_schema
from centre.text import fold, storable

#: a procedure key ("m-…") or national code is far shorter: a longer lookup finds nothing unread
MAX_KEY_CHARS = 200

UNIT_TEXT = {
    "working_days": {"vi": "ngày làm việc", "en": "working days", "en1": "working day"},
    "days": {"vi": "ngày", "en": "days", "en1": "day"},
    "hours": {"vi": "giờ", "en": "hours", "en1": "hour"},
}


class CatalogueMissing(RuntimeError):
    """The database has no catalogue and none could be imported."""


@dataclass(frozen=True)
class Field:
    """A field (lĩnh vực) with its names, icon and number of procedures."""

    id: str
    name_vi: str
    name_en: str
    icon: str
    sort: int
    count: int = 0

    def name(self, lang: str = "vi") -> str:
        return self.name_en if lang == "en" and self.name_en else self.name_vi


@dataclass(frozen=True)
class Processing:
    """Processing time: headline value + unit, the original text, and per-channel cases."""

    value: float | None
    unit: str  # working_days | days | hours | same_day | unknown
    text: str
    channels: list[dict] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return self.unit != "unknown"

    def label(self, lang: str = "vi") -> str:
        """Short text for the screen: "3 ngày làm việc", "Trong ngày", or the portal's text."""
        if self.unit == "same_day":
            return "Trong ngày" if lang == "vi" else "Same day"
        if self.unit in UNIT_TEXT and self.value is not None:
            v = int(self.value) if float(self.value).is_integer() else self.value
            words = UNIT_TEXT[self.unit]
            unit = words["vi"] if lang == "vi" else (words["en1"] if v == 1 else words["en"])
            return f"{v} {unit}"
        if lang == "vi":
            return self.text or "Không có thông tin"
        return "Not stated"


@dataclass(frozen=True)
class Fee:
    """Fee: amount in VND (0 = free, None = unknown/set by the province) with its note and channels."""

    amount: int | None
    note: str
    text: str
    channels: list[dict] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return self.amount is not None

    def label(self, lang: str = "vi") -> str:
        if self.amount == 0:
            return "Miễn phí" if lang == "vi" else "Free"
        if self.amount is not None:
            n = f"{self.amount:,}".replace(",", ".")
            return f"{n} đồng" if lang == "vi" else f"{n} VND"
        if self.note:
            if lang == "vi":
                return self.note
            if "hội đồng nhân dân" in self.note.lower():
                return "Set by the provincial People's Council"
            return "Set by another regulation (see the note)"
        return "Không có thông tin" if lang == "vi" else "Not stated"


@dataclass(frozen=True)
class Document:
    """One document of the dossier: to submit (nộp) or to show (xuất trình), with counts."""

    group: str  # submit | show
    text: str
    originals: int
    copies: int
    heading: str = ""
    form: str = ""


_CONDITIONAL = ("truong hop", "neu ", "doi voi truong hop", "doi voi nguoi", "rieng ")


def _conditional(text: str) -> bool:
    """True for a document or heading needed only in some cases ("Trường hợp…", "Nếu…", or
    "… trong trường hợp …" in its first clause)."""
    first_clause = re.split(r"[.;:]", text, maxsplit=1)[0]
    return fold(text).startswith(_CONDITIONAL) or "trong truong hop" in fold(first_clause)


def _everyone_first(docs: list[Document]) -> list[Document]:
    """The portal often lists edge cases first; list what everyone needs first, keeping each
    heading's documents together and the order stable otherwise."""
    def heading(d: Document) -> str:  # the group headings ("Giấy tờ phải nộp:") are not blocks
        return "" if fold(d.heading).startswith("giay to phai") else d.heading

    block: dict[str, int] = {}
    for d in docs:
        block.setdefault(heading(d), len(block))
    return sorted(docs, key=lambda d: (bool(heading(d)) and _conditional(heading(d)), block[heading(d)],
                                       _conditional(d.text)))


@dataclass(frozen=True)
class ProcedureSummary:
    """What a list of procedures shows."""

    key: str
    code: str
    name: str
    name_en: str
    field_id: str
    service: str

    def display_name(self, lang: str = "vi") -> str:
        return self.name_en if lang == "en" and self.name_en else self.name


@dataclass(frozen=True)
class Procedure:
    """One procedure with every fact parsed."""

    key: str
    code: str
    name: str
    official_name: str
    name_en: str
    field_id: str
    field_name_vi: str
    field_name_en: str
    level: str
    processing: Processing
    fee: Fee
    documents: list[Document]
    notes: list[str]
    forms: list[dict]
    legal_basis: list[dict]
    steps: list[str]
    submission: list[dict]
    applicants: str
    result: str
    conditions: str
    agency: str
    service: str
    source: str
    portal_url: str
    aliases: list[dict]

    @property
    def to_submit(self) -> list[Document]:
        return [d for d in self.documents if d.group == "submit"]

    @property
    def to_show(self) -> list[Document]:
        return [d for d in self.documents if d.group == "show"]

    def display_name(self, lang: str = "vi") -> str:
        return self.name_en if lang == "en" and self.name_en else self.name

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        d["processing"]["label_vi"] = self.processing.label("vi")
        d["processing"]["label_en"] = self.processing.label("en")
        d["fee"]["label_vi"] = self.fee.label("vi")
        d["fee"]["label_en"] = self.fee.label("en")
        return d


def _raw(conn):
    return conn.conn if isinstance(conn, sqlite_utils.Database) else conn


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else []


class Catalogue:
    """Read access to the catalogue tables of one database connection."""

    def __init__(self, conn):
        self.conn = _raw(conn)
        try:
            ensure_schema(self.conn)  # an empty catalogue rather than "no such table"
        except sqlite3.OperationalError:  # a read-only connection on a database without the tables
            pass

    def version(self) -> int:
        """The catalogue version (0 when nothing was ever imported)."""
        try:
            row = self.conn.execute("SELECT value FROM catalogue_meta WHERE key = 'version'").fetchone()
        except Exception:  # tables not created yet
            return 0
        return int(row[0]) if row else 0

    def meta(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT key, value FROM catalogue_meta")}

    def fields(self, *, with_procedures_only: bool = True) -> list[Field]:
        """Fields in kiosk order (sort, then Vietnamese name), each with its procedure count."""
        rows = self.conn.execute(
            "SELECT f.id, f.name_vi, f.name_en, f.icon, f.sort, count(p.key) AS n "
            "FROM fields f LEFT JOIN procedures p ON p.field_id = f.id "
            "GROUP BY f.id ORDER BY f.sort, f.name_vi"
        ).fetchall()
        out = [Field(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
        return [f for f in out if f.count or not with_procedures_only]

    def field(self, field_id: str) -> Field | None:
        for f in self.fields(with_procedures_only=False):
            if f.id == field_id:
                return f
        return None

    def procedures(self, field_id: str | None = None) -> list[ProcedureSummary]:
        """Procedures (of one field, or all), in name order."""
        sql = "SELECT key, code, name, name_en, field_id, service FROM procedures"
        args: tuple = ()
        if field_id is not None:
            sql += " WHERE field_id = ?"
            args = (field_id,)
        rows = self.conn.execute(sql, args).fetchall()
        out = [ProcedureSummary(*tuple(r)) for r in rows]
        from centre.text import fold

        return sorted(out, key=lambda p: fold(p.name))

    def get(self, key_or_code: str) -> Procedure | None:
        """A procedure by key ("m-…") or national code ("1.000894"); None when there is none."""
        key_or_code = (key_or_code or "").strip()
        # no key or code is this long; a lone surrogate (a JSON "\ud800" escape) SQLite cannot bind
        if not key_or_code or len(key_or_code) > MAX_KEY_CHARS or not storable(key_or_code):
            return None
        row = self.conn.execute(
            "SELECT p.*, f.name_vi AS field_name_vi, f.name_en AS field_name_en FROM procedures p "
            "JOIN fields f ON f.id = p.field_id WHERE p.key = ? OR (p.code = ? AND p.code != '') "
            "ORDER BY p.key = ? DESC LIMIT 1",
            (key_or_code, key_or_code, key_or_code),
        ).fetchone()
        if row is None:
            return None
        aliases = [
            {"alias": a[0], "lang": a[1]}
            for a in self.conn.execute(
                "SELECT alias, lang FROM aliases WHERE procedure_key = ? ORDER BY lang DESC, alias",
                (row["key"],),
            )
        ]
        docs = [
            Document(
                group=d.get("group", "submit"),
                text=d.get("text", ""),
                originals=int(d.get("originals") or 0),
                copies=int(d.get("copies") or 0),
                heading=d.get("heading", ""),
                form=d.get("form", ""),
            )
            for d in _loads(row["documents_json"])
        ]
        docs = _everyone_first(docs)
        return Procedure(
            key=row["key"],
            code=row["code"],
            name=row["name"],
            official_name=row["official_name"],
            name_en=row["name_en"],
            field_id=row["field_id"],
            field_name_vi=row["field_name_vi"],
            field_name_en=row["field_name_en"],
            level=row["level"],
            processing=Processing(
                row["processing_value"],
                row["processing_unit"],
                row["processing_text"],
                _loads(row["processing_json"]),
            ),
            fee=Fee(row["fee_amount"], row["fee_note"], row["fee_text"], _loads(row["fee_json"])),
            documents=docs,
            notes=_loads(row["notes_json"]),
            forms=_loads(row["forms_json"]),
            legal_basis=_loads(row["legal_basis_json"]),
            steps=_loads(row["steps_json"]),
            submission=_loads(row["submission_json"]),
            applicants=row["applicants"],
            result=row["result"],
            conditions=row["conditions"],
            agency=row["agency"],
            service=row["service"],
            source=row["source"],
            portal_url=row["portal_url"],
            aliases=aliases,
        )

    def stats(self) -> dict[str, Any]:
        """{total, by_field: {field_id: n}, missing: {code, time, fee, documents}, version}."""
        c = self.conn
        total = c.execute("SELECT count(*) FROM procedures").fetchone()[0]
        by_field = {
            r[0]: r[1]
            for r in c.execute(
                "SELECT field_id, count(*) FROM procedures GROUP BY field_id ORDER BY count(*) DESC, field_id"
            )
        }
        missing = {
            "code": c.execute("SELECT count(*) FROM procedures WHERE code = ''").fetchone()[0],
            "time": c.execute("SELECT count(*) FROM procedures WHERE processing_unit = 'unknown'").fetchone()[
                0
            ],
            "fee": c.execute("SELECT count(*) FROM procedures WHERE fee_amount IS NULL").fetchone()[0],
            "documents": c.execute(
                "SELECT count(*) FROM procedures WHERE documents_json IN ('', '[]')"
            ).fetchone()[0],
            "name_en": c.execute("SELECT count(*) FROM procedures WHERE name_en = ''").fetchone()[0],
        }
        by_source = {
            "national": c.execute("SELECT count(*) FROM procedures WHERE source != 'manual'").fetchone()[0],
            "manual": c.execute("SELECT count(*) FROM procedures WHERE source = 'manual'").fetchone()[0],
        }
        return {
            "total": total,
            "by_field": by_field,
            "missing": missing,
            "by_source": by_source,
            "aliases": c.execute("SELECT count(*) FROM aliases").fetchone()[0],
            "version": self.version(),
        }

    def service_for(self, key_or_code: str, cfg) -> str | None:
        """The queue series receiving a procedure (see `service_for`); None when it is not in the catalogue."""
        proc = self.get(key_or_code)
        return service_for(proc, cfg) if proc is not None else None

    def missing_english(self) -> list[str]:
        """Codes (or keys) of procedures without an English name."""
        return [
            r[0] or r[1]
            for r in self.conn.execute(
                "SELECT code, key FROM procedures WHERE name_en = '' ORDER BY code, key"
            )
        ]


def service_for(procedure, cfg) -> str:
    """The queue series that receives a procedure.

    The procedure's own `service` override when it names a configured service; else the
    service whose `fields` lists the procedure's field; else the service with empty
    `fields` (the catch-all); else the first service.
    """
    series = {s.series for s in cfg.services}
    own = getattr(procedure, "service", "") or ""
    if own in series:
        return own
    fid = procedure.field_id if hasattr(procedure, "field_id") else str(procedure)
    for s in cfg.services:
        if fid in s.fields:
            return s.series
    for s in cfg.services:
        if not s.fields:
            return s.series
    return cfg.services[0].series


def ensure_catalogue(conn, cfg=None, *, source: Path | str | None = None):
    """Create the tables and import the shipped catalogue when they are empty.

    Returns the ImportReport of the import, or None when a catalogue was already there.
    `source` defaults to cfg.paths.catalogue (data/procedures).
    """
    from centre.catalogue_import import import_catalogue

    raw = _raw(conn)
    ensure_schema(raw)
    if raw.execute("SELECT count(*) FROM procedures").fetchone()[0]:
        return None
    if source is None:
        if cfg is None:
            source = Path(__file__).resolve().parent.parent / "data" / "procedures"
        else:
            source = cfg.path(cfg.paths.catalogue)
    return import_catalogue(raw, Path(source))
