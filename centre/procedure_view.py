"""THE procedure as a citizen reads it: one view model for the kiosk's detail page, the read-aloud
summary, `kiosk catalogue show` and the phone page (QR on the kiosk → the staff server).

The catalogue keeps the portal's wording; a citizen needs four answers first:
- what to bring: the documents everyone needs, then the ones needed only in some cases
  ("Nếu…" groups, shown collapsed), then what to show (not hand in);
- what it costs: an amount, "Miễn phí", or the province's amount from the centre's fee table
  (`data/fees.yaml`, with the resolution it comes from) — never the legal sentence;
- how long: in working days;
- where: the counter (the kiosk adds it) and whether it can be done online.
The legal basis comes last and collapsed. Texts that exist only in Vietnamese are marked so
an English page can label them "(tiếng Việt)".

    v = view(procedure, "vi", fees=FeeTable.load(path))
    v.everyone, v.conditional, v.fee, v.time, v.online, v.aloud, v.summary_lines()
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from centre.aloud import MAX_WORDS, procedure_summary
from centre.catalogue import Procedure, _conditional
from centre.text import fold

#: reading width of the summary card, in characters (a kiosk line at normal text size)
CARD_CHARS = 60
#: lines of the summary card (issue 14: ≤ 12 before "what to bring" is answered)
SUMMARY_BUDGET = 12
#: the read-aloud summary is written for listening: at most this many words (centre.aloud's rule)
ALOUD_WORDS = MAX_WORDS

WORDS = {
    "vi": {"free": "Miễn phí", "ask": "Theo mức của tỉnh, xin hỏi cán bộ tại quầy", "unknown": "Xin hỏi cán bộ",
           "currency": "{n} đồng", "if": "Nếu {cond}", "other": "Trường hợp khác", "online_case": "Nếu nộp trực tuyến",
           "aloud": "{name}. Cần mang: {docs}. Thời hạn: {time}. Lệ phí: {fee}.",
           "more_cases": "và giấy tờ khác tùy trường hợp"},
    "en": {"free": "Free", "ask": "Set by the province; please ask at the counter", "unknown": "Please ask at the counter",
           "currency": "{n} VND", "if": "Case (in Vietnamese): {cond}", "other": "Other cases", "online_case": "If you apply online"},
}

_COND_LEAD = re.compile(r"^\s*(?:[-–+•*]\s*)?(?:\d+[.)]\s*)?(?:đối với |riêng )?(?:trường hợp|nếu)\s*", re.I)
_E_FORM = ("dien tu", "truc tuyen", "e-form", "online")
#: a "document" that is an interactive e-form filled on the public-service portal (online only)
_E_DOC = ("dien tu tuong tac", "bieu mau dien tu", "mau dien tu")
ONLINE = "\x00online"


@dataclass(frozen=True)
class DocItem:
    """One document: its text, copies and originals, and its index in the checklist."""

    index: int
    text: str
    originals: int = 0
    copies: int = 0


@dataclass(frozen=True)
class DocGroup:
    """Documents needed only in one case: 'Nếu <case>' and the documents."""

    title: str
    items: list[DocItem]


@dataclass(frozen=True)
class ProcedureView:
    key: str
    code: str
    lang: str
    name: str
    field_name: str
    name_vi_only: bool
    everyone: list[DocItem]
    conditional: list[DocGroup]
    show: list[DocItem]
    fee: str
    fee_source: str           # the resolution of the fee table's amount, or ""
    fee_is_sentence: bool     # True only when the page still shows the portal's legal sentence
    fee_note: str             # the portal's fee sentence (shown collapsed with the legal basis)
    time: str
    online: bool
    agency: str
    legal: list[str]
    forms: list[dict]
    aloud: str
    docs_vi_only: bool        # documents are shown in Vietnamese on an English page
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["card"] = self.card()
        d["summary_lines"] = d["card"]["lines"]
        return d

    def card(self, chars: int = CARD_CHARS, budget: int = SUMMARY_BUDGET) -> dict[str, Any]:
        """The summary card: at most `budget` lines of `chars` characters before 'what to bring'
        is answered — the name (2 lines at most), fee and time, where, then one short line per
        document everyone needs and one line for the 'Nếu…' cases. When the documents do not fit,
        the last line says how many more the full list below holds (`more`)."""
        name = _short(self.name, 2 * chars)
        used = _lines(name, chars) + 3  # name; fee · time; where; "what to bring"
        extra = (1 if self.conditional else 0) + (1 if self.show else 0)
        room = max(1, budget - used - extra)
        docs = [_short(d.text, chars) for d in self.everyone]
        more = 0
        if len(docs) > room:
            more = len(docs) - (room - 1)
            docs = docs[:room - 1]
        lines = used + len(docs) + (1 if more else 0) + extra
        return {"name": name, "docs": docs, "more": more, "cases": len(self.conditional),
                "show": len(self.show), "lines": lines, "complete": more == 0}

    def summary_lines(self) -> int:
        """Lines a citizen reads before 'what to bring' is answered (the summary card's lines)."""
        return self.card()["lines"]


def _lines(text: str, chars: int) -> int:
    return max(1, -(-len(text) // chars))


def _short(text: str, limit: int) -> str:
    """The first clause of `text`, cut to `limit` characters at a word, with '…' when cut."""
    first = re.split(r"(?<=[;:])\s|\s\(", text, maxsplit=1)[0].strip(" ;:.")
    if len(first) <= limit:
        return first
    return first[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


class FeeTable:
    """The centre's fee table: procedure key or national code → amount (VND) and the resolution."""

    _cache: dict[str, tuple[tuple, FeeTable]] = {}
    _lock = threading.Lock()

    def __init__(self, entries: dict[str, dict] | None = None):
        self.entries = {str(k): v for k, v in (entries or {}).items()}

    @classmethod
    def load(cls, path: Path | str) -> FeeTable:
        import yaml

        p = Path(path)
        if not p.exists():
            return cls()
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        return cls(data.get("fees") or {})

    @classmethod
    def cached(cls, cfg) -> FeeTable:
        """data/fees.yaml next to the catalogue, re-read when the file changes."""
        path = cfg.path("data/fees.yaml")
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            return cls()
        with cls._lock:
            hit = cls._cache.get(str(path))
            if hit is None or hit[0] != stamp:
                hit = (stamp, cls.load(path))
                cls._cache[str(path)] = hit
            return hit[1]

    def get(self, p: Procedure) -> dict | None:
        for k in (p.key, p.code):
            if k and k in self.entries and self.entries[k].get("amount") is not None:
                return self.entries[k]
        return None


def money(amount: int, lang: str) -> str:
    n = f"{int(amount):,}".replace(",", ".")
    return WORDS[lang]["currency"].format(n=n)


def fee_text(p: Procedure, lang: str, fees: FeeTable | None) -> tuple[str, str, bool]:
    """(what the page says about the fee, the resolution it comes from, still a legal sentence?)."""
    w = WORDS[lang]
    if p.fee.amount == 0:
        return w["free"], "", False
    if p.fee.amount is not None:
        return money(p.fee.amount, lang), "", False
    entry = fees.get(p) if fees else None
    if entry is not None:
        amount = int(entry["amount"])
        return (w["free"] if amount == 0 else money(amount, lang)), str(entry.get("resolution", "")), False
    if fold(p.fee.text).startswith(("mien phi", "mien le phi", "khong")):
        return w["free"], "", False
    if p.fee.note or p.fee.text:
        return w["ask"], "", False
    return w["unknown"], "", False


_IN_CASE = re.compile(r"\btrong (?:các )?trường hợp\s+", re.I)


def _condition(text: str) -> str:
    """'Trường hợp người yêu cầu là…, thì…' → 'người yêu cầu là…'; 'Văn bản ủy quyền … trong trường
    hợp ủy quyền thực hiện…' → 'ủy quyền thực hiện…' (the case, short)."""
    first = re.split(r"[.;:]", text, maxsplit=1)[0]
    m = _IN_CASE.search(first)
    body = first[m.end():] if m and not _COND_LEAD.match(text) else _COND_LEAD.sub("", text.strip(), count=1)
    cut = re.split(r",|:|;| thì | phải | cần ", body, maxsplit=1)[0].strip(" .")
    if len(cut) > 70:
        cut = cut[:70].rsplit(" ", 1)[0] + "…"
    return cut[:1].lower() + cut[1:] if cut else ""


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", (text or "").lstrip("-–+•* ").strip())


def documents(p: Procedure, lang: str) -> tuple[list[DocItem], list[DocGroup], list[DocItem]]:
    """(everyone needs, 'Nếu…' groups, to show) — indices run over all three, for the checklist."""
    everyone: list[DocItem] = []
    groups: dict[str, list[DocItem]] = {}
    show: list[DocItem] = []
    for i, d in enumerate(p.documents):
        item = DocItem(i, _clean(d.text), d.originals, d.copies)
        if not item.text:
            continue
        if d.group == "show":
            show.append(item)
        elif any(k in fold(item.text) for k in _E_DOC):
            groups.setdefault(ONLINE, []).append(item)
        elif d.heading and _conditional(d.heading):
            groups.setdefault(_condition(d.heading), []).append(item)
        elif _conditional(d.text):
            groups.setdefault(_condition(d.text), []).append(item)
        else:
            everyone.append(item)
    w = WORDS[lang]
    def title(c: str) -> str:
        return w["online_case"] if c == ONLINE else w["if"].format(cond=c) if c else w["other"]

    online_last = sorted(groups.items(), key=lambda kv: kv[0] == ONLINE)
    conditional = [DocGroup(title(c), items) for c, items in online_last]
    return everyone, conditional, show


def _online(p: Procedure) -> bool:
    return any("truc tuyen" in fold(str(s.get("channel", ""))) for s in p.submission if isinstance(s, dict)) or \
        any("truc tuyen" in fold(str(c.get("channel", ""))) for c in p.processing.channels if isinstance(c, dict))


def _forms(p: Procedure) -> list[dict]:
    """Paper forms first; an e-form filled online only comes last."""
    forms = [f for f in p.forms if isinstance(f, dict)]
    return sorted(forms, key=lambda f: any(k in fold(str(f.get("name", ""))) for k in _E_FORM))


def _legal(p: Procedure) -> list[str]:
    out = []
    for x in p.legal_basis:
        if isinstance(x, dict):
            out.append(f"{x.get('number', '')} — {x.get('title', '')}".strip(" —"))
        elif x:
            out.append(str(x))
    return out


def view(p: Procedure, lang: str = "vi", *, fees: FeeTable | None = None, online: str = "") -> ProcedureView:
    """The citizen's view of procedure `p` in `lang` (vi or en)."""
    lang = lang if lang in WORDS else "vi"
    everyone, conditional, show = documents(p, lang)
    fee, source, sentence = fee_text(p, lang, fees)
    time = p.processing.label(lang)
    name = p.display_name(lang)
    field_name = p.field_name_en if lang == "en" and p.field_name_en else p.field_name_vi
    return ProcedureView(
        key=p.key, code=p.code, lang=lang, name=name, field_name=field_name,
        name_vi_only=lang == "en" and not p.name_en, everyone=everyone, conditional=conditional, show=show,
        fee=fee, fee_source=source, fee_is_sentence=sentence, fee_note=p.fee.note or "",
        time=time, online=_online(p), agency=p.agency, legal=_legal(p), forms=_forms(p),
        aloud=procedure_summary(p, None, lang, fee=fee, documents=[d.text for d in everyone], more=bool(conditional)), docs_vi_only=lang == "en", notes=list(p.notes or []),
    )


TEXT_LABELS = {
    "vi": {"fee": "Lệ phí", "time": "Thời hạn giải quyết", "where": "Nộp tại", "online": "cũng có thể nộp trực tuyến",
           "bring": "Cần mang theo", "submit": "Giấy tờ phải nộp", "show": "Giấy tờ phải xuất trình",
           "forms": "Mẫu đơn, tờ khai", "legal": "Căn cứ pháp lý", "code": "Mã thủ tục", "originals": "bản chính",
           "copies": "bản sao", "more": "và {n} giấy tờ khác (danh sách đầy đủ bên dưới)", "source": "Theo"},
    "en": {"fee": "Fee", "time": "Time limit", "where": "Submit at", "online": "can also be done online",
           "bring": "What to bring", "submit": "Documents to submit (in Vietnamese)",
           "show": "Documents to show (in Vietnamese)", "forms": "Forms", "legal": "Legal basis (in Vietnamese)",
           "code": "Procedure code", "originals": "originals", "copies": "copies",
           "more": "and {n} more documents (full list below)", "source": "Source"},
}


def _wrapped(text: str, indent: str, width: int = 100) -> str:
    import textwrap

    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ")


def _doc_text(d: DocItem, lab: dict) -> str:
    counts = [f"{lab['originals']}: {d.originals}"] if d.originals else []
    counts += [f"{lab['copies']}: {d.copies}"] if d.copies else []
    return f"- {d.text}" + (f" ({', '.join(counts)})" if counts else "")


def render_text(v: ProcedureView, where: str = "") -> str:
    """The view as plain text (`kiosk catalogue show`): the summary first, then every document,
    the forms, and the legal basis last — the order of the kiosk's detail page."""
    lab = TEXT_LABELS[v.lang]
    card = v.card()
    out = [v.name, f"  {lab['fee']}: {v.fee}" + (f" ({lab['source']}: {v.fee_source})" if v.fee_source else ""),
           f"  {lab['time']}: {v.time}"]
    if where or v.online:
        out.append(f"  {lab['where']}: {where}" + (f" · {lab['online']}" if v.online else ""))
    out.append(f"  {lab['bring']}:")
    out += [f"    • {d}" for d in card["docs"]] + ([f"    {lab['more'].format(n=card['more'])}"] if card["more"] else [])
    out.append(f"  {lab['submit']}:")
    out += [_wrapped(_doc_text(d, lab), "    ") for d in v.everyone]
    for g in v.conditional:
        out.append(f"    {g.title}:")
        out += [_wrapped(_doc_text(d, lab), "      ") for d in g.items]
    if v.show:
        out.append(f"  {lab['show']}:")
        out += [_wrapped(_doc_text(d, lab), "    ") for d in v.show]
    if v.forms:
        out.append(f"  {lab['forms']}:")
        out += [f"    - {f.get('name', '')}" + (f" [{f['file']}]" if f.get("file") else "") for f in v.forms]
    if v.legal or v.fee_note:
        out.append(f"  {lab['legal']}:")
        out += [_wrapped(f"- {x}", "    ") for x in ([v.fee_note] if v.fee_note else []) + v.legal]
    if v.code:
        out.append(f"  {lab['code']}: {v.code}")
    return "\n".join(out)
