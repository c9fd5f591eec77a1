"""The robot's map: the centre's waypoint table (from `kiosk robot waypoints`) and constants."""

from __future__ import annotations

MAP_VERSION = ""  # the centre's config.yaml sets no robot.map_version
WAYPOINTS: dict[str, tuple[float, float]] = {
    "dock": (2.0, 2.0),
    "kiosk": (4.0, 3.0),
    "entrance": (1.0, 7.0),
    "counter_1": (8.0, 11.0),
    "counter_2": (12.0, 11.0),
    "counter_3": (16.0, 11.0),
    "counter_4": (20.0, 11.0),
    "restroom": (22.0, 2.0),
}
DOCK = "dock"
PHRASES = ("FOLLOW_ME", "ARRIVED")

MODEL = "FW2-GUIDE"
SPEED_M_S = 1.0  # max speed, also the simulated driving speed
HEARTBEAT_S = 1.0
FEEDBACK_S = 0.5
LINK_LOST_S = 3.0
IDLE_RETURN_S = 60.0
BOOT_S = 0.3
DOCKING_S = 1.0
ARRIVE_EPS_M = 0.05
GOTO_MIN_BATTERY = 15
REMEMBERED_IDS = 64
