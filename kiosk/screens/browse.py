"""Browsing the catalogue: fields → procedures of a field → one procedure in detail."""

from __future__ import annotations

from kivy.factory import Factory
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.image import Image

from kiosk.screens import KScreen, row_size


class FieldsScreen(KScreen):
    def on_kv_post(self, base_widget):
        self.ids.list.bind(width=lambda *a: self.refresh("resize"))

    def refresh(self, topic):
        if topic not in ("fields", "lang", "reset", "screen", "resize"):
            return
        c = self.c
        self.ids.status.text = "" if c.fields else self.tr("fields.loading")
        width, fs = self.ids.list.width, self.app.fs(30)
        data = []
        for f in c.fields:
            name = f["name_en"] if c.visit.lang == "en" and f.get("name_en") else f["name"]
            count = self.tr("fields.count", count=f["count"])
            data.append({"text": f"[b]{name}[/b]\n[color=454d59]{count}[/color]",
                         "row_size": row_size([(name, fs), (count, fs)], width),
                         "key": f["id"], "tag": f"field:{f['id']}",
                         "action": (lambda fid=f["id"]: self.c.open_field(fid))})
        self.ids.list.data = data


class ProceduresScreen(KScreen):
    def on_kv_post(self, base_widget):
        self.ids.list.bind(width=lambda *a: self.refresh("resize"))

    def refresh(self, topic):
        if topic not in ("procedures", "lang", "reset", "screen", "resize"):
            return
        c = self.c
        v = c.visit
        fname = c.name_of(v.field_name) if v.field_name else ""
        self.ids.bar.title = self.tr("procedures.title", field=fname)
        if v.procedures or not v.field_id:
            self.ids.status.text = ""
        else:
            self.ids.status.text = self.tr("procedures.loading" if v.procedures_loading else "procedures.empty")
        data = []
        width, fs = self.ids.list.width, self.app.fs(30)
        for p in v.procedures:
            code_text = self.tr("detail.code", code=p["code"]) if p.get("code") else ""
            code = f"\n[color=454d59]{code_text}[/color]" if code_text else ""
            lines = [(c.name_of(p), fs)] + ([(code_text, fs)] if code_text else [])
            data.append({"text": f"[b]{c.name_of(p)}[/b]{code}", "key": p["key"], "tag": f"proc:{p['key']}",
                         "row_size": row_size(lines, width),
                         "action": (lambda k=p["key"]: self.c.open_procedure(k))})
        self.ids.list.data = data


class DocRow(Button):
    """A checklist line; `index` is the document's position, `checked` when ticked off."""

    checked = BooleanProperty(False)
    index = NumericProperty(0)


def _esc(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")


class DetailScreen(KScreen):
    """Documents (checklist), time limit, fee, legal basis, forms with QR, where to submit."""

    _built_for = None

    def refresh(self, topic):
        if topic in ("detail", "lang", "reset", "screen"):
            p = self.c.visit.procedure
            sig = (id(p), self.c.visit.lang, self.app.scale, self.app.portrait)
            if sig != self._built_for:
                self._built_for = sig
                self._build()
                self.ids.scroll.scroll_y = 1
        elif topic == "checklist":
            for row in self._rows:
                row.checked = row.index in self.c.visit.checked_docs

    def _label(self, text, *, muted=False, size=28, bold=False):
        w = Factory.KMuted() if muted else Factory.KLabel()
        w.text = text
        w.bold = bold
        w.font_size = self.app.fs(size)
        return w

    def _build(self):
        body = self.ids.body
        body.clear_widgets()
        self._rows = []
        c, p = self.c, self.c.visit.procedure
        if not p:
            return
        app = self.app
        title = Factory.KTitle(text=c.name_of(p))
        body.add_widget(title)
        if p.get("code"):
            body.add_widget(self._label(self.tr("detail.code", code=p["code"]), muted=True))
        field_name = p.get("field_name_en") if c.visit.lang == "en" and p.get("field_name_en") else p.get("field_name_vi")
        if field_name:
            body.add_widget(self._label(field_name, muted=True))

        # time and fee, side by side
        facts = BoxLayout(size_hint_y=None, spacing=dp(16))
        for key, part in (("detail.time", "processing"), ("detail.fee", "fee")):
            card = Factory.KCard()
            card.add_widget(self._label(self.tr(key), muted=True))
            card.add_widget(self._label(c.label_of(p, part) or self.tr("detail.unknown"), size=34, bold=True))
            facts.add_widget(card)
        facts.height = max(ch.height for ch in facts.children) if facts.children else 0
        for ch in facts.children:
            ch.bind(height=lambda *a, f=facts: setattr(f, "height", max(x.height for x in f.children)))
        body.add_widget(facts)
        fee_note = (p.get("fee") or {}).get("note")
        if fee_note and c.visit.lang == "vi":
            body.add_widget(self._label(fee_note, muted=True))

        # where to submit
        dest = p.get("destination") or {}
        if dest:
            body.add_widget(Factory.SectionTitle(text=self.tr("detail.where")))
            body.add_widget(self._label(self.tr("detail.where_line", counter=c.counter_names(dest),
                                                service=f"{dest.get('series', '')} – {c.service_name(dest.get('series', ''))}")))

        index = 0
        for group, key in (("submit", "detail.submit"), ("show", "detail.show")):
            docs = p.get(group) or []
            if not docs:
                continue
            body.add_widget(Factory.SectionTitle(text=self.tr(key)))
            if group == "submit":
                body.add_widget(self._label(self.tr("detail.checklist_hint"), muted=True))
            for d in docs:
                counts = []
                if d.get("originals"):
                    counts.append(self.tr("detail.originals", n=d["originals"]))
                if d.get("copies"):
                    counts.append(self.tr("detail.copies", n=d["copies"]))
                text = _esc(d.get("text", "").lstrip("-–+• ").strip())
                if counts:
                    text += f"\n[color=454d59]{', '.join(counts)}[/color]"
                row = DocRow(text=text, index=index, checked=index in c.visit.checked_docs)
                row.bind(on_release=lambda r: self.c.toggle_doc(r.index))
                self._rows.append(row)
                body.add_widget(row)
                index += 1

        forms = p.get("forms") or []
        if forms:
            body.add_widget(Factory.SectionTitle(text=self.tr("detail.forms")))
            body.add_widget(self._label(self.tr("detail.form_scan"), muted=True))
            for f in forms:
                line = BoxLayout(size_hint_y=None, height=dp(200), spacing=dp(16))
                if f.get("qr"):
                    line.add_widget(Image(source=f["qr"], size_hint=(None, None), size=(dp(190), dp(190)),
                                          fit_mode="contain"))
                line.add_widget(self._label(_esc(f.get("name") or f.get("file") or "")))
                body.add_widget(line)

        legal = p.get("legal") or []
        if legal:
            body.add_widget(Factory.SectionTitle(text=self.tr("detail.legal")))
            for x in legal[:12]:
                if isinstance(x, dict):
                    text = f"{x.get('number', '')} — {x.get('title', '')}".strip(" —")
                else:
                    text = str(x)
                body.add_widget(self._label(_esc(text), size=28, muted=True))
        _ = app
