"""Device adapters: the robot escort manager as the kiosk sees it, and why a robot cannot guide.

The adapters hand on the devices' own typed events (`robot.escort`, `voice.events`); the
controller dispatches them with `match` on the UI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("kiosk.devices")

#: Failure reasons of the escort manager that have their own sentence (i18n robot.aborted_<reason>).
ABORT_REASONS = ("blocked", "timeout", "localization_lost", "low_battery", "estop", "estop_active",
                 "unknown_waypoint", "stalled", "visitor_lost")


def robot_reason_key(reason: str) -> str:
    """The i18n key explaining why the robot cannot guide (a protocol Reason or a manager reason)."""
    r = reason.lower()
    if r in ABORT_REASONS:
        return f"robot.aborted_{r}"
    if r == "busy":
        return "robot.busy"
    if r in ("link_down", "no_answer", "rebooted", "reboot"):
        return "robot.down"
    if r in ("unavailable", ""):
        return "robot.unavailable"
    return "robot.aborted"


class RobotAdapter:
    """The kiosk's view of `robot.escort.EscortManager`: request / cancel / status; its typed
    events are passed to `on_event(ev)` (from the manager's thread)."""

    def __init__(self, manager, on_event: Callable):
        self.manager = manager
        self.on_event = on_event
        self._unsubscribe = manager.subscribe(self.on_event)

    def request(self, waypoint: str, *, counter: int | None = None, ticket: str | None = None) -> int:
        if counter is not None:
            return self.manager.request_escort(counter, ticket=ticket)
        return self.manager.request_escort(waypoint=waypoint, ticket=ticket)

    def cancel(self, escort_id: int) -> None:
        self.manager.cancel(escort_id)

    def status(self) -> dict:
        st = self.manager.status()
        robots = st.get("robots") if isinstance(st, dict) else None
        if isinstance(robots, list) and robots:
            r = robots[0]
            return {"link": r.get("link_up", r.get("available")), "state": r.get("state", ""),
                    "available": self.manager.available}
        return {"link": self.manager.available, "available": self.manager.available}

    def close(self) -> None:
        try:
            self._unsubscribe()
        finally:
            self.manager.close()
