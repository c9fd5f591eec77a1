"""Dossiers (hồ sơ) received by the centre: import from the one-stop platform, lookup, deadlines.

The electronic one-stop platform (hệ thống một cửa điện tử) is the source of truth; the
centre imports its export (CSV, Excel or JSON, columns mapped in config.yaml
`dossiers.import_columns`) or receives pushes through the staff server's JSON API. Import
is idempotent: a dossier is keyed by its receipt code; a row that changes the state adds a
history entry; an unchanged row changes nothing. Bad rows are reported with their line and
reason while the good ones are imported.

Citizens look a dossier up by its exact receipt code at the kiosk; a mistyped code gives
"not found" and never another person's dossier (no fuzzy matching here, on purpose). Only
separators, case and character width are ignored (`code_key`: "000 . 00 . 19 . h29 – 260210 -
0003" as copied from a receipt is "000.00.19.H29-260210-0003"), and only when exactly one
stored code has that key.
What the kiosk sees is `PublicDossier`: the applicant's name masked, no phone number.

Due dates: taken from the platform when it gives one, otherwise computed from the
procedure's processing time in the catalogue with `centre.workdays`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from centre import boundedread
from centre.db import migrate, transaction
from centre.text import fold, storable
from centre.workdays import WorkCalendar, due_date

STATES = ("received", "processing", "supplement_requested", "ready", "returned", "rejected")
OPEN_STATES = ("received", "processing", "supplement_requested")
FIELDS = (
    "code", "procedure_code", "applicant_name", "applicant_phone", "received_at", "due_at",
    "state", "counter", "officer", "missing_documents", "channel", "digitised",
)
CHANNELS = ("online", "in_person", "postal")  # '' = the export did not say
DEFAULT_ONLINE_VALUES = ("truc tuyen", "online", "dich vu cong", "dvc", "cong", "toan trinh", "mot phan")
_IN_PERSON_WORDS = ("truc tiep", "in person", "tai quay", "tai bo phan", "mot cua", "offline", "counter")
_POSTAL_WORDS = ("buu chinh", "buu dien", "post", "vnpost")
_YES = ("1", "x", "co", "yes", "true", "da so hoa", "da", "y", "v")
_NO = ("0", "khong", "no", "false", "chua", "chua so hoa", "n", "")

# Words the platform uses for states, folded; matched as prefixes of the folded value.
_STATE_WORDS = [
    ("supplement_requested", ("yeu cau bo sung", "cho bo sung", "bo sung", "supplement")),
    ("ready", ("cho tra ket qua", "da co ket qua", "co ket qua", "san sang tra", "ready")),
    ("returned", ("da tra ket qua", "da tra", "hoan thanh", "returned", "done")),
    ("rejected", ("tu choi", "khong giai quyet", "khong du dieu kien", "rejected")),
    ("processing", ("dang xu ly", "dang giai quyet", "dang tham dinh", "chuyen xu ly", "processing")),
    ("received", ("moi tiep nhan", "da tiep nhan", "tiep nhan", "received", "new")),
]

MIGRATIONS = [
    """
    CREATE TABLE dossiers (
        code TEXT PRIMARY KEY,              -- receipt code (mã hồ sơ), normalised upper-case
        procedure_code TEXT NOT NULL DEFAULT '',
        applicant_name TEXT NOT NULL DEFAULT '',
        applicant_phone TEXT NOT NULL DEFAULT '',
        received_at TEXT NOT NULL,          -- ISO local time
        due_at TEXT,                        -- ISO date
        due_source TEXT NOT NULL DEFAULT '',-- 'platform' | 'computed' | ''
        state TEXT NOT NULL,
        counter TEXT NOT NULL DEFAULT '',
        officer TEXT NOT NULL DEFAULT '',
        missing_documents TEXT NOT NULL DEFAULT '[]',
        updated_at TEXT NOT NULL
    );
    CREATE INDEX dossiers_open_due ON dossiers(state, due_at);
    CREATE TABLE dossier_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        code TEXT NOT NULL REFERENCES dossiers(code) ON DELETE CASCADE,
        at TEXT NOT NULL,
        state TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX dossier_events_code ON dossier_events(code);
    """,
    # 2: how the dossier was submitted and whether its papers were digitised (issue 17,
    # Decision 766/QĐ-TTg online-service and digitisation components).
    """
    ALTER TABLE dossiers ADD COLUMN channel TEXT NOT NULL DEFAULT '';   -- online | in_person | postal | ''
    ALTER TABLE dossiers ADD COLUMN digitised INTEGER;                  -- 1 | 0 | NULL (unknown)
    """,
    # 3: the code without its separators (code_key), so a code typed with spaces, dashes for dots
    # or none at all finds its dossier; filled by Dossiers (rows written without it: on start-up).
    """
    ALTER TABLE dossiers ADD COLUMN code_key TEXT NOT NULL DEFAULT '';
    CREATE INDEX dossiers_code_key ON dossiers(code_key);
    """,
]


class DossierError(ValueError):
    """A dossier record is not valid (the message says which field and why)."""


class DossiersUnavailable(RuntimeError):
    """The register cannot work out due dates now (its holidays file has a mistake): the staff
    server answers 503 and logs the file's own error; `kiosk doctor` names its key and line."""


class ImportFileError(ValueError):
    """An import file cannot be read at all (unknown format, unreadable, no header)."""


@dataclass
class RowError:
    line: int
    reason: str


@dataclass
class ImportReport:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**asdict(self), "errors": [asdict(e) for e in self.errors]}


@dataclass
class Dossier:
    code: str
    procedure_code: str
    applicant_name: str
    applicant_phone: str
    received_at: datetime
    due_at: date | None
    due_source: str
    state: str
    counter: str
    officer: str
    missing_documents: list[str]
    updated_at: str
    procedure_name: str = ""
    field_id: str = ""
    channel: str = ""
    digitised: bool | None = None


@dataclass
class PublicDossier:
    """What a citizen may see at the kiosk: no phone number, the name masked."""

    code: str
    applicant: str
    procedure_code: str
    procedure_name: str
    state: str
    received_on: str
    due_on: str | None
    late: bool
    next_action: str  # wait | supplement | pickup | done | contact
    counter: str
    missing_documents: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def normalise_code(code: str) -> str:
    """Receipt codes as typed or scanned: trim, upper-case, drop spaces and control bytes."""
    return re.sub(r"[\s\x00-\x1f]+", "", str(code or "")).upper()


#: a typed or scanned code longer than this matches nothing (stored codes have at most 64 characters;
#: the rest is room for spaces and separators): a megabyte of input is not normalised and looked up
MAX_TYPED_CODE = 256


def code_key(code: str) -> str:
    """A receipt code with its separators gone: what two spellings of one code share.

    Width-folded (NFKC: full-width digits), upper-case, and only letters and digits kept, so
    spaces, dots, hyphens, typographic dashes and slashes do not matter; every other character
    does (no fuzzy matching: a wrong or missing character is another code)."""
    text = unicodedata.normalize("NFKC", str(code or ""))
    return "".join(ch for ch in text if ch.isalnum()).upper()


def mask_name(name: str) -> str:
    """'Nguyễn Văn An' → 'N. V. A.': each word's initial and a full stop, nothing else.

    The one masking rule for applicant names (kiosk, staff API, CLI): no word lengths and no
    second letter, so a masked name cannot be matched against a list of names by its shape.
    Words without a letter or digit (a stray dash) are left out.
    """
    initials = []
    for word in unicodedata.normalize("NFC", str(name or "")).split():
        first = next((c for c in word if c.isalnum()), None)
        if first is not None:
            initials.append(first.upper() + ".")
    return " ".join(initials)


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", str(phone))
    return "*" * max(0, len(digits) - 3) + digits[-3:] if digits else ""


def parse_channel(value: Any, online_values: Iterable[str] = DEFAULT_ONLINE_VALUES) -> str:
    """The export's submission channel as one of CHANNELS, '' when empty or unknown."""
    v = fold(str(value or "")).strip()
    if not v:
        return ""
    if v.replace(" ", "_") in CHANNELS:
        return v.replace(" ", "_")
    if any(v.startswith(w) for w in _IN_PERSON_WORDS):
        return "in_person"
    if any(v.startswith(w) for w in _POSTAL_WORDS):
        return "postal"
    if any(v.startswith(fold(w)) for w in online_values):
        return "online"
    raise DossierError(f"channel {value!r} is not known (online, in person or postal)")


def parse_flag(value: Any) -> int | None:
    """A yes/no spreadsheet cell as 1/0; None when the cell is missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return 1 if value else 0
    v = fold(str(value)).strip()
    if v in _YES:
        return 1
    if v in _NO:
        return None if v == "" else 0
    raise DossierError(f"{value!r} is not yes/no (có/không, x, 1/0)")


def parse_state(value: str) -> str:
    """Map the platform's state wording (vi or en) to one of STATES."""
    v = fold(str(value or ""))
    if v.replace(" ", "_") in STATES:
        return v.replace(" ", "_")
    for state, words in _STATE_WORDS:
        if any(v.startswith(w) or v == w for w in words):
            return state
    raise DossierError(f"state {value!r} is not known (use one of: {', '.join(STATES)})")


_DT_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d-%m-%Y %H:%M", "%d-%m-%Y",
               "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def parse_datetime(value: Any, tz: ZoneInfo | None = None) -> datetime:
    """Dates as exports write them: ISO, dd/mm/yyyy [HH:MM[:SS]], Excel datetimes. Naive local time."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time())
    else:
        s = str(value or "").strip()
        if not s:
            raise DossierError("date is empty")
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            for fmt in _DT_FORMATS:
                try:
                    dt = datetime.strptime(s, fmt)
                    break
                except ValueError:
                    continue
            else:
                raise DossierError(f"date {s!r} is not a date (use dd/mm/yyyy hh:mm or ISO)") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(tz).replace(tzinfo=None) if tz else dt.replace(tzinfo=None)
    return dt


class Dossiers:
    """The dossier register of a centre (one SQLite database)."""

    def __init__(self, conn: sqlite3.Connection, calendar: WorkCalendar, *, tz: ZoneInfo,
                 cutoff: time = time(15, 0), column_map: dict[str, str] | None = None,
                 online_values: Iterable[str] = DEFAULT_ONLINE_VALUES):
        self.conn = conn
        self.online_values = tuple(online_values)
        self.calendar = calendar
        self.tz = tz
        self.cutoff = cutoff
        self.column_map = dict(column_map or {})
        migrate(conn, "dossiers", MIGRATIONS)
        self._fill_code_keys()

    def _fill_code_keys(self) -> None:
        """Give a code_key to the rows written without one (before migration 3, or by plain SQL)."""
        rows = self.conn.execute("SELECT code FROM dossiers WHERE code_key = ''").fetchall()
        todo = [(code_key(r[0]), r[0]) for r in rows if code_key(r[0])]
        if todo:
            with transaction(self.conn) as conn:
                conn.executemany("UPDATE dossiers SET code_key = ? WHERE code = ? AND code_key = ''", todo)

    @classmethod
    def from_config(cls, conn: sqlite3.Connection, cfg) -> Dossiers:
        from centre.workdays import load_calendar

        h, m = (int(x) for x in cfg.dossiers.afternoon_cutoff.split(":"))
        return cls(conn, load_calendar(cfg.path(cfg.paths.holidays)), tz=cfg.centre.tz,
                   cutoff=time(h, m), column_map=cfg.dossiers.import_columns,
                   online_values=cfg.dossiers.online_values)

    # -- procedures (catalogue) -----------------------------------------------------------
    def _procedure(self, code: str) -> sqlite3.Row | None:
        if not code:
            return None
        try:
            return self.conn.execute(
                "SELECT key, code, name, field_id, processing_value, processing_unit, processing_text, "
                "submission_json, conditions FROM procedures WHERE code = ? OR key = ? LIMIT 1",
                (code, code),
            ).fetchone()
        except sqlite3.OperationalError:  # no catalogue in this database
            return None

    def _afternoon_rule(self, proc: sqlite3.Row) -> bool:
        """Procedures that say receipts after 15:00 may be handled the next working day."""
        if proc["processing_unit"] == "same_day":
            return True
        text = fold(" ".join(str(proc[k] or "") for k in ("processing_text", "submission_json", "conditions")))
        return "sau 15 gio" in text

    def compute_due(self, procedure_code: str, received: datetime) -> date | None:
        proc = self._procedure(procedure_code)
        if proc is None:
            return None
        cutoff = self.cutoff if self._afternoon_rule(proc) else None
        return due_date(received, proc["processing_value"], proc["processing_unit"], self.calendar, cutoff=cutoff)

    # -- import ---------------------------------------------------------------------------
    def validate(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Turn one record (our field names) into a clean row; raise DossierError naming the field."""
        code = normalise_code(raw.get("code", ""))
        if not code:
            raise DossierError("code: the receipt code is empty")
        if len(code) > 64:
            raise DossierError("code: longer than 64 characters")
        try:
            received = parse_datetime(raw.get("received_at"), self.tz)
        except DossierError as exc:
            raise DossierError(f"received_at: {exc}") from None
        if not 1990 <= received.year <= 2100:
            raise DossierError(f"received_at: year {received.year} is not plausible")
        state = raw.get("state") or "received"
        try:
            state = parse_state(state)
        except DossierError as exc:
            raise DossierError(f"state: {exc}") from None
        procedure_code = str(raw.get("procedure_code") or "").strip()
        due_source = ""
        due = None
        if str(raw.get("due_at") or "").strip():
            try:
                due = parse_datetime(raw["due_at"], self.tz).date()
                due_source = "platform"
            except DossierError as exc:
                raise DossierError(f"due_at: {exc}") from None
            if due < received.date():
                raise DossierError("due_at: before the date of receipt")
            if due.year > 2100:
                raise DossierError(f"due_at: year {due.year} is not plausible")
        else:
            due = self.compute_due(procedure_code, received)
            due_source = "computed" if due else ""
        missing = raw.get("missing_documents") or []
        if isinstance(missing, str):
            missing = [m.strip() for m in re.split(r"[;\n]", missing) if m.strip()]
        elif not isinstance(missing, list):  # a number in a spreadsheet cell, an object in JSON
            missing = [str(missing)] if isinstance(missing, int | float) else None
            if missing is None:
                raise DossierError("missing_documents: not a list of documents")
        phone = re.sub(r"[^\d+]", "", str(raw.get("applicant_phone") or ""))
        try:
            channel = parse_channel(raw.get("channel"), self.online_values)
        except DossierError as exc:
            raise DossierError(f"channel: {exc}") from None
        try:
            digitised = parse_flag(raw.get("digitised"))
        except DossierError as exc:
            raise DossierError(f"digitised: {exc}") from None
        return {
            "code": code,
            "procedure_code": procedure_code,
            "applicant_name": str(raw.get("applicant_name") or "").strip(),
            "applicant_phone": phone,
            "received_at": received.isoformat(timespec="minutes"),
            "due_at": due.isoformat() if due else None,
            "due_source": due_source,
            "state": state,
            "counter": str(raw.get("counter") or "").strip(),
            "officer": str(raw.get("officer") or "").strip(),
            "missing_documents": json.dumps([str(m) for m in missing], ensure_ascii=False),
            "channel": channel,
            "digitised": digitised,
        }

    def upsert_many(self, records: Iterable[tuple[int, dict[str, Any]]], *, source: str,
                    now: datetime | None = None) -> ImportReport:
        """Import (line, record) pairs in one transaction; bad records are reported and skipped."""
        report = ImportReport()
        stamp = (now or datetime.now(self.tz).replace(tzinfo=None)).isoformat(timespec="seconds")
        cols = ("procedure_code", "applicant_name", "applicant_phone", "received_at", "due_at", "due_source",
                "state", "counter", "officer", "missing_documents", "channel", "digitised")
        with transaction(self.conn) as conn:
            for line, raw in records:
                try:
                    bad = next((k for k, v in raw.items() if isinstance(v, str) and not storable(v)), None)
                    row = self.validate(raw) if bad is None else {}
                    bad = bad or next((k for k, v in row.items() if isinstance(v, str) and not storable(v)), None)
                    if bad:
                        raise DossierError(f"{bad}: holds a character that is not text (a lone surrogate)")
                except DossierError as exc:
                    report.errors.append(RowError(line, str(exc)))
                    continue
                old = conn.execute(f"SELECT {', '.join(cols)} FROM dossiers WHERE code = ?", (row["code"],)).fetchone()
                if old is None:
                    conn.execute(
                        "INSERT INTO dossiers(code, code_key, " + ", ".join(cols) + ", updated_at) "
                        "VALUES (?, ?" + ", ?" * len(cols) + ", ?)",
                        (row["code"], code_key(row["code"]), *(row[c] for c in cols), stamp),
                    )
                    conn.execute("INSERT INTO dossier_events(code, at, state, source) VALUES (?, ?, ?, ?)",
                                 (row["code"], stamp, row["state"], source))
                    report.inserted += 1
                elif tuple(old) == tuple(row[c] for c in cols):
                    report.unchanged += 1
                else:
                    conn.execute(
                        "UPDATE dossiers SET " + ", ".join(f"{c} = ?" for c in cols) + ", updated_at = ? WHERE code = ?",
                        (*(row[c] for c in cols), stamp, row["code"]),
                    )
                    if old["state"] != row["state"]:
                        conn.execute("INSERT INTO dossier_events(code, at, state, source) VALUES (?, ?, ?, ?)",
                                     (row["code"], stamp, row["state"], source))
                    report.updated += 1
        return report

    def import_file(self, path: str | Path, *, now: datetime | None = None) -> ImportReport:
        """Import a CSV, Excel (.xlsx) or JSON export of the one-stop platform."""
        path = Path(path)
        return self.upsert_many(read_export(path, self.column_map), source=f"file:{path.name}", now=now)

    # -- queries ----------------------------------------------------------------------------
    def get(self, code: str) -> Dossier | None:
        """The dossier with this receipt code, else None.

        The one place a typed code is matched (kiosk, staff server, CLI): the exact code after
        `normalise_code`, else the one dossier whose code differs only by separators, case or
        width (`code_key`). Two stored codes with the same key: neither (never a guess)."""
        row = self._row(code)
        return self._to_dossier(row) if row else None

    def _row(self, code: str) -> sqlite3.Row | None:
        if len(str(code or "")) > MAX_TYPED_CODE or not storable(str(code or "")):
            return None  # no stored code is this long (64 after normalising) or holds a lone surrogate
        row = self.conn.execute("SELECT * FROM dossiers WHERE code = ?", (normalise_code(code),)).fetchone()
        key = code_key(code)
        if row is not None or not key:
            return row
        rows = self.conn.execute("SELECT * FROM dossiers WHERE code_key = ? LIMIT 2", (key,)).fetchall()
        return rows[0] if len(rows) == 1 else None

    def history(self, code: str) -> list[dict]:
        row = self._row(code)
        if row is None:
            return []
        rows = self.conn.execute("SELECT at, state, source FROM dossier_events WHERE code = ? ORDER BY id",
                                 (row["code"],)).fetchall()
        return [dict(r) for r in rows]

    def _to_dossier(self, row: sqlite3.Row) -> Dossier:
        proc = self._procedure(row["procedure_code"])
        return Dossier(
            code=row["code"], procedure_code=row["procedure_code"], applicant_name=row["applicant_name"],
            applicant_phone=row["applicant_phone"], received_at=datetime.fromisoformat(row["received_at"]),
            due_at=date.fromisoformat(row["due_at"]) if row["due_at"] else None, due_source=row["due_source"],
            state=row["state"], counter=row["counter"], officer=row["officer"],
            missing_documents=json.loads(row["missing_documents"]), updated_at=row["updated_at"],
            procedure_name=proc["name"] if proc else "", field_id=proc["field_id"] if proc else "",
            channel=row["channel"], digitised=None if row["digitised"] is None else bool(row["digitised"]),
        )

    def lookup_public(self, code: str, *, today: date | None = None) -> PublicDossier | None:
        """What the kiosk shows for a receipt code; None when there is no such dossier."""
        d = self.get(code)
        if d is None:
            return None
        today = today or datetime.now(self.tz).date()
        late = d.state in OPEN_STATES and d.due_at is not None and d.due_at < today
        action = {
            "received": "wait", "processing": "wait", "supplement_requested": "supplement",
            "ready": "pickup", "returned": "done", "rejected": "contact",
        }[d.state]
        return PublicDossier(
            code=d.code, applicant=mask_name(d.applicant_name), procedure_code=d.procedure_code,
            procedure_name=d.procedure_name, state=d.state, received_on=d.received_at.date().isoformat(),
            due_on=d.due_at.isoformat() if d.due_at else None, late=late, next_action=action,
            counter=d.counter, missing_documents=d.missing_documents if d.state == "supplement_requested" else [],
        )

    def due(self, *, within_working_days: int = 2, today: date | None = None) -> dict[str, list[Dossier]]:
        """Open dossiers that are late, and those due within `within_working_days` working days."""
        today = today or datetime.now(self.tz).date()
        horizon = self.calendar.add_working_days(today, within_working_days)
        rows = self.conn.execute(
            f"SELECT * FROM dossiers WHERE state IN ({', '.join('?' * len(OPEN_STATES))}) "
            "AND due_at IS NOT NULL AND due_at <= ? ORDER BY due_at, code",
            (*OPEN_STATES, horizon.isoformat()),
        ).fetchall()
        late, soon = [], []
        for r in rows:
            d = self._to_dossier(r)
            (late if d.due_at < today else soon).append(d)
        return {"late": late, "due_soon": soon}

    def digest(self, *, day: date | None = None, within_working_days: int = 2) -> dict:
        """The daily summary: received/returned that day, open, late and due soon, per field and officer."""
        day = day or datetime.now(self.tz).date()
        c = self.conn
        received = c.execute("SELECT COUNT(*) FROM dossiers WHERE substr(received_at, 1, 10) = ?",
                             (day.isoformat(),)).fetchone()[0]
        finished = c.execute(
            "SELECT state, COUNT(DISTINCT code) FROM dossier_events WHERE substr(at, 1, 10) = ? "
            "AND state IN ('returned', 'rejected', 'ready') GROUP BY state", (day.isoformat(),)).fetchall()
        by_state = dict(c.execute("SELECT state, COUNT(*) FROM dossiers GROUP BY state").fetchall())
        due = self.due(within_working_days=within_working_days, today=day)

        def group(ds: list[Dossier], attr: str) -> dict[str, int]:
            out: dict[str, int] = {}
            for d in ds:
                k = getattr(d, attr) or "-"
                out[k] = out.get(k, 0) + 1
            return dict(sorted(out.items()))

        return {
            "day": day.isoformat(),
            "received": received,
            "finished": dict(finished),
            "by_state": {s: by_state.get(s, 0) for s in STATES},
            "late": len(due["late"]),
            "due_soon": len(due["due_soon"]),
            "late_by_field": group(due["late"], "field_id"),
            "late_by_officer": group(due["late"], "officer"),
            "due_soon_by_field": group(due["due_soon"], "field_id"),
            "due_soon_by_officer": group(due["due_soon"], "officer"),
        }


# -- reading export files ----------------------------------------------------------------------


def _mapper(header: list[str], column_map: dict[str, str]) -> dict[str, int]:
    """Column index of each of our fields, by the configured header or our own field name."""
    norm = {fold(h): i for i, h in enumerate(header) if h is not None}
    out = {}
    for f in FIELDS:
        for name in (column_map.get(f), f):
            if name and fold(name) in norm:
                out[f] = norm[fold(name)]
                break
    if "code" not in out:
        wanted = column_map.get("code") or "code"
        raise ImportFileError(f"no column for the receipt code (expected a header {wanted!r})")
    return out


def _rows_from_table(rows: Iterator[list[Any]], column_map: dict[str, str], first_line: int = 1):
    try:
        header = next(rows)
    except StopIteration:
        raise ImportFileError("the file is empty") from None
    cols = _mapper([str(h).strip() if h is not None else None for h in header], column_map)
    for n, row in enumerate(rows, start=first_line + 1):
        if not any(str(v).strip() for v in row if v is not None):
            continue
        yield n, {f: (row[i] if i < len(row) else None) for f, i in cols.items()}


#: a CSV or JSON export past this is refused before it is read (20,000 dossiers make ~10 MB of CSV)
EXPORT_MAX_BYTES = 64 * 1024 * 1024


def _export_text(path: Path) -> str:
    try:
        return boundedread.read_text(path, EXPORT_MAX_BYTES)
    except boundedread.TextFileError as exc:
        raise ImportFileError(f"{path}: {exc}" + ("" if exc.line else " — split the export")) from None


def _csv_rows(reader, path: Path) -> Iterator[list[str]]:
    """The reader's rows; a row the csv module refuses (a field over its limit, a stray NUL) is an
    ImportFileError naming its line — raised inside the import's transaction, so nothing is kept."""
    try:
        yield from reader
    except csv.Error as exc:
        raise ImportFileError(f"{path}: line {reader.line_num}: not a CSV row the import can read ({exc})") from None


def read_export(path: Path, column_map: dict[str, str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) pairs from a CSV, XLSX or JSON export; the line is the file's own line/row."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise ImportFileError(f"{path}: file not found")
    if suffix in (".csv", ".txt"):
        text = _export_text(path)
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.strip() else csv.excel
        except csv.Error:  # one column, or not a table at all: the header check says which columns lack
            dialect = csv.excel
        return _rows_from_table(_csv_rows(csv.reader(io.StringIO(text), dialect), path), column_map)
    if suffix in (".xlsx", ".xlsm"):
        _check_xlsx(path)
        return _rows_from_table(_xlsx_rows(path), column_map)
    if suffix == ".json":
        try:
            data = json.loads(_export_text(path))
        except RecursionError as exc:
            raise ImportFileError(f"{path}: JSON nested too deeply") from exc
        return iter_json_records(data, column_map)
    raise ImportFileError(f"{path}: unknown format {suffix!r} (use .csv, .xlsx or .json)")


#: An .xlsx is a zip: what it may unpack to (an export of 20,000 dossiers unpacks to ~20 MB). openpyxl keeps
#: the shared strings in memory (~12× their size), so a 400 KB "zip bomb" used to take 4.9 GB and 110 s.
XLSX_MAX_UNPACKED = 128 * 1024 * 1024
XLSX_MAX_SHARED_STRINGS = 32 * 1024 * 1024


def _check_xlsx(path: Path) -> None:
    """ImportFileError unless `path` is a zip whose members unpack to sizes openpyxl can afford."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFileError(f"{path}: not an Excel workbook (.xlsx): {exc}") from exc
    shared = sum(m.file_size for m in members if m.filename.lower().endswith("sharedstrings.xml"))
    if sum(m.file_size for m in members) > XLSX_MAX_UNPACKED or shared > XLSX_MAX_SHARED_STRINGS:
        raise ImportFileError(f"{path}: the workbook unpacks to more than {XLSX_MAX_UNPACKED // 2**20} MB "
                              f"(or its text to more than {XLSX_MAX_SHARED_STRINGS // 2**20} MB); split the export")


def _xlsx_rows(path: Path) -> Iterator[list]:
    """The first sheet's rows; a damaged workbook is an ImportFileError (the import's transaction rolls back)."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        for r in wb.active.iter_rows(values_only=True):
            yield list(r)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises KeyError, ParseError, TypeError… for a damaged file
        raise ImportFileError(f"{path}: the workbook cannot be read ({type(exc).__name__}: {exc})"[:500]) from exc


def iter_json_records(data: Any, column_map: dict[str, str] | None = None):
    """(index, record) pairs from a JSON list (or {"dossiers": [...]}), keys mapped like CSV headers."""
    if isinstance(data, dict):
        data = data.get("dossiers", data.get("items"))
    if not isinstance(data, list):
        raise ImportFileError('JSON must be a list of dossiers or {"dossiers": [...]}')
    column_map = column_map or {}
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            yield i, {"code": ""}
            continue
        norm = {fold(k): v for k, v in item.items()}
        rec = {}
        for f in FIELDS:
            for name in (f, column_map.get(f)):
                if name and fold(name) in norm:
                    rec[f] = norm[fold(name)]
                    break
        yield i, rec
