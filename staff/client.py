"""`RemoteQueue`: the queue of another PC's staff server, with the local `Queue`'s kiosk methods.

A kiosk whose config sets `centre.url` (and `centre.token`) issues tickets through the staff
server's JSON API instead of opening a database file; the kiosk code does not change:

    queue = open_queue(cfg)            # Queue (local SQLite) or RemoteQueue (centre.url)
    t = queue.issue("A", priority="elderly", lang="vi")
    st = queue.status(t)               # .ahead, .wait_min, .counters

Errors are the queue's own exception classes (ServiceClosed with `opens_at`, UnknownService,
SeriesFull, ...); a server that cannot be reached raises `QueueStorageError`, so the kiosk
shows the same "try again" message as for a locked database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from centre import queue as q
from centre.config import Config, OpeningHours

_ERRORS = {cls.__name__: cls for cls in (
    q.UnknownService, q.UnknownCounter, q.UnknownTicket, q.UnknownPriority, q.InvalidInput, q.CounterClosed,
    q.CounterBusy, q.InvalidTransition, q.SeriesFull, q.QueueStorageError)}
_TIME_FIELDS = ("issued_at", "queued_at", "first_called_at", "called_at", "serving_at", "finished_at")


def open_queue(cfg: Config, clock=None):
    """The kiosk's queue: `RemoteQueue` when `centre.url` is set, else the local database's `Queue`."""
    if cfg.centre.url:
        return RemoteQueue(cfg.centre.url, cfg.centre.token, cfg=cfg)
    return q.Queue.open(cfg, clock)


def ticket_from_dict(d: dict[str, Any]) -> q.Ticket:
    fields = {k: v for k, v in d.items() if k in q.Ticket.__dataclass_fields__}
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
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=timeout, transport=transport) as http:
                r = http.get(f"/api/dossiers/public/{quote(str(code).strip(), safe='')}")
        except httpx.HTTPError as exc:
            raise q.QueueStorageError(f"cannot reach the centre server {url}: {exc}") from exc
        if r.status_code == 404:
            return None
        if r.status_code in (401, 403):
            raise q.QueueStorageError("the centre server refused this kiosk; check centre.token")
        if r.status_code >= 400:
            raise q.QueueStorageError(f"the centre server answered {r.status_code}")
        return r.json()

    return lookup


class RemoteQueue:
    """The kiosk side of the queue over HTTP (issue, status, estimates, services, counters)."""

    def __init__(self, url: str, token: str | None, *, cfg: Config | None = None, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        self.cfg = cfg
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
        try:
            r = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise q.QueueStorageError(f"cannot reach the centre server {self.url}: {exc}") from exc
        if r.status_code < 400:
            return r.json()
        try:
            body = r.json()
        except ValueError:
            body = {}
        name, message = body.get("error", ""), body.get("message") or f"HTTP {r.status_code}"
        if name == "ServiceClosed":
            opens = body.get("opens_at")
            raise q.ServiceClosed(kw.get("json", {}).get("service", "?"),
                                  datetime.fromisoformat(opens) if opens else None, message)
        if name in _ERRORS:
            raise _ERRORS[name](message)
        if r.status_code in (401, 403):
            raise q.QueueStorageError(f"the centre server refused this kiosk ({message}); check centre.token")
        if r.status_code == 422:
            raise q.InvalidInput(message)
        raise q.QueueStorageError(f"the centre server answered {r.status_code}: {message}")

    @staticmethod
    def _ref(ref) -> str:
        if isinstance(ref, q.Ticket):
            return str(ref.id)
        return str(ref)

    # -- the kiosk's methods -------------------------------------------------------------------
    def issue(self, series: str, *, priority: str | None = None, procedure_key: str | None = None,
              source: str = "kiosk", lang: str = "vi", actor: str | None = None,
              ignore_hours: bool = False) -> q.Ticket:
        """Issue a ticket on the server (opening hours are always checked there)."""
        body = {"service": series, "priority": priority, "procedure_key": procedure_key, "lang": lang,
                "source": source if source in ("kiosk", "staff", "api") else "api"}
        return ticket_from_dict(self._call("POST", "/api/tickets", json=body)["ticket"])

    def get(self, ref) -> q.Ticket:
        return ticket_from_dict(self._call("GET", f"/api/tickets/{self._ref(ref)}")["ticket"])

    resolve = get

    def status(self, ref) -> q.TicketStatus:
        d = self._call("GET", f"/api/tickets/{self._ref(ref)}")
        counters = tuple(q.CounterInfo(id=c["id"], name_vi=c["name_vi"], name_en=c["name_en"], services=(),
                                       waypoint="", x=None, y=None, state=c["state"]) for c in d["counters"])
        return q.TicketStatus(ticket=ticket_from_dict(d["ticket"]), ahead=d["ahead"], wait_min=d["wait_min"],
                              counters=counters)

    def position(self, ref) -> int:
        return self.status(ref).ahead

    def estimate_wait_min(self, ref) -> float:
        return self.status(ref).wait_min

    def services(self) -> list[q.ServiceInfo]:
        return [service_from_dict(d) for d in self._call("GET", "/api/services")]

    def service(self, series: str) -> q.ServiceInfo:
        for s in self.services():
            if s.series == series:
                return s
        raise q.UnknownService(f"there is no service {series!r}")

    def is_open(self, series: str, when=None) -> tuple[bool, datetime | None]:
        for d in self._call("GET", "/api/services"):
            if d["series"] == series:
                return d["open_now"], datetime.fromisoformat(d["opens_at"]) if d["opens_at"] else None
        raise q.UnknownService(f"there is no service {series!r}")

    def counters(self) -> list[q.CounterInfo]:
        return [counter_from_dict(d) for d in self._call("GET", "/api/counters")]

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

    # -- what the printed ticket needs (centre.tickets.ticket_content) ---------------------------
    def local(self, when: datetime | None = None) -> datetime:
        """A time (default now) in the centre's time zone (this kiosk's config)."""
        tz = self.cfg.centre.tz if self.cfg is not None else None
        return (when or datetime.now(tz)).astimezone(tz)

    def priority_groups(self) -> list[dict]:
        """Priority groups as this kiosk's config lists them (its priority screen shows the same)."""
        groups = self.cfg.priority_groups if self.cfg is not None else []
        return [{"key": g.key, "name_vi": g.name.vi, "name_en": g.name.en} for g in groups]
