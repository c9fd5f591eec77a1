"""`RemoteQueue`: the queue of another PC's staff server; it implements `centre.queue_api.QueueAPI`
like the local `Queue` (tests run the same scenarios on both).

A kiosk whose config sets `centre.url` (and `centre.token`) issues tickets through the staff
server's JSON API instead of opening a database file; the kiosk code does not change:

    queue = open_queue(cfg)            # Queue (local SQLite) or RemoteQueue (centre.url)
    t = queue.issue("A", priority="elderly", lang="vi")
    st = queue.status(t)               # .ahead, .wait_min, .counters, .forecast
    home = queue.summary()             # one HTTP call: every service's state, waiting and forecast

Every change sends the caller's `actor`; the server records it after the token's own name
("kiosk:hall/staff-pin"). `issue` sends an idempotency key (made here when the caller gives
none) and retries a request whose answer was lost, so a crash or a dropped connection never
leaves an orphan ticket and never makes the citizen take another.

Errors are the queue's own exception classes (ServiceClosed with `opens_at`, UnknownService,
SeriesFull, ...); a server that cannot be reached raises `QueueStorageError`, so the kiosk
shows the same "try again" message as for a locked database. So does a server whose answer
this kiosk cannot use: not JSON, the wrong shape, over `MAX_ANSWER` bytes, or still arriving
after `deadline_s` (a broken or hostile server cannot crash the kiosk, fill its memory or hold
its worker for ever).
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from datetime import datetime
from typing import Any

import httpx

from centre import queue as q
from centre.config import Config, OpeningHours
from centre.queue_api import Forecast, ServiceState

_ERRORS = {cls.__name__: cls for cls in (
    q.UnknownService, q.UnknownCounter, q.UnknownTicket, q.UnknownPriority, q.InvalidInput, q.CounterClosed,
    q.CounterBusy, q.InvalidTransition, q.SeriesFull, q.QueueStorageError)}
MAX_ANSWER = 4 * 1024 * 1024  # bytes: the largest answer (2,000 tickets) is a few hundred KB
_TIME_FIELDS = ("issued_at", "queued_at", "first_called_at", "called_at", "serving_at", "finished_at")


def open_queue(cfg: Config, clock=None):
    """The kiosk's queue: `RemoteQueue` when `centre.url` is set, else the local database's `Queue`."""
    if cfg.centre.url:
        return RemoteQueue(cfg.centre.url, cfg.centre.token, cfg=cfg)
    return q.Queue.open(cfg, clock)


def ticket_from_dict(d: dict[str, Any], token: str = "") -> q.Ticket:
    """A Ticket from the API (read APIs leave the status token out: `token` fills it when known)."""
    fields = {k: v for k, v in d.items() if k in q.Ticket.__dataclass_fields__}
    fields.setdefault("token", token)
    for k in _TIME_FIELDS:
        if fields.get(k):
            fields[k] = datetime.fromisoformat(fields[k])
    return q.Ticket(**fields)


def service_from_dict(d: dict[str, Any]) -> q.ServiceInfo:
    return q.ServiceInfo(series=d["series"], name_vi=d["name_vi"], name_en=d["name_en"], fields=tuple(d["fields"]),
                         procedures=tuple(d["procedures"]), target_wait_min=d["target_wait_min"],
                         default_service_min=d["default_service_min"],
                         opening_hours=OpeningHours.model_validate(d["opening_hours"]), closed=d["closed"])


def counter_from_dict(d: dict[str, Any]) -> q.CounterInfo:
    return q.CounterInfo(id=d["id"], name_vi=d["name_vi"], name_en=d["name_en"], services=tuple(d["services"]),
                         waypoint=d["waypoint"], x=d.get("x"), y=d.get("y"), state=d["state"])


def fetch(http: httpx.Client, deadline_s: float, method: str, path: str, **kw) -> tuple[int, bytes]:
    """(status, body) of one request: at most MAX_ANSWER bytes, all within `deadline_s`
    (QueueStorageError otherwise, or when the server cannot be reached)."""
    deadline = time.monotonic() + deadline_s
    try:
        with http.stream(method, path, **kw) as r:
            chunks, size = [], 0
            for chunk in r.iter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER or time.monotonic() > deadline:
                    raise q.QueueStorageError(f"the centre server {http.base_url} sent too much or too slowly")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise q.QueueStorageError(f"cannot reach the centre server {http.base_url}: {exc}") from exc
    return r.status_code, b"".join(chunks)


def dossier_lookup(cfg: Config, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None):
    """`lookup(code) -> dict | None`: a remote kiosk's dossier lookup through the staff server.

    The server answers `Dossiers.lookup_public` (masked, exact code); None when no dossier has the
    code; `QueueStorageError` when the server cannot be reached or refuses the kiosk's token."""
    from urllib.parse import quote

    url = str(cfg.centre.url).rstrip("/")
    headers = {"Accept": "application/json"}
    if cfg.centre.token:
        headers["Authorization"] = f"Bearer {cfg.centre.token}"

    def lookup(code: str) -> dict | None:
        with httpx.Client(base_url=url, headers=headers, timeout=timeout, transport=transport) as http:
            status, raw = fetch(http, 3 * timeout, "GET", f"/api/dossiers/public/{quote(str(code).strip(), safe='')}")
        if status == 404:
            return None
        if status in (401, 403):
            raise q.QueueStorageError("the centre server refused this kiosk; check centre.token")
        if status >= 400:
            raise q.QueueStorageError(f"the centre server answered {status}")
        try:
            found = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise q.QueueStorageError(f"the centre server {url} did not answer JSON") from exc
        if not isinstance(found, dict):
            raise q.QueueStorageError(f"the centre server {url} sent an answer this kiosk cannot read")
        return found

    return lookup


class RemoteQueue:
    """The kiosk side of the queue over HTTP (issue, status, estimates, services, counters)."""

    def __init__(self, url: str, token: str | None, *, cfg: Config | None = None, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None, retries: int = 3, retry_delay_s: float = 0.5):
        self.url = url.rstrip("/")
        self.cfg = cfg
        self.deadline_s = 3 * timeout  # a whole answer, however slowly it trickles in
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self._asked: dict[int, str | None] = {}  # counter → the ticket code CurrentNotStarted last named
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteQueue:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kw) -> Any:
        status, raw = fetch(self._http, self.deadline_s, method, path, **kw)
        try:
            body = json.loads(raw)
        except ValueError as exc:  # not JSON, or bad UTF-8 (UnicodeDecodeError)
            if status < 400:
                raise q.QueueStorageError(f"the centre server {self.url} did not answer JSON") from exc
            body = {}
        except RecursionError as exc:
            raise q.QueueStorageError(f"the centre server {self.url} did not answer usable JSON") from exc
        if status < 400:
            return body
        if not isinstance(body, dict):
            body = {}
        name, message = body.get("error", ""), str(body.get("message") or f"HTTP {status}")[:300]
        if name == "ServiceClosed":
            opens = body.get("opens_at")
            raise q.ServiceClosed((kw.get("json") or {}).get("service", "?"),
                                  datetime.fromisoformat(opens) if opens else None, message)
        if name == "CurrentNotStarted":
            raise q.CurrentNotStarted(body.get("counter") or 0, body.get("code", ""), body.get("recalls", 0), message)
        if name in _ERRORS:
            raise _ERRORS[name](message)
        if status in (401, 403):
            raise q.QueueStorageError(f"the centre server refused this kiosk ({message}); check centre.token")
        if status == 422:
            raise q.InvalidInput(message)
        raise q.QueueStorageError(f"the centre server answered {status}: {message}")

    @staticmethod
    def _ref(ref) -> str:
        if isinstance(ref, q.Ticket):
            return str(ref.id)
        return str(ref)

    # -- services and counters -----------------------------------------------------------------
    def services(self) -> list[q.ServiceInfo]:
        return [service_from_dict(d) for d in self._call("GET", "/api/services")]

    def service(self, series: str) -> q.ServiceInfo:
        for s in self.services():
            if s.series == series:
                return s
        raise q.UnknownService(f"there is no service {series!r}")

    def is_open(self, series: str, when=None) -> tuple[bool, datetime | None]:
        """(open now?, next opening) as the server sees it now (`when` is not sent: the server's clock rules)."""
        for d in self._call("GET", "/api/services"):
            if d["series"] == series:
                return d["open_now"], datetime.fromisoformat(d["opens_at"]) if d["opens_at"] else None
        raise q.UnknownService(f"there is no service {series!r}")

    def summary(self, when=None) -> list[ServiceState]:
        """Every service's state, waiting count and forecast in ONE request (a kiosk home's refresh)."""
        return [ServiceState.from_dict(d) for d in self._call("GET", "/api/summary")]

    def forecast(self, series: str | None = None, *, priority: str | None = None, ticket=None) -> Forecast:
        if ticket is not None:
            return self.status(ticket).forecast
        params = {"service": series, "priority": "true" if priority else "false"}
        return Forecast.from_dict(self._call("GET", "/api/forecast", params=params))

    def counters(self) -> list[q.CounterInfo]:
        return [counter_from_dict(d) for d in self._call("GET", "/api/counters")]

    def counter(self, counter_id: int) -> q.CounterInfo:
        for c in self.counters():
            if c.id == counter_id:
                return c
        raise q.UnknownCounter(f"there is no counter {counter_id!r}")

    def counters_for(self, series: str) -> list[q.CounterInfo]:
        return [c for c in self.counters() if series in c.services]

    def waiting_counts(self, day: str | None = None) -> dict[str, int]:
        return self._call("GET", "/api/waiting-counts")

    def mean_service_min(self, series: str) -> float:
        """The server's recent mean service time of a service (what its wait estimates use)."""
        for d in self._call("GET", "/api/services"):
            if d["series"] == series:
                return float(d.get("mean_service_min") or d["default_service_min"])
        raise q.UnknownService(f"there is no service {series!r}")

    def set_counter_state(self, counter_id: int, state: str, *, actor: str | None = None) -> q.CounterInfo:
        """Open, pause or close a counter (the server refuses a kiosk token: officers and admins only)."""
        return counter_from_dict(self._call("PUT", f"/api/counters/{int(counter_id)}/state", json={"state": state}))

    # -- tickets ---------------------------------------------------------------------------------
    def issue(self, series: str, *, priority: str | None = None, procedure_key: str | None = None,
              source: str = "kiosk", lang: str = "vi", actor: str | None = None,
              ignore_hours: bool = False, idempotency_key: str | None = None) -> q.Ticket:
        """Issue a ticket on the server; a lost answer is retried with the same idempotency key,
        so the server issues one ticket however many times the request is sent."""
        body = {"service": series, "priority": priority, "procedure_key": procedure_key, "lang": lang,
                "source": source if source in ("kiosk", "staff", "api") else "api", "actor": actor,
                "ignore_hours": bool(ignore_hours), "idempotency_key": idempotency_key or uuid.uuid4().hex}
        for attempt in range(self.retries + 1):
            try:
                d = self._call("POST", "/api/tickets", json=body)
                return ticket_from_dict(d["ticket"])
            except q.QueueStorageError:
                if attempt >= self.retries:
                    raise
                time.sleep(self.retry_delay_s * (attempt + 1))
        raise AssertionError("unreachable")

    def get(self, ref) -> q.Ticket:
        return self.status(ref).ticket

    def resolve(self, ref) -> q.Ticket:
        return self.get(ref)

    def by_token(self, token: str) -> q.Ticket:
        """The ticket of a status token (never by id or code)."""
        if not isinstance(token, str) or not token or token.isdigit() or q._CODE_RE.match(token):
            raise q.UnknownTicket("there is no such ticket")
        return self.get(token)

    def status(self, ref) -> q.TicketStatus:
        d = self._call("GET", f"/api/tickets/{self._ref(ref)}")
        known = ref.token if isinstance(ref, q.Ticket) else ""
        counters = tuple(q.CounterInfo(id=c["id"], name_vi=c["name_vi"], name_en=c["name_en"], services=(),
                                       waypoint="", x=None, y=None, state=c["state"]) for c in d["counters"])
        fc = Forecast.from_dict(d["forecast"]) if d.get("forecast") else None
        return q.TicketStatus(ticket=ticket_from_dict(d["ticket"], known), ahead=d["ahead"], wait_min=d["wait_min"],
                              counters=counters, forecast=fc)

    def position(self, ref) -> int:
        return self.status(ref).ahead

    def estimate_wait_min(self, ref) -> float:
        return self.status(ref).wait_min

    def list(self, state: str | None = None, series: str | None = None, day=None, counter: int | None = None,
             limit: int | None = None) -> list[q.Ticket]:
        """Today's tickets (officer or admin tokens; `day` other than today is not served remotely)."""
        params = {k: v for k, v in (("state", state), ("service", series), ("counter", counter),
                                    ("limit", limit)) if v is not None}
        return [ticket_from_dict(d) for d in self._call("GET", "/api/tickets", params=params)]

    def history(self, ref) -> list[q.Event]:
        out = []
        for d in self._call("GET", f"/api/tickets/{self._ref(ref)}/history"):
            d = dict(d)
            d["at"] = datetime.fromisoformat(d["at"])
            out.append(q.Event(**d))
        return out

    def current_ticket(self, counter_id: int) -> q.Ticket | None:
        d = self._call("GET", f"/api/counters/{int(counter_id)}/queue")
        return ticket_from_dict(d["current"]) if d.get("current") else None

    # -- the lifecycle (officer or admin tokens) ----------------------------------------------------
    def _ticket(self, method: str, path: str, **kw) -> q.Ticket | None:
        d = self._call(method, path, **kw)
        return ticket_from_dict(d["ticket"]) if d.get("ticket") else None

    def call_next(self, counter_id: int, *, actor: str, current: str = "ask",
                  current_code: str | None = None) -> q.Ticket | None:
        return self._answered(counter_id, current, current_code, lambda code: self._ticket(
            "POST", f"/api/counters/{int(counter_id)}/call-next",
            json={"actor": actor, "current": current, "current_code": code}))

    def call(self, ref, counter_id: int, *, actor: str, current: str = "ask",
             current_code: str | None = None) -> q.Ticket:
        return self._answered(counter_id, current, current_code, lambda code: self._ticket(
            "POST", f"/api/tickets/{self._ref(ref)}/call", params={"counter": int(counter_id)},
            json={"actor": actor, "current": current, "current_code": code}))

    def _answered(self, counter_id: int, current: str, current_code: str | None, send):
        """Send a call with the officer's answer naming its ticket, as the console does
        (docs/queue.md, `current_code`): an answer (`current` "no_show"/"serve") given without a
        code is about the ticket the server last asked this client about at that counter
        (`CurrentNotStarted.code`), so the same answer sent again, or another officer's, is asked
        about the ticket the first one called instead of finishing it. An answer nobody asked
        for keeps its old meaning (whatever the counter holds)."""
        if current != "ask" and current_code is None:
            current_code = self._asked.get(int(counter_id))
        try:
            t = send(current_code)
        except q.CurrentNotStarted as exc:
            self._asked[int(counter_id)] = exc.code or None
            raise
        self._asked.pop(int(counter_id), None)
        return t

    def _act(self, ref, action: str, actor: str) -> q.Ticket:
        return self._ticket("POST", f"/api/tickets/{self._ref(ref)}/{action}", json={"actor": actor})

    def recall(self, ref, *, actor: str) -> q.Ticket:
        return self._act(ref, "recall", actor)

    def start(self, ref, *, actor: str) -> q.Ticket:
        return self._act(ref, "start", actor)

    def serve(self, ref, *, actor: str) -> q.Ticket:
        return self._act(ref, "serve", actor)

    def no_show(self, ref, *, actor: str) -> q.Ticket:
        return self._act(ref, "no-show", actor)

    def cancel(self, ref, *, actor: str) -> q.Ticket:
        return self._act(ref, "cancel", actor)

    def transfer(self, ref, *, service: str | None = None, counter: int | None = None, actor: str) -> q.Ticket:
        return self._ticket("POST", f"/api/tickets/{self._ref(ref)}/transfer",
                            json={"service": service, "counter": counter, "actor": actor})

    # -- what the printed ticket needs (centre.tickets.ticket_content) ---------------------------
    def local(self, when: datetime | None = None) -> datetime:
        """A time (default now) in the centre's time zone (this kiosk's config)."""
        tz = self.cfg.centre.tz if self.cfg is not None else None
        return (when or datetime.now(tz)).astimezone(tz)

    def priority_groups(self) -> list[dict]:
        """Priority groups as this kiosk's config lists them (its priority screen shows the same)."""
        groups = self.cfg.priority_groups if self.cfg is not None else []
        return [{"key": g.key, "name_vi": g.name.vi, "name_en": g.name.en} for g in groups]


def _answer_errors(fn):
    """An answer of the wrong shape (a missing key, a string for a number, a bad date) becomes
    QueueStorageError, as an unreachable server does: the kiosk says so and carries on."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kw):
        try:
            return fn(self, *args, **kw)
        except q.QueueError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise q.QueueStorageError(f"the centre server {self.url} sent an answer this kiosk cannot read "
                                      f"({type(exc).__name__})") from exc

    return wrapper


for _name in ("services", "service", "is_open", "summary", "forecast", "counters", "counter", "counters_for",
              "waiting_counts", "mean_service_min", "set_counter_state", "issue", "get", "resolve", "by_token",
              "status", "position", "estimate_wait_min", "list", "history", "current_ticket", "call_next", "call",
              "recall", "start", "serve", "no_show", "cancel", "transfer"):
    setattr(RemoteQueue, _name, _answer_errors(getattr(RemoteQueue, _name)))
