"""Slow clients: uvicorn's HTTP/1.1 protocol with a deadline for reading each request.

uvicorn (0.55, h11) waits forever for a request's headers and body: a client that opens a
connection and sends nothing, or a few bytes of headers, or a body slower than it announced
("slowloris"), holds a connection and a file descriptor for ever, and a few thousand such
connections from one PC leave no descriptor for the hall display or the counters.

`GuardedH11Protocol` closes a connection whose request headers have not all arrived within
`HEADER_TIMEOUT_S` of its first byte (or of the connection opening), or whose request body stops
arriving for `BODY_IDLE_S` (an idle time, not a total: a big sync batch over a slow rural line
must still get through; a trickling client is bounded by the per-address cap below). Once a
request has been read the deadline is off: a live event stream (SSE) or a slow answer is not cut.
Between requests on a kept-alive connection uvicorn's own keep-alive timeout applies. Pass it to
uvicorn as ``http=GuardedH11Protocol`` (the staff server and the provincial hub do).

Deadlines alone do not stop a client that opens a hundred new idle connections a second, so it
also refuses (closes at once) a connection from an address that already has
`MAX_PER_ADDRESS` open. Loopback and the configured trusted proxies (uvicorn's
`forwarded_allow_ips`) are exempt: the kiosk on the same PC, a local reverse proxy, the bench.
A browser opens at most 6 connections to a server, plus one per live stream.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
from collections import Counter

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0
BODY_IDLE_S = 30.0
MAX_PER_ADDRESS = 64
_READING = (h11.IDLE, h11.SEND_BODY)
_LOOPBACK = frozenset({"127.0.0.1", "::1"})
_open: Counter = Counter()  # open connections per client address (every server of the process)
_open_lock = threading.Lock()


class GuardedH11Protocol(H11Protocol):
    """H11Protocol with a deadline on reading each request's headers and body."""

    header_timeout_s = HEADER_TIMEOUT_S
    body_idle_s = BODY_IDLE_S
    max_per_address = MAX_PER_ADDRESS
    exempt = _LOOPBACK

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard: asyncio.TimerHandle | None = None
        self._guard_phase = None
        self._counted = self._count_in()
        if self._counted is False:
            self.logger.warning("refusing a connection from %s: %d already open", self.client[0], self.max_per_address)
            transport.close()
            return
        self._arm(h11.IDLE)

    def _count_in(self) -> str | bool | None:
        """The address now counted, None when exempt, False when it already has too many."""
        host = self.client[0] if self.client else None
        if host is None or _loopback(host, self.exempt) or _trusted(host, self.config.forwarded_allow_ips):
            return None
        with _open_lock:
            if _open[host] >= self.max_per_address:
                return False
            _open[host] += 1
        return host

    def _arm(self, phase) -> None:
        if self._guard is not None:
            self._guard.cancel()
        seconds = self.header_timeout_s if phase is h11.IDLE else self.body_idle_s
        self._guard_phase = phase
        self._guard = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
        self._guard = self._guard_phase = None

    def data_received(self, data: bytes) -> None:
        if self._guard is None and self.conn.their_state in _READING:
            self._arm(self.conn.their_state)  # a new request starts arriving
        super().data_received(data)
        self._follow()

    def _follow(self) -> None:
        """Move the deadline with the request: headers (total) → body (idle, renewed by each chunk) → none."""
        state = self.conn.their_state
        if state not in _READING:
            self._disarm()
        elif state is h11.SEND_BODY and self._guard is not None:
            self._arm(state)  # headers complete, or another piece of the body: the idle time starts again

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # uvicorn's keep-alive timeout covers the idle time until the next request
        if self.conn.their_state is h11.SEND_BODY:
            self._arm(h11.SEND_BODY)  # a pipelined request already started

    def _expire(self) -> None:
        self._guard = None
        if self.conn.their_state in _READING and not self.transport.is_closing():
            self.logger.warning("closing a connection from %s: request not received in time",
                                self.client[0] if self.client else "?")
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted:
            with _open_lock:
                _open[self._counted] -= 1
                if _open[self._counted] <= 0:
                    del _open[self._counted]
            self._counted = None
        super().connection_lost(exc)


def _loopback(host: str, exempt: frozenset) -> bool:
    """Whether `host` is exempt as this machine (127.0.0.0/8, ::1, ::ffff:127.x.x.x)."""
    if not exempt:
        return False
    if host in exempt:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or bool(getattr(ip, "ipv4_mapped", None) and ip.ipv4_mapped.is_loopback)


def _trusted(host: str, allowed) -> bool:
    """Whether `host` is one of uvicorn's forwarded_allow_ips (addresses or networks, "*" for all)."""
    entries = allowed if isinstance(allowed, list) else str(allowed or "").split(",")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in (e.strip() for e in entries):
        if entry == "*":
            return True
        try:
            if entry and ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


class BodyLimit:
    """413 for a request body over `limit(scope)`: by Content-Length at once, and by counting
    the bytes of a chunked body as they come (never buffered). Subclasses say the limits."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def limit(self, scope) -> int:
        """The largest body this request may send."""
        return self.max_bytes

    def refusal(self, limit: int) -> bytes:
        """The JSON body of the 413 answer."""
        return json.dumps({"error": "TooLarge", "message": f"the request body is over {limit // 1024} KB"}).encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await self._too_large(send, limit)
        seen = 0
        over = [False, False]  # [over the limit, our 413 sent]

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over[0] = True
                    raise _TooLarge()
            return message

        async def guarded_send(message):
            # The body parser may turn our exception into its own 400: answer 413 instead.
            if over[0]:
                if not over[1]:
                    over[1] = True
                    await self._too_large(send, limit)
                return
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except _TooLarge:
            if not over[1]:
                await self._too_large(send, limit)

    async def _too_large(self, send, limit: int) -> None:
        body = self.refusal(limit)
        try:
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
        except Exception:  # noqa: BLE001 - the response had already started: the connection is simply dropped
            pass


class _TooLarge(Exception):
    """A streamed body passed its limit."""


class NotStrictJson(ValueError):
    """A body that json.loads would take but that is not one plain reading of RFC 8259 JSON."""


def strict_json(raw: bytes):
    """`raw` parsed as JSON, or NotStrictJson when json.loads would silently pick a reading (a key
    given twice in one object: the last wins), accept what JSON has not (NaN, Infinity), or fail
    outside JSONDecodeError (a number such as 1e400 read as infinity, nested past the parser's stack, an integer of thousands of digits,
    bytes that are not UTF-8). A plain syntax error is left to json.JSONDecodeError."""
    try:
        return json.loads(raw, object_pairs_hook=_no_twice, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError:
        raise
    except NotStrictJson:
        raise
    except RecursionError:
        raise NotStrictJson("the JSON is nested too deeply") from None
    except UnicodeDecodeError:
        raise NotStrictJson("the body is not UTF-8 JSON") from None
    except ValueError:  # int() of more than sys.get_int_max_str_digits() digits
        raise NotStrictJson("a number in the JSON has too many digits") from None


def _no_twice(pairs: list) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise NotStrictJson("a key appears twice in one JSON object")
        out[key] = value
    return out


def _no_constant(name: str):
    raise NotStrictJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise NotStrictJson("a number in the JSON is too large (read as infinity)")
    return value
