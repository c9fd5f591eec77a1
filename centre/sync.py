"""The sync agent: sends the outbox to the provincial hub, in order, at least once, with back-off.

Pure logic (`SyncAgent.step`, `Backoff`) around a transport with one method,
`send(events_json) -> dict` (the JSON array of the batch, built by SQLite from the outbox), so tests can drive it without a network; `HttpTransport` is the thin
HTTP adapter (stdlib urllib, gzip body, bearer token).

Guarantees, with the hub's idempotent ingest (centre id + event uid):
- at-least-once: the local cursor `acked_seq` moves only after the hub answered that it
  committed the batch; a cut before that (network, hub or centre restart) means the same events
  are sent again and the hub drops the copies;
- ordered per centre: one batch in flight, events in `seq` order, the next batch only after
  the previous one was acknowledged;
- resumable: the cursor lives in the centre's database, so a restart continues where it was;
- clock changes do not matter: order is `seq`, waits use the monotonic clock.
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import random
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from centre import boundedread, outbox

log = logging.getLogger(__name__)


MAX_ANSWER = 64 * 1024  # bytes of the hub's answer read at most


class SyncError(RuntimeError):
    """The hub could not be reached or refused the batch (the message says which)."""


class SyncRefused(SyncError):
    """The hub refused the batch for a reason that retrying will not fix soon (401/403/4xx)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the error it is: urllib would follow it with the centre's token in
    the Authorization header, to whatever host the Location names (and turn the POST into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _tracked(base: type, socks: list) -> type:
    """`base` (an http.client connection class) that keeps the socket it opens in `socks`."""

    class Conn(base):
        def connect(self):
            super().connect()
            socks.append(self.sock)

    return Conn


class _Http(urllib.request.HTTPHandler):
    def __init__(self, socks: list):
        super().__init__()
        self.socks = socks

    def http_open(self, req):
        return self.do_open(_tracked(http.client.HTTPConnection, self.socks), req)


class _Https(urllib.request.HTTPSHandler):
    def __init__(self, socks: list):
        super().__init__()
        self.socks = socks

    def https_open(self, req):
        return self.do_open(_tracked(http.client.HTTPSConnection, self.socks), req, context=self._context)


def _cut(socks: list, fired: threading.Event) -> None:
    """The exchange took too long: shut its socket, so the blocked read returns at once."""
    fired.set()
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class HttpTransport:
    """POST batches to `<url>/api/v1/ingest` with this centre's token (never to another address).

    `timeout_s` bounds each wait for the network, and the whole exchange (connect, send, the hub's
    answer) is cut after `DEADLINE_FACTOR` times that: a hub that trickles its answer a byte at a
    time, each byte inside the timeout, would otherwise hold the agent (and `kiosk sync --once`)
    for hours."""

    DEADLINE_FACTOR = 4

    def __init__(self, url: str, centre_id: str, token: str, *, timeout_s: float = 30.0):
        self.url = url.rstrip("/") + "/api/v1/ingest"
        self.centre_id = centre_id
        self.token = token
        self.timeout_s = timeout_s

    def send(self, events_json: str) -> dict:
        """POST the JSON array of events; returns the hub's answer."""
        socks: list = []
        fired = threading.Event()
        deadline = self.timeout_s * self.DEADLINE_FACTOR
        timer = threading.Timer(deadline, _cut, (socks, fired))
        timer.daemon = True
        timer.start()
        try:
            return self._send(events_json, urllib.request.build_opener(_NoRedirect, _Http(socks), _Https(socks)))
        except SyncError:
            if fired.is_set():
                raise SyncError(f"the hub did not answer within {deadline:g} s (province.timeout_s × "
                                f"{self.DEADLINE_FACTOR}): the exchange was cut; it is sent again later") from None
            raise
        finally:
            timer.cancel()

    def _send(self, events_json: str, opener) -> dict:
        text = '{"centre":' + json.dumps(self.centre_id) + ',"events":' + events_json + "}"
        body = gzip.compress(text.encode("utf-8"), compresslevel=1)
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip",
            "Authorization": f"Bearer {self.token}"})
        try:
            with opener.open(req, timeout=self.timeout_s) as resp:
                raw = resp.read(MAX_ANSWER + 1)  # the hub's answer is a few numbers
                cut = bool(resp.length)  # fewer bytes than its Content-Length said: the connection was cut
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                where = str(exc.headers.get("Location", ""))[:200]
                raise SyncRefused(f"hub answered {exc.code}, a redirect to {where!r}: the token is not sent "
                                  "there; set province.url to the hub's own address") from None
            try:
                detail = exc.read(300).decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):  # the error page itself cut or slow
                detail = "(no readable detail)"
            cls = SyncRefused if 400 <= exc.code < 500 and exc.code not in (408, 429) else SyncError
            raise cls(f"hub answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SyncError(f"hub not reachable: {getattr(exc, 'reason', exc)}") from None
        except http.client.HTTPException as exc:  # a garbled status line, a body cut short
            raise SyncError(f"the hub's answer was cut or garbled ({type(exc).__name__}: {str(exc)[:200]})") from None
        if cut and len(raw) <= MAX_ANSWER:
            raise SyncError("the hub's answer was cut or garbled (shorter than its Content-Length)")
        try:
            answer = json.loads(raw) if len(raw) <= MAX_ANSWER else None
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            raise SyncError("the hub's answer is not a JSON object (or too long)")
        return answer


def read_token(path: Path) -> str:
    """The token in `path` (a line of printable ASCII, as `kiosk province add-centre` writes it)."""
    try:
        token = boundedread.read_text(path, 4096).strip()
    except boundedread.TextFileError as exc:
        raise SyncError(f"the province token file {path} is not a token file: {exc}") from None
    except OSError as exc:
        raise SyncError(f"cannot read the province token file {path}: {exc}") from None
    if not token:
        raise SyncError(f"the province token file {path} is empty")
    if not all(" " < ch <= "~" for ch in token):  # a second line or a stray byte: no HTTP header can carry it
        raise SyncError(f"the province token file {path} holds more than one token (a space, a second line or "
                        "a character that is not printable ASCII): copy the file the hub made again")
    return token


class Backoff:
    """Doubling waits from `base` to `cap` with ±20 % jitter; reset after a success."""

    def __init__(self, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None):
        self.base, self.cap, self.failures = base, cap, 0
        self.rng = rng or random.Random()

    def next(self) -> float:
        self.failures += 1
        delay = min(self.cap, self.base * 2 ** (self.failures - 1))
        return delay * self.rng.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class StepResult:
    sent: int = 0          # events in the batch acknowledged
    stored: int = 0        # of which the hub had not seen before
    duplicates: int = 0
    backlog: int = 0       # events still waiting after this step
    error: str | None = None


class SyncAgent:
    """Moves outbox events to the hub, one batch per `step()`."""

    def __init__(self, conn: sqlite3.Connection, transport, *, batch_size: int = 1000,
                 max_backoff_s: float = 300.0, interval_s: float = 5.0, wall: Callable[[], float] = time.time):
        self.conn = conn
        self.transport = transport
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.backoff = Backoff(cap=max_backoff_s)
        self.wall = wall
        outbox.install(conn)

    def step(self) -> StepResult:
        outbox.install(self.conn)  # a table another process created since: triggers + snapshot
        count, last_seq, events_json = outbox.pending_json(self.conn, self.batch_size)
        if not count:
            return StepResult(backlog=0)
        try:
            answer = self.transport.send(events_json)
            if answer.get("last_seq") != last_seq:
                raise SyncError(f"hub acknowledged seq {answer.get('last_seq')}, expected {last_seq}")
        except SyncError as exc:
            outbox.set_state(self.conn, last_error=str(exc), last_error_at=self.wall(), last_outcome="error")
            return StepResult(backlog=outbox.backlog(self.conn), error=str(exc))
        outbox.ack(self.conn, last_seq, now=self.wall())
        return StepResult(sent=count, stored=_count(answer, "stored"), duplicates=_count(answer, "duplicates"),
                          backlog=outbox.backlog(self.conn))

    def run(self, stop: threading.Event, *, until_empty: bool = False) -> None:
        """Loop until `stop` is set (or, with until_empty, until nothing is left to send)."""
        while not stop.is_set():
            try:
                r = self.step()
            except sqlite3.Error as exc:  # database busy or locked for long: retry later
                r = StepResult(error=f"local database: {exc}", backlog=-1)
            except Exception as exc:  # noqa: BLE001 - whatever a transport or a hub does, the agent keeps going
                log.exception("sync: unexpected error")
                r = StepResult(error=f"{type(exc).__name__}: {exc}"[:300], backlog=-1)
            if r.error:
                delay = self.backoff.next()
                log.warning("sync: %s; retrying in %.1f s", r.error, delay)
            else:
                self.backoff.reset()
                if r.backlog == 0 and until_empty:
                    return
                delay = 0 if r.backlog else self.interval_s
            if delay:
                stop.wait(delay)


def _count(answer: dict, key: str) -> int:
    """A figure of the hub's answer (0 when it is missing or not a number: only shown, never trusted)."""
    value = answer.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def status(conn: sqlite3.Connection) -> dict:
    """What `kiosk doctor` and `kiosk sync --status` show."""
    st = outbox.get_state(conn)
    sent = float(st["last_sent_at"]) if "last_sent_at" in st else None
    error_at = float(st["last_error_at"]) if "last_error_at" in st else None
    if "last_outcome" in st:  # the order of events, not of the clock's readings
        failing = st["last_outcome"] == "error"
    else:  # a database from before last_outcome
        failing = bool(error_at) and (sent or 0) < error_at
    return {"installed": outbox.installed(conn), "acked_seq": int(st.get("acked_seq", 0)),
            "backlog": outbox.backlog(conn), "last_sent_at": sent, "last_error": st.get("last_error"),
            "last_error_at": error_at, "failing": failing}


def agent_from_config(cfg, conn: sqlite3.Connection) -> SyncAgent:
    p = cfg.province
    if not p.url or not p.centre_id:
        raise SyncError("province.url and province.centre_id must be set in config.yaml to sync")
    token = read_token(cfg.path(p.token_file))
    transport = HttpTransport(p.url, p.centre_id, token, timeout_s=p.timeout_s)
    return SyncAgent(conn, transport, batch_size=p.batch_size, max_backoff_s=p.max_backoff_s,
                     interval_s=p.interval_s)
