"""Guidance: the route on the floor map, the robot escort, and what the robot's events mean to the visitor.

Robot events arrive as the escort manager's typed events (`robot.escort`), dispatched with
`match`; an event of another visitor's escort only updates the status shown to staff. When
the robot cannot help (absent, busy, down, blocked…) the map is shown with the reason.
"""

from __future__ import annotations

import logging

from kiosk.devices import robot_reason_key
from kiosk.floorplan import route
from kiosk.flows.base import ControllerBase
from kiosk.visit import EscortState, Screen

log = logging.getLogger("kiosk.guide")

ACTIVE = (EscortState.REQUESTED, EscortState.COMING, EscortState.GUIDING)


class GuideFlow(ControllerBase):
    def _init_flows(self) -> None:
        super()._init_flows()
        self._escort_visit = -1
        self.robot_status: dict = {}
        self.robot_alerts: list[str] = []

    def guide_me(self) -> None:
        """'Đưa tôi đến quầy': ask the robot; if it cannot come, show the route on the map."""
        self.activity()
        dest = self.visit.destination
        if dest is None and self.visit.procedure:
            visit = self._visit_id
            key = self.visit.procedure["key"]
            self._run("db", lambda: self.backend.destination_for(key),
                      lambda d: self._got_destination(visit, d))
            return
        self._guide(dest)

    def _got_destination(self, visit: int, dest: dict | None) -> None:
        if visit == self._visit_id:
            self.visit.destination = dest
            self._guide(dest)

    def _guide(self, dest: dict | None) -> None:
        if not dest:
            self.show_message("error.no_counter")
            return
        self.visit.destination = dest
        self.go(Screen.DIRECTIONS)
        if self.escort_mgr is None:
            self._fallback("robot.absent")
            return
        self.visit.escort = EscortState.REQUESTED
        self.visit.escort_reason = "robot.requested"
        self._escort_visit = self._visit_id
        self._emit("escort")
        ticket = (self.visit.ticket or {}).get("number")
        visit = self._visit_id

        def got_id(eid):
            if visit == self._visit_id:
                self.visit.escort_id = eid

        self._run("io", lambda: self.escort_mgr.request(dest["waypoint"], counter=dest.get("counter"), ticket=ticket),
                  got_id, lambda exc: self._fallback("robot.unavailable"))

    def open_directions(self) -> None:
        """'Chỉ đường' from Home: the map, with a choice of places."""
        self.activity()
        self.visit.destination = None
        self.visit.escort = EscortState.NONE
        self.visit.escort_reason = ""
        self.go(Screen.DIRECTIONS)
        self._emit("escort")

    def places(self) -> list[dict]:
        """Places a visitor may ask the way to: every counter, then other named waypoints."""
        out = []
        for c in self.cfg.counters:
            out.append({"waypoint": c.waypoint, "counter": c.id, "counters": [c.id],
                        "name": c.name.get(self.visit.lang)})
        skip = {c.waypoint for c in self.cfg.counters} | {"kiosk", "dock"}
        for name, wp in self.cfg.floor_map.waypoints.items():
            if name not in skip and wp.name is not None:
                out.append({"waypoint": name, "counter": None, "counters": [], "name": wp.name.get(self.visit.lang)})
        return out

    def pick_place(self, waypoint: str) -> None:
        """A place chosen on the directions screen: show its route (the robot only on request)."""
        self.activity()
        place = next((p for p in self.places() if p["waypoint"] == waypoint), None)
        if place is None:
            return
        self.visit.destination = place
        self.visit.escort = EscortState.NONE
        self.visit.escort_reason = ""
        self._emit("escort")

    def route_points(self) -> list[tuple[float, float]]:
        dest = self.visit.destination
        wps = self.cfg.floor_map.waypoints
        if not dest or dest.get("waypoint") not in wps or "kiosk" not in wps:
            return []
        return route(self.cfg, "kiosk", dest["waypoint"])

    def destination_name(self) -> str:
        dest = self.visit.destination or {}
        if dest.get("counter"):
            return self.counter_names({"counters": [dest["counter"]]})
        wp = self.cfg.floor_map.waypoints.get(dest.get("waypoint", ""))
        return wp.name.get(self.visit.lang) if wp is not None and wp.name else ""

    def _fallback(self, reason_key: str, **detail) -> None:
        self.visit.escort = EscortState.FALLBACK
        self.visit.escort_reason = reason_key
        self.visit.escort_detail = detail
        self._emit("escort")

    def cancel_escort(self) -> None:
        self.activity()
        eid = self.visit.escort_id
        if self.escort_mgr is not None and eid is not None and self.visit.escort in ACTIVE:
            self._run("io", lambda: self.escort_mgr.cancel(eid), None, lambda exc: None)
        self.visit.escort = EscortState.CANCELLED
        self.visit.escort_reason = "robot.cancelled"
        self._emit("escort")

    # -- robot events ---------------------------------------------------------------------
    def on_robot_event(self, ev) -> None:
        """A typed event of `robot.escort`, already on the UI thread."""
        from robot import escort as e

        match ev:
            case e.RobotStatus():
                self._robot_status(ev)
                return
            case e.RobotAlert(alert=alert, detail=detail):
                self.robot_alerts = [*self.robot_alerts[-4:], f"{ev.robot}: {alert} {detail}".strip()]
                self._emit("status")
                if alert in ("ESTOP", "REBOOTED", "LOW_BATTERY") and ev.escort_id is not None and self._mine(ev):
                    self._fallback(robot_reason_key("estop" if alert == "ESTOP" else alert))
                return
        if self._mine(ev):
            self._escort_event(ev)

    def _robot_status(self, ev) -> None:
        self.robot_status = {"link": ev.link_up, "state": ev.state, "available": ev.available,
                             "battery": ev.battery, "reason": ev.reason, "estop": getattr(ev, "estop", False)}
        self._emit("status")
        if getattr(ev, "estop", False) and self.visit.escort in ACTIVE and self._escort_visit == self._visit_id:
            self._fallback("robot.aborted_estop")

    def _escort_event(self, ev) -> None:
        from robot import escort as e

        v = self.visit
        match ev:
            case e.EscortQueued(wait_s=wait_s, position=position):
                v.escort, v.escort_reason = EscortState.REQUESTED, "robot.queued"
                v.escort_detail = {"minutes": max(1, round(float(wait_s) / 60)), "position": position}
            case e.RobotComing(distance_m=dist):
                v.escort, v.escort_reason = EscortState.COMING, "robot.coming"
                v.escort_detail = {"distance_m": dist}
            case e.FollowRobot(distance_m=dist):
                v.escort, v.escort_detail = EscortState.GUIDING, {"distance_m": dist}
                v.escort_reason = "robot.progress" if float(dist or 0) >= 1 else "robot.guiding"
            case e.EscortArrived():
                v.escort, v.escort_reason = EscortState.ARRIVED, "robot.arrived"
            case e.EscortCanceled():
                v.escort, v.escort_reason = EscortState.CANCELLED, "robot.cancelled"
            case e.EscortStalled():
                v.escort_reason = "robot.stalled"   # the escort goes on if the robot moves again
            case e.VisitorLost():
                v.escort_reason = "robot.visitor_lost"
            case e.EscortResumed():
                v.escort, v.escort_reason = EscortState.GUIDING, "robot.guiding"
            case e.EscortFailed(reason=reason):
                self._fallback(robot_reason_key(str(reason)))
                return
            case _:
                self._robot_notice(ev)
                return
        self._emit("escort")

    def _mine(self, ev) -> bool:
        """True when `ev` is about this visitor's escort (not the previous visitor's)."""
        v = self.visit
        eid = getattr(ev, "escort_id", None)
        if self._escort_visit != self._visit_id or v.escort in (EscortState.NONE, EscortState.CANCELLED):
            return False
        if eid is not None and v.escort_id is not None and eid != v.escort_id:
            return False
        if eid is not None and v.escort_id is None:
            v.escort_id = eid
        return True

    def _robot_notice(self, ev) -> None:
        """An escort event this kiosk has no dedicated sentence for: its reason, or the map."""
        reason = getattr(ev, "reason", None) or type(ev).__name__
        key = robot_reason_key(str(reason))
        log.info("robot event %s shown as %s", type(ev).__name__, key)
        if getattr(ev, "show_map", True):
            self._fallback(key)
