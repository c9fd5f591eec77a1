"""Home: the centre, a greeting, search, the main actions and today's waiting numbers."""

from __future__ import annotations

from kivy.factory import Factory

from kiosk.screens import KScreen

TILE_ACTIONS = {"lookup": "open_fields", "ticket": "open_ticket", "dossier": "open_dossiers",
                "directions": "open_directions"}


class HomeScreen(KScreen):
    """Big actions: find a procedure, take a number, check a dossier (when available), directions."""

    def on_kv_post(self, base_widget):
        self._tiles_built_for = None
        self._labels_for = None
        self._waiting_for = None

    def _build_tiles(self):
        c = self.c
        actions = ["lookup", "ticket"] + (["dossier"] if c.has_dossiers else []) + ["directions"]
        grid = self.ids.tiles
        grid.clear_widgets()
        grid.cols = 2 if (self.app.portrait or len(actions) == 4) else len(actions)
        if self.app.portrait and len(actions) == 3:
            grid.cols = 1
            grid.row_default_height = 170
        for name in actions:
            tile = Factory.ActionTile(tag=f"home:{name}")
            tile.size_hint_y = 1
            # resolved at tap time: the controller object may be replaced (tests, the tap audit)
            tile.action = lambda n=TILE_ACTIONS[name]: getattr(self.c, n)()
            grid.add_widget(tile)
        self._tiles_built_for = (len(actions), self.app.portrait)
        self._label_tiles()
        self._labels_for = (self.app.lang, self.app.scale, self.app.portrait)

    def _label_tiles(self):
        app = self.app
        for tile in self.ids.tiles.children:
            name = tile.tag.split(":", 1)[1]
            big = int(app.fs(40))
            small = int(app.fs(28))
            tile.text = (f"[size={big}][b]{app.tr(f'home.{name}')}[/b][/size]\n"
                         f"[size={small}]{app.tr(f'home.{name}_hint')}[/size]")

    def _fill_waiting(self):
        """Each service's state before any tap: open with its wait, paused, closed until…, no counter."""
        from kiosk.aloud import service_line

        app, c = self.app, self.c
        box = self.ids.waiting
        box.clear_widgets()
        for svc in app.cfg.services:
            st = c.service_state(svc.series)
            row = Factory.WaitingRow()
            row.letter, row.name = svc.series, svc.name.get(app.lang)
            row.line = service_line(app.tr, st, app.lang) if st else ""
            row.closed = bool(st) and not st.get("can_issue", True)
            box.add_widget(row)

    def refresh(self, topic):
        if self._tiles_built_for != (len(self.ids.tiles.children), self.app.portrait) or topic == "orientation":
            self._build_tiles()
        # redraw only what changed: a new visit emits several topics at once
        look = (self.app.lang, self.app.scale, self.app.portrait)
        if topic in ("lang", "reset", "screen") and look != self._labels_for:
            self._labels_for = look
            self._label_tiles()
        states = (look, tuple(sorted((k, tuple(sorted(v.items()))) for k, v in self.c.services.items())))
        if topic in ("waiting", "lang", "reset", "screen") and states != self._waiting_for:
            self._waiting_for = states
            self._fill_waiting()
