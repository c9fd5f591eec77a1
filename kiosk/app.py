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
    # A touch waits for the event loop's next turn; each turn sleeps up to 1/maxfps (a touch
    # polled after a turn is handled one sleep later). 120 instead of Kivy's 60 halves that
    # wait (at most ~8 ms instead of ~16 ms twice); an idle turn costs a fraction of a ms.
    Config.set("graphics", "maxfps", "120")


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
    if cfg.voice.engine == "vosk" and not model.exists():  # viet-asr (default) has its model in its wheel
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
    from kiosk.kioskapp import KioskApp

    return KioskApp


def main_window(cfg, *, orientation=None, windowed=False) -> int:
    app = create_app(cfg, orientation=orientation, windowed=windowed)
    app.run()
    return 0


if __name__ == "__main__":  # python -m kiosk.app
    from centre.config import load_config

    sys.exit(main_window(load_config(), windowed=True))
