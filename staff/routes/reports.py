"""Reports: per day or range, per service, counter, officer, procedure and service × day; charts
(SVG/PNG), CSV export (Vietnamese headers, English with lang=en) and a printable monthly report in
the usual Vietnamese layout (centre header, period, tables, signature block)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from centre import reports
from staff.app import lang_of, render
from staff.auth import Principal, require

ADMIN = require("admin")
router = APIRouter(tags=["reports"])
NAV = [("reports", "/reports", ("admin",))]
MAX_DAYS = 366
# Days a report may name (9999-12-31 has no next day: it was a 500).
Day = Annotated[date | None, Query(ge=date(1990, 1, 1), le=date(2100, 12, 31))]


BadRange = reports.ReportRangeError


def _range(staff, start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(staff.cfg.centre.tz).date() if staff.clock is None else \
        staff.clock.now().astimezone(staff.cfg.centre.tz).date()
    start = start or today
    end = end or start
    if end < start:
        raise BadRange(f"the end date {end} is before the start date {start}")
    if end - start > timedelta(days=MAX_DAYS):
        raise BadRange(f"a report covers at most {MAX_DAYS} days")
    return start, end


def _report(request: Request, start, end) -> reports.Report:
    staff = request.app.state.staff
    s, e = _range(staff, start, end)
    return reports.report_for(staff.queue(), s, e)


@router.get("/api/reports", summary="Report figures for a day (start) or a range (start..end)")
def report_json(request: Request, start: Day = None, end: Day = None,
                who: Principal = Depends(ADMIN)):
    return _report(request, start, end).to_dict()


@router.get("/api/reports.csv", summary="The report as CSV (one row per total, day, service, counter)",
            response_class=Response)
def report_csv(request: Request, start: Day = None, end: Day = None,
               lang: Literal["vi", "en"] = "vi", who: Principal = Depends(ADMIN)):
    rep = _report(request, start, end)
    name = f"report-{rep.start.isoformat()}" + ("" if rep.end == rep.start else f"-{rep.end.isoformat()}") + ".csv"
    return Response("\ufeff" + reports.report_csv(rep, lang), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/api/reports/chart/{kind}.{fmt}", summary="A report chart (hourly, services, daily, ratings) as SVG or PNG",
            response_class=Response)
async def report_chart(kind: Literal["hourly", "services", "daily", "ratings"], fmt: Literal["svg", "png"],
                       request: Request, start: Day = None, end: Day = None,
                       lang: Literal["vi", "en"] | None = None, who: Principal = Depends(ADMIN)):
    from staff.charts import chart

    rep = await asyncio.to_thread(_report, request, start, end)
    data = await asyncio.to_thread(chart, rep, kind, fmt, lang or lang_of(request))
    return Response(data, media_type="image/svg+xml" if fmt == "svg" else "image/png",
                    headers={"Cache-Control": "no-store"})


@router.get("/reports", response_class=HTMLResponse, include_in_schema=False)
def report_page(request: Request, start: Day = None, end: Day = None,
                who: Principal = Depends(ADMIN)):
    try:
        rep = _report(request, start, end)
        error = None
    except BadRange as exc:
        rep, error = _report(request, None, None), str(exc)
    qs = f"start={rep.start.isoformat()}&end={rep.end.isoformat()}"
    staff = request.app.state.staff
    names = {s.series: s for s in staff.queue().services()}
    counters = {c.id: c for c in staff.queue().counters()}
    return render(request, "reports.html", {"rep": rep, "qs": qs, "error": error, "services": names,
                                            "counters": counters,
                                            "procedures": procedure_names(staff, rep, lang_of(request))})


def procedure_names(staff, rep: reports.Report, lang: str) -> dict[str, str]:
    """{procedure key: its name} for the report's procedures (the catalogue of this database)."""
    from centre.catalogue import Catalogue

    cat = Catalogue(staff.conn())
    out = {}
    for key in rep.by_procedure:
        p = cat.get(key) if key else None
        if p is not None:
            out[key] = (p.name_en if lang == "en" and p.name_en else p.name) + (f" ({p.code})" if p.code else "")
    return out


@router.get("/reports/print", response_class=HTMLResponse, include_in_schema=False)
def report_print(request: Request, month: str | None = Query(None, pattern=r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"),
                 who: Principal = Depends(ADMIN)):
    """The monthly report as a print-ready A4 page (Ctrl+P → PDF): Vietnamese administrative layout."""
    staff = request.app.state.staff
    today = _range(staff, None, None)[0]
    year, mon = (int(x) for x in month.split("-")) if month else (today.year, today.month)
    start = date(year, mon, 1)
    end = (date(year + mon // 12, mon % 12 + 1, 1) - timedelta(days=1))
    rep = reports.report_for(staff.queue(), start, end)
    return render(request, "reports_print.html", {
        "rep": rep, "services": {s.series: s for s in staff.queue().services()},
        "counters": {c.id: c for c in staff.queue().counters()}, "today": today,
        "procedures": procedure_names(staff, rep, "vi"), "month": start}, lang="vi")
