"""Typing and reading the kiosk's search screen as a citizen does, by touch, and catching the
errors logged meanwhile (slow UI tests).

`telex(text)` gives the keys a Vietnamese citizen presses for `text`; `type_vietnamese` taps
them on the on-screen keyboard at their centres; `results_shown` waits for the search and
returns the result rows in view, top first; `errors_logged()` collects every error logged
while the app runs (a worker's exception, a failed callback). Used by test_kiosk_journeys.py and
test_kiosk_see_also.py (the driver `d` is kiosk.testing's).
"""

from __future__ import annotations

import logging
import unicodedata
from contextlib import contextmanager

_MARKS = {"\u0302": {"a": "aa", "e": "ee", "o": "oo"}, "\u0306": {"a": "aw"}, "\u031b": {"o": "ow", "u": "uw"}}
_TONES = {"\u0301": "s", "\u0300": "f", "\u0309": "r", "\u0303": "x", "\u0323": "j"}


def telex(text: str) -> str:
    """The keys a Vietnamese citizen presses on a Telex keyboard for `text` (tone last in the word)."""
    words = []
    for word in text.lower().split(" "):
        keys, tone = "", ""
        for ch in word:
            if ch == "đ":
                keys += "dd"
                continue
            base, *marks = unicodedata.normalize("NFD", ch)
            key = base
            for m in marks:
                if m in _TONES:
                    tone = _TONES[m]
                else:
                    key = _MARKS[m][base]
            keys += key
        words.append(keys + tone)
    return " ".join(words)


def keyboard(d):
    return d.app.screens[d.screen()].ids.keyboard


def type_keys(d, keys: str) -> None:
    """Tap each key of the on-screen keyboard at its centre (a space is the space bar)."""
    kb = keyboard(d)
    for ch in keys:
        d.tap(kb.keys["key:space" if ch == " " else f"key:{ch}"], settle=0.02)


def type_vietnamese(d, text: str) -> None:
    kb = keyboard(d)
    assert kb.telex, "the keyboard types Telex in Vietnamese"
    type_keys(d, telex(text))
    assert kb.text == text, f"Telex typed {kb.text!r}, not {text!r}"


def results_shown(d):
    """Wait for the search, then the result rows in view, top first."""
    d.wait(lambda: not d.c.visit.searching and d.screen() == "search", timeout=20, what="search finished")
    d.pump(0.3)
    rv = d.app.screens["search"].ids.results
    _, y0 = rv.to_window(*rv.pos)
    rows = [w for w in d.visible() if getattr(w, "tag", "").startswith("hit:")
            and y0 < w.to_window(*w.center)[1] < y0 + rv.height]
    return sorted(rows, key=lambda w: -w.to_window(*w.center)[1])


def t(d, key, lang=None, **kw):
    """The app's text for `key` in `lang` (default: the visitor's)."""
    return d.app.tr(key, lang or d.c.visit.lang, **kw)


class _Catch(logging.Handler):
    def __init__(self, into: list):
        super().__init__(level=logging.ERROR)
        self.into = into

    def emit(self, record):
        self.into.append(f"{record.name}: {record.getMessage()}")


@contextmanager
def errors_logged():
    """Every error logged (root and kivy loggers) while the block runs, as "logger: message"."""
    errors: list[str] = []
    catch = _Catch(errors)
    loggers = [logging.getLogger(), logging.getLogger("kivy")]
    for lg in loggers:
        lg.addHandler(catch)
    try:
        yield errors
    finally:
        for lg in loggers:
            lg.removeHandler(catch)


def serving(drv):
    """For a module's kiosk fixture: yield the started app's driver with `drv.errors` collecting
    every error logged meanwhile, then stop the app (`yield from serving(drv)`)."""
    with errors_logged() as errors:
        drv.errors = errors
        yield drv
    drv.stop()


def new_citizen(kiosk, settle: float = 0.2):
    """For a test's fixture: the app at Home with a fresh visit, in Vietnamese; after the test, any
    message closed and the visit reset (`yield from new_citizen(kiosk)`)."""
    kiosk.c.reset()
    kiosk.pump(settle)
    assert kiosk.screen() == "home"
    yield kiosk
    kiosk.c.show_message(None)
    kiosk.c.reset()
    kiosk.pump(0.1)


class SpeakerRecorder:
    """A speaker that records what "Đọc to" says and finishes at once."""

    def __init__(self):
        self.said: list[tuple[str, str]] = []

    def say(self, text, lang="vi", on_done=None):
        self.said.append((text, lang))
        if on_done is not None:
            on_done(True)

    def stop(self):
        pass


def journey_kiosk(tmp, dossiers: list[dict], *, extra: dict | None = None, paper: bool = True, speaker=None,
                  voice_factory=None):
    """The real app on an embedded-defaults config in `tmp` for a module of citizens' journeys: a
    Dummy receipt printer, the queue's clock on a Tuesday 09:00 in Vietnam, "Đọc to" recorded
    (`drv.speaker.said`), the home data loaded and `dossiers` stored (sources 1, 2, …).
    `extra`: config.yaml text replaced (kiosk.testing.kiosk_config); `paper=False`: no printer is
    injected, the config's `printer.kind` decides. `speaker` (one with a `said` list) reads
    instead of the recorder; `voice_factory` gives the kiosk a listener (kiosk.app.create_app)."""
    from datetime import UTC, datetime

    from escpos.printer import Dummy

    from centre.clock import FixedClock
    from centre.dossiers import Dossiers
    from kiosk.backend import Backend
    from kiosk.screens import dossier_lookup_hook
    from kiosk.testing import kiosk_config, start

    cfg = kiosk_config(tmp, extra=extra)
    clock = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    speaker = speaker or SpeakerRecorder()
    parts = {"voice_factory": voice_factory} if voice_factory is not None else {}
    drv = start(cfg, tmp, backend=Backend(cfg, printer=Dummy() if paper else None, queue_clock=clock),
                dossier_lookup=dossier_lookup_hook(cfg), speaker=speaker, **parts)
    drv.speaker = speaker
    drv.wait(lambda: drv.c.services and drv.c.fields, what="home data")
    Dossiers.from_config(drv.db, cfg).upsert_many(list(enumerate(dossiers, 1)), source="test")
    return drv
