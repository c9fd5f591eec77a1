"""An independent guide-robot firmware for protocol 1.1, written from docs/robot-protocol.md alone.

`Firmware` is the robot's behaviour: it is fed well-formed frames (`on_frame`) and the time
(`tick`), and answers through the links attached to it (anything with `keyed`, `name`,
`send(type, fields)`, `close()` and `reset_seq()`). It does no I/O of its own, so it can be
driven on a fake clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import random
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .wire import Frame, fmt_num, fmt_speed, is_name, parse_id
from .world import DEFAULT_MAP_VERSION, Waypoint, distance, heading_to, load_waypoints

log = logging.getLogger("indep_robot")

COMMANDS = ("HELLO", "GOTO", "DOCK", "CANCEL", "STATQ", "CHECK", "WPQ", "SAY", "ESTOP", "RESET", "AUTH", "REBOOT")
PHRASES = ("FOLLOW_ME", "ARRIVED")
NONCE_RE = re.compile(r"^[0-9A-Fa-f]{8,16}$")
MEMORY = 128  # command ids remembered per session (the spec asks for at least 64)
AT_WAYPOINT_M = 0.05
V11_COMMANDS = ("WPQ", "AUTH", "REBOOT")  # --v1: new in 1.1, answered UNSUPPORTED
V1_FIELDS = {"HELLO": 4, "HB": 5, "STATUS": 10, "FB": 3}  # --v1: the fields before the 1.1 additions
V1_ACKS = {  # --v1: 1.1 notes and reasons a version-1 robot did not send (section 16)
    ("ACCEPTED", "NO_GOAL"): ("ACCEPTED", ""),
    ("ACCEPTED", "NOT_LATCHED"): ("ACCEPTED", ""),
    ("DENIED", "LOCALIZATION_LOST"): ("FAILED", "LOCALIZATION_LOST"),
}
BLOCK_AFTER_S = 1.0  # --block: driving time before the way turns out blocked
BLOCK_WAIT_S = 3.0  # then this long WAITING,OBSTACLE and this long RECOVERING,REPLANNING


def mac_r(key: str, kiosk_nonce: str, robot_nonce: str, boot_id: str) -> str:
    msg = f"XVK1|R|{kiosk_nonce}|{robot_nonce}|{boot_id}"
    return hmac.new(key.encode("ascii"), msg.encode("ascii"), hashlib.sha256).hexdigest()[:16]


def mac_k(key: str, kiosk_nonce: str, robot_nonce: str) -> str:
    msg = f"XVK1|K|{kiosk_nonce}|{robot_nonce}"
    return hmac.new(key.encode("ascii"), msg.encode("ascii"), hashlib.sha256).hexdigest()[:16]


@dataclass
class Config:
    """Everything the firmware needs; times in seconds, speeds in m/s, battery in percent."""

    model: str = "INDEP-FW1"
    speed: float = 0.7
    waypoints: list[Waypoint] = field(default_factory=lambda: load_waypoints(None))
    dock: str = "dock"
    start: str | None = None  # waypoint where it is at power-up (None: docked on the dock)
    map_version: str = DEFAULT_MAP_VERSION
    caps: str = "SWVCR"
    key: str | None = None  # shared key: the keyed handshake of section 13 is required
    battery: float | None = 100.0  # None: the robot has no battery gauge
    drain_per_min: float = 1.0  # % per minute of driving
    charge_per_min: float = 10.0  # % per minute on the dock
    goto_min_battery: float = 15.0
    critical_battery: float = 10.0
    boot_s: float = 0.5
    dock_s: float = 2.0  # the final docking manoeuvre
    hb_s: float = 1.0
    fb_s: float = 0.5
    link_lost_s: float = 3.0
    arrived_return_s: float = 60.0
    boot_away_return_s: float = 60.0
    visitor_wait_s: float = 30.0
    unlocalised: bool = False
    # faults (README "Flags")
    reboot_after: float | None = None
    estop_after: float | None = None
    estop_hold: float = 2.0
    stall_after: float | None = None
    stall_for: float | None = None
    visitor_lost_after: float | None = None
    visitor_lost_for: float | None = None
    obstacle_after: float | None = None
    obstacle_for: float = 4.0
    blocked: tuple[str, ...] = ()
    occupied_after: float | None = None
    occupied_for: float = 20.0
    lose_localisation_after: float | None = None
    lose_localisation_for: float | None = None  # relocalises by itself after this long
    drop_hello: bool = False
    unknown_frames: bool = False
    extra_fields: bool = False
    v1: bool = False  # behave as a version-1 robot (section 16): no 1.1 fields, messages or notes

    def all_caps(self) -> str:
        if self.v1:
            return "S" if "S" in self.caps.upper() else ""
        caps = "".join(dict.fromkeys(self.caps.upper()))
        return caps + ("A" if self.key and "A" not in caps else "")


class Nvram:
    """Non-volatile memory: the e-stop latch and a boot counter survive a reboot (section 9)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = Path(path) if path else None
        self.latched = False
        self.boots = 0
        if self.path and self.path.is_file():
            data = json.loads(self.path.read_text() or "{}")
            self.latched = bool(data.get("latched"))
            self.boots = int(data.get("boots", 0))

    def save(self) -> None:
        if self.path:
            self.path.write_text(json.dumps({"latched": self.latched, "boots": self.boots}))


@dataclass
class LinkState:
    """Per connection: the session's remembered acks and the keyed handshake."""

    acks: OrderedDict[int, tuple[str, str]] = field(default_factory=OrderedDict)
    authenticated: bool = False
    kiosk_nonce: str | None = None
    robot_nonce: str | None = None


@dataclass
class Motion:
    """What the wheels are doing: a kiosk goal (gid set) or the robot's own return (gid None)."""

    gid: int | None
    kind: str  # "goto" or "dock"
    target: str
    started: float
    planned_s: float
    phase: str = "drive"  # "drive", then "docking" for a dock
    dock_until: float = 0.0
    lost_since: float | None = None
    lead: bool = False  # GOTO lead=1: a visitor follows on this leg (visitor watching on)
    word: str = "MOVING"  # FB motion
    why: str = ""  # FB why


class Firmware:
    """The robot. All times are the caller's clock (time.monotonic or a fake one)."""

    def __init__(self, cfg: Config, now: float, rng: random.Random | None = None, nvram: Nvram | None = None):
        self.cfg = cfg
        self.rng = rng or random.Random()
        self.nvram = nvram or Nvram()
        self.wps = {w.name: w for w in cfg.waypoints}
        if cfg.dock not in self.wps:
            raise ValueError(f"dock waypoint {cfg.dock!r} is not in the map")
        self.links: dict[Any, LinkState] = {}
        self.stats: Counter[str] = Counter()
        self.t0 = self.now = now
        self.out: list[tuple[Any, str, list[str], bool]] = []
        self.faults_done: set[str] = set()
        self.button_pressed = False
        self.button_release_at: float | None = None
        self.occupied_until = -1.0
        self.relocalise_at: float | None = None
        self.loc_lost = False  # FAULT: localisation lost (not the same as --empty-position's unlocalised IDLE)
        self.battery = cfg.battery
        self._place_at_power_up()
        self._boot(now)

    # ------------------------------------------------------------------ boot and links
    def _place_at_power_up(self) -> None:
        start = self.wps[self.cfg.start or self.cfg.dock]
        self.pos: tuple[float, float] | None = None if self.cfg.unlocalised else (start.x, start.y)
        self.heading: float | None = None if self.cfg.unlocalised else (start.heading or 0.0)
        self.docked = start.name == self.cfg.dock and not self.cfg.unlocalised
        self.last_known = ((start.x, start.y), start.heading or 0.0)

    def _boot(self, now: float) -> None:
        self.nvram.boots += 1
        self.nvram.save()
        self.boot_id = f"{self.rng.getrandbits(32):08x}"
        self.state = "BOOT"
        self.status_due = False
        self.boot_done_at = now + self.cfg.boot_s
        self.booted_at = now
        self.motion: Motion | None = None
        self.goal_id: int | None = None
        self.goal_status = "NONE"
        self.goal_reason = ""
        self.last_kiosk: float | None = None
        self.last_command = now
        self.link_lost = False
        self.boot_away_done = False
        self.arrived_at = now
        self.reboot_at: float | None = None
        self.next_hb = now
        self.next_fb = now
        self.next_diag = now + 3.0
        for link in list(self.links):
            self.links[link] = LinkState()
            link.reset_seq()
        log.info("boot: boot id %s, e-stop latched %s", self.boot_id, self.nvram.latched)

    def attach(self, link: Any) -> None:
        self.links[link] = LinkState()

    def detach(self, link: Any) -> None:
        self.links.pop(link, None)

    def _finish_boot(self) -> None:
        if self.nvram.latched:
            self.state = "ESTOP"
        elif self.pos is None and self._faulted():
            self.state = "FAULT"
        else:
            self.state = "DOCKED" if self.docked else "IDLE"
        if self.cfg.drop_hello:
            self.stats["hello_dropped"] += 1
        else:
            self._emit("HELLO", self._hello_fields(), public=True)
        self._emit("STATUS", self._status_fields(), public=True)

    # ------------------------------------------------------------------ frames in
    def on_frame(self, link: Any, frame: Frame, now: float) -> None:
        """A well-formed frame from `link` (checksum, talker, seq and type already checked)."""
        self.now = now
        self.stats["rx_" + frame.type] += 1
        if self.state == "BOOT":
            self.stats["ignored_while_booting"] += 1
            return
        ls = self.links.setdefault(link, LinkState())
        if not link.keyed or ls.authenticated:
            self._life(now)
        if frame.type == "HB":
            return
        cid = parse_id(frame.field(0))
        if cid is None:
            self.stats["bad_field" if frame.type in COMMANDS else "ignored_unknown_no_id"] += 1
            return
        self._command(link, ls, cid, frame)
        self._flush()

    def _command(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> None:
        if cid in ls.acks:
            self.stats["duplicate"] += 1
            link.send("ACK", [str(cid), *ls.acks[cid]])
            return
        if link.keyed and not ls.authenticated and frame.type not in ("HELLO", "AUTH"):
            link.send("ACK", [str(cid), "DENIED", "AUTH_REQUIRED"])
            return
        self.last_command = self.now
        if frame.type in V11_COMMANDS and self.cfg.v1:
            code, detail = "UNSUPPORTED", frame.type
        elif frame.type in COMMANDS:
            code, detail = getattr(self, "_cmd_" + frame.type.lower())(link, ls, cid, frame)
        else:
            self.stats["unknown_type_" + frame.type] += 1
            code, detail = "UNSUPPORTED", frame.type
        if self.cfg.v1:
            code, detail = V1_ACKS.get((code, detail), (code, detail))
        ls.acks[cid] = (code, detail)
        while len(ls.acks) > MEMORY:
            ls.acks.popitem(last=False)
        link.send("ACK", [str(cid), code, detail])

    def _life(self, now: float) -> None:
        self.last_kiosk = now
        self.link_lost = False

    # ------------------------------------------------------------------ commands
    def _cmd_hello(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        ls.acks.clear()
        ls.authenticated = False
        nonce = frame.field(4)
        ls.kiosk_nonce = nonce if NONCE_RE.match(nonce) else None
        ls.robot_nonce = None
        self._emit("HELLO", self._hello_fields(), to=link)
        self._emit("STATUS", self._status_fields(), to=link)
        if link.keyed and ls.kiosk_nonce:
            ls.robot_nonce = f"{self.rng.getrandbits(32):08x}"
            mac = mac_r(self.cfg.key or "", ls.kiosk_nonce, ls.robot_nonce, self.boot_id)
            self._emit("AUTH", [ls.robot_nonce, mac], to=link)
        return "ACCEPTED", ""

    def _cmd_auth(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        if not link.keyed or not ls.kiosk_nonce or not ls.robot_nonce:
            return "DENIED", "AUTH_FAILED"
        expected = mac_k(self.cfg.key or "", ls.kiosk_nonce, ls.robot_nonce)
        if not hmac.compare_digest(frame.field(1).lower(), expected):
            ls.robot_nonce = None  # one try per HELLO
            self.stats["auth_failed"] += 1
            return "DENIED", "AUTH_FAILED"
        ls.authenticated = True
        self._life(self.now)
        for other, ols in list(self.links.items()):
            if other is not link and ols.authenticated:
                log.info("closing %s: %s authenticated", other.name, link.name)
                other.close()
        return "ACCEPTED", ""

    def _cmd_statq(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        self._emit("STATUS", self._status_fields(), to=link)
        return "ACCEPTED", ""

    def _cmd_check(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        name = frame.field(1)
        if not is_name(name):
            return "FAILED", "BAD_ARGUMENT"
        return ("ACCEPTED", "") if name in self.wps else ("DENIED", "UNKNOWN_WAYPOINT")

    def _cmd_wpq(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        if "W" not in self.cfg.all_caps():
            return "UNSUPPORTED", "WPQ"
        count = len(self.cfg.waypoints)
        for index, wp in enumerate(self.cfg.waypoints, 1):
            self._emit("WP", [str(index), str(count), wp.name, fmt_num(wp.x), fmt_num(wp.y)], to=link)
        return "ACCEPTED", str(count)

    def _cmd_say(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        if "S" not in self.cfg.all_caps():
            return "UNSUPPORTED", "SAY"
        if frame.field(1) not in PHRASES:
            return "FAILED", "BAD_ARGUMENT"
        log.info("speaker: %s", frame.field(1))
        return "ACCEPTED", ""

    def _cmd_reboot(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        if "R" not in self.cfg.all_caps():
            return "UNSUPPORTED", "REBOOT"
        self.reboot_at = self.now + 0.3
        return "ACCEPTED", ""

    def _cmd_goto(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        name = frame.field(1)
        refusal = self._goto_refusal(name)
        if refusal:
            return refusal
        self._start_goal(cid, "goto", name, lead=frame.field(2) == "1")
        return "ACCEPTED", ""

    def _goto_refusal(self, name: str) -> tuple[str, str] | None:
        """The first row of table 5.1 that refuses this GOTO, in the table's order."""
        if self.nvram.latched:
            return "DENIED", "ESTOP_ACTIVE"
        if self.state == "FAULT" or self.pos is None:
            return "DENIED", "LOCALIZATION_LOST"
        if self.now < self.occupied_until:
            return "BUSY", str(math.ceil(self.occupied_until - self.now))
        if is_name(name) and name not in self.wps:
            return "DENIED", "UNKNOWN_WAYPOINT"
        if not is_name(name):
            return "FAILED", "BAD_ARGUMENT"
        if self.motion and self.motion.gid is not None and self.motion.kind == "goto":
            eta = self._eta(self.motion)
            return "BUSY", "" if eta is None else str(math.ceil(eta))
        if self.battery is not None and int(self.battery) < self.cfg.goto_min_battery:
            return "DENIED", "LOW_BATTERY"
        return None

    def _cmd_dock(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        if self.nvram.latched:
            return "DENIED", "ESTOP_ACTIVE"
        if self.state == "FAULT" or self.pos is None:
            return "DENIED", "LOCALIZATION_LOST"
        self._start_goal(cid, "dock", self.cfg.dock)
        return "ACCEPTED", ""

    def _cmd_cancel(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        wanted = frame.field(1)
        if wanted and parse_id(wanted) is None:
            return "FAILED", "BAD_ARGUMENT"
        m = self.motion
        if m is None or m.gid is None or (wanted and int(wanted) != m.gid):
            return "ACCEPTED", "NO_GOAL"
        self._end_goal("CANCELED")
        self._stop("IDLE")
        return "ACCEPTED", ""

    def _cmd_estop(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        if not self.nvram.latched:
            self._latch("ESTOP command")
        return "ACCEPTED", ""

    def _cmd_reset(self, link: Any, ls: LinkState, cid: int, frame: Frame) -> tuple[str, str]:
        if not self.nvram.latched:
            return "ACCEPTED", "NOT_LATCHED"
        if self.button_pressed:
            return "DENIED", "ESTOP_ACTIVE"
        self.nvram.latched = False
        self.nvram.save()
        self._set_state("FAULT" if self.pos is None and self._faulted() else ("DOCKED" if self.docked else "IDLE"))
        return "ACCEPTED", ""

    def _faulted(self) -> bool:
        return self.loc_lost

    # ------------------------------------------------------------------ goals
    def _start_goal(self, gid: int, kind: str, target: str, lead: bool = False) -> None:
        old = self.motion
        if old is not None and old.gid is not None:
            self._end_goal("CANCELED")
        self.goal_id, self.goal_status, self.goal_reason = gid, "ACTIVE", ""
        self.next_fb = self.now
        if kind == "dock" and self.docked:
            self.motion = None
            self._end_goal("SUCCEEDED")
            return
        if kind == "dock" and old is not None and old.kind == "dock":
            old.gid = gid  # the new id carries on the same manoeuvre without stopping
            self.motion = old
            return
        wp = self.wps[target]
        if kind == "goto" and self._at(wp):
            self.motion = None
            self._end_goal("SUCCEEDED")
            self._set_state("DOCKED" if self.docked and target == self.cfg.dock else "ARRIVED")
            self.arrived_at = self.now
            return
        self.docked = False
        self.motion = Motion(gid, kind, target, self.now, self._plan_s(kind, wp), lead=lead)
        self._drive_state()

    def _start_own_return(self, why: str) -> None:
        if self.nvram.latched or self.pos is None or self.docked or self.state == "FAULT":
            return
        if self.motion is not None and self.motion.kind == "dock":
            return
        log.info("returning to the dock on its own: %s", why)
        wp = self.wps[self.cfg.dock]
        self.motion = Motion(None, "dock", self.cfg.dock, self.now, self._plan_s("dock", wp))
        self._drive_state()

    def _drive_state(self) -> None:
        m = self.motion
        if m is None:
            return
        if m.kind == "dock" and m.phase == "drive" and self._at(self.wps[m.target]):
            m.phase, m.dock_until = "docking", self.now + self.cfg.dock_s
        if m.kind == "goto":
            self._set_state("GUIDING")
        else:
            self._set_state("DOCKING" if m.phase == "docking" else "RETURNING")

    def _plan_s(self, kind: str, wp: Waypoint) -> float:
        dist = distance(self.pos, (wp.x, wp.y)) if self.pos else 0.0
        return dist / self.cfg.speed + (self.cfg.dock_s if kind == "dock" else 0.0)

    def _end_goal(self, status: str, reason: str = "") -> None:
        """End the kiosk goal that is running (if any): goal fields and one RESULT."""
        m = self.motion
        gid = m.gid if m is not None and m.gid is not None else None
        if gid is None and self.goal_status == "ACTIVE":
            gid = self.goal_id  # a goal that ends the moment it starts
        if gid is None:
            return
        self.goal_id, self.goal_status, self.goal_reason = gid, status, reason
        self._emit("RESULT", [str(gid), status, reason])
        if m is not None and m.gid == gid:
            m.gid = None

    def _stop(self, state: str) -> None:
        self.motion = None
        self.docked = False if state != "DOCKED" else self.docked
        self._set_state(state)

    def _latch(self, why: str) -> None:
        log.info("e-stop latched: %s", why)
        self.nvram.latched = True
        self.nvram.save()
        if self.motion is not None and self.motion.gid is not None:
            self._end_goal("ABORTED", "ESTOP_ACTIVE")
        self.motion = None
        self._set_state("ESTOP")
        self.status_due = True

    def _at(self, wp: Waypoint) -> bool:
        return self.pos is not None and distance(self.pos, (wp.x, wp.y)) <= AT_WAYPOINT_M

    # ------------------------------------------------------------------ time
    def tick(self, now: float) -> None:
        dt = max(0.0, now - self.now)
        self.now = now
        if self.state == "BOOT":
            if now >= self.boot_done_at:
                self._finish_boot()
        else:
            self._scheduled_faults()
            self._watch_link()
            self._move(dt)
            self._battery(dt)
            self._own_return_rules()
            self._feedback()
            self._diag()
            if self.reboot_at is not None and now >= self.reboot_at:
                self._reboot("REBOOT command")
        self._button()
        if now >= self.next_hb:
            self.next_hb = max(self.next_hb + self.cfg.hb_s, now)
            self._emit("HB", self._hb_fields(), public=True)
        self._flush()

    def _reboot(self, why: str) -> None:
        log.info("rebooting: %s", why)
        self.stats["reboots"] += 1
        self.out.clear()
        self._boot(self.now)

    def _scheduled_faults(self) -> None:
        up = self.now - self.t0
        cfg = self.cfg
        if self._due("reboot", cfg.reboot_after, up):
            self._reboot("--reboot-after")
        if self._due("estop", cfg.estop_after, up):
            self.press_button(self.cfg.estop_hold)
        if self._due("occupied", cfg.occupied_after, up):
            self.occupied_until = self.now + cfg.occupied_for
        if self._due("loc", cfg.lose_localisation_after, up):
            self.lose_localisation()
        if self.relocalise_at is not None and self.now >= self.relocalise_at:
            self.relocalise()

    def _due(self, name: str, after: float | None, up: float) -> bool:
        if after is None or name in self.faults_done or up < after:
            return False
        self.faults_done.add(name)
        return True

    def press_button(self, hold_s: float) -> None:
        """The robot's own stop button, released after `hold_s` seconds."""
        self.button_pressed = True
        self.button_release_at = self.now + hold_s
        if not self.nvram.latched:
            self._latch("stop button")

    def release_button(self) -> None:
        self.button_release_at = self.now

    def console(self, line: str) -> str:
        """A line typed on the firmware's console (--console); returns the answer."""
        words = line.split()
        if not words:
            return ""
        verb, arg = words[0].lower(), (words[1] if len(words) > 1 else "")
        if verb == "estop":
            self.press_button(float(arg) if arg else 1e9)
        elif verb == "release":
            self.release_button()
        elif verb == "reboot":
            self._reboot("console")
        elif verb == "lose":
            self.lose_localisation()
        elif verb == "relocalise":
            self.relocalise(arg or None)
        elif verb == "battery":
            self.battery = None if arg in ("", "unknown") else max(0.0, min(100.0, float(arg)))
        elif verb == "occupy":
            self.occupied_until = self.now + (float(arg) if arg else 20.0)
        elif verb != "status":
            return "commands: estop [S], release, reboot, lose, relocalise [WAYPOINT], battery PCT|unknown, occupy [S], status, quit"
        self._flush()
        return "STATUS " + ",".join(self._status_fields())

    def _button(self) -> None:
        if self.button_pressed and self.button_release_at is not None and self.now >= self.button_release_at:
            self.button_pressed = False
            log.info("stop button released (still latched until RESET)")

    def lose_localisation(self) -> None:
        """The robot no longer knows where it is: state FAULT until it relocalises (RESET does not help)."""
        self.loc_lost = True
        if self.motion is not None and self.motion.gid is not None:
            self._end_goal("ABORTED", "LOCALIZATION_LOST")
        if self.pos is not None:
            self.last_known = (self.pos, self.heading)
        self.pos = None
        self.heading = None
        self.motion = None
        if self.cfg.lose_localisation_for is not None:
            self.relocalise_at = self.now + self.cfg.lose_localisation_for
        if self.state != "BOOT":
            self._set_state("ESTOP" if self.nvram.latched else "FAULT")

    def relocalise(self, where: str | None = None) -> None:
        """The cause is gone: the robot knows its position again (at `where`, or where it was lost)."""
        self.relocalise_at = None
        self.loc_lost = False
        if where is not None:
            wp = self.wps[where]
            self.pos, self.heading = (wp.x, wp.y), wp.heading or 0.0
        elif self.pos is None:
            self.pos, self.heading = self.last_known
        if self.state == "FAULT":
            self._set_state("DOCKED" if self.docked else "IDLE")

    def _watch_link(self) -> None:
        if self.last_kiosk is None or self.link_lost or self.now - self.last_kiosk <= self.cfg.link_lost_s:
            return
        self.link_lost = True
        self.stats["link_lost"] += 1
        log.info("kiosk heartbeat lost")
        m = self.motion
        if m is not None and m.gid is not None and m.kind == "goto":
            self._end_goal("ABORTED", "LINK_LOST")
            self._stop("IDLE")
        self._start_own_return("link lost")

    def _own_return_rules(self) -> None:
        if self.state == "ARRIVED" and self.now - max(self.arrived_at, self.last_command) >= self.cfg.arrived_return_s:
            self._start_own_return("60 s at a waypoint")
        if (
            self.last_kiosk is None
            and not self.boot_away_done
            and self.state == "IDLE"
            and self.now - self.booted_at >= self.cfg.boot_away_return_s
        ):
            self.boot_away_done = True
            self._start_own_return("booted away from the dock, no kiosk")

    def _move(self, dt: float) -> None:
        m = self.motion
        if m is None or self.pos is None:
            return
        if m.phase == "docking":
            if self.now >= m.dock_until:
                self._docked()
            return
        m.word, m.why = "MOVING", ""
        if self._timed_out(m) or self._stalled(m) or self._visitor_waiting(m) or self._obstacle(m):
            return
        wp = self.wps[m.target]
        target = (wp.x, wp.y)
        left = distance(self.pos, target)
        step = self.cfg.speed * dt
        if left > AT_WAYPOINT_M:
            self.heading = heading_to(self.pos, target)
        if left <= step:
            self.pos = target
            self._arrive(m, wp)
        else:
            f = step / left
            self.pos = (self.pos[0] + (target[0] - self.pos[0]) * f, self.pos[1] + (target[1] - self.pos[1]) * f)
        self._drain(dt)

    def _arrive(self, m: Motion, wp: Waypoint) -> None:
        if wp.heading is not None:
            self.heading = wp.heading
        if m.kind == "dock":
            m.phase, m.dock_until = "docking", self.now + self.cfg.dock_s
            self._set_state("DOCKING")
            return
        self._end_goal("SUCCEEDED")
        self.motion = None
        self.arrived_at = self.now
        self._set_state("ARRIVED")

    def _docked(self) -> None:
        self._end_goal("SUCCEEDED")
        self.motion = None
        self.docked = True
        self._set_state("DOCKED")

    def _window(self, m: Motion, after: float | None, length: float | None) -> bool:
        if after is None:
            return False
        t = self.now - m.started
        return t >= after and (length is None or t < after + length)

    def _stalled(self, m: Motion) -> bool:
        return self._window(m, self.cfg.stall_after, self.cfg.stall_for)

    def _visitor_waiting(self, m: Motion) -> bool:
        if m.kind != "goto" or m.gid is None or not m.lead or "V" not in self.cfg.all_caps():
            return False
        if not self._window(m, self.cfg.visitor_lost_after, self.cfg.visitor_lost_for):
            m.lost_since = None
            return False
        if m.lost_since is None:
            m.lost_since = self.now
            log.info("visitor lost: waiting")
        m.word, m.why = "WAITING", "VISITOR_LOST"
        if self.now - m.lost_since >= self.cfg.visitor_wait_s:
            self._end_goal("ABORTED", "VISITOR_LOST")
            self._stop("IDLE")
        return True

    def _obstacle(self, m: Motion) -> bool:
        """A person in the way (--obstacle-after), or a path that is blocked for good (--block)."""
        if self._window(m, self.cfg.obstacle_after, self.cfg.obstacle_for):
            m.word, m.why = "WAITING", "OBSTACLE"
            return True
        if m.target not in self.cfg.blocked:
            return False
        t = self.now - m.started
        if t < BLOCK_AFTER_S:
            return False
        if t < BLOCK_AFTER_S + BLOCK_WAIT_S:
            m.word, m.why = "WAITING", "OBSTACLE"
        elif t < BLOCK_AFTER_S + 2 * BLOCK_WAIT_S:
            m.word, m.why = "RECOVERING", "REPLANNING"
        elif m.gid is not None:
            self._end_goal("ABORTED", "BLOCKED")
            self._stop("IDLE")
        else:
            self._stop("IDLE")  # its own return is blocked: it stays and waits for the kiosk
        return True

    def _timed_out(self, m: Motion) -> bool:
        if m.gid is None or m.lost_since is not None:
            return False
        if self.now - m.started <= 3 * m.planned_s + 30.0:
            return False
        self._end_goal("ABORTED", "TIMEOUT")
        self._stop("IDLE")
        return True

    def _drain(self, dt: float) -> None:
        if self.battery is not None:
            self.battery = max(0.0, self.battery - self.cfg.drain_per_min * dt / 60.0)

    def _battery(self, dt: float) -> None:
        if self.battery is None:
            return
        if self.docked and self.state == "DOCKED":
            self.battery = min(100.0, self.battery + self.cfg.charge_per_min * dt / 60.0)
        m = self.motion
        if m is not None and m.gid is not None and m.kind == "goto" and int(self.battery) < self.cfg.critical_battery:
            self._end_goal("ABORTED", "LOW_BATTERY")
            self._stop("IDLE")
            self._start_own_return("critical battery")

    def _feedback(self) -> None:
        m = self.motion
        if m is None or m.gid is None or self.now < self.next_fb:
            return
        self.next_fb = max(self.next_fb + self.cfg.fb_s, self.now)
        self._emit("FB", [str(m.gid), fmt_num(self._left(m)), fmt_num(self._eta(m)), m.word, m.why])

    def _left(self, m: Motion) -> float | None:
        if self.pos is None:
            return None
        if m.phase == "docking":
            return 0.0
        wp = self.wps[m.target]
        return distance(self.pos, (wp.x, wp.y))

    def _eta(self, m: Motion) -> float | None:
        left = self._left(m)
        if left is None or m.lost_since is not None:
            return None
        if m.phase == "docking":
            return max(0.0, m.dock_until - self.now)
        return left / self.cfg.speed + (self.cfg.dock_s if m.kind == "dock" else 0.0)

    def _diag(self) -> None:
        if not self.cfg.unknown_frames or self.now < self.next_diag:
            return
        self.next_diag = self.now + 3.0
        up = int(self.now - self.t0)
        self._emit("XDIAG", [str(up), fmt_num(38 + self.rng.random() * 5), fmt_num(self.rng.random(), 2)])
        self._emit("XLIDAR", [str(self.rng.randint(0, 3)), "OK"])

    # ------------------------------------------------------------------ frames out
    def _set_state(self, state: str) -> None:
        if state != self.state:
            log.info("state %s -> %s", self.state, state)
            self.state = state
            self.status_due = True

    def _emit(self, msg_type: str, fields: list[str], to: Any = None, public: bool = False) -> None:
        if self.cfg.v1 and msg_type in V1_FIELDS:
            fields = fields[: V1_FIELDS[msg_type]]
        self.out.append((to, msg_type, fields, public))

    def _flush(self) -> None:
        if self.status_due and self.state != "BOOT":
            self.status_due = False
            self._emit("STATUS", self._status_fields(), public=True)
        out, self.out = self.out, []
        for to, msg_type, fields, public in out:
            for link, ls in list(self.links.items()):
                if to is not None and link is not to:
                    continue
                if to is None and not public and link.keyed and not ls.authenticated:
                    continue
                link.send(msg_type, fields)

    def _battery_text(self) -> str:
        return "" if self.battery is None else str(int(self.battery))

    def _goal_fields(self) -> list[str]:
        gid = "" if self.goal_id is None else str(self.goal_id)
        return [gid, self.goal_status, self.goal_reason]

    def _charging(self) -> str:
        if "C" not in self.cfg.all_caps():
            return ""
        charging = self.docked and self.state == "DOCKED" and (self.battery is None or self.battery < 100.0)
        return "1" if charging else "0"

    def _state_word(self) -> str:
        """While latched the state is ESTOP, even while booting (section 9: "heartbeats continue
        with state ESTOP"; a robot restarting latched "comes up in state ESTOP")."""
        return "ESTOP" if self.nvram.latched else self.state

    def _hello_fields(self) -> list[str]:
        return ["1", self.cfg.model, self.boot_id, fmt_speed(self.cfg.speed), "1", self.cfg.all_caps(), self.cfg.map_version]

    def _hb_fields(self) -> list[str]:
        fields = [self._state_word(), self._battery_text(), *self._goal_fields(), self.boot_id, self._charging()]
        return fields + (["X1"] if self.cfg.extra_fields else [])

    def _status_fields(self) -> list[str]:
        x = y = heading = ""
        if self.pos is not None and self.state != "BOOT":
            x, y = fmt_num(self.pos[0]), fmt_num(self.pos[1])
            heading = fmt_num((self.heading or 0.0) % 360.0)
            heading = "0.0" if heading == "360.0" else heading
        at = ""
        if self.motion is None or self.motion.phase == "docking":
            at = next((w.name for w in self.cfg.waypoints if self._at(w)), "")
        estop = "1" if self.nvram.latched else "0"
        fields = [self._state_word(), self._battery_text(), *self._goal_fields(), x, y, at, estop, heading]
        return fields + (["X1"] if self.cfg.extra_fields else [])
