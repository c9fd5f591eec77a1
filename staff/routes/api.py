"""The queue JSON API: issuing (remote kiosks), the counter console's actions, live events, display data.

Roles: kiosk issues tickets and reads services/estimates; officers act on the counters they
are bound to (and tickets called to or waiting for those counters); admins may do everything;
display users read the display data and events and may not change anything.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator

from centre import queue as q
from centre import ratings
from centre.text import unshowable
from staff import auth
from staff.announce import SpeechUnavailable, announcement_text
from staff.auth import Principal, client_address, require
from staff.events import SlotStreamingResponse, missed_events, stream

router = APIRouter(prefix="/api", tags=["queue"])
CounterId = Annotated[int, Path(ge=1, le=99, description="counter id")]

ANY_STAFF = require("admin", "officer", "display", "kiosk")
OFFICER = require("admin", "officer")
ISSUER = require("admin", "officer", "kiosk")
VIEWER = require("admin", "officer", "display")


def staff_of(request: Request):
    return request.app.state.staff


class IssueRequest(BaseModel):
    service: str = Field(pattern=r"^[A-Z]$", description="series letter of the service")
    priority: str | None = Field(None, max_length=32, description="priority group key, or null")
    procedure_key: str | None = Field(None, max_length=64, description="catalogue procedure chosen at the kiosk")
    lang: Literal["vi", "en"] = "vi"
    source: Literal["kiosk", "staff", "api"] = "kiosk"
    actor: str | None = Field(None, max_length=64, pattern=r"^[\x21-\x7e][\x20-\x7e]*$",
                              description="who at the client issued it (recorded after the caller's own name)")
    ignore_hours: bool = Field(False, description="issue outside opening hours (staff at a kiosk)")
    idempotency_key: str | None = Field(None, pattern=r"^[\x21-\x7e]{1,64}$",
                                        description="same key → same ticket (a retried request issues no second one)")

    @field_validator("procedure_key")
    @classmethod
    def _showable(cls, v: str | None) -> str | None:
        """A key with NUL, a newline or a bidi override was stored and went on into reports and their CSV."""
        bad = unshowable(v) if v else None
        if bad:
            raise ValueError(f"a procedure key holds a control or invisible character ({bad})")
        return v


class ActorRequest(BaseModel):
    actor: str | None = Field(None, max_length=64, pattern=r"^[\x21-\x7e][\x20-\x7e]*$",
                              description="who at the client acts (recorded after the caller's own name)")


class TransferRequest(ActorRequest):
    service: str | None = Field(None, pattern=r"^[A-Z]$")
    counter: int | None = Field(None, ge=1, le=99)


class CallRequest(ActorRequest):
    current: Literal["ask", "no_show", "serve"] = Field(
        "ask", description="what happened to the counter's called ticket that never started")
    current_code: str | None = Field(
        None, pattern=r"^[A-Z][0-9]{3,4}$",
        description="the ticket `current` is about (the code CurrentNotStarted named): if the counter now holds "
                    "another, it is asked about again, so a repeated request never finishes the ticket just called")


def actor_of(who: Principal, claimed: str | None) -> str:
    """The caller's own name, with the person at the client after it ('kiosk:hall/staff-pin')."""
    if not claimed or claimed == who.actor:
        return who.actor
    return f"{who.actor}/{claimed.strip()}"


def ticket_dict(t: q.Ticket, *, with_token: bool = False) -> dict:
    """A ticket for the JSON API: the status token only to whoever issued it or already holds it."""
    d = t.to_dict()
    if not with_token:
        d.pop("token", None)
        d.pop("status_path", None)
    return d


class CounterStateRequest(BaseModel):
    state: Literal["open", "paused", "closed"]


class RatingRequest(BaseModel):
    rating: int = Field(ge=1, le=5)


class CounterRatingRequest(RatingRequest):
    ticket: str = Field(min_length=8, max_length=300,
                        description="the citizen's ticket: its status URL (scanned from the QR code) or token")


def token_of(text: str) -> str:
    """A ticket token from a scanned status URL (…/t/<token>) or the token itself."""
    text = text.strip()
    if "/t/" in text:
        text = text.rsplit("/t/", 1)[1]
    return text.split("?", 1)[0].split("#", 1)[0].strip("/")[:64]


class Action(StrEnum):
    recall = "recall"
    start = "start"
    serve = "serve"
    no_show = "no-show"
    cancel = "cancel"


def status_dict(st: q.TicketStatus, lang: str = "vi", *, with_token: bool = False) -> dict:
    d = st.to_dict()
    d["ticket"] = ticket_dict(st.ticket, with_token=with_token)
    d["counters"] = [{"id": c.id, "name": c.name(lang), "name_vi": c.name_vi, "name_en": c.name_en,
                      "state": c.state} for c in st.counters]
    return d


def public_status(qu: q.Queue, t: q.Ticket, rating: int | None) -> dict:
    """A ticket as the public status page shows it (Queue.public_status: no personal data, no
    internal ids), with whether it may be rated now."""
    d = qu.public_status(t.token)
    for k in ("counters", "called_counter", "service_name", "issued_local", "recalls"):
        d.pop(k, None)
    d.update(can_rate=t.state == "served" and rating is None, rating=rating, now=datetime.now(UTC).isoformat())
    return d


def check_ticket_access(who: Principal, qu: q.Queue, t: q.Ticket) -> None:
    """An officer may act on tickets at, for, or waiting for services of their counters."""
    if who.user.role != "admin" and not qu.ticket_at_counters(t, who.user.counters):
        raise auth.Forbidden(f"ticket {t.code} is not at one of your counters")


# -- reading ---------------------------------------------------------------------------------


@router.get("/me", summary="The logged-in user")
def me(who: Principal = Depends(ANY_STAFF)):
    return {**who.user.to_dict(), "csrf_token": who.csrf or None}


@router.get("/services", summary="Services in effect now, with waiting counts and whether they are open")
def services(request: Request, who: Principal = Depends(ANY_STAFF)):
    qu = staff_of(request).queue()
    counts = qu.waiting_counts()
    out = []
    for s in qu.services():
        is_open, opens_at = qu.is_open(s.series)
        d = s.to_dict()
        d.update(waiting=counts.get(s.series, 0), open_now=is_open, opens_at=opens_at.isoformat() if opens_at else None,
                 mean_service_min=round(qu.mean_service_min(s.series), 2))
        out.append(d)
    return out


@router.get("/summary", summary="Every service as a kiosk's home shows it: state, next opening, waiting, forecast")
def summary(request: Request, who: Principal = Depends(ANY_STAFF)):
    return [s.to_dict() for s in staff_of(request).queue().summary()]


@router.get("/forecast", summary="The wait of a ticket taken now for a service (priority or not)")
def forecast(request: Request, service: str = Query(pattern=r"^[A-Z]$"), priority: bool = False,
             who: Principal = Depends(ANY_STAFF)):
    return staff_of(request).queue().forecast(service, priority="any" if priority else None).to_dict()


@router.get("/counters", summary="Counters in effect now (state, services, waypoint, map position)")
def counters(request: Request, who: Principal = Depends(ANY_STAFF)):
    qu = staff_of(request).queue()
    out = []
    for c in qu.counters():
        cur = qu.current_ticket(c.id)
        out.append({**c.to_dict(), "current": cur.code if cur else None})
    return out


@router.get("/waiting-counts", summary="Waiting tickets per service today")
def waiting_counts(request: Request, who: Principal = Depends(ANY_STAFF)):
    return staff_of(request).queue().waiting_counts()


@router.get("/tickets", summary="Today's tickets (optionally by state, service or counter)")
def list_tickets(request: Request, state: Literal[q.TICKET_STATES] | None = None,  # type: ignore[valid-type]
                 service: str | None = Query(None, pattern=r"^[A-Z]$"), counter: int | None = Query(None, ge=1, le=99),
                 limit: int = Query(200, ge=1, le=2000), who: Principal = Depends(OFFICER)):
    qu = staff_of(request).queue()
    return [ticket_dict(t) for t in qu.list(state=state, series=service, counter=counter, limit=limit)]


@router.get("/tickets/{ref}", summary="One ticket (id, token or today's code) with its position and estimate")
def get_ticket(ref: str, request: Request, who: Principal = Depends(ISSUER)):
    qu = staff_of(request).queue()
    t = qu.resolve(_ref(ref))
    return status_dict(qu.status(t), with_token=ref.strip() == t.token)


@router.get("/tickets/{ref}/history", summary="Every event of one ticket, oldest first")
def ticket_history(ref: str, request: Request, who: Principal = Depends(ISSUER)):
    return [e.to_dict() for e in staff_of(request).queue().history(_ref(ref))]


def _ref(ref: str):
    """A ticket reference from a path: an id (digits), a token or today's code."""
    ref = ref.strip()[:64]
    if not ref.isascii():  # ids, tokens and codes are ASCII; "³".isdigit() is True but int() fails
        raise q.UnknownTicket(f"there is no ticket {ref[:20]!r}")
    if ref.isdigit():
        if len(ref) > 12:  # more than any ticket id; also out of SQLite's integer range
            raise q.UnknownTicket(f"there is no ticket {ref[:20]}")
        return int(ref)
    return ref


# -- issuing (kiosks) -------------------------------------------------------------------------


@router.post("/tickets", status_code=201, summary="Issue a ticket (what a remote kiosk calls)")
def issue(body: IssueRequest, request: Request, who: Principal = Depends(ISSUER)):
    staff = staff_of(request)
    qu = staff.queue()
    key = body.idempotency_key or request.headers.get("idempotency-key") or None
    if key is not None:
        if len(key) > 64:
            raise q.InvalidInput("an idempotency key is 1 to 64 printable ASCII characters")
        key = f"u{who.user.id}:{key}"  # each caller's own keys: another caller's key never returns its ticket
    t = qu.issue(body.service, priority=body.priority, procedure_key=body.procedure_key, source=body.source,
                 lang=body.lang, actor=actor_of(who, body.actor), ignore_hours=body.ignore_hours,
                 idempotency_key=key)
    staff.broker.poke()
    st = qu.status(t)
    return {**status_dict(st, body.lang, with_token=True), "status_url": staff.cfg.centre.base_url + t.status_path}


# -- the counter console ------------------------------------------------------------------------


def procedure_of(staff, key: str | None, cache: dict) -> dict | None:
    """The procedure a citizen chose at the kiosk ({key, code, name, name_en}), for the console."""
    if not key:
        return None
    if key not in cache:
        from centre.catalogue import Catalogue

        p = Catalogue(staff.conn()).get(key)
        cache[key] = {"key": key, "code": p.code, "name": p.name, "name_en": p.name_en} if p else None
    return cache[key]



@router.get("/counters/{counter_id}/queue", summary="A counter's console data: state, current ticket, waiting list")
def counter_queue(counter_id: CounterId, request: Request, who: Principal = Depends(OFFICER)):
    auth.require_counter(who, counter_id)
    staff = staff_of(request)
    qu = staff.queue()
    c = qu.counter(counter_id)
    now = datetime.now(UTC) if staff.clock is None else staff.clock.now()
    waiting = [t for t in qu.list(state="waiting", limit=500)
               if (t.target_counter is None and t.service in c.services) or t.target_counter == counter_id]
    cur = qu.current_ticket(counter_id)
    last_served = qu.last_served(counter_id)
    procs: dict = {}
    return {
        "counter": c.to_dict(),
        "current": {**ticket_dict(cur), "procedure": procedure_of(staff, cur.procedure_key, procs)} if cur else None,
        "last_served": ({**ticket_dict(last_served), "rating": ratings.get_rating(staff.conn(), last_served.id)}
                        if last_served else None),
        "waiting": [{"id": t.id, "code": t.code, "service": t.service, "priority": t.priority,
                     "waited_min": round((now - t.queued_at).total_seconds() / 60, 1),
                     "transferred": t.transfers > 0, "to_me": t.target_counter == counter_id,
                     "procedure": procedure_of(staff, t.procedure_key, procs)} for t in waiting],
        "services": [{"series": s.series, "name_vi": s.name_vi, "name_en": s.name_en,
                      "target_wait_min": s.target_wait_min} for s in qu.services()],
        "counters": [{"id": x.id, "name_vi": x.name_vi, "name_en": x.name_en, "state": x.state}
                     for x in qu.counters()],
    }


@router.post("/counters/{counter_id}/call-next", summary="Call the next ticket to this counter (finishes the current one)")
def call_next(counter_id: CounterId, request: Request, body: CallRequest | None = None,
              who: Principal = Depends(OFFICER)):
    auth.require_counter(who, counter_id)
    body = body or CallRequest()
    staff = staff_of(request)
    t = staff.queue().call_next(counter_id, actor=actor_of(who, body.actor), current=body.current,
                                current_code=body.current_code)
    staff.broker.poke()
    return {"ticket": ticket_dict(t) if t else None}


@router.put("/counters/{counter_id}/state", summary="Open, pause or close this counter")
def counter_state(counter_id: CounterId, body: CounterStateRequest, request: Request, who: Principal = Depends(OFFICER)):
    auth.require_counter(who, counter_id)
    staff = staff_of(request)
    c = staff.queue().set_counter_state(counter_id, body.state, actor=who.actor)
    staff.broker.poke()
    return c.to_dict()


def _change_ticket(request: Request, who: Principal, ref: str, change) -> dict:
    """Resolve a ticket, check the officer may touch it, apply `change(queue, ticket)`, wake the streams."""
    staff = staff_of(request)
    qu = staff.queue()
    t = qu.resolve(_ref(ref))
    check_ticket_access(who, qu, t)
    t = change(qu, t)
    staff.broker.poke()
    return {"ticket": ticket_dict(t)}


@router.post("/tickets/{ref}/call", summary="Call one chosen waiting ticket to a counter (out of order)")
def call_one(ref: str, request: Request, counter: int = Query(ge=1, le=99), body: CallRequest | None = None,
             who: Principal = Depends(OFFICER)):
    auth.require_counter(who, counter)
    body = body or CallRequest()
    return _change_ticket(request, who, ref, lambda qu, t: qu.call(t, counter, actor=actor_of(who, body.actor),
                                                                   current=body.current,
                                                                   current_code=body.current_code))


@router.post("/tickets/{ref}/transfer", summary="Transfer a ticket to another service and/or counter (keeps its place)")
def transfer(ref: str, body: TransferRequest, request: Request, who: Principal = Depends(OFFICER)):
    return _change_ticket(request, who, ref, lambda qu, t: qu.transfer(t, service=body.service, counter=body.counter,
                                                                        actor=actor_of(who, body.actor)))


ACTIONS = {"recall": "recall", "start": "start", "serve": "serve", "no-show": "no_show", "cancel": "cancel"}


@router.post("/tickets/{ref}/{action}", summary="recall, start, serve, no-show or cancel a ticket")
def ticket_action(ref: str, action: Action, request: Request, body: ActorRequest | None = None,
                  who: Principal = Depends(OFFICER)):
    actor = actor_of(who, body.actor if body else None)
    return _change_ticket(request, who, ref, lambda qu, t: getattr(qu, ACTIONS[action.value])(t, actor=actor))


@router.post("/counters/{counter_id}/rating",
             summary="The citizen rates the service at this counter with their ticket (QR scanned at the tablet)")
def counter_rating(counter_id: CounterId, body: CounterRatingRequest, request: Request,
                   who: Principal = Depends(OFFICER)):
    """Only the ticket's holder can rate: the tablet sends the ticket's token (its QR code), which
    staff never see on their screens; an officer alone cannot rate their own service."""
    auth.require_counter(who, counter_id)
    staff = staff_of(request)
    t = staff.queue().by_token(token_of(body.ticket))
    if t.counter_id != counter_id or t.state != "served" or t.day != staff.queue().today():
        raise ratings.RatingError("this ticket was not served at this counter today")
    ratings.rate(staff.conn(), t, body.rating, via="counter", now=staff.now())
    return {"code": t.code, "rating": body.rating}


# -- the hall display ----------------------------------------------------------------------------


def display_state(staff) -> dict:
    qu = staff.queue()
    counters = {c.id: c for c in qu.counters()}
    latest: dict[int, dict] = {}
    recent = []
    for ev in qu.call_events(40):
        c = counters.get(ev["counter_id"])
        item = {**ev, "counter_vi": c.name_vi if c else str(ev["counter_id"]),
                "counter_en": c.name_en if c else str(ev["counter_id"])}
        latest.setdefault(ev["counter_id"], item)
        if len(recent) < 10 and all(x["code"] != item["code"] for x in recent):
            recent.append(item)
    counts = qu.waiting_counts()
    return {
        "counters": [{"id": c.id, "name_vi": c.name_vi, "name_en": c.name_en, "state": c.state,
                      "latest": latest.get(c.id)} for c in counters.values()],
        "recent": recent,
        "waiting": [{"series": s.series, "name_vi": s.name_vi, "name_en": s.name_en,
                     "count": counts.get(s.series, 0)} for s in qu.services()],
        "last_event_id": staff.broker.last_id,
    }


@router.get("/display", summary="Hall display data: latest call per counter, recent calls, waiting counts")
def display(request: Request, who: Principal = Depends(VIEWER)):
    return display_state(staff_of(request))


SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


@router.get("/events", summary="Live queue events (server-sent events: 'state' first, then the calls missed since "
                               "`since` marked late, then 'queue' events)", response_class=StreamingResponse)
async def events(request: Request, since: int | None = Query(None, ge=0, le=2**53), who: Principal = Depends(VIEWER)):
    staff = staff_of(request)
    slot = staff.broker.admit("staff", session=who.login_key)  # the reserved pool: public pages cannot fill it
    replay = None
    if since is not None:
        def replay():
            return missed_events(staff.conn(), since)
    body = stream(staff.broker, request, first=lambda: display_state(staff), replay=replay,
                  executor=staff.broker.staff_executor)
    return SlotStreamingResponse(body, slot, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/announce.wav", summary="The spoken announcement of a call (Vietnamese WAV, cached)",
            response_class=FileResponse)
async def announce(request: Request, code: str = Query(pattern=r"^[A-Z]\d{3}$"),
                   counter: int = Query(ge=1, le=99), who: Principal = Depends(VIEWER)):
    staff = staff_of(request)
    c = staff.queue().counter(counter)
    text = announcement_text(code, c.name_vi)
    try:
        path = await asyncio.to_thread(staff.announcer.speech, text, "vi")
    except SpeechUnavailable as exc:
        return JSONResponse({"error": "SpeechUnavailable", "message": str(exc)}, status_code=503)
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "max-age=86400"})


@router.get("/chime.wav", summary="The chime played before each announcement", response_class=FileResponse)
async def chime(request: Request, who: Principal = Depends(VIEWER)):
    path = await asyncio.to_thread(staff_of(request).announcer.chime)
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "max-age=86400"})


# -- public: the ticket status page's data ---------------------------------------------------------

public_router = APIRouter(prefix="/public", tags=["public"])


@public_router.get("/tickets/{token}", summary="A ticket's public status (what its QR code opens)")
def ticket_status(token: str, request: Request):
    staff = staff_of(request)
    qu = staff.queue()
    t = qu.by_token(token[:64])
    return public_status(qu, t, ratings.get_rating(staff.conn(), t.id))


@public_router.get("/tickets/{token}/events", summary="A ticket's status, pushed when it changes (SSE)",
                   response_class=StreamingResponse)
async def ticket_events(token: str, request: Request):
    staff = staff_of(request)
    token = token[:64]
    staff.broker.admit("public", client_address(request)).release()  # the address's share first: cheap refusal
    async with staff.broker.public_gate:
        t = await asyncio.to_thread(lambda: staff.queue().by_token(token))
    slot = staff.broker.admit("public", client_address(request), token)

    def current(_ev=None):
        qu = staff.queue()
        return public_status(qu, qu.get(t.id), ratings.get_rating(staff.conn(), t.id))

    def relevant(ev: dict) -> bool:
        return ev["ticket_id"] == t.id or ev["service"] == t.service or ev["kind"] in ("counter_state", "counter_update")

    body = stream(staff.broker, request, first=current, select=relevant, transform=current, min_interval_s=1.0,
                  gate=staff.broker.public_gate)
    return SlotStreamingResponse(body, slot, media_type="text/event-stream", headers=SSE_HEADERS)


@public_router.post("/tickets/{token}/rating", summary="The citizen rates a served ticket (1-5), once")
def rate_ticket(token: str, body: RatingRequest, request: Request, _=Depends(auth.public())):
    staff = staff_of(request)
    t = staff.queue().by_token(token[:64])
    ratings.rate(staff.conn(), t, body.rating, via="status_page", now=staff.now())
    return {"code": t.code, "rating": body.rating}


router.include_router(public_router)
