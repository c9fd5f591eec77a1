"""The robot's state machine (pure core): frames in, actions out, driven by an injected clock.

The transport calls ``connect``/``disconnect`` for each connection, ``receive`` for each
well-formed frame and ``tick`` regularly, then sends what ``drain`` returns. Destinations are
a connection id (the answers to that connection's command), ``ALL`` (heartbeats, state-change
STATUS, the boot HELLO) or ``AUTHED`` (FB and RESULT: the authenticated connection only).
"""

from __future__ import annotations

import math
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from . import keyed
from . import world as W
from .frames import MAX_FRAME, Frame, frame_length

ALL = "all"
AUTHED = "authed"
GOAL_STATES = ("GUIDING", "RETURNING", "DOCKING")


@dataclass
class Send:
    """Send one frame (type and fields) to a destination."""

    dest: int | str
    type: str
    fields: list[str]


@dataclass
class Close:
    """Close one connection."""

    conn: int


@dataclass
class Session:
    """One connection's session: authentication, handshake nonces, remembered acks."""

    authenticated: bool
    kiosk_nonce: str = ""
    robot_nonce: str = ""
    acks: OrderedDict = field(default_factory=OrderedDict)


class Robot:
    """A guide robot as the protocol document describes it."""

    def __init__(self, now: float, key: str | None = None, speed: float = W.DEFAULT_SPEED,
                 battery: int = 90, waypoints: dict[str, tuple[float, float]] | None = None,
                 map_version: str = W.MAP_VERSION, close_on_reboot: bool = False,
                 quiet_to_strangers: bool = False) -> None:
        self.key = key
        # 13: an unauthenticated connection MAY get HB, STATUS and the boot HELLO (default).
        self.public = AUTHED if quiet_to_strangers else ALL
        self.close_on_reboot = close_on_reboot
        self.speed = speed
        self.battery = battery
        self.waypoints = dict(waypoints or W.WAYPOINTS)
        self.map_version = map_version
        self.caps = W.CAPABILITIES + ("A" if key else "")
        self.sessions: dict[int, Session] = {}
        self.out: list[Send | Close] = []
        self._defer: list[Send | Close] | None = None
        self.latched = False
        self.button_pressed = False
        self.x, self.y = self.waypoints[W.DOCK]
        self.heading = W.DOCK_HEADING
        self.docked = True
        self.bad_fields = 0
        self.reboot_at: float | None = None
        self._boot(now, announce=False)
        self.boot_until = None
        self.state = "ESTOP" if self.latched else "DOCKED"

    # ----- boot and reboot -------------------------------------------------------------

    def _boot(self, now: float, announce: bool) -> None:
        self.boot_id = secrets.token_hex(4)
        self.booted_at = now
        self.state = "ESTOP" if self.latched else "BOOT"
        self.boot_until = now + W.BOOT_S if announce else None
        self.goal_id, self.goal_status, self.goal_reason = "", "NONE", ""
        self.goal_kind: str | None = None
        self.target: str | None = None
        self.docking_until: float | None = None
        self.heard_kiosk = False
        self.last_life = now
        self.link_lost = False
        self.last_command = now
        self.arrived_at = now
        self.next_hb = now
        self.next_fb = now
        self.last_tick = now
        for s in self.sessions.values():
            s.acks.clear()
            s.kiosk_nonce = s.robot_nonce = ""
            s.authenticated = self.key is None

    def _finish_boot(self) -> None:
        self.boot_until = None
        self.state = "ESTOP" if self.latched else ("DOCKED" if self.docked else "IDLE")
        self._emit(self.public, "HELLO", self._hello_fields())
        self._emit(self.public, "STATUS", self.status_fields())

    @property
    def booting(self) -> bool:
        return self.boot_until is not None

    # ----- output ----------------------------------------------------------------------

    def _emit(self, dest: int | str, type_: str, fields: list[str]) -> None:
        target = self._defer if self._defer is not None else self.out
        target.append(Send(dest, type_, fields))

    def drain(self) -> list[Send | Close]:
        """Everything to send or close since the last call, in order."""
        out, self.out = self.out, []
        return out

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._emit(self.public, "STATUS", self.status_fields())

    def _hello_fields(self) -> list[str]:
        return [W.PROTOCOL_MAJOR, W.MODEL, self.boot_id, W.fmt_speed(self.speed),
                W.PROTOCOL_MINOR, self.caps, self.map_version]

    def at_waypoint(self) -> str:
        """The waypoint within 0.05 m of the robot, or ''."""
        for name, (wx, wy) in self.waypoints.items():
            if math.hypot(wx - self.x, wy - self.y) <= W.AT_WAYPOINT_M:
                return name
        return ""

    def status_fields(self) -> list[str]:
        """STATUS fields, emptied heading, waypoint, then reason until 82 bytes fit (4.5)."""
        fields = [self.state, str(self.battery), self.goal_id, self.goal_status, self.goal_reason,
                  W.fmt_pos(self.x), W.fmt_pos(self.y), self.at_waypoint(),
                  "1" if self.latched else "0", W.fmt_heading(self.heading)]
        for index in (9, 7, 4):
            if frame_length(999, "STATUS", fields) <= MAX_FRAME:
                break
            fields[index] = ""
        return fields

    def hb_fields(self) -> list[str]:
        """Robot heartbeat fields (4.2)."""
        charging = "1" if self.docked and self.battery < 100 and not self.booting else "0"
        return [self.state, str(self.battery), self.goal_id, self.goal_status, self.goal_reason,
                self.boot_id, charging]

    # ----- connections -----------------------------------------------------------------

    def connect(self, conn: int) -> None:
        """A new connection (the pty is one connection that never closes)."""
        self.sessions[conn] = Session(authenticated=self.key is None)

    def disconnect(self, conn: int) -> None:
        """A connection closed."""
        self.sessions.pop(conn, None)

    def authenticated(self, conn: int) -> bool:
        """Whether this connection may get FB and RESULT."""
        s = self.sessions.get(conn)
        return bool(s and s.authenticated)

    def _life(self, now: float) -> None:
        self.heard_kiosk = True
        self.last_life = now
        self.link_lost = False

    # ----- commands --------------------------------------------------------------------

    def receive(self, conn: int, frame: Frame, now: float) -> None:
        """One well-formed frame from the kiosk on a connection."""
        s = self.sessions[conn]
        if s.authenticated:
            self._life(now)
        if frame.type == "HB":
            return
        cid = W.parse_id(frame.field(0))
        if cid is None:
            self.bad_fields += 1  # no id: no answer (table 5.1, last row)
            return
        if s.authenticated:
            self.last_command = now  # a stranger's commands do not hold the robot (README A4)
        if self.key and not s.authenticated and frame.type not in ("HELLO", "AUTH"):
            self._emit(conn, "ACK", [str(cid), "DENIED", "AUTH_REQUIRED"])
            return
        if cid in s.acks:
            self._emit(conn, "ACK", [str(cid), *s.acks[cid]])
            return
        if self.booting and frame.type != "ESTOP":
            return  # MAY be ignored while booting; the kiosk retries
        handler = self._handlers().get(frame.type, self._unsupported)
        self._defer = []
        try:
            code, detail = handler(conn, frame, now)
        finally:
            deferred, self._defer = self._defer, None
        s = self.sessions.get(conn, s)
        s.acks[cid] = (code, detail)
        while len(s.acks) > W.REMEMBERED_IDS:
            s.acks.popitem(last=False)
        self._emit(conn, "ACK", [str(cid), code, detail])
        self.out.extend(deferred)

    def _handlers(self):
        return {"HELLO": self._hello, "AUTH": self._auth, "STATQ": self._statq,
                "CHECK": self._check, "WPQ": self._wpq, "SAY": self._say, "GOTO": self._goto,
                "DOCK": self._dock, "CANCEL": self._cancel, "ESTOP": self._estop,
                "RESET": self._reset, "REBOOT": self._reboot}

    def _unsupported(self, conn, frame, now):
        return "UNSUPPORTED", frame.type

    def _hello(self, conn, frame, now):
        s = self.sessions[conn]
        s.acks.clear()
        s.kiosk_nonce = s.robot_nonce = ""
        if self.key:
            s.authenticated = False
        self._emit(conn, "HELLO", self._hello_fields())
        self._emit(conn, "STATUS", self.status_fields())
        nonce = frame.field(4)
        if self.key and keyed.valid_nonce(nonce):
            s.kiosk_nonce, s.robot_nonce = nonce, keyed.new_nonce()
            mac = keyed.mac_r(self.key, nonce, s.robot_nonce, self.boot_id)
            self._emit(conn, "AUTH", [s.robot_nonce, mac])
        return "ACCEPTED", ""

    def _auth(self, conn, frame, now):
        s = self.sessions[conn]
        if not (self.key and s.robot_nonce):
            return "DENIED", "AUTH_FAILED"
        expected = keyed.mac_k(self.key, s.kiosk_nonce, s.robot_nonce)
        s.kiosk_nonce = s.robot_nonce = ""  # one try per HELLO
        if not keyed.mac_matches(expected, frame.field(1)):
            return "DENIED", "AUTH_FAILED"
        for other, o in self.sessions.items():
            if other != conn and o.authenticated:
                self._emit_close(other)
        s.authenticated = True
        self._life(now)
        self.last_command = now
        return "ACCEPTED", ""

    def _emit_close(self, conn: int) -> None:
        target = self._defer if self._defer is not None else self.out
        target.append(Close(conn))

    def _statq(self, conn, frame, now):
        self._emit(conn, "STATUS", self.status_fields())
        return "ACCEPTED", ""

    def _check(self, conn, frame, now):
        name = frame.field(1)
        if not W.valid_name(name):
            return "FAILED", "BAD_ARGUMENT"
        return ("ACCEPTED", "") if name in self.waypoints else ("DENIED", "UNKNOWN_WAYPOINT")

    def _wpq(self, conn, frame, now):
        count = len(self.waypoints)
        for i, (name, (x, y)) in enumerate(self.waypoints.items(), start=1):
            self._emit(conn, "WP", [str(i), str(count), name, W.fmt_pos(x), W.fmt_pos(y)])
        return "ACCEPTED", str(count)

    def _say(self, conn, frame, now):
        return ("ACCEPTED", "") if frame.field(1) in W.PHRASES else ("FAILED", "BAD_ARGUMENT")

    def _goto(self, conn, frame, now):
        name = frame.field(1)
        if self.latched:
            return "DENIED", "ESTOP_ACTIVE"
        if self.state == "FAULT":
            return "DENIED", "LOCALIZATION_LOST"
        if not W.valid_name(name):
            return "FAILED", "BAD_ARGUMENT"
        if name not in self.waypoints:
            return "DENIED", "UNKNOWN_WAYPOINT"
        if self.goal_kind == "GOTO":
            return "BUSY", W.seconds_up(self.remaining() / self.speed)
        if self.battery < W.GOTO_MIN_BATTERY:
            return "DENIED", "LOW_BATTERY"
        self._end_goal("CANCELED", "")  # a kiosk DOCK goal being pre-empted
        self._start_goal(frame.field(0), "GOTO")
        wx, wy = self.waypoints[name]
        if math.hypot(wx - self.x, wy - self.y) <= W.AT_WAYPOINT_M:
            self.target = None
            self.docking_until = None
            self.arrived_at = now
            self._end_goal("SUCCEEDED", "")
            docked_here = name == W.DOCK and self.docked
            self._set_state("DOCKED" if docked_here else "ARRIVED")
            return "ACCEPTED", ""
        self.target, self.docked, self.docking_until = name, False, None
        self._set_state("GUIDING")
        return "ACCEPTED", ""

    def _dock(self, conn, frame, now):
        if self.latched:
            return "DENIED", "ESTOP_ACTIVE"
        if self.state == "FAULT":
            return "DENIED", "LOCALIZATION_LOST"
        if self.state == "DOCKED":
            self._start_goal(frame.field(0), "DOCK")
            self._end_goal("SUCCEEDED", "")
            return "ACCEPTED", ""
        self._end_goal("CANCELED", "")
        self._start_goal(frame.field(0), "DOCK")
        if self.state not in ("RETURNING", "DOCKING"):
            self._go_home()
        return "ACCEPTED", ""

    def _cancel(self, conn, frame, now):
        wanted = frame.field(1)
        if wanted and W.parse_id(wanted) is None:
            return "FAILED", "BAD_ARGUMENT"
        if self.goal_kind is None or (wanted and wanted != self.goal_id):
            return "ACCEPTED", "NO_GOAL"
        self._end_goal("CANCELED", "")
        self._stop()
        self._set_state("IDLE")
        return "ACCEPTED", ""

    def _estop(self, conn, frame, now):
        if self.latched:
            return "ACCEPTED", ""
        self.latched = True
        self._end_goal("ABORTED", "ESTOP_ACTIVE")
        self._stop()
        if not self.booting:
            self._set_state("ESTOP")
        else:
            self.state = "ESTOP"
        return "ACCEPTED", ""

    def _reset(self, conn, frame, now):
        if not self.latched:
            return "ACCEPTED", "NOT_LATCHED"
        if self.button_pressed:
            return "DENIED", "ESTOP_ACTIVE"
        self.latched = False
        self._set_state("DOCKED" if self.docked else "IDLE")
        return "ACCEPTED", ""

    def _reboot(self, conn, frame, now):
        self.reboot_at = now + W.REBOOT_DELAY_S
        return "ACCEPTED", ""

    # ----- goals and motion ------------------------------------------------------------

    def _start_goal(self, gid: str, kind: str) -> None:
        self.goal_id, self.goal_status, self.goal_reason = gid, "ACTIVE", ""
        self.goal_kind = kind

    def _end_goal(self, status: str, reason: str) -> None:
        """End the active kiosk goal (if any) and send its RESULT once."""
        if self.goal_kind is None:
            return
        self.goal_kind = None
        self.goal_status, self.goal_reason = status, reason
        self._emit(AUTHED, "RESULT", [self.goal_id, status, reason])

    def _stop(self) -> None:
        self.target = None
        if self.docking_until is not None:
            self.docking_until = None

    def _go_home(self) -> None:
        """Start a return to the dock (a kiosk DOCK goal or the robot's own return)."""
        if self.docked:
            return
        self.target = W.DOCK
        self.docking_until = None
        self._set_state("RETURNING")

    def remaining(self) -> float:
        """Remaining path distance to the current target (0 while docking)."""
        if self.target is None:
            return 0.0
        wx, wy = self.waypoints[self.target]
        return math.hypot(wx - self.x, wy - self.y)

    def _move(self, dt: float, now: float) -> None:
        if self.target is None or self.latched:
            return
        wx, wy = self.waypoints[self.target]
        dist = math.hypot(wx - self.x, wy - self.y)
        step = self.speed * dt
        if dist > 1e-9:
            self.heading = math.degrees(math.atan2(wy - self.y, wx - self.x)) % 360.0
        if step < dist:
            self.x += (wx - self.x) * step / dist
            self.y += (wy - self.y) * step / dist
            return
        self.x, self.y = wx, wy
        reached, self.target = self.target, None
        if self.state == "GUIDING":
            self.arrived_at = now
            self._end_goal("SUCCEEDED", "")
            self._set_state("ARRIVED")
        elif reached == W.DOCK:
            self.docking_until = now + W.DOCKING_S
            self._set_state("DOCKING")

    def _docking(self, now: float) -> None:
        if self.docking_until is not None and now >= self.docking_until:
            self.docking_until = None
            self.docked = True
            self.heading = W.DOCK_HEADING
            self._end_goal("SUCCEEDED", "")
            self._set_state("DOCKED")

    # ----- time ------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Advance the clock: reboot, motion, heartbeats, feedback, link-loss rules."""
        dt, self.last_tick = max(0.0, now - self.last_tick), now
        if self.reboot_at is not None and now >= self.reboot_at:
            self.reboot_at = None
            if self.close_on_reboot:  # 12.3: on TCP it MAY close the connection
                self.out.extend(Close(c) for c in list(self.sessions) if c != 0)
            self._boot(now, announce=True)
        if self.boot_until is not None and now >= self.boot_until:
            self._finish_boot()
        if not self.booting:
            self._move(dt, now)
            self._docking(now)
            self._own_rules(now)
        if now >= self.next_hb:
            self.next_hb = now + W.HEARTBEAT_S
            self._emit(self.public, "HB", self.hb_fields())
        if self.goal_kind is not None and now >= self.next_fb:
            self.next_fb = now + W.FEEDBACK_S
            self._feedback()

    def _feedback(self) -> None:
        dist = self.remaining()
        eta = dist / self.speed
        if self.goal_kind == "DOCK":
            eta += W.DOCKING_S
        self._emit(AUTHED, "FB", [self.goal_id, W.fmt_positive(dist), W.fmt_positive(eta),
                                  "MOVING", ""])

    def _own_rules(self, now: float) -> None:
        """Link loss (10), the 60 s return from ARRIVED (6.1) and from a boot away (10)."""
        if self.heard_kiosk and not self.link_lost and now - self.last_life > W.LINK_LOSS_S:
            self.link_lost = True
            if self.goal_kind == "GOTO":
                self._stop()
                self._end_goal("ABORTED", "LINK_LOST")
            if self.state in ("IDLE", "ARRIVED", "GUIDING"):
                self._go_home()
            return
        if self.state == "ARRIVED" and now - max(self.arrived_at, self.last_command) >= \
                W.ARRIVED_RETURN_S:
            self._go_home()
        elif (self.state == "IDLE" and not self.heard_kiosk
              and now - self.booted_at >= W.BOOT_AWAY_RETURN_S):
            self._go_home()
