"""The conformance kit: play the kiosk's side against any robot, section by section of the spec.

`run_kit(port, waypoints, dock=...)` opens the robot's port (a device path, a pty, or
``socket://host:port``), drives it through the sections of docs/robot-protocol.md section 15
and returns a `Report` (a pass/fail table a vendor can send us; ``to_dict()`` for JSON).
`kiosk robot conformance PORT` is the command-line face of it.

The kit does not use `robot.link.RobotLink`: it must do what a kiosk never does (send a
corrupt frame, repeat an id on purpose, stop its heartbeat, put four commands on the wire
in one write) and see every frame exactly as the robot sent it. It needs the robot docked,
not latched, with the centre's waypoints, and room to drive to a nearby waypoint and back.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import serial

from robot import protocol as p

log = logging.getLogger("robot.conformance")

SECTIONS = ("auth", "hello", "heartbeat", "acks", "duplicates", "window", "waypoints", "goto", "dock", "estop",
            "reboot", "link_loss", "framing")
#: Long checks, run only with `long=True` (`--long`) or when named with `--section`: the document has
#: no way to make the robot's 60 s faster, so they take real time. They run before `framing`.
LONG_SECTIONS = ("idle",)
ALL_SECTIONS = SECTIONS[:-1] + LONG_SECTIONS + SECTIONS[-1:]
IDLE_RULE_S = 60.0  # section 6.1: an ARRIVED robot returns after 60 s without a command; an IDLE one never
IDLE_WAIT_S = IDLE_RULE_S + 5.0  # how long the idle check listens (the rule's 60 s and a margin)
SPEC = {"framing": "2", "hello": "4, 4.3, 12", "heartbeat": "4.2, 10", "acks": "5.1", "duplicates": "2, 5",
        "window": "5.2", "waypoints": "7", "goto": "6, 5.1", "dock": "6, 5.1", "estop": "9",
        "reboot": "5, 9, 12.3", "link_loss": "10", "auth": "9, 13", "idle": "6.1"}
ACK_S = 0.5
ESTOP_STATUS_S = 0.2  # section 9: the STATUS of an e-stop within 0.2 s (the kit adds SLACK_S, and measures twice)
STRANGERS = 4  # section 13 (round 12): connections that never authenticate opened before the kit reconnects
REBOOT_S = 5.0  # a new boot id in HB and HELLO within this of REBOOT (12.3: a restart within 1 s, and a boot)
REBOOT_QUIET_HB = 2  # TCP: this many heartbeats without a frame after REBOOT: the kit reconnects (12.3, 13)
REBOOT_RECONNECT_S = 3.0  # ...and the new connection's session must be up within REBOOT_S and this
LINK_RECONNECT_S = 5.0  # link_loss on TCP: the new connection's session up within this
SLACK_S = 0.25  # scheduling slack on a loaded test machine, added to every deadline
DOCKED_AT_M = 0.05  # section 6.2 (round 12): FB distance while DOCKING is 0 (written 0, 0.0; or empty)


class Skip(Exception):
    """The robot does not claim this section (no capability, no key)."""


@dataclass
class SectionResult:
    name: str
    status: str = "pass"  # pass | fail | skipped
    checks: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"section": self.name, "spec": SPEC.get(self.name, ""), "status": self.status, "checks": self.checks,
                "failures": self.failures, "notes": self.notes, "seconds": round(self.seconds, 2)}


@dataclass
class Report:
    port: str
    robot: dict = field(default_factory=dict)
    sections: list[SectionResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.status != "fail" for s in self.sections)

    def to_dict(self) -> dict:
        return {"port": self.port, "robot": self.robot, "passed": self.passed,
                "sections": [s.to_dict() for s in self.sections], "notes": self.notes}

    def table(self) -> str:
        lines = [f"Conformance of {self.robot.get('model') or 'robot'} on {self.port} "
                 f"(protocol {self.robot.get('protocol', '?')}, capabilities {self.robot.get('capabilities', '?')!r})",
                 f"{'section':<11} {'spec':<10} {'result':<8} {'checks':>6}  notes"]
        for s in self.sections:
            note = "; ".join(s.failures[:2] or s.notes[:2])
            lines.append(f"{s.name:<11} {SPEC.get(s.name, ''):<10} {s.status.upper():<8} {s.checks:>6}  {note}")
        lines += self.notes
        lines.append("ALL SECTIONS PASS" if self.passed else "SOME SECTIONS FAIL")
        return "\n".join(lines)


@dataclass
class Rx:
    """One received frame, with its raw bytes and when it arrived."""

    at: float
    raw: bytes
    frame: p.Frame | None
    msg: object = None


class Wire:
    """A raw client: reads every frame, sends frames by hand, heartbeats that can be paused."""

    def __init__(self, port: str, *, baudrate: int = 115200, heartbeat_s: float = 1.0):
        self.ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0.02, write_timeout=1)
        self.heartbeat_s = heartbeat_s
        self.rx: list[Rx] = []
        self.raw_lines: list[bytes] = []
        self.cond = threading.Condition()
        self.enc = p.Encoder()
        self.hb_on = threading.Event()
        self.hb_on.set()
        self.closed = threading.Event()  # the robot closed the connection (a read failed)
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._ids = random.randint(1000, 60000)
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._read, self._beat)]
        for t in self._threads:
            t.start()

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2)
        with contextlib.suppress(Exception):
            self.ser.close()

    def new_id(self) -> int:
        self._ids = self._ids % 99000 + 1
        return self._ids

    def write(self, raw: bytes) -> None:
        with self._write_lock:
            self.ser.write(raw)

    def frame(self, type_: str, *fields) -> bytes:
        return self.enc.frame(type_, *fields)

    def send(self, verb: str, *args, cmd_id: int | None = None) -> int:
        cid = cmd_id or self.new_id()
        self.write(self.frame(verb, cid, *args))
        return cid

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if self.hb_on.is_set():
                with contextlib.suppress(Exception):
                    self.write(self.frame("HB"))

    def _read(self) -> None:
        buf = bytearray()
        dec = p.StreamDecoder()
        while not self._stop.is_set():
            try:
                data = self.ser.read(max(1, self.ser.in_waiting))
            except Exception:  # the robot closed the connection (e.g. a reboot over TCP)
                if not self.closed.is_set():
                    with self.cond:
                        self.closed.set()
                        self.cond.notify_all()
                time.sleep(0.05)
                continue
            if not data:
                continue
            buf += data
            while (i := buf.find(b"\n")) >= 0:
                line, buf = bytes(buf[: i + 1]), buf[i + 1:]
                self._line(line, dec)

    def _line(self, line: bytes, dec: p.StreamDecoder) -> None:
        start = line.rfind(b"$")
        if start < 0:
            return
        line = line[start:]
        frames = dec.feed(line)
        f = frames[0] if frames else None
        msg = None
        if f is not None:
            try:
                msg = p.parse_robot_message(f)
            except p.ProtocolError as exc:
                msg = exc
        with self.cond:
            self.raw_lines.append(line)
            self.rx.append(Rx(time.monotonic(), line, f, msg))
            self.cond.notify_all()

    def wait(self, pred: Callable[[object], bool], timeout: float, after: float = 0.0, *,
             quiet_s: float | None = None):
        """The first message (typed) received at or after `after` that satisfies `pred`, or None.

        With `quiet_s`, also None as soon as the connection is closed or nothing at all has come
        for `quiet_s` (the robot stopped talking to this connection)."""
        end = time.monotonic() + timeout
        i = 0
        with self.cond:
            while True:
                while i < len(self.rx):
                    r = self.rx[i]
                    i += 1
                    if r.at >= after and r.msg is not None and not isinstance(r.msg, Exception):
                        with contextlib.suppress(Exception):
                            if pred(r.msg):
                                return r
                left = end - time.monotonic()
                if left <= 0 or quiet_s is not None and (self.closed.is_set() or time.monotonic() - max(
                        after, self.rx[-1].at if self.rx else after) > quiet_s):
                    return None
                self.cond.wait(left if quiet_s is None else min(left, 0.1))

    def since(self, after: float) -> list[Rx]:
        with self.cond:
            return [r for r in self.rx if r.at >= after]

    def ack(self, cid: int, t0: float, timeout: float = ACK_S + SLACK_S) -> p.Ack | None:
        r = self.wait(lambda m: isinstance(m, p.Ack) and m.cmd_id == cid, timeout, t0)
        return r.msg if r else None


class Kit:
    """Runs the sections against one robot; see the module docstring."""

    def __init__(self, port: str, waypoints: dict[str, tuple[float, float]], *, dock: str = "dock",
                 key: str | None = None, baudrate: int = 115200, goal_timeout_s: float = 120.0,
                 quick: bool = False, heartbeat_s: float = 1.0, long: bool = False,
                 idle_wait_s: float = IDLE_WAIT_S):
        self.port = port
        self.long = long
        self.idle_wait_s = idle_wait_s
        self.waypoints = waypoints
        self.dock = dock
        self.key = key
        self.goal_timeout_s = goal_timeout_s
        self.quick = quick
        self.heartbeat_s = heartbeat_s
        self.wire = Wire(port, baudrate=baudrate, heartbeat_s=heartbeat_s)
        self.hello: p.Hello | None = None
        self.authed = False  # the last session() was answered (and, with a key, its AUTH accepted)
        self.report = Report(port)
        self._cur: SectionResult | None = None

    # -- checks ------------------------------------------------------------------------------
    def check(self, ok: bool, what: str) -> bool:
        self._cur.checks += 1
        if not ok:
            self._cur.failures.append(what)
            log.info("FAIL %s: %s", self._cur.name, what)
        return ok

    def note(self, text: str) -> None:
        self._cur.notes.append(text)

    def expect_ack(self, verb: str, *args, code: str, detail: str | None = None, cmd_id: int | None = None,
                   label: str = "") -> p.Ack | None:
        t0 = time.monotonic()
        cid = self.wire.send(verb, *args, cmd_id=cmd_id)
        ack = self.wire.ack(cid, t0)
        name = label or f"{verb} {','.join(map(str, args))}".strip()
        if not self.check(ack is not None, f"{name}: no ACK within {ACK_S} s"):
            return None
        got = f"{ack.code.value},{ack.detail}"
        want_detail = ack.detail if detail is None else detail
        self.check(ack.code.value == code and ack.detail == want_detail,
                   f"{name}: ACK {got}, expected {code},{want_detail}")
        return ack

    def status(self, timeout: float = 1.0) -> p.Status | None:
        t0 = time.monotonic()
        cid = self.wire.send("STATQ")
        r = self.wire.wait(lambda m: isinstance(m, p.Status), timeout + SLACK_S, t0)
        self.wire.ack(cid, t0)
        return r.msg if r else None

    def wait_state(self, states: tuple[str, ...], timeout: float) -> p.Heartbeat | None:
        r = self.wire.wait(lambda m: isinstance(m, p.Heartbeat) and str(m.state) in states, timeout,
                           time.monotonic())
        return r.msg if r else None

    def wait_result(self, gid: int, timeout: float, after: float) -> tuple[str, str] | None:
        """A goal's end from RESULT or a heartbeat naming it (whichever comes first)."""
        r = self.wire.wait(lambda m: (isinstance(m, p.Result) and m.goal_id == gid) or (
            isinstance(m, p.Heartbeat) and m.goal_id == gid and m.goal_terminal), timeout, after)
        if r is None:
            return None
        m = r.msg
        return (m.status.value, m.reason) if isinstance(m, p.Result) else (str(m.goal_status), m.reason)

    # -- session -------------------------------------------------------------------------------
    def session(self, *, extra: tuple = (), mac_override: str | None = None,
                version: object = p.PROTOCOL_VERSION) -> p.Hello | None:
        """HELLO (and the keyed handshake when a key is given); the robot's HELLO, or None."""
        nonce = secrets.token_hex(4) if self.key else ""
        self.authed = False
        t0 = time.monotonic()
        cid = self.wire.send("HELLO", version, "CONFORM", p.PROTOCOL_MINOR, nonce, *extra)
        self.wire.ack(cid, t0, 1.0)
        r = self.wire.wait(lambda m: isinstance(m, p.Hello), 1.0 + SLACK_S, t0)
        hello = r.msg if r else None
        self.authed = hello is not None and not self.key
        if hello is not None:
            self.hello = hello
        if self.key and hello is not None:
            # the AUTH answering this HELLO: its mac_R verifies with our nonce (an earlier HELLO's does not)
            a = self.wire.wait(lambda m: isinstance(m, p.Auth) and p.mac_equal(
                p.robot_mac(self.key, nonce, m.nonce, hello.boot_id), m.mac), 1.0 + SLACK_S, t0)
            if a is None:
                return hello
            mac = mac_override or p.kiosk_mac(self.key, nonce, a.msg.nonce)
            t1 = time.monotonic()
            ack = self.wire.ack(self.wire.send("AUTH", mac), t1)
            self.authed = ack is not None and ack.code.value == "ACCEPTED"
            self._last_auth = (nonce, a.msg, hello)
        return hello

    @property
    def tcp(self) -> bool:
        return self.port.startswith("socket://")

    def reconnect(self, within_s: float) -> bool:
        """A new TCP connection, HELLO and (with a key) AUTH, as robot/link.py reconnects when the
        robot closed the connection or stopped talking to it (12.3, 13 allow both after REBOOT; a
        robot serving one connection closes one silent for 3 s). Retries (a rebooting robot may
        refuse or ignore us for a while) until `within_s`; True once the new session is up. The
        old connection's frames stay in `raw_lines` for the framing section."""
        old = self.wire
        old.hb_on.clear()
        dead, wire = [old], None
        end = time.monotonic() + within_s
        while time.monotonic() < end:
            if wire is None or wire.closed.is_set():
                if wire is not None:
                    wire.close()
                    dead.append(wire)
                try:
                    wire = Wire(self.port, baudrate=old.ser.baudrate, heartbeat_s=self.heartbeat_s)
                except Exception as exc:  # refused while the robot restarts
                    log.info("reconnect: %s", exc)
                    wire = None
                    time.sleep(0.3)
                    continue
                wire._ids = old._ids + 100
                self.wire = wire
            with contextlib.suppress(Exception):  # a write to a connection closed under us
                self.session()
            if self.authed:
                break
        old.close()
        if wire is None:
            self.wire = old
            return False
        with wire.cond:
            wire.raw_lines[:0] = [line for w in dead for line in w.raw_lines]
        return self.authed

    # -- running -------------------------------------------------------------------------------
    def run(self, sections: tuple[str, ...] = SECTIONS) -> Report:
        try:
            self._start()
            wanted = set(sections) | (set(LONG_SECTIONS) if self.long else set())
            for name in ALL_SECTIONS:
                if name in wanted:
                    self._section(name)
            for name in sorted(set(LONG_SECTIONS) - wanted):
                self.report.notes.append(f"{name} ({SPEC[name]}) not run: a long check (about "
                                         f"{self.idle_wait_s + 10:.0f} s), run it with --long")
        finally:
            self.wire.close()
        return self.report

    def _start(self) -> None:
        time.sleep(0.3)
        hello = self.session()
        if hello is None:
            time.sleep(1.5)  # the robot may be booting
            hello = self.session()
        if hello is not None:
            self.report.robot = {"model": hello.model, "boot_id": hello.boot_id,
                                 "protocol": f"{hello.version}.{hello.minor}", "capabilities": hello.capabilities,
                                 "map_version": hello.map_version, "max_speed_mps": hello.speed_mps}
            st = self.status()
            if st is not None and str(st.state) not in ("DOCKED",):
                log.info("robot not docked (%s): sending it home first", st.state)
                if st.estop:
                    self.wire.send("RESET")
                self.wire.send("DOCK")
                self.wait_state(("DOCKED",), self.goal_timeout_s)

    def _section(self, name: str) -> None:
        res = SectionResult(name)
        self._cur = res
        t = time.monotonic()
        try:
            if self.hello is None and name != "framing":
                raise RuntimeError("the robot never answered HELLO")
            getattr(self, f"s_{name}")()
        except Skip as exc:
            res.status = "skipped"
            res.notes.append(str(exc))
        except Exception as exc:  # a broken robot must not break the kit: the section fails
            log.exception("section %s", name)
            res.failures.append(f"{type(exc).__name__}: {exc}")
        if res.status != "skipped" and res.failures:
            res.status = "fail"
        res.seconds = time.monotonic() - t
        self.report.sections.append(res)

    # -- sections ------------------------------------------------------------------------------
    def s_framing(self) -> None:
        import pynmea2

        lines = list(self.wire.raw_lines)
        self.check(bool(lines), "no frames received at all")
        bad = []
        for line in lines:
            text = line.decode("ascii", "replace").rstrip("\r\n")
            problems = []
            if len(line) > p.MAX_FRAME_BYTES:
                problems.append(f"{len(line)} bytes")
            if not line.endswith(b"\r\n"):
                problems.append("no CR LF")
            if "*" in text and text[-2:] != text[-2:].upper():
                problems.append("lower-case checksum")
            try:
                pynmea2.parse(text, check=True)
            except Exception as exc:  # pynmea2 raises several kinds
                problems.append(f"pynmea2: {exc}")
            if not text.startswith("$PXVK,"):
                problems.append("talker is not PXVK")
            f = p.StreamDecoder().feed(line)
            if f:
                problems += [f"number {e}" for e in p.number_form_errors(f[0])]
            if problems:
                bad.append(f"{text[:40]}: {', '.join(problems)}")
        self._cur.checks += len(lines)
        self._cur.failures += bad[:5]
        self.note(f"{len(lines)} frames checked")

    def s_auth(self) -> None:
        caps = self.hello.capabilities
        if not self.key:
            if "A" in caps:
                self.check(False, "the robot requires the keyed handshake (capability A): give --key")
                return
            raise Skip("no key given (keyed link not tested)")
        nonce = secrets.token_hex(4).upper()  # upper-case digits are accepted and used as sent (13)
        t0 = time.monotonic()
        self.wire.send("HELLO", p.PROTOCOL_VERSION, "CONFORM", p.PROTOCOL_MINOR, nonce)
        h = self.wire.wait(lambda m: isinstance(m, p.Hello), 1.0 + SLACK_S, t0)
        a = self.wire.wait(lambda m: isinstance(m, p.Auth), 1.0 + SLACK_S, t0)
        if not self.check(h is not None and a is not None, "HELLO with a nonce: no HELLO and AUTH from the robot"):
            return
        self.check(p.mac_equal(p.robot_mac(self.key, nonce, a.msg.nonce, h.msg.boot_id), a.msg.mac),
                   "the robot's mac_R does not verify with our key")
        self.expect_ack("STATQ", code="DENIED", detail="AUTH_REQUIRED", label="STATQ before AUTH")
        # 9, 5.1 (round 12): the authentication row comes first, ESTOP included: a stranger cannot latch
        self.expect_ack("ESTOP", code="DENIED", detail="AUTH_REQUIRED", label="ESTOP before AUTH")
        self.expect_ack("AUTH", "0" * 16, code="DENIED", detail="AUTH_FAILED", label="AUTH with a wrong mac")
        self.expect_ack("AUTH", p.kiosk_mac(self.key, nonce, a.msg.nonce), code="DENIED", detail="AUTH_FAILED",
                        label="a second AUTH try on the same nonces")
        self.session()
        st = self.status()
        self.check(st is not None and not st.estop, "an ESTOP before AUTH latched the e-stop (9, 5.1: the "
                                                    "authentication row comes first)")
        if st is not None and st.estop:
            self.wire.send("RESET")
        self.expect_ack("STATQ", code="ACCEPTED", label="STATQ after AUTH")
        if self.port.startswith("socket://"):
            self._takeover()
        else:
            self.note("a serial line: the second-connection check is for TCP")

    def _takeover(self) -> None:
        """13: a kiosk whose connection went half-open (its PC rebooted, a cable pulled) connects
        again; the robot closes the old connection when the new one authenticates (or, serving one
        connection at a time, after 3 s without a frame on it). The kit's connection goes silent
        without closing, a second one says HELLO and AUTH: within 3 heartbeats and a margin the
        second is served and the first is closed. The second then carries the rest of the run."""
        strangers = self._strangers()
        first = self.wire
        first.hb_on.clear()  # silent but open, as a half-open connection is
        t0 = time.monotonic()
        self.wire = Wire(self.port, baudrate=first.ser.baudrate, heartbeat_s=self.heartbeat_s)
        self.wire._ids = first._ids + 100
        limit = 3 * self.heartbeat_s + 1.5 + SLACK_S
        hello = None
        while hello is None and time.monotonic() - t0 < limit:
            hello = self.session()
        ok = self.check(hello is not None, f"a second connection (the first silent) was not answered within "
                                            f"{limit:.1f} s")
        if ok:
            self.expect_ack("STATQ", code="ACCEPTED", label="STATQ on the second connection after its AUTH")
        closed = first.closed.wait(max(0.0, limit - (time.monotonic() - t0)) + 1.0)
        self.check(closed, "the first connection was not closed when a second one authenticated (13)")
        if ok:
            self.note(f"second connection served {time.monotonic() - t0:.1f} s after the first went silent")
        with first.cond:
            self.wire.raw_lines[:0] = first.raw_lines
        first.close()
        for w in strangers:
            w.close()

    def _strangers(self) -> list[Wire]:
        """13 (round 12): connections that never authenticate must not lock the kiosk out. Opens
        STRANGERS connections that say HELLO without a nonce and then nothing. A robot that
        answers them serves several connections: they stay open while the kit reconnects, and the
        robot must make room (close the oldest unauthenticated one). A robot that answers none
        serves one connection at a time: they are closed again (its rule is the 3 s close)."""
        wires: list[Wire] = []
        for _ in range(STRANGERS):
            try:
                w = Wire(self.port, baudrate=self.wire.ser.baudrate, heartbeat_s=self.heartbeat_s)
            except Exception as exc:  # refused: the robot limits connections at accept
                log.info("stranger connection refused: %s", exc)
                break
            w.hb_on.clear()
            w._ids = self.wire._ids + 500 + 10 * len(wires)
            wires.append(w)
            t0 = time.monotonic()
            w.ack(w.send("HELLO", p.PROTOCOL_VERSION, "STRANGER", p.PROTOCOL_MINOR, ""), t0, 1.0)
        answered = sum(1 for w in wires if any(isinstance(r.msg, p.Ack) for r in w.since(0.0)))
        if answered:
            self.note(f"{answered} of {STRANGERS} connections that never authenticate were open while the "
                      f"kit reconnected (13)")
            return wires
        for w in wires:
            w.close()
        self.note("no answer on a second connection while the first is served: one connection at a time "
                  "(13); the never-authenticating connections were closed again")
        return []

    def s_hello(self) -> None:
        h = self.hello
        self.check(h.version == p.PROTOCOL_VERSION, f"HELLO version {h.version}, expected 1")
        self.check(h.minor >= 1, f"HELLO minor version {h.minor}: a 1.0 robot (1.1 fields missing)")
        self.check(p.valid_token(h.boot_id) and len(h.boot_id) <= 8, f"boot id {h.boot_id!r}: 1-8 name characters")
        t0 = time.monotonic()
        again = self.session(extra=("FUTURE_FIELD",))
        if not self.check(again is not None, "a HELLO with an extra trailing field was not answered"):
            return
        self.check(again.boot_id == h.boot_id, f"boot id changed between two HELLOs ({h.boot_id} → {again.boot_id})")
        st = self.wire.wait(lambda m: isinstance(m, p.Status), 1.0 + SLACK_S, t0)
        self.check(st is not None, "no STATUS after HELLO")
        for version, what in (("", "an empty"), ("x", "a malformed")):  # 4.3, 5.1 (round 12): any version
            h2 = self.session(version=version)
            self.check(h2 is not None and (self.authed or not self.key),
                       f"a kiosk HELLO with {what} version ({version!r}) was not answered (5.1: always ACCEPTED)")
            if h2 is not None:
                self.check(h2.version == p.PROTOCOL_VERSION, f"HELLO answering {what} version: version {h2.version}")
        if not self.authed:
            self.session()

    def s_heartbeat(self) -> None:
        t0 = time.monotonic()
        time.sleep(3.6 * self.heartbeat_s)
        hbs = [r for r in self.wire.since(t0) if type(r.msg) is p.Heartbeat]
        if not self.check(len(hbs) >= 3, f"{len(hbs)} heartbeats in {3.6 * self.heartbeat_s:.1f} s"):
            return
        gaps = [b.at - a.at for a, b in zip(hbs, hbs[1:], strict=False)]
        self.check(max(gaps) <= 1.3 * self.heartbeat_s + SLACK_S, f"heartbeat gap {max(gaps):.2f} s (max 1.3 s)")
        for r in hbs:
            m = r.msg
            self.check(m.boot_id == self.hello.boot_id, f"HB boot id {m.boot_id!r}, HELLO said {self.hello.boot_id!r}")
            self.check(p.known(m.state), f"HB state {m.state!r} is not a 1.1 state")
            self.check(p.known(m.goal_status), f"HB goal status {m.goal_status!r} is not a 1.1 status")
        self.note(f"{len(hbs)} heartbeats, gaps {min(gaps):.2f}-{max(gaps):.2f} s")

    def s_acks(self) -> None:
        e = self.expect_ack
        e("STATQ", code="ACCEPTED")
        e("CHECK", self.dock, code="ACCEPTED")
        e("CHECK", "nowhere_xyz", code="DENIED", detail="UNKNOWN_WAYPOINT")
        e("CHECK", "", code="FAILED", detail="BAD_ARGUMENT", label="CHECK with an empty waypoint")
        e("CANCEL", code="ACCEPTED", detail=p.NO_GOAL, label="CANCEL with nothing active")
        e("CANCEL", "99999", code="ACCEPTED", detail=p.NO_GOAL, label="CANCEL of a goal id that is not active")
        e("RESET", code="ACCEPTED", detail=p.NOT_LATCHED, label="RESET with nothing latched")
        e("GOTO", "nowhere_xyz", code="DENIED", detail="UNKNOWN_WAYPOINT")
        e("GOTO", "", code="FAILED", detail="BAD_ARGUMENT", label="GOTO with an empty waypoint")
        e("GOTO", "no such name", code="FAILED", detail="BAD_ARGUMENT", label="GOTO with a malformed waypoint")
        e("CANCEL", "abc", code="FAILED", detail="BAD_ARGUMENT", label="CANCEL with a malformed goal id")
        e("FROB", code="UNSUPPORTED", detail="FROB", label="an unknown command")
        if self.hello.can("S"):
            e("SAY", "FOLLOW_ME", code="ACCEPTED")
            e("SAY", "NO_SUCH_PHRASE", code="FAILED", detail="BAD_ARGUMENT")
        else:
            e("SAY", "FOLLOW_ME", code="UNSUPPORTED", detail="SAY", label="SAY without capability S")
        t0 = time.monotonic()
        ack = e("DOCK", code="ACCEPTED", label="DOCK while docked")
        if ack:
            self.check(self.wait_result(ack.cmd_id, 1.0 + SLACK_S, t0) == ("SUCCEEDED", ""),
                       "DOCK while docked: no RESULT SUCCEEDED at once")
        t0 = time.monotonic()
        ack = e("GOTO", self.dock, code="ACCEPTED", label="GOTO to where it stands (the dock)")
        if ack:
            self.check(self.wait_result(ack.cmd_id, 1.0 + SLACK_S, t0) == ("SUCCEEDED", ""),
                       "GOTO to where it stands: no RESULT SUCCEEDED at once")
            st = self.status()
            self.check(st is not None and str(st.state) == "DOCKED", "GOTO dock while docked: not DOCKED any more")

    def s_duplicates(self) -> None:
        cid = self.wire.new_id()
        t0 = time.monotonic()
        first = self.expect_ack("GOTO", self.dock, code="ACCEPTED", cmd_id=cid, label="GOTO dock (first)")
        second = self.expect_ack("GOTO", self.dock, code="ACCEPTED", cmd_id=cid, label="the same id again")
        time.sleep(0.6)
        results = [r for r in self.wire.since(t0) if isinstance(r.msg, p.Result) and r.msg.goal_id == cid]
        self.check(first is not None and second is not None and len(results) == 1,
                   f"a repeated id was executed again ({len(results)} RESULTs for one id)")
        cid = self.wire.new_id()
        self.expect_ack("CHECK", "nowhere_xyz", code="DENIED", detail="UNKNOWN_WAYPOINT", cmd_id=cid)
        self.expect_ack("CHECK", self.dock, code="DENIED", detail="UNKNOWN_WAYPOINT", cmd_id=cid,
                        label="another command with a used id (the id alone decides: the first ack again)")
        cid = self.wire.new_id()
        good = self.wire.frame("STATQ", cid)
        bad = good[:-4] + (b"00" if good[-4:-2] != b"00" else b"11") + b"\r\n"
        t0 = time.monotonic()
        self.wire.write(bad)
        self.check(self.wire.ack(cid, t0, 1.0) is None, "a frame with a wrong checksum was answered")
        self.expect_ack("STATQ", code="ACCEPTED", cmd_id=cid, label="the same id, intact, after a corrupt frame")

    def s_window(self) -> None:
        names = [n for n in self.waypoints if p.valid_token(n)][:3]
        cmds = [("STATQ",)] + [("CHECK", n) for n in names]
        ids = [self.wire.new_id() for _ in cmds]
        raw = b"".join(self.wire.frame(c[0], i, *c[1:]) for c, i in zip(cmds, ids, strict=True))
        t0 = time.monotonic()
        self.wire.write(raw)
        acks = [self.wire.ack(i, t0, ACK_S + 2 * SLACK_S) for i in ids]
        self.check(all(a is not None for a in acks), f"{sum(a is None for a in acks)} of 4 back-to-back commands "
                                                     "not acknowledged within 0.5 s")
        order = [r.msg.cmd_id for r in self.wire.since(t0) if isinstance(r.msg, p.Ack) and r.msg.cmd_id in ids]
        self.check(order == ids, f"acks out of order: {order}")

    def s_waypoints(self) -> None:
        self.note(f"map version {self.hello.map_version or '(none)'}")
        names = [n for n in self.waypoints if p.valid_token(n)]
        if self.hello.can("W"):
            t0 = time.monotonic()
            ack = self.expect_ack("WPQ", code="ACCEPTED")
            if ack is None:
                return
            time.sleep(2.0)
            wps = {r.msg.name: r.msg for r in self.wire.since(t0) if isinstance(r.msg, p.Waypoint)}
            self.check(ack.detail.isdigit() and len(wps) == int(ack.detail),
                       f"WPQ said {ack.detail!r} waypoints, {len(wps)} WP frames came")
            for n in names:
                if self.check(n in wps, f"waypoint {n} missing from the robot's list") and wps[n].x is not None:
                    x, y = self.waypoints[n]
                    d = math.hypot(wps[n].x - x, wps[n].y - y)
                    self.check(d <= 0.5, f"waypoint {n} is {d:.1f} m from its configured position")
            return
        self.note("no capability W: CHECK for each waypoint")
        for n in names:
            self.expect_ack("CHECK", n, code="ACCEPTED")

    def _targets(self) -> list[str]:
        dx, dy = self.waypoints[self.dock]
        others = [n for n in self.waypoints if n != self.dock and p.valid_token(n)]
        return sorted(others, key=lambda n: math.hypot(self.waypoints[n][0] - dx, self.waypoints[n][1] - dy))

    def _distance(self, name: str) -> float:
        (ax, ay), (bx, by) = self.waypoints[self.dock], self.waypoints[name]
        return math.hypot(bx - ax, by - ay)

    def s_goto(self) -> None:
        targets = self._targets()
        if not self.check(len(targets) >= 2, "need two waypoints besides the dock"):
            return
        target, other = targets[0], targets[1]
        if self.quick:  # it is cancelled on the way: take one it cannot reach before that
            speed = self.hello.speed_mps or 0.5
            far = [n for n in targets if self._distance(n) / speed >= 4.0]
            target = far[0] if far else targets[-1]
            other = next(n for n in targets if n != target)
        t0 = time.monotonic()
        ack = self.expect_ack("GOTO", target, code="ACCEPTED")
        if ack is None:
            return
        gid = ack.cmd_id
        hb = self.wire.wait(lambda m: type(m) is p.Heartbeat and m.goal_id == gid, 1.5 + SLACK_S, t0)
        self.check(hb is not None and (hb.msg.goal_active or hb.msg.goal_terminal),
                   "no heartbeat naming the goal within 1.5 s")
        if hb is not None and not hb.msg.goal_terminal:
            self.check(str(hb.msg.goal_status) == "ACTIVE", f"running goal status {hb.msg.goal_status!r}, not ACTIVE")
            self.check(str(hb.msg.state) == "GUIDING", f"state {hb.msg.state!r} while guiding")
        self.expect_ack("GOTO", other, code="BUSY", label="a second GOTO while one is active")
        t_hello = time.monotonic()
        self.session()  # a new session (a kiosk reconnecting): the goal goes on (5)
        hb = self.wire.wait(lambda m: type(m) is p.Heartbeat and m.goal_id == gid, 1.5 + SLACK_S, t_hello)
        self.check(hb is not None and str(hb.msg.goal_status) in ("ACTIVE", "SUCCEEDED"),
                   f"a HELLO during the goal ended it: {hb and hb.msg.goal_status} {hb and hb.msg.reason}")
        self._feedback(gid, t0, target)
        if self.quick:
            self.expect_ack("CANCEL", gid, code="ACCEPTED", detail="", label="CANCEL of the running goal")
            end = self.wait_result(gid, 1.0 + SLACK_S, t0)
            self.check(end is not None and end[0] == "CANCELED", f"CANCEL: result {end}, expected CANCELED")
            return
        end = self.wait_result(gid, self.goal_timeout_s, t0)
        self.check(end == ("SUCCEEDED", ""), f"GOTO {target}: result {end}, expected SUCCEEDED")
        st = self.status()
        self.check(st is not None and str(st.state) == "ARRIVED" and st.waypoint == target,
                   f"after arriving: state {st and st.state}, waypoint {st and st.waypoint!r}")
        t1 = time.monotonic()
        again = self.expect_ack("GOTO", target, code="ACCEPTED", label="GOTO to where it stands")
        if again:
            self.check(self.wait_result(again.cmd_id, 1.0 + SLACK_S, t1) == ("SUCCEEDED", ""),
                       "GOTO to where it stands: no RESULT SUCCEEDED at once")

    def _feedback(self, gid: int, t0: float, target: str) -> None:
        travel = self._distance(target) / (self.hello.speed_mps or 0.5)
        time.sleep(min(3.0, max(1.5, 0.8 * travel)))
        fbs = [r for r in self.wire.since(t0) if isinstance(r.msg, p.Feedback) and r.msg.goal_id == gid]
        if not self.check(len(fbs) >= 2, f"{len(fbs)} FB frames in the first seconds of the goal"):
            return
        span = fbs[-1].at - fbs[0].at
        rate = (len(fbs) - 1) / span if span > 0 else 0
        self.check(0.8 <= rate <= 2.5, f"FB at {rate:.1f} Hz (1-2 Hz)")
        ds = [r.msg.distance_m for r in fbs if r.msg.distance_m is not None]
        self.check(len(ds) >= 2 and ds[-1] < ds[0], f"FB distance does not decrease: {ds[:3]}…{ds[-2:]}")
        self.check(all(str(r.msg.motion) in ("MOVING", "WAITING", "RECOVERING") for r in fbs),
                   "FB motion word is not MOVING/WAITING/RECOVERING")

    def s_dock(self) -> None:
        st = self.status()
        if st is not None and str(st.state) == "DOCKED":
            target = self._targets()[0]
            t0 = time.monotonic()
            ack = self.expect_ack("GOTO", target, code="ACCEPTED", label="GOTO (to leave the dock)")
            if ack:
                self.wait_result(ack.cmd_id, self.goal_timeout_s, t0)
        t0 = time.monotonic()
        first = self.expect_ack("DOCK", code="ACCEPTED")
        if first is None:
            return
        self.check(self.wait_state(("RETURNING", "DOCKING"), 2.0) is not None, "DOCK: not RETURNING or DOCKING")
        second = self.expect_ack("DOCK", code="ACCEPTED", label="DOCK while returning")
        if second is None:
            return
        end1 = self.wait_result(first.cmd_id, 1.5 + SLACK_S, t0)
        self.check(end1 is not None and end1[0] == "CANCELED", f"first DOCK goal: {end1}, expected CANCELED")
        end2 = self.wait_result(second.cmd_id, self.goal_timeout_s, t0)
        self.check(end2 == ("SUCCEEDED", ""), f"DOCK: result {end2}, expected SUCCEEDED")
        self._docking_feedback(second.cmd_id, t0)
        st = self.status()
        self.check(st is not None and str(st.state) == "DOCKED", f"after DOCK: state {st and st.state}")

    def _docking_feedback(self, gid: int, t0: float) -> None:
        """6.2 (round 12): while DOCKING the goal's FB goes on with distance 0 (or empty)."""
        docking, bad, seen = False, [], 0
        for r in self.wire.since(t0):
            m = r.msg
            if isinstance(m, p.Heartbeat):
                docking = str(m.state) == "DOCKING"
            elif isinstance(m, p.Result) and m.goal_id == gid:
                break
            elif docking and isinstance(m, p.Feedback) and m.goal_id == gid:
                seen += 1
                if m.distance_m is not None and m.distance_m > DOCKED_AT_M:
                    bad.append(m.distance_m)
        self.check(not bad, f"FB while DOCKING gave distance {bad[0] if bad else ''} m, expected 0 or empty (6.2)")
        self.note(f"{seen} FB while DOCKING")

    def s_estop(self) -> None:
        """9: ACK, then the STATUS (state ESTOP, estop 1) within 0.2 s. The kit measures from its
        own write and adds SLACK_S for the line and both machines; a late STATUS is measured once
        more (RESET, ESTOP) so that a loaded test machine's hiccup is not a robot's failure."""
        late = []
        for attempt in (1, 2):
            t0 = time.monotonic()
            self.expect_ack("ESTOP", code="ACCEPTED", label="ESTOP" if attempt == 1 else "ESTOP (measured again)")
            st = self.wire.wait(lambda m: isinstance(m, p.Status) and m.estop, 1.0, t0)  # from the write
            if st is not None:
                self.check(str(st.msg.state) == "ESTOP", f"STATUS with estop 1 says state {st.msg.state}")
            if st is not None and st.at - t0 <= ESTOP_STATUS_S + SLACK_S:
                break
            late.append(f"{st.at - t0:.2f} s" if st else "none within 1 s")
            if attempt == 1:
                self.expect_ack("RESET", code="ACCEPTED", detail="", label="RESET before measuring again")
        self.check(len(late) < 2, f"no STATUS with estop 1 within {ESTOP_STATUS_S} s of ESTOP, twice "
                                  f"({', '.join(late)}; the kit allows {SLACK_S} s more for the line)")
        if len(late) == 1:
            self.note(f"the first e-stop STATUS came late ({late[0]}); the second in time")
        self.expect_ack("GOTO", self._targets()[0], code="DENIED", detail="ESTOP_ACTIVE", label="GOTO while latched")
        self.expect_ack("DOCK", code="DENIED", detail="ESTOP_ACTIVE", label="DOCK while latched")
        self.expect_ack("ESTOP", code="ACCEPTED", detail="", label="ESTOP while latched")
        self.expect_ack("RESET", code="ACCEPTED", detail="", label="RESET of the latch")
        st = self.status()
        self.check(st is not None and not st.estop and str(st.state) in ("DOCKED", "IDLE"),
                   f"after RESET: state {st and st.state}, estop {st and st.estop}")

    def s_reboot(self) -> None:
        if not self.hello.can("R"):
            raise Skip("no capability R (REBOOT not implemented)")
        old = self.hello.boot_id
        self.expect_ack("ESTOP", code="ACCEPTED", label="ESTOP before the reboot")
        t0 = time.monotonic()
        if self.expect_ack("REBOOT", code="ACCEPTED") is None:
            return
        def new_hb(m):
            return type(m) is p.Heartbeat and m.boot_id and m.boot_id != old
        quiet = REBOOT_QUIET_HB * self.heartbeat_s + SLACK_S if self.tcp else None
        hb = self.wire.wait(new_hb, REBOOT_S, t0, quiet_s=quiet)
        if hb is None and self.tcp and time.monotonic() - t0 < REBOOT_S:
            # 12.3 / 13: on TCP the robot MAY close the connection or stop talking to it (it is no
            # longer authenticated): a new connection with HELLO and AUTH, as the kiosk's link does
            why = "closed the connection" if self.wire.closed.is_set() else "went quiet on the connection"
            if not self.check(self.reconnect(t0 + REBOOT_S + REBOOT_RECONNECT_S - time.monotonic()),
                              f"after REBOOT the robot {why} and a new connection got no session within "
                              f"{REBOOT_S + REBOOT_RECONNECT_S:.0f} s"):
                return
            self.note(f"after REBOOT the robot {why}: the kit reconnected (12.3, 13)")
            hb = self.wire.wait(new_hb, 1.3 * self.heartbeat_s + SLACK_S, t0)
            hello = self.wire.wait(lambda m: isinstance(m, p.Hello) and m.boot_id != old, 0.0, t0)
            self.check(hb is not None, "no heartbeat with a new boot id on the new connection after REBOOT")
        else:
            self.check(hb is not None, f"no heartbeat with a new boot id within {REBOOT_S:.0f} s of REBOOT")
            hello = self.wire.wait(lambda m: isinstance(m, p.Hello), REBOOT_S, t0)
        self.check(hello is not None and hello.msg.boot_id != old, "no HELLO with a new boot id after REBOOT")
        if hb is not None:
            self.check(str(hb.msg.state) == "ESTOP", f"after the reboot: state {hb.msg.state}, latch lost")
        self.session()
        st = self.status()
        self.check(st is not None and st.estop, "after the reboot STATUS says estop 0: the latch did not survive")
        # 5, 12.3 (round 12): a reboot forgets the goals: heartbeats of the new boot name none
        named = [r.msg for r in self.wire.since(t0) if isinstance(r.msg, p.Heartbeat) and r.msg.boot_id
                 and r.msg.boot_id != old and (r.msg.goal_id is not None or str(r.msg.goal_status) != "NONE")]
        self.check(not named, f"after the reboot a heartbeat names goal {named[0].goal_id if named else ''} "
                              f"{named[0].goal_status if named else ''}: expected an empty id and NONE (5, 12.3)")
        self.expect_ack("RESET", code="ACCEPTED", detail="", label="RESET after the reboot")
        st = self.status()  # 12.3 (round 12): rebooted on its dock, it comes up docked
        self.check(st is not None and str(st.state) == "DOCKED",
                   f"rebooted on its dock: after RESET state {st and st.state}, expected DOCKED (12.3)")
        self.wire.send("DOCK")
        self.wait_state(("DOCKED",), self.goal_timeout_s)

    def s_idle(self) -> None:
        """6.1: an IDLE robot that hears the kiosk MUST NOT move by itself (the 60 s return is for
        ARRIVED only). Drive to the nearest waypoint, ESTOP and RESET there (state IDLE), then send
        nothing but heartbeats for `idle_wait_s` (60 s and a margin): the robot must stay put."""
        target = self._targets()[0]
        t0 = time.monotonic()
        ack = self.expect_ack("GOTO", target, code="ACCEPTED", label="GOTO (to leave the dock)")
        if ack is None:
            return
        try:
            end = self.wait_result(ack.cmd_id, self.goal_timeout_s, t0)
            if not self.check(end == ("SUCCEEDED", ""), f"GOTO {target}: result {end}, expected SUCCEEDED"):
                return
            self.expect_ack("ESTOP", code="ACCEPTED", label="ESTOP at the waypoint")
            self.expect_ack("RESET", code="ACCEPTED", detail="", label="RESET at the waypoint (state IDLE)")
            before = self.status()
            if not self.check(before is not None and str(before.state) == "IDLE",
                              f"after RESET away from the dock: state {before and before.state}, expected IDLE"):
                return
            t1 = time.monotonic()
            left = self.wire.wait(lambda m: type(m) is p.Heartbeat and str(m.state) != "IDLE", self.idle_wait_s, t1)
            if left is not None:
                self.check(False, f"IDLE robot moved by itself {left.at - t1:.0f} s after RESET: state "
                                  f"{left.msg.state} (6.1: only ARRIVED returns)")
                return
            self._cur.checks += 1
            after = self.status()
            moved = (after is None or after.x is None or before.x is None
                     or math.hypot(after.x - before.x, after.y - before.y) > 0.05)
            self.check(after is not None and str(after.state) == "IDLE" and not moved,
                       f"after {self.idle_wait_s:.0f} s of heartbeats: state {after and after.state}, "
                       f"position {before.x},{before.y} -> {after and after.x},{after and after.y}")
            self.note(f"stayed IDLE at {target} for {time.monotonic() - t1:.0f} s of kiosk heartbeats")
        finally:
            self.wire.send("DOCK")
            self.wait_state(("DOCKED",), self.goal_timeout_s)

    def s_link_loss(self) -> None:
        speed = self.hello.speed_mps or 0.5
        far = [n for n in self._targets() if self._distance(n) / speed >= 5.0]
        target = far[0] if far else self._targets()[-1]
        t0 = time.monotonic()
        ack = self.expect_ack("GOTO", target, code="ACCEPTED")
        if ack is None:
            return
        time.sleep(0.5)
        self.wire.hb_on.clear()
        t_quiet = time.monotonic()
        end = self.wait_result(ack.cmd_id, 4.5, t0)
        quiet = time.monotonic() - t_quiet
        self.wire.hb_on.set()
        if not self.tcp:
            self.session()
        else:  # 13: a robot serving one connection at a time closes one silent for 3 s
            self.authed = False
            if not self.wire.closed.is_set():
                with contextlib.suppress(Exception):  # closed under us
                    self.session()
            if not self.authed:
                why = "closed the connection" if self.wire.closed.is_set() else "no longer answered HELLO"
                if not self.check(self.reconnect(LINK_RECONNECT_S),
                                  f"after the kit's silence the robot {why} and a new connection got no "
                                  f"session within {LINK_RECONNECT_S:.0f} s"):
                    return
                self.note(f"after the kit's silence the robot {why}: the kit reconnected (13)")
        if end is None:
            end = self.wait_result(ack.cmd_id, 2.0, t0)
        self.check(end in (("ABORTED", "LINK_LOST"), ("SUCCEEDED", "")),
                   f"kiosk silent for {quiet:.1f} s: goal {end}, expected ABORTED,LINK_LOST")
        self.check(self.wait_state(("RETURNING", "DOCKING", "DOCKED"), 2.0) is not None,
                   "without the kiosk the robot did not return to its dock")
        self.check(self.wait_state(("DOCKED",), self.goal_timeout_s) is not None, "the robot never docked")


def run_kit(port: str, waypoints: dict[str, tuple[float, float]], *, sections: tuple[str, ...] = SECTIONS,
            **kw) -> Report:
    """Run the kit against the robot on `port`; see `Kit`."""
    return Kit(port, waypoints, **kw).run(sections)


def run_from_config(cfg, port: str, *, robot: str | None = None, **kw) -> Report:
    """The kit with the centre's waypoints and the robot's dock and key from config.yaml."""
    entry = next((r for r in cfg.robot.robots if robot in (None, r.name)), None)
    kw.setdefault("dock", entry.dock if entry else "dock")
    kw.setdefault("key", getattr(entry, "key", None) if entry else None)
    kw.setdefault("baudrate", entry.baudrate if entry else 115200)
    kw.setdefault("heartbeat_s", cfg.robot.heartbeat_s)
    waypoints = {n: (w.x, w.y) for n, w in cfg.floor_map.waypoints.items()}
    return run_kit(port, waypoints, **kw)
