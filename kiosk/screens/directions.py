"""Directions: the floor map with the route, the robot's progress, or why the map is shown instead."""

from __future__ import annotations

from kivy.factory import Factory

from kiosk.screens import KScreen
from kiosk.visit import EscortState


class DirectionsScreen(KScreen):
    def on_kv_post(self, base_widget):
        self.ids.map.cfg = self.app.cfg

    def refresh(self, topic):
        if topic not in ("escort", "lang", "screen"):
            return
        c, v = self.c, self.c.visit
        ids = self.ids
        ids.map.lang = v.lang
        dest = v.destination
        ids.map.goal = dest["waypoint"] if dest else ""
        ids.map.route = c.route_points()
        ids.route_title.text = self.tr("directions.route_to", place=c.destination_name()) if dest else ""
        reason = v.escort_reason
        det = v.escort_detail
        kw = {"distance": int(round(float(det.get("distance_m") or 0))), "minutes": det.get("minutes", 1)}
        ids.robot_text.text = self.tr(reason, **kw) if reason else (self.tr("robot.absent") if dest else "")
        ids.status_card.opacity = 1 if dest else 0
        active = v.escort in (EscortState.REQUESTED, EscortState.COMING, EscortState.GUIDING)
        can_call = dest is not None and c.escort_mgr is not None and v.escort in (EscortState.NONE, EscortState.CANCELLED)
        for w, show in ((ids.robot_go, can_call), (ids.robot_cancel, active)):
            w.opacity = 1 if show else 0
            w.disabled = not show
        # choosing a place: only when the visitor came from Home's "Chỉ đường" (escort NONE: "Đưa tôi
        # đến quầy" always leaves it REQUESTED or FALLBACK). A ticket or a procedure earlier in the
        # visit does not matter: it hid the places, and a citizen with a ticket who came back Home
        # for "Chỉ đường" saw a bare map while "Đọc to" asked them to touch a place
        picking = not active and v.escort == EscortState.NONE
        ids.choose_title.opacity = 1 if picking else 0
        ids.choose_title.text = self.tr("directions.choose") if picking else ""
        grid = ids.places
        grid.clear_widgets()
        if picking:
            for p in c.places():
                b = Factory.KQuiet(text=p["name"], tag=f"place:{p['waypoint']}")
                b.font_size = self.app.fs(28)
                b.action = lambda w=p["waypoint"]: self.c.pick_place(w)
                grid.add_widget(b)
