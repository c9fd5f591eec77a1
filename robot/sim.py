"""A simulated guide robot: the reference implementation of the robot side of the protocol.

`SimRobot` is the robot's behaviour, driven only by frames and a clock (no I/O): waypoints
with x, y from config, straight-line motion at a set speed, battery drain and charging,
docking, a latched emergency stop, duplicate-id suppression, the kiosk-heartbeat watchdog
(stop, then return to dock) and fault flags (stall, reboot, blocked waypoint, busy).

`SimServer` serves a `SimRobot` on a pseudo-terminal (os.openpty, reached through a stable
symlink, as udev's /dev/serial/by-id names are) or on a TCP port, and injects transport
faults: dropped, corrupted and delayed frames in both directions. `unplug()` closes the pty
master and removes the symlink, as pulling a USB adapter does; `replug()` brings it back.

`start_simulator(cfg)` starts one in-process for `kiosk run` (the configured port "sim");
`kiosk robot sim` runs one in the foreground and prints its port.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import random
import select
import socket
import tempfile
import threading
import time
import tty
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from robot import protocol as p
from robot.protocol import AckCode, GoalStatus, Reason, RobotState

log = logging.getLogger("robot.sim")

SIM_PORT = "sim"
LOW_BATTERY_PCT = 15.0
CRITICAL_BATTERY_PCT = 10.0
ID_MEMORY = 64


@dataclass
class Faults:
    """Transport and behaviour faults to inject (probabilities per frame, both directions)."""

    drop: float = 0.0
    corrupt: float = 0.0
    delay_ms: float = 0.0
    stall_after: int | None = None  # stop answering after N commands
    reboot_after: int | None = None  # reboot shortly after the N-th command
    block: frozenset[str] = frozenset()  # waypoints whose path is blocked half-way
    seed: int | None = None
    stuck_after_s: float | None = None  # s into a GOTO: stops moving, still reports MOVING (a stall)
    visitor_lost_after_s: float | None = None  # s into a GOTO: the visitor stops following
    drop_hello: bool = False  # the HELLO sent on its own after a reboot is lost
    chatter: bool = False  # also sends a vendor frame (XDIAG) twice a second
    no_heartbeat: bool = False  # sends no HB (only STATUS, FB, XDIAG...)
    empty_fields: bool = False  # battery, eta, heading and max speed left empty
    unknown_state: str | None = None  # reports this state word instead of IDLE/DOCKED
    legacy: bool = False  # speaks version 1.0 only: no 1.1 fields, no WPQ/AUTH/REBOOT
    single_connection: bool = False  # TCP: one connection at a time, a silent one never closed (before round 11)
    idle_returns: bool = False  # also returns home from IDLE after idle_return_s without a command (6.1 forbids it)
    close_on_reboot: bool = False  # TCP: closes every connection at REBOOT (12.3 MAY)
    quiet_to_strangers: bool = False  # TCP keyed: HB, STATUS and HELLO only to an authenticated connection (13 MAY)
    close_silent_s: float | None = None  # TCP: closes a connection this long without a frame (13, one at a time)
    ignore_reboot: bool = False  # acknowledges REBOOT but never reboots (breaks 12.3)
    ignore_link_loss: bool = False  # goes on with its goal when the kiosk's heartbeat stops (breaks 10)


@dataclass
class _Goal:
    goal_id: int | None  # None: the robot's own return to dock
    kind: str  # GOTO | DOCK
    target: str
    start: tuple[float, float]
    status: GoalStatus = GoalStatus.ACTIVE
    reason: str = ""
    started: float = 0.0
    lost_since: float | None = None  # the visitor stopped following at
    via: list = field(default_factory=list)  # corners still to pass before the target (a walking route)


@dataclass
class _Session:
    """One connection's session (a pty has one for ever; TCP one per connection, section 13).

    `authed`: the connection is authenticated (keyed link), or, with no key, has said HELLO: it
    is the connection that gets the robot's HB, FB and RESULT. `seen`: the command ids acted on.
    """

    authed: bool = False
    kiosk_nonce: str = ""
    robot_nonce: str = ""
    seen: OrderedDict = field(default_factory=OrderedDict)

    def reset(self) -> None:
        self.authed = False
        self.kiosk_nonce = self.robot_nonce = ""
        self.seen.clear()


@dataclass
class SimRobot:
    """The robot's behaviour. `handle(frame, now)` and `tick(now)` return messages to send."""

    waypoints: dict[str, tuple[float, float]]
    dock: str = "dock"
    speed_mps: float = 0.7
    dock_s: float = 2.0
    boot_s: float = 1.0
    heartbeat_s: float = 1.0
    missed_heartbeats: int = 3
    feedback_hz: float = 2.0
    idle_return_s: float = 60.0
    battery_drain_pct_per_m: float = 0.05
    charge_pct_per_s: float = 0.5
    faults: Faults = field(default_factory=Faults)
    model: str = "XVK-SIM"
    battery_pct: float = 100.0
    key: str | None = None  # shared key: the keyed handshake is required (section 13)
    map_version: str = ""
    version: int = p.PROTOCOL_VERSION
    localised: bool = True
    visitor_wait_s: float = 30.0  # how long it waits for a lost visitor before giving up
    # (from, to) -> points of the walking route it drives (make_robot: the floor plan's route from the
    # meeting point, the one the kiosk draws for the visitor); None or no entry: a straight line
    routes: Callable[[str, str], list] | None = None

    def __post_init__(self) -> None:
        if self.dock not in self.waypoints:
            raise ValueError(f"dock waypoint {self.dock!r} is not among the waypoints")
        self.x, self.y = self.waypoints[self.dock]
        self.heading = 90.0
        self.battery = float(self.battery_pct)
        self.executed: Counter[int] = Counter()  # command id -> times executed
        self.commands_received = 0
        self.verbs: Counter[str] = Counter()  # commands received by verb (duplicates excluded)
        self.duplicates = 0
        self.reboots = 0
        self.said: list[str] = []
        self.estop_button = False
        self.estop_latched = False  # kept across reboots (non-volatile, section 9)
        self.stalled = False
        self.stuck = False
        self.obstacle = False
        self.leading = False  # a visitor follows the current GOTO (its lead field, protocol 1.1)
        self.occupied_until = 0.0
        self.rng = random.Random(self.faults.seed)
        self.session = _Session()  # the session of the connection being served
        self._sessions: list[_Session] = [self.session]
        self._boot(0.0, first=True)

    @property
    def capabilities(self) -> str:
        return "" if self.faults.legacy else "SWVCR" + ("A" if self.key else "")

    # -- lifecycle -----------------------------------------------------------------------
    def _boot(self, now: float, first: bool = False) -> None:
        self.state = RobotState.BOOT
        self.boot_id = uuid.uuid4().hex[:8]
        self.boot_until = now + (0 if first else self.boot_s)
        self.goal: _Goal | None = None
        self.last_goal: _Goal | None = None
        self.estop_latched = self.estop_latched or self.estop_button
        for sess in self._sessions:  # a reboot forgets every connection's ids and authentication
            sess.reset()
        self.kiosk_rx: float | None = None
        self.kiosk_lost = False
        self.reboot_at: float | None = None
        self.arrived_at = 0.0
        self.last_command_at = 0.0  # the kiosk's last command (any but HB): the 60 s of ARRIVED count from it
        self.dock_until = 0.0
        self._last_tick: float | None = None
        self._next_hb = now
        self._next_fb = now
        self._next_chatter = now
        self._pending: list = []
        self._first_boot = first

    def reboot(self, now: float) -> None:
        """Power-cycle: position and the e-stop latch stay; goals, id memory and the session are lost."""
        log.warning("robot reboots (boot %s)", self.boot_id)
        self.reboots += 1
        self._boot(now)

    def on_connect(self) -> _Session:
        """A new connection (TCP): a session of its own, not authenticated; it becomes `session`."""
        self.session = _Session()
        self._sessions.append(self.session)
        return self.session

    def on_disconnect(self, session: _Session) -> None:
        with contextlib.suppress(ValueError):
            self._sessions.remove(session)

    # the served connection's session state (tests read and set these)
    @property
    def seen(self) -> OrderedDict:
        return self.session.seen

    @property
    def authed(self) -> bool:
        return self.session.authed

    @authed.setter
    def authed(self, value: bool) -> None:
        self.session.authed = value

    @property
    def kiosk_nonce(self) -> str:
        return self.session.kiosk_nonce

    @kiosk_nonce.setter
    def kiosk_nonce(self, value: str) -> None:
        self.session.kiosk_nonce = value

    @property
    def robot_nonce(self) -> str:
        return self.session.robot_nonce

    @robot_nonce.setter
    def robot_nonce(self, value: str) -> None:
        self.session.robot_nonce = value

    def press_estop(self, now: float) -> list:
        self.estop_button = True
        return self._estop(now)

    def release_estop(self) -> None:
        """Release the button; the stop stays latched until a RESET command."""
        self.estop_button = False

    def _estop(self, now: float) -> list:
        out = []
        was_latched = self.estop_latched
        self.estop_latched = True
        if self.goal:
            out += self._end_goal(GoalStatus.ABORTED, Reason.ESTOP_ACTIVE)
        if self.state is not RobotState.BOOT and not (was_latched and self.state is RobotState.ESTOP):
            self.state = RobotState.ESTOP
            out.append(self.status())  # at once, not at the next heartbeat (section 9)
        log.warning("EMERGENCY STOP latched")
        return out

    # -- messages ------------------------------------------------------------------------
    def hello(self) -> p.Hello:
        speed = None if self.faults.empty_fields else round(self.speed_mps, 1)
        if self.faults.legacy:
            return _Legacy(p.Hello(self.version, self.model, self.boot_id, speed), 4)
        return p.Hello(self.version, self.model, self.boot_id, speed, p.PROTOCOL_MINOR, self.capabilities,
                       self.map_version)

    def _goal_fields(self):
        g = self.goal if (self.goal and self.goal.goal_id) else self.last_goal
        if g is None:
            return None, GoalStatus.NONE, ""
        return g.goal_id, g.status, g.reason

    def _state_word(self):
        if self.faults.unknown_state and self.state in (RobotState.IDLE, RobotState.DOCKED):
            return self.faults.unknown_state
        return self.state

    def _battery(self) -> int | None:
        return None if self.faults.empty_fields else math.floor(self.battery)

    def heartbeat(self) -> p.Heartbeat:
        gid, st, reason = self._goal_fields()
        hb = p.Heartbeat(self._state_word(), self._battery(), gid, st, reason, boot_id=self.boot_id,
                         charging=self.state is RobotState.DOCKED and self.battery < 100)
        return _Legacy(hb, 5) if self.faults.legacy else hb

    def status(self) -> p.Status:
        gid, st, reason = self._goal_fields()
        x, y = (round(self.x, 1), round(self.y, 1)) if self.localised else (None, None)
        heading = None if self.faults.empty_fields else round(self.heading) % 360
        stt = p.Status(self._state_word(), self._battery(), gid, st, reason, x, y, self.at_waypoint(),
                       self.estop_latched, heading=heading)
        return _Legacy(stt, 9) if self.faults.legacy else stt

    def _feedback(self, g: _Goal, now: float) -> p.Feedback:
        d = self._distance_to(g.target)
        eta = None if self.faults.empty_fields else round(d / self.speed_mps, 1)
        motion, why = p.Motion.MOVING, ""
        if g.lost_since is not None:
            motion, why, eta = p.Motion.WAITING, p.Reason.VISITOR_LOST.value, None
        elif self.obstacle:
            motion, why = p.Motion.WAITING, p.Reason.OBSTACLE.value
        fb = p.Feedback(g.goal_id, round(d, 1), eta, motion, why)
        return _Legacy(fb, 3) if self.faults.legacy else fb

    def at_waypoint(self) -> str:
        for name, (x, y) in self.waypoints.items():
            if math.hypot(self.x - x, self.y - y) < 0.05:
                return name
        return ""

    def _distance_to(self, name: str) -> float:
        """Path distance to a waypoint: via the current goal's corners when it is that goal's target."""
        pts = [*(self.goal.via if self.goal and self.goal.target == name else []), self.waypoints[name]]
        return _polyline(((self.x, self.y), *pts))

    def remaining_s(self) -> float:
        """Seconds until the robot is free again (its current goal's eta)."""
        if self.goal is None:
            return 0.0
        return self._distance_to(self.goal.target) / self.speed_mps

    # -- input ---------------------------------------------------------------------------
    def handle(self, frame: p.Frame, now: float) -> list:
        if self.stalled:
            return []
        if not self.key or self.authed:
            self._heard(now)  # an unauthenticated connection's frames are no sign of life (10, 13)
        keyed_ok = not self.key or self.authed or frame.type in ("HELLO", "AUTH")
        out: list = []
        if self.state is RobotState.BOOT and now >= self.boot_until:
            out += self.tick(now)  # boot finished between two ticks: say HELLO first
        if frame.type == "HB":
            return out
        if not self.key or self.authed:
            self.last_command_at = now  # any command but HB, a repeated id included; a stranger's not (6.1)
        if self.state is RobotState.BOOT:
            return out + self._while_booting(frame, keyed_ok, now)
        try:
            cmd = p.Command.from_frame(frame)
            if self.faults.legacy and cmd.verb in ("WPQ", "AUTH", "REBOOT"):
                raise p.ProtocolError(f"{cmd.verb} is not in version 1.0")
        except p.ProtocolError as exc:
            if not keyed_ok:
                with contextlib.suppress(p.ProtocolError):
                    return [*out, p.Ack(p._id(frame.field(0)), AckCode.DENIED, Reason.AUTH_REQUIRED.value)]
            try:
                cmd_id = p._id(frame.field(0))
            except p.ProtocolError:
                log.info("ignored %s: %s", frame.type, exc)
                return out
            return [*out, self._remember(p.Ack(cmd_id, AckCode.UNSUPPORTED, frame.type[:16]))]
        if not keyed_ok:
            return [*out, p.Ack(cmd.cmd_id, AckCode.DENIED, Reason.AUTH_REQUIRED.value)]  # not remembered
        if cmd.cmd_id in self.seen:
            self.duplicates += 1
            log.debug("duplicate id %d: re-acknowledged, not executed", cmd.cmd_id)
            return [*out, self.seen[cmd.cmd_id]]
        self.commands_received += 1
        self.verbs[cmd.verb] += 1
        out += self._execute(cmd, now)
        f = self.faults
        if f.reboot_after and self.commands_received == f.reboot_after:
            self.reboot_at = now + 0.3
        if f.stall_after and self.commands_received >= f.stall_after:
            log.warning("robot stops answering (stall after %d commands)", f.stall_after)
            self.stalled = True
        return out

    def _while_booting(self, frame: p.Frame, allowed: bool, now: float) -> list:
        """In state BOOT a command MAY be ignored (the kiosk retries), but an ESTOP is latched and
        acknowledged: it is never lost to a boot; the robot comes up in ESTOP (section 9)."""
        if frame.type == "ESTOP" and allowed and p.valid_id(frame.field(0)):
            return self._cmd_estop(p.Command.from_frame(frame), now)
        return []

    def _heard(self, now: float) -> None:
        self.kiosk_rx = now
        if self.kiosk_lost:
            log.info("kiosk heartbeat is back")
            self.kiosk_lost = False

    def _remember(self, ack: p.Ack) -> p.Ack:
        self.seen[ack.cmd_id] = ack
        while len(self.seen) > ID_MEMORY:
            self.seen.popitem(last=False)
        return ack

    def _ack(self, cmd: p.Command, code: AckCode, detail: object = "") -> p.Ack:
        return self._remember(p.Ack(cmd.cmd_id, code, p._fmt(detail)))

    def _execute(self, cmd: p.Command, now: float) -> list:
        log.info("command %s %d %s", cmd.verb, cmd.cmd_id, ",".join(cmd.args))
        handler = getattr(self, f"_cmd_{cmd.verb.lower()}", None)
        if handler is None:
            return [self._ack(cmd, AckCode.UNSUPPORTED, cmd.verb)]
        return handler(cmd, now)

    # one method per command (docs/robot-protocol.md table 5.1)
    def _cmd_hello(self, cmd: p.Command, now: float) -> list:
        # A new kiosk session: ids from before are never re-sent, and a restarted kiosk may reuse them.
        self.seen.clear()
        self.authed = not self.key  # no key: the connection that said HELLO is the kiosk's
        nonce = cmd.arg(3)
        self.kiosk_nonce = nonce if 8 <= len(nonce) <= 16 and all(c in "0123456789abcdefABCDEF" for c in nonce) else ""
        out = [self._ack(cmd, AckCode.ACCEPTED), self.hello(), self.status()]
        if self.key and self.kiosk_nonce:
            self.robot_nonce = f"{self.rng.getrandbits(32):08x}"
            out.append(p.Auth(self.robot_nonce, p.robot_mac(self.key, self.kiosk_nonce, self.robot_nonce,
                                                            self.boot_id)))
        return out

    def _cmd_auth(self, cmd: p.Command, now: float) -> list:
        want = p.kiosk_mac(self.key, self.kiosk_nonce, self.robot_nonce) if self.key and self.kiosk_nonce else None
        self.kiosk_nonce = ""  # one try per HELLO
        if want and p.mac_equal(want, cmd.arg(0)):
            self.authed = True
            self._heard(now)
            self.last_command_at = now  # the kiosk is back: its AUTH holds an ARRIVED robot too (6.1)
            return [self._ack(cmd, AckCode.ACCEPTED)]
        return [self._ack(cmd, AckCode.DENIED, Reason.AUTH_FAILED)]

    def _cmd_statq(self, cmd: p.Command, now: float) -> list:
        return [self._ack(cmd, AckCode.ACCEPTED), self.status()]

    def _cmd_check(self, cmd: p.Command, now: float) -> list:
        if not p.valid_token(cmd.arg(0)):
            return [self._ack(cmd, AckCode.FAILED, Reason.BAD_ARGUMENT)]
        if cmd.arg(0) in self.waypoints:
            return [self._ack(cmd, AckCode.ACCEPTED)]
        return [self._ack(cmd, AckCode.DENIED, Reason.UNKNOWN_WAYPOINT)]

    def _cmd_wpq(self, cmd: p.Command, now: float) -> list:
        n = len(self.waypoints)
        wps = [p.Waypoint(i, n, name, x, y) for i, (name, (x, y)) in enumerate(self.waypoints.items(), 1)]
        return [self._ack(cmd, AckCode.ACCEPTED, n), *wps]

    def _cmd_estop(self, cmd: p.Command, now: float) -> list:
        self.executed[cmd.cmd_id] += 1
        return [self._ack(cmd, AckCode.ACCEPTED), *self._estop(now)]

    def _cmd_reset(self, cmd: p.Command, now: float) -> list:
        if self.estop_button:
            return [self._ack(cmd, AckCode.DENIED, Reason.ESTOP_ACTIVE)]
        if not self.estop_latched:
            return [self._ack(cmd, AckCode.ACCEPTED, p.NOT_LATCHED)]
        self.executed[cmd.cmd_id] += 1
        self.estop_latched = False
        self.state = RobotState.DOCKED if self.at_waypoint() == self.dock else RobotState.IDLE
        log.info("e-stop reset")
        return [self._ack(cmd, AckCode.ACCEPTED), self.status()]

    def _cmd_say(self, cmd: p.Command, now: float) -> list:
        if cmd.arg(0) not in p.PHRASES:
            return [self._ack(cmd, AckCode.FAILED, Reason.BAD_ARGUMENT)]
        self.executed[cmd.cmd_id] += 1
        self.said.append(cmd.arg(0))
        return [self._ack(cmd, AckCode.ACCEPTED)]

    def _cmd_reboot(self, cmd: p.Command, now: float) -> list:
        if not self.faults.ignore_reboot:
            self.reboot_at = now + 0.2
        return [self._ack(cmd, AckCode.ACCEPTED)]

    def _cmd_cancel(self, cmd: p.Command, now: float) -> list:
        want = cmd.arg(0) or None
        if want is not None and not p.valid_id(want):
            return [self._ack(cmd, AckCode.FAILED, Reason.BAD_ARGUMENT)]
        own = self.goal is not None and self.goal.goal_id is None  # its own return is not a kiosk goal
        if not self.goal or own or (want is not None and str(self.goal.goal_id) != want):
            return [self._ack(cmd, AckCode.ACCEPTED, p.NO_GOAL)]
        self.executed[cmd.cmd_id] += 1
        out: list = [self._ack(cmd, AckCode.ACCEPTED), *self._end_goal(GoalStatus.CANCELED, Reason.NONE)]
        self.state = RobotState.IDLE
        return [*out, self.status()]

    def _refusal(self, cmd: p.Command, now: float) -> p.Ack | None:
        """The ack refusing a GOTO or DOCK, in the order of table 5.1; None: go."""
        if self.estop_latched:
            return self._ack(cmd, AckCode.DENIED, Reason.ESTOP_ACTIVE)
        if self.state is RobotState.FAULT or not self.localised:
            return self._ack(cmd, AckCode.DENIED, Reason.LOCALIZATION_LOST)
        if cmd.verb == "DOCK":
            return None
        if now < self.occupied_until:  # another user: only GOTO is refused
            return self._ack(cmd, AckCode.BUSY, math.ceil(self.occupied_until - now))
        if not p.valid_token(cmd.arg(0)):
            return self._ack(cmd, AckCode.FAILED, Reason.BAD_ARGUMENT)
        if cmd.arg(0) not in self.waypoints:
            return self._ack(cmd, AckCode.DENIED, Reason.UNKNOWN_WAYPOINT)
        if self.goal and self.goal.kind == "GOTO" and self.goal.goal_id is not None:
            return self._ack(cmd, AckCode.BUSY, math.ceil(self.remaining_s()))
        if math.floor(self.battery) < LOW_BATTERY_PCT:
            return self._ack(cmd, AckCode.DENIED, Reason.LOW_BATTERY)
        return None

    def _cmd_goto(self, cmd: p.Command, now: float) -> list:
        refusal = self._refusal(cmd, now)
        if refusal is not None:
            return [refusal]
        self.executed[cmd.cmd_id] += 1
        out = [self._ack(cmd, AckCode.ACCEPTED)]
        if self.goal:  # a return to dock (own or commanded) is pre-empted
            out += self._end_goal(GoalStatus.CANCELED, Reason.NONE)
        out += self._start_goal(cmd.cmd_id, "GOTO", cmd.arg(0), now)
        self.leading = cmd.arg(1) == "1"  # a visitor follows this leg: watch them (1.1)
        return out

    def _cmd_dock(self, cmd: p.Command, now: float) -> list:
        refusal = self._refusal(cmd, now)
        if refusal is not None:
            return [refusal]
        self.executed[cmd.cmd_id] += 1
        out = [self._ack(cmd, AckCode.ACCEPTED)]
        if self.goal and self.goal.kind == "DOCK":  # already going home: the new id carries on
            old = self.goal
            out += self._end_goal(GoalStatus.CANCELED, Reason.NONE)
            self.goal = _Goal(cmd.cmd_id, "DOCK", self.dock, old.start, started=now)
            return out
        if self.goal:
            out += self._end_goal(GoalStatus.CANCELED, Reason.NONE)
        return out + self._start_goal(cmd.cmd_id, "DOCK", self.dock, now)

    def _start_goal(self, goal_id: int | None, kind: str, target: str, now: float) -> list:
        self.goal = _Goal(goal_id, kind, target, (self.x, self.y), started=now)
        here = self.at_waypoint()
        if kind == "GOTO" and self.routes and here and here != target:
            self.goal.via = [tuple(pt) for pt in (self.routes(here, target) or [])[1:-1]]
        self._next_fb = now
        if kind == "DOCK" and self.state is RobotState.DOCKED and self.at_waypoint() == self.dock:
            return self._end_goal(GoalStatus.SUCCEEDED, Reason.NONE)
        if kind == "GOTO" and self.at_waypoint() == target:  # already there (table 5.1)
            if not (target == self.dock and self.state is RobotState.DOCKED):
                self.state = RobotState.ARRIVED
                self.arrived_at = now
            return [*self._end_goal(GoalStatus.SUCCEEDED, Reason.NONE), self.status()]
        self.state = RobotState.GUIDING if kind == "GOTO" else RobotState.RETURNING
        return [self.status()]

    def _end_goal(self, status: GoalStatus, reason: Reason | str) -> list:
        g = self.goal
        self.goal = None
        if g is None:
            return []
        g.status, g.reason = status, str(reason.value if isinstance(reason, Reason) else reason)
        if g.kind == "GOTO":
            self.leading = False
        if g.goal_id is None:
            return []
        self.last_goal = g
        log.info("goal %s %s %s %s", g.goal_id, g.target, status.value, g.reason)
        return [p.Result(g.goal_id, status, g.reason)]

    # -- time ----------------------------------------------------------------------------
    def tick(self, now: float) -> list:
        out: list = []
        dt = 0.0 if self._last_tick is None else max(0.0, now - self._last_tick)
        self._last_tick = now
        if self.stalled:
            return []
        if self.reboot_at is not None and now >= self.reboot_at:
            self.reboot(now)
            return []
        if self.state is RobotState.BOOT:
            if now < self.boot_until:
                return []
            out += self._booted()
        if self.state is RobotState.DOCKED:
            self.battery = min(100.0, self.battery + self.charge_pct_per_s * dt)
        out += self._move(now, dt)
        out += self._watchdog(now)
        out += self._periodic(now)
        return out

    def _booted(self) -> list:
        at = self.at_waypoint()
        self.state = RobotState.ESTOP if self.estop_latched else (
            RobotState.DOCKED if at == self.dock else RobotState.IDLE)
        log.info("booted %s, %s at %s", self.boot_id, self.state.value, at or f"({self.x:.1f},{self.y:.1f})")
        if self.faults.drop_hello and not self._first_boot:
            return [self.status()]  # the HELLO is lost on the line
        return [self.hello(), self.status()]

    def _periodic(self, now: float) -> list:
        out: list = []
        if self.goal and now >= self._next_fb and self.goal.goal_id is not None:
            self._next_fb = now + 1.0 / self.feedback_hz
            out.append(self._feedback(self.goal, now))
        if now >= self._next_hb:
            self._next_hb = now + self.heartbeat_s
            if not self.faults.no_heartbeat:
                out.append(self.heartbeat())
        if self.faults.chatter and now >= self._next_chatter:
            self._next_chatter = now + 0.5
            out.append(p.Unknown("XDIAG", (f"{self.battery:.0f}", "OK")))
        return out

    def _hold(self, g: _Goal, now: float) -> list | None:
        """Reasons a moving goal does not move this tick (visitor lost, obstacle, stuck); None: move."""
        f = self.faults
        if g.kind != "GOTO":
            return None
        if (f.visitor_lost_after_s is not None and g.lost_since is None and self.leading
                and now - g.started >= f.visitor_lost_after_s):
            g.lost_since = now
            log.warning("the visitor stopped following")
        if g.lost_since is not None:
            if now - g.lost_since >= self.visitor_wait_s:
                self.state = RobotState.IDLE
                return [*self._end_goal(GoalStatus.ABORTED, Reason.VISITOR_LOST), self.status()]
            return []
        if f.stuck_after_s is not None and now - g.started >= f.stuck_after_s:
            self.stuck = True
        if self.stuck or self.obstacle:
            return []
        return None

    def _move(self, now: float, dt: float) -> list:
        g = self.goal
        if g is None:
            quiet = now - max(self.arrived_at, self.last_command_at)
            returns = (RobotState.ARRIVED, RobotState.IDLE) if self.faults.idle_returns else (RobotState.ARRIVED,)
            if self.state in returns and quiet > self.idle_return_s:
                log.info("nobody sent me home for %.0f s: returning to dock", quiet)
                return self._start_goal(None, "DOCK", self.dock, now)
            if (self.state is RobotState.IDLE and self.kiosk_rx is None and self.localised
                    and now - self.boot_until > self.idle_return_s):
                log.info("booted away from the dock and no kiosk for %.0f s: returning to dock", self.idle_return_s)
                return self._start_goal(None, "DOCK", self.dock, now)
            return []
        if self.state is RobotState.DOCKING:
            if now >= self.dock_until:
                self.state = RobotState.DOCKED
                return [*self._end_goal(GoalStatus.SUCCEEDED, Reason.NONE), self.status()]
            return []
        held = self._hold(g, now)
        if held is not None:
            return held
        total = _polyline((g.start, *g.via, self.waypoints[g.target])) if g.via else 0.0
        tx, ty = g.via[0] if g.via else self.waypoints[g.target]
        d = math.hypot(tx - self.x, ty - self.y)
        step = min(d, self.speed_mps * dt)
        if d > 0:
            self.heading = math.degrees(math.atan2(ty - self.y, tx - self.x)) % 360
            self.x += (tx - self.x) / d * step
            self.y += (ty - self.y) / d * step
            self.battery = max(0.0, self.battery - self.battery_drain_pct_per_m * step)
        if g.kind == "GOTO" and self.battery < CRITICAL_BATTERY_PCT:
            self.state = RobotState.IDLE
            log.warning("battery critical: giving up the goal and going home")
            return [*self._end_goal(GoalStatus.ABORTED, Reason.LOW_BATTERY),
                    *self._start_goal(None, "DOCK", self.dock, now)]
        if g.kind == "GOTO" and g.target in self.faults.block:
            total = total or math.hypot(tx - g.start[0], ty - g.start[1])
            if self._distance_to(g.target) <= total / 2:
                self.state = RobotState.IDLE
                log.warning("path to %s blocked", g.target)
                return [*self._end_goal(GoalStatus.ABORTED, Reason.BLOCKED), self.status()]
        if d - step > 1e-6:
            return []
        self.x, self.y = tx, ty
        if g.via:  # a corner of the route: on to the next point
            g.via.pop(0)
            return []
        if g.kind == "GOTO":
            self.state = RobotState.ARRIVED
            self.arrived_at = now
            return [*self._end_goal(GoalStatus.SUCCEEDED, Reason.NONE), self.status()]
        self.state = RobotState.DOCKING
        self.dock_until = now + self.dock_s
        return [self.status()]

    def _watchdog(self, now: float) -> list:
        """The kiosk's heartbeat stopped: stop, then return to dock."""
        if self.kiosk_rx is None or self.kiosk_lost or self.faults.ignore_link_loss:
            return []
        if now - self.kiosk_rx <= self.missed_heartbeats * self.heartbeat_s:
            return []
        self.kiosk_lost = True
        log.warning("kiosk heartbeat lost: stopping and returning to dock")
        out = []
        if self.goal and self.goal.kind == "GOTO":
            out += self._end_goal(GoalStatus.ABORTED, Reason.LINK_LOST)
            self.state = RobotState.IDLE
        if self.state in (RobotState.IDLE, RobotState.ARRIVED) and not self.estop_latched:
            out += self._start_goal(None, "DOCK", self.dock, now)
        return out


@dataclass(frozen=True)
class _Legacy:
    """A message sent as a version-1.0 robot would: only its first `n` fields."""

    msg: object
    n: int

    @property
    def TYPE(self) -> str:  # noqa: N802 (the message protocol's attribute name)
        return self.msg.TYPE

    def fields(self) -> tuple:
        return tuple(self.msg.fields())[: self.n]


# -- transport ------------------------------------------------------------------------


MAX_CONNECTIONS = 4  # TCP connections served at once; a fifth closes the oldest unauthenticated one
ANSWER_ONLY = ("Ack", "Waypoint", "Auth")  # sent only to the connection whose command they answer
TRUSTED_ONLY = ("Feedback", "Result", "Unknown")  # sent only to the authenticated connection (13)


@dataclass(eq=False)
class _Conn:
    """One connection: a TCP socket (None: the pty), its bytes, its seq counter and its session."""

    sock: socket.socket | None
    session: _Session
    inbuf: bytearray = field(default_factory=bytearray)
    decoder: p.StreamDecoder = field(default_factory=p.StreamDecoder)
    encoder: p.Encoder = field(default_factory=p.Encoder)
    closed: bool = False
    last_rx: float = field(default_factory=time.monotonic)  # its last sign of life (Faults.close_silent_s)


class SimServer:
    """Serves a SimRobot on a pty (stable symlink) or a TCP port, injecting transport faults.

    On TCP it accepts several connections (section 13): each has its own session, seq counter and
    handshake; answers go to the connection that asked; HB, STATUS and the boot HELLO go to every
    connection; FB and RESULT only to the authenticated one. When a connection authenticates (with
    no key: says HELLO), every other authenticated connection is closed, so a kiosk whose old
    connection is half-open (its PC rebooted, a cable pulled) is served at once when it reconnects.
    """

    def __init__(self, robot: SimRobot, *, tcp_port: int | None = None, link_path: str | Path | None = None,
                 faults: Faults | None = None, tick_s: float = 0.01):
        self.robot = robot
        self.faults = faults or robot.faults
        self.rng = random.Random(self.faults.seed)
        self.tcp = tcp_port is not None
        self._tcp_port = tcp_port or 0
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        if link_path is None and not self.tcp:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="robot-sim-")
            link_path = Path(self._tmpdir.name) / "robot.tty"
        self.link_path = Path(link_path) if link_path else None
        self.tick_s = tick_s
        self._lock = threading.RLock()
        self._master: int | None = None
        self._slave: int | None = None
        self._listener: socket.socket | None = None
        self._conns: list[_Conn] = []
        self._pty_conn = _Conn(None, robot.session)  # a serial line never closes: one session for ever
        self._outq: list[tuple[float, bytes, _Conn]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats: Counter[str] = Counter()
        self.monitor = None  # optional callable(direction, frame)

    # -- port ----------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """The pyserial URL the kiosk opens."""
        if self.tcp:
            return f"socket://127.0.0.1:{self._tcp_port}"
        return str(self.link_path)

    @property
    def connections(self) -> int:
        """Open TCP connections (1 for a plugged pty)."""
        with self._lock:
            return len(self._conns)

    def _plug(self) -> None:
        if self.tcp:
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", self._tcp_port))
            ls.listen(MAX_CONNECTIONS)
            ls.setblocking(False)
            self._tcp_port = ls.getsockname()[1]
            self._listener = ls
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo or CR/LF translation before the kiosk configures the port
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._pty_conn.inbuf.clear()
        self._conns = [self._pty_conn]
        tmp = self.link_path.with_name(self.link_path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link_path)
        log.info("serving on %s -> %s", self.link_path, os.ttyname(slave))

    def _unplug(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        for c in list(self._conns):
            if c.sock is not None:
                self._drop(c, "unplugged")
        self._conns = []
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        self._listener = None
        if self.link_path is not None and not self.tcp:
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()
        self._outq.clear()

    def unplug(self) -> None:
        """Pull the cable: close the pty master (or the sockets) and remove the device path."""
        with self._lock:
            log.warning("unplugged")
            self._unplug()
            self.stats["unplugs"] += 1

    def replug(self) -> None:
        with self._lock:
            if self._master is None and self._listener is None:
                self._plug()
                log.warning("plugged in again: %s", self.port)

    @property
    def plugged(self) -> bool:
        return self._master is not None or self._listener is not None

    # -- control (thread-safe) -----------------------------------------------------------
    def press_estop(self) -> None:
        with self._lock:
            self._send_all(self.robot.press_estop(time.monotonic()))

    def release_estop(self) -> None:
        with self._lock:
            self.robot.release_estop()

    def reboot(self) -> None:
        with self._lock:
            self.robot.reboot(time.monotonic())

    def occupy(self, seconds: float) -> None:
        """Someone else is using the robot for `seconds`: GOTO and DOCK get BUSY."""
        with self._lock:
            self.robot.occupied_until = time.monotonic() + seconds

    def set_stalled(self, stalled: bool = True) -> None:
        """The robot stops answering altogether (firmware hung)."""
        with self._lock:
            self.robot.stalled = stalled

    def set_stuck(self, stuck: bool = True) -> None:
        """The robot stops moving but keeps reporting MOVING (wheels slipping, a bug): a stall."""
        with self._lock:
            self.robot.stuck = stuck

    def set_obstacle(self, on: bool = True) -> None:
        """Someone stands in the way: the robot waits (FB WAITING,OBSTACLE)."""
        with self._lock:
            self.robot.obstacle = on

    def set_battery(self, pct: float) -> None:
        with self._lock:
            self.robot.battery = float(pct)

    # -- loop ----------------------------------------------------------------------------
    def start(self) -> SimServer:
        self._plug()
        self._thread = threading.Thread(target=self._run, name="robot-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        with self._lock:
            self._unplug()
        if self._tmpdir:
            self._tmpdir.cleanup()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _fds(self) -> list:
        with self._lock:
            if self._master is not None:
                return [self._master]
            fds = [c.sock for c in self._conns if c.sock is not None]
            waits = self.faults.single_connection and self._conns  # the next one waits in the backlog
            return fds + ([self._listener] if self._listener is not None and not waits else [])

    def _run(self) -> None:
        while not self._stop.is_set():
            fds = self._fds()
            try:
                ready = select.select(fds, [], [], self.tick_s)[0] if fds else []
                if not fds:
                    time.sleep(self.tick_s)
            except (OSError, ValueError):
                ready = []
            with self._lock:
                try:
                    for fd in ready:
                        self._ready(fd)
                    now = time.monotonic()
                    reboots = self.robot.reboots
                    self._send_all(self.robot.tick(now))
                    self._flush(now)
                    self._close_faults(now, rebooted=self.robot.reboots != reboots)
                except Exception:  # the simulator must keep running, like firmware
                    log.exception("simulator error")

    def _close_faults(self, now: float, *, rebooted: bool) -> None:
        """Faults.close_on_reboot and close_silent_s: the robot side closes TCP connections."""
        for c in [c for c in self._conns if c.sock is not None]:
            if rebooted and self.faults.close_on_reboot:
                self._drop(c, "rebooting: the connection is closed")
            elif self.faults.close_silent_s is not None and now - c.last_rx > self.faults.close_silent_s:
                self._drop(c, f"no frame for {self.faults.close_silent_s:.1f} s: the connection is closed")

    def _ready(self, fd) -> None:
        if fd is self._listener and fd is not None:
            self._accept()
            return
        conn = self._pty_conn if self._master is not None else next((c for c in self._conns if c.sock is fd), None)
        if conn is not None and not conn.closed:
            data = self._recv(conn)
            if data:
                self._feed(conn, data)

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, OSError):
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if len(self._conns) >= MAX_CONNECTIONS:
            spare = next((c for c in self._conns if not c.session.authed), None)
            if spare is None:
                log.warning("a connection refused: %d open, all authenticated", len(self._conns))
                sock.close()
                return
            self._drop(spare, "too many connections: the oldest unauthenticated one is closed")
        self._conns.append(_Conn(sock, self.robot.on_connect()))
        self.stats["connections"] += 1
        log.info("kiosk connected over TCP (%d connection(s))", len(self._conns))

    def _recv(self, conn: _Conn) -> bytes:
        if conn.sock is None:
            try:
                return os.read(self._master, 4096)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EIO):
                    raise
                return b""
        try:
            data = conn.sock.recv(4096)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            self._drop(conn, "kiosk disconnected")
        return data

    def _drop(self, conn: _Conn, why: str) -> None:
        """Close one TCP connection (the robot side)."""
        if conn.closed or conn.sock is None:
            return
        conn.closed = True
        log.info("%s", why)
        with contextlib.suppress(OSError):
            conn.sock.close()
        if conn in self._conns:
            self._conns.remove(conn)
        self.robot.on_disconnect(conn.session)
        self.stats["closed"] += 1

    def _feed(self, conn: _Conn, data: bytes) -> None:
        conn.inbuf += data
        now = time.monotonic()
        while (i := conn.inbuf.find(b"\n")) >= 0 and not conn.closed:
            line = bytes(conn.inbuf[: i + 1])
            del conn.inbuf[: i + 1]
            line = self._damage(line, "in")
            if line is None:
                continue
            for frame in conn.decoder.feed(line):
                if self.monitor:
                    self.monitor("<-", frame)
                was = conn.session.authed
                self.robot.session = conn.session
                self._send_all(self.robot.handle(frame, now), conn)
                if conn.session.authed and not was:
                    self._authenticated(conn)
        if b"\n" in data and (conn.session.authed or not self.robot.key):
            conn.last_rx = now  # a stranger's frames are no signs of life: they do not keep it open (13)

    def _authenticated(self, conn: _Conn) -> None:
        """Section 13: the robot serves one authenticated connection; a second one closes the first."""
        for other in [c for c in self._conns if c is not conn and c.session.authed]:
            self._drop(other, "another connection authenticated: the first is closed")
            self.stats["superseded"] += 1

    def _damage(self, raw: bytes, direction: str) -> bytes | None:
        f = self.faults
        r = self.rng.random()
        if r < f.drop:
            self.stats[f"dropped_{direction}"] += 1
            return None
        if r < f.drop + f.corrupt:
            self.stats[f"corrupted_{direction}"] += 1
            b = bytearray(raw)
            i = self.rng.randrange(1, max(2, len(b) - 2))  # keep the frame's $ and line end
            b[i] ^= 1 << self.rng.randrange(7)
            return bytes(b)
        return raw

    def _targets(self, msg, asker: _Conn | None) -> list[_Conn]:
        """Who gets `msg`: the asker (an answer), or by type (section 13, several connections)."""
        if asker is not None:
            return [asker]
        if self._master is not None:
            return [self._pty_conn]
        kind = type(getattr(msg, "msg", msg)).__name__
        authed = [c for c in self._conns if c.session.authed]
        if kind in ANSWER_ONLY:
            return []
        if kind in TRUSTED_ONLY and (authed or self.robot.key):
            return authed
        if self.faults.quiet_to_strangers and self.robot.key:
            return authed
        return list(self._conns)  # HB, STATUS, the boot HELLO: every connection

    def _send_all(self, msgs: list, asker: _Conn | None = None) -> None:
        due = time.monotonic() + self.faults.delay_ms / 1000.0
        for m in msgs:
            targets = self._targets(m, asker)
            if not targets:
                self.stats["unsent"] += 1
            for conn in targets:
                raw = conn.encoder.message(m)
                self._outq.append((due, raw, conn))
            if self.monitor and targets:
                self.monitor("->", p.decode_frame(raw))
            self.stats["frames_out"] += 1

    def _flush(self, now: float) -> None:
        while self._outq and self._outq[0][0] <= now:
            _, raw, conn = self._outq.pop(0)
            raw = self._damage(raw, "out")
            if raw is None:
                continue
            try:
                if conn.sock is None and self._master is not None:
                    os.write(self._master, raw)
                elif conn.sock is not None and not conn.closed:
                    conn.sock.sendall(raw)
                else:
                    self.stats["unsent"] += 1
            except (BlockingIOError, OSError):
                self.stats["unsent"] += 1  # nobody reading: a UART would lose it too


# -- helpers for the kiosk and tests -----------------------------------------------------


def waypoints_from_config(cfg) -> dict[str, tuple[float, float]]:
    return {name: (w.x, w.y) for name, w in cfg.floor_map.waypoints.items()}


def _polyline(pts) -> float:
    pts = list(pts)
    return sum(math.dist(a, b) for a, b in zip(pts, pts[1:], strict=False))


def walking_route(cfg, a: str, b: str) -> list[tuple[float, float]]:
    """The floor plan's walking route between two waypoints (`kiosk.floorplan.route`): the one
    source of the distances an escort shows and says. The kiosk draws it and reads its metres
    out ("about 12 metres" from the kiosk to counter 1), the escort manager's estimates use its
    length, and the simulator drives it from the meeting point, so its FB distances (the
    robot's own path) start from the same figure. Straight lines elsewhere."""
    from kiosk.floorplan import route

    wps = cfg.floor_map.waypoints
    if a not in wps or b not in wps:
        raise KeyError(f"{a if a not in wps else b!r} is not in floor_map.waypoints")
    return route(cfg, a, b)


def route_length(cfg, a: str, b: str) -> float:
    """Metres along `walking_route` (kiosk to counter_1 in the shipped config: 12.0, not the 8.9 of
    the straight line)."""
    return _polyline(walking_route(cfg, a, b))


def make_robot(cfg, robot_name: str | None = None, *, faults: Faults | None = None, **kw) -> SimRobot:
    """A SimRobot with the floor map, dock and timings from config; `kw` overrides (speed_mps...)."""
    entry = next((r for r in cfg.robot.robots if robot_name in (None, r.name)), None)
    dock = entry.dock if entry else "dock"
    kw.setdefault("heartbeat_s", cfg.robot.heartbeat_s)
    kw.setdefault("missed_heartbeats", cfg.robot.missed_heartbeats)
    kw.setdefault("key", getattr(entry, "key", None) if entry else None)
    kw.setdefault("map_version", getattr(cfg.robot, "map_version", None) or "")
    meet = getattr(cfg.robot, "meet_waypoint", None)
    kw.setdefault("routes", lambda a, b: walking_route(cfg, a, b) if a == meet else None)
    return SimRobot(waypoints_from_config(cfg), dock=dock, faults=faults or Faults(), **kw)


class SimHandle(SimServer):
    """A running simulator: `.port` is what the link opens; `.stop()` ends it."""


def start_simulator(cfg, robot_name: str | None = None, *, tcp: bool = False, faults: Faults | None = None,
                    **robot_kw) -> SimHandle:
    """Start a simulated robot in this process (a background thread) and return its handle.

    The pty path (a symlink in a temporary folder) or ``socket://`` URL is ``handle.port``.
    """
    faults = faults or Faults()
    robot = make_robot(cfg, robot_name, faults=faults, **robot_kw)
    return SimHandle(robot, tcp_port=0 if tcp else None, faults=faults).start()
