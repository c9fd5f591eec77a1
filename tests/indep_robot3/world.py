"""The robot's world: its map (waypoints), the spec's timings and thresholds, number formats.

Every constant the firmware uses is named here, with the spec section it comes from.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

PROTOCOL_MAJOR = "1"
PROTOCOL_MINOR = "1"
MODEL = "FW3-GUIDE"
MAP_VERSION = "2026-11"
CAPABILITIES = "SWCR"  # speaker, waypoint list, charging flag, reboot (12.2); "A" added when keyed

HEARTBEAT_S = 1.0  # 10
FEEDBACK_S = 0.6  # 1-2 Hz (6.2)
LINK_LOSS_S = 3.0  # 3 missed kiosk heartbeats (10)
ARRIVED_RETURN_S = 60.0  # 6.1
BOOT_AWAY_RETURN_S = 60.0  # 10
REBOOT_DELAY_S = 0.3  # restart within 1 s (12.3)
BOOT_S = 0.4  # time spent in BOOT after a restart
DOCKING_S = 1.0  # final docking manoeuvre
REMEMBERED_IDS = 64  # 5
AT_WAYPOINT_M = 0.05  # "where it stands" (5.1)
GOTO_MIN_BATTERY = 15  # 11
CRITICAL_BATTERY = 10  # 11
DEFAULT_SPEED = 0.7  # m/s
PHRASES = ("FOLLOW_ME", "ARRIVED")  # 4.1
DOCK = "dock"

# The centre's table, as `kiosk robot waypoints` printed it for the vendor (7.2).
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
DOCK_HEADING = 90.0

_NAME = re.compile(r"[A-Za-z0-9_-]{1,16}")
_ID = re.compile(r"[1-9][0-9]{0,4}")


def valid_name(text: str) -> bool:
    """A waypoint or phrase name: 1-16 of A-Z a-z 0-9 _ - (2)."""
    return bool(_NAME.fullmatch(text))


def parse_id(text: str) -> int | None:
    """A command id 1-99999 in plain digits without a leading zero, else None (2)."""
    return int(text) if _ID.fullmatch(text) else None


def fmt_pos(value: float) -> str:
    """A position with one decimal, never '-0.0' (2, 4.5)."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def fmt_positive(value: float) -> str:
    """A non-negative number with one decimal (distance, eta, heading)."""
    return f"{max(0.0, value):.1f}"


def fmt_heading(deg: float) -> str:
    """Heading in [0, 360) with one decimal (7.1)."""
    text = f"{deg % 360.0:.1f}"
    return "0.0" if text == "360.0" else text


def fmt_speed(speed: float) -> str:
    """Max speed: decimal, at most 2 decimals (4.2)."""
    text = f"{speed:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def seconds_up(value: float) -> str:
    """Whole seconds rounded up, at least 1 (BUSY, 5)."""
    return str(max(1, math.ceil(value - 1e-9)))


def load_waypoints(path: Path) -> dict[str, tuple[float, float]]:
    """Read a `name x y` table (the output of `kiosk robot waypoints`); '#' lines are comments."""
    table: dict[str, tuple[float, float]] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith("#"):
            table[parts[0]] = (float(parts[1]), float(parts[2]))
    return table
