"""Who may read the hub's pages: login, logout, password change, sessions, CSRF and security headers.

Every dashboard, drill-down, report and export needs a logged-in province office user
(`province.users`); an anonymous browser asking for a page is sent to `/login`, and an anonymous
JSON, CSV or XLSX request gets 401. A `ward` user asking for a ward they are not bound to gets
403. The session cookie is HttpOnly and SameSite=Strict (Secure over HTTPS) and expires with the
session row. Forms carry a CSRF token: the login form a double-submit cookie (no session yet),
logout and password change the session's own token. Every response carries a CSP with
`frame-ancestors 'none'`: the pages run only the hub's own script file, nothing inline.

The ingest API (`/api/v1/ingest`, `/api/v1/me`) is untouched: centres use their bearer token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from functools import partial
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from province import i18n, users
from province.users import HubSession
from staff.passwords import off_loop

log = logging.getLogger("province.web")
router = APIRouter(include_in_schema=False)

SESSION_COOKIE = "province_session"
FORM_CSRF_COOKIE = "province_form_csrf"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class AuthRequired(Exception):
    """Nobody is logged in (or the session expired)."""

    def __init__(self, html: bool):
        super().__init__("log in first")
        self.html = html


class Forbidden(Exception):
    """The user is logged in but may not see this ward."""

    def __init__(self, message: str, html: bool):
        super().__init__(message)
        self.html = html


class CsrfFailed(Exception):
    """A form was posted without the CSRF token it must carry."""


def session(request: Request, conn) -> HubSession | None:
    """The caller's live session, looked up once per request."""
    if not hasattr(request.state, "hub_session"):
        request.state.hub_session = users.get_session(conn, request.cookies.get(SESSION_COOKIE))
    return request.state.hub_session


def require(request: Request, conn, *, html: bool, centre_id: str | None = None) -> HubSession:
    """The caller's session; AuthRequired when anonymous, Forbidden when `centre_id` is not theirs."""
    sess = session(request, conn)
    if sess is None:
        raise AuthRequired(html)
    if centre_id is not None and not sess.user.may_see(centre_id):
        log.warning("hub: user %s refused ward %s", sess.user.name, centre_id)
        raise Forbidden(f"user {sess.user.name} may not see ward {centre_id}", html)
    return sess


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def _safe_next(path: str) -> str:
    """Only local paths (no //host, scheme or backslash), so the login cannot redirect elsewhere."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def page(request: Request, template: str, status: int = 200, **ctx) -> HTMLResponse:
    """A page in the caller's language (province.i18n.lang_of: ?lang=, the `lang` cookie, else
    Vietnamese; a ?lang= is remembered in the cookie, as on the staff pages). `sess`: the
    request's session unless given."""
    lang = i18n.lang_of(request)
    ctx.setdefault("sess", getattr(request.state, "hub_session", None))
    html = request.app.state.env.get_template(template).render(
        lang=lang, t=partial(i18n.t, lang), lang_url=partial(_lang_url, request), **ctx)
    resp = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in i18n.LANGS:
        resp.set_cookie("lang", lang, samesite="lax", max_age=365 * 86400)
    return resp


#: where the language links of a page answering a form post lead (the form's own page)
_FORM_PAGES = {"/account/password": "/account", "/login": "/login"}


def _lang_url(request: Request, lang: str) -> str:
    """This page in `lang`: its path and query with lang= set (a form's answer: the form's page)."""
    if request.method != "GET":
        return f"{_FORM_PAGES.get(request.url.path, '/')}?lang={lang}"
    return f"{request.url.path}?{urlencode({**request.query_params, 'lang': lang})}"


def message(request: Request, status: int, key: str, **ctx) -> HTMLResponse:
    """The message page: title `<key>_title`, text `<key>_text` in the caller's language."""
    lang = i18n.lang_of(request)
    return page(request, "message.html", status, title=i18n.t(lang, f"{key}_title"), text=i18n.t(lang, f"{key}_text"),
                **ctx)


def wants_html(request: Request) -> bool:
    """Whether to answer with a page (a browser asking for one outside /api/) rather than JSON."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


#: Starlette's own refusals, said by the hub: status → (JSON `detail`, message page key)
ROUTING_ERRORS = {404: ("nothing is served at this path", "not_found"),
                  405: ("this path does not take this method", "method_not_allowed")}


async def _http_error(request: Request, exc: StarletteHTTPException):
    """An unknown path (404) or method (405): the hub's JSON error `{"detail": <sentence>}` (it was
    FastAPI's "Not Found"), or the message page in the browser's language; 405 keeps its Allow."""
    if exc.status_code not in ROUTING_ERRORS:
        return await http_exception_handler(request, exc)
    detail, key = ROUTING_ERRORS[exc.status_code]
    if wants_html(request):
        resp = message(request, exc.status_code, key, sess=None)
        resp.headers.update(exc.headers or {})
        return resp
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


def _conn(request: Request):
    return request.app.state.pool.conn()


def install(app) -> None:
    """Add the login routes, the error handlers and the security headers to the hub app."""
    app.include_router(router)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    @app.exception_handler(AuthRequired)
    async def _auth_required(request: Request, exc: AuthRequired):
        if exc.html:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return JSONResponse({"detail": "log in first"}, status_code=401,
                            headers={"WWW-Authenticate": 'Cookie realm="province"'})

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden):
        if exc.html:
            return message(request, 403, "forbidden", sess=None)
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed):
        log.warning("hub: CSRF check failed %s %s from %s", request.method, request.url.path, _address(request))
        return message(request, 403, "csrf", sess=None)


def _login_page(request: Request, status: int = 200, **ctx) -> HTMLResponse:
    token = request.cookies.get(FORM_CSRF_COOKIE) or secrets.token_urlsafe(24)
    with _conn(request) as c:
        no_users = c.execute("SELECT NOT EXISTS (SELECT 1 FROM hub_users WHERE active)").fetchone()[0]
    resp = page(request, "login.html", status, csrf=token, sess=None, no_users=no_users, **ctx)
    resp.set_cookie(FORM_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                    path="/login")
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/"):
    return _login_page(request, next=_safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, name: str = Form("", max_length=64), password: str = Form("", max_length=256),
                next: str = Form("/", max_length=500), csrf_token: str = Form("", max_length=100)):
    if not _same(csrf_token, request.cookies.get(FORM_CSRF_COOKIE, "")):
        raise CsrfFailed("login form without its token")
    app = request.app.state
    target = _safe_next(next)
    address = _address(request)

    def begin() -> users.LoginTry:
        with _conn(request) as c:
            return users.begin_login(c, name, address, max_tries=app.login_max_tries,
                                     lockout_s=app.login_lockout_s)

    def finish(login: users.LoginTry, ok: bool) -> str:
        with _conn(request) as c:
            user = users.finish_login(c, login, ok)
            return users.create_session(c, user, hours=app.session_hours, address=address)[0]

    # The scrypt runs with no database connection held and at most HASH_WORKERS at once: a burst
    # of logins held the pool's four connections (the wards' batches, /healthz and every page
    # waited, then 503) and as many threads as logins. The refusal's page is rendered after the
    # connection is given back: _login_page takes one too (four failed logins at once hung the hub).
    try:
        login = await run_in_threadpool(begin)
        ok = await off_loop(app, users.password_matches, login, password)
        token = await run_in_threadpool(finish, login, ok)
    except users.LoginLocked as exc:
        refused = (429, i18n.t(i18n.lang_of(request), "login_locked", seconds=int(exc.retry_after) + 1))
    except users.BadCredentials:
        refused = (401, i18n.t(i18n.lang_of(request), "login_bad"))
    else:
        refused = None
    if refused:
        return await run_in_threadpool(_login_page, request, refused[0], next=target, name=name, error=refused[1])
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                    max_age=int(app.session_hours * 3600), path="/")
    resp.delete_cookie(FORM_CSRF_COOKIE, path="/login")
    return resp


def _session_form(request: Request, c, csrf_token: str) -> HubSession:
    sess = require(request, c, html=True)
    if not _same(csrf_token, sess.csrf):
        raise CsrfFailed("form without the session's token")
    return sess


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("", max_length=100)):
    with _conn(request) as c:
        if session(request, c) is not None:  # already logged out: nothing to end
            _session_form(request, c, csrf_token)
            users.end_session(c, request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/account", response_class=HTMLResponse)
def account(request: Request):
    with _conn(request) as c:
        sess = require(request, c, html=True)
    return page(request, "account.html", sess=sess)


@router.post("/account/password", response_class=HTMLResponse)
async def change_password(request: Request, old: str = Form("", max_length=256), new: str = Form("", max_length=256),
                          repeat: str = Form("", max_length=256), csrf_token: str = Form("", max_length=100)):
    app = request.app.state
    lang = i18n.lang_of(request)

    def on_db(fn, *args, **kwargs):  # one of the pool's connections, for this step only
        with _conn(request) as c:
            return fn(c, *args, **kwargs)

    sess = await run_in_threadpool(on_db, lambda c: _session_form(request, c, csrf_token))
    # As the login: the two scrypts (the current password, the new one's hash) hold no connection.
    try:
        if new != repeat:
            raise users.UserError("the two new passwords are not the same", "password_mismatch")
        change = await run_in_threadpool(on_db, users.begin_password_change, sess.user.id, _address(request),
                                         max_tries=app.login_max_tries, lockout_s=app.login_lockout_s)
        ok = await off_loop(app, users.password_matches, change, old)
        hashed = None
        if ok and old != new:
            users.check_password_strength(new, change.name)
            hashed = await off_loop(app, users.hash_password, new)
        await run_in_threadpool(on_db, users.finish_password_change, change, ok, old, new, hashed)
    except users.LoginLocked as exc:
        return page(request, "account.html", 429, sess=sess,
                     error=i18n.t(lang, "password_locked", seconds=int(exc.retry_after) + 1))
    except users.BadCredentials:
        return page(request, "account.html", 422, sess=sess, error=i18n.t(lang, "password_wrong"))
    except users.UserError as exc:
        return page(request, "account.html", 422, sess=sess,
                     error=i18n.t(lang, "password_not_changed", reason=i18n.error_text(lang, exc)))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


class SecurityHeaders:
    """CSP (frame-ancestors 'none'), X-Frame-Options, nosniff, referrer and no-store on every response
    (a plain ASGI middleware: large ingest bodies and answers pass through unbuffered)."""

    EXTRA = ((b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
             (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"))

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [*self.EXTRA, (b"cache-control", b"max-age=3600" if static else b"no-store")]
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
