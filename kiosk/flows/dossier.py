"""Dossier lookup: the receipt code (or its distinctive tail), typed or scanned → masked status."""

from __future__ import annotations

import logging
import re
import sqlite3
from urllib.parse import parse_qsl, unquote, urlsplit

from centre.queue import QueueStorageError
from kiosk.flows.base import ControllerBase
from kiosk.visit import Screen

log = logging.getLogger("kiosk.dossier")

#: What a dossier lookup really meets: the database busy, locked, being re-imported or unreadable
#: (sqlite3.Error), the centre server unreachable or refusing this kiosk (QueueStorageError, from
#: staff.client.dossier_lookup). The citizen is told the lookup cannot be done now; any other
#: exception is a bug and goes to the worker's log with its traceback.
LOOKUP_ERRORS = (sqlite3.Error, QueueStorageError)
#: the next steps that happen at a counter ("Please bring the documents below to Quầy 2", "collect it
#: at…", "go to … for an explanation"): only these offer "Đưa tôi đến quầy". A dossier still being
#: processed ("please wait until the due date") or already handed over has no errand at a counter.
COUNTER_STEPS = ("supplement", "pickup", "contact")
#: a receipt's QR code holding the lookup page's address: the parameter that carries the code
#: (the one-stop systems' own names, folded to lower case without separators)
CODE_PARAMS = ("mahoso", "hoso", "sohoso", "code", "ma", "id", "q")


def receipt_code(text: str) -> str:
    """The receipt code in what was typed or scanned. A receipt's QR code may hold the lookup
    page's address with the code in it ("https://…/tra-cuu-ho-so?ma_ho_so=000.00.29.H29-…"): the
    code is its parameter, else the address's last part. Anything else is the code as typed
    (spaces and case are the lookup's business)."""
    text = (text or "").strip()
    if not re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
        return text
    url = urlsplit(text)
    params = {re.sub(r"[^a-z]", "", k.lower()): v.strip() for k, v in parse_qsl(url.query) if v.strip()}
    for name in CODE_PARAMS:
        if params.get(name):
            return params[name]
    last = unquote(url.path.rstrip("/").rsplit("/", 1)[-1])
    return last if any(ch.isdigit() for ch in last) else text


class DossierFlow(ControllerBase):
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
        if self.visit.dossier_state in ("found", "not_found", "failed", "ambiguous"):
            self.visit.dossier, self.visit.dossier_state = None, ""
        self._emit("dossier")

    def dossier_find(self) -> None:
        """Look the typed (or scanned) code up; only masked data comes back. The keyboard hides."""
        self.activity()
        code = receipt_code(self.visit.dossier_code)
        if not code or self.dossier_lookup is None:
            return
        if code != self.visit.dossier_code.strip():  # the address scanned from a QR code: its code shows
            self.visit.dossier_code = code
        self.visit.dossier_state = "searching"
        self._emit("dossier")
        visit = self._visit_id

        def done(found):
            if visit != self._visit_id:
                return
            if isinstance(found, dict) and found.get("ambiguous"):
                self.visit.dossier, self.visit.dossier_state = None, "ambiguous"
            else:
                self.visit.dossier = found
                self.visit.dossier_state = "found" if found else "not_found"
            self._emit("dossier")

        def fail(exc):  # LOOKUP_ERRORS, or a bug (logged by _run): never left "searching"
            if visit == self._visit_id:
                self.visit.dossier_state = "failed"
                self._emit("dossier")

        self._run("db", lambda: self._lookup(code), done, fail)

    def _lookup(self, code: str):
        """The lookup's answer, with the procedure's English name for an English page (the
        dossier book keeps the Vietnamese one; "Procedure: Đăng ký khai sinh" was shown as is)."""
        found = self.dossier_lookup(code)
        name_in = getattr(self.backend, "procedure_name", None)
        if isinstance(found, dict) and found.get("procedure_code") and name_in is not None:
            try:
                found = {**found, "procedure_name_en": name_in(found["procedure_code"], "en") or ""}
            except LOOKUP_ERRORS:  # the catalogue is being re-imported: the Vietnamese name still shows
                log.warning("no English name for %s", found.get("procedure_code"), exc_info=True)
        return found

    def dossier_edit(self) -> None:
        """'Sửa mã': show the keyboard again."""
        self.activity()
        self.visit.dossier, self.visit.dossier_state = None, ""
        self._emit("dossier")

    def dossier_place(self) -> dict | None:
        """The place of the found dossier's counter, when the kiosk knows that counter (its number or
        either language's name, as the one-stop system wrote it); None otherwise."""
        d = self.visit.dossier or {}
        if d.get("next_action") not in COUNTER_STEPS:
            return None
        counter = self.cfg.find_counter(str(d.get("counter") or "")) if d.get("counter") else None
        if counter is None or self.visit.dossier_state != "found":
            return None
        return {"waypoint": counter.waypoint, "counter": counter.id, "counters": [counter.id],
                "name": counter.name.get(self.visit.lang)}

    def dossier_guide(self) -> None:
        """'Đưa tôi đến quầy' on a found dossier: the way to the counter it names (the robot if it can
        come). The screen told the citizen to go to "Quầy 2" and offered no way there."""
        self.activity()
        self._guide(self.dossier_place())
