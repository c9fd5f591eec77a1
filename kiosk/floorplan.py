"""Walking routes on the hall's floor plan (config `floor_map`), in metres; no Kivy here."""

from __future__ import annotations


def route(cfg, start: str, goal: str) -> list[tuple[float, float]]:
    """Points (metres) of a walking route from waypoint `start` to `goal` along the hall's corridor.

    The hall has one corridor running across it between the entrance side and the
    counters; the route leaves the start straight to the corridor, runs along it and turns
    to the goal (an L/U-shaped path that does not cut through counters).
    """
    wps = cfg.floor_map.waypoints
    a, b = wps[start], wps[goal]
    corridor_y = corridor(cfg)
    pts = [(a.x, a.y)]
    if abs(a.y - corridor_y) > 0.01:
        pts.append((a.x, corridor_y))
    if abs(a.x - b.x) > 0.01:
        pts.append((b.x, corridor_y))
    if abs(b.y - corridor_y) > 0.01 or pts[-1] != (b.x, b.y):
        pts.append((b.x, b.y))
    return pts


def corridor(cfg) -> float:
    """The y (metres) of the corridor: two metres in front of the counters, on the side they face."""
    counters = [cfg.floor_map.waypoints[c.waypoint] for c in cfg.counters if c.waypoint in cfg.floor_map.waypoints]
    if not counters:
        return cfg.floor_map.height_m / 2
    cy = min(w.y for w in counters)
    return cy - 2.0 if cy > cfg.floor_map.height_m / 2 else cy + 2.0
