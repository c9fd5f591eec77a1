"""Kiosk screens: each presents part of the controller's state and forwards taps to it.

A screen's `refresh(topic)` is called for every topic the controller emits (on the UI
thread) and re-reads what it shows; it holds no state of the visit itself. `SCREENS` maps
screen names (`kiosk.controller.Screen` values) to classes, in the order the app adds them.

Dossier lookup hook (issue 9): `dossier_lookup_hook(cfg)` returns a callable
`lookup(code) -> dict | None` when `centre.dossiers` offers `Dossiers.from_config(conn,
cfg).lookup_public(code)`; the Home tile "Tra cứu hồ sơ" and the `dossier` screen appear only
then. A later dossier screen replaces `kiosk/screens/dossier.py` keeping the class name
`DossierScreen` and the controller calls `open_dossiers()` / `dossier_lookup`.
"""

from __future__ import annotations

import functools
import logging

from kivy.app import App
from kivy.properties import StringProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import Screen as KivyScreen

log = logging.getLogger(__name__)


class KScreen(KivyScreen):
    """Base of every kiosk screen."""

    @property
    def app(self):
        return App.get_running_app()

    @property
    def c(self):
        return self.app.controller

    def tr(self, key: str, **kw) -> str:
        return self.app.tr(key, **kw)

    def refresh(self, topic: str) -> None:
        """Re-read the controller's state after `topic` changed (override)."""


class Overlay(FloatLayout):
    """Message banner and the idle 'still there?' warning, drawn above every screen.

    A hidden part (opacity 0) takes no touch: Kivy lets a disabled widget swallow the touches
    on its area, so the hidden idle card and the hidden banner's "Đóng" used to make taps on
    buttons beneath them do nothing (issue 14).
    """

    message = StringProperty("")
    idle_text = StringProperty("")

    def on_touch_down(self, touch):
        return any(ch.dispatch("on_touch_down", touch) for ch in self.children[:] if ch.opacity > 0)

    def on_touch_move(self, touch):
        return any(ch.dispatch("on_touch_move", touch) for ch in self.children[:] if ch.opacity > 0)

    def on_touch_up(self, touch):
        return any(ch.dispatch("on_touch_up", touch) for ch in self.children[:] if ch.opacity > 0)

    def refresh(self, topic: str) -> None:
        app = App.get_running_app()
        c = app.controller
        if topic in ("message", "lang", "reset", "screen"):
            if c.message and c.message[0]:
                key, kw = c.message
                self.message = app.tr(key, **kw)
            else:
                self.message = ""
        if topic in ("idle", "lang", "reset"):
            if c.idle_warning:
                self.idle_text = app.tr("idle.body", seconds=max(0, int(round(c.idle_left()))))
            else:
                self.idle_text = ""


def row_size(lines: list[tuple[str, float]], width: float) -> tuple[None, float]:
    """Height of a list row showing `lines` ((text, font px)) wrapped in `width` px.

    RecycleView rows cannot size themselves; this estimates the wrapped height from the
    font's mean advance (DejaVu Sans: about 0.6 em), erring on the tall side.
    """
    import math

    avail = max(100.0, width - 60)
    h = 0.0
    for text, px in lines:
        per_line = max(1, int(avail / (px * 0.6)))
        h += math.ceil(max(1, len(text)) / per_line) * px * 1.22
    return None, max(96.0, h + 36)


def text_row_size(markup: str, font_size: float, width: float, lines: list[tuple[str, float]]) -> tuple[None, float]:
    """Height of a ListRow showing `markup` in `width` px: the estimate of `row_size(lines, …)`, or
    the text as Kivy wraps it when taller. The estimate's 0.6 em is a regular letter's mean, and
    the names are bold: with larger text in portrait a name the estimate gave two lines took three,
    and its first and last lines were drawn outside the row's card, over the rows beside it."""
    from kivy.metrics import dp

    est = row_size(lines, width)[1]
    text_h = _wrapped_height(markup, float(font_size), float(width))
    return None, est if text_h is None else max(est, text_h + dp(24) + dp(16))


@functools.lru_cache(maxsize=4096)
def _wrapped_height(markup: str, font_size: float, width: float) -> float | None:
    """The height of `markup` laid out as a ListRow lays it out (cached: the lists are rebuilt on
    every screen change, ~0.5 ms a row)."""
    from kivy.core.text.markup import MarkupLabel
    from kivy.metrics import dp

    # ListRow: text_size is its width less 48 dp, and its 24 dp padding is inside that box
    label = MarkupLabel(text=markup, font_size=font_size, text_size=(max(1.0, width - dp(96)), None))
    try:
        return label.render()[1]  # the layout only (real=False): no texture is drawn
    except Exception:  # a font or markup the core label cannot lay out: keep the estimate
        log.exception("row height of %r", markup[:60])
        return None


def dossier_lookup_hook(cfg):
    """`lookup(code) -> dict | None` from centre.dossiers, or None when the module is not there.
    A kiosk with `centre.url` asks the staff server (the dossiers are in its database)."""
    if cfg.centre.url:
        from staff.client import dossier_lookup

        return dossier_lookup(cfg)
    try:
        from centre import dossiers
    except ImportError:
        return None
    if not hasattr(dossiers, "Dossiers") or not hasattr(dossiers.Dossiers, "lookup_public"):
        return None

    def lookup(code: str):
        from centre.db import connect
        from kiosk.backend import AMBIGUOUS, resolve_dossier_tail

        conn = connect(cfg.database_path)
        try:
            book = dossiers.Dossiers.from_config(conn, cfg)
            found = book.lookup_public(code)
            if found is None:
                full = resolve_dossier_tail(conn, code)
                if full is AMBIGUOUS:
                    return {"ambiguous": True}
                found = book.lookup_public(full) if full else None
            return found.to_dict() if found is not None else None
        finally:
            conn.close()

    return lookup


def _registry():
    from kiosk.screens.browse import DetailScreen, FieldsScreen, ProceduresScreen
    from kiosk.screens.directions import DirectionsScreen
    from kiosk.screens.dossier import DossierScreen
    from kiosk.screens.home import HomeScreen
    from kiosk.screens.search import SearchScreen
    from kiosk.screens.staff import PinScreen, StaffScreen
    from kiosk.screens.ticket import PriorityScreen, ServiceScreen, TicketScreen

    return {
        "home": HomeScreen, "fields": FieldsScreen, "procedures": ProceduresScreen, "detail": DetailScreen,
        "search": SearchScreen, "service": ServiceScreen, "priority": PriorityScreen, "ticket": TicketScreen,
        "directions": DirectionsScreen, "pin": PinScreen, "staff": StaffScreen, "dossier": DossierScreen,
    }


class _Lazy(dict):
    def _load(self):
        if not super().__len__():
            super().update(_registry())

    def items(self):
        self._load()
        return super().items()

    def __getitem__(self, k):
        self._load()
        return super().__getitem__(k)

    def keys(self):
        self._load()
        return super().keys()


SCREENS = _Lazy()
