"""Tap audit: tap the centre of every visible, enabled button through the window and check it acted.

Used by tests/test_kiosk_taps.py and bench/kiosk.py (`dead_buttons`). The taps are real touch
events posted to the window (`kivy.tests.common.UnitTestTouch` → `EventLoop.post_dispatch_input`),
so a hidden widget lying over a button takes the tap exactly as it would from a finger.

While the taps run, `app.controller` is a `Recorder`: it answers reads from the real controller
but only records the calls that would act (open a screen, issue a ticket…), so a whole screen
can be tapped without leaving it. A button *acted* when its own `on_release` fired and, during
that release, it called the controller or changed its keyboard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: controller methods that only read; everything else a button calls counts as acting
READERS = frozenset({"t", "name_of", "service_name", "counter_names", "label_of", "route_points", "places",
                     "destination_name", "idle_left", "aloud_text", "subscribe", "service_state"})
#: calls every touch makes (the idle timer), which say nothing about the button
NOISE = frozenset({"activity"})


class Recorder:
    """Stands in for the controller during an audit: reads pass through, actions are recorded."""

    def __init__(self, real):
        self._real = real
        self.calls: list[tuple[object, str]] = []
        self.current = None

    def __getattr__(self, name):
        attr = getattr(self._real, name)
        if name in READERS or name.startswith("_") or not callable(attr) or isinstance(attr, type):
            return attr

        def record(*a, **kw):
            if name not in NOISE:
                self.calls.append((self.current, name))

        return record


@dataclass
class Report:
    """Buttons tapped and those whose centre tap did nothing."""

    tapped: int = 0
    dead: list[str] = field(default_factory=list)

    def add(self, other: Report) -> None:
        self.tapped += other.tapped
        self.dead.extend(other.dead)


def _clip(rect, other):
    x0, y0, x1, y1 = rect
    a0, b0, a1, b1 = other
    return max(x0, a0), max(y0, b0), min(x1, a1), min(y1, b1)


def _window_rect(w):
    x0, y0 = w.to_window(w.x, w.y)
    x1, y1 = w.to_window(w.right, w.top)
    return x0, y0, x1, y1


def tappable(root, window_size) -> list:
    """Visible, enabled buttons under `root` whose centre is on screen and inside every scroll view around it."""
    from kivy.uix.button import Button
    from kivy.uix.stencilview import StencilView

    out = []

    def walk(w, clip):
        if w.opacity == 0 or w.disabled:
            return
        if isinstance(w, StencilView):
            clip = _clip(clip, _window_rect(w))
        if isinstance(w, Button) and w.width >= 1 and w.height >= 1:
            cx, cy = w.to_window(*w.center)
            if clip[0] <= cx <= clip[2] and clip[1] <= cy <= clip[3]:
                out.append(w)
        for ch in list(w.children):
            walk(ch, clip)

    walk(root, (0, 0, window_size[0], window_size[1]))
    return out


def name_of(w) -> str:
    return getattr(w, "tag", "") or type(w).__name__ + ":" + str(getattr(w, "text", ""))[:30]


def audit(app, roots, pump, *, settle: float = 0.35) -> Report:
    """Tap every button of `roots` (widgets on screen); `pump(seconds)` runs the event loop."""
    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch

    from kiosk.widgets.keyboard import VietKeyboard

    buttons = [b for r in roots for b in tappable(r, Window.size)]
    real = app.controller
    rec = Recorder(real)
    fired: dict[int, int] = {}
    keyboards = [w for r in roots for w in r.walk(restrict=True) if isinstance(w, VietKeyboard)]
    saved = [(kb, kb.buffer.snapshot(), kb.telex) for kb in keyboards]
    unbind = []

    def on_release(b, *_):
        fired[id(b)] = fired.get(id(b), 0) + 1
        rec.current = b

    for kb in keyboards:
        def kb_typed(k, *_):
            rec.calls.append((rec.current, "keyboard"))

        kb.fbind("on_typed", kb_typed)
        kb.fbind("telex", kb_typed)
        unbind.append((kb, "on_typed", kb_typed))
        unbind.append((kb, "telex", kb_typed))
    for b in buttons:
        b.fbind("on_release", on_release)
        unbind.append((b, "on_release", on_release))
    app.controller = rec
    try:
        for b in buttons:
            x, y = b.to_window(*b.center)
            touch = UnitTestTouch(x, y)
            touch.touch_down()
            touch.touch_up()
        # taps inside a scroll view reach their button 0.2 s later
        pump(settle if any(in_scroll(b) for b in buttons) else 0.05)
    finally:
        app.controller = real
        for w, ev, fn in unbind:
            w.funbind(ev, fn)
        for kb, snap, telex in saved:
            kb.buffer.restore(snap)
            kb.telex = kb.buffer.telex = telex
            kb.text = kb.buffer.text
    acted = {id(who) for who, _ in rec.calls}
    report = Report(tapped=len(buttons))
    for b in buttons:
        if not fired.get(id(b)):
            report.dead.append(name_of(b) + " (the tap did not reach it)")
        elif id(b) not in acted:
            report.dead.append(name_of(b) + " (it reacted but did nothing)")
    return report


def in_scroll(w) -> bool:
    from kivy.uix.scrollview import ScrollView

    p = w.parent
    while p is not None and p is not p.parent:
        if isinstance(p, ScrollView):
            return True
        p = p.parent
    return False
