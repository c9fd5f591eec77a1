"""The escort manager: what the kiosk asks of its guide robots, and what it tells the visitor.

"Guide ticket A012 to counter 3" becomes: the robot comes to the meeting point by the kiosk
(GOTO kiosk, ``RobotComing`` with distance and eta), waits a moment (``FollowRobot``), leads
the visitor to the counter (GOTO counter_3, ``FollowRobot`` feedback), arrives
(``EscortArrived``), pauses, then takes the next queued visitor or returns to its dock.

Whenever the robot cannot help, the visitor is told why and shown the floor map
(``EscortFailed(reason, show_map=True)``): robot busy for long, link down (within the
3 s the link needs to notice), e-stop, blocked path, unknown waypoint, no robot configured
or the port failing to open (``UNAVAILABLE``). Never leave a visitor waiting for a robot
that is not coming.

One escort at a time per robot; further requests queue (``EscortQueued`` with position and
estimated wait, and the map is offered meanwhile); several robots share the requests.

Threading: public methods may be called from any thread (the Kivy UI thread included);
they queue work for one worker thread, which also receives the links' events. Listeners
are called on that worker thread: marshal to the UI with ``Clock.schedule_once``. Events
are plain dataclasses carrying codes and numbers (``to_dict``/``event_from_dict``); the
UI owns the sentences in its i18n files.

Protocol 1.1 (issue 15): a reboot seen in any heartbeat resumes the leg once or ends the
escort honestly, and a robot that was going home is sent DOCK again; a progress watchdog
turns "no progress for `robot.stall_s`" into ``EscortStalled`` (the map for the visitor,
``RobotAlert`` for the staff); a battery below `robot.min_battery_pct` makes the robot
unavailable before any GOTO; an e-stop is reported (``RobotStatus`` with ``estop``) the
moment the kiosk hears of it. Every event is also appended to the robot events file
(robot/events.py) that `kiosk robot monitor` and the staff server read; the staff's e-stop
Reset comes back through that file's command table (polled every `COMMAND_POLL_S`).
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from robot import protocol as p
from robot.link import (
    GoalEnded,
    LinkConfigError,
    LinkDown,
    LinkEvent,
    LinkUp,
    RobotHello,
    RobotLink,
    RobotRebooted,
    RobotTimeout,
    RobotUpdate,
)
from robot.sim import route_length

log = logging.getLogger("robot.escort")


class EscortError(ValueError):
    """The request itself is wrong (unknown counter or waypoint): a bug in the caller."""


# -- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscortEvent:
    """Something the visitor should be told about their escort."""

    escort_id: int
    robot: str | None
    counter_id: int | None
    waypoint: str
    ticket: str | None

    code: ClassVar[str] = ""

    def to_dict(self) -> dict:
        return {"code": self.code, **asdict(self)}


@dataclass(frozen=True)
class EscortQueued(EscortEvent):
    """The robot is busy: the visitor is number `position` in line, about `wait_s` seconds."""

    position: int
    wait_s: float
    show_map: bool = True
    code: ClassVar[str] = "ESCORT_QUEUED"


@dataclass(frozen=True)
class RobotComing(EscortEvent):
    """The robot is on its way to the meeting point by the kiosk."""

    distance_m: float
    eta_s: float
    code: ClassVar[str] = "ROBOT_COMING"


@dataclass(frozen=True)
class FollowRobot(EscortEvent):
    """The robot is at the meeting point or leading: please follow it."""

    distance_m: float
    eta_s: float
    code: ClassVar[str] = "FOLLOW_ROBOT"


@dataclass(frozen=True)
class EscortArrived(EscortEvent):
    """The visitor has arrived at the counter."""

    code: ClassVar[str] = "ESCORT_ARRIVED"


@dataclass(frozen=True)
class EscortFailed(EscortEvent):
    """The robot cannot guide: `reason` says why (a protocol Reason, LINK_DOWN, UNAVAILABLE, BUSY...)."""

    reason: str
    show_map: bool = True
    code: ClassVar[str] = "ESCORT_FAILED"


@dataclass(frozen=True)
class EscortCanceled(EscortEvent):
    """The visitor cancelled the escort."""

    code: ClassVar[str] = "ESCORT_CANCELED"


@dataclass(frozen=True)
class EscortStalled(EscortEvent):
    """The robot has made no progress for `stalled_s` seconds: show the visitor the map (the
    escort goes on if it moves again, ``EscortResumed``). `reason`: the robot's own (``OBSTACLE``,
    ``VISITOR_LOST``, ``REPLANNING``…) or ``STALLED`` when it says it moves but does not."""

    reason: str
    stalled_s: float
    show_map: bool = True
    code: ClassVar[str] = "ESCORT_STALLED"


@dataclass(frozen=True)
class VisitorLost(EscortEvent):
    """The robot reports that the visitor stopped following (it waits for them, up to 30 s)."""

    show_map: bool = True
    code: ClassVar[str] = "VISITOR_LOST"


@dataclass(frozen=True)
class EscortResumed(EscortEvent):
    """The escort goes on after `cause` (``STALLED``, ``VISITOR_LOST`` or ``REBOOTED``: the leg was re-sent)."""

    cause: str
    code: ClassVar[str] = "ESCORT_RESUMED"


@dataclass(frozen=True)
class RobotStatus:
    """A robot's availability changed (for a status light or hiding the "Guide me" button).

    `reason` says why it is unavailable: ``ESTOP_ACTIVE``, ``LOW_BATTERY``, ``FAULT``, ``BOOT``,
    ``MAP_MISMATCH``, ``UNKNOWN_STATE``, ``VERSION``, ``AUTH`` or the link's error text.
    `estop` is True while the e-stop is latched (sent the moment the kiosk hears of it).
    """

    robot: str
    available: bool
    link_up: bool
    state: str
    battery: int | None
    reason: str = ""
    estop: bool = False
    charging: bool | None = None

    code: ClassVar[str] = "ROBOT_STATUS"

    def to_dict(self) -> dict:
        return {"code": self.code, **asdict(self)}


@dataclass(frozen=True)
class RobotAlert:
    """Something the staff must know about a robot, whether or not a visitor is involved.

    `alert`: ``ESTOP``, ``REBOOTED``, ``STALLED``, ``VISITOR_LOST``, ``LOW_BATTERY``,
    ``MAP_MISMATCH``, ``WAYPOINTS`` (unknown or moved waypoints), ``VERSION``, ``AUTH``,
    ``UNKNOWN_STATE``; `detail` a short text for the staff screen; `escort_id` if a visitor
    was being guided.
    """

    robot: str
    alert: str
    detail: str = ""
    escort_id: int | None = None

    code: ClassVar[str] = "ROBOT_ALERT"

    def to_dict(self) -> dict:
        return {"code": self.code, **asdict(self)}


EVENT_TYPES = {c.code: c for c in (EscortQueued, RobotComing, FollowRobot, EscortArrived, EscortFailed,
                                   EscortCanceled, EscortStalled, VisitorLost, EscortResumed, RobotStatus,
                                   RobotAlert)}
FINAL_CODES = frozenset({"ESCORT_ARRIVED", "ESCORT_FAILED", "ESCORT_CANCELED"})


def event_from_dict(d: dict):
    """Rebuild an event from `to_dict()` output; KeyError for an unknown code."""
    d = dict(d)
    cls = EVENT_TYPES[d.pop("code")]
    return cls(**d)


# -- state -----------------------------------------------------------------------------------

#: Failure reasons the manager adds to the protocol's Reason values.
LINK_DOWN = "LINK_DOWN"
UNAVAILABLE = "UNAVAILABLE"
NO_ANSWER = "NO_ANSWER"
REBOOTED = "REBOOTED"
CANCELED_BY_ROBOT = "CANCELED_BY_ROBOT"
STALLED = "STALLED"
LOW_BATTERY = "LOW_BATTERY"
MAP_MISMATCH = "MAP_MISMATCH"
UNKNOWN_STATE = "UNKNOWN_STATE"
PROGRESS_M = 0.3  # the remaining distance must shrink by this much to count as progress
BATTERY_HYSTERESIS = 5
WAYPOINT_MOVED_M = 0.5
MAX_SEND_ROUNDS = 3  # rounds of (1 + retries) attempts, same id, while the robot is heard


@dataclass
class Escort:
    escort_id: int
    counter_id: int | None
    waypoint: str
    ticket: str | None
    created: float
    robot: str | None = None
    phase: str = "new"  # new, queued, approach, meet, guide, arrived, done, failed, canceled
    resumed: bool = False  # already resumed once after a robot reboot

    def base(self) -> dict:
        return dict(escort_id=self.escort_id, robot=self.robot, counter_id=self.counter_id,
                    waypoint=self.waypoint, ticket=self.ticket)

    def to_dict(self) -> dict:
        return {**self.base(), "phase": self.phase}


@dataclass
class _Slot:
    """One robot as the manager sees it."""

    name: str
    dock: str
    link: RobotLink | None
    sim: object | None = None
    error: str = ""
    up: bool = False
    state: str = "UNKNOWN"
    battery: int | None = None
    x: float | None = None
    y: float | None = None
    speed: float = 0.7
    active: Escort | None = None
    queue: deque = field(default_factory=deque)
    goal_id: int | None = None
    goal_wp: str = ""
    leg: str = ""  # approach, guide, dock
    leg_deadline: float = 0.0
    leg_eta: float = 0.0
    send_rounds: int = 0
    pause_until: float = 0.0
    pause_action: str = ""  # guide, release
    busy_retry_at: float = 0.0
    needs_dock: bool = False
    unknown_waypoints: set = field(default_factory=set)  # the robot answered CHECK with DENIED
    moved_waypoints: set = field(default_factory=set)  # WP more than 0.5 m from config
    hello: p.Hello | None = None
    estop: bool = False
    charging: bool | None = None
    low_battery: bool = False
    map_mismatch: str = ""
    goal_acked: bool = False
    progress_d: float | None = None  # best remaining distance on this goal
    progress_at: float = 0.0  # when the goal last made progress
    stalled: bool = False
    visitor_lost: bool = False
    why: str = ""  # the robot's latest FB reason (OBSTACLE, VISITOR_LOST...)
    after_boot: tuple | None = None  # (leg, had_goal) to resume once a rebooted robot has booted
    published: tuple = ()
    wp_list: dict = field(default_factory=dict)
    wp_deadline: float = 0.0

    @property
    def unavailable_reason(self) -> str:
        """Why no visitor can be given to this robot now ("" when one can)."""
        if not self.up:
            return self.error or LINK_DOWN
        if self.estop or self.state == "ESTOP":
            return p.Reason.ESTOP_ACTIVE.value
        if self.map_mismatch:
            return MAP_MISMATCH
        if self.state in ("FAULT", "BOOT"):
            return self.state
        if self.state not in p.RobotState.__members__ and self.state != "UNKNOWN":  # UNKNOWN: no heartbeat yet
            return UNKNOWN_STATE
        if self.low_battery:
            return LOW_BATTERY
        return ""

    @property
    def available(self) -> bool:
        return self.unavailable_reason == ""


#: How often the manager looks for commands from other processes (robot/events.py).
COMMAND_POLL_S = 0.25


def _answer(fut: Future) -> str:
    """A command's outcome in a few words: the robot's ACK code (and detail), or the link error."""
    exc = fut.exception()
    if exc is not None:
        return type(exc).__name__
    ack = fut.result()
    code = getattr(ack, "code", ack)
    detail = getattr(ack, "detail", "")
    return f"{code} {detail}".strip()


class EscortManager:
    """Drives the configured robots for the kiosk. Thread-safe; see the module docstring."""

    def __init__(
        self,
        cfg,
        *,
        ports: dict[str, str] | None = None,
        link_factory: Callable[..., RobotLink] | None = None,
        start_simulators: bool = True,
        sim_options: dict | None = None,
        follow_pause_s: float | None = None,
        arrive_pause_s: float | None = None,
        leg_timeout_margin_s: float = 30.0,
        stall_s: float | None = None,
        stall_give_up_s: float | None = None,
        event_log=None,
    ):
        self.cfg = cfg
        self.waypoints = {n: (w.x, w.y) for n, w in cfg.floor_map.waypoints.items()}
        self.meet = cfg.robot.meet_waypoint if cfg.robot.meet_waypoint in self.waypoints else None
        self.follow_pause_s = cfg.robot.follow_pause_s if follow_pause_s is None else follow_pause_s
        self.arrive_pause_s = cfg.robot.arrive_pause_s if arrive_pause_s is None else arrive_pause_s
        self.leg_timeout_margin_s = leg_timeout_margin_s
        r = cfg.robot
        self.stall_s = getattr(r, "stall_s", 8.0) if stall_s is None else stall_s
        self.stall_give_up_s = getattr(r, "stall_give_up_s", 60.0) if stall_give_up_s is None else stall_give_up_s
        self.min_battery_pct = getattr(r, "min_battery_pct", 20)
        self.map_version = getattr(r, "map_version", None) or ""
        self._event_log_path = event_log
        self.event_log = None
        self._ports = dict(ports or {})
        self._link_factory = link_factory or RobotLink.from_config
        self._start_sims = start_simulators
        self._sim_options = sim_options or {}
        self._inbox: queue.Queue = queue.Queue()
        self._listeners: list[Callable] = []
        self._ids = itertools.count(1)
        self._escorts: dict[int, Escort] = {}
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.history: deque = deque(maxlen=200)  # recent events, for `status()` and debugging
        self._next_command_poll = 0.0

    @classmethod
    def from_config(cls, cfg, **kw) -> EscortManager:
        """A started manager: simulators for robots whose port is "sim", links opened, events
        logged to ``<data_dir>/robot-events.db`` (``event_log=None`` to turn that off)."""
        if "event_log" not in kw:
            from robot.events import default_path

            kw["event_log"] = default_path(cfg)
        return cls(cfg, **kw).start()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> EscortManager:
        if self._worker:
            return self
        if self._event_log_path:
            from robot.events import EventLog

            try:
                self.event_log = EventLog(self._event_log_path)
                self.subscribe(self.event_log)
            except Exception as exc:  # a read-only disk must not stop the robot
                log.warning("robot events not logged to %s: %s", self._event_log_path, exc)
        robots = self.cfg.robot.robots if self.cfg.robot.enabled else []
        for entry in robots:
            slot = _Slot(entry.name, entry.dock, None)
            self._slots[entry.name] = slot
            port = self._ports.get(entry.name, entry.port)
            try:
                if port == "sim":
                    if not self._start_sims:
                        raise LinkConfigError("port 'sim' but simulators are off")
                    from robot.sim import start_simulator

                    slot.sim = start_simulator(self.cfg, entry.name, **self._sim_options)
                    port = slot.sim.port
                slot.link = self._link_factory(
                    self.cfg, entry, port=port, on_event=lambda ev: self._inbox.put(("link", ev)))
                slot.link.start()
                slot.error = "connecting"
            except Exception as exc:  # a wrong port must not stop the kiosk
                slot.link = None
                slot.error = str(exc)
                log.error("robot %s unavailable: %s", entry.name, exc)
        self._worker = threading.Thread(target=self._run, name="escort-manager", daemon=True)
        self._worker.start()
        return self

    def close(self) -> None:
        """Stop links, simulators and the worker. Active escorts end as UNAVAILABLE."""
        if self._worker is None:
            return
        done = threading.Event()
        self._inbox.put(("call", self._shutdown, (done,)))
        done.wait(3)
        self._stop.set()
        self._worker.join(timeout=3)
        self._worker = None
        for slot in self._slots.values():
            if slot.link:
                slot.link.stop()
            if slot.sim:
                slot.sim.stop()
        if self.event_log:
            self.event_log.close()

    def __enter__(self) -> EscortManager:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- public API (any thread) -----------------------------------------------------------------
    def subscribe(self, listener: Callable) -> Callable[[], None]:
        """Call `listener(event)` for every event (on the manager's thread); returns an unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def event_queue(self) -> queue.Queue:
        """A queue that receives every event from now on (for polling from a UI clock)."""
        q: queue.Queue = queue.Queue()
        self.subscribe(q.put)
        return q

    @property
    def available(self) -> bool:
        """At least one robot is connected and not stopped: offer the "Guide me" button."""
        return any(s.available for s in self._slots.values())

    def request_escort(self, counter_id: int | None = None, *, waypoint: str | None = None,
                       ticket: str | None = None) -> int:
        """Ask for the visitor to be guided to a counter (or waypoint); returns the escort id.

        Raises EscortError for a counter or waypoint that is not in config. Everything else
        (busy, no robot, failures) arrives as events.
        """
        if counter_id is not None:
            try:
                counter = self.cfg.counter(counter_id)
            except KeyError as exc:
                raise EscortError(f"no counter {counter_id} in config") from exc
            waypoint = counter.waypoint
        if not waypoint or waypoint not in self.waypoints:
            raise EscortError(f"waypoint {waypoint!r} is not in floor_map.waypoints")
        if not p.valid_token(waypoint):
            raise EscortError(f"waypoint {waypoint!r}: the robot protocol allows 1-16 of A-Z a-z 0-9 _ -")
        with self._lock:
            eid = next(self._ids)
        esc = Escort(eid, counter_id, waypoint, ticket, time.monotonic())
        self._inbox.put(("call", self._on_request, (esc,)))
        return eid

    def cancel(self, escort_id: int) -> None:
        """The visitor no longer wants the escort (or walked away). Unknown ids are ignored."""
        self._inbox.put(("call", self._on_cancel, (escort_id,)))

    def reset_estop(self, robot: str | None = None) -> list[Future]:
        """Ask the robot(s) to clear a latched e-stop (refused while the button is still pressed)."""
        return [f for s in self._slots.values() if robot in (None, s.name)
                if (f := self._send(s, "RESET")) is not None]

    def status(self) -> dict:
        """A snapshot for `kiosk robot status` and the staff screen."""
        robots = []
        for s in self._slots.values():
            robots.append({
                "name": s.name, "available": s.available, "link_up": s.up, "state": s.state,
                "battery": s.battery, "charging": s.charging, "estop": s.estop,
                "unavailable_reason": s.unavailable_reason,
                "error": "" if s.up else ((s.link.last_error if s.link else None) or s.error),
                "port": s.link.port if s.link else None,
                "escort": s.active.to_dict() if s.active else None, "queued": len(s.queue),
                "stalled": s.stalled,
                "unknown_waypoints": sorted(s.unknown_waypoints),
                "moved_waypoints": sorted(s.moved_waypoints),
                "model": s.hello.model if s.hello else None,
                "protocol": f"{s.hello.version}.{s.hello.minor}" if s.hello else None,
                "capabilities": s.hello.capabilities if s.hello else None,
                "map_version": s.hello.map_version if s.hello else None,
                "boot_id": s.link.boot_id if s.link else None,
                "stats": s.link.stats.to_dict() if s.link else None,
            })
        return {"available": self.available, "robots": robots}

    def wait_available(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.available:
                return True
            time.sleep(0.02)
        return self.available

    # -- worker --------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._inbox.get(timeout=0.05)
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    kind, *rest = item
                    if kind == "link":
                        self._on_link(rest[0])
                    elif kind == "call":
                        rest[0](*rest[1])
                self._tick(time.monotonic())
                self._poll_commands(time.monotonic())
            except Exception:  # a kiosk must recover unattended: log, keep serving
                log.exception("escort manager error on %r", item)

    def _poll_commands(self, now: float) -> None:
        """Carry out commands other processes posted to the events file (the staff's e-stop Reset),
        and mark the kiosk alive there (`EventLog.beat`)."""
        if self.event_log is None or now < self._next_command_poll:
            return
        self._next_command_poll = now + COMMAND_POLL_S
        self.event_log.beat()  # `kiosk robot monitor` tells a running kiosk from a stopped one
        for cmd in self.event_log.take_commands():
            if cmd["command"] != "RESET":
                continue
            log.info("RESET from %s for %s", cmd["by"] or "?", cmd["robot"] or "every robot")
            futures = self.reset_estop(cmd["robot"])
            if not futures:
                self.event_log.command_done(cmd["id"], "NO_LINK")
            for fut in futures:
                fut.add_done_callback(lambda f, cid=cmd["id"]: self.event_log.command_done(cid, _answer(f)))

    def _emit(self, event) -> None:
        self.history.append(event)
        log.info("event %s", event.to_dict())
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn(event)
            except Exception:
                log.exception("escort listener failed")

    def _shutdown(self, done: threading.Event) -> None:
        for esc in list(self._escorts.values()):
            self._fail(esc, UNAVAILABLE)
        done.set()

    # -- requests --------------------------------------------------------------------------------
    def _on_request(self, esc: Escort) -> None:
        self._escorts[esc.escort_id] = esc
        candidates = [s for s in self._slots.values() if s.available]
        if not candidates:
            self._fail(esc, self._unavailable_reason())
            return
        candidates = [s for s in candidates if self._can_reach(s, esc)]
        if not candidates:
            self._fail(esc, p.Reason.UNKNOWN_WAYPOINT.value)
            return
        free = [s for s in candidates if s.active is None and not s.queue]
        if free:
            slot = min(free, key=lambda s: self._distance(s, self.meet or esc.waypoint))
            self._begin(slot, esc)
            return
        slot = min(candidates, key=self._wait_estimate)
        self._enqueue(slot, esc)

    def _enqueue(self, slot: _Slot, esc: Escort) -> None:
        esc.robot = slot.name
        esc.phase = "queued"
        wait = self._wait_estimate(slot)
        slot.queue.append(esc)
        self._emit(EscortQueued(**esc.base(), position=len(slot.queue), wait_s=round(wait)))

    def _on_cancel(self, escort_id: int) -> None:
        esc = self._escorts.get(escort_id)
        if esc is None:
            return
        slot = self._slots.get(esc.robot) if esc.robot else None
        self._finish(esc, "canceled")
        self._emit(EscortCanceled(**esc.base()))
        if slot is None:
            return
        if esc in slot.queue:
            slot.queue.remove(esc)
        if slot.active is esc:
            slot.active = None
            if slot.goal_id is not None and slot.leg in ("approach", "guide"):
                self._send(slot, "CANCEL", str(slot.goal_id))
            slot.goal_id = None
            slot.pause_until = 0.0
            self._release(slot)

    # -- the escort's legs ---------------------------------------------------------------------
    def _begin(self, slot: _Slot, esc: Escort) -> None:
        esc.robot = slot.name
        slot.active = esc
        slot.busy_retry_at = 0.0
        if self.meet and self._distance(slot, self.meet) > 0.3:
            esc.phase = "approach"
            self._emit(RobotComing(**esc.base(), distance_m=round(self._distance(slot, self.meet), 1),
                                   eta_s=round(self._distance(slot, self.meet) / slot.speed, 1)))
            self._goto(slot, "approach", self.meet)
        else:
            self._at_meeting_point(slot, esc)

    def _at_meeting_point(self, slot: _Slot, esc: Escort) -> None:
        esc.phase = "meet"
        d = self._distance_between(self.meet, esc.waypoint) if self.meet else self._distance(slot, esc.waypoint)
        self._emit(FollowRobot(**esc.base(), distance_m=round(d, 1), eta_s=round(d / slot.speed, 1)))
        self._say(slot, "FOLLOW_ME")
        slot.pause_until = time.monotonic() + self.follow_pause_s
        slot.pause_action = "guide"

    def _goto(self, slot: _Slot, leg: str, waypoint: str) -> None:
        slot.leg = leg
        slot.goal_wp = waypoint
        slot.send_rounds = 0
        slot.goal_id = slot.link.new_id()
        slot.goal_acked = False
        d = self._distance(slot, waypoint)
        slot.leg_eta = d / slot.speed
        now = time.monotonic()
        slot.leg_deadline = now + 3 * slot.leg_eta + self.leg_timeout_margin_s
        slot.progress_d, slot.progress_at = None, now
        self._progress_resumed(slot, slot.active)  # the previous leg got there after all
        self._send_goal(slot)

    def _send_goal(self, slot: _Slot) -> None:
        slot.send_rounds += 1
        gid = slot.goal_id
        lead = "1" if slot.leg == "guide" else ""  # a visitor follows this leg (protocol 1.1)
        verb, args = ("DOCK", ()) if slot.leg == "dock" else ("GOTO", (slot.goal_wp, lead))
        fut = slot.link.send(verb, *args, cmd_id=gid)
        fut.add_done_callback(lambda f: self._inbox.put(("call", self._on_goal_ack, (slot, gid, f))))

    def _send(self, slot: _Slot, verb: str, *args: str) -> Future | None:
        if slot.link is None or not slot.up:
            return None
        return slot.link.send(verb, *args)

    def _say(self, slot: _Slot, phrase: str) -> None:
        if slot.hello is None or slot.hello.can("S"):
            self._send(slot, "SAY", phrase)  # UNSUPPORTED is fine: not every robot has a speaker

    def _on_goal_ack(self, slot: _Slot, gid: int, fut: Future) -> None:
        if slot.goal_id != gid:
            return  # an old goal
        esc = slot.active
        exc = fut.exception()
        if exc is not None:
            if isinstance(exc, RobotTimeout) and slot.up and slot.send_rounds < MAX_SEND_ROUNDS:
                log.info("no ack for goal %d; the robot is alive: sending again with the same id", gid)
                self._send_goal(slot)
                return
            reason = NO_ANSWER if isinstance(exc, RobotTimeout) else LINK_DOWN
            slot.goal_id = None
            if esc:
                self._fail(esc, reason)
                slot.active = None
            slot.needs_dock = True
            return
        ack: p.Ack = fut.result()
        if ack.code is p.AckCode.ACCEPTED:
            slot.goal_acked = True
            return
        slot.goal_id = None
        if ack.code is p.AckCode.BUSY and slot.leg != "dock":
            wait = ack.busy_s or 10.0
            if esc and esc.phase in ("approach", "meet", "guide") and slot.leg != "guide":
                # Someone else has the robot: hold the visitor in line and ask again later.
                slot.busy_retry_at = time.monotonic() + min(max(wait, 1.0), 30.0)
                esc.phase = "queued"
                self._emit(EscortQueued(**esc.base(), position=1, wait_s=round(wait)))
                return
        reason = ack.detail if ack.detail and ack.code in (p.AckCode.DENIED, p.AckCode.FAILED) else ack.code.value
        if slot.leg == "dock":
            log.warning("robot %s refused DOCK: %s", slot.name, reason)
            # after an e-stop reset or when the other user is done, send it home again
            slot.needs_dock = ack.code is p.AckCode.BUSY or ack.detail == p.Reason.ESTOP_ACTIVE
            return
        if esc:
            self._fail(esc, reason)
            slot.active = None
        self._release(slot)

    def _on_goal_ended(self, slot: _Slot, ev: GoalEnded) -> None:
        if ev.goal_id != slot.goal_id:
            return
        slot.goal_id = None
        esc = slot.active
        if ev.status is p.GoalStatus.SUCCEEDED:
            if slot.leg == "approach" and esc:
                self._at_meeting_point(slot, esc)
            elif slot.leg == "guide" and esc:
                esc.phase = "arrived"
                self._emit(EscortArrived(**esc.base()))
                self._finish(esc, "done")
                self._say(slot, "ARRIVED")
                slot.pause_until = time.monotonic() + self.arrive_pause_s
                slot.pause_action = "release"
            elif slot.leg == "dock":
                slot.needs_dock = False
            return
        if slot.leg == "dock":
            slot.needs_dock = ev.reason in (p.Reason.ESTOP_ACTIVE, p.Reason.LINK_LOST)
            return
        if ev.reason == p.Reason.ESTOP_ACTIVE:
            self._on_estop(slot)  # its STATUS may still be on the way: tell everyone now
        if esc:
            reason = ev.reason or (CANCELED_BY_ROBOT if ev.status is p.GoalStatus.CANCELED else ev.status.value)
            self._fail(esc, reason)
            slot.active = None
        self._release(slot)

    def _release(self, slot: _Slot) -> None:
        """The robot is free: take the next visitor in line, or go back to the dock."""
        slot.active = None
        slot.pause_until = 0.0
        if slot.queue and slot.available:
            self._begin(slot, slot.queue.popleft())
            for i, esc in enumerate(slot.queue, 1):
                self._emit(EscortQueued(**esc.base(), position=i, wait_s=round(self._wait_estimate(slot))))
            return
        if slot.up and slot.state not in ("ESTOP", "FAULT", "DOCKED", "DOCKING", "RETURNING"):
            self._goto(slot, "dock", slot.dock)
        elif not slot.up or slot.state in ("ESTOP", "FAULT"):
            slot.needs_dock = True  # once it is back (or reset), send it home

    # -- link events ---------------------------------------------------------------------------
    def _on_link(self, ev: LinkEvent) -> None:
        slot = self._slots.get(ev.robot)
        if slot is None:
            return
        if isinstance(ev, LinkUp):
            slot.up = True
            slot.error = ""
            self._on_hello(slot, ev.hello)
            self._status(slot)
            if ev.rebooted and slot.state != "DOCKED":
                slot.needs_dock = True  # rebooted while we could not hear it: it stays put until told
        elif isinstance(ev, LinkDown):
            slot.up = False
            slot.error = ev.reason
            incompatible = slot.link.incompatible if slot.link else None
            if incompatible:
                self._alert(slot, "AUTH" if "key" in incompatible or "authent" in incompatible else "VERSION",
                            incompatible)
            self._on_robot_lost(slot, LINK_DOWN)
            self._status(slot)
        elif isinstance(ev, RobotRebooted):
            self._on_reboot(slot, ev)
            if ev.hello:
                self._on_hello(slot, ev.hello)
        elif isinstance(ev, RobotHello):
            self._on_hello(slot, ev.hello)
        elif isinstance(ev, GoalEnded):
            self._on_goal_ended(slot, ev)
        elif isinstance(ev, RobotUpdate):
            self._on_update(slot, ev.message)

    def _on_hello(self, slot: _Slot, hello: p.Hello) -> None:
        """Every HELLO: capabilities and map version re-read, waypoints checked again."""
        slot.hello = hello
        slot.speed = hello.speed_mps or slot.speed
        mismatch = ""
        if self.map_version and hello.map_version and hello.map_version != self.map_version:
            mismatch = f"robot map {hello.map_version}, floor map drawn from {self.map_version}"
        if mismatch and mismatch != slot.map_mismatch:
            log.error("robot %s: %s", slot.name, mismatch)
            self._alert(slot, MAP_MISMATCH, mismatch)
        slot.map_mismatch = mismatch
        self._status(slot)
        self._check_waypoints(slot)

    def _check_waypoints(self, slot: _Slot) -> None:
        """Ask the robot which of our waypoints it knows (its WPQ list, else CHECK each), so that a
        visitor is never led half-way for nothing (robots without CHECK answer UNSUPPORTED: we just try)."""
        if slot.hello is not None and slot.hello.can("W"):
            slot.wp_list = {}
            slot.wp_deadline = time.monotonic() + 2.0
            fut = self._send(slot, "WPQ")
            if fut is not None:
                fut.add_done_callback(lambda f: self._inbox.put(("call", self._on_wpq_ack, (slot, f))))
                return
        self._check_each(slot, list(self.waypoints))

    def _on_wpq_ack(self, slot: _Slot, fut: Future) -> None:
        if fut.exception() is not None or fut.result().code is not p.AckCode.ACCEPTED:
            slot.wp_deadline = 0.0
            self._check_each(slot, list(self.waypoints))

    def _on_waypoint(self, slot: _Slot, wp: p.Waypoint) -> None:
        slot.wp_list[wp.name] = (wp.x, wp.y)
        if len(slot.wp_list) >= wp.count and slot.wp_deadline:
            self._waypoints_listed(slot)

    def _waypoints_listed(self, slot: _Slot) -> None:
        """Compare the robot's list with config; CHECK what did not arrive (lost WP frames)."""
        slot.wp_deadline = 0.0
        missing = [n for n in self.waypoints if n not in slot.wp_list]
        moved = set()
        for name, (x, y) in slot.wp_list.items():
            if name in self.waypoints and x is not None and y is not None:
                cx, cy = self.waypoints[name]
                if math.hypot(cx - x, cy - y) > WAYPOINT_MOVED_M:
                    moved.add(name)
        if moved and moved != slot.moved_waypoints:
            self._alert(slot, "WAYPOINTS", "moved: " + ", ".join(sorted(moved)))
        slot.moved_waypoints = moved
        for name in self.waypoints:
            if name in slot.wp_list:
                slot.unknown_waypoints.discard(name)
        self._check_each(slot, missing)

    def _check_each(self, slot: _Slot, names: list[str]) -> None:
        for wp in names:
            if not p.valid_token(wp):
                continue
            fut = self._send(slot, "CHECK", wp)
            if fut is not None:
                fut.add_done_callback(lambda f, wp=wp: self._inbox.put(("call", self._on_check, (slot, wp, f))))

    def _on_check(self, slot: _Slot, wp: str, fut: Future) -> None:
        if fut.exception() is not None:
            return
        ack: p.Ack = fut.result()
        if ack.code is p.AckCode.DENIED and ack.detail == p.Reason.UNKNOWN_WAYPOINT:
            if wp not in slot.unknown_waypoints:
                log.error("robot %s does not know waypoint %r: fix its map or floor_map.waypoints", slot.name, wp)
            slot.unknown_waypoints.add(wp)
        else:
            slot.unknown_waypoints.discard(wp)

    def _can_reach(self, slot: _Slot, esc: Escort) -> bool:
        needed = {esc.waypoint} | ({self.meet} if self.meet else set())
        return not (needed & slot.unknown_waypoints)

    def _on_update(self, slot: _Slot, msg) -> None:
        if isinstance(msg, p.Feedback):
            self._on_feedback(slot, msg)
            return
        if isinstance(msg, p.Waypoint):
            self._on_waypoint(slot, msg)
            return
        state = str(msg.state)
        self._note_state(slot, state)
        if msg.battery is not None:
            slot.battery = msg.battery
            self._battery_check(slot)
        if msg.charging is not None:
            slot.charging = msg.charging
        if isinstance(msg, p.Status) and msg.localised:
            slot.x, slot.y = msg.x, msg.y
        self._note_estop(slot, msg, state)
        legacy = slot.hello is not None and slot.hello.minor == 0  # no boot id in its heartbeats
        if legacy and self._goal_forgotten(slot, msg):
            self._on_reboot(slot, RobotRebooted(slot.name, None, "", state))  # a 1.0 robot: the goal rule
        self._status(slot)
        if slot.available and slot.needs_dock and slot.active is None and slot.goal_id is None:
            slot.needs_dock = False
            self._release(slot)  # back after a link loss: send it home unless it is going already
        if not slot.available:
            for esc in list(slot.queue):
                self._reassign_or_fail(slot, esc, slot.unavailable_reason)

    def _note_state(self, slot: _Slot, state: str) -> None:
        if state not in p.RobotState.__members__ and state != slot.state:
            self._alert(slot, UNKNOWN_STATE, f"state {state!r} (not in protocol 1.1)")
        slot.state = state
        if slot.after_boot and state != "BOOT":
            if state == "ESTOP":
                slot.after_boot = None  # _on_estop ends the escort
            else:
                self._resume_after_reboot(slot, state, *slot.after_boot)

    def _note_estop(self, slot: _Slot, msg, state: str) -> None:
        latched = state == "ESTOP" or (isinstance(msg, p.Status) and msg.estop)
        if latched:
            self._on_estop(slot)
        elif slot.estop:
            slot.estop = False  # a STATUS without the latch or a heartbeat in another state: reset

    @staticmethod
    def _goal_forgotten(slot: _Slot, msg) -> bool:
        """A heartbeat that no longer names our accepted, running goal (section 12.4)."""
        return (slot.goal_id is not None and slot.goal_acked and msg.goal_id != slot.goal_id
                and str(msg.state) not in ("BOOT",))

    def _battery_check(self, slot: _Slot) -> None:
        low = slot.low_battery
        if slot.battery < self.min_battery_pct:
            low = True
        elif slot.battery >= self.min_battery_pct + BATTERY_HYSTERESIS:
            low = False
        if low and not slot.low_battery:
            self._alert(slot, LOW_BATTERY, f"battery {slot.battery} % (below {self.min_battery_pct} %)")
        slot.low_battery = low

    def _on_estop(self, slot: _Slot) -> None:
        """The e-stop is latched: staff and kiosk are told at once; a running escort ends."""
        first = not slot.estop
        slot.estop = True
        slot.state = p.RobotState.ESTOP.value
        if first:
            self._status(slot)
            self._alert(slot, "ESTOP", "emergency stop latched: release the button, then reset",
                        slot.active.escort_id if slot.active else None)
        if slot.active:
            self._fail(slot.active, p.Reason.ESTOP_ACTIVE.value)
            slot.active = None
            slot.goal_id = None
        slot.needs_dock = True

    def _on_feedback(self, slot: _Slot, msg: p.Feedback) -> None:
        if msg.goal_id != slot.goal_id:
            return
        esc = slot.active
        if msg.eta_s is not None:
            slot.leg_eta = msg.eta_s
        now = time.monotonic()
        moving = msg.motion is p.Motion.MOVING
        if msg.distance_m is not None and moving and (
                slot.progress_d is None or msg.distance_m <= slot.progress_d - PROGRESS_M):
            if slot.progress_d is not None:
                slot.progress_at = now
            slot.progress_d = msg.distance_m
            self._progress_resumed(slot, esc)
        if msg.why == p.Reason.VISITOR_LOST and not slot.visitor_lost and esc and slot.leg == "guide":
            slot.visitor_lost = True
            self._emit(VisitorLost(**esc.base()))
            self._alert(slot, "VISITOR_LOST", "the visitor stopped following the robot", esc.escort_id)
        slot.why = msg.why
        if esc is None:
            return
        d = msg.distance_m if msg.distance_m is not None else round(self._distance(slot, slot.goal_wp), 1)
        eta = msg.eta_s if msg.eta_s is not None else round(d / slot.speed, 1)
        if slot.leg == "approach":
            self._emit(RobotComing(**esc.base(), distance_m=d, eta_s=eta))
        elif slot.leg == "guide" and moving:
            self._emit(FollowRobot(**esc.base(), distance_m=d, eta_s=eta))

    def _progress_resumed(self, slot: _Slot, esc: Escort | None) -> None:
        if not (slot.stalled or slot.visitor_lost):
            return
        cause = VisitorLost.code if slot.visitor_lost and not slot.stalled else STALLED
        slot.stalled = slot.visitor_lost = False
        if esc:
            self._emit(EscortResumed(**esc.base(), cause=cause))

    def _on_robot_lost(self, slot: _Slot, reason: str) -> None:
        if slot.active:
            self._fail(slot.active, reason)
            slot.active = None
        slot.goal_id = None
        slot.pause_until = 0.0
        slot.needs_dock = True
        for esc in list(slot.queue):
            self._reassign_or_fail(slot, esc, reason)

    def _on_reboot(self, slot: _Slot, ev: RobotRebooted) -> None:
        """The robot restarted: its goal is gone and it stays where it is. Resume the escort's leg
        once with a new id (if it can move), or end the escort with the map; re-send DOCK if it
        was going home (issue 15)."""
        esc = slot.active
        state = ev.state or slot.state
        # escort_id stays None: a reboot alone does not end the visitor's escort (ESCORT_RESUMED or
        # ESCORT_FAILED REBOOTED says what happens to it); the staff read the escort in the detail
        self._alert(slot, "REBOOTED", f"new boot {ev.boot_id or '?'}" + (f" during escort {esc.escort_id}" if esc else ""))
        if state == "ESTOP":
            self._on_estop(slot)
            return
        leg, had_goal = slot.leg, slot.goal_id is not None
        slot.goal_id = None
        if state == "BOOT":  # still booting: a command now would be ignored; resume once it is up
            slot.after_boot = (leg, had_goal)
            return
        self._resume_after_reboot(slot, state, leg, had_goal)

    def _resume_after_reboot(self, slot: _Slot, state: str, leg: str, had_goal: bool) -> None:
        esc = slot.active
        slot.after_boot = None
        can_move = state in ("DOCKED", "IDLE", "ARRIVED", "UNKNOWN", "GUIDING", "RETURNING")
        if esc is None:
            if had_goal and leg == "dock" and can_move:
                log.warning("robot %s rebooted on its way to the dock: sending it again", slot.name)
                self._goto(slot, "dock", slot.dock)
            elif state != "DOCKED":
                slot.needs_dock = True
            return
        if leg in ("approach", "guide") and had_goal and not esc.resumed and can_move:
            esc.resumed = True
            log.warning("robot %s rebooted during escort %d: resuming %s", slot.name, esc.escort_id, leg)
            self._goto(slot, leg, slot.goal_wp)
            self._emit(EscortResumed(**esc.base(), cause=REBOOTED))
            return
        if had_goal or slot.pause_until:
            self._fail(esc, REBOOTED)
            slot.active = None
            slot.pause_until = 0.0
            slot.needs_dock = True
            self._release(slot)

    def _reassign_or_fail(self, slot: _Slot, esc: Escort, reason: str) -> None:
        slot.queue.remove(esc)
        others = [s for s in self._slots.values() if s is not slot and s.available and self._can_reach(s, esc)]
        if others:
            target = min(others, key=self._wait_estimate)
            if target.active is None and not target.queue:
                self._begin(target, esc)
            else:
                self._enqueue(target, esc)
            return
        self._fail(esc, reason)

    # -- time ------------------------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        for slot in self._slots.values():
            if slot.pause_until and now >= slot.pause_until:
                slot.pause_until = 0.0
                action, slot.pause_action = slot.pause_action, ""
                esc = slot.active
                if action == "guide" and esc and slot.up:
                    esc.phase = "guide"
                    self._goto(slot, "guide", esc.waypoint)
                elif action == "release":
                    self._release(slot)
            if slot.busy_retry_at and now >= slot.busy_retry_at:
                slot.busy_retry_at = 0.0
                esc = slot.active
                if esc and slot.up:
                    slot.active = None
                    self._begin(slot, esc)
            if slot.wp_deadline and now > slot.wp_deadline:
                self._waypoints_listed(slot)
            if slot.goal_id is not None and slot.up:
                self._watch_progress(slot, now)
            if slot.goal_id is not None and slot.leg != "dock" and slot.leg_deadline and now > slot.leg_deadline:
                esc = slot.active
                log.warning("robot %s: goal %d is taking far too long", slot.name, slot.goal_id)
                self._send(slot, "CANCEL", str(slot.goal_id))
                slot.goal_id = None
                if esc:
                    self._fail(esc, p.Reason.TIMEOUT.value)
                self._release(slot)

    def _watch_progress(self, slot: _Slot, now: float) -> None:
        """No progress for stall_s: STALLED (map for the visitor, alert for the staff); for
        stall_give_up_s: cancel, send it home, end the escort with the map."""
        if slot.state == p.RobotState.DOCKING.value:
            slot.progress_at = now  # 6.2, 6.3: a docking manoeuvre cannot shorten a distance; it is progress
            return
        quiet = now - slot.progress_at
        esc = slot.active
        if quiet >= self.stall_s and not slot.stalled:
            slot.stalled = True
            why = slot.why or STALLED
            log.warning("robot %s: no progress on goal %s for %.1f s (%s)", slot.name, slot.goal_id, quiet, why)
            if esc:
                self._emit(EscortStalled(**esc.base(), reason=why, stalled_s=round(quiet, 1)))
            self._alert(slot, STALLED, f"no progress for {quiet:.0f} s ({why}) on the way to {slot.goal_wp}",
                        esc.escort_id if esc else None)
        if quiet >= self.stall_give_up_s and slot.leg != "dock":
            log.warning("robot %s: giving up goal %s after %.0f s without progress", slot.name, slot.goal_id, quiet)
            self._send(slot, "CANCEL", str(slot.goal_id))
            slot.goal_id = None
            slot.stalled = False
            if esc:
                self._fail(esc, STALLED)
            self._release(slot)

    # -- helpers ---------------------------------------------------------------------------------
    def _unavailable_reason(self) -> str:
        """The most useful reason why no robot can take a visitor now."""
        reasons = [s.unavailable_reason for s in self._slots.values() if s.up]
        for r in (p.Reason.ESTOP_ACTIVE.value, "FAULT", LOW_BATTERY, MAP_MISMATCH, UNKNOWN_STATE, "BOOT"):
            if r in reasons:
                return r
        if any(s.link for s in self._slots.values()):
            return LINK_DOWN
        return UNAVAILABLE

    def _fail(self, esc: Escort, reason: str) -> None:
        if esc.phase in ("done", "failed", "canceled"):
            return
        self._finish(esc, "failed")
        self._emit(EscortFailed(**esc.base(), reason=str(reason), show_map=True))

    def _finish(self, esc: Escort, phase: str) -> None:
        esc.phase = phase
        self._escorts.pop(esc.escort_id, None)

    def _status(self, slot: _Slot) -> None:
        """Publish the robot's status when something the screens show changed (not for each % of battery)."""
        reason = slot.unavailable_reason
        key = (slot.available, slot.up, slot.state, reason, slot.estop, slot.charging)
        if key == slot.published:
            return
        slot.published = key
        self._emit(RobotStatus(slot.name, slot.available, slot.up, slot.state, slot.battery, reason,
                               slot.estop, slot.charging))

    def _alert(self, slot: _Slot, alert: str, detail: str = "", escort_id: int | None = None) -> None:
        self._emit(RobotAlert(slot.name, alert, detail, escort_id))

    def _position(self, slot: _Slot) -> tuple[float, float]:
        if slot.x is not None and slot.y is not None:
            return slot.x, slot.y
        return self.waypoints.get(slot.dock, (0.0, 0.0))

    def _distance(self, slot: _Slot, waypoint: str) -> float:
        x, y = self._position(slot)
        tx, ty = self.waypoints.get(waypoint, (x, y))
        return math.hypot(tx - x, ty - y)

    def _distance_between(self, a: str, b: str) -> float:
        """Metres between two waypoints along the floor plan's walking route (`kiosk.floorplan.route`):
        the route the kiosk draws and reads out for the visitor, and the one the simulator drives
        from the meeting point (robot.sim.make_robot), so every figure of an escort agrees."""
        return route_length(self.cfg, a, b)

    def _escort_s(self, slot: _Slot, esc: Escort) -> float:
        """Seconds one escort takes from the meeting point to release at the counter and back."""
        if not self.meet:
            return self.arrive_pause_s
        d = 2 * self._distance_between(self.meet, esc.waypoint)
        return d / slot.speed + self.follow_pause_s + self.arrive_pause_s

    def _wait_estimate(self, slot: _Slot) -> float:
        """Seconds until the robot could start on one more visitor."""
        now = time.monotonic()
        t = 0.0
        esc = slot.active
        if esc is not None:
            remaining = max(0.0, slot.pause_until - now) if slot.pause_until else slot.leg_eta
            if esc.phase in ("approach", "meet", "queued"):
                t += remaining + self._escort_s(slot, esc)
            elif esc.phase == "guide":
                t += remaining + self.arrive_pause_s
                if self.meet:
                    t += self._distance_between(esc.waypoint, self.meet) / slot.speed
            else:
                t += remaining
        for queued in slot.queue:
            t += self._escort_s(slot, queued)
        return t
