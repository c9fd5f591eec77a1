"""The guide robot's behaviour: states, goals, acks (table 5.1), heartbeats, e-stop, link loss.

Pure core: `handle(session, frame, now)` and `tick(now)` return the frames to send as
(fields, target) pairs, target "reply" (the link that sent the command), "public" (every
link: HB, STATUS, boot HELLO) or "private" (only trusted links: FB, RESULT).
"""

from __future__ import annotations

import math
import re
import secrets

from . import mapdata as M
from .auth import mac_kiosk, mac_robot, new_nonce, valid_nonce
from .frames import MAX_FRAME, build
from .session import Session

_ID = re.compile(r"[1-9]\d{0,4}")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,16}")
COMMANDS = {"HELLO", "GOTO", "DOCK", "CANCEL", "STATQ", "CHECK", "WPQ", "SAY", "ESTOP", "RESET"}
COMMANDS |= {"AUTH", "REBOOT"}
Out = tuple[list[str], str]


def valid_id(text: str) -> bool:
    """Command ids are decimal integers 1-99999."""
    return bool(_ID.fullmatch(text))


def _num(value: float) -> str:
    return f"{value:.1f}"


class Robot:
    """One guide robot; the e-stop latch lives in `nvram` and survives `boot()`."""

    def __init__(
        self, key: str | None = None, nvram: dict | None = None, hello_clears_auth: bool = True
    ) -> None:
        self.key = key
        # Section 13 says both "a new HELLO restarts the handshake for that connection" and
        # "an authenticated connection stays authenticated until it closes or the robot
        # reboots": our reading keeps it (False); True is the conformance kit's reading.
        self.hello_clears_auth = hello_clears_auth
        self.nvram = nvram if nvram is not None else {"latched": False}
        self.sessions: list[Session] = []
        self.x, self.y = M.WAYPOINTS[M.DOCK]
        self.heading = 90.0
        self.docked = True
        self.battery = 100
        self.bad_fields = 0
        self.boot(0.0)

    # ---- boot and reporting -------------------------------------------------
    def boot(self, now: float) -> None:
        """Start as after a power cut: new boot id, goals and sessions forgotten."""
        self.boot_id = secrets.token_hex(4)
        self.booting_until = now + M.BOOT_S
        self.state = "BOOT"
        self.goal: dict | None = None
        self.last_goal = ("", "NONE", "")
        self.own_return = False
        self.target: str | None = None
        self.docking_until: float | None = None
        self.reboot_at: float | None = None
        self.kiosk_heard_at: float | None = None
        self.link_lost_done = False
        self.last_command_at = now
        self.next_hb = now
        self.next_fb = now
        self.reported: tuple[str, bool] | None = None
        self.pending: list[Out] = []
        for s in self.sessions:
            s.forget()

    @property
    def latched(self) -> bool:
        return bool(self.nvram["latched"])

    def state_word(self) -> str:
        """ESTOP outranks every state, BOOT included."""
        return "ESTOP" if self.latched else self.state

    def _goal_fields(self) -> list[str]:
        gid, status, reason = self.last_goal
        return [gid, status, reason]

    def hb(self) -> list[str]:
        return ["HB", self.state_word(), str(self.battery), *self._goal_fields(), self.boot_id, "0"]

    def hello(self) -> list[str]:
        caps = "SWCR" + ("A" if self.key else "")
        return ["HELLO", "1", M.MODEL, self.boot_id, f"{M.SPEED_M_S:.1f}", "1", caps, M.MAP_VERSION]

    def status(self) -> list[str]:
        """STATUS, trailing fields left out if it would pass 82 bytes (section 4.5)."""
        self.reported = (self.state_word(), self.latched)
        fields = ["STATUS", self.state_word(), str(self.battery), *self._goal_fields()]
        fields += [_num(self.x), _num(self.y), self.at_waypoint(), "1" if self.latched else "0"]
        fields.append(_num(self.heading % 360.0))
        while len(build(999, fields)) > MAX_FRAME:
            fields.pop()
        return fields

    def at_waypoint(self) -> str:
        for name, (wx, wy) in M.WAYPOINTS.items():
            if math.hypot(wx - self.x, wy - self.y) <= M.ARRIVE_EPS_M:
                return name
        return ""

    def _emit(self, fields: list[str], target: str) -> None:
        self.pending.append((fields, target))

    def _flush(self) -> list[Out]:
        if self.state != "BOOT" and self.reported not in (None, (self.state_word(), self.latched)):
            self._emit(self.status(), "public")
        out, self.pending = self.pending, []
        return out

    # ---- goals ----------------------------------------------------------------
    def _end_goal(self, status: str, reason: str = "") -> None:
        if self.goal is None:
            return
        gid = self.goal["id"]
        self.goal = None
        self.last_goal = (gid, status, reason)
        self._emit(["RESULT", gid, status, reason], "private")

    def _stop(self) -> None:
        self.target = None
        self.docking_until = None

    def _start_return(self, now: float, own: bool) -> None:
        self.own_return = own
        self.docked = False
        if self.state in ("RETURNING", "DOCKING"):
            return  # the same manoeuvre carries on
        if self.at_waypoint() == M.DOCK:
            self.state, self.target, self.docking_until = "DOCKING", None, now + M.DOCKING_S
        else:
            self.state, self.target = "RETURNING", M.DOCK

    def _start_goal(self, gid: str, kind: str, target: str) -> None:
        self.goal = {"id": gid, "kind": kind, "target": target}
        self.last_goal = (gid, "ACTIVE", "")

    # ---- commands ---------------------------------------------------------------
    def handle(self, session: Session, frame: list[str], now: float) -> list[Out]:
        """React to one good frame from the kiosk; return what to send."""
        typ, args = frame[0], frame[1:]
        if session.trusted:
            self.kiosk_heard_at = now
            self.link_lost_done = False
        if typ == "HB" or self.state == "BOOT":
            return []
        cid = args[0] if args else ""
        if not valid_id(cid):
            if typ in COMMANDS:
                self.bad_fields += 1
            return []
        if not session.trusted and typ not in ("HELLO", "AUTH"):
            return [(["ACK", cid, "DENIED", "AUTH_REQUIRED"], "reply")]
        if cid in session.ids:
            return [(session.ids[cid], "reply")]
        self.last_command_at = now
        if typ == "HELLO":
            session.ids.clear()
        handler = getattr(self, "_cmd_" + typ.lower(), None) if typ in COMMANDS else None
        code, detail = handler(session, args, now) if handler else ("UNSUPPORTED", typ)
        ack = ["ACK", cid, code, detail]
        session.ids[cid] = ack
        while len(session.ids) > M.REMEMBERED_IDS:
            session.ids.popitem(last=False)
        return [(ack, "reply"), *self._flush()]

    def _cmd_hello(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        self._emit(self.hello(), "reply")
        self._emit(self.status(), "reply")
        nonce = args[4] if len(args) > 4 else ""
        session.handshake = None
        if self.hello_clears_auth and self.key:
            session.authenticated = False
        if self.key and valid_nonce(nonce):
            robot_nonce = new_nonce()
            session.handshake = (nonce, robot_nonce)
            mac = mac_robot(self.key, nonce, robot_nonce, self.boot_id)
            self._emit(["AUTH", robot_nonce, mac], "reply")
        return "ACCEPTED", ""

    def _cmd_auth(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        hs, session.handshake = session.handshake, None
        mac = args[1].lower() if len(args) > 1 else ""
        if not self.key or hs is None or mac != mac_kiosk(self.key, *hs):
            return "DENIED", "AUTH_FAILED"
        session.authenticated = True
        self.kiosk_heard_at = now
        self.link_lost_done = False
        return "ACCEPTED", ""

    def _cmd_statq(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        self._emit(self.status(), "reply")
        return "ACCEPTED", ""

    def _cmd_check(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        name = args[1] if len(args) > 1 else ""
        if not _NAME.fullmatch(name):
            return "FAILED", "BAD_ARGUMENT"
        return ("ACCEPTED", "") if name in M.WAYPOINTS else ("DENIED", "UNKNOWN_WAYPOINT")

    def _cmd_wpq(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        count = len(M.WAYPOINTS)
        for i, (name, (x, y)) in enumerate(M.WAYPOINTS.items(), start=1):
            self._emit(["WP", str(i), str(count), name, _num(x), _num(y)], "reply")
        return "ACCEPTED", str(count)

    def _cmd_say(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        code = args[1] if len(args) > 1 else ""
        return ("ACCEPTED", "") if code in M.PHRASES else ("FAILED", "BAD_ARGUMENT")

    def _cmd_goto(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        name = args[1] if len(args) > 1 else ""
        refusal = self._goto_refusal(name)
        if refusal:
            return refusal
        if self.goal is not None:  # a kiosk DOCK goal: pre-empted
            self._end_goal("CANCELED")
        self.own_return = False
        self._stop()
        self._start_goal(args[0], "goto", name)
        wx, wy = M.WAYPOINTS[name]
        if math.hypot(wx - self.x, wy - self.y) <= M.ARRIVE_EPS_M:
            docked = self.docked and name == M.DOCK
            self.state = "DOCKED" if docked else "ARRIVED"
            self.docked = docked
            self._end_goal("SUCCEEDED")
        else:
            self.state, self.target, self.docked = "GUIDING", name, False
        return "ACCEPTED", ""

    def _goto_refusal(self, name: str) -> tuple[str, str] | None:
        if self.latched:
            return "DENIED", "ESTOP_ACTIVE"
        if self.state == "FAULT":
            return "DENIED", "LOCALIZATION_LOST"
        if not _NAME.fullmatch(name):
            return "FAILED", "BAD_ARGUMENT"
        if name not in M.WAYPOINTS:
            return "DENIED", "UNKNOWN_WAYPOINT"
        if self.goal is not None and self.goal["kind"] == "goto":
            return "BUSY", str(math.ceil(self._remaining() / M.SPEED_M_S))
        if self.battery < M.GOTO_MIN_BATTERY:
            return "DENIED", "LOW_BATTERY"
        return None

    def _cmd_dock(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        if self.latched:
            return "DENIED", "ESTOP_ACTIVE"
        if self.state == "FAULT":
            return "DENIED", "LOCALIZATION_LOST"
        if self.goal is not None:
            self._end_goal("CANCELED")
        self._start_goal(args[0], "dock", M.DOCK)
        if self.state == "DOCKED":
            self._end_goal("SUCCEEDED")
            return "ACCEPTED", ""
        if self.state not in ("RETURNING", "DOCKING"):
            self._stop()
        self._start_return(now, own=False)
        return "ACCEPTED", ""

    def _cmd_cancel(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        gid = args[1] if len(args) > 1 else ""
        if gid and not valid_id(gid):
            return "FAILED", "BAD_ARGUMENT"
        if self.goal is None or (gid and int(gid) != int(self.goal["id"])):
            return "ACCEPTED", "NO_GOAL"
        self._stop()
        self.state, self.docked, self.own_return = "IDLE", False, False
        self._end_goal("CANCELED")
        return "ACCEPTED", ""

    def _cmd_estop(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        if not self.latched:
            self.nvram["latched"] = True
            self._stop()
            self.own_return = False
            if self.state not in ("DOCKED", "FAULT"):
                self.state = "IDLE"
            self._end_goal("ABORTED", "ESTOP_ACTIVE")
        return "ACCEPTED", ""

    def _cmd_reset(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        if not self.latched:
            return "ACCEPTED", "NOT_LATCHED"
        self.nvram["latched"] = False
        return "ACCEPTED", ""

    def _cmd_reboot(self, session: Session, args: list[str], now: float) -> tuple[str, str]:
        self.reboot_at = now + 0.2
        return "ACCEPTED", ""

    # ---- time -------------------------------------------------------------------
    def _remaining(self) -> float:
        if self.target is None:
            return 0.0
        wx, wy = M.WAYPOINTS[self.target]
        return math.hypot(wx - self.x, wy - self.y)

    def _drive(self, dt: float, now: float) -> None:
        if self.docking_until is not None and now >= self.docking_until:
            self.docking_until = None
            self.state, self.docked, self.own_return = "DOCKED", True, False
            self.heading = 90.0
            if self.goal is not None and self.goal["kind"] == "dock":
                self._end_goal("SUCCEEDED")
        if self.target is None or self.latched:
            return
        wx, wy = M.WAYPOINTS[self.target]
        dist = self._remaining()
        step = M.SPEED_M_S * dt
        if dist > 1e-9:
            self.heading = math.degrees(math.atan2(wy - self.y, wx - self.x)) % 360.0
        if step < dist:
            self.x += (wx - self.x) * step / dist
            self.y += (wy - self.y) * step / dist
            return
        self.x, self.y, self.target = wx, wy, None
        if self.state == "RETURNING":
            self.state, self.docking_until = "DOCKING", now + M.DOCKING_S
        else:
            self.state = "ARRIVED"
            self._end_goal("SUCCEEDED")

    def _watchdogs(self, now: float) -> None:
        heard = self.kiosk_heard_at
        if heard is not None and now - heard > M.LINK_LOST_S and not self.link_lost_done:
            self.link_lost_done = True
            if self.goal is not None and self.goal["kind"] == "goto":
                self._stop()
                self.state = "IDLE"
                self._end_goal("ABORTED", "LINK_LOST")
            if self.state in ("IDLE", "ARRIVED") and not self.latched:
                self._start_return(now, own=True)
        idle = now - self.last_command_at > M.IDLE_RETURN_S
        if idle and self.state in ("IDLE", "ARRIVED") and not self.latched:
            self._start_return(now, own=True)

    def tick(self, now: float, dt: float) -> list[Out]:
        """Advance time by dt seconds: boot end, motion, watchdogs, HB and FB."""
        if self.reboot_at is not None and now >= self.reboot_at:
            self.boot(now)
        if self.state == "BOOT" and now >= self.booting_until:
            self.state = "DOCKED" if self.docked else "IDLE"
            self._emit(self.hello(), "public")
            self._emit(self.status(), "public")
        if self.state != "BOOT":
            self._drive(dt, now)
            self._watchdogs(now)
        if self.goal is not None and now >= self.next_fb:
            self.next_fb = now + M.FEEDBACK_S
            self._emit(self._feedback(now), "private")
        if now >= self.next_hb:
            self.next_hb = now + M.HEARTBEAT_S
            self._emit(self.hb(), "public")
        return self._flush()

    def _feedback(self, now: float) -> list[str]:
        assert self.goal is not None
        if self.docking_until is not None:
            left = max(0.0, self.docking_until - now)
            return ["FB", self.goal["id"], "0.0", _num(left), "MOVING", ""]
        dist = self._remaining()
        if self.goal["kind"] == "dock":
            extra = M.DOCKING_S
        else:
            extra = 0.0
        return ["FB", self.goal["id"], _num(dist), _num(dist / M.SPEED_M_S + extra), "MOVING", ""]
