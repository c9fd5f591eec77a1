"""The kiosk's visit state machine and everything that is not a widget (no Kivy here).

One `Controller` holds one visitor's visit: the screen shown, language, text size, the
procedure looked at, the search typed, the ticket taken, the robot escort, messages. The
Kivy screens only present it: they read controller attributes when told that a *topic*
changed and call controller methods when tapped (STYLE items 7–10).

Threading: controller methods run on the UI thread only. Anything that may block (the
database, the printer, the robot link, speech, the recogniser) runs in a worker through
`self._run(pool, fn, done)`; `done` comes back on the UI thread through the `post`
function given by the app (`Clock.schedule_once`), or synchronously in unit tests.
Search results carry a generation number; results of an older keystroke are dropped.

Backends are created through factory seams (`Backend` for catalogue, search, queue and
printer; the app passes the robot escort manager, the voice service and the speaker, or
None when a part is absent), so tests inject fakes and a laptop with no robot, microphone
or printer still runs the kiosk.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, is_dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from centre import users

log = logging.getLogger(__name__)

I18N_DIR = Path(__file__).resolve().parent / "i18n"
LANGS = ("vi", "en")


# -- i18n ------------------------------------------------------------------------------


class I18nError(KeyError):
    """A text key is missing from a language file."""


class I18n:
    """Citizen-facing texts from kiosk/i18n/<lang>.yaml (nested keys joined with dots)."""

    def __init__(self, directory: Path = I18N_DIR, langs: tuple[str, ...] = LANGS, strict: bool = False):
        self.strict = strict
        self.texts: dict[str, dict[str, str]] = {}
        for lang in langs:
            with open(directory / f"{lang}.yaml", encoding="utf-8") as fh:
                self.texts[lang] = dict(_flatten(yaml.safe_load(fh) or {}))

    def keys(self, lang: str = "vi") -> set[str]:
        return set(self.texts[lang])

    def t(self, key: str, lang: str = "vi", **kw: Any) -> str:
        table = self.texts.get(lang) or self.texts["vi"]
        try:
            text = table[key]
        except KeyError:
            if self.strict:
                raise I18nError(f"{lang}: no text for {key!r}") from None
            log.error("i18n: no %s text for %r", lang, key)
            text = self.texts["vi"].get(key, key)
        if kw:
            try:
                return text.format(**kw)
            except (KeyError, IndexError, ValueError):
                log.error("i18n: bad placeholders in %s %r", lang, key)
        return text


def _flatten(d: dict, prefix: str = ""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        else:
            yield key, str(v)


# -- staff PIN -------------------------------------------------------------------------


class PinFormatError(ValueError):
    """A staff PIN must be 4 to 12 digits."""


def hash_pin(pin: str) -> str:
    """Salted scrypt hash of a staff PIN (what config.yaml stores), as staff passwords are hashed."""
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise PinFormatError("the staff PIN must be 4 to 12 digits")
    return users.hash_password(pin)


def verify_pin(pin: str, stored: str | None) -> bool:
    """True when `pin` matches the stored hash; False for no hash or a malformed one."""
    return bool(stored and pin) and users.verify_password(pin, stored)


class PinResult(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"
    NOT_SET = "not_set"


class PinGate:
    """Staff PIN check: after `max_tries` wrong PINs in a row it refuses every try for `lockout_s`."""

    def __init__(self, pin_hash: str | None, max_tries: int = 5, lockout_s: float = 300, clock: Callable[[], float] = time.monotonic):
        self.pin_hash = pin_hash
        self.max_tries = max_tries
        self.lockout_s = lockout_s
        self.clock = clock
        self.failures = 0
        self.locked_until = 0.0

    def locked_for(self) -> float:
        """Seconds left of a lockout (0 when not locked)."""
        return max(0.0, self.locked_until - self.clock())

    def check(self, pin: str) -> PinResult:
        if self.locked_for() > 0:
            return PinResult.LOCKED
        if not self.pin_hash:
            return PinResult.NOT_SET
        if verify_pin(pin, self.pin_hash):
            self.failures = 0
            return PinResult.OK
        self.failures += 1
        if self.failures >= self.max_tries:
            self.failures = 0
            self.locked_until = self.clock() + self.lockout_s
            return PinResult.LOCKED
        return PinResult.WRONG

    @property
    def tries_left(self) -> int:
        return self.max_tries - self.failures


# -- floor map -------------------------------------------------------------------------


def route(cfg, start: str, goal: str) -> list[tuple[float, float]]:
    """Points (metres) of a walking route from waypoint `start` to `goal` along the hall's corridor.

    The hall has one corridor running across it between the entrance side and the
    counters; the route leaves the start straight to the corridor, runs along it and turns
    to the goal (an L/U-shaped path that does not cut through counters).
    """
    wps = cfg.floor_map.waypoints
    a, b = wps[start], wps[goal]
    corridor_y = _corridor_y(cfg)
    pts = [(a.x, a.y)]
    if abs(a.y - corridor_y) > 0.01:
        pts.append((a.x, corridor_y))
    if abs(a.x - b.x) > 0.01:
        pts.append((b.x, corridor_y))
    if abs(b.y - corridor_y) > 0.01 or pts[-1] != (b.x, b.y):
        pts.append((b.x, b.y))
    return pts


def _corridor_y(cfg) -> float:
    counters = [cfg.floor_map.waypoints[c.waypoint] for c in cfg.counters if c.waypoint in cfg.floor_map.waypoints]
    if not counters:
        return cfg.floor_map.height_m / 2
    # two metres in front of the counters, on the side of the hall the counters face
    cy = min(w.y for w in counters)
    return cy - 2.0 if cy > cfg.floor_map.height_m / 2 else cy + 2.0


# -- the visit -------------------------------------------------------------------------


class Screen(StrEnum):
    HOME = "home"
    FIELDS = "fields"
    PROCEDURES = "procedures"
    DETAIL = "detail"
    SEARCH = "search"
    SERVICE = "service"      # which service to take a ticket for
    PRIORITY = "priority"    # ordinary or one of the priority groups
    TICKET = "ticket"        # the issued ticket
    DIRECTIONS = "directions"  # floor map + robot escort status
    PIN = "pin"
    STAFF = "staff"
    DOSSIER = "dossier"      # hook for the dossier lookup screen (issue 9)


class EscortState(StrEnum):
    NONE = "none"
    REQUESTED = "requested"
    COMING = "coming"
    GUIDING = "guiding"
    ARRIVED = "arrived"
    FALLBACK = "fallback"    # the robot cannot help: follow the map
    CANCELLED = "cancelled"


@dataclass
class Visit:
    """Everything one visitor did; replaced by a fresh one at idle timeout or 'start over'."""

    lang: str = "vi"
    large_text: bool = False
    field_id: str | None = None
    field_name: dict | None = None
    procedures: list[dict] = field(default_factory=list)
    procedures_loading: bool = False
    procedure: dict | None = None
    checked_docs: set[int] = field(default_factory=set)
    query: str = ""
    results: list[dict] = field(default_factory=list)
    suggestions: list[dict] = field(default_factory=list)
    searching: bool = False
    series: str | None = None
    priority: str | None = None
    ticket: dict | None = None
    print_status: str = ""        # "", printing, printed, failed
    escort: EscortState = EscortState.NONE
    escort_reason: str = ""       # i18n key of why the map is shown / what the robot does
    escort_detail: dict = field(default_factory=dict)
    escort_id: int | None = None
    destination: dict | None = None   # {counter, waypoint}
    voice_state: str = "idle"     # idle, listening, thinking
    voice_candidates: list[str] = field(default_factory=list)
    dossier_code: str = ""
    dossier: dict | None = None
    dossier_state: str = ""      # "", searching, found, not_found, failed
    history: list[Screen] = field(default_factory=list)


def _plain(obj: Any) -> Any:
    """A teammate's record (dataclass, sqlite Row, object with to_dict, dict) as a plain dict."""
    if obj is None or isinstance(obj, dict | str | int | float | list):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if is_dataclass(obj):
        return asdict(obj)
    if hasattr(obj, "keys"):
        return {k: obj[k] for k in obj.keys()}
    return dict(vars(obj))


def procedure_view(rec: dict) -> dict:
    """A catalogue procedure (Procedure.to_dict) as the detail screen shows it."""
    docs = [d for d in (rec.get("documents") or []) if isinstance(d, dict)]
    out = dict(rec)
    out["submit"] = [d for d in docs if d.get("group", "submit") != "show"]
    out["show"] = [d for d in docs if d.get("group") == "show"]
    out["forms"] = [f for f in (rec.get("forms") or []) if isinstance(f, dict)]
    out["legal"] = [x for x in (rec.get("legal_basis") or []) if isinstance(x, dict | str)]
    return out


# -- the controller ---------------------------------------------------------------------


class Controller:
    """The visit state machine. Screens call its methods; it tells them which topics changed."""

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
        self.waiting: dict[str, dict] = {}            # series -> {waiting, wait_min}
        self.fields: list[dict] = []
        self.voice_ready = False
        self.voice_error = ""
        self.voice_missing_model = False
        self.voice_level = 0.0
        self.robot_status: dict = {}
        self.printer_status: dict = {}
        self.staff_counters: list[dict] = []
        self.staff_busy = ""
        self.pin_gate = PinGate(cfg.kiosk.staff_pin_hash, cfg.kiosk.pin_lockout_tries, cfg.kiosk.pin_lockout_s, clock)
        self.pin_entry = ""
        self.idle_warning = False
        self.last_activity = clock()
        self._listeners: list[Callable[[str], None]] = []
        self._search_gen = 0
        self._visit_id = 0
        self._escort_visit = -1
        self._pools = {} if synchronous else {
            "db": ThreadPoolExecutor(1, "kiosk-db"),
            "search": ThreadPoolExecutor(1, "kiosk-search"),
            "io": ThreadPoolExecutor(1, "kiosk-io"),
        }
        self._closed = False

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
                if fail is not None:
                    self.post(fail, exc)
                else:
                    self.post(self._fail_default, exc)
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

    def reset(self, keep_lang: tuple[str, bool] | None = None) -> None:
        """Forget the visitor: fresh visit, Home screen, default language unless kept."""
        if self.speaker is not None:
            self._run("io", self.speaker.stop)
        if self.voice is not None and self.visit.voice_state != "idle":
            self._run("io", getattr(self.voice, "cancel", lambda: None))
        self._visit_id += 1
        self._search_gen += 1
        self.visit = Visit(lang=keep_lang[0] if keep_lang else self.default_lang,
                           large_text=keep_lang[1] if keep_lang else False)
        self.pin_entry = ""
        self.message = None
        self.idle_warning = False
        self.last_activity = self.clock()
        self.screen = Screen.HOME
        self._emit("reset", "lang", "screen", "message", "idle", "search", "ticket", "escort", "voice")
        self.refresh_home()

    # -- idle timeout -------------------------------------------------------------------
    def activity(self) -> None:
        """Any touch or key: the visitor is still here."""
        self.last_activity = self.clock()
        if self.idle_warning:
            self.idle_warning = False
            self._emit("idle")

    def idle_left(self) -> float:
        return self.cfg.kiosk.idle_timeout_s - (self.clock() - self.last_activity)

    def tick(self, *_):
        """Called about once a second: shows the 'still there?' warning, then resets the visit."""
        if self.screen == Screen.HOME and not self._visit_dirty():
            return
        left = self.idle_left()
        if left <= 0:
            self.reset()
        elif left <= self.cfg.kiosk.idle_warning_s:
            self.idle_warning = True
            self._emit("idle")

    def _visit_dirty(self) -> bool:
        v = self.visit
        return bool(v.query or v.ticket or v.procedure or v.lang != self.default_lang or v.large_text or v.history)

    # -- home ---------------------------------------------------------------------------
    def start(self) -> None:
        """First load: fields and today's waiting numbers."""
        self.refresh_home()
        self._run("db", self.backend.fields, self._got_fields)
        if hasattr(self.backend, "warm_up"):  # load the search index now, not at the first keystroke
            self._run("search", self.backend.warm_up, None, lambda exc: None)
        self.refresh_status()

    def refresh_home(self, *_):
        self._run("db", self.backend.waiting_counts, self._got_waiting, lambda exc: None)

    def _got_waiting(self, waiting: dict) -> None:
        self.waiting = waiting
        self._emit("waiting")

    def _got_fields(self, fields: list[dict]) -> None:
        self.fields = fields
        self._emit("fields")

    def set_lang(self, lang: str) -> None:
        self.activity()
        if lang not in LANGS or lang == self.visit.lang:
            return
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

    # -- fields and procedures ------------------------------------------------------------
    def open_fields(self) -> None:
        self.activity()
        self.go(Screen.FIELDS)
        if not self.fields:
            self._run("db", self.backend.fields, self._got_fields)

    def open_field(self, field_id: str) -> None:
        self.activity()
        f = next((f for f in self.fields if f["id"] == field_id), {"id": field_id})
        self.visit.field_id = field_id
        self.visit.field_name = f
        self.visit.procedures = []
        self.visit.procedures_loading = True
        self.go(Screen.PROCEDURES)
        self._emit("procedures")
        visit = self._visit_id
        self._run("db", lambda: self.backend.procedures(field_id),
                  lambda procs: self._got_procedures(visit, field_id, procs))

    def _got_procedures(self, visit: int, field_id: str, procs: list[dict]) -> None:
        if visit != self._visit_id or field_id != self.visit.field_id:
            return
        self.visit.procedures = procs
        self.visit.procedures_loading = False
        self._emit("procedures")

    def open_procedure(self, key: str) -> None:
        self.activity()
        visit = self._visit_id
        self._run("db", lambda: self.backend.procedure(key),
                  lambda rec: self._got_procedure(visit, key, rec),
                  lambda exc: self.show_message("error.catalogue"))

    def _got_procedure(self, visit: int, key: str, rec: dict | None) -> None:
        if visit != self._visit_id:
            return
        if rec is None:
            self.show_message("error.procedure_gone")
            return
        self.visit.procedure = procedure_view(rec)
        self.visit.checked_docs = set()
        self.visit.destination = rec.get("destination")
        self.go(Screen.DETAIL)
        self._emit("detail")

    def toggle_doc(self, index: int) -> None:
        self.activity()
        docs = self.visit.checked_docs
        docs.symmetric_difference_update({index})
        self._emit("checklist")

    # -- search ---------------------------------------------------------------------------
    def open_search(self, text: str = "") -> None:
        self.activity()
        self.go(Screen.SEARCH)
        if text:
            self.search(text)

    def search(self, text: str) -> None:
        """Search as the visitor types: only the newest keystroke's results are shown."""
        self.activity()
        self.visit.query = text
        self._search_gen += 1
        gen = self._search_gen
        if not text.strip():
            self.visit.results, self.visit.suggestions, self.visit.searching = [], [], False
            self._emit("search")
            return
        self.visit.searching = True

        def work():
            if gen != self._search_gen:
                return None  # a newer keystroke is queued: skip this one
            return self.backend.search(text, self.cfg.search.limit)

        self._run("search", work, lambda res: self._got_results(gen, res),
                  lambda exc: self._search_failed(gen))

    def _got_results(self, gen: int, res: dict | None) -> None:
        if res is None or gen != self._search_gen:
            return  # stale
        self.visit.searching = False
        self.visit.results = res.get("hits", [])
        self.visit.suggestions = res.get("suggestions", [])
        self._emit("search")

    def _search_failed(self, gen: int) -> None:
        if gen == self._search_gen:
            self.visit.searching = False
            self._emit("search")
            self.show_message("error.search")

    # -- tickets --------------------------------------------------------------------------
    def open_ticket(self) -> None:
        """'Lấy số thứ tự' from Home: choose the service first."""
        self.activity()
        self.visit.series = None
        self.visit.priority = None
        self.go(Screen.SERVICE)

    def take_ticket_for_procedure(self) -> None:
        """'Lấy số' on a procedure: the service that receives it, then the priority choice."""
        self.activity()
        proc = self.visit.procedure
        if not proc:
            return
        visit = self._visit_id
        self._run("db", lambda: self.backend.service_for(proc["key"]),
                  lambda series: self._got_series(visit, series),
                  lambda exc: self.show_message("error.catalogue"))

    def _got_series(self, visit: int, series: str | None) -> None:
        if visit != self._visit_id:
            return
        if not series:
            self.go(Screen.SERVICE)
            return
        self.choose_service(series)

    def choose_service(self, series: str) -> None:
        self.activity()
        self.visit.series = series
        if self.cfg.priority_groups:
            self.go(Screen.PRIORITY)
        else:
            self.issue(None)

    def issue(self, priority: str | None) -> None:
        """Issue the ticket (priority: a cfg.priority_groups key or None), then print it."""
        self.activity()
        if self.visit.ticket is not None and self.visit.ticket.get("series") == self.visit.series \
                and self.visit.print_status == "issuing":
            return  # a double tap
        series = self.visit.series
        if not series:
            self.go(Screen.SERVICE)
            return
        self.visit.priority = priority
        self.visit.print_status = "issuing"
        proc_key = self.visit.procedure["key"] if self.visit.procedure else None
        visit = self._visit_id
        lang = self.visit.lang
        self._emit("ticket")
        self._run("db", lambda: self.backend.issue_ticket(series, priority, proc_key, lang),
                  lambda t: self._issued(visit, t), lambda exc: self._issue_failed(visit, exc))

    def _issued(self, visit: int, ticket: dict) -> None:
        if visit != self._visit_id:
            return
        self.visit.ticket = ticket
        self.visit.destination = ticket.get("destination") or self.visit.destination
        self.visit.print_status = "printing"
        self.go(Screen.TICKET)
        self._emit("ticket")
        self._run("io", lambda: self.backend.print_ticket(ticket),
                  lambda ok: self._printed(visit, ok), lambda exc: self._printed(visit, False))
        self.refresh_home()

    def _issue_failed(self, visit: int, exc: Exception) -> None:
        if visit != self._visit_id:
            return
        self.visit.print_status = ""
        key = getattr(exc, "i18n_key", None) or "error.ticket"
        self.show_message(key, **getattr(exc, "i18n_kw", {}))
        self._emit("ticket")

    def _printed(self, visit: int, ok: bool) -> None:
        if visit != self._visit_id:
            return
        self.visit.print_status = "printed" if ok else "failed"
        self._emit("ticket")

    # -- guidance -------------------------------------------------------------------------
    def guide_me(self) -> None:
        """'Đưa tôi đến quầy': ask the robot; if it cannot come, show the route on the map."""
        self.activity()
        dest = self.visit.destination
        if dest is None and self.visit.procedure:
            visit = self._visit_id
            key = self.visit.procedure["key"]
            self._run("db", lambda: self.backend.destination_for(key),
                      lambda d: self._got_destination(visit, d))
            return
        self._guide(dest)

    def _got_destination(self, visit: int, dest: dict | None) -> None:
        if visit == self._visit_id:
            self.visit.destination = dest
            self._guide(dest)

    def _guide(self, dest: dict | None) -> None:
        if not dest:
            self.show_message("error.no_counter")
            return
        self.visit.destination = dest
        self.go(Screen.DIRECTIONS)
        if self.escort_mgr is None:
            self._fallback("robot.absent")
            return
        self.visit.escort = EscortState.REQUESTED
        self.visit.escort_reason = "robot.requested"
        self._escort_visit = self._visit_id
        self._emit("escort")
        ticket = (self.visit.ticket or {}).get("number")
        visit = self._visit_id

        def got_id(eid):
            if visit == self._visit_id:
                self.visit.escort_id = eid

        self._run("io", lambda: self.escort_mgr.request(dest["waypoint"], counter=dest.get("counter"), ticket=ticket),
                  got_id, lambda exc: self._fallback("robot.unavailable"))

    def open_directions(self) -> None:
        """'Chỉ đường' from Home: the map, with a choice of places."""
        self.activity()
        self.visit.destination = None
        self.visit.escort = EscortState.NONE
        self.visit.escort_reason = ""
        self.go(Screen.DIRECTIONS)
        self._emit("escort")

    def places(self) -> list[dict]:
        """Places a visitor may ask the way to: every counter, then other named waypoints."""
        out = []
        for c in self.cfg.counters:
            out.append({"waypoint": c.waypoint, "counter": c.id, "counters": [c.id],
                        "name": c.name.get(self.visit.lang)})
        skip = {c.waypoint for c in self.cfg.counters} | {"kiosk", "dock"}
        for name, wp in self.cfg.floor_map.waypoints.items():
            if name not in skip and wp.name is not None:
                out.append({"waypoint": name, "counter": None, "counters": [], "name": wp.name.get(self.visit.lang)})
        return out

    def pick_place(self, waypoint: str) -> None:
        """A place chosen on the directions screen: show its route (the robot only on request)."""
        self.activity()
        place = next((p for p in self.places() if p["waypoint"] == waypoint), None)
        if place is None:
            return
        self.visit.destination = place
        self.visit.escort = EscortState.NONE
        self.visit.escort_reason = ""
        self._emit("escort")

    def route_points(self) -> list[tuple[float, float]]:
        dest = self.visit.destination
        wps = self.cfg.floor_map.waypoints
        if not dest or dest.get("waypoint") not in wps or "kiosk" not in wps:
            return []
        return route(self.cfg, "kiosk", dest["waypoint"])

    def destination_name(self) -> str:
        dest = self.visit.destination or {}
        if dest.get("counter"):
            return self.counter_names({"counters": [dest["counter"]]})
        wp = self.cfg.floor_map.waypoints.get(dest.get("waypoint", ""))
        return wp.name.get(self.visit.lang) if wp is not None and wp.name else ""

    def _fallback(self, reason_key: str, **detail) -> None:
        self.visit.escort = EscortState.FALLBACK
        self.visit.escort_reason = reason_key
        self.visit.escort_detail = detail
        self._emit("escort")

    def cancel_escort(self) -> None:
        self.activity()
        eid = self.visit.escort_id
        if self.escort_mgr is not None and eid is not None and \
                self.visit.escort in (EscortState.REQUESTED, EscortState.COMING, EscortState.GUIDING):
            self._run("io", lambda: self.escort_mgr.cancel(eid), None, lambda exc: None)
        self.visit.escort = EscortState.CANCELLED
        self.visit.escort_reason = "robot.cancelled"
        self._emit("escort")

    def on_robot_event(self, kind: str, **detail) -> None:
        """An escort event (see `RobotAdapter`), already on the UI thread.

        Kinds: status, queued, coming, guiding, arrived, failed(reason), cancelled. Events of
        another visitor's escort (the previous visitor walked off with the robot) only update
        the status shown to staff.
        """
        if kind == "status":
            self.robot_status = {"link": detail.get("link_up", detail.get("link")), "state": detail.get("state", ""),
                                 "available": detail.get("available"), "battery": detail.get("battery")}
            self._emit("status")
            return
        v = self.visit
        eid = detail.get("escort_id")
        if self._escort_visit != self._visit_id or v.escort in (EscortState.NONE, EscortState.CANCELLED) \
                or (eid is not None and v.escort_id is not None and eid != v.escort_id):
            return
        if eid is not None and v.escort_id is None:
            v.escort_id = eid
        if kind == "queued":
            v.escort, v.escort_reason = EscortState.REQUESTED, "robot.queued"
            v.escort_detail = {"minutes": max(1, round(float(detail.get("wait_s", 60)) / 60)),
                               "position": detail.get("position", 1)}
        elif kind == "coming":
            v.escort, v.escort_reason = EscortState.COMING, "robot.coming"
            v.escort_detail = dict(detail)
        elif kind == "guiding":
            v.escort = EscortState.GUIDING
            v.escort_detail = dict(detail)
            dist = float(detail.get("distance_m") or 0)
            v.escort_reason = "robot.progress" if dist >= 1 else "robot.guiding"
        elif kind == "arrived":
            v.escort, v.escort_reason = EscortState.ARRIVED, "robot.arrived"
        elif kind == "cancelled":
            v.escort, v.escort_reason = EscortState.CANCELLED, "robot.cancelled"
        elif kind == "failed":
            self._fallback(robot_reason_key(str(detail.get("reason", ""))), **detail)
            return
        else:
            log.info("ignored robot event %s %s", kind, detail)
            return
        self._emit("escort")

    # -- read aloud -----------------------------------------------------------------------
    def read_aloud(self) -> None:
        """'Đọc to': speak the procedure or ticket in the visitor's language; tap again to stop."""
        self.activity()
        if self.speaker is None:
            self.show_message("error.speech")
            return
        text = self.aloud_text()
        if not text:
            return
        lang = self.visit.lang
        self._run("io", lambda: (self.speaker.stop(), self.speaker.say(text, lang=lang)),
                  None, lambda exc: self.show_message("error.speech"))

    def stop_speaking(self) -> None:
        if self.speaker is not None:
            self._run("io", self.speaker.stop, None, lambda exc: None)

    def aloud_text(self) -> str:
        v = self.visit
        if self.screen == Screen.TICKET and v.ticket:
            tk = v.ticket
            if tk.get("wait_min", 0) < 1:
                return self.t("speak.ticket_next", number=tk["number"], counter=self.counter_names(tk))
            return self.t("speak.ticket", number=tk["number"], counter=self.counter_names(tk),
                          ahead=tk.get("ahead", 0), wait=tk.get("wait_min", 0))
        p = v.procedure
        if not p:
            return ""
        docs = "; ".join(d.get("text", "") for d in p["submit"][:8])
        return self.t("speak.procedure", name=self.name_of(p), docs=docs or "-",
                      time=self.label_of(p, "processing"), fee=self.label_of(p, "fee"))

    def label_of(self, p: dict, part: str) -> str:
        """The catalogue's short label of a procedure's processing time or fee, in the visitor's language."""
        d = p.get(part) or {}
        return d.get(f"label_{self.visit.lang}") or d.get("label_vi") or d.get("text") or ""

    def counter_names(self, ticket_or_dest: dict) -> str:
        ids = ticket_or_dest.get("counters") or ([ticket_or_dest["counter"]] if ticket_or_dest.get("counter") else [])
        names = []
        for cid in ids:
            try:
                names.append(self.cfg.counter(int(cid)).name.get(self.visit.lang))
            except (KeyError, ValueError):
                names.append(str(cid))
        return ", ".join(names)

    # -- voice ----------------------------------------------------------------------------
    def on_voice_event(self, kind: str, **detail) -> None:
        """A voice event (see `voice_event`), already on the UI thread.

        Kinds: ready, unavailable(reason), listening(level), thinking, understood(kind,
        target, text), not_understood(candidates), error(message).
        """
        v = self.visit
        if kind == "ready":
            self.voice_ready, self.voice_error = True, ""
        elif kind == "unavailable":
            self.voice_ready, self.voice_error = False, str(detail.get("reason", ""))
            self.voice_missing_model = bool(detail.get("missing_model"))
        elif kind == "listening":
            self.voice_level = float(detail.get("level", 0))
            if v.voice_state != "listening":
                v.voice_state = "listening"
            else:
                self._emit("voice_level")
                return
        elif kind == "thinking":
            v.voice_state = "thinking"
        elif kind == "understood":
            v.voice_state = "idle"
            v.voice_candidates = []
            self._understood(detail.get("what", "procedure"), detail.get("target", ""), detail.get("text", ""))
        elif kind == "not_understood":
            v.voice_state = "idle"
            v.voice_candidates = [str(c) for c in detail.get("candidates", [])][:4]
            if self.screen != Screen.SEARCH:
                self.go(Screen.SEARCH)
            if not v.voice_candidates:
                self.show_message("voice.not_understood")
        elif kind == "error":
            if v.voice_state != "idle":
                v.voice_state = "idle"
                self.show_message("voice.failed")
        else:
            log.info("ignored voice event %s", kind)
            return
        self._emit("voice")

    def _understood(self, what: str, target: str, text: str) -> None:
        if what == "procedure" and target:
            self.visit.query = text
            self._emit("voice_text")
            self.open_procedure(target)
        elif what == "field" and target:
            self.open_fields()
            self.open_field(target)
        elif what == "command":
            actions = {"take_ticket": self.take_ticket_for_procedure if self.visit.procedure else self.open_ticket,
                       "guide": self.guide_me, "back": self.back, "repeat": self.read_aloud,
                       "english": lambda: self.set_lang("en"), "vietnamese": lambda: self.set_lang("vi"),
                       "home": self.home}
            fn = actions.get(target)
            if fn:
                fn()
        else:
            self.open_search()
            self.search(text)
            self._emit("voice_text")

    def mic_down(self) -> None:
        self.activity()
        if self.voice is None or not self.voice_ready:
            return
        if self.speaker is not None:
            self._run("io", self.speaker.stop, None, lambda exc: None)
        if self.screen != Screen.SEARCH:
            self.go(Screen.SEARCH)  # where listening, thinking and the answer are shown
        self.visit.voice_state = "listening"
        self.voice_level = 0.0
        self._emit("voice")
        self._run("io", self.voice.press, None, lambda exc: self._voice_failed())

    def mic_up(self) -> None:
        self.activity()
        if self.voice is None or self.visit.voice_state != "listening":
            return
        self.visit.voice_state = "thinking"
        self._emit("voice")
        self._run("io", self.voice.release, None, lambda exc: self._voice_failed())

    def _voice_failed(self) -> None:
        self.visit.voice_state = "idle"
        self._emit("voice")
        self.show_message("voice.failed")

    # -- dossier hook ---------------------------------------------------------------------
    @property
    def has_dossiers(self) -> bool:
        return self.dossier_lookup is not None

    def open_dossiers(self) -> None:
        self.activity()
        if self.has_dossiers:
            self.visit.dossier_code, self.visit.dossier, self.visit.dossier_state = "", None, ""
            self.go(Screen.DOSSIER)
            self._emit("dossier")

    def dossier_typed(self, code: str) -> None:
        self.activity()
        self.visit.dossier_code = code
        if self.visit.dossier_state in ("found", "not_found", "failed"):
            self.visit.dossier, self.visit.dossier_state = None, ""
        self._emit("dossier")

    def dossier_find(self) -> None:
        """Look the typed (or scanned) receipt code up; only masked data comes back."""
        self.activity()
        code = self.visit.dossier_code.strip()
        if not code or self.dossier_lookup is None:
            return
        self.visit.dossier_state = "searching"
        self._emit("dossier")
        visit = self._visit_id

        def done(found):
            if visit != self._visit_id:
                return
            self.visit.dossier = found
            self.visit.dossier_state = "found" if found else "not_found"
            self._emit("dossier")

        def fail(exc):
            if visit == self._visit_id:
                self.visit.dossier_state = "failed"
                self._emit("dossier")

        self._run("db", lambda: self.dossier_lookup(code), done, fail)

    # -- status (staff screen) ----------------------------------------------------------------
    def refresh_status(self, *_):
        self._run("io", self.backend.printer_status, self._got_printer, lambda exc: None)
        if self.escort_mgr is not None and hasattr(self.escort_mgr, "status"):
            self._run("io", self.escort_mgr.status, self._got_robot, lambda exc: None)

    def _got_printer(self, st: dict) -> None:
        self.printer_status = st
        self._emit("status")

    def _got_robot(self, st: Any) -> None:
        self.robot_status = _plain(st) if st is not None else {}
        self._emit("status")

    # -- staff --------------------------------------------------------------------------------
    def open_staff(self) -> None:
        self.activity()
        self.pin_entry = ""
        self.go(Screen.PIN)
        self._emit("pin")

    def pin_key(self, key: str) -> None:
        self.activity()
        if key == "back":
            self.pin_entry = self.pin_entry[:-1]
        elif key == "clear":
            self.pin_entry = ""
        elif key.isdigit() and len(self.pin_entry) < 12:
            self.pin_entry += key
        self._emit("pin")

    def pin_submit(self) -> None:
        self.activity()
        result = self.pin_gate.check(self.pin_entry)
        self.pin_entry = ""
        if result == PinResult.OK:
            self.go(Screen.STAFF, remember=False)
            self.staff_refresh()
            self.show_message(None)
        elif result == PinResult.LOCKED:
            self.show_message("staff.pin_locked", minutes=max(1, round(self.pin_gate.locked_for() / 60)))
        elif result == PinResult.NOT_SET:
            self.show_message("staff.pin_not_set")
        else:
            self.show_message("staff.pin_wrong", tries=self.pin_gate.tries_left)
        self._emit("pin")

    def staff_refresh(self) -> None:
        self._run("db", self.backend.counters, self._got_counters, lambda exc: self.show_message("error.database"))
        self.refresh_status()

    def _got_counters(self, counters: list[dict]) -> None:
        self.staff_counters = counters
        self._emit("staff")

    def set_counter_state(self, counter_id: int, state: str) -> None:
        self.activity()
        self._run("db", lambda: (self.backend.set_counter_state(counter_id, state), self.backend.counters())[1],
                  self._got_counters, lambda exc: self.show_message("error.database"))

    def reimport_catalogue(self) -> None:
        self.activity()
        self.staff_busy = "reimport"
        self._emit("staff")

        def done(n):
            self.staff_busy = ""
            self.show_message("staff.reimported", count=n)
            self._run("db", self.backend.fields, self._got_fields)

        def fail(exc):
            self.staff_busy = ""
            self.show_message("staff.reimport_failed")

        self._run("db", self.backend.reimport_catalogue, done, fail)

    def test_print(self) -> None:
        self.activity()
        self.staff_busy = "print"
        self._emit("staff")

        def done(ok):
            self.staff_busy = ""
            self.show_message("staff.test_print_ok" if ok else "staff.test_print_failed")
            self.refresh_status()

        self._run("io", self.backend.test_print, done, lambda exc: done(False))

    def leave_kiosk(self) -> None:
        """Staff 'leave kiosk mode': the app closes its window (the desktop shows)."""
        self._emit("leave")


#: Failure reasons of the escort manager that have their own sentence (i18n robot.aborted_<reason>).
ABORT_REASONS = ("blocked", "timeout", "localization_lost", "low_battery", "estop", "estop_active",
                 "unknown_waypoint")


def robot_reason_key(reason: str) -> str:
    """The i18n key explaining why the robot cannot guide (a protocol Reason or a manager reason)."""
    r = reason.lower()
    if r in ABORT_REASONS:
        return f"robot.aborted_{r}"
    if r == "busy":
        return "robot.busy"
    if r in ("link_down", "no_answer", "rebooted"):
        return "robot.down"
    if r in ("unavailable", ""):
        return "robot.unavailable"
    return "robot.aborted"


# -- device adapters (robot escort manager, voice service) ---------------------------------------


class RobotAdapter:
    """The kiosk's view of `robot.escort.EscortManager`: request / cancel / status, and its
    events as (kind, detail) calls of `on_event` (from the manager's thread)."""

    KINDS = {"ESCORT_QUEUED": "queued", "ROBOT_COMING": "coming", "FOLLOW_ROBOT": "guiding",
             "ESCORT_ARRIVED": "arrived", "ESCORT_FAILED": "failed", "ESCORT_CANCELED": "cancelled",
             "ROBOT_STATUS": "status"}

    def __init__(self, manager, on_event: Callable):
        self.manager = manager
        self.on_event = on_event
        self._unsubscribe = manager.subscribe(self._event)

    def _event(self, ev) -> None:
        d = ev.to_dict() if hasattr(ev, "to_dict") else dict(ev)
        kind = self.KINDS.get(d.pop("code", ""), None)
        if kind is None:
            log.info("ignored robot event %r", ev)
            return
        self.on_event(kind, **d)

    def request(self, waypoint: str, *, counter: int | None = None, ticket: str | None = None) -> int:
        if counter is not None:
            return self.manager.request_escort(counter, ticket=ticket)
        return self.manager.request_escort(waypoint=waypoint, ticket=ticket)

    def cancel(self, escort_id: int) -> None:
        self.manager.cancel(escort_id)

    def status(self) -> dict:
        st = self.manager.status()
        robots = st.get("robots") if isinstance(st, dict) else None
        if isinstance(robots, list) and robots:
            r = robots[0]
            return {"link": r.get("link_up", r.get("available")), "state": r.get("state", ""),
                    "available": self.manager.available}
        return {"link": self.manager.available, "available": self.manager.available}

    def close(self) -> None:
        try:
            self._unsubscribe()
        finally:
            self.manager.close()


def voice_event(ev) -> tuple[str, dict]:
    """A `voice.events` event as (kind, detail) for `Controller.on_voice_event`."""
    name = type(ev).__name__
    if name == "ModelReady":
        return "ready", {}
    if name == "ModelFailed":
        return "unavailable", {"reason": getattr(ev, "reason", "")}
    if name == "Listening":
        return "listening", {"level": getattr(ev, "level", 0.0)}
    if name == "Thinking":
        return "thinking", {}
    if name == "Understood":
        return "understood", {"what": ev.kind, "target": ev.target, "text": ev.text or ev.label}
    if name == "NotUnderstood":
        cands = []
        for c in getattr(ev, "candidates", []) or []:
            cands.append(c if isinstance(c, str) else (c.get("label") or c.get("text") or c.get("phrase") or "")
                         if isinstance(c, dict) else str(c))
        return "not_understood", {"candidates": [c for c in cands if c]}
    if name == "VoiceError":
        return "error", {"message": getattr(ev, "message", "")}
    return "other", {}


# -- the real backend ----------------------------------------------------------------------


class BackendError(RuntimeError):
    """A backend call failed; `i18n_key` names the message shown to the visitor."""

    def __init__(self, message: str, i18n_key: str = "error.generic", **kw):
        super().__init__(message)
        self.i18n_key = i18n_key
        self.i18n_kw = kw


class Backend:
    """Catalogue, search, queue and printer behind one object whose methods run on workers.

    Each worker thread gets its own SQLite connection (sqlite3 objects are not shared
    between threads); the search index is shared (`Searcher` is thread-safe and reloads
    itself after a catalogue re-import). Every method returns plain dicts.
    `queue_clock` lets tests issue tickets at a fixed time inside opening hours;
    `printer` is an injected python-escpos printer (tests: a failing one).
    """

    def __init__(self, cfg, *, printer=None, queue_clock=None):
        self.cfg = cfg
        self._local = threading.local()
        self._printer = printer
        self._queue_clock = queue_clock
        self._searcher = None
        self._search_lock = threading.Lock()

    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            from centre.db import connect

            conn = connect(self.cfg.database_path)
            self._local.conn = conn
        return conn

    def _obj(self, name: str, make: Callable):
        obj = getattr(self._local, name, None)
        if obj is None:
            obj = make(self._conn())
            setattr(self._local, name, obj)
        return obj

    @property
    def catalogue(self):
        from centre.catalogue import Catalogue

        return self._obj("catalogue", Catalogue)

    @property
    def remote(self) -> bool:
        """True when tickets are issued by another PC's staff server (`centre.url` in config)."""
        return bool(self.cfg.centre.url)

    @property
    def queue(self):
        """The local database's `Queue`, or a `RemoteQueue` on the staff server when `centre.url` is set."""
        from staff.client import open_queue

        if self.remote:
            return self._obj("queue", lambda c: open_queue(self.cfg, self._queue_clock))
        from centre.queue import Queue

        return self._obj("queue", lambda c: Queue(c, self.cfg, clock=self._queue_clock))

    @property
    def searcher(self):
        with self._search_lock:
            if self._searcher is None:
                from centre.db import connect
                from centre.search import Searcher

                self._searcher = Searcher.from_config(connect(self.cfg.database_path), self.cfg)
            return self._searcher

    def prepare(self) -> None:
        """Create the tables and import the shipped catalogue if the database has none."""
        from centre.catalogue import ensure_catalogue

        ensure_catalogue(self._conn(), self.cfg)
        self.queue  # noqa: B018 - creates the queue tables

    def warm_up(self) -> None:
        """Load the search index (done in a worker at start, so the first keystroke is fast)."""
        self.searcher.search("a", limit=1)

    # catalogue
    def fields(self) -> list[dict]:
        return [{"id": f.id, "name": f.name_vi, "name_en": f.name_en, "icon": f.icon, "count": f.count}
                for f in self.catalogue.fields()]

    def procedures(self, field_id: str) -> list[dict]:
        return [{"key": p.key, "code": p.code, "name": p.name, "name_en": p.name_en, "field_id": p.field_id}
                for p in self.catalogue.procedures(field_id)]

    def procedure(self, key: str) -> dict | None:
        rec = self.catalogue.get(key)
        if rec is None:
            return None
        d = rec.to_dict()
        d["destination"] = self.destination_for_series(self._series(rec))
        d["forms"] = [dict(f, url=self.form_url(f), qr=self.qr_png(self.form_url(f))) for f in d.get("forms", [])
                      if isinstance(f, dict)]
        return d

    def form_url(self, form: dict) -> str:
        if form.get("url"):
            return form["url"]
        name = form.get("file") or form.get("name") or ""
        from urllib.parse import quote

        return f"{self.cfg.centre.base_url}/forms/{quote(name)}"

    def qr_png(self, url: str) -> str:
        """A QR code of `url` as a PNG file in the data directory's cache (made once)."""
        import qrcode

        folder = self.cfg.data_dir / "cache" / "qr"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (hashlib.sha1(url.encode()).hexdigest()[:16] + ".png")
        if not path.exists():
            img = qrcode.make(url, box_size=10, border=2)
            tmp = path.with_suffix(".tmp")
            img.save(tmp, format="PNG")
            os.replace(tmp, path)
        return str(path)

    def _series(self, rec) -> str:
        from centre.catalogue import service_for

        return service_for(rec, self.cfg)

    def service_for(self, key: str) -> str | None:
        rec = self.catalogue.get(key)
        if rec is None:
            raise BackendError(f"procedure {key} is no longer in the catalogue", "error.procedure_gone")
        return self._series(rec)

    def destination_for(self, key: str) -> dict | None:
        return self.destination_for_series(self.service_for(key))

    def destination_for_series(self, series: str | None) -> dict | None:
        """The counters serving a series (open ones first) and the waypoint of the first."""
        if not series:
            return None
        try:
            cands = list(self.queue.counters_for(series))
        except Exception:
            log.warning("counter states unavailable; using config", exc_info=True)
            cands = [c for c in self.cfg.counters if series in c.services]
        if not cands:
            return None
        cands.sort(key=lambda c: (getattr(c, "state", "open") != "open", c.id))
        open_ids = [c.id for c in cands if getattr(c, "state", "open") == "open"]
        return {"counter": cands[0].id, "counters": open_ids or [cands[0].id], "waypoint": cands[0].waypoint,
                "series": series}

    def search(self, text: str, limit: int) -> dict:
        res = self.searcher.search(text, limit=limit)
        hits = [{"key": h.key, "code": h.code, "name": h.name, "name_en": h.name_en, "field_id": h.field_id,
                 "field": h.field, "field_en": h.field_en, "score": h.score} for h in res.hits]
        sugg = [{"id": f.id, "name": f.name, "name_en": f.name_en} for f in res.suggested_fields]
        return {"hits": hits, "suggestions": sugg}

    def reimport_catalogue(self) -> int:
        from centre.catalogue_import import import_catalogue

        report = import_catalogue(self._conn(), self.cfg.path(self.cfg.paths.catalogue))
        return int(report.procedures)

    # queue
    def waiting_counts(self) -> dict:
        """{series: {waiting, wait_min}}: today's waiting tickets and the wait a new ticket would have."""
        q = self.queue
        counts = q.waiting_counts()
        out = {}
        for s in self.cfg.services:
            n = int(counts.get(s.series, 0))
            try:
                open_n = max(1, sum(1 for c in q.counters_for(s.series) if c.state == "open"))
                wait = round(q.mean_service_min(s.series) * n / open_n)
            except Exception:
                wait = None
            out[s.series] = {"waiting": n, "wait_min": wait}
        return out

    def issue_ticket(self, series: str, priority: str | None, procedure_key: str | None, lang: str = "vi") -> dict:
        from centre import queue as qmod
        from centre import tickets

        q = self.queue
        try:
            t = q.issue(series, priority=priority, procedure_key=procedure_key, source="kiosk", lang=lang)
        except qmod.ServiceClosed as exc:
            if exc.opens_at is not None:
                opens = exc.opens_at.astimezone(self.cfg.centre.tz)
                raise BackendError(str(exc), "error.service_closed_until", time=opens.strftime("%H:%M"),
                                   date=opens.strftime("%d/%m")) from exc
            raise BackendError(str(exc), "error.service_closed") from exc
        except qmod.SeriesFull as exc:
            raise BackendError(str(exc), "error.series_full") from exc
        except qmod.QueueStorageError as exc:
            if self.remote:  # the centre's server is down, unreachable or refuses this kiosk's token
                raise BackendError(str(exc), "error.centre_unreachable") from exc
            raise
        proc_name = None
        if procedure_key:
            rec = self.catalogue.get(procedure_key)
            proc_name = rec.display_name(lang) if rec else None
        try:
            st = q.status(t)
            content = tickets.ticket_content(q, t, lang=lang, procedure_name=proc_name)
        except qmod.QueueStorageError as exc:
            if self.remote:  # issued, but the server went away before we could read its place
                raise BackendError(str(exc), "error.centre_unreachable") from exc
            raise
        folder = self.cfg.data_dir / "tickets"
        folder.mkdir(parents=True, exist_ok=True)
        png = tickets.save_png(content, folder / f"{t.day}-{t.code}.png", width=self.cfg.printer.paper_width_px)
        url = self.cfg.centre.base_url + t.status_path
        dest = self.destination_for_series(t.service) or {}
        return {"id": t.id, "number": t.code, "series": t.series, "service": t.service, "priority": priority,
                "ahead": int(st.ahead), "wait_min": int(round(st.wait_min)),
                "counters": [c.id for c in st.counters], "url": url, "qr": self.qr_png(url),
                "png": str(png), "destination": dest or None, "procedure_key": procedure_key, "lang": lang}

    def print_ticket(self, ticket: dict) -> bool:
        from PIL import Image

        from centre import printing

        with Image.open(ticket["png"]) as img:
            img.load()
            res = printing.print_ticket(img, self.cfg, printer=self._printer, conn=self._conn(),
                                        ticket_id=ticket.get("id"))
        return bool(res.ok)

    def test_print(self) -> bool:
        from PIL import Image, ImageDraw

        from centre import printing, tickets

        img = Image.new("1", (self.cfg.printer.paper_width_px, 160), 1)
        draw = ImageDraw.Draw(img)
        draw.text((20, 20), self.cfg.centre.name.vi, font=tickets.font(26, bold=True), fill=0)
        draw.text((20, 80), time.strftime("%Y-%m-%d %H:%M"), font=tickets.font(26), fill=0)
        res = printing.print_ticket(img, self.cfg, printer=self._printer, conn=self._conn())
        return bool(res.ok)

    def printer_status(self) -> dict:
        from centre import printing

        if self._printer is not None:
            return {"ok": None, "detail": "injected"}
        ok, msg = printing.probe(self.cfg.printer)
        return {"ok": ok, "detail": msg}

    def counters(self) -> list[dict]:
        return [{"id": c.id, "state": c.state, "name": c.name_vi, "name_en": c.name_en,
                 "services": list(c.services)} for c in self.queue.counters()]

    def set_counter_state(self, counter_id: int, state: str) -> None:
        self.queue.set_counter_state(counter_id, state, actor="kiosk:staff")


def default_text_scale(cfg, large: bool) -> float:
    return cfg.kiosk.large_text_scale if large else 1.0


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


def contrast_ratio(fg: tuple, bg: tuple) -> float:
    """WCAG 2 contrast ratio of two sRGB colours given as 0..1 floats."""

    def lum(c):
        def ch(v):
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        r, g, b = (ch(float(x)) for x in c[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)
