"""The on-screen keyboard: Vietnamese by Telex, or plain letters without diacritics.

Key labels are single letters and digits (no sentences); the few word keys (space, delete,
clear, the typing-mode switch) take their captions from i18n through the app. Every key is
at least 64 px in both directions at 1080p. `on_typed(text)` fires after every key with the
whole text, which the search screen hands to the controller (results are searched off the
UI thread).
"""

from __future__ import annotations

from kivy.app import App
from kivy.metrics import dp
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.widgets.common import KButton
from kiosk.widgets.telex import TelexBuffer

ROWS = ["1234567890-.", "qwertyuiop", "asdfghjkl", "zxcvbnm"]
KEY_FILL = (1, 1, 1, 1)
KEY_TEXT = (0.10, 0.11, 0.13, 1)
FN_FILL = (0.82, 0.86, 0.91, 1)


class KeyButton(KButton):
    """One key; dark text on white (contrast 17:1)."""


class VietKeyboard(BoxLayout):
    """Letters, digits, space, delete, clear and the Telex / plain switch."""

    text = StringProperty("")
    telex = BooleanProperty(True)
    follow_lang = BooleanProperty(True)
    """Telex while the visitor's language is Vietnamese, plain letters in English (False: keep the mode)."""
    shown = BooleanProperty(True)
    """False: the keyboard is hidden (the dossier screen hides it once the code is looked up)."""

    __events__ = ("on_typed",)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.orientation = "vertical"
        self.spacing = dp(8)
        self.buffer = TelexBuffer(telex=True)
        self.keys: dict[str, KeyButton] = {}
        self._build()

    def _key(self, label: str, action, *, fill=KEY_FILL, color=KEY_TEXT, tag: str = "", **kw) -> KeyButton:
        b = KeyButton(text=label, fill=fill, color=color, tag=tag or f"key:{label}", **kw)
        b.action = action
        b.size_hint_y = 1
        b.height = dp(84)
        self.keys[b.tag] = b
        return b

    def _build(self):
        app = App.get_running_app()
        for i, row in enumerate(ROWS):
            line = BoxLayout(spacing=dp(8), size_hint_y=1)
            if i == 2:
                line.padding = (dp(40), 0)
            for ch in row:
                line.add_widget(self._key(ch, lambda ch=ch: self.press(ch)))
            if i == 3:
                bs = self._key("", self.backspace, fill=FN_FILL, tag="key:backspace", size_hint_x=1.8)
                self.backspace_key = bs
                line.add_widget(bs)
            self.add_widget(line)
        last = BoxLayout(spacing=dp(8), size_hint_y=1)
        self.mode_key = self._key("", self.toggle_mode, fill=FN_FILL, tag="key:mode", size_hint_x=2.6)
        last.add_widget(self.mode_key)
        self.space_key = self._key("", lambda: self.press(" "), tag="key:space", size_hint_x=4.5)
        last.add_widget(self.space_key)
        self.clear_key = self._key("", self.clear, fill=FN_FILL, tag="key:clear", size_hint_x=1.8)
        last.add_widget(self.clear_key)
        self.add_widget(last)
        if app is not None:
            app.bind(lang=self._lang_changed, scale=lambda *a: self.relabel())
            # the mode of the language the kiosk starts in: a centre whose first language is English
            # gave its first English visitor Telex ("birth" typed "bỉth": no match) until a reset
            self.telex = self.buffer.telex = app.lang == "vi"
        self.relabel()

    def _lang_changed(self, app, lang):
        # an English visitor typing "birth" in Telex got "bỉth" ('r' is the hỏi tone) and no match
        if self.follow_lang:
            self.telex = self.buffer.telex = lang == "vi"
        self.relabel()

    def relabel(self):
        app = App.get_running_app()
        if app is None:
            return
        self.mode_key.text = app.tr("search.telex" if self.telex else "search.plain")
        self.space_key.text = app.tr("keyboard.space")
        self.clear_key.text = app.tr("keyboard.clear")
        self.backspace_key.text = "⌫ " + app.tr("keyboard.backspace")
        for b in self.keys.values():
            b.font_size = app.fs(34 if len(b.text) == 1 else 28)

    # typing --------------------------------------------------------------------------------
    def press(self, ch: str):
        self.text = self.buffer.key(ch)
        self.dispatch("on_typed", self.text)

    def backspace(self):
        self.text = self.buffer.backspace()
        self.dispatch("on_typed", self.text)

    def clear(self):
        self.text = self.buffer.clear()
        self.dispatch("on_typed", self.text)

    def set_text(self, text: str):
        """Show finished text (a voice result, a suggestion) without firing a search."""
        self.text = self.buffer.set_text(text)

    def new_visit(self, lang: str):
        """A fresh visit: nothing typed, and the mode the language starts with (a previous
        visitor's "Gõ không dấu" must not carry over to the next one)."""
        if self.follow_lang:
            self.telex = self.buffer.telex = lang == "vi"
            self.relabel()
        self.clear()

    def toggle_mode(self):
        self.telex = not self.telex
        self.buffer.telex = self.telex
        self.relabel()

    def type_string(self, s: str):
        """Type a string key by key, as a visitor would (tests and the benchmark)."""
        for ch in s:
            self.press(ch)

    def on_typed(self, text):
        pass
