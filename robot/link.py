"""The kiosk's side of the robot link: a serial port opened by URL, kept alive through faults.

`RobotLink` opens its port with `serial.serial_for_url` (a device path, a pty, ``loop://``,
``socket://host:port``, ``spy:///dev/ttyUSB0?logfile=...``) with an exclusive lock and a
write timeout. A reader thread feeds bytes to `protocol.StreamDecoder` (the shape of
pyserial's ``serial.threaded.Packetizer``); a ticker thread sends the kiosk heartbeat,
resends unacknowledged commands with the same id and watches the robot's heartbeat.

Commands: `send(verb, *args)` returns a `concurrent.futures.Future` resolved with the
robot's `Ack`, or failed with `RobotTimeout` (no ack after the retries) or `LinkDownError`;
`command(...)` is the blocking form. A goal command (GOTO, DOCK) whose id shows up in a
robot heartbeat counts as accepted even if every ACK frame was lost.

Events go to `on_event(event)` from the link's threads (keep the callback short; the
escort manager only queues them): `LinkUp`, `LinkDown`, `RobotRebooted`, `RobotHello`,
`RobotUpdate` (heartbeat, status, feedback, waypoint) and `GoalEnded` (once per goal, from
RESULT or heartbeat).

Protocol 1.1 (docs/robot-protocol.md): the robot's version is checked on every HELLO (a
robot that reboots into another major version is dropped at once); a new boot id in any
heartbeat is a reboot even when the robot's HELLO was lost, and the link then says HELLO
again; at most `protocol.WINDOW` commands are outstanding; frames of unknown types or with
an unusable field are signs of life, counted, never "bad frames"; with a shared `key` the
link is up only after the keyed HMAC handshake (section 13).

When the port disappears (a USB unplug: read errors, the device path vanishes) the link
reports `LinkDown` at once, then reopens with back-off (polling the path so that it is back
within a fraction of a second when the device returns), and says HELLO, then STATQ. On a
network port (``socket://``) a connection with no frame for `missed_heartbeats` heartbeats is
closed and opened again with the same back-off: it may be half-open (the robot rebooted or a
cable was pulled, and TCP would notice only after minutes); the robot closes the old one when
the new one authenticates (docs/robot-protocol.md section 13).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field

import serial

from robot import protocol as p

log = logging.getLogger("robot.link")

if "robot.urlhandler" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("robot.urlhandler")  # fakerobot://


class LinkError(Exception):
    """The robot link failed."""


class LinkDownError(LinkError):
    """The link is down: the command was not (or may not have been) delivered."""


class RobotTimeout(LinkError):
    """The robot did not acknowledge a command after every retry."""


class LinkConfigError(LinkError):
    """The port URL or its settings are wrong; retrying will not help."""


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkEvent:
    robot: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["type"] = type(self).__name__
        return d


@dataclass(frozen=True)
class LinkUp(LinkEvent):
    """The robot answered HELLO with a protocol version we speak."""

    hello: p.Hello
    rebooted: bool = False


@dataclass(frozen=True)
class LinkDown(LinkEvent):
    """The robot cannot be reached: port error, heartbeat lost or no answer."""

    reason: str


@dataclass(frozen=True)
class RobotRebooted(LinkEvent):
    """A new boot id (in a HELLO or any heartbeat) while the link was up: goals were lost.

    `hello` is None when the reboot was seen in a heartbeat (the HELLO may have been lost);
    `state` is the state that heartbeat reported.
    """

    hello: p.Hello | None
    boot_id: str = ""
    state: str = ""


@dataclass(frozen=True)
class RobotHello(LinkEvent):
    """The robot said HELLO again (same boot): version and capabilities re-read."""

    hello: p.Hello


@dataclass(frozen=True)
class RobotUpdate(LinkEvent):
    """A heartbeat, status or feedback message from the robot."""

    message: p.Heartbeat | p.Status | p.Feedback | p.Waypoint


@dataclass(frozen=True)
class GoalEnded(LinkEvent):
    """A navigation goal ended (reported once, from RESULT or a heartbeat)."""

    goal_id: int
    status: p.GoalStatus
    reason: str


@dataclass
class _Pending:
    cmd: p.Command
    future: Future
    sent_at: float
    deadline: float
    attempts: int = 1
    rx_at_send: int = 0
    first_sent: float = 0.0


@dataclass
class LinkStats:
    frames_in: int = 0
    frames_out: int = 0
    retries: int = 0
    timeouts: int = 0
    duplicate_acks: int = 0
    implicit_acks: int = 0
    opens: int = 0
    open_failures: int = 0
    downs: int = 0
    write_timeouts: int = 0
    seq_gaps: int = 0
    reboots: int = 0
    dropped: Counter = field(default_factory=Counter)
    #: well-formed frames of types this version does not know (kept as signs of life)
    unknown_types: Counter = field(default_factory=Counter)
    #: states, goal statuses and reasons this version does not know, as received
    unknown_words: Counter = field(default_factory=Counter)
    bad_fields: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("dropped", "unknown_types", "unknown_words"):
            d[k] = dict(getattr(self, k))
        return d


def describe_open_error(port: str, exc: BaseException) -> str:
    """A plain sentence for an administrator: what is wrong with the port and what to do."""
    text = str(exc)
    if isinstance(exc, ValueError):
        return f"robot port {port!r}: {text} — fix robot.robots[].port/baudrate in config.yaml"
    if "No such file" in text or "could not open port" in text and "Errno 2" in text:
        return f"robot port {port!r} does not exist — is the robot's USB cable plugged in?"
    if "Permission denied" in text or "Errno 13" in text:
        return f"robot port {port!r}: permission denied — add the kiosk user to the 'dialout' group"
    if "Could not exclusively lock" in text or "Resource temporarily unavailable" in text:
        return f"robot port {port!r} is in use by another program (is a second kiosk running?)"
    if "Connection refused" in text:
        return f"robot port {port!r}: connection refused — is the robot (or simulator) running?"
    return f"robot port {port!r}: {text}"


def _is_device_path(port: str) -> bool:
    return "://" not in port


#: URL schemes of network links: a connection there can be half-open, so a silent one is reopened.
#: A serial port is not: reopening it can reset the robot's board (DTR) and cures nothing.
NETWORK_SCHEMES = ("socket://", "rfc2217://")


def reconnects_when_silent(port: str) -> bool:
    """Whether the link closes and reopens `port` when the robot says nothing for 3 heartbeats."""
    return port.startswith(NETWORK_SCHEMES)


class RobotLink:
    """One robot's serial link: ack/retry, heartbeats, reconnect. Thread-safe."""

    def __init__(
        self,
        port: str,
        *,
        name: str = "robot",
        baudrate: int = 115200,
        ack_timeout_s: float = 0.5,
        retries: int = 3,
        heartbeat_s: float = 1.0,
        missed_heartbeats: int = 3,
        reconnect_max_s: float = 5.0,
        on_event: Callable[[LinkEvent], None] | None = None,
        on_frame: Callable[[str, bytes], None] | None = None,
        kiosk_name: str = "KIOSK",
        open_serial: Callable = serial.serial_for_url,
        key: str | None = None,
        window: int = p.WINDOW,
    ):
        self.port = port
        self.name = name
        self.baudrate = baudrate
        self.ack_timeout_s = ack_timeout_s
        self.retries = retries
        self.heartbeat_s = heartbeat_s
        self.missed_heartbeats = missed_heartbeats
        self.reconnect_max_s = reconnect_max_s
        self.on_event = on_event
        self.on_frame = on_frame
        self.kiosk_name = kiosk_name
        self._open_serial = open_serial
        self.stats = LinkStats()
        self.last_error: str | None = None
        self.hello: p.Hello | None = None
        self.last_heartbeat: p.Heartbeat | None = None
        self.last_status: p.Status | None = None  # the last full STATUS (a heartbeat carries less)
        self._ser = None
        self._up = False
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._up_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self._decoder = p.StreamDecoder()
        self._encoder = p.Encoder()
        self._seq = p.SeqTracker()
        self._pending: dict[int, _Pending] = {}
        self._acked: OrderedDict[int, None] = OrderedDict()
        self._ended: OrderedDict[int, None] = OrderedDict()
        self._next_id = random.randint(1, p.MAX_COMMAND_ID // 2)
        self._rx_count = 0
        self._last_rx = 0.0
        self._last_hb_tx = 0.0
        self._hello_future: Future | None = None
        self._hello_sent = 0.0
        self.key = key
        self.window = window
        self._queue: deque[_Pending] = deque()  # waiting for a place in the window
        self.boot_id: str | None = None  # the robot's current boot, from HELLO or heartbeats
        self.incompatible: str | None = None  # why the robot cannot be used (version, key)
        self._nonce = ""
        self._offered: p.Hello | None = None  # a HELLO answer waiting for the handshake
        self._authing = False
        self._opened_at = 0.0
        self._silent_reopens = 0  # connections closed in a row because the robot said nothing
        self._reopen_at = 0.0  # the reader opens the port again no earlier than this

    @classmethod
    def from_config(cls, cfg, entry, *, port: str | None = None, **kw) -> RobotLink:
        """A link for one `cfg.robot.robots[]` entry; `port` overrides its URL (e.g. a simulator's)."""
        r = cfg.robot
        kw.setdefault("key", getattr(entry, "key", None))
        return cls(
            port or entry.port, name=entry.name, baudrate=entry.baudrate, ack_timeout_s=r.ack_timeout_s,
            retries=r.retries, heartbeat_s=r.heartbeat_s, missed_heartbeats=r.missed_heartbeats,
            reconnect_max_s=r.reconnect_max_s, **kw,
        )

    # -- public ----------------------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self._up

    @property
    def connected(self) -> bool:
        """The port is open (the robot may still be silent)."""
        return self._ser is not None

    def start(self, *, check: bool = True) -> RobotLink:
        """Start the threads. With `check`, a wrong URL or setting raises LinkConfigError at once;
        a missing device does not (the link keeps trying, as after an unplug)."""
        if check:
            self._validate()
        self._stop.clear()
        for target, tname in ((self._reader, "reader"), (self._ticker, "ticker")):
            t = threading.Thread(target=target, name=f"robot-{self.name}-{tname}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        self._threads.clear()
        with self._lock:
            self._close("stopped", report=False)
            self._fail_pending(LinkDownError("link stopped"))

    def __enter__(self) -> RobotLink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_up(self, timeout: float) -> bool:
        return self._up_event.wait(timeout)

    def new_id(self) -> int:
        with self._lock:
            i = self._next_id
            self._next_id = i % p.MAX_COMMAND_ID + 1
            return i

    def send(self, verb: str, *args: str, cmd_id: int | None = None) -> Future:
        """Send a command; the future resolves with the robot's Ack (any code)."""
        fut: Future = Future()
        if verb not in p.COMMANDS:
            fut.set_exception(p.ProtocolError(f"unknown command {verb}"))
            return fut
        cmd = p.goto(cmd_id or self.new_id(), *args[:2]) if verb == "GOTO" else p.Command(
            verb, cmd_id or self.new_id(), tuple(args))
        with self._lock:
            session = verb in ("HELLO", "AUTH")
            if not (self._up or (session and self._ser is not None)):
                fut.set_exception(LinkDownError(self.last_error or "robot link is down"))
                return fut
            fut.cmd_id = cmd.cmd_id  # type: ignore[attr-defined]
            pe = _Pending(cmd, fut, 0.0, 0.0)
            if session:
                self._transmit(pe)  # a session command never waits for the window
            else:
                self._queue.append(pe)
                self._pump()
        return fut

    def _transmit(self, pe: _Pending) -> None:
        now = time.monotonic()
        pe.sent_at = pe.first_sent = now
        pe.deadline = now + self.ack_timeout_s
        pe.rx_at_send = self._rx_count
        self._pending[pe.cmd.cmd_id] = pe
        self._write_message(pe.cmd)

    def _pump(self) -> None:
        """Send queued commands while fewer than `window` are outstanding (section 5.2)."""
        while self._queue and not self._authing and len(self._pending) < self.window:
            pe = self._queue.popleft()
            if not pe.future.done():
                self._transmit(pe)

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    def command(self, verb: str, *args: str, timeout: float | None = None) -> p.Ack:
        """Send and wait for the ack; raise RobotTimeout or LinkDownError."""
        fut = self.send(verb, *args)
        wait = timeout or (self.retries + 1) * self.ack_timeout_s + 1.0
        try:
            return fut.result(timeout=wait)
        except TimeoutError as exc:
            raise RobotTimeout(f"{verb}: no answer in {wait:.1f} s") from exc

    # -- port ------------------------------------------------------------------------------
    def _validate(self) -> None:
        try:
            serial.serial_for_url(self.port, baudrate=self.baudrate, do_not_open=True)
        except (ValueError, serial.SerialException) as exc:
            msg = describe_open_error(self.port, exc)
            self.last_error = msg
            raise LinkConfigError(msg) from exc

    def _open(self):
        kw = dict(baudrate=self.baudrate, timeout=0.05, write_timeout=0.5)
        if _is_device_path(self.port) or self.port.startswith("spy://"):
            kw["exclusive"] = True
        return self._open_serial(self.port, **kw)

    def _close(self, reason: str, *, report: bool = True) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.close()
        self._set_down(reason, report=report)

    def _set_down(self, reason: str, *, report: bool = True) -> None:
        was_up = self._up
        self._up = False
        self._up_event.clear()
        self._hello_future = None
        self.last_error = reason
        self._fail_pending(LinkDownError(reason))
        if was_up and report:
            self.stats.downs += 1
            log.warning("robot %s link down: %s", self.name, reason)
            self._emit(LinkDown(self.name, reason))

    def _fail_pending(self, exc: Exception) -> None:
        pending, self._pending = self._pending, {}
        queued, self._queue = list(self._queue), deque()
        for pe in [*pending.values(), *queued]:
            if not pe.future.done():
                pe.future.set_exception(exc)

    def _write(self, raw: bytes) -> None:
        ser = self._ser
        if ser is None:
            return
        try:
            with self._write_lock:
                ser.write(raw)
            self.stats.frames_out += 1
            self._tap("->", raw)
        except serial.SerialTimeoutException:
            self.stats.write_timeouts += 1
        except Exception as exc:  # SerialException, OSError, or a broken URL handler
            log.info("write failed: %s", exc)  # the reader notices and reconnects

    def _write_message(self, msg) -> None:
        self._write(self._encoder.message(msg))

    # -- threads -----------------------------------------------------------------------------
    def _reader(self) -> None:
        while not self._stop.is_set():
            try:
                self._read_loop()
            except Exception:  # never let the reader die: log, drop the port, start again
                log.exception("robot %s reader error", self.name)
                with self._lock:
                    self._close("internal error")
                time.sleep(0.2)

    def _read_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            ser = self._ser
            if ser is None:
                while time.monotonic() < self._reopen_at and not self._stop.is_set():
                    time.sleep(0.02)  # back-off after a silent connection (_reconnect_silent)
                try:
                    ser = self._open()
                except Exception as exc:  # pyserial raises SerialException, OSError, ValueError
                    self.stats.open_failures += 1
                    msg = describe_open_error(self.port, exc)
                    if msg != self.last_error:
                        log.warning("%s", msg)
                    with self._lock:
                        self.last_error = msg
                    self._wait_retry(failures)
                    failures += 1
                    continue
                failures = 0
                with self._lock:
                    self._ser = ser
                    self._opened_at = time.monotonic()
                    self._decoder = p.StreamDecoder()
                    self.stats.opens += 1
                    log.info("robot %s port %s open", self.name, self.port)
                    self._say_hello()
            try:
                data = ser.read(max(1, ser.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                with self._lock:
                    if self._ser is ser:
                        self._close(f"port error: {exc}")
                continue
            if data:
                self._on_bytes(data)

    def _wait_retry(self, failures: int) -> None:
        delay = min(0.1 * (2**failures), self.reconnect_max_s)
        end = time.monotonic() + delay
        existed = _is_device_path(self.port) and os.path.exists(self.port)
        while time.monotonic() < end and not self._stop.is_set():
            if _is_device_path(self.port) and not existed and os.path.exists(self.port):
                return  # the device came back (udev created the path): try at once
            time.sleep(0.05)

    def _ticker(self) -> None:
        tick = min(0.02, self.ack_timeout_s / 5)
        while not self._stop.wait(tick):
            try:
                self._tick()
            except Exception:  # keep ticking whatever happens
                log.exception("robot %s ticker error", self.name)

    def _tick(self) -> None:
        with self._lock:
            if self._ser is None:
                return
            now = time.monotonic()
            if now - self._last_hb_tx >= self.heartbeat_s:
                self._last_hb_tx = now
                self._write(self._encoder.frame("HB"))
            self._check_pending(now)
            limit = self.missed_heartbeats * self.heartbeat_s
            if self._up and now - self._last_rx > limit:
                self._set_down(f"no heartbeat from the robot for {now - self._last_rx:.1f} s")
            quiet = now - max(self._last_rx, self._opened_at)
            if quiet > limit and reconnects_when_silent(self.port):
                self._reconnect_silent(quiet)
                return
            if (not self._up and not self.incompatible and self._hello_future is None
                    and now - self._hello_sent > 1.0):
                self._say_hello()
            if self._authing and self._offered is not None and now - self._hello_sent > 2.0:
                self._refuse("the robot did not authenticate (is the same key set on the robot?)")

    def _reconnect_silent(self, quiet: float) -> None:
        """A network link with no frame for `missed_heartbeats`: the connection may be half-open
        (the robot rebooted, a cable was pulled: TCP notices only after minutes), so close it and
        connect again, after 0.1 s doubling to `reconnect_max_s` while the robot stays silent."""
        delay = min(0.1 * 2**self._silent_reopens, self.reconnect_max_s)
        self._silent_reopens += 1
        self._reopen_at = time.monotonic() + delay
        log.warning("robot %s: no frame for %.1f s on %s: reconnecting in %.1f s", self.name, quiet, self.port,
                    delay)
        self._close(f"no frame from the robot for {quiet:.1f} s: reconnecting")

    def _say_hello(self) -> None:
        self._hello_sent = time.monotonic()
        self._nonce = secrets.token_hex(4) if self.key else ""
        self._authing = bool(self.key)
        self._offered = None
        fut = self.send("HELLO", str(p.PROTOCOL_VERSION), self.kiosk_name, str(p.PROTOCOL_MINOR), self._nonce)
        self._hello_future = fut

        def done(f: Future) -> None:
            with self._lock:
                if self._hello_future is f:
                    self._hello_future = None

        fut.add_done_callback(done)

    def _check_pending(self, now: float) -> None:
        for cid, pe in list(self._pending.items()):
            if now < pe.deadline:
                continue
            if pe.attempts <= self.retries:
                pe.attempts += 1
                pe.deadline = now + self.ack_timeout_s
                self.stats.retries += 1
                log.debug("resend %s %d (attempt %d)", pe.cmd.verb, cid, pe.attempts)
                self._write_message(pe.cmd)  # same id: the robot acts on it once
                continue
            del self._pending[cid]
            self._pump()
            self.stats.timeouts += 1
            silent = self._rx_count == pe.rx_at_send
            pe.future.set_exception(RobotTimeout(f"{pe.cmd.verb} {cid}: no ack after {pe.attempts} tries"))
            if silent and self._up:
                # Nothing at all heard while retrying: the robot is gone, not just one lost ack.
                self._set_down(f"no answer to {pe.cmd.verb} after {pe.attempts} tries")

    # -- input -------------------------------------------------------------------------------
    def _on_bytes(self, data: bytes) -> None:
        with self._lock:
            frames = self._decoder.feed(data)
            self.stats.dropped = self._decoder.dropped
            for f in frames:
                self.stats.frames_in += 1
                self._tap("<-", f.encode())
                self.stats.seq_gaps += self._seq.see(f.seq)
                self._rx_count += 1  # any well-formed frame is a sign of life (section 10)
                self._last_rx = time.monotonic()
                self._silent_reopens = 0
                try:
                    msg = p.parse_robot_message(f)
                except p.ProtocolError as exc:
                    self.stats.bad_fields += 1
                    log.info("unusable %s frame (still a sign of life): %s", f.type, exc)
                    continue
                self._dispatch(msg)

    def _dispatch(self, msg) -> None:
        if isinstance(msg, p.Unknown):
            if not self.stats.unknown_types[msg.type]:
                log.warning("robot %s sends frames of unknown type %s (kept as signs of life)", self.name, msg.type)
            self.stats.unknown_types[msg.type] += 1
        elif isinstance(msg, p.Ack):
            self._resolve(msg)
        elif isinstance(msg, p.Hello):
            self._on_hello(msg)
        elif isinstance(msg, p.Auth):
            self._on_auth(msg)
        elif isinstance(msg, p.Result):
            self._goal_ended(msg.goal_id, msg.status, msg.reason)
        elif isinstance(msg, p.Heartbeat):  # Status is a Heartbeat too
            self._on_heartbeat(msg)
        elif isinstance(msg, p.Feedback | p.Waypoint) and self._up:
            self._note_unknown(getattr(msg, "motion", None), getattr(msg, "why", ""))
            self._emit(RobotUpdate(self.name, msg))

    def _note_unknown(self, *words) -> None:
        for w in words:
            if w and not p.known(w) and w not in p.Reason.__members__:
                self.stats.unknown_words[str(w)] += 1

    def _on_heartbeat(self, msg: p.Heartbeat) -> None:
        self.last_heartbeat = msg
        if isinstance(msg, p.Status):
            self.last_status = msg
        self._note_unknown(msg.state, msg.goal_status, msg.reason)
        if msg.boot_id and self._up and self.boot_id and msg.boot_id != self.boot_id:
            self._rebooted(None, msg.boot_id, str(msg.state))
        if msg.goal_id is not None:
            pe = self._pending.get(msg.goal_id)
            if pe and pe.cmd.verb in p.GOAL_COMMANDS and msg.goal_status not in (p.GoalStatus.NONE, ""):
                self.stats.implicit_acks += 1
                self._resolve(p.Ack(msg.goal_id, p.AckCode.ACCEPTED, implicit=True))
        if self._up:
            self._emit(RobotUpdate(self.name, msg))
        if msg.goal_id is not None and msg.goal_terminal:
            self._goal_ended(msg.goal_id, msg.goal_status, msg.reason)

    def _rebooted(self, hello: p.Hello | None, boot_id: str, state: str = "") -> None:
        """The robot restarted: its goals, ids and session are gone. Say HELLO again (section 12.4)."""
        log.warning("robot %s rebooted (boot %s → %s, seen in %s)", self.name, self.boot_id, boot_id,
                    "HELLO" if hello else "a heartbeat")
        self.boot_id = boot_id
        self.stats.reboots += 1
        self._emit(RobotRebooted(self.name, hello, boot_id, state))
        if hello is None or not self._answering():
            self._say_hello()

    def _resolve(self, ack: p.Ack) -> None:
        pe = self._pending.pop(ack.cmd_id, None)
        if pe is None:
            self.stats.duplicate_acks += 1  # the answer to a retry whose first ack arrived
            return
        self._acked[ack.cmd_id] = None
        while len(self._acked) > 256:
            self._acked.popitem(last=False)
        pe.future.set_result(ack)
        self._pump()

    def _answering(self) -> bool:
        """A robot HELLO now is the answer to ours (else the robot said it on its own)."""
        return time.monotonic() - self._hello_sent < max(1.0, 2 * self.ack_timeout_s)

    def _refuse(self, reason: str) -> None:
        """The robot cannot be used (wrong version or key): no more commands until it changes."""
        self.incompatible = reason
        self._offered = None
        self._authing = False
        log.error("robot %s: %s", self.name, reason)
        if self._up:
            self._set_down(reason)
        self.last_error = reason

    def _on_hello(self, hello: p.Hello) -> None:
        if hello.version != p.PROTOCOL_VERSION:  # checked on every HELLO (section 12.2)
            self._refuse(f"robot speaks protocol version {hello.version}; this kiosk speaks {p.PROTOCOL_VERSION}")
            return
        self.incompatible = None
        if not self._answering():
            # said on its own (a boot, or a robot switched on after the kiosk): answer with our
            # HELLO to start a session (and the keyed handshake); the answer brings the link up
            if self._up and hello.boot_id != self.boot_id:
                self.hello = hello
                self._rebooted(hello, hello.boot_id)
            else:
                self._say_hello()
            return
        if self.key:
            self._offered = hello  # up only once the handshake succeeds
            return
        self._accept_hello(hello)

    def _on_auth(self, msg: p.Auth) -> None:
        hello = self._offered
        if not self.key or hello is None:
            return
        want = p.robot_mac(self.key, self._nonce, msg.nonce, hello.boot_id)
        if not p.mac_equal(want, msg.mac):
            self._refuse("the robot's key is wrong (AUTH failed): check robot.robots[].key")
            return
        fut = self.send("AUTH", p.kiosk_mac(self.key, self._nonce, msg.nonce))

        def done(f: Future) -> None:
            if f.exception() is not None:
                return
            with self._lock:
                if f.result().code is p.AckCode.ACCEPTED and self._offered is hello:
                    self._authing = False
                    self._offered = None
                    self._accept_hello(hello)
                    self._pump()
                elif f.result().code is not p.AckCode.ACCEPTED:
                    self._refuse(f"the robot refused our key ({f.result().detail})")

        fut.add_done_callback(done)

    def _accept_hello(self, hello: p.Hello) -> None:
        previous = self.hello
        self.hello = hello
        rebooted = self.boot_id is not None and self.boot_id != hello.boot_id
        if self._up:
            if rebooted:
                self._rebooted(hello, hello.boot_id)
            else:
                self._emit(RobotHello(self.name, hello))
            return
        self.boot_id = hello.boot_id
        self._up = True
        self._up_event.set()
        self.last_error = None
        log.info("robot %s link up: %s boot %s, protocol %d.%d, capabilities %r, map %r", self.name, hello.model,
                 hello.boot_id, hello.version, hello.minor, hello.capabilities, hello.map_version)
        self._emit(LinkUp(self.name, hello, rebooted or (previous is not None and previous.boot_id != hello.boot_id)))
        self.send("STATQ")

    def _goal_ended(self, goal_id: int, status: p.GoalStatus, reason: str) -> None:
        if goal_id in self._ended:
            return
        self._ended[goal_id] = None
        while len(self._ended) > 256:
            self._ended.popitem(last=False)
        self._emit(GoalEnded(self.name, goal_id, status, reason))

    def _tap(self, direction: str, raw: bytes) -> None:
        if self.on_frame is None:
            return
        try:
            self.on_frame(direction, raw)
        except Exception as exc:  # a monitor's broken pipe must not break the link
            log.debug("frame tap failed: %s", exc)

    def _emit(self, event: LinkEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:
            log.exception("robot event handler failed on %s", type(event).__name__)
