"""Browsing the catalogue: fields → procedures of a field → one procedure in detail."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.factory import Factory
from kivy.graphics import Color, RoundedRectangle
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button

from kiosk.screens import KScreen, text_row_size
from kiosk.widgets.common import TightText


class ListScreen(KScreen):
    """A screen with a list (`ids.list`) whose rows are sized for its width."""

    topics: tuple[str, ...] = ()

    def on_kv_post(self, base_widget):
        self.ids.list.bind(width=lambda *a: self.refresh("resize"))

    def refresh(self, topic):
        if topic in self.topics or topic in ("lang", "screen", "resize"):
            self.ids.list.data = self.rows()

    def rows(self) -> list[dict]:
        return []


class FieldsScreen(ListScreen):
    topics = ("fields",)

    def rows(self):
        c = self.c
        self.ids.status.text = "" if c.fields else self.tr("fields.loading")
        width, fs = self.ids.list.width, self.app.fs(30)
        data = []
        for f in c.fields:
            name = f["name_en"] if c.visit.lang == "en" and f.get("name_en") else f["name"]
            count = self.tr("fields.count", count=f["count"])
            text = f"[b]{name}[/b]\n[color=454d59]{count}[/color]"
            data.append({"text": text, "row_size": text_row_size(text, fs, width, [(name, fs), (count, fs)]),
                         "font_size": fs,
                         "key": f["id"], "tag": f"field:{f['id']}",
                         "action": (lambda fid=f["id"]: self.c.open_field(fid))})
        return data


class ProceduresScreen(ListScreen):
    topics = ("procedures",)

    def rows(self):
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
        small = int(self.app.fs(22))
        for p in v.procedures:
            code_text = self.tr("procedures.code", code=p["code"]) if p.get("code") else ""
            code = f"  [size={small}][color=454d59]{code_text}[/color][/size]" if code_text else ""
            lines = [(c.name_of(p) + "  " + code_text, fs)]
            text = f"[b]{c.name_of(p)}[/b]{code}"
            data.append({"text": text, "key": p["key"], "tag": f"proc:{p['key']}",
                         "row_size": text_row_size(text, fs, width, lines), "font_size": fs,
                         "action": (lambda k=p["key"]: self.c.open_procedure(k))})
        return data


class DocRow(TightText, Button):
    """A checklist line; `index` is the document's position, `checked` when ticked off."""

    checked = BooleanProperty(False)
    index = NumericProperty(0)


class GroupHeader(TightText, Button):
    """The header of a collapsed group: tap to open or close it (`group` names it)."""

    group = StringProperty("")
    tag = StringProperty("")


def _esc(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")


MUTED = "454d59"
ASKED_BG = (1.0, 0.93, 0.70, 1)  # C_WARN_BG: its text, primary and muted colours all ≥ 7:1 on it


#: a group's header tapped lower than this part of the view rises to it once the group opens
GROUP_TOP = 0.25


class DetailScreen(KScreen):
    """The summary card (what to bring, fee, time, where, QR to the phone page), the checklist with
    the "Nếu…" cases collapsed, forms, and the legal basis collapsed at the bottom."""

    _built_for = None

    def on_kv_post(self, base_widget):
        self._rows: list[DocRow] = []
        self._anchors: dict = {}
        # One scroll to the section asked about, once the page is laid out: a single trigger
        # (calls within a frame are one), fired again only while the page's height or the
        # section's place in it still change (row heights follow their texts a frame or more
        # later; the rows are placed after that) and until the visitor touches the page. It was
        # two blind timers (0 and 0.15 s) per build — four on a language change — both often in
        # the same slow frame, each a redraw of the whole page, the second snapping back a page
        # the visitor had begun to scroll.
        self._scroll_trigger = Clock.create_trigger(lambda dt: self._scroll_to_section(), 0)
        self._following = False
        # a group opened or closed by touch: (its name, its header's distance from the view's top)
        # kept while the rebuilt page settles, until the visitor touches it (the page kept its
        # scroll fraction, so a longer page moved: "▸ Căn cứ pháp lý" tapped near the bottom was
        # 640 px above the view once open, the citizen shown the middle of the list)
        self._keep: tuple[str, float] | None = None
        self._keep_trigger = Clock.create_trigger(lambda dt: self._keep_group_in_place(), 0)
        self.ids.body.bind(height=self._body_resized)
        self.ids.scroll.bind(on_scroll_start=self._visitor_scrolls)

    def _body_resized(self, *_):
        if self._following:
            self._scroll_trigger()
        elif self._keep is not None:
            self._keep_trigger()

    def _visitor_scrolls(self, *_):
        self._following = False  # the visitor's own scrolling is never undone
        self._scroll_trigger.cancel()
        self._keep = None
        self._keep_trigger.cancel()

    def _header_from_view_top(self, name: str) -> float | None:
        """How far (px) the header of group `name` is below the top of the page's view."""
        head = next((w for w in self.ids.body.walk(restrict=True) if getattr(w, "tag", "") == f"detail:group:{name}"),
                    None)
        if head is None:
            return None
        scroll = self.ids.scroll
        return scroll.to_window(scroll.x, scroll.top)[1] - head.to_window(head.x, head.top)[1]

    def _keep_group_in_place(self) -> None:
        """The group just opened or closed keeps its header where it was tapped (or, tapped in the
        lower part of the view, at GROUP_TOP of it, so what opened shows under it)."""
        if self._keep is None:
            return
        name, was = self._keep
        now = self._header_from_view_top(name)
        scroll, body = self.ids.scroll, self.ids.body
        room = body.height - scroll.height
        if now is None or room <= 0:
            return
        want = min(was, scroll.height * GROUP_TOP)
        view_top = (1 - scroll.scroll_y) * room + (now - want)  # the view's top, px below the page's top
        self._set_scroll(min(1.0, max(0.0, 1 - view_top / room)))

    def refresh(self, topic):
        if topic in ("detail", "lang", "reset", "screen", "detail_groups"):
            v = self.c.visit
            sig = (id(v.procedure), v.lang, self.app.scale, self.app.portrait, tuple(sorted(v.open_groups)))
            if sig != self._built_for:
                first = self._built_for is None or self._built_for[0] != sig[0]
                toggled = set(self._built_for[4]) ^ set(sig[4]) if topic == "detail_groups" and not first else set()
                was = self._header_from_view_top(next(iter(toggled))) if len(toggled) == 1 else None
                self._built_for = sig
                self._build()
                self._following = bool(v.procedure) and (first or topic != "detail_groups")
                self._keep = (next(iter(toggled)), was) if was is not None else None
                if self._keep is not None:
                    self._keep_trigger()
                if self._following:
                    target = self._anchors.get(v.section)
                    if target is not None:
                        target.bind(y=self._body_resized)
                    self._scroll_trigger()
        elif topic == "checklist":
            for row in self._rows:
                row.checked = row.index in self.c.visit.checked_docs

    def _scroll_to_section(self):
        self._set_scroll(self._section_scroll_y())

    def _set_scroll(self, y: float) -> None:
        """Put the page at `y`, its scroll effect too: the effect kept the previous page's place
        (the page before, or where the visitor left it) and moved the new page back there at its
        next step, a frame later — to its top instead of the section asked about."""
        scroll = self.ids.scroll
        scroll.scroll_y = y
        effect = scroll.effect_y
        scrollable = scroll.height - self.ids.body.height  # < 0 when the page is longer than the view
        if effect is not None and scrollable < 0:
            effect.velocity = 0
            effect.value = scrollable * y  # as the ScrollView's own bounds update sets it
            effect.overscroll = 0

    def _section_scroll_y(self) -> float:
        scroll = self.ids.scroll
        target = self._anchors.get(self.c.visit.section)
        body = self.ids.body
        room = body.height - scroll.height
        if target is None or room <= 0:
            return 1.0
        # the section's top at the top of the view (scroll_to only brought it somewhere into view:
        # "what documents?" opened with the list's title at the bottom of the screen)
        top = target.to_window(target.x, target.top)[1] - body.to_window(body.x, body.y)[1]
        if body.height - top + target.height <= scroll.height / 2:
            return 1.0  # in the upper half of the first view (fee, time, where): keep the name in sight
        return min(1.0, max(0.0, (top + dp(16) - scroll.height) / room))

    @staticmethod
    def _make(cls: str, **props):
        """A widget of a kv class with its properties set (kv dynamic classes take none in __init__)."""
        w = getattr(Factory, cls)()
        for k, val in props.items():
            setattr(w, k, val)
        return w

    def _label(self, text, cls="KLabel", **kw):
        return self._make(cls, text=text, **kw)

    def _build(self):
        body = self.ids.body
        body.clear_widgets()
        self._rows, self._anchors = [], {}
        p = self.c.visit.procedure
        if not p:
            return
        body.add_widget(self._summary(p))
        self._checklist(body, p)
        self._forms(body, p)
        self._legal(body, p)
        asked = self._anchors.get(self.c.visit.section)
        if asked is not None and hasattr(asked, "text"):
            self._mark_asked(asked, self.c.visit.section)

    def _mark_asked(self, w, section: str) -> None:
        """Highlight the section the visitor's question asked about (search `Hit.answers`) and say so."""
        w.asked, w.section, w.markup = True, section, True
        w.text += f"\n[size={int(self.app.fs(26))}][color={MUTED}]{_esc(self.tr('detail.asked'))}[/color][/size]"
        with w.canvas.before:
            Color(*ASKED_BG)
            bg = RoundedRectangle(radius=[dp(10)])

        def place(*_):
            bg.pos, bg.size = (w.x - dp(8), w.y), (w.width + dp(16), w.height)

        w.bind(pos=place, size=place)
        place()

    def _summary(self, p):
        c, card = self.c, Factory.SummaryCard()
        top = BoxLayout(size_hint_y=None, spacing=dp(16))
        left = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(6))
        left.bind(minimum_height=left.setter("height"))
        left.add_widget(self._label(_esc(p["card"]["name"]), "KTitle"))
        if p.get("name_vi_only"):
            left.add_widget(self._label(self.tr("detail.vi_only"), "KMuted"))
        fee = self._label(self._fee_line(p), "SummaryLine")
        time = self._label(self.tr("detail.time_line", time=_esc(p["time"])), "SummaryLine")
        where = self._label(self._where_line(p), "SummaryLine")
        for w in (fee, time, where):
            left.add_widget(w)
        self._anchors.update(fee=fee, time=time, place=where, applicants=card)
        top.add_widget(left)
        if p.get("phone_qr"):
            top.add_widget(self._make("PhoneQR", source=p["phone_qr"]))
        top.bind(minimum_height=lambda *a: setattr(top, "height", max(left.height, dp(280) if p.get("phone_qr") else 0)))
        left.bind(height=lambda *a: setattr(top, "height", max(left.height, dp(280) if p.get("phone_qr") else 0)))
        card.add_widget(top)
        card.add_widget(self._label(self.tr("detail.bring"), "SectionTitle"))
        docs = p["card"]["docs"]
        for d in docs:
            card.add_widget(self._label("• " + _esc(d), "DocLine"))
        if p["card"]["more"]:
            card.add_widget(self._label(self.tr("detail.more_docs", n=p["card"]["more"]), "CardNote"))
        if not docs and not p["card"]["more"]:
            card.add_widget(self._label(self.tr("detail.no_docs"), "DocLine"))
        if p["card"]["cases"]:
            card.add_widget(self._label(self.tr("detail.cases", n=p["card"]["cases"]), "CardNote"))
        if p["card"]["show"]:
            card.add_widget(self._label(self.tr("detail.show_too", n=p["card"]["show"]), "CardNote"))
        if p.get("docs_vi_only"):
            card.add_widget(self._label(self.tr("detail.docs_vi_only"), "KMuted"))
        _ = c
        return card

    def _fee_line(self, p) -> str:
        line = self.tr("detail.fee_line", fee=_esc(p["fee"]))
        if p.get("fee_source"):
            line += f"\n[size={int(self.app.fs(24))}][color={MUTED}]{_esc(p['fee_source'])}[/color][/size]"
        return line

    def _where_line(self, p) -> str:
        c = self.c
        dest = p.get("destination") or {}
        counter = c.counter_names(dest) if dest else self.tr("dossier.counter_any")
        line = self.tr("detail.where_line", counter=counter, service=c.service_name(dest.get("series", "")))
        if p.get("online"):
            line += " · " + self.tr("detail.online")
        return line

    def _doc_row(self, d: dict) -> DocRow:
        counts = []
        if d.get("originals"):
            counts.append(self.tr("detail.originals", n=d["originals"]))
        if d.get("copies"):
            counts.append(self.tr("detail.copies", n=d["copies"]))
        text = _esc(d["text"])
        if counts:
            text += f"\n[color={MUTED}]{', '.join(counts)}[/color]"
        row = DocRow(text=text, index=d["index"], checked=d["index"] in self.c.visit.checked_docs)
        row.bind(on_release=lambda r: self.c.toggle_doc(r.index))
        self._rows.append(row)
        return row

    def _group(self, body, name: str, title: str, rows) -> None:
        is_open = name in self.c.visit.open_groups
        head = GroupHeader(group=name, tag=f"detail:group:{name}", text=("▾ " if is_open else "▸ ") + _esc(title))
        head.bind(on_release=lambda h: self.c.toggle_group(h.group))
        body.add_widget(head)
        if is_open:
            for w in rows():
                body.add_widget(w)

    def _checklist(self, body, p):
        title = Factory.SectionTitle(text=self.tr("detail.submit"))
        self._anchors["documents"] = title
        body.add_widget(title)
        body.add_widget(self._label(self.tr("detail.checklist_hint"), "KMuted"))
        for d in p["everyone"]:
            body.add_widget(self._doc_row(d))
        for i, g in enumerate(p["conditional"]):
            self._group(body, f"case{i}", g["title"], lambda g=g: [self._doc_row(d) for d in g["items"]])
        if p["show"]:
            body.add_widget(Factory.SectionTitle(text=self.tr("detail.show")))
            for d in p["show"]:
                body.add_widget(self._doc_row(d))

    def _forms(self, body, p):
        forms = p.get("forms") or []
        if not forms:
            return
        body.add_widget(Factory.SectionTitle(text=self.tr("detail.forms")))
        body.add_widget(self._label(self.tr("detail.form_scan"), "KMuted"))
        for f in forms:
            body.add_widget(self._make("FormLine", qr=f.get("qr", ""), text=_esc(f.get("name") or f.get("file") or "")))

    def _legal(self, body, p):
        legal = list(p.get("legal") or [])
        if p.get("fee_note"):
            legal.insert(0, self.tr("detail.fee_note", note=p["fee_note"]))
        if not legal:
            return
        self._group(body, "legal", self.tr("detail.legal"),
                    lambda: [self._label(_esc(x), "KMuted") for x in legal[:15]])
