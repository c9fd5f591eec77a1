"""The visit state machine's plumbing: topics, workers, navigation, idle timeout, language.

Threading: controller methods run on the UI thread only. Anything that may block (the
database, the printer, the robot link, speech, the recogniser) runs in a worker through
`self._run(pool, fn, done)`; `done` comes back on the UI thread through the `post` function
given by the app (`Clock.schedule_once`), or synchronously in unit tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from kiosk.backend import BackendError
from kiosk.texts import LANGS, I18n
from kiosk.visit import Screen, Visit

log = logging.getLogger("kiosk.controller")


class ControllerBase:
    """Plumbing shared by the flows (browse, tickets, guide, voice, staff, dossier)."""

    def __init__(self, cfg, backend, *, i18n: I18n | None = None, post: Callable | None = None,
                 escort=None, voice=None, speaker=None, clock: Callable[[], float] = time.monotonic,
                 synchronous: bool = False, dossier_lookup=None):
        self.cfg = cfg
        self.backend = backend
        self.i18n = i18n or I18n()
        self.post = post or (lambda fn, *a: fn(*a))
        self.escort_mgr = escort
        self.voice = voice
        self.speaker = speaker
        self.clock = clock
        self.synchronous = synchronous
        self.dossier_lookup = dossier_lookup
        self.default_lang = cfg.centre.languages[0]
        self.visit = Visit(lang=self.default_lang)
        self.screen = Screen.HOME
        self.message: tuple[str, dict] | None = None  # (i18n key, placeholders)
        self.services: dict[str, dict] = {}           # series -> state, opens_at, waiting, forecast
        self.fields: list[dict] = []
        self.idle_warning = False
        self.last_activity = clock()
        self._listeners: list[Callable[[str], None]] = []
        self._visit_id = 0
        self._pools = {} if synchronous else {
            "db": ThreadPoolExecutor(1, "kiosk-db"),
            "search": ThreadPoolExecutor(1, "kiosk-search"),
            "io": ThreadPoolExecutor(1, "kiosk-io"),
        }
        self._closed = False
        self._init_flows()

    def _init_flows(self) -> None:
        """Each flow's own state (overridden by the flows, which call super)."""

    # -- plumbing ---------------------------------------------------------------------
    def subscribe(self, fn: Callable[[str], None]) -> None:
        """`fn(topic)` is called on the UI thread after a part of the state changed."""
        self._listeners.append(fn)

    def _emit(self, *topics: str) -> None:
        for topic in topics:
            for fn in list(self._listeners):
                try:
                    fn(topic)
                except Exception:  # a broken screen must not break the visit
                    log.exception("screen update for %r failed", topic)

    def _run(self, pool: str, fn: Callable, done: Callable | None = None, fail: Callable | None = None) -> None:
        """Run `fn()` off the UI thread; `done(result)` or `fail(exc)` come back on the UI thread."""

        def work():
            try:
                result = fn()
            except Exception as exc:
                if isinstance(exc, BackendError):  # expected (service closed, series full…): shown to the visitor
                    log.info("kiosk worker %s: %s", pool, exc)
                else:
                    log.exception("kiosk worker %s failed", pool)
                self.post(fail or self._fail_default, exc)
                return
            if done is not None:
                self.post(done, result)

        if self.synchronous:
            work()
        elif not self._closed:
            self._pools[pool].submit(work)

    def _fail_default(self, exc: Exception) -> None:
        self.show_message("error.generic")

    def t(self, key: str, **kw) -> str:
        return self.i18n.t(key, self.visit.lang, **kw)

    def show_message(self, key: str | None, **kw) -> None:
        self.message = (key, kw) if key else None
        self._emit("message")

    def close(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        for part in (self.voice, self.speaker, self.escort_mgr):
            stop = getattr(part, "close", None) or getattr(part, "stop", None)
            if stop:
                try:
                    stop()
                except Exception:
                    log.exception("closing %r failed", part)

    # -- navigation --------------------------------------------------------------------
    def go(self, screen: Screen, *, remember: bool = True) -> None:
        if screen == self.screen:
            return
        if remember and self.screen not in (Screen.PIN,):
            self.visit.history.append(self.screen)
        self.screen = screen
        self.message = None
        self._emit("screen", "message")

    def back(self) -> None:
        self.activity()
        self.quiet()
        if self.screen == Screen.STAFF:
            self.go(Screen.HOME, remember=False)
            self.visit.history.clear()
            return
        prev = self.visit.history.pop() if self.visit.history else Screen.HOME
        if prev in (Screen.PIN, Screen.STAFF):
            prev = Screen.HOME
        self.go(prev, remember=False)

    def home(self) -> None:
        """'Start over': back to Home with a fresh visit (the language stays)."""
        lang, large = self.visit.lang, self.visit.large_text
        self.reset(keep_lang=(lang, large))

    def quiet(self) -> None:
        """Stop reading aloud and listening (Back, Home, language change, reset)."""

    def reset(self, keep_lang: tuple[str, bool] | None = None) -> None:
        """Forget the visitor: fresh visit, Home screen, default language unless kept."""
        self.quiet()
        self._visit_id += 1
        self._forget()
        self.visit = Visit(lang=keep_lang[0] if keep_lang else self.default_lang,
                           large_text=keep_lang[1] if keep_lang else False)
        self.message = None
        self.idle_warning = False
        self.last_activity = self.clock()
        self.screen = Screen.HOME
        self._emit("reset", "lang", "screen", "message", "idle", "search", "ticket", "escort", "voice")
        self.refresh_home()

    def _forget(self) -> None:
        """Flows drop per-visit state here (overridden, calling super)."""

    # -- idle timeout -------------------------------------------------------------------
    def activity(self) -> None:
        """Any touch or key, speech being read, the microphone listening: the visitor is still here."""
        self.last_activity = self.clock()
        if self.idle_warning:
            self.idle_warning = False
            self._emit("idle")

    def idle_left(self) -> float:
        return self.cfg.kiosk.idle_timeout_s - (self.clock() - self.last_activity)

    def busy_with_visitor(self) -> bool:
        """True while the kiosk is talking to or listening to the visitor (overridden by the voice flow)."""
        return False

    def tick(self, *_):
        """Called about once a second: shows the 'still there?' warning, then resets the visit."""
        if self.screen == Screen.HOME and not self._visit_dirty():
            return
        if self.busy_with_visitor():
            self.activity()
            return
        left = self.idle_left()
        if left <= 0:
            self.reset()
        elif left <= self.cfg.kiosk.idle_warning_s:
            started = not self.idle_warning
            self.idle_warning = True
            self._emit("idle")
            if started:
                self._emit("idle_start")

    def _visit_dirty(self) -> bool:
        v = self.visit
        return bool(v.query or v.ticket or v.procedure or v.lang != self.default_lang or v.large_text or v.history)

    # -- home ---------------------------------------------------------------------------
    def start(self, *, warm_up: bool = True) -> None:
        """First load: fields and each service's state (and the search index unless the app
        calls `warm_up()` itself once Home is drawn)."""
        self.refresh_home()
        self._run("db", self.backend.fields, self._got_fields)
        if warm_up:
            self.warm_up()
        self.refresh_status()

    def warm_up(self) -> None:
        """Load the search index now, not at the first keystroke."""
        if hasattr(self.backend, "warm_up"):
            self._run("search", self.backend.warm_up, None, lambda exc: None)

    def refresh_home(self, *_):
        self._run("db", self.backend.service_states, self._got_services, lambda exc: None)

    def refresh_status(self, *_):
        """Device status for the staff screen (overridden by the staff flow)."""

    @property
    def waiting(self) -> dict[str, dict]:
        """{series: {waiting, wait_min}} of the last read (the older name of `services`)."""
        return {k: {"waiting": v.get("waiting", 0), "wait_min": v.get("wait_min")} for k, v in self.services.items()}

    def _got_services(self, services: list[dict]) -> None:
        self.services = {s["series"]: s for s in services}
        self._emit("waiting")

    def _got_fields(self, fields: list[dict]) -> None:
        self.fields = fields
        self._emit("fields")

    def set_lang(self, lang: str) -> None:
        self.activity()
        if lang not in LANGS or lang == self.visit.lang:
            return
        self.quiet()
        self.visit.lang = lang
        self._emit("lang")

    def toggle_lang(self) -> None:
        self.set_lang("en" if self.visit.lang == "vi" else "vi")

    def toggle_large_text(self) -> None:
        self.activity()
        self.visit.large_text = not self.visit.large_text
        self._emit("lang")

    def name_of(self, rec: dict | None, vi_key: str = "name", en_key: str = "name_en") -> str:
        """The record's name in the visitor's language (Vietnamese when no English exists)."""
        if not rec:
            return ""
        if self.visit.lang == "en" and rec.get(en_key):
            return rec[en_key]
        return rec.get(vi_key) or rec.get("name_vi") or ""

    def service_name(self, series: str) -> str:
        try:
            return self.cfg.service(series).name.get(self.visit.lang)
        except KeyError:
            return series

    def counter_names(self, ticket_or_dest: dict) -> str:
        ids = ticket_or_dest.get("counters") or ([ticket_or_dest["counter"]] if ticket_or_dest.get("counter") else [])
        names = []
        for cid in ids:
            try:
                names.append(self.cfg.counter(int(cid)).name.get(self.visit.lang))
            except (KeyError, ValueError):
                names.append(str(cid))
        return ", ".join(names)
