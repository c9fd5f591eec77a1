"""Home: the centre, a greeting, search, the main actions and today's waiting numbers."""

from __future__ import annotations

from kivy.factory import Factory

from kiosk.screens import KScreen


class HomeScreen(KScreen):
    """Big actions: find a procedure, take a number, check a dossier (when available), directions."""

    def on_kv_post(self, base_widget):
        self._tiles_built_for = None

    def _build_tiles(self):
        c = self.c
        actions = [("lookup", c.open_fields), ("ticket", c.open_ticket)]
        if c.has_dossiers:
            actions.append(("dossier", c.open_dossiers))
        actions.append(("directions", c.open_directions))
        grid = self.ids.tiles
        grid.clear_widgets()
        grid.cols = 2 if (self.app.portrait or len(actions) == 4) else len(actions)
        if self.app.portrait and len(actions) == 3:
            grid.cols = 1
            grid.row_default_height = 170
        for name, fn in actions:
            tile = Factory.ActionTile(tag=f"home:{name}")
            tile.size_hint_y = 1
            tile.action = fn
            grid.add_widget(tile)
        self._tiles_built_for = (len(actions), self.app.portrait)
        self._label_tiles()

    def _label_tiles(self):
        app = self.app
        for tile in self.ids.tiles.children:
            name = tile.tag.split(":", 1)[1]
            big = int(app.fs(40))
            small = int(app.fs(28))
            tile.text = (f"[size={big}][b]{app.tr(f'home.{name}')}[/b][/size]\n"
                         f"[size={small}]{app.tr(f'home.{name}_hint')}[/size]")

    def _fill_waiting(self):
        app, c = self.app, self.c
        box = self.ids.waiting
        box.clear_widgets()
        for svc in app.cfg.services:
            info = c.waiting.get(svc.series)
            if info is None:
                line = ""
            elif info["waiting"]:
                line = app.tr("home.waiting_line", waiting=info["waiting"], wait=info.get("wait_min") or 0)
            else:
                line = app.tr("home.waiting_none")
            row = Factory.WaitingRow()
            row.letter, row.name, row.line = svc.series, svc.name.get(app.lang), line
            box.add_widget(row)

    def refresh(self, topic):
        if self._tiles_built_for != (len(self.ids.tiles.children), self.app.portrait) or topic == "orientation":
            self._build_tiles()
        if topic in ("lang", "reset", "screen"):
            self._label_tiles()
        if topic in ("waiting", "lang", "reset", "screen"):
            self._fill_waiting()
