"""Dossier lookup: the receipt code (or its distinctive tail), typed or scanned → masked status."""

from __future__ import annotations

from kiosk.flows.base import ControllerBase
from kiosk.visit import Screen


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

        self._run("db", lambda: self.dossier_lookup(code), done, fail)

    def dossier_edit(self) -> None:
        """'Sửa mã': show the keyboard again."""
        self.activity()
        self.visit.dossier, self.visit.dossier_state = None, ""
        self._emit("dossier")
