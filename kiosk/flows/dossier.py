"""Dossier lookup: the receipt code (or its distinctive tail), typed or scanned → masked status."""

from __future__ import annotations

import logging

from kiosk.flows.base import ControllerBase
from kiosk.visit import Screen

log = logging.getLogger("kiosk.dossier")


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
        code = self.visit.dossier_code.strip()
        if not code or self.dossier_lookup is None:
            return
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

        def fail(exc):
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
            except Exception:  # the catalogue is being re-imported: the Vietnamese name still shows
                log.warning("no English name for %s", found.get("procedure_code"), exc_info=True)
        return found

    def dossier_edit(self) -> None:
        """'Sửa mã': show the keyboard again."""
        self.activity()
        self.visit.dossier, self.visit.dossier_state = None, ""
        self._emit("dossier")
