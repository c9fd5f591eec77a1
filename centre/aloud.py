"""What the kiosk says aloud, written for listening (pure: text in, text out).

The screen shows a procedure's full legal text; read aloud, that is ~240 words nobody can
follow. `procedure_summary(proc, cfg, lang)` says instead, in at most `MAX_WORDS` (60) words:
the procedure's name, the documents everyone needs (at most three, each by its short name;
documents needed only in some cases — "Trường hợp…", "Nếu…", "… trong trường hợp …" — are
summarised as "và giấy tờ khác tùy trường hợp"), how long it takes, how much it costs and
which counter receives it. In English the Vietnamese document names are not read (the
English voice cannot say them): the summary points to the screen instead.

`for_listening(text, lang)` turns text into words a synthesiser reads well: ticket numbers
("A012" → "A không một hai" or "A mười hai" per `speech.read_ticket_as`), then, for
Vietnamese, vietnormalizer 0.2.3 (numbers, dates "15/3", times "7h30", money "10.000 đồng")
after expanding the abbreviations of the catalogue (BHXH, BHYT, CCCD, UBND…). The kiosk's
speech, the hall display's calls and `kiosk voice say` all go through it.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from centre.text import fold

MAX_WORDS = 60
MAX_DOCUMENTS = 3
OTHERS_VI = "và giấy tờ khác tùy trường hợp"
_CONDITIONAL = ("truong hop", "neu ", "doi voi ", "rieng ", "ngoai ra")
_HEADING_OK = ("giay to phai", "ho so", "thanh phan")
ABBREVIATIONS = {
    "BHXH": "bảo hiểm xã hội", "BHYT": "bảo hiểm y tế", "BHTN": "bảo hiểm thất nghiệp",
    "CCCD": "căn cước công dân", "CMND": "chứng minh nhân dân", "UBND": "Ủy ban nhân dân",
    "HĐND": "Hội đồng nhân dân", "TNLĐ": "tai nạn lao động", "BNN": "bệnh nghề nghiệp",
    "KCB": "khám chữa bệnh", "THCS": "trung học cơ sở", "VNeID": "vê en ê ai đi",
}
_TICKET_RE = re.compile(r"\b([A-Z])[- ]?(\d{3})\b")


def words(text: str) -> int:
    """Number of words in `text`."""
    return len(text.split())


def spoken_words(text: str, lang: str = "vi") -> int:
    """Number of words a listener hears (numbers said in words: "15" is two)."""
    if lang == "vi":
        return words(for_listening(text, lang))
    return words(text) + sum(max(0, len(m.group(0).replace(".", "")) - 2) for m in re.finditer(r"\d[\d.]*", text))


# -- normalising for the synthesiser ------------------------------------------------------------

_normalizer = None
_normalizer_lock = threading.Lock()


def _vi_normalizer():
    global _normalizer
    with _normalizer_lock:
        if _normalizer is None:
            from vietnormalizer import VietnameseNormalizer

            _normalizer = VietnameseNormalizer()
        return _normalizer


def for_listening(text: str, lang: str = "vi", read_ticket_as: str = "digits") -> str:
    """`text` as words a synthesiser reads well (see the module docstring)."""
    text = _TICKET_RE.sub(lambda m: _ticket(m.group(1), m.group(2), lang, read_ticket_as), text)
    if lang != "vi":
        return _en_numbers(text)
    for short, long in ABBREVIATIONS.items():
        text = re.sub(rf"\b{re.escape(short)}\b", long, text)
    try:
        return _vi_normalizer().normalize(text)
    except Exception:  # a normaliser bug must not silence the kiosk: numbers digit by digit instead
        return re.sub(r"\d", lambda m: " " + _VI_DIGITS[int(m.group(0))] + " ", text)


_VI_DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]
_EN_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _ticket(letter: str, digits: str, lang: str, read_as: str) -> str:
    if read_as == "number":
        n = int(digits)
        spoken = _vi_number(n) if lang == "vi" else str(n)
    else:
        names = _VI_DIGITS if lang == "vi" else _EN_DIGITS
        spoken = " ".join(names[int(d)] for d in digits)
    return f"{letter} {spoken}"


@lru_cache(maxsize=1024)
def _vi_number(n: int) -> str:
    return _vi_normalizer().normalize(str(n))


def _en_numbers(text: str) -> str:
    """English: thousands separators of VND amounts removed ("10.000" → "10000") for espeak."""
    return re.sub(r"\b(\d{1,3})(?:\.(\d{3}))+\b", lambda m: m.group(0).replace(".", ""), text)


# -- the procedure summary -------------------------------------------------------------------------

def conditional(text: str) -> bool:
    """A document or heading needed only in some cases."""
    f = fold(text).lstrip("-+•*. ")
    first_clause = re.split(r"[.;:]", f, maxsplit=1)[0]
    return f.startswith(_CONDITIONAL) or "trong truong hop" in first_clause or "(neu co)" in first_clause


def short_document(text: str, max_words: int = 9) -> str:
    """A document's short name: 'Tờ khai đăng ký khai sinh theo mẫu (…)' → 'Tờ khai đăng ký khai sinh'."""
    t = re.sub(r"\([^)]*\)", " ", text)
    t = re.split(r"[;:.,/]| theo | do | được | của | có | cấp cho | trong đó | kèm ", t, maxsplit=1)[0]
    t = re.sub(r"^\s*[-+•*\d.)]+\s*", "", t)
    out = t.split()[:max_words]
    return " ".join(out).strip()


def _everyone_documents(proc) -> tuple[list[str], bool]:
    """(short names of documents everyone brings, whether other documents exist)."""
    texts: list[str] = []
    others = False
    for d in list(proc.to_submit) + list(proc.to_show):
        heading = fold(d.heading or "")
        if (heading and not heading.startswith(_HEADING_OK) and conditional(d.heading)) or conditional(d.text):
            others = True
        else:
            texts.append(d.text)
    names, overflow = _short_names(texts)
    return names, others or overflow


def _short_names(texts: list[str]) -> tuple[list[str], bool]:
    """(the first MAX_DOCUMENTS distinct short names, whether more were left out)."""
    names: list[str] = []
    overflow = False
    for text in texts:
        name = _identity(text) or short_document(text)
        if not name or fold(name) in {fold(n) for n in names}:
            continue
        if len(names) < MAX_DOCUMENTS:
            names.append(name)
        else:
            overflow = True
    return names, overflow


def _identity(text: str) -> str:
    """Identity papers are listed as 'Hộ chiếu/Thẻ căn cước công dân/…': say 'giấy tờ tùy thân'."""
    f = fold(text)
    if "can cuoc" in f[:60] and ("ho chieu" in f[:60] or "/" in text[:60]):
        return "giấy tờ tùy thân"
    return ""


def short_name(name: str, max_words: int = 14) -> str:
    """A procedure's name for listening: no parentheses, no 'đối với …' tail when long."""
    t = re.sub(r"\([^)]*\)", " ", name)
    t = " ".join(t.split())
    if words(t) > max_words:
        t = re.split(r" đối với | trong trường hợp |;| thực hiện ", t, maxsplit=1)[0]
    return " ".join(t.split()[:max_words]).rstrip(",;. ")


def _counters(proc, cfg, lang: str) -> str:
    try:
        from centre.catalogue import service_for

        series = service_for(proc, cfg)
    except Exception:
        return ""
    names = [c.name.get(lang) if hasattr(c.name, "get") else str(c.name)
             for c in cfg.counters if series in c.services and c.state != "closed"]
    return ", ".join(n for n in names if n)


def _fee(proc, lang: str) -> str:
    fee = proc.fee
    if fee.amount is not None:
        return fee.label(lang)
    if fee.note and "hội đồng nhân dân" in fee.note.lower():
        return "theo quy định của tỉnh" if lang == "vi" else "set by the province"
    return ""


def procedure_summary(proc, cfg=None, lang: str = "vi", *, fee: str | None = None,
                      counter: str | None = None, documents: list[str] | None = None,
                      more: bool = False) -> str:
    """The summary of `proc` (a `centre.catalogue.Procedure`) to read aloud, ≤ MAX_WORDS words.

    `fee` is what the screen says about the fee (the procedure view passes it, so what is heard
    matches what is read, the centre's fee table included); `counter` the counters' names
    (default: from `cfg`); `documents` the documents everyone brings, in the screen's order, and
    `more` whether others are needed in some cases (default: read from the procedure)."""
    if lang == "en":
        return _summary_en(proc, cfg, fee, counter)
    name = short_name(proc.name)
    if documents is None:
        docs, others = _everyone_documents(proc)
    else:
        docs, overflow = _short_names(documents)
        others = more or overflow
    time_ = proc.processing.label("vi") if proc.processing.known else ""
    fee = _fee(proc, "vi") if fee is None else fee
    if counter is None:
        counter = _counters(proc, cfg, "vi") if cfg is not None else ""
    while True:
        parts = [f"{name}."]
        if docs:
            parts.append("Cần mang: " + ", ".join(docs) + (f", {OTHERS_VI}." if others else "."))
        elif others:
            parts.append("Giấy tờ tùy trường hợp, xem trên màn hình.")
        if time_:
            parts.append(f"Thời gian: {time_}.")
        if fee:
            parts.append(f"Lệ phí: {fee}.")
        if counter:
            parts.append(f"Nộp tại {counter}.")
        text = " ".join(parts)
        heard = spoken_words(text, "vi")
        if heard <= MAX_WORDS or (not docs and words(name) <= 6):
            return text if heard <= MAX_WORDS else " ".join(text.split()[: MAX_WORDS - (heard - words(text))])
        if docs:
            docs, others = docs[:-1], True
        else:
            name = " ".join(name.split()[: max(6, words(name) - 4)])


def _summary_en(proc, cfg, fee: str | None, counter: str | None) -> str:
    name = short_name(proc.name_en or proc.name)
    parts = [f"{name}.", "Please bring the documents listed on the screen."]
    if proc.processing.known:
        parts.append(f"Processing time: {proc.processing.label('en')}.")
    fee = _fee(proc, "en") if fee is None else fee
    if fee:
        parts.append(f"Fee: {fee}.")
    if counter is None:
        counter = _counters(proc, cfg, "en") if cfg is not None else ""
    if counter:
        parts.append(f"Go to {counter}.")
    text = " ".join(parts)
    extra = spoken_words(text, "en") - words(text)
    return " ".join(text.split()[: MAX_WORDS - max(0, extra)])
