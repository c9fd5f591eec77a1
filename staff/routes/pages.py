"""HTML pages: login, the counter console, the hall display, the public ticket status and rating pages."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from centre import audit, users
from centre.queue import UnknownTicket
from staff import auth
from staff.app import render
from staff.auth import Principal, require
from staff.passwords import off_loop

log = logging.getLogger("staff.login")
router = APIRouter(include_in_schema=False)
NAV = [("console", "/console", ("admin", "officer")), ("display", "/display", ("admin", "display"))]

OFFICER = require("admin", "officer")
VIEWER = require("admin", "officer", "display")
DISPLAY_SESSION_H = 30 * 24
HOME = {"admin": "/admin", "officer": "/console", "display": "/display", "kiosk": "/docs"}


def _address(request: Request) -> str:
    return auth.client_address(request)


@router.get("/", response_class=HTMLResponse)
def home(request: Request):
    who = auth.principal(request)
    return RedirectResponse(HOME[who.user.role] if who else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/"):
    staff = request.app.state.staff
    no_users = not users.list_users(staff.conn())
    return render(request, "login.html", {"next": _safe_next(next), "no_users": no_users})


def _safe_next(path: str) -> str:
    """Only local paths (no //host or scheme), so the login cannot redirect elsewhere."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, name: str = Form("", max_length=64), password: str = Form("", max_length=256),
                next: str = Form("/", max_length=300), _=Depends(auth.public())):
    staff = request.app.state.staff
    conn = staff.conn()
    cfg = staff.cfg
    addr = _address(request)
    lang = request.cookies.get("lang", "vi")
    from staff.i18n import t

    def check() -> users.User:  # in a worker thread, with that thread's own connection
        return users.authenticate(staff.conn(), name, password, addr, max_tries=cfg.staff.login_max_tries,
                                  lockout_s=cfg.staff.login_lockout_s, now=staff.now())

    try:
        user = await off_loop(request.app.state, check)
    except users.LoginLocked as exc:
        audit.record(conn, users.login_name(name) or "?", "login.locked", entity="user", key=users.login_name(name), address=addr,
                     now=staff.now())
        return render(request, "login.html", {"next": _safe_next(next), "error": t(lang, "login_locked",
                      seconds=int(exc.retry_after) + 1), "name": name}, status=429)
    except users.BadCredentials:
        audit.record(conn, users.login_name(name) or "?", "login.failed", entity="user", key=users.login_name(name), address=addr,
                     now=staff.now())
        return render(request, "login.html", {"next": _safe_next(next), "error": t(lang, "login_failed"),
                      "name": name}, status=401)
    # A hall TV has no keyboard to log in again every morning: display sessions last 30 days.
    hours = max(cfg.staff.session_hours, DISPLAY_SESSION_H) if user.role == "display" else cfg.staff.session_hours
    token, sess = users.create_session(conn, user, hours=hours, address=addr, now=staff.now())
    audit.record(conn, user.name, "login.ok", entity="user", key=user.id, address=addr, now=staff.now())
    target = _safe_next(next)
    if target == "/":
        target = HOME[user.role]
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=int(hours * 3600))
    response.delete_cookie(auth.FORM_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, who: Principal = Depends(require(*auth.ALL_ROLES))):
    users.end_session(request.app.state.staff.conn(), request.cookies.get(auth.SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response


SIGNED_IN = require("admin", "officer", "display")


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, who: Principal = Depends(SIGNED_IN)):
    return render(request, "account.html", {})


@router.post("/account/password", response_class=HTMLResponse)
async def change_password(request: Request, old: str = Form("", max_length=256), new: str = Form("", max_length=256),
                          repeat: str = Form("", max_length=256), who: Principal = Depends(SIGNED_IN)):
    """Every user changes their own password (the current one is checked); all their sessions end."""
    from staff.i18n import t

    staff = request.app.state.staff
    lang = request.cookies.get("lang", "vi")
    addr = _address(request)
    try:
        if new != repeat:
            raise users.UserError(t(lang, "passwords_differ"))
        await off_loop(request.app.state, lambda: users.change_password(
            staff.conn(), who.user.id, old, new, now=staff.now(), address=addr,
            max_tries=staff.cfg.staff.login_max_tries, lockout_s=staff.cfg.staff.login_lockout_s))
    except users.LoginLocked as exc:
        return render(request, "account.html", {"error": t(lang, "login_locked", seconds=int(exc.retry_after) + 1)},
                      status=429)
    except users.BadCredentials:
        audit.record(staff.conn(), who.user.name, "password.change_failed", entity="user", key=who.user.id,
                     address=addr, now=staff.now())
        return render(request, "account.html", {"error": t(lang, "wrong_current_password")}, status=422)
    except users.UserError as exc:
        from staff.i18n import error_text

        return render(request, "account.html", {"error": error_text(lang, exc)}, status=422)
    audit.record(staff.conn(), who.user.name, "password.change", entity="user", key=who.user.id, address=addr,
                 now=staff.now())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response


@router.get("/console", response_class=HTMLResponse)
def console_choose(request: Request, who: Principal = Depends(OFFICER)):
    qu = request.app.state.staff.queue()
    mine = [c for c in qu.counters() if who.user.can_use_counter(c.id)]
    if len(mine) == 1:
        return RedirectResponse(f"/console/{mine[0].id}", status_code=303)
    return render(request, "console_choose.html", {"counters": mine})


@router.get("/console/{counter_id}", response_class=HTMLResponse)
def console(counter_id: Annotated[int, Path(ge=1, le=99)], request: Request, who: Principal = Depends(OFFICER)):
    auth.require_counter(who, counter_id)
    c = request.app.state.staff.queue().counter(counter_id)
    return render(request, "console.html", {"counter": c})


@router.get("/display", response_class=HTMLResponse)
def display(request: Request, who: Principal = Depends(VIEWER)):
    return render(request, "display.html", {})


@router.get("/t/{token}", response_class=HTMLResponse)
def ticket_page(token: str, request: Request):
    staff = request.app.state.staff
    try:
        t = staff.queue().by_token(token[:64])
    except UnknownTicket:
        return render(request, "message.html", {"title_key": "ticket_unknown"}, status=404)
    # The page speaks the language the ticket was taken in, unless the reader chose one.
    chosen = "lang" in request.query_params or "lang" in request.cookies
    return render(request, "ticket.html", {"token": token[:64]}, lang=None if chosen else t.lang)


@router.get("/rate/{counter_id}", response_class=HTMLResponse)
def counter_rating_page(counter_id: Annotated[int, Path(ge=1, le=99)], request: Request, who: Principal = Depends(OFFICER)):
    """The citizen-facing rating tablet of a counter (logged in as that counter's officer)."""
    auth.require_counter(who, counter_id)
    c = request.app.state.staff.queue().counter(counter_id)
    return render(request, "rate_counter.html", {"counter": c})


@router.get("/favicon.ico")
def favicon():
    return Response(status_code=204)
