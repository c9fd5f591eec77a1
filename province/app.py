"""The provincial hub (FastAPI over PostgreSQL): ingest for centres, dashboard and reports for people.

- `POST /api/v1/ingest` (Authorization: Bearer <centre token>; body JSON, optionally gzip):
  `{"centre": id, "events": [...]}` → `{"received", "stored", "duplicates", "last_seq"}`. A token
  writes only its own centre's rows: a body naming another centre is refused (403).
- `GET /api/v1/me`: what the hub holds for the calling centre.
- `GET /` dashboard (`?period=YYYY-MM|YYYY-Qn|YYYY-MM-DD`), `GET /ward/{id}` drill-down,
  `GET /report?period=YYYY-MM[&ward=id]&format=html|csv|xlsx` monthly report, `GET /api/v1/wards`:
  for logged-in province office users only (`province.web`, `province.users`); a `ward` user sees
  only the wards bound to them.
"""

from __future__ import annotations

import logging
import queue
import threading
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from centre.text import fold
from province import auth, i18n, limits, queries, report, web
from province.db import connect, migrate
from province.ingest import BadBatch, CentreBusy, ingest
from staff.httpguard import NotStrictJson

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
MAX_BODY = limits.INGEST_BODY


#: longest wait (s) for one of the pool's connections before the request is answered 503 with
#: Retry-After: it waited 60 s and then was a 500 (every page, every ward's batch) while the four
#: connections were held
POOL_WAIT_S = 10.0
RETRY_AFTER_S = 5


class HubBusy(RuntimeError):
    """Every database connection stayed in use for the pool's whole wait."""


class Pool:
    """A few PostgreSQL connections shared by the request threads."""

    def __init__(self, dsn: str, size: int = 4, wait_s: float = POOL_WAIT_S):
        self.dsn, self.size, self.wait_s = dsn, size, wait_s
        self._q: queue.LifoQueue = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()

    @contextmanager
    def conn(self):
        try:
            c = self._q.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self._made < self.size
                self._made += make
            c = connect(self.dsn, autocommit=True) if make else self._take()
        try:
            yield c
        except psycopg.OperationalError:
            c.close()
            raise
        finally:
            if c.closed:
                with self._lock:
                    self._made -= 1
            else:
                self._q.put(c)

    def _take(self):
        try:
            return self._q.get(timeout=self.wait_s)
        except queue.Empty:
            raise HubBusy(f"all {self.size} database connections busy for {self.wait_s:g} s") from None

    def close(self) -> None:
        while not self._q.empty():
            self._q.get_nowait().close()


def _pct(v, lang: str = "vi") -> str:
    if v is None:
        return "–"
    return f"{v * 100:.1f}%" if lang == "en" else f"{v * 100:.1f} %".replace(".", ",")


def _num(v, lang: str = "vi") -> str:
    """A count or a mean as the page's language writes it: 1 234,5 (Vietnamese), 1,234.5 (English)."""
    if v is None:
        return "–"
    text = f"{v:,.1f}" if isinstance(v, float) else f"{v:,}"
    return text if lang == "en" else text.replace(",", " ").replace(".", ",")


# The dashboard's indicator columns, in order: (key, format). Cells are built here rather than
# by template macros: a 100-ward table renders in a few milliseconds.
CELLS = (("tickets", _num), ("wait_mean_min", _num), ("wait_p90_min", _num), ("service_mean_min", _num),
         ("service_p90_min", _num), ("no_show", _num), ("satisfied_share", _pct), ("rating_mean", _num),
         ("dossiers_received", _num), ("dossiers_finished", _num), ("dossiers_early", _num),
         ("dossiers_on_due", _num), ("dossiers_late", _num), ("on_time_rate", _pct), ("online_share", _pct),
         ("digitised_share", _pct))


@pass_context
def _cells(ctx, ind: dict) -> Markup:
    lang = ctx.get("lang", "vi")
    return Markup("".join(f'<td data-v="{-1 if ind[k] is None else ind[k]}">{fmt(ind[k], lang)}</td>'
                          for k, fmt in CELLS))


def _env() -> Environment:
    """The page templates; the number filters write as the page's `lang` does."""
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]))
    env.filters["pct"] = pass_context(lambda ctx, v: _pct(v, ctx.get("lang", "vi")))
    env.filters["num"] = pass_context(lambda ctx, v: _num(v, ctx.get("lang", "vi")))
    env.filters["cells"] = _cells
    return env


router = APIRouter()


def _pool(request: Request) -> Pool:
    return request.app.state.pool


def _page(request: Request, name: str, **ctx) -> HTMLResponse:
    return web.page(request, name, **ctx)


def _bad_period(request: Request, text: str) -> PlainTextResponse:
    """422 for a period that cannot be read, in the page's language (plain text: it quotes the input)."""
    return PlainTextResponse(i18n.t(i18n.lang_of(request), "bad_period", period=text), status_code=422)


def _no_such_ward(request: Request) -> HTMLResponse:
    return web.message(request, 404, "no_such_ward")


def _spark_label(request: Request) -> str:
    return i18n.texts(i18n.lang_of(request))["spark_points"]


def _period(c, text: str | None) -> queries.Period:
    return queries.parse_period(text) if text else queries.latest_period(c)


@router.get("/healthz")
def healthz(request: Request):
    with _pool(request).conn() as c:
        c.execute("SELECT 1")
    return {"ok": True}


@router.post("/api/v1/ingest")
async def ingest_route(request: Request):
    token = request.headers.get("authorization", "")
    if not token.lower().startswith("bearer "):
        return JSONResponse({"detail": "missing bearer token"}, status_code=401)
    # The token first: an unknown caller's body is never read, inflated or parsed.
    centre_id = await run_in_threadpool(_centre_of, _pool(request), token[7:].strip())
    if centre_id is None:
        return JSONResponse({"detail": "unknown token"}, status_code=401)
    # One batch of a centre at a time, refused before its body is read: a centre's agent has one
    # in flight, and a token posting many at once made the hub hold and parse each (up to 64 MB).
    busy = request.app.state.ingesting
    if centre_id in busy:
        return _busy(CentreBusy(f"a batch of centre {centre_id} is being received now; send this one again later"))
    busy.add(centre_id)
    try:
        return await _receive(request, centre_id)
    finally:
        busy.discard(centre_id)


def _hub_busy(request: Request, exc: HubBusy) -> Response:
    """503 + Retry-After (the sync agent retries it; a browser shows the sentence)."""
    log.warning("hub busy: %s (%s %s)", exc, request.method, request.url.path)
    text = "Hệ thống đang bận, xin thử lại sau ít giây. / The hub is busy, please try again in a few seconds."
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": text}, status_code=503, headers=headers)
    return PlainTextResponse(text, status_code=503, headers=headers)


def _busy(exc: CentreBusy) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})


async def _receive(request: Request, centre_id: str):
    raw = await request.body()  # at most limits.INGEST_BODY: limits.HubBodyLimit answers 413 past it
    try:
        if request.headers.get("content-encoding", "").lower() == "gzip":
            raw = limits.gunzip(raw)
        body = limits.parse_json(raw)
    except limits.TooLarge:
        return JSONResponse({"detail": "batch too large"}, status_code=413)
    except NotStrictJson as exc:  # a key twice, NaN, too deep…: refused, never read one way
        return JSONResponse({"detail": f"body is not plain JSON: {exc}"}, status_code=400)
    except ValueError:
        return JSONResponse({"detail": "body is not (gzip) JSON"}, status_code=400)
    return await run_in_threadpool(_ingest, _pool(request), centre_id, body)


def _centre_of(pool: Pool, token: str) -> str | None:
    with pool.conn() as c:
        try:
            return auth.centre_for_token(c, token)
        except auth.UnknownCentre:
            return None


def _ingest(pool: Pool, centre_id: str, body) -> JSONResponse:
    if not isinstance(body, dict) or body.get("centre") != centre_id:
        return JSONResponse({"detail": f"this token may write only centre {centre_id!r}"}, status_code=403)
    with pool.conn() as c:
        try:
            result = ingest(c, centre_id, body.get("events"))
        except BadBatch as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        except CentreBusy as exc:  # the agent retries (429 is not a refusal), with one batch in flight
            return _busy(exc)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            # A value of the wrong type or range, or a required field missing: the centre's bug, said plainly.
            return JSONResponse({"detail": f"bad value in batch: {str(exc)[:300]}"}, status_code=422)
    return JSONResponse(result.to_dict())


@router.get("/api/v1/me")
def me(request: Request):
    token = request.headers.get("authorization", "")[7:].strip()
    with _pool(request).conn() as c:
        try:
            cid = auth.centre_for_token(c, token)
        except auth.UnknownCentre:
            return JSONResponse({"detail": "unknown token"}, status_code=401)
        info = queries.centres(c)[cid]
    info["last_seen"] = info["last_seen"].isoformat() if info["last_seen"] else None
    return info


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, period: str | None = None):
    with _pool(request).conn() as c:
        sess = web.require(request, c, html=True)
        try:
            p = _period(c, period)
        except queries.BadPeriod:
            return _bad_period(request, period)  # not HTML: the text quotes the input
        data = queries.ward_table(c, p, sess.user.scope(), spark_label=_spark_label(request))
    return _page(request, "dashboard.html", **data)


@router.get("/api/v1/wards")
def wards_json(request: Request, period: str | None = None):
    with _pool(request).conn() as c:
        sess = web.require(request, c, html=False)
        try:
            p = _period(c, period)
        except queries.BadPeriod as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        data = queries.ward_table(c, p, sess.user.scope())
    return {"period": p.label, "scope": data["total_label"], "province": data["province"], "decision_766": data["decision_766"],
            "wards": [{"centre_id": r["centre_id"], "name": r["name"], **r["ind"]} for r in data["rows"]]}


@router.get("/ward/{centre_id}", response_class=HTMLResponse)
def ward(request: Request, centre_id: str, period: str | None = None):
    with _pool(request).conn() as c:
        web.require(request, c, html=True, centre_id=centre_id)
        try:
            p = _period(c, period)
        except queries.BadPeriod:
            return _bad_period(request, period)  # not HTML: the text quotes the input
        data = queries.ward_detail(c, centre_id, p, spark_label=_spark_label(request))
    if data is None:
        return _no_such_ward(request)
    return _page(request, "ward.html", **data)


def attachment(filename: str) -> str:
    """The Content-Disposition of a download named `filename`, whatever its characters (a ward id
    is whatever the province registered: `kiosk province add-centre` takes any text): an ASCII
    name ("phường-1" → "phuong-1", a quote or ';' → "_") and the exact one as UTF-8 (RFC 6266).
    A Vietnamese ward id made its report download a 500 (headers are Latin-1) and a quote ended
    the quoted name early."""
    plain = "".join(ch if ch in _PLAIN_NAME else (fold(ch)[:1] or "_") for ch in filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


#: characters kept as they are in a download's ASCII file name
_PLAIN_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@router.get("/report")
def monthly_report(request: Request, period: str | None = None, ward: str | None = None, format: str = "html"):
    with _pool(request).conn() as c:
        sess = web.require(request, c, html=format not in ("csv", "xlsx"), centre_id=ward or None)
        try:
            p = _period(c, period)
        except queries.BadPeriod:
            return _bad_period(request, period)  # not HTML: the text quotes the input
        rep = report.build(c, p, ward or None, sess.user.scope())
    if rep is None:
        return _no_such_ward(request)
    lang = i18n.lang_of(request)
    name = f"bao-cao-{ward or 'tinh'}-{p.label}"
    if format == "csv":
        return Response(report.to_csv(rep, lang), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": attachment(f"{name}.csv")})
    if format == "xlsx":
        return Response(report.to_xlsx(rep, lang),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": attachment(f"{name}.xlsx")})
    return _page(request, "report.html", rep=rep)


def create_app(dsn: str, *, migrate_db: bool = True, session_hours: float = 8, login_max_tries: int = 5,
               login_lockout_s: float = 300, pool_wait_s: float = POOL_WAIT_S) -> FastAPI:
    """The hub app over the PostgreSQL database `dsn` (migrated first unless told not to).

    Sessions last `session_hours`; a name failing `login_max_tries` logins from one address
    within `login_lockout_s` seconds is refused until the window passes."""
    if migrate_db:
        migrate(dsn)
    pool = Pool(dsn, wait_s=pool_wait_s)

    @asynccontextmanager
    async def lifespan(app):
        yield
        pool.close()

    # No OpenAPI pages: the hub's API is for centres (docs/province.md), not for browsing.
    app = FastAPI(title="Province hub", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.pool = pool
    app.state.ingesting = set()  # centres with a batch being received or stored by this process
    app.state.env = _env()
    app.state.session_hours = session_hours
    app.state.login_max_tries = login_max_tries
    app.state.login_lockout_s = login_lockout_s
    app.include_router(router)
    app.add_exception_handler(HubBusy, _hub_busy)
    web.install(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(limits.HubBodyLimit)  # outermost: an oversized body is refused before anything reads it
    return app
