"""Live updates: one poller reads new `queue_events` rows and fans them out to SSE clients.

The kiosk and the CLI write the same database from other processes, so the server follows
changes by polling `queue_events` (an indexed `id > ?` query, every `POLL_S`). A change made
by this server wakes the poller at once (`Broker.poke()`), so a call reaches the hall display
in milliseconds; changes from other processes arrive within `POLL_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable

from centre.db import connect

log = logging.getLogger("staff.events")
POLL_S = 0.1
POKE_DELAY_S = 0.003
HEARTBEAT_S = 15.0
QUEUE_MAX = 500
#: Live streams one server carries at most (public ticket pages need no login: a flood of them
#: must not starve the counters and displays).
MAX_SUBSCRIBERS = 2000


class TooManyStreams(RuntimeError):
    """The server already carries MAX_SUBSCRIBERS live streams; the client should retry later."""


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

    def __init__(self, db_path):
        self.db_path = db_path
        self._subs: set[asyncio.Queue] = set()
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_id = 0

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
                if len(rows) == 500:
                    continue
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_S)
        finally:
            conn.close()

    def poke(self) -> None:
        """Wake the poller after a change (call from any thread).

        The wake-up is deferred by POKE_DELAY_S so that the HTTP answer of the request that made
        the change is sent first, before the fan-out to every stream takes the event loop.
        """
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.call_later, POKE_DELAY_S, wake.set)

    def check_capacity(self) -> None:
        """Raise TooManyStreams when no more live streams may open (call before answering 200)."""
        if len(self._subs) >= MAX_SUBSCRIBERS:
            raise TooManyStreams(f"more than {MAX_SUBSCRIBERS} live streams; retry later")

    async def subscribe(self) -> asyncio.Queue:
        self._start()
        q: asyncio.Queue = asyncio.Queue(QUEUE_MAX)
        self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._subs.discard(q)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


def sse(event: str, data, event_id: int | None = None) -> str:
    """One server-sent event, serialised."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


async def stream(broker: Broker, request, *, first: Callable[[], object] | None = None,
                 select: Callable[[dict], bool] = lambda ev: True,
                 transform: Callable[[dict], object] | None = None, min_interval_s: float = 0.0,
                 event_name: str = "queue") -> AsyncIterator[str]:
    """An SSE body: `first()` as a 'state' event, then selected events (optionally transformed).

    With `transform` (e.g. recompute a ticket's status), bursts are coalesced: at most one
    message per `min_interval_s`, always ending with the latest state.
    """
    q = await broker.subscribe()
    try:
        yield "retry: 2000\n\n"
        if first is not None:
            yield sse("state", await asyncio.to_thread(first))
        while True:
            try:
                # Fast path without a timer task when events are already queued (bursts).
                ev = q.get_nowait() if not q.empty() else await asyncio.wait_for(q.get(), HEARTBEAT_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            if not select(ev):
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
            yield sse("state", await asyncio.to_thread(transform, ev), ev["id"])
    finally:
        broker.unsubscribe(q)
