"""Live updates: one poller reads new `queue_events` rows and fans them out to SSE clients.

The kiosk and the CLI write the same database from other processes, so the server follows
changes by polling `queue_events` (an indexed `id > ?` query, every `POLL_S`). A change made
by this server wakes the poller at once (`Broker.poke()`), so a call reaches the hall display
in milliseconds; changes from other processes arrive within `POLL_S`.

Streams are admitted into two pools (`Broker.admit`): "staff" (displays and consoles, logged
in) and "public" (ticket status pages, anonymous). Each pool has its own ceiling, so a flood of
public streams cannot take the hall display offline, and a public stream is also limited per
client address and per ticket token (one QR code → a few streams); a staff stream is limited per
login session (`MAX_STREAMS_PER_SESSION`). A refused stream is a 503 `TooManyStreams` (a 429
`TooManySessionStreams` for the session's cap) with Retry-After; every page reconnects with
back-off and asks for the events it missed (`since`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from starlette.responses import StreamingResponse

from centre.db import connect

log = logging.getLogger("staff.events")
POLL_S = 0.1
POKE_DELAY_S = 0.003
HEARTBEAT_S = 15.0
QUEUE_MAX = 500
#: Default stream limits (config.yaml staff.streams overrides them).
MAX_SUBSCRIBERS = 2000
#: Staff streams one login (a session cookie, or an API token) may hold at once: a counter
#: screen, a hall display and a few tabs. The address cap (staff.httpguard) is 64 and the staff
#: pool 300, so one stolen or runaway session could otherwise take the whole pool.
MAX_STREAMS_PER_SESSION = 8


@dataclass(frozen=True)
class StreamLimits:
    """How many live streams the server carries: per pool, per client address, per ticket token."""

    staff: int = 300            # displays and consoles (a reserved pool: public traffic never uses it)
    public: int = 1500          # ticket status pages, all clients together
    per_client: int = 12        # public streams from one address
    per_token: int = 3          # public streams of one ticket token
    per_session: int = MAX_STREAMS_PER_SESSION  # staff streams of one login session (or API token)
    retry_after_s: int = 5


class TooManyStreams(RuntimeError):
    """The stream's pool (or its client or ticket token) is full; the client should retry later."""

    def __init__(self, message: str, retry_after_s: int = 5):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooManySessionStreams(TooManyStreams):
    """This login already holds its share of staff streams (a 429: the caller's own doing)."""


class Slot:
    """One admitted stream; `release()` (idempotent) gives its place back."""

    def __init__(self, broker: Broker, keys: list[tuple[str, str]]):
        self._broker = broker
        self._keys = keys
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            for k in self._keys:
                self._broker._counts[k] -= 1
                if self._broker._counts[k] <= 0:
                    del self._broker._counts[k]


class SlotStreamingResponse(StreamingResponse):
    """A streaming response that gives its stream slot back however it ends (even unstarted)."""

    def __init__(self, content, slot: Slot, **kw):
        super().__init__(content, **kw)
        self.slot = slot

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()


def public_event(row: sqlite3.Row) -> dict:
    """An event as sent to browsers (settings' before/after left out: that is for the audit page)."""
    detail = json.loads(row["detail"] or "{}")
    detail.pop("before", None)
    detail.pop("after", None)
    return {"id": row["id"], "at": row["at"], "kind": row["kind"], "ticket_id": row["ticket_id"],
            "from_state": row["from_state"], "to_state": row["to_state"], "service": row["service"],
            "counter_id": row["counter_id"], "code": detail.get("code"), "detail": detail}


class Broker:
    """Polls the events table and hands each new event to every subscriber's asyncio queue."""

    def __init__(self, db_path, limits: StreamLimits | None = None):
        self.db_path = db_path
        self.limits = limits or StreamLimits()
        self._counts: Counter = Counter()
        #: Threads of the staff pool's streams (first state, replays), apart from the shared pool.
        self.staff_executor = ThreadPoolExecutor(2, thread_name_prefix="staff-streams")
        #: At most this many public pages' database reads at once (the rest wait, costing nothing).
        self.public_gate = asyncio.Semaphore(2)
        self._subs: set[asyncio.Queue] = set()
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_id = 0
        #: The guide robots' status (staff/robot.py), followed in the same loop while a page shows it.
        self.robot_feed = None
        self._robot_subs: set[asyncio.Queue] = set()

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            conn = connect(self.db_path)
            try:
                self.last_id = conn.execute("SELECT coalesce(max(id), 0) FROM queue_events").fetchone()[0]
            except sqlite3.OperationalError:
                self.last_id = 0  # queue tables not created yet
            self._task = self._loop.create_task(self._run(conn))

    async def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                try:
                    rows = conn.execute("SELECT * FROM queue_events WHERE id > ? ORDER BY id LIMIT 500",
                                        (self.last_id,)).fetchall()
                except sqlite3.Error as exc:
                    log.warning("cannot read queue events: %s", exc)
                    rows = []
                for row in rows:
                    self.last_id = row["id"]
                    ev = public_event(row)
                    for q in list(self._subs):
                        if q.full():  # a stuck client: drop its oldest so it still sees the newest
                            with contextlib.suppress(asyncio.QueueEmpty):
                                q.get_nowait()
                        q.put_nowait(ev)
                self._poll_robot()
                if len(rows) == 500:
                    continue
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_S)
        finally:
            conn.close()

    def _poll_robot(self) -> None:
        """Tell the robot streams when the robot events file changed (two stat calls when it did not)."""
        if not self._robot_subs or self.robot_feed is None:
            return
        try:
            changed = self.robot_feed.refresh()
        except Exception as exc:  # a locked or damaged file must not stop the queue events
            log.warning("cannot read robot events: %s", exc)
            return
        if changed:
            for q in list(self._robot_subs):
                if not q.full():
                    q.put_nowait(True)

    async def subscribe_robot(self) -> asyncio.Queue:
        self._start()
        q: asyncio.Queue = asyncio.Queue(8)
        self._robot_subs.add(q)
        return q

    def unsubscribe_robot(self, q: asyncio.Queue) -> None:
        self._robot_subs.discard(q)

    def poke(self) -> None:
        """Wake the poller after a change (call from any thread).

        The wake-up is deferred by POKE_DELAY_S so that the HTTP answer of the request that made
        the change is sent first, before the fan-out to every stream takes the event loop.
        """
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.call_later, POKE_DELAY_S, wake.set)

    def admit(self, pool: str, client: str = "", token: str | None = None, *, session: str | None = None) -> Slot:
        """A place for one stream in `pool` ("staff" or "public"), or TooManyStreams.

        Public streams are also counted per client address and per ticket token; staff streams
        per login `session` (TooManySessionStreams). Called from the event loop (no await
        between check and count), so admission needs no lock.
        """
        lim = self.limits
        keys = [("pool", pool)]
        checks = [(("pool", pool), lim.staff if pool == "staff" else lim.public, f"{pool} streams", TooManyStreams)]
        if pool == "public":
            keys.append(("client", client))
            checks.append((("client", client), lim.per_client, "streams from this address", TooManyStreams))
            if token is not None:
                keys.append(("token", token))
                checks.append((("token", token), lim.per_token, "streams of this ticket", TooManyStreams))
        if session is not None:
            keys.append(("session", session))
            checks.append((("session", session), lim.per_session, "live streams open by this login",
                           TooManySessionStreams))
        for key, most, what, error in checks:
            if self._counts[key] >= most:
                raise error(f"too many {what} (at most {most}); retry later", lim.retry_after_s)
        for key in keys:
            self._counts[key] += 1
        return Slot(self, keys)

    def open_streams(self, pool: str) -> int:
        return self._counts.get(("pool", pool), 0)

    def check_capacity(self) -> None:
        """Raise TooManyStreams when no more live streams may open at all."""
        if len(self._subs) >= MAX_SUBSCRIBERS + self.limits.staff:
            raise TooManyStreams(f"more than {MAX_SUBSCRIBERS} live streams; retry later")

    async def subscribe(self) -> asyncio.Queue:
        self._start()
        q: asyncio.Queue = asyncio.Queue(QUEUE_MAX)
        self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._subs.discard(q)

    async def stop(self) -> None:
        self.staff_executor.shutdown(wait=False, cancel_futures=True)
        # a fresh one (threads start lazily) in case the app is started again
        self.staff_executor = ThreadPoolExecutor(2, thread_name_prefix="staff-streams")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


def sse(event: str, data, event_id: int | None = None) -> str:
    """One server-sent event, serialised."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def missed_events(conn: sqlite3.Connection, since: int, kinds: tuple[str, ...] = ("call", "recall"),
                  limit: int = 50) -> list[dict]:
    """Events after `since` of these kinds (what a reconnecting display missed), oldest first."""
    marks = ",".join("?" * len(kinds))
    rows = conn.execute(f"SELECT * FROM (SELECT * FROM queue_events WHERE id > ? AND kind IN ({marks}) "
                        f"ORDER BY id DESC LIMIT ?) ORDER BY id", (since, *kinds, limit)).fetchall()
    return [public_event(r) for r in rows]


async def stream(broker: Broker, request, *, first: Callable[[], object] | None = None,
                 select: Callable[[dict], bool] = lambda ev: True,
                 transform: Callable[[dict], object] | None = None, min_interval_s: float = 0.0,
                 event_name: str = "queue", replay: Callable[[], list[dict]] | None = None,
                 executor=None, gate: asyncio.Semaphore | None = None) -> AsyncIterator[str]:
    """An SSE body: `first()` as a 'state' event, then `replay()` events marked late (what the
    client missed while disconnected), then selected live events (optionally transformed).

    With `transform` (e.g. recompute a ticket's status), bursts are coalesced: at most one
    message per `min_interval_s`, always ending with the latest state. `executor` runs the
    database reads (displays and consoles get their own threads: a flood of public pages
    queueing in the shared pool cannot delay them); `gate` bounds how many such reads run at
    once (public pages: a flood waits its turn instead of taking every CPU cycle).
    """
    q = await broker.subscribe()
    loop = asyncio.get_running_loop()

    async def run(fn):
        if gate is None:
            return await loop.run_in_executor(executor, fn)
        async with gate:
            return await loop.run_in_executor(executor, fn)

    try:
        yield "retry: 2000\n\n"
        if first is not None:
            yield sse("state", await run(first))
        replayed = 0
        if replay is not None:
            for ev in await run(replay):
                replayed = max(replayed, ev["id"])
                yield sse(event_name, {**ev, "late": True}, ev["id"])
        while True:
            try:
                # Fast path without a timer task when events are already queued (bursts).
                ev = q.get_nowait() if not q.empty() else await asyncio.wait_for(q.get(), HEARTBEAT_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            if ev["id"] <= replayed or not select(ev):
                continue
            if transform is None:
                # Serialised once per event, however many streams carry it.
                text = ev.get("_sse")
                if text is None:
                    text = ev["_sse"] = sse(event_name, {k: v for k, v in ev.items() if k != "_sse"}, ev["id"])
                yield text
                continue
            if min_interval_s:
                await asyncio.sleep(min_interval_s)
                while not q.empty():  # coalesce the burst
                    q.get_nowait()
            yield sse("state", await run(lambda ev=ev: transform(ev)), ev["id"])
    finally:
        broker.unsubscribe(q)
