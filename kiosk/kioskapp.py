"""The Kivy App of the kiosk (imported only after `kiosk.app.configure_kivy` set the window options).

`KioskApp` builds the screens from kiosk/kv and kiosk/screens, creates the controller with its
devices and forwards the controller's topics to the screens, the overlay and the app's own
properties (language, text size, voice, speech) that the .kv files bind to.
"""

from __future__ import annotations

import math
import time

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.core.window import Window
from kivy.graphics import ClearBuffers, ClearColor
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition, ScreenManager
from kivy.uix.stencilview import StencilView

from kiosk.app import KV_DIR, SIZES, font_files, make_escort, make_speaker, make_voice
from kiosk.controller import Backend, Controller, I18n, Screen
from kiosk.widgets.common import clip_by_scissor, exporting, follow_export, free_text_surfaces

PAGE_BG = (0.957, 0.965, 0.973, 1)  # C_BG of kv/base.kv
#: a touch this soon (s) after the last one lifted, this near it (px), on a screen that came up in
#: between (or in the language or text size that touch switched to), is the same finger again (a
#: double tap, a trembling hand), not a tap on the new screen: a double tap on "Lấy số thứ tự" took
#: a number for whatever service was drawn under the tile; on "English" it switched back.
#: The time counts from the first frame that showed the new look, not from the lift: nobody taps on
#: purpose what they have not seen yet, and a slow frame (a language switch redraws every label; on
#: a loaded PC one took over 0.5 s) let a double tap through when it counted from the lift.
#: 0.5 s, not Android's 0.3 s double-tap timeout: the second touch is dispatched a frame or two
#: late on a slow kiosk PC.
BOUNCE_S = 0.5
BOUNCE_PX = 60


class KioskRoot(FloatLayout):
    """ScreenManager plus the overlays (message banner, idle warning) on top of it.

    The page background of every screen is painted once, under everything, by clearing the
    frame buffer to the page colour: the window clears each frame to `Window.clearcolor` (the
    page colour), and a screenshot (drawn into an image whose own clear is transparent) gets
    this root's clear, which is off otherwise (a second clear of the window cost ~1 ms a
    frame). A full-screen Rectangle per screen did the same, but with software OpenGL (Mesa
    llvmpipe, a kiosk PC without a GPU) every layer drawn over the whole screen is one more
    pass over 2 M pixels, 10-30 ms of each frame on a 2-core machine.
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.canvas.before:
            ClearColor(*PAGE_BG)
            clear = ClearBuffers(clear_color=False)
        self._clear_for_export = lambda: setattr(clear, "clear_color", exporting())
        follow_export(self._clear_for_export)


class LazyScreens(dict):
    """name → screen, built on first use (`app.screens["search"]` builds it if needed)."""

    def __init__(self, app, classes: dict):
        super().__init__()
        self.app = app
        self.classes = classes

    def __missing__(self, name):
        scr = self.classes[name](name=name)
        for w in scr.walk(restrict=True):
            if isinstance(w, StencilView):
                clip_by_scissor(w)  # no stencil passes: see kiosk.widgets.common
        self[name] = scr
        self.app.sm.add_widget(scr)
        if self.app.controller is not None:
            scr.refresh("screen")
        return scr

    def get(self, name, default=None):
        return self[name] if name in self.classes else default

    def build_one(self) -> bool:
        """Build the next screen not built yet; False when all are built."""
        todo = [n for n in self.classes if n not in self]
        if todo:
            self[todo[0]]  # noqa: B018
        return len(todo) > 1

class KioskApp(App):
    lang = StringProperty("vi")
    scale = NumericProperty(1.0)
    large = BooleanProperty(False)
    portrait = BooleanProperty(False)
    controller = ObjectProperty(None, allownone=True)
    voice_ready = BooleanProperty(False)
    speaking = BooleanProperty(False)
    first_frame_at = NumericProperty(0)

    def __init__(self, cfg, *, orientation="landscape", backend=None, escort=None, voice=None,
                 speaker=None, i18n=None, prepare=True, dossier_lookup=None, escort_factory=None,
                 voice_factory=None, **kw):
        super().__init__(**kw)
        self.cfg = cfg
        self.title = cfg.centre.name.vi
        self.orientation_name = orientation
        self.portrait = orientation == "portrait"
        self.i18n = i18n or I18n()
        # parts given by tests (None: made by the factories in build)
        self._backend, self._escort, self._voice, self._speaker = backend, escort, voice, speaker
        self._prepare, self._dossier_lookup = prepare, dossier_lookup
        self._escort_factory = escort_factory or make_escort
        self._voice_factory = voice_factory or make_voice
        self.screens = {}
        self._early_voice = []
        self.lang = cfg.centre.languages[0]

    # text helpers used by .kv files --------------------------------------------------
    def tr(self, key: str, lang: str | None = None, **kw) -> str:
        return self.i18n.t(key, lang or self.lang, **kw)

    def fs(self, px: float, scale: float | None = None) -> float:
        """A font size in px at 1080p, times the 'larger text' scale."""
        return px * (self.scale if scale is None else scale)

    # building ---------------------------------------------------------------------------
    def build(self):
        free_text_surfaces()
        regular, bold = font_files()
        LabelBase.register(DEFAULT_FONT, regular, fn_bold=bold)
        LabelBase.register("KioskFont", regular, fn_bold=bold)
        Window.clearcolor = PAGE_BG
        from kiosk import screens as screen_mod
        from kiosk.widgets import floormap, keyboard  # noqa: F401 - register widget classes

        # base.kv first (the shared classes); a second App in the same process (tests) must not
        # load the rules twice (a ScrollView would get two children)
        for kv in sorted(KV_DIR.glob("*.kv"), key=lambda p: p.name != "base.kv"):
            if str(kv) not in Builder.files:
                Builder.load_file(str(kv))

        backend = self._backend or Backend(self.cfg)
        if self._prepare and hasattr(backend, "prepare"):
            backend.prepare()
        if self._escort is None:
            self._escort = self._escort_factory(self.cfg, self.robot_listener)
        if self._voice is None:
            self._voice = self._voice_factory(self.cfg, self.voice_listener)
        if self._speaker is None:
            self._speaker = make_speaker(self.cfg)
        lookup = self._dossier_lookup
        if lookup is None:
            lookup = screen_mod.dossier_lookup_hook(self.cfg)
        self.controller = Controller(self.cfg, backend, i18n=self.i18n, post=self.post,
                                     escort=self._escort or None, voice=self._voice or None,
                                     speaker=self._speaker or None, dossier_lookup=lookup)
        root = KioskRoot()
        self.sm = ScreenManager(transition=NoTransition())
        # Kivy's ScreenManager clips its screens with two stencil passes over the whole window
        # in every frame (its rule in Kivy's style.kv), like a StencilView: the scissor test instead
        clip_by_scissor(self.sm)
        # Home is built now; the other screens after the first frame, one a frame (or at once
        # when a visitor is quicker), so the kiosk shows its Home sooner (cold start)
        self.screens = LazyScreens(self, {name: cls for name, cls in screen_mod.SCREENS.items()
                                          if name != Screen.DOSSIER.value or lookup is not None})
        self.screens[Screen.HOME.value]  # noqa: B018 - builds Home
        root.add_widget(self.sm)
        self.overlay = screen_mod.Overlay()
        root.add_widget(self.overlay)
        self.controller.subscribe(self._on_topic)
        Window.bind(on_touch_down=self._any_touch, on_touch_up=self._touch_lifted, on_key_down=self._any_key)
        Window.bind(on_flip=self._first_flip)
        Window.bind(on_flip=self._shown)
        Clock.schedule_interval(self._read_input_now, 0)
        Clock.schedule_interval(self.controller.tick, 1.0)
        Clock.schedule_interval(self.controller.refresh_home, self.cfg.kiosk.home_refresh_s)
        Clock.schedule_interval(self.controller.refresh_status, self.cfg.kiosk.status_refresh_s)
        self.root_widget = root
        return root

    def on_start(self):
        self.controller.start(warm_up=False)  # the search index loads after the first frame
        for ev in self._early_voice:
            self.controller.on_voice_event(ev)
        self._early_voice.clear()
        self.voice_ready = self.controller.voice_ready
        self._on_topic("screen")

    def on_stop(self):
        if self.controller is not None:
            self.controller.close()

    def post(self, fn, *args, **kw):
        """Run `fn` on the UI thread at the next frame (safe from any thread)."""
        Clock.schedule_once(lambda dt: fn(*args, **kw), 0)

    def robot_listener(self, ev):
        """Typed robot events from any thread → the controller on the UI thread."""
        self.post(self._robot_event, ev)

    def voice_listener(self, ev):
        """Typed voice events from any thread → the controller on the UI thread."""
        self.post(self._voice_event, ev)

    def _robot_event(self, ev):
        if self.controller is not None:
            self.controller.on_robot_event(ev)

    def _voice_event(self, ev):
        if self.controller is None:  # the model failed before the controller exists
            self._early_voice.append(ev)
            return
        self.controller.on_voice_event(ev)
        self.voice_ready = self.controller.voice_ready

    def _first_flip(self, *_):
        if not self.first_frame_at:
            self.first_frame_at = time.time()
        Window.unbind(on_flip=self._first_flip)
        self.controller.warm_up()
        Clock.schedule_once(self._build_next_screen, 0.05)

    def _build_next_screen(self, *_):
        """Build one screen not built yet, then the next at the next frame."""
        if self.screens.build_one():
            Clock.schedule_once(self._build_next_screen, 0)

    def _any_touch(self, window, touch):
        """Every touch is activity. A touch while the idle warning shows only answers it: this
        runs before the widgets get the touch, and the warning hidden here let the touch through
        to whatever was under "Tôi vẫn đang dùng" (a field of the list opened)."""
        c = self.controller
        if c is None:
            return False
        if self._bounce(touch):
            self._bouncing = True
            c.activity()
            return True  # the second touch of a double tap: the new screen does not get it
        self._down_on = self._look()
        answering = c.idle_warning
        c.activity()
        return answering

    _down_on: tuple = ()
    _lifted: tuple[float | None, float, float, tuple] | None = None

    def _look(self) -> tuple:
        """What a tap can switch: the screen, the language, the text size."""
        return self.sm.current, self.lang, self.large

    _bouncing = False

    def _touch_lifted(self, window, touch):
        if self._bouncing:  # the same finger again lifted: what the first touch opened stays
            self._bouncing = False  # in view since the frame that showed it (a triple tap too)
            return False
        self._lifted = (None, touch.x, touch.y, self._down_on)
        return False

    def _shown(self, *_):
        """The first frame after a lift: what that touch switched to is on the screen from now.
        Wall-clock time, as Kivy stamps a touch when it arrives (`MotionEvent.time_start`)."""
        if self._lifted is not None and self._lifted[0] is None:
            self._lifted = (time.time(),) + self._lifted[1:]

    def _bounce(self, touch) -> bool:
        """This touch comes right after the last one, at its place, on the screen that one opened,
        before a citizen could have seen that screen (not drawn yet, or drawn under BOUNCE_S ago)."""
        if self._lifted is None:
            return False
        shown, x, y, screen = self._lifted
        # measured at the moment the finger touched, not when the touch is handled: a slow frame
        # (a screen built, a loaded PC) handles a touch late, and it still came before the
        # citizen could have seen the new screen (< 0 when it came before the frame was shown)
        touched = getattr(touch, "time_start", None) or time.time()
        seen_for = 0.0 if shown is None else touched - shown
        return (seen_for < BOUNCE_S and self._look() != screen
                and math.hypot(touch.x - x, touch.y - y) < BOUNCE_PX)

    _reading_input = False

    def _read_input_now(self, dt):
        """Read the window's pending events (touches, keys) now, in this turn of the event loop.

        Kivy's loop reads them after it has drawn (`window.mainloop()` after `EventLoop.idle()`)
        and hands them to the widgets only in the next turn, after that turn's sleep (up to
        1/maxfps): a touch waited for the rest of one sleep and then a whole other one. This
        runs in the clock's tick, after the sleep and before the input is dispatched.
        """
        read = getattr(Window, "mainloop", None)
        if read is None or self._reading_input:  # a resize read here runs a nested loop turn
            return
        self._reading_input = True
        try:
            read()
        finally:
            self._reading_input = False

    def _any_key(self, window, key, scancode, codepoint, modifiers):
        if self.controller is not None:
            self.controller.activity()
        return False

    # topics from the controller ---------------------------------------------------------
    def _on_topic(self, topic: str) -> None:
        if topic == "leave":
            self.stop()
            return
        if topic == "idle_start":
            from kiosk.chime import chime

            c = self.controller
            self._idle_spoken = c.speaker is not None
            chime(self.cfg, c.speaker, (c.t("speak.idle", seconds=int(round(c.idle_left()))), c.visit.lang))
            return
        if topic == "idle" and not self.controller.idle_warning and getattr(self, "_idle_spoken", False):
            self._idle_spoken = False  # the visitor answered: the warning stops talking
            if not self.controller.visit.speaking and self.controller.speaker is not None:
                self.controller.speaker.stop()
        self._app_state(topic)
        self.overlay.refresh(topic)
        # Only the screen on show redraws; a screen refreshes fully ("screen") when it is
        # shown again. "reset" reaches every screen: none may keep the previous visitor's input.
        if topic == "reset":
            for scr in self.screens.values():
                scr.refresh(topic)
        else:
            current = self.screens.get(self.sm.current)
            if current is not None:
                current.refresh(topic)

    def _app_state(self, topic: str) -> None:
        """The app properties the .kv files bind to."""
        c = self.controller
        if topic in ("lang", "reset"):
            self.lang = c.visit.lang
            self.large = c.visit.large_text
            self.scale = self.cfg.kiosk.large_text_scale if c.visit.large_text else 1.0
        if topic == "screen" and c.screen.value in self.screens.classes:
            self.screens[c.screen.value]  # noqa: B018 - built if the visitor got there first
            self.sm.current = c.screen.value
        if topic == "voice":
            self.voice_ready = c.voice_ready
        if topic in ("speech", "reset"):
            self.speaking = c.visit.speaking

    def set_orientation(self, orientation: str) -> None:
        """Switch between landscape and portrait (tests; a rotated screen)."""
        self.orientation_name = orientation
        self.portrait = orientation == "portrait"
        Window.size = SIZES[orientation]

