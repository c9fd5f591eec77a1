"""The robot's own map: named waypoints in the floor-map frame (section 7.1) and its version."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .wire import is_name


@dataclass(frozen=True)
class Waypoint:
    """A named point of the robot's map; `heading` is the heading taken on arrival (None: keep)."""

    name: str
    x: float
    y: float
    heading: float | None = None


# The vendor's survey of the hall (README "Coordinate table"). Only the dock's position and
# heading come from the spec (its STATUS and WP examples); the names are the centre's.
DEFAULT_WAYPOINTS: tuple[Waypoint, ...] = (
    Waypoint("dock", 2.0, 2.0, 90.0),
    Waypoint("kiosk", 4.5, 4.5, 180.0),
    Waypoint("entrance", 1.0, 8.0, 0.0),
    Waypoint("counter_1", 7.0, 12.0, 90.0),
    Waypoint("counter_2", 11.0, 12.0, 90.0),
    Waypoint("counter_3", 15.0, 12.0, 90.0),
    Waypoint("counter_4", 19.0, 12.0, 90.0),
    Waypoint("restroom", 21.5, 3.0, 0.0),
)
DEFAULT_MAP_VERSION = "2026-11"


class MapError(ValueError):
    """A --waypoints value that cannot be read."""


def load_waypoints(spec: str | None) -> list[Waypoint]:
    """--waypoints: a file (lines 'name x y [heading]' or a JSON object) or a comma-separated list.

    List items are 'name', 'name:x:y' or 'name:x:y:heading'; a bare name takes its position from
    the default table, or a free place on a line y = 7 when the table does not have it.
    """
    if not spec:
        return list(DEFAULT_WAYPOINTS)
    path = Path(spec)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        items = _from_json(text) if text.lstrip().startswith("{") else _from_lines(text)
    else:
        items = [item.split(":") for item in spec.split(",") if item.strip()]
    points = [_point(parts, index) for index, parts in enumerate(items)]
    names = [p.name for p in points]
    if len(set(names)) != len(names) or not points:
        raise MapError("waypoint names must be unique and at least one is needed")
    return points


def _from_json(text: str) -> list[list[str]]:
    data = json.loads(text)
    out = []
    for name, value in data.items():
        if isinstance(value, dict):
            value = [value.get("x"), value.get("y"), value.get("heading")]
        out.append([name, *[str(v) for v in value if v is not None]])
    return out


def _from_lines(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append(line.replace(",", " ").replace(":", " ").split())
    return rows


def _point(parts: list[str], index: int) -> Waypoint:
    name = parts[0].strip()
    if not is_name(name):
        raise MapError(f"bad waypoint name {name!r} (1-16 of A-Z a-z 0-9 _ -)")
    try:
        numbers = [float(p) for p in parts[1:]]
    except ValueError as exc:
        raise MapError(f"bad coordinates for {name}: {parts[1:]}") from exc
    if len(numbers) >= 2:
        heading = numbers[2] % 360.0 if len(numbers) > 2 else None
        return Waypoint(name, numbers[0], numbers[1], heading)
    known = {w.name: w for w in DEFAULT_WAYPOINTS}
    return known.get(name) or Waypoint(name, 2.0 + 2.5 * index, 7.0, None)


def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])


def heading_to(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Heading in degrees [0, 360), counter-clockwise from +x (section 7.1)."""
    return math.degrees(math.atan2(b[1] - a[1], b[0] - a[0])) % 360.0
