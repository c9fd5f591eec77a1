"""Administration: services, counters (waypoints, map positions), opening hours, priority groups, users,
catalogue import and the change log. Every change is audited (who, when, before, after) and takes effect
for kiosks without a restart (they read the same database tables).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from centre import admin as centre_admin
from centre import audit, users
from centre import queue as q
from staff.app import render
from staff.auth import Principal, require

ADMIN = require("admin")
router = APIRouter(prefix="/api/admin", tags=["admin"])
pages = APIRouter(prefix="/admin", include_in_schema=False)
NAV = [("admin", "/admin", ("admin",))]
SECTIONS = ["services", "counters", "hours", "priority", "users", "catalogue", "audit"]
Hours = dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], list[str]]


def _staff(request: Request):
    return request.app.state.staff


def _addr(request: Request) -> str:
    return request.client.host if request.client else ""


class ServiceUpdate(BaseModel):
    name_vi: str | None = Field(None, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    target_wait_min: float | None = Field(None, gt=0, le=600)
    default_service_min: float | None = Field(None, gt=0, le=600)
    opening_hours: Hours | None = None
    closed: bool | None = None


class CounterUpdate(BaseModel):
    name_vi: str | None = Field(None, max_length=100)
    name_en: str | None = Field(None, max_length=100)
    services: list[str] | None = Field(None, max_length=26)
    waypoint: str | None = Field(None, max_length=64)
    state: Literal["open", "paused", "closed"] | None = None


class CounterRow(CounterUpdate):
    id: int = Field(ge=1, le=99)


class CountersUpdate(BaseModel):
    counters: list[CounterRow] = Field([], max_length=99, description="changed or added counters")
    delete: list[int] = Field([], max_length=99, description="ids of counters to delete")


class HoursUpdate(BaseModel):
    opening_hours: Hours
    services: list[str] | None = Field(None, description="series letters; default every service")


class PriorityGroupUpdate(BaseModel):
    name_vi: str = Field(max_length=100)
    name_en: str = Field(max_length=100)
    active: bool = True
    sort: int | None = Field(None, ge=0, le=1000)


class UserCreate(BaseModel):
    name: str = Field(max_length=32)
    role: Literal["admin", "officer", "display", "kiosk"]
    password: str = Field(max_length=256)
    counters: list[int] = Field([], max_length=99)
    full_name: str = Field("", max_length=100)


class UserUpdate(BaseModel):
    role: Literal["admin", "officer", "display", "kiosk"] | None = None
    counters: list[int] | None = Field(None, max_length=99)
    full_name: str | None = Field(None, max_length=100)
    active: bool | None = None
    password: str | None = Field(None, max_length=256)


# -- services, counters, hours ----------------------------------------------------------------


@router.get("/services", summary="Services in effect (config.yaml plus changes made here)")
def list_services(request: Request, who: Principal = Depends(ADMIN)):
    return [s.to_dict() for s in _staff(request).queue().services()]


@router.put("/services/{series}", summary="Change a service, or add one (give both names)")
def put_service(series: str, body: ServiceUpdate, request: Request, who: Principal = Depends(ADMIN)):
    staff = _staff(request)
    s = staff.queue().update_service(series, actor=who.actor, **body.model_dump(exclude_none=True))
    staff.broker.poke()
    return s.to_dict()


@router.get("/counters", summary="Counters in effect, with their robot waypoint and map position")
def list_counters(request: Request, who: Principal = Depends(ADMIN)):
    return [c.to_dict() for c in _staff(request).queue().counters()]


@router.put("/counters/{counter_id}", summary="Change a counter, or add one (names, services and waypoint)")
def put_counter(counter_id: Annotated[int, Path(ge=1, le=99)], body: CounterUpdate, request: Request, who: Principal = Depends(ADMIN)):
    staff = _staff(request)
    c = staff.queue().update_counter(counter_id, actor=who.actor, **body.model_dump(exclude_none=True))
    staff.broker.poke()
    return c.to_dict()


@router.put("/counters", summary="Save the whole counters page at once: changes, additions and deletions")
def put_counters(body: CountersUpdate, request: Request, who: Principal = Depends(ADMIN)):
    """Checked before anything changes (known services and waypoints, names, the ids to delete), then
    applied in order: changes and additions first, deletions last (a deletion refused because the
    counter still has tickets leaves the others saved and says which one)."""
    staff = _staff(request)
    qu = staff.queue()
    known = {s.series for s in qu.services()}
    have = {c.id for c in qu.counters()}
    for row in body.counters:
        bad = [x for x in (row.services or []) if x not in known]
        if bad:
            raise q.UnknownService(f"counter {row.id}: there is no service {bad[0]!r}")
        if row.services is not None and not row.services:
            raise q.InvalidInput(f"counter {row.id} must serve at least one service")
        if row.id not in have and None in (row.name_vi, row.name_en, row.services, row.waypoint):
            raise q.InvalidInput(f"a new counter {row.id} needs its names, services and waypoint")
    for cid in body.delete:
        qu.counter(cid)
    out = [qu.update_counter(row.id, actor=who.actor, **row.model_dump(exclude_none=True, exclude={"id"})).to_dict()
           for row in body.counters]
    for cid in body.delete:
        qu.remove_counter(cid, actor=who.actor)
    staff.broker.poke()
    return {"saved": out, "deleted": body.delete}


@router.delete("/counters/{counter_id}", summary="Delete a counter (refused while it has tickets)")
def delete_counter(counter_id: Annotated[int, Path(ge=1, le=99)], request: Request, who: Principal = Depends(ADMIN)):
    staff = _staff(request)
    old = staff.queue().remove_counter(counter_id, actor=who.actor)
    staff.broker.poke()
    return {"deleted": old.id}


@router.get("/map", summary="The floor map: size and waypoints (robot destinations) with positions")
def floor_map(request: Request, who: Principal = Depends(ADMIN)):
    fm = _staff(request).cfg.floor_map
    return {"width_m": fm.width_m, "height_m": fm.height_m,
            "waypoints": {k: {"x": w.x, "y": w.y, "name_vi": w.name.vi if w.name else k,
                              "name_en": w.name.en if w.name else k} for k, w in fm.waypoints.items()}}


@router.put("/opening-hours", summary="Set the opening hours of every service (or the listed ones)")
def put_hours(body: HoursUpdate, request: Request, who: Principal = Depends(ADMIN)):
    staff = _staff(request)
    qu = staff.queue()
    series = body.services or [s.series for s in qu.services()]
    for s in series:
        qu.service(s)  # unknown letters fail before anything changes
    hours = {day: body.opening_hours.get(day, []) for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    out = [qu.update_service(s, actor=who.actor, opening_hours=hours).to_dict() for s in series]
    staff.broker.poke()
    return out


# -- priority groups -------------------------------------------------------------------------------


@router.get("/priority-groups", summary="Priority groups, including switched-off ones")
def list_groups(request: Request, who: Principal = Depends(ADMIN)):
    staff = _staff(request)
    return centre_admin.priority_groups(staff.conn(), staff.cfg, include_inactive=True)


@router.put("/priority-groups/{key}", summary="Add or change a priority group")
def put_group(key: str, body: PriorityGroupUpdate, request: Request, who: Principal = Depends(ADMIN)):
    staff = _staff(request)
    return centre_admin.set_priority_group(staff.conn(), staff.cfg, key, actor=who.actor, now=staff.now(),
                                           **body.model_dump())


# -- users --------------------------------------------------------------------------------------------


def _valid_counters(staff) -> list[int]:
    return [c.id for c in staff.queue().counters()]


@router.get("/users", summary="Staff users")
def list_users(request: Request, who: Principal = Depends(ADMIN)):
    return [u.to_dict() for u in users.list_users(_staff(request).conn())]


@router.post("/users", status_code=201, summary="Add a user")
def create_user(body: UserCreate, request: Request, who: Principal = Depends(ADMIN)):
    staff = _staff(request)
    conn = staff.conn()
    u = users.create_user(conn, body.name, body.role, body.password, counters=body.counters,
                          full_name=body.full_name, valid_counters=_valid_counters(staff), now=staff.now())
    audit.record(conn, who.user.name, "user.create", entity="user", key=u.id, after=u.to_dict(), address=_addr(request),
                 now=staff.now())
    return u.to_dict()


@router.put("/users/{user_id}", summary="Change a user (role, counters, name, active, password)")
def update_user(user_id: Annotated[int, Path(ge=1, le=2**31)], body: UserUpdate, request: Request, who: Principal = Depends(ADMIN)):
    staff = _staff(request)
    conn = staff.conn()
    before = users.get_user(conn, user_id)
    u = users.update_user(conn, user_id, valid_counters=_valid_counters(staff), now=staff.now(),
                          **body.model_dump(exclude_none=True))
    after = u.to_dict() | ({"password": "changed"} if body.password else {})
    audit.record(conn, who.user.name, "user.update", entity="user", key=u.id, before=before.to_dict(), after=after,
                 address=_addr(request), now=staff.now())
    return u.to_dict()


@router.delete("/users/{user_id}", summary="Remove a user")
def delete_user(user_id: Annotated[int, Path(ge=1, le=2**31)], request: Request, who: Principal = Depends(ADMIN)):
    staff = _staff(request)
    conn = staff.conn()
    old = users.delete_user(conn, user_id)
    audit.record(conn, who.user.name, "user.delete", entity="user", key=old.id, before=old.to_dict(),
                 address=_addr(request), now=staff.now())
    return {"deleted": old.id}


@router.post("/users/{user_id}/token", summary="Make an API bearer token for a user (shown once)")
def make_token(user_id: Annotated[int, Path(ge=1, le=2**31)], request: Request, label: str = Query("", max_length=100),
               who: Principal = Depends(ADMIN)):
    staff = _staff(request)
    conn = staff.conn()
    token = users.create_api_token(conn, user_id, label, now=staff.now())
    audit.record(conn, who.user.name, "user.token", entity="user", key=user_id, after={"label": label},
                 address=_addr(request), now=staff.now())
    return {"token": token}


# -- catalogue, audit ------------------------------------------------------------------------------------


@router.post("/catalogue/import", summary="Re-import the catalogue files (kiosks reload without a restart)")
async def import_catalogue(request: Request, who: Principal = Depends(ADMIN)):
    staff = _staff(request)

    def run():
        from centre.catalogue_import import CatalogueError, import_catalogue

        conn = staff.conn()
        source = FilePath(staff.cfg.path(staff.cfg.paths.catalogue))
        from centre.catalogue import Catalogue

        version = Catalogue(conn).version()
        before = (version,) if version else None
        try:
            rep = import_catalogue(conn, source)
        except (CatalogueError, OSError) as exc:
            audit.record(conn, who.user.name, "catalogue.import_failed", entity="catalogue", key=str(source),
                         after={"error": str(exc)[:2000]}, address=_addr(request), now=staff.now())
            return {"ok": False, "error": str(exc)}
        d = rep.to_dict()
        audit.record(conn, who.user.name, "catalogue.import", entity="catalogue", key=str(source),
                     before={"version": before[0] if before else None},
                     after={k: d[k] for k in ("version", "procedures", "fields", "aliases")},
                     address=_addr(request), now=staff.now())
        return {"ok": True, "report": d, "summary": rep.summary()}

    result = await asyncio.to_thread(run)
    if not result["ok"]:
        from fastapi.responses import JSONResponse

        return JSONResponse({"error": "CatalogueError", "message": result["error"]}, status_code=422)
    return result


def audit_entries(staff, limit: int = 300) -> list[dict]:
    """The change log: staff audit rows and the queue's settings audit, merged, newest first."""
    rows = []
    for e in audit.entries(staff.conn(), limit=limit):
        rows.append({"at": datetime.fromtimestamp(e["at"], UTC).isoformat(), "actor": e["actor"],
                     "action": e["action"], "key": e["entity_key"], "before": e["before"], "after": e["after"],
                     "address": e["address"]})
    for e in staff.queue().settings_audit(limit):
        before, after = e["before"], e["after"]
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        rows.append({"at": e["at"], "actor": e["actor"], "action": f"{e['kind']}.update", "key": e["key"],
                     "before": {k: before.get(k) for k in changed} or None,
                     "after": {k: after.get(k) for k in changed}, "address": ""})
    tz = staff.cfg.centre.tz
    for r in rows:
        r["at_local"] = datetime.fromisoformat(r["at"]).astimezone(tz).strftime("%d/%m/%Y %H:%M:%S")
    rows.sort(key=lambda r: r["at"], reverse=True)
    return rows[:limit]


@router.get("/audit", summary="The change log: who changed what, when, before and after")
def get_audit(request: Request, limit: int = Query(300, ge=1, le=1000), who: Principal = Depends(ADMIN)):
    return audit_entries(_staff(request), limit)


@router.get("/logins", summary="Latest login attempts (name, address, success)")
def get_logins(request: Request, limit: int = Query(100, ge=1, le=1000), who: Principal = Depends(ADMIN)):
    return users.login_attempts(_staff(request).conn(), limit)


# -- pages ---------------------------------------------------------------------------------------------------


@pages.get("", response_class=HTMLResponse)
def admin_home(who: Principal = Depends(ADMIN)):
    return RedirectResponse("/admin/services", status_code=303)


@pages.get("/{section}", response_class=HTMLResponse)
def admin_page(section: Literal[tuple(SECTIONS)], request: Request, who: Principal = Depends(ADMIN)):  # type: ignore[valid-type]
    staff = _staff(request)
    qu = staff.queue()
    ctx = {"section": section, "sections": SECTIONS}
    if section in ("services", "hours"):
        ctx["services"] = qu.services()
    if section == "counters":
        ctx["counters"] = qu.counters()
        ctx["services"] = qu.services()
        ctx["floor_map"] = staff.cfg.floor_map
        ctx["next_id"] = max([c.id for c in ctx["counters"]] + [0]) + 1
    if section == "hours":
        ctx["days"] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        ctx["centre_hours"] = staff.cfg.opening_hours.model_dump()
    if section == "priority":
        ctx["groups"] = centre_admin.priority_groups(staff.conn(), staff.cfg, include_inactive=True)
    if section == "users":
        ctx["users"] = users.list_users(staff.conn())
        ctx["counters"] = qu.counters()
        tz = staff.cfg.centre.tz
        ctx["logins"] = [{**a, "at_local": datetime.fromtimestamp(a["at"], tz).strftime("%d/%m/%Y %H:%M:%S")}
                         for a in users.login_attempts(staff.conn(), 20)]
    if section == "catalogue":
        from centre.catalogue import Catalogue

        cat = Catalogue(staff.conn())
        ctx.update(meta=cat.meta(), procedures=len(cat.procedures()), source=str(staff.cfg.paths.catalogue))
    if section == "audit":
        ctx["entries"] = audit_entries(staff, 300)
    return render(request, f"admin_{section}.html", ctx)


routers = [router, pages]
