"""Dossiers (hồ sơ) on the staff server: due/late dashboard, daily digest (page and CSV), dossier
detail with history, file import form, and the JSON push API of the one-stop platform.

Who may do what:
- admin and officer: the dashboard, the digest, a dossier's detail (full applicant name and phone:
  these are staff pages) and the read API; the import form (audited) is for admins only, since an
  import rewrites any dossier (issue 16);
- the one-stop platform pushes with an **admin** API token (`kiosk users add onestop --role admin
  --token`): a push changes the centre's dossier register, which is an administrator's right; we
  did not add a separate role because roles are a column constraint of the users table;
- a remote kiosk (kiosk token) only `GET /api/dossiers/public/{code}`: `Dossiers.lookup_public`, the
  same masked, exact-code answer its own screen shows (name masked, no phone);
- nobody else: display users get 403, anonymous callers the login page (or 401). There is no
  public web page for dossiers: citizens look up at the kiosk.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import tempfile
import threading
from datetime import date, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile as FormFile

from centre import audit
from centre.dossiers import (
    Dossier,
    Dossiers,
    DossiersUnavailable,
    ImportFileError,
    ImportReport,
    iter_json_records,
    normalise_code,
)
from centre.workdays import HolidayFileError
from staff.app import lang_of, render
from staff.auth import Principal, require

STAFF = require("admin", "officer")
PUSHER = require("admin")
IMPORTER = require("admin")  # importing rewrites any dossier: administrators only (issue 16)
LOOKUP = require("admin", "officer", "kiosk")  # a remote kiosk's "Tra cứu hồ sơ": masked record only
NAV = [("dossiers", "/dossiers", ("admin", "officer"))]
pages = APIRouter(prefix="/dossiers", include_in_schema=False)
api = APIRouter(prefix="/api/dossiers", tags=["dossiers"])
routers = [pages, api]

MAX_UPLOAD = 20 * 1024 * 1024  # bytes; a year of a ward's dossiers is far less
MAX_PUSH = 20_000  # records in one push
PAGE_ROWS = 300  # dossiers listed per table on the dashboard (the counts cover all)
SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm", ".json")
Code = Annotated[str, Path(min_length=1, max_length=64)]
Day = Annotated[date | None, Query(alias="date", ge=date(1990, 1, 1), le=date(2100, 12, 31))]

_local = threading.local()
log = logging.getLogger(__name__)


def register(request: Request) -> Dossiers:
    """This worker thread's dossier register (on the staff server's own connection)."""
    staff = request.app.state.staff
    conn = staff.conn()
    reg = getattr(_local, "register", None)
    if reg is None or reg.conn is not conn:
        try:
            reg = _local.register = Dossiers.from_config(conn, staff.cfg)
        except HolidayFileError as exc:  # was a 500 on every dossier page, lookup and push
            log.error("dossiers unavailable: %s", exc)
            raise DossiersUnavailable("dossier due dates cannot be worked out now: the centre's holidays file has "
                                      "a mistake (`kiosk doctor` names it); nothing was changed") from None
    return reg


def today(request: Request) -> date:
    staff = request.app.state.staff
    return datetime.fromtimestamp(staff.now(), staff.cfg.centre.tz).date()


def _now_local(request: Request) -> datetime:
    staff = request.app.state.staff
    return datetime.fromtimestamp(staff.now(), staff.cfg.centre.tz).replace(tzinfo=None)


def field_names(reg: Dossiers, lang: str) -> dict[str, str]:
    from centre.catalogue import Catalogue

    try:
        fields = Catalogue(reg.conn).fields(with_procedures_only=False)
    except Exception:  # no catalogue in this database
        return {}
    return {f.id: f.name(lang) for f in fields}


def dossier_dict(d: Dossier, today_: date | None = None) -> dict[str, Any]:
    """The full record as staff see it (applicant name and phone unmasked)."""
    late = d.state in ("received", "processing", "supplement_requested") and d.due_at is not None \
        and today_ is not None and d.due_at < today_
    return {
        "code": d.code, "procedure_code": d.procedure_code, "procedure_name": d.procedure_name,
        "field_id": d.field_id, "applicant_name": d.applicant_name, "applicant_phone": d.applicant_phone,
        "received_at": d.received_at.isoformat(timespec="minutes"),
        "due_at": d.due_at.isoformat() if d.due_at else None, "due_source": d.due_source, "state": d.state,
        "late": late, "counter": d.counter, "officer": d.officer, "missing_documents": d.missing_documents,
        "updated_at": d.updated_at,
    }


def _groups(due: dict[str, list[Dossier]], attr: str) -> list[tuple[str, int, int]]:
    """[(key, late, due soon)] sorted by late then due soon, most first."""
    out: dict[str, list[int]] = {}
    for i, kind in enumerate(("late", "due_soon")):
        for d in due[kind]:
            out.setdefault(getattr(d, attr) or "", [0, 0])[i] += 1
    return sorted(((k, a, b) for k, (a, b) in out.items()), key=lambda x: (-x[1], -x[2], x[0]))


def _audit_import(request: Request, who: Principal, action: str, source: str, report: ImportReport | None,
                  error: str | None = None) -> None:
    staff = request.app.state.staff
    after = {"error": error[:2000]} if error else {k: v for k, v in report.to_dict().items() if k != "errors"} | {
        "bad_rows": len(report.errors)}
    audit.record(staff.conn(), who.user.name, action, entity="dossiers", key=source, after=after,
                 address=request.client.host if request.client else "", now=staff.now())


# -- pages ---------------------------------------------------------------------------------------


@pages.get("", response_class=HTMLResponse)
def dashboard(request: Request, who: Principal = Depends(STAFF)):
    reg = register(request)
    days = request.app.state.staff.cfg.dossiers.due_soon_working_days
    t = today(request)
    due = reg.due(within_working_days=days, today=t)
    lang = lang_of(request)
    return render(request, "dossiers.html", {
        "due": due, "days": days, "today": t, "fields": field_names(reg, lang),
        "by_field": _groups(due, "field_id"), "by_officer": _groups(due, "officer"),
        "horizon": reg.calendar.add_working_days(t, days), "limit": PAGE_ROWS,
    })


def _digest(request: Request, day: date | None) -> tuple[dict, dict[str, str]]:
    reg = register(request)
    days = request.app.state.staff.cfg.dossiers.due_soon_working_days
    dg = reg.digest(day=day or today(request), within_working_days=days)
    from staff.i18n import t

    lang = lang_of(request)
    return dg, {**field_names(reg, lang), "-": t(lang, "dossier_unknown_field")}


@pages.get("/digest", response_class=HTMLResponse)
def digest_page(request: Request, day: Day = None, who: Principal = Depends(STAFF)):
    dg, fields = _digest(request, day)
    from centre import users
    from staff.i18n import t

    # officers by their full names where the import's login name is a staff user's
    people = {u.name: u.full_name for u in users.list_users(request.app.state.staff.conn()) if u.full_name}
    people["-"] = t(lang_of(request), "dossier_no_officer")
    day_text = date.fromisoformat(dg["day"]).strftime("%d/%m/%Y")
    return render(request, "dossiers_digest.html", {"dg": dg, "fields": fields, "people": people,
                                                    "day_text": day_text})


@pages.get("/digest.csv", response_class=Response)
def digest_csv(request: Request, day: Day = None, who: Principal = Depends(STAFF)):
    dg, fields = _digest(request, day)
    return Response("\ufeff" + digest_to_csv(dg, fields), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="dossiers-{dg["day"]}.csv"',
                             "Cache-Control": "no-store"})


def digest_to_csv(dg: dict, fields: dict[str, str] | None = None) -> str:
    """The digest as rows of (day, section, key, name, count): one table a spreadsheet can pivot."""
    fields = fields or {}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w = _SafeWriter(w)
    w.writerow(["day", "section", "key", "name", "count"])
    day = dg["day"]
    w.writerow([day, "received", "", "", dg["received"]])
    for state, n in sorted(dg["finished"].items()):
        w.writerow([day, "finished", state, "", n])
    for state, n in dg["by_state"].items():
        w.writerow([day, "by_state", state, "", n])
    w.writerow([day, "late", "", "", dg["late"]])
    w.writerow([day, "due_soon", "", "", dg["due_soon"]])
    for section in ("late_by_field", "due_soon_by_field"):
        for key, n in dg[section].items():
            w.writerow([day, section, key, fields.get(key, ""), n])
    for section in ("late_by_officer", "due_soon_by_officer"):
        for key, n in dg[section].items():
            w.writerow([day, section, key, "", n])
    return buf.getvalue()


class _SafeWriter:
    """A csv writer whose text cells cannot start a spreadsheet formula (centre.reports.csv_safe)."""

    def __init__(self, writer):
        self.writer = writer

    def writerow(self, row):
        from centre.reports import csv_safe

        self.writer.writerow([csv_safe(v) for v in row])


@pages.get("/import", response_class=HTMLResponse)
def import_page(request: Request, who: Principal = Depends(IMPORTER)):
    return render(request, "dossiers_import.html", {"report": None})


@pages.post("/import", response_class=HTMLResponse)
async def import_upload(request: Request, who: Principal = Depends(IMPORTER)):
    """The import form's upload. The multipart body is read here, after the login and role check:
    a declared `File(...)` parameter made FastAPI parse it, spooling up to max_body_mb to disk,
    for anyone before the check (an anonymous flood of 10 MB uploads filled the temp folder)."""
    file = (await request.form()).get("file")
    name = FilePath(file.filename or "").name if isinstance(file, FormFile) else ""
    suffix = FilePath(name).suffix.lower()
    lang = lang_of(request)
    from staff.i18n import t

    if suffix not in SUFFIXES:
        return render(request, "dossiers_import.html",
                      {"report": None, "error": t(lang, "dossier_bad_format", name=name or "?")}, status=422)
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return render(request, "dossiers_import.html",
                      {"report": None, "error": t(lang, "dossier_too_large", mb=MAX_UPLOAD // 2**20)}, status=413)

    def run():
        reg = register(request)
        with tempfile.TemporaryDirectory(prefix="dossier-import-") as tmp:
            path = FilePath(tmp) / ("upload" + suffix)
            path.write_bytes(data)
            try:
                from centre.dossiers import read_export

                rep = reg.upsert_many(read_export(path, reg.column_map), source=f"web:{who.user.name}:{name}",
                                      now=_now_local(request))
            except (ImportFileError, UnicodeDecodeError, ValueError, OSError) as exc:
                msg = str(exc).replace(str(path), name)
                if isinstance(exc, UnicodeDecodeError):
                    msg = "the file is not UTF-8 text"
                _audit_import(request, who, "dossiers.import_failed", name, None, msg)
                return None, msg
            _audit_import(request, who, "dossiers.import", name, rep)
            return rep, None

    rep, error = await asyncio.to_thread(run)
    return render(request, "dossiers_import.html", {"report": rep, "name": name, "error": error},
                  status=200 if rep else 422)


@pages.get("/find", response_class=HTMLResponse)
def find(request: Request, code: str = Query("", max_length=64), who: Principal = Depends(STAFF)):
    """The search box of the dossier pages: go to the dossier with exactly this code."""
    from urllib.parse import quote

    return RedirectResponse(f"/dossiers/{quote(normalise_code(code) or '-', safe='')}", status_code=303)


@pages.get("/{code}", response_class=HTMLResponse)
def detail_page(code: Code, request: Request, who: Principal = Depends(STAFF)):
    reg = register(request)
    d = reg.get(code)
    if d is None:
        from staff.i18n import t

        return render(request, "message.html", {"title": t(lang_of(request), "dossier_not_found",
                                                             code=normalise_code(code))}, status=404)
    t_ = today(request)
    return render(request, "dossiers_detail.html", {"d": dossier_dict(d, t_), "history": reg.history(d.code),
                                                    "fields": field_names(reg, lang_of(request))})


# -- JSON API ------------------------------------------------------------------------------------


@api.post("", summary="Push dossiers from the one-stop platform (admin API token); idempotent; returns the import report",
          description='Body: a list of dossiers or `{"dossiers": [...]}` with our field names (code, procedure_code, '
                      "applicant_name, applicant_phone, received_at, due_at, state, counter, officer, "
                      "missing_documents); the platform's column names from `dossiers.import_columns` are accepted too. "
                      "Re-sending the same records changes nothing; bad records are reported with their position "
                      "(1-based) and reason while the good ones are stored.")
async def push(request: Request, payload: Annotated[list[dict[str, Any]] | dict[str, Any], Body()],
               who: Principal = Depends(PUSHER)):
    items = payload.get("dossiers", payload.get("items")) if isinstance(payload, dict) else payload
    if isinstance(items, list) and len(items) > MAX_PUSH:
        return JSONResponse({"error": "PushTooLarge", "message": f"at most {MAX_PUSH} dossiers a request"},
                            status_code=413)

    def run():
        reg = register(request)
        try:
            records = list(iter_json_records(payload, reg.column_map))
        except ImportFileError as exc:
            return None, str(exc)
        rep = reg.upsert_many(records, source=f"api:{who.user.name}", now=_now_local(request))
        _audit_import(request, who, "dossiers.push", "api", rep)
        return rep, None

    rep, error = await asyncio.to_thread(run)
    if rep is None:
        return JSONResponse({"error": "ImportFileError", "message": error}, status_code=422)
    return rep.to_dict()


@api.get("/due", summary="Open dossiers that are late or due within N working days (default from config)")
def due_api(request: Request, days: int | None = Query(None, ge=0, le=60), who: Principal = Depends(STAFF)):
    reg = register(request)
    n = request.app.state.staff.cfg.dossiers.due_soon_working_days if days is None else days
    t = today(request)
    due = reg.due(within_working_days=n, today=t)
    return {"today": t.isoformat(), "within_working_days": n,
            "late": [dossier_dict(d, t) for d in due["late"]],
            "due_soon": [dossier_dict(d, t) for d in due["due_soon"]]}


@api.get("/public/{code}", summary="What a kiosk shows for a receipt code (remote kiosks): masked, exact code only")
def public_api(code: Code, request: Request, who: Principal = Depends(LOOKUP)):
    state = request.app.state
    if not hasattr(state, "dossier_lookups"):
        state.dossier_lookups = Throttle()
    wait = state.dossier_lookups.hit(f"{who.user.role}:{who.user.name}", state.staff.now())
    if wait > 0:
        return JSONResponse({"error": "TooManyLookups", "message": "too many dossier lookups; try again shortly"},
                            status_code=429, headers={"Retry-After": str(int(wait) + 1)})
    found = register(request).lookup_public(code, today=today(request))
    if found is None:
        return JSONResponse({"error": "UnknownDossier", "message": "no dossier has this code"}, status_code=404)
    return found.to_dict()  # the name masked by centre.dossiers.mask_name (initials only)


class Throttle:
    """At most `most` calls per `window_s` per caller (a kiosk token cannot sweep receipt codes)."""

    def __init__(self, most: int = 20, window_s: float = 60.0):
        self.most, self.window_s = most, window_s
        self._hits: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def hit(self, who: str, now: float) -> float:
        """Record a call; 0 when allowed, else seconds until the caller may call again."""
        with self._lock:
            hits = [t for t in self._hits.get(who, []) if t > now - self.window_s]
            if len(hits) >= self.most:
                self._hits[who] = hits
                return hits[0] + self.window_s - now
            hits.append(now)
            self._hits[who] = hits
            if len(self._hits) > 10_000:  # forget idle callers
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window_s}
            return 0.0



@api.get("/{code}", summary="One dossier by its exact receipt code, with its history (staff: unmasked)")
def get_api(code: Code, request: Request, who: Principal = Depends(STAFF)):
    reg = register(request)
    d = reg.get(code)
    if d is None:
        return JSONResponse({"error": "UnknownDossier", "message": f"no dossier has the code {normalise_code(code)!r}"},
                            status_code=404)
    return {**dossier_dict(d, today(request)), "history": reg.history(d.code)}
