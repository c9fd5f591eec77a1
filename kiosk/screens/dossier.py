"""Dossier lookup ("Tra cứu hồ sơ", issue 9): a receipt code, typed or scanned → state, due date,
what to do next, missing documents. Only the masked data of `centre.dossiers.PublicDossier` is
shown. A USB barcode scanner types like a keyboard: its characters and Enter are taken here."""

from __future__ import annotations

from kivy.core.window import Window
from kivy.factory import Factory

from kiosk.controller import Screen
from kiosk.screens import KScreen


class DossierScreen(KScreen):
    def on_enter(self, *a):
        self.ids.keyboard.buffer.telex = False
        self.ids.keyboard.telex = False
        self.ids.keyboard.relabel()
        Window.bind(on_textinput=self._scanner_text, on_key_down=self._scanner_key)

    def on_leave(self, *a):
        Window.unbind(on_textinput=self._scanner_text, on_key_down=self._scanner_key)

    def _scanner_text(self, window, text):
        if self.c.screen == Screen.DOSSIER:
            self.ids.keyboard.type_string(text)

    def _scanner_key(self, window, key, scancode, codepoint, modifiers):
        if self.c.screen == Screen.DOSSIER and key in (13, 271):
            self.c.dossier_find()
            return True
        return False

    def refresh(self, topic):
        if topic == "reset":
            self.ids.keyboard.clear()
        if topic not in ("dossier", "lang", "reset", "screen"):
            return
        v = self.c.visit
        self.ids.code.text = v.dossier_code
        box = self.ids.result
        box.clear_widgets()
        st = v.dossier_state
        if st in ("searching", "not_found", "failed"):
            box.add_widget(Factory.KLabel(text=self.tr(f"dossier.{st}"), bold=True))
        d = v.dossier
        if st != "found" or not d:
            return
        counter = d.get("counter") or self.tr("dossier.counter_any")
        box.add_widget(Factory.KTitle(text=self.tr(f"dossier.state_{d['state']}")))
        box.add_widget(Factory.KLabel(text=self.tr(f"dossier.next_{d['next_action']}", counter=counter), bold=True))
        if d.get("late"):
            box.add_widget(Factory.KLabel(text=self.tr("dossier.late"), color=(0.60, 0.11, 0.09, 1)))
        if d.get("procedure_name"):
            box.add_widget(Factory.KLabel(text=self.tr("dossier.procedure", name=d["procedure_name"])))
        box.add_widget(Factory.KLabel(text=self.tr("dossier.applicant", name=d.get("applicant", ""))))
        box.add_widget(Factory.KLabel(text=self.tr("dossier.received", date=_dmy(d.get("received_on")))))
        if d.get("due_on"):
            box.add_widget(Factory.KLabel(text=self.tr("dossier.due", date=_dmy(d["due_on"]))))
        if d.get("missing_documents"):
            box.add_widget(Factory.KLabel(text=self.tr("dossier.missing"), bold=True))
            for m in d["missing_documents"]:
                box.add_widget(Factory.KLabel(text=f"• {m}"))


def _dmy(iso: str | None) -> str:
    if not iso or len(iso) < 10:
        return iso or ""
    return f"{iso[8:10]}/{iso[5:7]}/{iso[0:4]}"
