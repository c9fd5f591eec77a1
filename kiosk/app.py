"""The Kivy kiosk application: window, fonts, screens, and the wiring of controller and devices.

The App stays small (STYLE item 9): it configures Kivy (size, orientation, full screen) before
the window exists, registers the bundled font for every label, loads the .kv files, builds the
screens and hands every tap to `kiosk.controller.Controller`. Controller topics are forwarded
to the screens, which re-read what they show. Worker results reach the UI thread through
`Clock.schedule_once`; robot and voice callbacks come from their own threads and are marshalled
the same way.

Devices come from factory seams (`make_escort`, `make_voice`, `make_speaker`): each returns
None when the part is absent or broken, and the kiosk runs without it.

    app = create_app(cfg, orientation="portrait", windowed=True)
    app.run()
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger("kiosk.app")

KIOSK_DIR = Path(__file__).resolve().parent
KV_DIR = KIOSK_DIR / "kv"
SIZES = {"landscape": (1920, 1080), "portrait": (1080, 1920)}
PROCESS_START = time.time()


def configure_kivy(orientation: str = "landscape", windowed: bool = True, size: tuple[int, int] | None = None) -> None:
    """Set Kivy's window options; must run before kivy.core.window is imported."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    from kivy.config import Config

    w, h = size or SIZES.get(orientation, SIZES["landscape"])
    Config.set("graphics", "width", str(w))
    Config.set("graphics", "height", str(h))
    Config.set("graphics", "resizable", "1" if windowed else "0")
    Config.set("graphics", "fullscreen", "0" if windowed else "auto")
    Config.set("graphics", "borderless", "0" if windowed else "1")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "keyboard_mode", "system")   # our own on-screen keyboard; no Kivy VKeyboard
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "log_level", "warning")
    # No multisample anti-aliasing: flat rectangles and text gain nothing from it, and
    # on a kiosk PC without a GPU (software OpenGL) it multiplies the cost of every frame.
    Config.set("graphics", "multisamples", "0")


def font_files() -> tuple[str, str]:
    """The bundled font with full Vietnamese coverage (assets/fonts), else DejaVu from the system."""
    fonts = KIOSK_DIR.parent / "assets" / "fonts"
    for regular, bold in (("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"), ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf")):
        if (fonts / regular).exists():
            return str(fonts / regular), str(fonts / (bold if (fonts / bold).exists() else regular))
    sysdir = Path("/usr/share/fonts/truetype/dejavu")
    return str(sysdir / "DejaVuSans.ttf"), str(sysdir / "DejaVuSans-Bold.ttf")


def make_escort(cfg, on_event):
    """The robot escort manager behind a `RobotAdapter`, or None when no robot is configured.

    For a robot whose port is "sim" the manager starts the simulator itself. `on_event(ev)` is
    called with the manager's typed events from the manager's thread.
    """
    if not cfg.robot.enabled or not cfg.robot.robots:
        return None
    from kiosk.devices import RobotAdapter

    try:
        from robot.escort import EscortManager

        return RobotAdapter(EscortManager.from_config(cfg), on_event)
    except Exception as exc:  # a robot that cannot start must not stop the kiosk
        log.error("robot unavailable: %s", exc)
        return None


def make_voice(cfg, on_event):
    """The voice service, its model loading in the background; None when voice is off or absent.

    `on_event(ev)` is called with the service's typed events (`voice.events`) from its threads.
    """
    if not cfg.voice.enabled:
        return None
    model = cfg.path(cfg.voice.model_path)
    if not model.exists():
        # no model installed: do not even load the recogniser library (saves ~20 MB)
        from voice.events import ModelFailed

        log.warning("voice off: no model at %s (install one with `kiosk voice install-model FILE.zip`)", model)
        on_event(ModelFailed(path=str(model), reason=f"no model at {model}; install one with kiosk voice install-model"))
        return None
    try:
        from centre.db import connect
        from voice.service import VoiceService

        svc = VoiceService(cfg, lambda: connect(cfg.database_path), on_event)
        svc.start_loading()
        return svc
    except Exception as exc:
        log.error("voice unavailable: %s", exc)
        return None


def make_speaker(cfg):
    """Text-to-speech for 'read aloud' (espeak-ng through pyttsx3), or None."""
    if not cfg.speech.enabled:
        return None
    try:
        from voice.speech import Speaker

        return Speaker(cfg)
    except Exception as exc:
        log.error("speech unavailable: %s", exc)
        return None


def create_app(cfg, *, orientation: str | None = None, windowed: bool = True, size=None, **parts):
    """Configure Kivy for `cfg` and return a KioskApp (call `.run()`)."""
    orientation = orientation or cfg.kiosk.orientation
    configure_kivy(orientation, windowed or not cfg.kiosk.fullscreen, size)
    return _app_class()(cfg, orientation=orientation, **parts)


def _app_class():
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.text import DEFAULT_FONT, LabelBase
    from kivy.core.window import Window
    from kivy.lang import Builder
    from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
    from kivy.uix.floatlayout import FloatLayout
    from kivy.uix.screenmanager import NoTransition, ScreenManager

    from kiosk.controller import Backend, Controller, I18n, Screen

    class KioskRoot(FloatLayout):
        """ScreenManager plus the overlays (message banner, idle warning) on top of it."""

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
            self._backend = backend
            self._escort = escort
            self._voice = voice
            self._speaker = speaker
            self._prepare = prepare
            self._dossier_lookup = dossier_lookup
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
            regular, bold = font_files()
            LabelBase.register(DEFAULT_FONT, regular, fn_bold=bold)
            LabelBase.register("KioskFont", regular, fn_bold=bold)
            Window.clearcolor = (0.957, 0.965, 0.973, 1)
            from kiosk import screens as screen_mod
            from kiosk.widgets import floormap, keyboard  # noqa: F401 - register widget classes

            for kv in sorted(KV_DIR.glob("*.kv")):
                if kv.name != "base.kv":
                    continue
                Builder.load_file(str(kv))
            for kv in sorted(KV_DIR.glob("*.kv")):
                if kv.name != "base.kv":
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
            sm = ScreenManager(transition=NoTransition())
            self.sm = sm
            for name, cls in screen_mod.SCREENS.items():
                if name == Screen.DOSSIER.value and lookup is None:
                    continue
                scr = cls(name=name)
                self.screens[name] = scr
                sm.add_widget(scr)
            root.add_widget(sm)
            self.overlay = screen_mod.Overlay()
            root.add_widget(self.overlay)
            self.controller.subscribe(self._on_topic)
            Window.bind(on_touch_down=self._any_touch, on_key_down=self._any_key)
            Window.bind(on_flip=self._first_flip)
            Clock.schedule_interval(self.controller.tick, 1.0)
            Clock.schedule_interval(self.controller.refresh_home, self.cfg.kiosk.home_refresh_s)
            Clock.schedule_interval(self.controller.refresh_status, self.cfg.kiosk.status_refresh_s)
            self.root_widget = root
            return root

        def on_start(self):
            self.controller.start()
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

        def _any_touch(self, window, touch):
            if self.controller is not None:
                self.controller.activity()
            return False

        def _any_key(self, window, key, scancode, codepoint, modifiers):
            if self.controller is not None:
                self.controller.activity()
            return False

        # topics from the controller ---------------------------------------------------------
        def _on_topic(self, topic: str) -> None:
            c = self.controller
            if topic in ("lang", "reset"):
                self.lang = c.visit.lang
                self.large = c.visit.large_text
                self.scale = self.cfg.kiosk.large_text_scale if c.visit.large_text else 1.0
            if topic == "screen":
                name = c.screen.value
                if name in self.screens:
                    self.sm.current = name
            if topic == "leave":
                self.stop()
                return
            if topic == "voice":
                self.voice_ready = c.voice_ready
            if topic in ("speech", "reset"):
                self.speaking = c.visit.speaking
            if topic == "idle_start":
                from kiosk.chime import chime

                chime(self.cfg, c.speaker)
                return
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

        def set_orientation(self, orientation: str) -> None:
            """Switch between landscape and portrait (tests; a rotated screen)."""
            self.orientation_name = orientation
            self.portrait = orientation == "portrait"
            Window.size = SIZES[orientation]

    return KioskApp


def main_window(cfg, *, orientation=None, windowed=False) -> int:
    app = create_app(cfg, orientation=orientation, windowed=windowed)
    app.run()
    return 0


if __name__ == "__main__":  # python -m kiosk.app
    from centre.config import load_config

    sys.exit(main_window(load_config(), windowed=True))
