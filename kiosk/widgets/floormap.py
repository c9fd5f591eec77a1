"""The floor map: the hall drawn from config waypoints, with the route to a counter.

If `cfg.floor_map.image` exists it is drawn as the background (a centre's own plan);
otherwise the hall is drawn from the waypoints alone: walls, counters as desks, the robot
dock, the kiosk ("you are here") and other places. The route (`kiosk.controller.route`)
is a thick line with a marker at the destination. Place names come from config in the
visitor's language; the only fixed caption ("you are here") comes from i18n.
"""

from __future__ import annotations

from kivy.app import App
from kivy.graphics import Color, Ellipse, Line, Rectangle, RoundedRectangle
from kivy.metrics import dp
from kivy.properties import ListProperty, ObjectProperty, StringProperty
from kivy.uix.label import Label
from kivy.uix.widget import Widget

WALL = (0.27, 0.30, 0.35, 1)
FLOOR = (1, 1, 1, 1)
DESK = (0.043, 0.310, 0.541, 1)
DESK_GOAL = (0.60, 0.11, 0.09, 1)
ROUTE = (0.60, 0.11, 0.09, 1)
HERE = (0.05, 0.40, 0.18, 1)
TEXT = (0.10, 0.11, 0.13, 1)


class FloorMap(Widget):
    """Draws `cfg.floor_map`; set `route` (points in metres) and `goal` (waypoint name)."""

    cfg = ObjectProperty(None, allownone=True)
    route = ListProperty([])
    goal = StringProperty("")
    here = StringProperty("kiosk")
    lang = StringProperty("vi")

    def __init__(self, **kw):
        super().__init__(**kw)
        self._labels: list[Label] = []
        self.bind(pos=self.redraw, size=self.redraw, route=self.redraw, goal=self.redraw, cfg=self.redraw,
                  lang=self.redraw)

    def _frame(self):
        fm = self.cfg.floor_map
        pad = dp(20)
        s = min((self.width - 2 * pad) / fm.width_m, (self.height - 2 * pad) / fm.height_m)
        ox = self.x + (self.width - fm.width_m * s) / 2
        oy = self.y + (self.height - fm.height_m * s) / 2
        return s, ox, oy

    def to_px(self, x: float, y: float) -> tuple[float, float]:
        s, ox, oy = self._frame()
        return ox + x * s, oy + y * s

    def redraw(self, *_):
        if self.cfg is None or self.width < 10 or self.height < 10:
            return
        for lab in self._labels:
            self.remove_widget(lab)
        self._labels = []
        app = App.get_running_app()
        fm = self.cfg.floor_map
        s, ox, oy = self._frame()
        counters = {c.waypoint: c for c in self.cfg.counters}
        self.canvas.clear()
        with self.canvas:
            Color(*FLOOR)
            Rectangle(pos=(ox, oy), size=(fm.width_m * s, fm.height_m * s))
            img = self.cfg.path(fm.image)
            if img.exists():
                Color(1, 1, 1, 1)
                Rectangle(source=str(img), pos=(ox, oy), size=(fm.width_m * s, fm.height_m * s))
            else:
                Color(*WALL)
                Line(rectangle=(ox, oy, fm.width_m * s, fm.height_m * s), width=dp(3))
            for name, wp in fm.waypoints.items():
                px, py = self.to_px(wp.x, wp.y)
                if name in counters:
                    Color(*(DESK_GOAL if name == self.goal else DESK))
                    w, h = 2.6 * s, 1.2 * s
                    RoundedRectangle(pos=(px - w / 2, py - h / 2), size=(w, h), radius=[dp(6)])
                elif name == self.here:
                    Color(*HERE)
                    r = dp(18)
                    Ellipse(pos=(px - r, py - r), size=(2 * r, 2 * r))
                else:
                    Color(*WALL)
                    r = dp(9)
                    Ellipse(pos=(px - r, py - r), size=(2 * r, 2 * r))
            if len(self.route) >= 2:
                Color(*ROUTE)
                pts = []
                for x, y in self.route:
                    pts.extend(self.to_px(x, y))
                Line(points=pts, width=dp(7), joint="round", cap="round")
                gx, gy = pts[-2], pts[-1]
                Color(*ROUTE)
                r = dp(22)
                Line(circle=(gx, gy, r), width=dp(4))
        self._place_labels(fm, counters, s, ox, app)

    def _label(self, text, color, bold, size) -> Label:
        lab = Label(text=text, color=color, bold=bold, font_size=size, size_hint=(None, None))
        lab.texture_update()
        lab.size = lab.texture_size
        return lab

    def _place_labels(self, fm, counters, s, ox, app) -> None:
        """Counter names inside their desks (smaller font when a name is wider than the desk);
        other places' names under their dot, or above / beside it when that would cover another
        label or dot ("you are here" next to the robot dock)."""
        taken: list[tuple[float, float, float, float]] = []
        dots = []
        for name, wp in fm.waypoints.items():
            px, py = self.to_px(wp.x, wp.y)
            if name in counters:
                text = counters[name].name.get(self.lang)
                size = min(dp(30), 2.4 * s / max(1, len(text) * 0.62))
                lab = self._label(text, (1, 1, 1, 1), True, size)
                lab.center = (px, py)
                taken.append((lab.x, lab.y, lab.right, lab.top))
                self._add(lab)
            else:
                dots.append((name, wp, px, py))
        r = dp(22)
        taken += [(px - r, py - r, px + r, py + r) for _, _, px, py in dots]
        for name, wp, px, py in sorted(dots, key=lambda d: d[0] != self.here):
            text = wp.name.get(self.lang) if wp.name else name
            if name == self.here and app is not None:
                text = app.tr("directions.you_are_here", self.lang)
            lab = self._label(text, TEXT, name == self.here, dp(28))
            for dx, dy in ((0, -dp(40)), (lab.width / 2 + dp(30), 0), (-lab.width / 2 - dp(30), 0), (0, dp(40))):
                lab.center = (px + dx, py + dy)
                lab.x = min(max(lab.x, ox + dp(4)), ox + fm.width_m * s - lab.width - dp(4))
                box = (lab.x, lab.y, lab.right, lab.top)
                if not any(_overlap(box, t) for t in taken):
                    break
            taken.append((lab.x, lab.y, lab.right, lab.top))
            self._add(lab)

    def _add(self, lab: Label) -> None:
        self._labels.append(lab)
        self.add_widget(lab)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
