"""The kiosk's backend facade: catalogue, search, queue, printer and the staff PIN behind one object.

Every method may block (SQLite, the printer, the staff server of a remote kiosk), so the
controller calls them on worker threads; each worker thread gets its own SQLite connection.
Every method returns plain dicts (no Kivy, no sqlite rows), and an expected refusal (service
closed, series full, centre unreachable) is a `BackendError` naming the message to show.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger("kiosk.backend")


def _plain(obj):
    """A record of another module (dataclass, object with to_dict, dict) as a plain dict."""
    from dataclasses import asdict, is_dataclass

    if obj is None or isinstance(obj, dict | str | int | float | list):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if is_dataclass(obj):
        return asdict(obj)
    return dict(vars(obj))


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
        if self.remote:  # only then: staff.client brings httpx (and rich, click, asyncio…), ~8 MB
            from staff.client import open_queue

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
        """Load the search index and the e5 engine (done in a worker at start, so the first keystroke is fast)."""
        self.searcher.search("a", limit=1)
        from centre.search import semantic
        from centre.search.lexical import freeze_memory

        semantic.warm_up()
        freeze_memory()  # full garbage collections no longer walk the index (docs/search.md)

    # catalogue
    def fields(self) -> list[dict]:
        return [{"id": f.id, "name": f.name_vi, "name_en": f.name_en, "icon": f.icon, "count": f.count}
                for f in self.catalogue.fields()]

    def procedures(self, field_id: str) -> list[dict]:
        return [{"key": p.key, "code": p.code, "name": p.name, "name_en": p.name_en, "field_id": p.field_id}
                for p in self.catalogue.procedures(field_id)]

    def procedure(self, key: str, lang: str = "vi") -> dict | None:
        """The procedure as a citizen reads it (`centre.procedure_view`), with where to go and QR codes."""
        from centre.procedure_view import view

        rec = self.catalogue.get(key)
        if rec is None:
            return None
        series = self._series(rec)
        d = view(rec, lang, fees=self.fees, online=self.cfg.centre.base_url).to_dict()
        d["series"] = series
        d["destination"] = self.destination_for_series(series)
        d["forms"] = [dict(f, url=self.form_url(f), qr=self.qr_png(self.form_url(f))) for f in d.get("forms", [])
                      if isinstance(f, dict)]
        d["phone_url"] = f"{self.cfg.centre.base_url}/p/{rec.key}?lang={lang}"
        d["phone_qr"] = self.qr_png(d["phone_url"])
        return d

    @property
    def fees(self):
        """The centre's fee table (data/fees.yaml), re-read when the file changes."""
        from centre.procedure_view import FeeTable

        return FeeTable.cached(self.cfg)

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
                 "field": h.field, "field_en": h.field_en, "score": h.score,
                 "answers": [_plain(a) for a in getattr(h, "answers", None) or []]} for h in res.hits]
        sugg = [{"id": f.id, "name": f.name, "name_en": f.name_en} for f in res.suggested_fields]
        referral = getattr(res, "referral", None)
        also = getattr(res, "see_also", None)  # with hits: the request also names an office elsewhere
        return {"hits": hits, "suggestions": sugg, "referral": _plain(referral) if referral else None,
                "see_also": _plain(also) if also else None}

    def reimport_catalogue(self) -> int:
        from centre.catalogue_import import import_catalogue

        report = import_catalogue(self._conn(), self.cfg.path(self.cfg.paths.catalogue))
        return int(report.procedures)

    # queue
    def waiting_counts(self) -> dict:
        """{series: {waiting, wait_min}}: today's waiting tickets and the queue's forecast for a new
        ticket (`Queue.summary()`: the one estimate, as on screen and on the printed ticket)."""
        return {s.series: {"waiting": int(s.waiting), "wait_min": int(s.forecast.minutes)}
                for s in self.queue.summary()}

    def issue_ticket(self, series: str, priority: str | None, procedure_key: str | None, lang: str = "vi",
                     idempotency_key: str | None = None) -> dict:
        """Issue (or, for a key already used, find again) a ticket and render it for printing."""
        from centre import tickets

        q = self.queue
        t = self._issue(q, series, priority, procedure_key, lang, idempotency_key)
        proc_name = None
        if procedure_key:
            rec = self.catalogue.get(procedure_key)
            proc_name = rec.display_name(lang) if rec else None
        with self._centre_errors():
            st = q.status(t)
            forecast = self._forecast(q, t, st)
            content = tickets.ticket_content(q, t, lang=lang, procedure_name=proc_name)
        folder = self.cfg.data_dir / "tickets"
        folder.mkdir(parents=True, exist_ok=True)
        png = tickets.save_png(content, folder / f"{t.day}-{t.code}.png", width=self.cfg.printer.paper_width_px)
        url = self.cfg.centre.base_url + t.status_path
        dest = self.destination_for_series(t.service) or {}
        return {"id": t.id, "number": t.code, "series": t.series, "service": t.service, "priority": t.priority,
                "ahead": int(st.ahead), "wait_min": int(forecast.minutes),
                "wait_text_vi": tickets.wait_text(forecast, "vi"), "wait_text_en": tickets.wait_text(forecast, "en"),
                "counters": [c.id for c in st.counters], "url": url, "qr": self.qr_png(url),
                "png": str(png), "destination": dest or None, "procedure_key": procedure_key, "lang": lang}

    def _issue(self, q, series, priority, procedure_key, lang, idempotency_key):
        from centre import queue as qmod

        kw = {"idempotency_key": idempotency_key} if idempotency_key else {}
        try:
            with self._centre_errors():
                return q.issue(series, priority=priority, procedure_key=procedure_key, source="kiosk", lang=lang, **kw)
        except qmod.ServiceClosed as exc:
            if exc.opens_at is not None:
                opens = exc.opens_at.astimezone(self.cfg.centre.tz)
                raise BackendError(str(exc), "error.service_closed_until", time=opens.strftime("%H:%M"),
                                   date=opens.strftime("%d/%m")) from exc
            raise BackendError(str(exc), "error.service_closed") from exc
        except qmod.SeriesFull as exc:
            raise BackendError(str(exc), "error.series_full") from exc

    def _centre_errors(self):
        """A remote kiosk's lost server is the visitor's 'centre unreachable' message."""
        import contextlib

        from centre import queue as qmod

        @contextlib.contextmanager
        def guard():
            try:
                yield
            except qmod.QueueStorageError as exc:
                if self.remote:
                    raise BackendError(str(exc), "error.centre_unreachable") from exc
                raise

        return guard()

    @staticmethod
    def _forecast(q, t, st):
        """The queue's one forecast of ticket `t` (older queues: from its status)."""
        from centre.queue_api import Forecast

        if hasattr(q, "forecast"):
            try:
                return q.forecast(t.series, ticket=t)
            except TypeError:
                pass
        return Forecast.from_estimate(t.series, int(st.ahead), len(st.counters), float(st.wait_min))

    def service_states(self) -> list[dict]:
        """Each service as Home shows it: state (open, closed, paused, no_counter), next opening,
        waiting count and the forecast of a ticket taken now, with its words in both languages."""
        from centre import tickets

        tz = self.cfg.centre.tz
        out = []
        for s in self.queue.summary():
            d = s.to_dict()
            opens = s.opens_at.astimezone(tz) if s.opens_at else None
            d.update(can_issue=s.can_issue, opens_time=opens.strftime("%H:%M") if opens else "",
                     opens_date=opens.strftime("%d/%m") if opens else "",
                     wait_min=s.forecast.minutes, wait_text_vi=tickets.wait_text(s.forecast, "vi"),
                     wait_text_en=tickets.wait_text(s.forecast, "en"))
            out.append(d)
        return out

    def check_pin(self, pin: str) -> dict:
        """The staff PIN checked by the core's gate (persistent, lengthening lockout, audited)."""
        from centre.pin import PinGate

        k = self.cfg.kiosk
        gate = PinGate(k.staff_pin_hash, self._conn(), max_tries=k.pin_lockout_tries, lockout_s=k.pin_lockout_s,
                       actor="kiosk:staff")
        result = gate.check(pin)
        return {"result": result.value, "locked_for": gate.locked_for(), "tries_left": gate.tries_left}

    def procedure_name(self, key_or_code: str, lang: str) -> str | None:
        """The procedure's name in `lang` (Vietnamese when it has no English one), or None."""
        rec = self.catalogue.get(key_or_code) if key_or_code else None
        return rec.display_name(lang) if rec else None

    @property
    def prints(self) -> bool:
        """Whether tickets are printed here: False for `printer.kind: none` (the number and its QR
        on screen only), unless a printer is injected."""
        return self._printer is not None or self.cfg.printer.kind != "none"

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




#: `resolve_dossier_tail` found several dossiers ending with the typed tail
AMBIGUOUS = object()
#: a tail shorter than this is not distinctive enough to stand for a receipt code
MIN_TAIL = 8


def resolve_dossier_tail(conn, typed: str):
    """The full receipt code whose distinctive tail was typed ("H29-260213-0001", or "h29 260213
    0001" as copied, for "000.00.29.H29-260213-0001"): the code when exactly one dossier ends with
    it at a boundary of its groups, AMBIGUOUS when several do, None when none does or the tail is
    too short. Separators and case are ignored as by the lookup itself (`centre.dossiers.code_key`)."""
    import sqlite3

    from centre.dossiers import code_key

    tail = code_key(typed)
    if len(tail) < MIN_TAIL or not any(ch.isdigit() for ch in tail):
        return None
    try:  # the key is letters and digits only: nothing to escape in the LIKE pattern
        rows = conn.execute("SELECT code FROM dossiers WHERE code_key LIKE ? LIMIT 20", ("%" + tail,)).fetchall()
    except sqlite3.OperationalError:  # no dossiers table (or not yet migrated) on this database
        return None
    codes = [r[0] for r in rows if _ends_with_groups(r[0], tail, code_key)]
    if len(codes) > 1:
        return AMBIGUOUS
    return codes[0] if codes else None


def _ends_with_groups(code: str, tail: str, key) -> bool:
    """Whether `tail` is the key of the code's last groups (it starts the code or follows a separator)."""
    return any(key(code[i:]) == tail for i in range(len(code))
               if code[i].isalnum() and (i == 0 or not code[i - 1].isalnum()))
