"""Running the real kiosk App for tests and the benchmark: a temporary centre, and a driver that
pumps the event loop, taps widgets through the window and takes screenshots.

    cfg = kiosk_config(tmp, pin="730591")
    drv = start(cfg, tmp)          # the App embedded in this process (one per process: Kivy)
    drv.tap("home:lookup"); drv.wait(lambda: drv.screen() == "fields")
    drv.stop()
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from kiosk.tapaudit import in_scroll

ROOT = Path(__file__).resolve().parent.parent


def kiosk_config(tmp: Path, *, pin: str | None = None, copy_data: bool = True, extra: dict | None = None):
    """The shipped config.yaml with its database and data in `tmp` (the catalogue copied there too)."""
    from centre.config import parse_config

    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{tmp}/var/centre.db"')
    if copy_data:
        if not (tmp / "data").exists():
            shutil.copytree(ROOT / "data", tmp / "data")
        text = text.replace('catalogue: "data/procedures"', f'catalogue: "{tmp}/data/procedures"')
    if pin:
        from centre.pin import hash_pin

        text = text.replace("staff_pin_hash: null", f'staff_pin_hash: "{hash_pin(pin)}"')
    text = text.replace('model_path: "var/models/vosk-model-small-vn-0.4"', f'model_path: "{tmp}/no-model"')
    text = text.replace('engine: "vietasr"', 'engine: "vosk"')  # the UI tests run without a recogniser (a missing Vosk model)
    for old, new in (extra or {}).items():
        text = text.replace(old, new)
    return parse_config(text, base_dir=ROOT, source=ROOT / "config.yaml")


def start(cfg, tmp: Path, **parts) -> Driver:
    """Create and start the App embedded (the caller pumps the loop through the driver)."""
    from kiosk.app import create_app

    app = create_app(cfg, orientation="landscape", windowed=True, **parts)
    from kivy.base import EventLoop, runTouchApp

    app._run_prepare()
    runTouchApp(embedded=True)
    drv = Driver(app, EventLoop, tmp)
    drv.pump(0.5)
    return drv


class Driver:
    """Touches, frames and reads of the running App."""

    def __init__(self, app, loop, tmp):
        self.app = app
        self.loop = loop
        self.tmp = tmp
        from centre.db import connect

        self.db = connect(app.cfg.database_path)

    @property
    def c(self):
        return self.app.controller

    def stop(self) -> None:
        self.app.stop()
        self.app.controller.close()
        self.db.close()

    def pump(self, seconds=0.05):
        end = time.monotonic() + seconds
        while True:
            self.loop.idle()
            if time.monotonic() >= end:
                return

    def wait(self, cond, timeout=10.0, what="condition"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.loop.idle()
            if cond():
                self.pump(0.05)
                return
        raise AssertionError(f"timed out waiting for {what}")

    def roots(self):
        return [self.app.sm.current_screen, self.app.overlay]

    def visible(self):
        """Widgets of the current screen and the overlay."""
        out = []

        def walk(w):
            if w.opacity == 0:
                return
            out.append(w)
            for ch in w.children:
                walk(ch)

        for r in self.roots():
            walk(r)
        return out

    def find(self, tag):
        for w in self.visible():
            if getattr(w, "tag", None) == tag and not w.disabled and w.opacity > 0:
                return w
        raise AssertionError(f"no visible widget tagged {tag!r} on screen {self.app.sm.current}")

    def tap(self, widget_or_tag, *, settle=0.05):
        """A real touch at the widget's centre, through the window."""
        from kivy.tests.common import UnitTestTouch

        w = self.find(widget_or_tag) if isinstance(widget_or_tag, str) else widget_or_tag
        self.pump(0.03)
        x, y = w.to_window(*w.center)
        t = UnitTestTouch(x, y)
        t.touch_down()
        self.pump(0.03)
        t.touch_up()
        self.pump(max(settle, 0.25 if in_scroll(w) else settle))

    def row(self, prefix, rv):
        """The top row of RecycleView `rv` whose tag starts with `prefix` and that is inside its viewport."""
        x0, y0 = rv.to_window(*rv.pos)
        rows = [w for w in self.visible() if getattr(w, "tag", "").startswith(prefix)
                and y0 < w.to_window(*w.center)[1] < y0 + rv.height]
        assert rows, f"no row {prefix!r} in view"
        return max(rows, key=lambda w: w.to_window(*w.center)[1])

    def texts(self):
        return "\n".join(str(getattr(w, "text", "")) for w in self.visible() if getattr(w, "text", None))

    def screen(self):
        return self.app.sm.current

    def audit(self):
        """Tap every visible enabled button of the screen and the overlay (see kiosk.tapaudit)."""
        from kiosk.tapaudit import audit

        return audit(self.app, self.roots(), self.pump)

    def shot(self, folder: Path, name: str, expect: list[str] = ()):
        from PIL import Image, ImageStat

        self.pump(0.15)
        path = folder / f"{name}.png"
        from kiosk.widgets.common import scissors_for_export

        with scissors_for_export(self.app.root.height):
            self.app.root.export_to_png(str(path))
        img = Image.open(path).convert("RGB")
        w, h = img.size
        assert (w, h) == tuple(int(v) for v in self.app.root.size)
        stat = ImageStat.Stat(img)
        assert max(stat.stddev) > 20, f"{name}: screenshot looks blank"
        colours = len(img.resize((w // 4, h // 4)).getcolors(maxcolors=1 << 20) or [])
        assert colours > 30, f"{name}: only {colours} colours"
        shown = self.texts()
        for e in expect:
            assert e in shown, f"{name}: {e!r} not on screen; shown: {shown[:400]!r}"
        return path


COMBOS = [(o, large, lang) for o in ("landscape", "portrait") for large in (False, True) for lang in ("vi", "en")]


def sample_dossier_lookup():
    """A dossier lookup answering one sample receipt code (by its tail too), for screens and taps."""
    found = {"code": "000.00.29.H29-260213-0001", "applicant": "N*** V*** A", "procedure_name": "Đăng ký khai sinh",
             "state": "supplement_requested", "received_on": "2026-02-13", "due_on": "2026-02-20", "late": False,
             "next_action": "supplement", "counter": "2", "missing_documents": ["Tờ khai đăng ký khai sinh"]}
    return lambda code: found if code.upper().endswith("H29-260213-0001") else None


def screens_tour(d):
    """(screen name, how to get there, wait until) for every screen and state worth tapping."""
    from kiosk.visit import Screen

    c = d.c
    # c.home() starts a new visit keeping the language and text size (c.reset() would not)
    return [
        ("home", c.home, lambda: d.screen() == "home"),
        ("fields", c.open_fields, lambda: d.screen() == "fields" and c.fields),
        ("procedures", lambda: c.open_field("ho-tich"), lambda: d.screen() == "procedures" and c.visit.procedures),
        ("detail", lambda: c.open_procedure("1.001193"), lambda: d.screen() == "detail" and c.visit.procedure),
        ("detail-open", lambda: (c.toggle_group("case0"), c.toggle_group("legal")), lambda: True),
        ("search", lambda: (c.home(), c.open_search("giay khai sinh")),
         lambda: d.screen() == "search" and c.visit.results and not c.visit.searching),
        ("search-see-also", lambda: c.search("ly hon"),  # results and "Nếu Ông/Bà cần ly hôn: Tòa án…"
         lambda: not c.visit.searching and c.visit.results and c.visit.see_also),
        ("search-nomatch", lambda: c.search("xyz qwv"), lambda: not c.visit.searching and not c.visit.results),
        ("service", lambda: (c.home(), c.open_ticket()), lambda: d.screen() == "service"),
        ("priority", c.open_priority, lambda: d.screen() == "priority"),
        ("ticket", lambda: (c.back(), c.choose_service("B")), lambda: d.screen() == "ticket" and c.visit.ticket),
        ("directions", lambda: (c.home(), c.open_directions()), lambda: d.screen() == "directions"),
        ("directions-route", lambda: c.pick_place("counter_3"), lambda: c.visit.destination),
        ("pin", lambda: (c.home(), c.open_staff()), lambda: d.screen() == "pin"),
        ("staff", lambda: (c.go(Screen.STAFF, remember=False), c.staff_refresh()),
         lambda: d.screen() == "staff" and c.staff_counters),
        ("dossier", lambda: (c.home(), c.open_dossiers()), lambda: d.screen() == "dossier"),
        ("dossier-found", lambda: (c.dossier_typed("H29-260213-0001"), c.dossier_find()),
         lambda: c.visit.dossier_state == "found"),
    ]



def audit_every_screen(d, combos=COMBOS, shots: Path | None = None) -> tuple[int, list[str]]:
    """Tap every button of every screen in each (orientation, large text, language): (tapped, dead)."""
    c = d.c
    dead, tapped = [], 0
    for orientation, large, lang in combos:
        d.app.set_orientation(orientation)
        d.pump(0.3)
        c.reset()
        c.set_lang(lang)
        if c.visit.large_text != large:
            c.toggle_large_text()
        for name, go, ready in screens_tour(d):
            go()
            d.wait(ready, what=f"{name} ready")
            c.show_message(None)
            d.pump(0.25)
            if (c.visit.lang, c.visit.large_text) != (lang, large):
                raise AssertionError(f"{name}: the visit lost its language or text size")
            if shots is not None:
                d.shot(shots, f"{orientation}-{'large' if large else 'normal'}-{lang}-{name}")
            report = d.audit()
            tapped += report.tapped
            dead += [f"{orientation}/{'large' if large else 'normal'}/{lang}/{name}: {b}" for b in report.dead]
    c.reset()
    d.app.set_orientation("landscape")
    d.pump(0.3)
    return tapped, dead


class XTouch:
    """Real taps through the X server (XTest): bench/kiosk.py sends them from a thread of its own.

    The events take a touchscreen's path into the kiosk (X server → SDL → Kivy's input
    provider → the widget), arriving whenever they come, also while a frame is being drawn.
    Needs libX11 and libXtst (Debian: libx11-6, libxtst6).
    """

    def __init__(self):
        import ctypes

        self._x11 = ctypes.CDLL("libX11.so.6")
        self._xtst = ctypes.CDLL("libXtst.so.6")
        self._x11.XOpenDisplay.restype = ctypes.c_void_p
        self._x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self._x11.XFlush.argtypes = [ctypes.c_void_p]
        self._x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self._xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                                    ctypes.c_ulong]
        self._xtst.XTestFakeButtonEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
        self._dpy = self._x11.XOpenDisplay(None)
        if not self._dpy:
            raise RuntimeError("cannot open the X display for XTest")

    def tap(self, x: int, y: int, hold: float = 0.08) -> float:
        """Touch (x, y) of the screen for `hold` seconds; returns when the finger lifted (perf_counter)."""
        self._xtst.XTestFakeMotionEvent(self._dpy, -1, int(x), int(y), 0)
        self._x11.XFlush(self._dpy)
        time.sleep(0.01)
        self._xtst.XTestFakeButtonEvent(self._dpy, 1, 1, 0)
        self._x11.XFlush(self._dpy)
        time.sleep(hold)
        t = time.perf_counter()
        self._xtst.XTestFakeButtonEvent(self._dpy, 1, 0, 0)
        self._x11.XFlush(self._dpy)
        return t

    def close(self) -> None:
        self._x11.XCloseDisplay(self._dpy)
