"""The staff web application (FastAPI + Jinja2): `create_app(cfg)`.

Everything the pages do goes through the JSON API under /api (documented at /docs); pages
are thin Jinja2 templates plus a little local JavaScript (no CDN, works offline). Each worker
thread gets its own SQLite connection and `Queue` (a connection is not shared across threads).

Routers are found in `staff/routes/*.py` (each module defines `router` or a list `routers`, and optionally
`NAV = [(label_key, href, roles)]` for the menu), so another area (e.g. the dossiers
dashboard) plugs in by adding `staff/routes/<area>.py` without touching this file.
Extra routers can also be passed to `create_app(cfg, routers=[...])`.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import sqlite3
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from centre import admin as centre_admin
from centre import audit, ratings, reports, users
from centre import queue as q
from centre.clock import Clock
from centre.config import Config
from centre.db import DatabaseError, connect
from centre.dossiers import DossiersUnavailable
from robot import events as robot_events
from staff import auth, i18n
from staff.announce import Announcer
from staff.events import Broker, StreamLimits, TooManySessionStreams, TooManyStreams
from staff.httpguard import BodyLimit, NotStrictJson, strict_json
from staff.robot import RobotFeed

log = logging.getLogger("staff")
HERE = Path(__file__).resolve().parent

# Queue errors -> HTTP status (the message is plain and shown to staff).
ERROR_STATUS = {
    q.UnknownService: 404, q.UnknownCounter: 404, q.UnknownTicket: 404, q.UnknownPriority: 422,
    q.InvalidInput: 422, q.CounterClosed: 409, q.CounterBusy: 409, q.CurrentNotStarted: 409, q.ServiceClosed: 409,
    q.InvalidTransition: 409, q.SeriesFull: 409, q.QueueStorageError: 503,
    ratings.RatingError: 409, users.UnknownUser: 404, users.UserError: 422, centre_admin.AdminError: 422, reports.ReportRangeError: 422,
    TooManyStreams: 503, TooManySessionStreams: 429, DossiersUnavailable: 503,
}


class Staff:
    """What the handlers share: config, clock, per-thread connections and queues, broker, speech."""

    def __init__(self, cfg: Config, *, clock: Clock | None = None, db_path=None, announcer: Announcer | None = None):
        self.cfg = cfg
        self.clock = clock
        self.db_path = Path(db_path) if db_path else cfg.database_path
        self._local = threading.local()
        self._all: list = []
        self._all_lock = threading.Lock()
        st = cfg.staff
        self.broker = Broker(self.db_path, StreamLimits(staff=st.streams_staff, public=st.streams_public,
                                                        per_client=st.streams_per_client,
                                                        per_token=st.streams_per_ticket))
        self.announcer = announcer or Announcer(cfg)
        self.robot_events_path = robot_events.default_path(cfg)  # written by the kiosk process (robot/events.py)
        self.robot_feed = self.broker.robot_feed = RobotFeed(self.robot_events_path)
        conn = self.conn()
        users.ensure_schema(conn)
        audit.ensure_schema(conn)
        centre_admin.ensure_schema(conn)
        self.queue()  # creates the queue tables
        ratings.ensure_schema(conn)

    def conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = connect(self.db_path)
            with self._all_lock:
                self._close_orphans()
                self._all.append((threading.current_thread(), c))
        return c

    def _close_orphans(self) -> None:
        """Close the connections of worker threads that have ended.

        The server's thread pool retires idle threads and starts new ones, each opening its own
        connection (three file descriptors in WAL mode); keeping the old ones open leaked
        descriptors until select() failed past 1,024 (the robot link's serial port among them).
        """
        alive = []
        for thread, c in self._all:
            if thread.is_alive():
                alive.append((thread, c))
            else:
                try:
                    c.close()
                except Exception:  # noqa: BLE001 - an already broken connection is dropped all the same
                    pass
        self._all[:] = alive

    def queue(self) -> q.Queue:
        qu = getattr(self._local, "queue", None)
        if qu is None:
            qu = self._local.queue = q.Queue(self.conn(), self.cfg, self.clock)
        return qu

    def now(self) -> float:
        return (self.clock.now() if self.clock else q.SystemClock().now()).timestamp()

    def close(self) -> None:
        with self._all_lock:
            for _thread, c in self._all:
                try:
                    c.close()
                except Exception:  # closing from another thread may fail; the process ends anyway
                    pass
            self._all.clear()


def lang_of(request: Request) -> str:
    """Page language: ?lang=, then the 'lang' cookie, then Vietnamese."""
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "vi"
    return lang if lang in i18n.LANGS else "vi"


def _discover_routers() -> list:
    import staff.routes

    out = []
    for info in sorted(pkgutil.iter_modules(staff.routes.__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"staff.routes.{info.name}")
        if hasattr(mod, "router") or hasattr(mod, "routers"):
            out.append(mod)
    return out


def create_app(cfg: Config, *, clock: Clock | None = None, db_path=None, announcer: Announcer | None = None,
               routers: list | None = None) -> FastAPI:
    """Build the staff application for a centre (database `db_path` or cfg.database_path)."""
    staff = Staff(cfg, clock=clock, db_path=db_path, announcer=announcer)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await staff.broker.stop()
        staff.close()

    app = FastAPI(
        title="Staff server — " + cfg.centre.name.en,
        description="Counter console, hall display, ticket status, administration, reports and the queue API. "
                    "Browsers authenticate with the session cookie (and send X-CSRF-Token on writes); "
                    "API clients such as remote kiosks send `Authorization: Bearer <token>`.",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: the default page loads Swagger UI from a CDN
        redoc_url=None,
    )
    app.state.staff = staff
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    # |tojson keeps Vietnamese readable ("Hộ tịch", not "H\u1ed9 t\u1ecbch"); <, >, & and ' stay escaped
    templates.env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    app.state.templates = templates
    _mount_api_docs(app)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    modules = _discover_routers()
    nav = []
    for mod in modules:
        for r in getattr(mod, "routers", None) or [mod.router]:
            strict_json_routes(r)
            app.include_router(r)
        nav.extend(getattr(mod, "NAV", []))
    for r in routers or []:
        strict_json_routes(r)
        app.include_router(r)
    app.state.nav = nav

    _install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(StaffBodyLimit, max_bytes=int(cfg.staff.max_body_mb * 1024 * 1024))  # outermost: before auth
    return app


def _wants_html(request: Request) -> bool:
    """Whether to answer with a page (a browser asking for one outside /api/) rather than JSON."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


#: SQLite errors of the storage, not of the program: locked or busy, disk full, read-only, I/O,
#: cannot open, damaged. Others (a constraint, a wrong statement) stay a 500: they are bugs.
STORAGE_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR",
                  "SQLITE_CANTOPEN", "SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_PROTOCOL")


async def _storage_unavailable(request: Request, exc: Exception):
    """503 for a database that cannot be used now (locked by another program, full, read-only)."""
    if isinstance(exc, sqlite3.Error) and not str(getattr(exc, "sqlite_errorname", "")).startswith(STORAGE_ERRORS):
        raise exc
    # The database is locked by another program, full, read-only or unreadable: the write was
    # rolled back (nothing half-saved), and the caller may try again. Was a bare 500.
    log.error("database unavailable: %s %s: %s", request.method, request.url.path, exc)
    headers = {"Retry-After": str(STORAGE_RETRY_S)}
    if _wants_html(request):
        try:
            page = render(request, "message.html", {"title": i18n.t(lang_of(request), "storage_unavailable")},
                          status=503)
            page.headers.update(headers)
            return page
        except (sqlite3.Error, DatabaseError):
            pass  # the page needs the database too (who is logged in): the plain answer below
    reason = str(exc) if isinstance(exc, sqlite3.Error) else "it cannot be opened"  # (no file paths)
    return JSONResponse({"error": "StorageUnavailable", "message": f"the centre's database cannot be used now "
                         f"({reason}); nothing was saved, try again",
                         "text": i18n.t(lang_of(request), "storage_unavailable")},
                        status_code=503, headers=headers)


#: Starlette's own refusals answered in the server's error shape: status → (error, message, text key)
ROUTING_ERRORS = {404: ("NotFound", "nothing is served at this path", "not_found"),
                  405: ("MethodNotAllowed", "this path does not take this method", "method_not_allowed")}


async def _http_error(request: Request, exc: StarletteHTTPException):
    """An unknown path (404) or method (405) in the server's error shape `{"error", "message",
    "text"}` (it was FastAPI's `{"detail": "Not Found"}`), or a page for a browser; 405 keeps its
    Allow header. Other HTTP errors (FastAPI's 400 for an unreadable body) stay FastAPI's."""
    if exc.status_code not in ROUTING_ERRORS:
        return await http_exception_handler(request, exc)
    name, message, key = ROUTING_ERRORS[exc.status_code]
    lang = lang_of(request)
    if _wants_html(request):
        try:
            page = render(request, "message.html", {"title": i18n.t(lang, key)}, status=exc.status_code)
            page.headers.update(exc.headers or {})
            return page
        except (sqlite3.Error, DatabaseError):
            pass  # the page needs the database (who is logged in): the JSON answer below
    return JSONResponse({"error": name, "message": message, "text": i18n.t(lang, key)}, status_code=exc.status_code,
                        headers=exc.headers)


def _install_error_handlers(app: FastAPI) -> None:
    """Translate auth, CSRF, queue and validation errors into pages (browsers) or JSON (the API)."""

    @app.exception_handler(auth.AuthRequired)
    async def _auth_required(request: Request, exc):
        if _wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return JSONResponse({"error": "AuthRequired", "message": "log in first"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(auth.Forbidden)
    async def _forbidden(request: Request, exc):
        if _wants_html(request):
            return render(request, "message.html", {"title": i18n.t(lang_of(request), "forbidden")}, status=403)
        return JSONResponse({"error": "Forbidden", "message": str(exc) or "not allowed"}, status_code=403)

    @app.exception_handler(auth.CsrfFailed)
    async def _csrf(request: Request, exc):
        log.warning("CSRF check failed: %s %s from %s", request.method, request.url.path,
                    request.client.host if request.client else "?")
        if _wants_html(request):
            return render(request, "message.html", {"title": i18n.t(lang_of(request), "csrf_failed")}, status=403)
        return JSONResponse({"error": "CsrfFailed", "message": str(exc)}, status_code=403)

    for exc_type, status in ERROR_STATUS.items():
        def handler(request: Request, exc, status=status):
            # `message`: the core's own words (the queue protocol; programs read it); `text`: the
            # same in the page's language, what the staff pages show
            body = {"error": type(exc).__name__, "message": str(exc), "text": i18n.error_text(lang_of(request), exc)}
            if isinstance(exc, q.ServiceClosed):
                body["opens_at"] = exc.opens_at.isoformat() if exc.opens_at else None
            if isinstance(exc, q.CurrentNotStarted):
                body.update(code=exc.code, recalls=exc.recalls, counter=exc.counter_id)
            headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyStreams) else None
            return JSONResponse(body, status_code=status, headers=headers)
        app.add_exception_handler(exc_type, handler)

    app.add_exception_handler(sqlite3.DatabaseError, _storage_unavailable)
    app.add_exception_handler(DatabaseError, _storage_unavailable)

    app.add_exception_handler(StarletteHTTPException, _http_error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        body = invalid_request(exc.errors(), lang_of(request))
        if _wants_html(request):
            return render(request, "message.html", {"title": body["text"]}, status=422)
        return JSONResponse(body, status_code=422)


#: A location part shown back as it is: a field name of our own models (or a list index); any
#: other part (a key the sender chose) is shown as "…".
_SAFE_LOC = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")
#: Error types whose message our own validators write (and might quote the input in).
_OWN_MESSAGES = ("value_error", "assertion_error")


def invalid_request(errors, lang: str) -> dict:
    """A request that does not validate, in the server's error format: `{"error": "InvalidRequest",
    "message", "text", "fields"}` (`message` for programs, `text` in the page's language, `fields`
    the dotted places). Nothing the sender wrote comes back: keys they chose become "…", a validator
    message that quotes the input loses the quote (Infinity or NaN cannot be written as JSON either)."""
    fields, problems = [], []
    for e in errors:
        parts = [str(p) if isinstance(p, int) or _SAFE_LOC.fullmatch(str(p)) else "\u2026" for p in e.get("loc", ())]
        where = ".".join(parts) or "body"
        msg = str(e.get("msg", ""))
        if e.get("type") in _OWN_MESSAGES:
            for text in sorted(_strings(e.get("input")), key=len, reverse=True):
                msg = msg.replace(repr(text), "\u2026")  # how our validators quote: f"{value!r} is not …"
                if len(text) >= 4:  # (a short value would take common words out of the message)
                    msg = msg.replace(text, "\u2026")
        fields.append(where)
        problems.append(f"{where}: {msg[:200]}")
    fields = list(dict.fromkeys(fields))
    shown = ", ".join(f.removeprefix("body.").removeprefix("query.").removeprefix("path.") for f in fields[:5])
    return {"error": "InvalidRequest", "message": "; ".join(problems)[:1000],
            "text": i18n.t(lang, "err_InvalidRequest", fields=shown), "fields": fields}


def _strings(value, depth: int = 0):
    """The strings in a request value (keys too), for `invalid_request` to keep out of its answer."""
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, dict) and depth < 4:
        for k, v in list(value.items())[:100]:
            yield from _strings(k, depth + 1)
            yield from _strings(v, depth + 1)
    elif isinstance(value, (list, tuple)) and depth < 4:
        for v in value[:100]:
            yield from _strings(v, depth + 1)


#: Every page: scripts and styles from this server only, no framing anywhere (not even /t/).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
#: The OpenAPI page's Swagger UI starts with an inline script.
CSP_DOCS = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
#: Seconds a client is asked to wait after a 503 for a database that cannot be used (locked, full).
STORAGE_RETRY_S = 5
#: Paths that take a file upload (multipart) up to cfg.staff.max_body_mb; every other body: SMALL_BODY.
UPLOAD_PATHS = ("/dossiers/import", "/api/admin/catalogue/import")
SMALL_BODY = 1024 * 1024


class SecurityHeaders:
    """Adds CSP, frame, nosniff and referrer headers to every response (a plain ASGI middleware: no
    per-request task or body buffering, so SSE streams and small API answers stay fast)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp = (CSP_DOCS if scope.get("path") == "/docs" else CSP).encode()

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
                         (b"x-frame-options", b"DENY"), (b"content-security-policy", csp)]
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class StrictJsonRequest(Request):
    """A request whose JSON body is parsed once, strictly (staff.httpguard.strict_json): FastAPI's
    body parsing and any route that calls `request.json()` take that one reading."""

    async def json(self):
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """Refuses a JSON request body that is not one plain reading of JSON, before the route's
    dependencies or code (staff.httpguard.strict_json): a key given twice (`{"service": "A",
    "service": "B"}` issued a B ticket: the last wins, while a proxy or log may read the first),
    NaN or Infinity, nesting past the parser's stack, a number of thousands of digits, bytes that
    are not UTF-8. Each is a 422 in the server's error shape (error, message, text, fields), where
    the last three were a bare 400 {"detail": ...}. The body (at most SMALL_BODY: StaffBodyLimit)
    is parsed here once and FastAPI takes that reading: the round-11 middleware parsed it strictly
    and FastAPI parsed it again. A syntax error is left to FastAPI's own 422, which names its place."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            request = StrictJsonRequest(request.scope, request.receive)
            if _json_typed(request.scope):
                try:
                    await request.json()
                except NotStrictJson as exc:
                    return JSONResponse(_body_refusal(str(exc), lang_of(request)), status_code=422)
                except ClientDisconnect:  # gone before its body arrived: nobody to answer, nothing to log
                    return Response(status_code=400)
                except ValueError:
                    pass  # empty, or a syntax error: FastAPI's own answer (its 422 names the place)
            return await handler(request)

        return strict


def strict_json_routes(router) -> None:
    """Make every plain route of `router` a StrictJsonRoute (before it is included: the app builds
    each route's handler then), and the routes it adds later too. The route modules keep writing
    plain `APIRouter()`: no router of the staff server can forget the check."""
    router.route_class = StrictJsonRoute
    for route in router.routes:
        if type(route) is APIRoute:
            route.__class__ = StrictJsonRoute
        elif getattr(route, "original_router", None) is not None:  # a router it includes (/public)
            strict_json_routes(route.original_router)


def _json_typed(scope) -> bool:
    """Whether FastAPI would parse this request's body as JSON (application/json or */*+json)."""
    ctype = dict(scope.get("headers") or []).get(b"content-type")
    if not ctype:
        return False
    main = ctype.split(b";", 1)[0].strip().lower()
    return main.startswith(b"application/") and (main == b"application/json" or main.endswith(b"+json"))


def _body_refusal(problem: str, lang: str) -> dict:
    return {"error": "InvalidRequest", "message": f"body: {problem}",
            "text": i18n.t(lang, "err_InvalidRequest", fields="body"), "fields": ["body"]}


class StaffBodyLimit(BodyLimit):
    """The staff server's body limits (staff.httpguard.BodyLimit): uploads (multipart to
    UPLOAD_PATHS) may reach cfg.staff.max_body_mb; everything else 1 MB (or the configured
    maximum when that is smaller)."""

    def limit(self, scope) -> int:
        ctype = dict(scope.get("headers") or []).get(b"content-type", b"")
        if scope.get("path") in UPLOAD_PATHS and ctype.startswith(b"multipart/form-data"):
            return self.max_bytes
        return min(SMALL_BODY, self.max_bytes)


def _mount_api_docs(app: FastAPI) -> None:
    """The OpenAPI page at /docs with Swagger UI from the swagger-ui-bundle package (no internet)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static/swagger", StaticFiles(directory=str(swagger_ui_path)), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def api_docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title + " — API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")


def render(request: Request, name: str, ctx: dict | None = None, *, status: int = 200,
           lang: str | None = None) -> Response:
    """Render a page template with the common context (user, language, texts, nav, CSRF token)."""
    app = request.app
    lang = lang if lang in i18n.LANGS else lang_of(request)
    who = auth.principal(request)
    form_token = None
    if who is None:
        form_token = auth.form_csrf_token(request)
    context = {
        "request": request, "lang": lang, "t": lambda key, **kw: i18n.t(lang, key, **kw), "who": who,
        "user": who.user if who else None, "csrf": who.csrf if who else form_token,
        "cfg": app.state.staff.cfg, "nav": [n for n in app.state.nav if who and who.user.role in n[2]],
        "robot_texts": lambda: {k: v for k, v in i18n.texts(lang).items() if k.startswith("robot_")},
    }
    context.update(ctx or {})
    response = app.state.templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if form_token and request.cookies.get(auth.FORM_CSRF_COOKIE) != form_token:
        response.set_cookie(auth.FORM_CSRF_COOKIE, form_token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie("lang", lang, samesite="lax", max_age=365 * 86400)
    return response


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves (included routers expanded), for docs and tests."""
    out = []

    def visit(route, path=None):
        methods = getattr(route, "methods", None) or set()
        for m in sorted(methods - {"HEAD"}):
            out.append((m, path or route.path))

    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):
            for ctx in route.effective_route_contexts():
                visit(ctx.original_route, ctx.path)
        elif hasattr(route, "path"):
            visit(route)
    return sorted(set(out), key=lambda x: (x[1], x[0]))
