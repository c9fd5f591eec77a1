"""The ward's service-quality indicators (same formulas as the provincial hub): /indicators."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from centre import ward_stats
from centre.indicators import decision_766, indicators, total
from staff.app import render
from staff.auth import Principal, require

ADMIN = require("admin")
router = APIRouter(tags=["indicators"])
NAV = [("indicators", "/indicators", ("admin",))]
#: YYYY-MM from 1990-01 to 2100-12; anything else is a 422 (was: this month's figures, silently).
Month = Query(None, pattern=r"^(199[0-9]|20[0-9]{2}|2100)-(0[1-9]|1[0-2])$", description="YYYY-MM")


def _month(text: str | None, today: date) -> tuple[date, date, str]:
    try:
        y, m = (int(x) for x in (text or "").split("-"))
        start = date(y, m, 1) if 1990 <= y <= 2100 else None  # 9999-12 has no next month
    except ValueError:
        start = None
    start = start or today.replace(day=1)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, end, f"{start.year:04d}-{start.month:02d}"


def _data(request: Request, month: str | None) -> dict:
    staff = request.app.state.staff
    now = staff.clock.now() if staff.clock is not None else datetime.now(staff.cfg.centre.tz)
    start, end, label = _month(month, now.astimezone(staff.cfg.centre.tz).date())
    days = ward_stats.daily_stats(staff.queue().conn, start, end)
    ind = indicators(total(days.values()))
    return {"month": label, "ind": ind, "decision_766": decision_766(ind),
            "days": [{"day": d, "ind": indicators(s)} for d, s in days.items() if s.tickets or s.received or s.finished],
            "prev": f"{(start - timedelta(days=1)):%Y-%m}", "next": f"{end:%Y-%m}"}


@router.get("/api/indicators", summary="The ward's indicators for a month (YYYY-MM, default this month)")
def indicators_json(request: Request, month: str | None = Month, who: Principal = Depends(ADMIN)):
    d = _data(request, month)
    return {**d, "days": [{"day": x["day"].isoformat(), **x["ind"]} for x in d["days"]]}


@router.get("/indicators", response_class=HTMLResponse, include_in_schema=False)
def indicators_page(request: Request, month: str | None = Month, who: Principal = Depends(ADMIN)):
    return render(request, "indicators.html", _data(request, month))
