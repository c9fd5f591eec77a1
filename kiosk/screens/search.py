"""Search: the on-screen keyboard (Telex or plain), results as you type, no-match suggestions."""

from __future__ import annotations

from kivy.core.window import Window
from kivy.factory import Factory
from kivy.metrics import dp

from kiosk.screens import KScreen, text_row_size

#: the result list keeps at least this much room (dp) under the "see also" box
RESULTS_KEEP = 100


class SearchScreen(KScreen):
    def on_kv_post(self, base_widget):
        self.ids.results.bind(width=lambda *a: self.refresh("resize"))
        # the "see also" box fits the room left by everything else in the column (larger text, rotation)
        self._also_texts, self._also_cache = ("", ""), (None, 0.0, 0.0)
        self.ids.also_text.bind(width=self._fit_also, font_size=self._fit_also)
        column = self.ids.results.parent
        column.bind(height=self._fit_also)
        for w in column.children:
            if w not in (self.ids.also, self.ids.results):
                w.bind(height=self._fit_also)

    def on_enter(self, *a):
        # a hardware keyboard (some kiosks have one; staff testing) types like the on-screen one
        Window.bind(on_textinput=self._hardware_text, on_key_down=self._hardware_key)

    def on_leave(self, *a):
        Window.unbind(on_textinput=self._hardware_text, on_key_down=self._hardware_key)

    def _typing_here(self) -> bool:
        """Keys go to this screen only while it is the running app's screen on show: an app
        stopped on the search screen never left it, and its binding typed into the next app."""
        app = self.app
        return (app is not None and dict.get(getattr(app, "screens", {}), self.name) is self
                and self.manager is not None and self.manager.current == self.name)

    def _hardware_text(self, window, text):
        if self._typing_here():
            self.ids.keyboard.type_string(text.lower())

    def _hardware_key(self, window, key, scancode, codepoint, modifiers):
        if key == 8 and self._typing_here():  # backspace
            self.ids.keyboard.backspace()
        return False  # the app's idle timer sees every key too

    def typed(self, text: str) -> None:
        """Every key: show the text now; the search runs off the UI thread once the visitor
        pauses (`kiosk.search_pause_s`; stale results dropped)."""
        self.ids.query.text = text
        self.c.search(text, pause=self.app.cfg.kiosk.search_pause_s)

    def refresh(self, topic):
        c = self.c
        if topic == "voice_level":
            self.ids.level.value = c.voice_level
            return
        if topic in ("reset",):
            self.ids.keyboard.new_visit(c.visit.lang)
        if topic in ("voice_text",):
            self.ids.keyboard.set_text(c.visit.query)
        if topic in ("search", "lang", "reset", "screen", "voice_text", "voice", "resize"):
            self._show()

    def _status(self) -> str:
        c, v = self.c, self.c.visit
        if v.voice_state == "listening":
            return self.tr("voice.heard", text=v.voice_partial) if v.voice_partial else self.tr("voice.listening")
        if v.voice_state == "thinking":
            return self.tr("voice.thinking")
        if v.voice_candidates:
            return self.tr("voice.not_understood")
        if not v.query.strip():
            if not self.app.voice_ready:
                return ""
            return self.tr("voice.hold") if v.lang == "vi" else self.tr("voice.vi_only")
        if v.results:
            return self.tr("search.results", count=len(v.results))
        if v.searching:
            return self.tr("search.searching")
        _ = c
        return self.tr("search.no_match")

    def _no_match(self, box) -> None:
        """Nothing here matches: where to go instead (the search's referral) and the help desk with a
        number first (what fits above the keyboard), then the nearest fields."""
        v = self.c.visit
        ref = v.referral or {}
        office = ref.get(f"office_{v.lang}") or ref.get("office_vi") or ref.get("office")
        if office:
            advice = ref.get(f"advice_{v.lang}") or ref.get("advice_vi") or ref.get("advice") or ""
            box.add_widget(Factory.KLabel(text=self.tr("search.referral", office=office, advice=advice), bold=True))
            box.add_widget(self._help_desk())
            self._fields(box)
        else:
            self._fields(box)
            box.add_widget(self._help_desk())

    def _help_desk(self):
        """"Or ask the staff at the help desk" and a number (the service list), on one line."""
        line = Factory.BoxLayout(size_hint_y=None, height=dp(96), spacing=dp(16))
        line.add_widget(Factory.KMuted(text=self.tr("search.ask_staff"), pos_hint={"center_y": 0.5}))
        ticket = Factory.KQuiet(text=self.tr("home.ticket"), tag="nomatch:ticket", size_hint_x=None,
                                width=dp(420), pos_hint={"center_y": 0.5})
        ticket.action = lambda: self.c.open_ticket()  # the controller at tap time (the tap audit swaps it)
        line.add_widget(ticket)
        return line

    def _fields(self, box) -> None:
        v = self.c.visit
        if not v.suggestions:
            return
        box.add_widget(Factory.KMuted(text=self.tr("search.suggest")))
        row = Factory.GridLayout(cols=1 if self.app.portrait else 3, size_hint_y=None, spacing=dp(12),
                                 row_default_height=dp(96), row_force_default=True)
        row.bind(minimum_height=row.setter("height"))
        for s in v.suggestions[:3]:
            b = Factory.KQuiet(text=self.c.name_of(s), tag=f"suggest:{s['id']}")
            b.action = lambda fid=s["id"]: self.c.open_field(fid)
            row.add_widget(b)
        box.add_widget(row)

    def _also_heights(self, texts: tuple[str, str]) -> tuple[float, float]:
        """The box's height for the line with and without the advice, at the label's width
        (rendered once per text, width and size: cached)."""
        label, box = self.ids.also_text, self.ids.also_box
        key = (texts, label.width, label.font_size)
        if self._also_cache[0] != key:
            heights = []
            for text in texts:
                label.text = text
                label.texture_update()
                heights.append(label.texture_size[1] + dp(8) + box.padding[1] + box.padding[3])
            self._also_cache = (key, *heights)
        return self._also_cache[1], self._also_cache[2]

    def _fit_also(self, *a) -> None:
        """The "see also" box above the results. Whole, with the advice, when the first result
        row still fits whole under it; else without the advice; where even that is too tall
        (landscape, larger text) at least its first line, scrolled for the rest, while the
        results keep RESULTS_KEEP px (their first row's centre and more than a touch target in
        view). It never pushes the query box over the top bar (docs/kiosk.md: the referral's fix)."""
        also, results, label = self.ids.also, self.ids.results, self.ids.also_text
        full, short = self._also_texts
        if not full:
            label.text, also.height, also.opacity = "", 0, 0
            return
        column = also.parent
        others = [w for w in column.children if w not in (also, results)]
        room = (column.height - column.padding[1] - column.padding[3] - column.spacing * (len(column.children) - 1)
                - sum(w.height for w in others))
        data = results.data
        spare = room - (data[0]["row_size"][1] if data else dp(110))  # under it, the first result row whole
        h_full, h_short = self._also_heights((full, short))
        text, height = (full, h_full) if h_full <= spare else (short, h_short)
        if label.text != text:
            label.text = text
        first_line = min(height, label.font_size * 1.3 + dp(28))
        also.height = max(0, min(height, max(first_line, spare), room - dp(RESULTS_KEEP)))
        also.opacity = 1 if also.height else 0
        also.scroll_y = 1

    def _share_room(self, more: bool) -> None:
        """The no-match box (or voice candidates) takes the result list's room, scrolled if longer."""
        scroll, results = self.ids.more, self.ids.results
        scroll.size_hint_y, results.size_hint_y = (1, None) if more else (None, 1)
        if more:
            results.height = 0
            scroll.scroll_y = 1
        else:
            scroll.height = 0

    def _candidate(self, text: str) -> None:
        if text not in self.c.visit.voice_commands:
            self.ids.keyboard.set_text(text)
        self.c.choose_candidate(text)

    def _show(self):
        c, v = self.c, self.c.visit
        self.ids.query.text = v.query or self.tr("search.hint")
        if v.query != self.ids.keyboard.text and v.query:
            self.ids.keyboard.set_text(v.query)
        self.ids.level.opacity = 1 if v.voice_state == "listening" else 0
        self.ids.level.value = c.voice_level if v.voice_state == "listening" else 0
        box = self.ids.suggestions
        box.clear_widgets()
        self.ids.status.text = self._status()
        if v.voice_candidates:
            for text in v.voice_candidates:
                b = Factory.KQuiet(text=text, tag=f"voice:{text}")
                b.action = lambda t=text: self._candidate(t)
                box.add_widget(b)
        elif v.query.strip() and not v.results and not v.searching:
            self._no_match(box)
        self._share_room(bool(box.children))
        shown = not box.children and v.results  # the see-also line: with results only
        self._also_texts = (c.see_also_text(), c.see_also_text(advice=False)) if shown else ("", "")
        data = []
        width, fs = self.ids.results.width, self.app.fs(30)
        for h in v.results:
            field = h.get("field_en") if v.lang == "en" and h.get("field_en") else h.get("field", "")
            text = f"[b]{c.name_of(h)}[/b]\n[color=454d59]{field}[/color]"
            data.append({"text": text, "row_size": text_row_size(text, fs, width, [(c.name_of(h), fs), (field, fs)]),
                         "font_size": fs,
                         "key": h["key"], "tag": f"hit:{h['key']}",
                         "action": (lambda k=h["key"]: self.c.open_hit(k))})
        self.ids.results.data = data
        self._fit_also()
