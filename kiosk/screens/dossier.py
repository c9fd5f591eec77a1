"""Dossier lookup ("Tra cứu hồ sơ", issue 9): a receipt code, typed or scanned → state, due date,
what to do next, missing documents. Only the masked data of `centre.dossiers.PublicDossier` is
shown. A USB barcode scanner types like a keyboard: its characters and Enter are taken here."""

from __future__ import annotations

from kivy.core.window import Window
from kivy.factory import Factory
from kivy.metrics import dp

from kiosk.aloud import dmy as _dmy
from kiosk.aloud import dossier_counter
from kiosk.screens import KScreen
from kiosk.visit import Screen

#: the lookup's answers: the keyboard hides under them and a scan starts a new code
ANSWERED = ("found", "not_found", "failed", "ambiguous")


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
            if self.c.visit.dossier_state in ANSWERED:
                # a second receipt scanned under an answer: a new code, not more of the last one
                # (it was added to it: "…H40-261120-0009000.00.40.H40-…", not found)
                self.ids.keyboard.clear()
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
        kb = self.ids.keyboard
        if not v.dossier_code and kb.text:
            # a new lookup ("Tra cứu hồ sơ" again in the same visit): the keys typed for the last
            # code were kept and the next key was added to them ("H40-261120-0009H…", not found)
            kb.text = kb.buffer.clear()
        self.ids.code.text = v.dossier_code
        st = v.dossier_state
        answered = st in ANSWERED
        self._show_keyboard(not answered)
        box = self.ids.result
        box.clear_widgets()
        if st in ("searching", "not_found", "failed", "ambiguous"):
            box.add_widget(Factory.KLabel(text=self.tr(f"dossier.{st}"), bold=True))
        d = v.dossier
        if st == "found" and d:
            for w in self._result(d):
                box.add_widget(w)

    def _show_keyboard(self, shown: bool) -> None:
        ids = self.ids
        ids.keyboard.shown = shown
        for w, show in ((ids.find, shown), (ids.edit, not shown)):
            w.opacity, w.disabled = (1, False) if show else (0, True)
            w.width = dp(260 if w is ids.find else 300) if show else 0

    def _counter(self, d: dict) -> str:
        return dossier_counter(self.c, d)

    def _procedure_name(self, d: dict) -> str:
        """The procedure in the visitor's language; a Vietnamese-only name on an English page says so."""
        name = d["procedure_name"]
        if self.c.visit.lang != "en":
            return name
        en = d.get("procedure_name_en") or ""
        return en if en and en != name else f"{name} {self.tr('detail.vi_only')}"

    def _result(self, d: dict) -> list:
        L = Factory.KLabel
        out = [Factory.KTitle(text=self.tr(f"dossier.state_{d['state']}")),
               L(text=self.tr(f"dossier.next_{d['next_action']}", counter=self._counter(d)), bold=True)]
        if self.c.dossier_place() is not None:  # the way to that counter, as on the ticket
            guide = Factory.KButton(text=self.tr("detail.guide"), tag="dossier:guide", fill=(0.05, 0.40, 0.18, 1))
            guide.min_height = dp(110)
            guide.action = lambda: self.c.dossier_guide()  # the controller at tap time (the tap audit swaps it)
            out.append(guide)
        if d.get("late"):
            out.append(L(text=self.tr("dossier.late"), color=(0.60, 0.11, 0.09, 1)))
        if d.get("missing_documents"):
            out.append(L(text=self.tr("dossier.missing"), bold=True))
            out.extend(L(text=f"• {m}") for m in d["missing_documents"])
        out.append(L(text=self.tr("dossier.code", code=d.get("code", ""))))
        if d.get("procedure_name"):
            out.append(L(text=self.tr("dossier.procedure", name=self._procedure_name(d))))
        out.append(L(text=self.tr("dossier.applicant", name=d.get("applicant", ""))))
        out.append(L(text=self.tr("dossier.received", date=_dmy(d.get("received_on")))))
        if d.get("due_on"):
            out.append(L(text=self.tr("dossier.due", date=_dmy(d["due_on"]))))
        return out
