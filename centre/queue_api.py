"""The queue's interface: what a kiosk, the staff server and the province sync may call.

`QueueAPI` is a `typing.Protocol` that two classes implement with the same behaviour:

* `centre.queue.Queue`: the centre's SQLite database (the staff server, the local kiosk, the CLI);
* `staff.client.RemoteQueue`: a second kiosk on the LAN, through the staff server's JSON API.

A kiosk codes against `QueueAPI` only, so it never knows which one it holds. Two records make
a kiosk's home screen one call (`summary()`):

* `Forecast`: how long a ticket (a new one, or one already issued) will wait. `minutes` is the
  one rounded figure every screen, printer, status page and robot shows, through
  `centre.tickets.wait_text(forecast, lang)`; `low`..`high` is the honest range around it.
* `ServiceState`: a service as a kiosk's home shows it: open/closed/paused/no_counter, the next
  opening time, how many wait and the forecast for a ticket taken now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from centre.queue import CounterInfo, Event, ServiceInfo, Ticket, TicketStatus

#: What a service's state means to a citizen at the kiosk.
SERVICE_STATES = ("open", "closed", "paused", "no_counter")
#: The range shown around an estimate: low = minutes × LOW, high = minutes × HIGH (at least +2).
RANGE_LOW = 0.7
RANGE_HIGH = 1.5


@dataclass(frozen=True)
class Forecast:
    """A wait estimate: people ahead, open counters, and minutes (rounded once, here).

    `minutes` is 0 when the ticket is called (or about to be): wait_text says "soon" then.
    """

    series: str
    ahead: int
    open_counters: int
    minutes: int
    low: int
    high: int

    @classmethod
    def from_estimate(cls, series: str, ahead: int, open_counters: int, wait_min: float) -> Forecast:
        """Round an estimate in minutes (a float) into the one figure everyone shows, with its range."""
        wait = max(0.0, float(wait_min)) if math.isfinite(wait_min) else 0.0
        minutes = 0 if wait < 1 else int(math.ceil(wait))
        low = int(math.floor(minutes * RANGE_LOW))
        high = 0 if minutes == 0 else max(minutes + 2, int(math.ceil(minutes * RANGE_HIGH)))
        return cls(series=series, ahead=int(ahead), open_counters=int(open_counters), minutes=minutes,
                   low=low, high=high)

    def to_dict(self) -> dict[str, Any]:
        return {"series": self.series, "ahead": self.ahead, "open_counters": self.open_counters,
                "minutes": self.minutes, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Forecast:
        return cls(series=str(d["series"]), ahead=int(d["ahead"]), open_counters=int(d["open_counters"]),
                   minutes=int(d["minutes"]), low=int(d["low"]), high=int(d["high"]))


@dataclass(frozen=True)
class ServiceState:
    """One service on a kiosk's home: names, state, next opening, waiting count, forecast of a new ticket.

    state: "open" (tickets issued and a counter is calling), "paused" (in hours but no counter is
    open right now; tickets are still issued), "closed" (outside opening hours or closed by an
    administrator; `opens_at` is the next opening, None when unknown), "no_counter" (no counter
    serves it: no ticket can be issued).
    """

    series: str
    name_vi: str
    name_en: str
    state: str
    opens_at: datetime | None
    waiting: int
    forecast: Forecast

    def name(self, lang: str = "vi") -> str:
        return self.name_en if lang == "en" else self.name_vi

    @property
    def can_issue(self) -> bool:
        """Whether the kiosk may offer a ticket now (open or paused)."""
        return self.state in ("open", "paused")

    def to_dict(self) -> dict[str, Any]:
        return {"series": self.series, "name_vi": self.name_vi, "name_en": self.name_en, "state": self.state,
                "opens_at": self.opens_at.isoformat() if self.opens_at else None, "waiting": self.waiting,
                "forecast": self.forecast.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServiceState:
        opens = d.get("opens_at")
        return cls(series=str(d["series"]), name_vi=str(d["name_vi"]), name_en=str(d["name_en"]),
                   state=str(d["state"]), opens_at=datetime.fromisoformat(opens) if opens else None,
                   waiting=int(d["waiting"]), forecast=Forecast.from_dict(d["forecast"]))


@runtime_checkable
class QueueAPI(Protocol):
    """The queue as kiosks (local or remote), the staff server and the province see it.

    Errors are `centre.queue`'s exception classes on both implementations (ServiceClosed with
    `opens_at`, UnknownService, SeriesFull, InvalidTransition, CurrentNotStarted…); a remote
    server that cannot be reached raises QueueStorageError, like a locked database.
    """

    # services and counters
    def services(self) -> list[ServiceInfo]: ...
    def service(self, series: str) -> ServiceInfo: ...
    def counters(self) -> list[CounterInfo]: ...
    def counter(self, counter_id: int) -> CounterInfo: ...
    def counters_for(self, series: str) -> list[CounterInfo]: ...
    def is_open(self, series: str, when: datetime | None = None) -> tuple[bool, datetime | None]: ...
    def summary(self, when: datetime | None = None) -> list[ServiceState]: ...
    def forecast(self, series: str, *, priority: str | None = None, ticket=None) -> Forecast: ...
    def waiting_counts(self, day: str | None = None) -> dict[str, int]: ...
    def mean_service_min(self, series: str) -> float: ...
    def priority_groups(self) -> list[dict]: ...
    def local(self, when: datetime | None = None) -> datetime: ...

    # tickets
    def issue(self, series: str, *, priority: str | None = None, procedure_key: str | None = None,
              source: str = "kiosk", lang: str = "vi", actor: str | None = None, ignore_hours: bool = False,
              idempotency_key: str | None = None) -> Ticket: ...
    def get(self, ref) -> Ticket: ...
    def resolve(self, ref) -> Ticket: ...
    def by_token(self, token: str) -> Ticket: ...
    def list(self, state: str | None = None, series: str | None = None, day=None, counter: int | None = None,
             limit: int | None = None) -> list[Ticket]: ...
    def position(self, ref) -> int: ...
    def history(self, ref) -> list[Event]: ...
    def status(self, ref) -> TicketStatus: ...
    def current_ticket(self, counter_id: int) -> Ticket | None: ...

    # the lifecycle (every change names its actor)
    def call_next(self, counter_id: int, *, actor: str, current: str = "ask",
                  current_code: str | None = None) -> Ticket | None: ...
    def call(self, ref, counter_id: int, *, actor: str, current: str = "ask",
             current_code: str | None = None) -> Ticket: ...
    def recall(self, ref, *, actor: str) -> Ticket: ...
    def start(self, ref, *, actor: str) -> Ticket: ...
    def serve(self, ref, *, actor: str) -> Ticket: ...
    def no_show(self, ref, *, actor: str) -> Ticket: ...
    def cancel(self, ref, *, actor: str) -> Ticket: ...
    def transfer(self, ref, *, service: str | None = None, counter: int | None = None, actor: str) -> Ticket: ...
    def set_counter_state(self, counter_id: int, state: str, *, actor: str) -> CounterInfo: ...
