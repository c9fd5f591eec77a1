"""Cleaning of the national portal's procedure records, and the atomic import of the catalogue.

Two stages, both pure except the last step:

1. **Cleaning** (`clean_portal_record` and the small parsers it uses) turns one raw record of
   the portal crawl (`procedures-national-portal.jsonl`) into a catalogue record: display name
   without the portal's "Thủ tục " prefix, processing time as value + unit (per channel),
   fee amount + note (per channel), documents split into "submit"/"show" with their
   originals/copies, notes and form files pulled out, legal basis as {title, number}.
   `export_national` writes the cleaned records to `data/procedures/national.jsonl`.
2. **Import** (`load_source`, then `import_catalogue`) reads the catalogue files
   (national.jsonl, manual.yaml, enrichment.yaml, fields.yaml), validates every record and
   names file, line and field of any mistake, then replaces the catalogue tables in ONE
   transaction (and rebuilds the search index inside it when `centre.search` provides
   `rebuild_index`). A bad file changes nothing.

The file formats are described in docs/catalogue-format.md.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from centre import boundedread
from centre.catalogue_schema import ensure_schema
from centre.db import transaction
from centre.text import clean, fold
from centre.yamlfile import YamlError, dotted, line_of, load_with_lines

log = logging.getLogger(__name__)

NATIONAL_FILE = "national.jsonl"
MANUAL_FILE = "manual.yaml"
ENRICHMENT_FILE = "enrichment.yaml"
FIELDS_FILE = "fields.yaml"

UNITS = ("working_days", "days", "hours", "same_day", "unknown")
CHANNELS = ("Trực tiếp", "Trực tuyến", "Dịch vụ bưu chính")
NO_INFO = "Không có thông tin"


class CatalogueError(ValueError):
    """A catalogue file is wrong; `problems` names file, line and field of each mistake."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Problem:
    """One mistake in a catalogue file."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


# =====================================================================================
# 1. Cleaning the portal's records
# =====================================================================================


def field_id(name_vi: str) -> str:
    """The id of a field (lĩnh vực): its folded Vietnamese name joined by '-' ("Hộ tịch" → "ho-tich")."""
    return fold(name_vi).replace(" ", "-")


def slug(text: str) -> str:
    """A key-safe slug of any text (folded words joined by '-')."""
    return fold(text).replace(" ", "-")


_PREFIX = re.compile(r"^\s*thủ tục\s+", re.IGNORECASE)


def display_name(official: str) -> str:
    """The name citizens read: the portal's "Thủ tục " prefix removed, first letter capitalised."""
    name = clean(official)
    stripped = _PREFIX.sub("", name)
    if stripped:
        name = stripped
    return name[:1].upper() + name[1:]


# -- processing time ------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(ngày làm việc|ngày|giờ làm việc|giờ)?\s*$", re.IGNORECASE)
_CHANNEL_PART = re.compile(r"^\s*([^:]+?)\s*:\s*(.+?)\s*$")


def parse_duration(text: str) -> dict:
    """One duration as the portal writes it → {value, unit, text[, assumed_unit]}.

    "3 Ngày làm việc" → 3 working_days; "15 Ngày" → 15 days; "8 Giờ" → 8 hours;
    "Không có thông tin"/"" → unknown. A bare number ("1", "7") is how the portal shows
    working days for most ward procedures (the civil-status law counts in working days), so
    it is read as working_days with `assumed_unit: true`; "0" means no time was entered
    and gives unknown. "trong ngày"/"ngay trong ngày" gives same_day.
    """
    raw = clean(text)
    out: dict[str, Any] = {"value": None, "unit": "unknown", "text": raw}
    if not raw or raw == NO_INFO:
        return out
    folded = fold(raw)
    if folded in ("trong ngay", "ngay trong ngay", "trong ngay lam viec", "ngay trong ngay lam viec"):
        out.update(unit="same_day")
        return out
    m = _DURATION.match(raw)
    if not m:
        return out
    value = float(m.group(1).replace(",", "."))
    unit_word = (m.group(2) or "").lower()
    if unit_word.startswith("ngày làm việc"):
        unit = "working_days"
    elif unit_word.startswith("ngày"):
        unit = "days"
    elif unit_word.startswith("giờ"):
        unit = "hours"
    else:
        if value == 0:
            return out
        unit = "working_days"
        out["assumed_unit"] = True
    out.update(value=int(value) if value.is_integer() else value, unit=unit)
    return out


def _split_channels(text: str) -> list[str]:
    """Split "A: x; B: y" at the top-level ';' (not inside parentheses)."""
    parts, depth, buf = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == ";" and depth == 0:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    parts.append(buf)
    return [p.strip() for p in parts if p.strip()]


def _channels_of(label: str) -> list[str] | None:
    """ "Trực tuyến, Dịch vụ bưu chính" → the channel names, or None if it is not a channel list."""
    names = [n.strip() for n in label.split(",") if n.strip()]
    if names and all(n in CHANNELS for n in names):
        out: list[str] = []
        for n in names:
            if n not in out:
                out.append(n)
        return out
    return None


def parse_processing(text: str) -> dict:
    """The portal's processing_time → {text, value, unit, channels: [{channel, value, unit, text}]}.

    Per-channel texts ("Trực tuyến: 7 Ngày; Trực tiếp: 17 Ngày") give one entry per channel
    and case. The headline value is the in-person (Trực tiếp) one, since the kiosk serves
    people at the counter; when a channel lists several cases, the headline is the longest
    (what a citizen must be ready to wait) and the others stay in `channels`.
    """
    raw = clean(text)
    out: dict[str, Any] = {"text": raw, "value": None, "unit": "unknown", "channels": []}
    if not raw:
        return out
    parts = _split_channels(raw)
    channels = []
    for part in parts:
        m = _CHANNEL_PART.match(part)
        names = _channels_of(m.group(1)) if m else None
        if names:
            d = parse_duration(m.group(2))
            for name in names:
                channels.append({"channel": name, **d})
    if channels:
        out["channels"] = channels
        direct = [c for c in channels if c["channel"] == "Trực tiếp" and c["unit"] != "unknown"]
        pool = direct or [c for c in channels if c["unit"] != "unknown"]
        if pool:
            best = max(pool, key=_duration_hours)
            out.update(value=best["value"], unit=best["unit"])
            if best.get("assumed_unit"):
                out["assumed_unit"] = True
        return out
    d = parse_duration(raw)
    out.update(value=d["value"], unit=d["unit"])
    if d.get("assumed_unit"):
        out["assumed_unit"] = True
    return out


def _duration_hours(d: dict) -> float:
    """Rough length of a duration in hours, only to compare cases."""
    v = d["value"] or 0
    return {"hours": v, "same_day": 8, "working_days": v * 8 * 1.4, "days": v * 8}.get(d["unit"], 0)


# -- fee --------------------------------------------------------------------------------

_AMOUNT = re.compile(r"^\s*([\d.,]+)\s*(VNĐ|VND|Việt Nam Đồng|đồng|USD)\s*(.*)$", re.IGNORECASE | re.DOTALL)
_FREE = re.compile(r"^\s*Miễn phí\s*(.*)$", re.IGNORECASE | re.DOTALL)
_PROVINCE_SETS = re.compile(r"(hội đồng nhân dân|hđnd)", re.IGNORECASE)
# Notes (folded) after "Miễn phí" that mean it is free: "Miễn lệ phí…", "Không thu lệ phí…", or that
# only price an optional extra copy ("Phí cấp bản sao Trích lục … (nếu có yêu cầu)").
_FREE_NOTES = ("mien le phi", "mien phi", "khong thu", "phi cap ban sao")
# …and notes that point to a fee set by another rule: then the amount is unknown, not 0.
_ELSEWHERE = re.compile(r"\b(luat phi|thong tu|nghi dinh|ap dung|muc thu|muc phi|tra phi|le phi|phi)\b")


def _strip_parens(note: str) -> str:
    """ "(Mức lệ phí …)" → "Mức lệ phí …"; also the portal's stray "Đồng (…)" and "Lệ phí : Đồng" wrappers."""
    note = clean(note)
    while True:
        before = note
        note = re.sub(r"^(?:Lệ phí|Phí)\s*:\s*", "", note)
        if note.startswith("(") and note.endswith(")") and _balanced(note[1:-1]):
            note = note[1:-1].strip()
        elif note.startswith("(") and note.count("(") == note.count(")") + 1:
            note = note[1:].strip()  # "(Phí Thẩm tra, thẩm định": an unclosed parenthesis in the portal text
        m = re.match(r"^Đồng\s*(?:\((.*)\)|(.*))$", note, re.DOTALL)
        if m and (m.group(1) is None or _balanced(m.group(1))):
            note = (m.group(1) if m.group(1) is not None else m.group(2)).strip()
        if note == before:
            return note


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def parse_fee_amount(text: str) -> dict:
    """One fee as the portal writes it → {amount, currency, note, text[, set_by_province, set_elsewhere]}.

    "70,000 VNĐ (70.000 đồng/Giấy chứng nhận)" → 70000 VND, note "70.000 đồng/Giấy chứng nhận".
    "Miễn phí" → 0, with its note, when the note is empty or says the procedure is free
    ("Miễn lệ phí…", "Không thu lệ phí…") or only prices an optional extra copy
    ("Phí cấp bản sao Trích lục … (nếu có yêu cầu)…").
    But the portal also writes "Miễn phí" when the fee is set elsewhere, and then the
    amount is unknown (None) and the note says where: by the provincial People's Council
    ("Mức lệ phí cụ thể do Hội đồng nhân dân tỉnh … quyết định"; `set_by_province`), or by
    another rule ("Theo quy định của Luật phí và lệ phí…", "Thông tư số 60/2023/TT-BTC … quy
    định mức thu…", "Trả phí cho đơn vị cung cấp dịch vụ"; `set_elsewhere`).
    "Không có thông tin" (with or without a case number) → None.
    """
    raw = clean(text)
    out: dict[str, Any] = {"amount": None, "currency": "VND", "note": "", "text": raw}
    if not raw or raw.startswith(NO_INFO):
        return out
    m = _FREE.match(raw)
    if m:
        note = _strip_parens(m.group(1))
        if note.lower().rstrip(".") in ("không", "không có", "không quy định", "chưa quy định"):
            note = ""
        out["note"] = note
        folded = fold(note)
        if _PROVINCE_SETS.search(note):
            out.update(amount=None, set_by_province=True, set_elsewhere=True)
        elif not folded or folded.startswith(_FREE_NOTES):
            out["amount"] = 0
        elif _ELSEWHERE.search(folded):
            out.update(amount=None, set_elsewhere=True)
        else:
            out["amount"] = 0
        return out
    m = _AMOUNT.match(raw)
    if m:
        digits = re.sub(r"[.,]", "", m.group(1))
        cur = m.group(2)
        out["currency"] = "USD" if cur.upper() == "USD" else "VND"
        out["amount"] = int(digits) if digits.isdigit() else None
        out["note"] = _strip_parens(m.group(3))
        return out
    out["note"] = raw
    return out


def parse_fee(text: str) -> dict:
    """The portal's fee text → {text, amount, note, channels: [{channel, amount, currency, note, text}]}.

    Per-channel texts ("Trực tuyến: 5,000 Việt Nam Đồng (…); Trực tiếp: 10,000 …") give one
    entry per channel; the headline is the in-person (Trực tiếp) fee in VND when there is one.
    """
    raw = clean(text)
    out: dict[str, Any] = {"text": raw, "amount": None, "note": "", "channels": []}
    if not raw:
        return out
    channels = []
    for part in _split_channels(raw):
        m = _CHANNEL_PART.match(part)
        names = _channels_of(m.group(1)) if m else None
        if names:
            f = parse_fee_amount(m.group(2))
            channels.extend({"channel": n, **f} for n in names)
    if channels:
        out["channels"] = channels
        vnd = [c for c in channels if c["currency"] == "VND"]
        direct = [c for c in vnd if c["channel"] == "Trực tiếp"]
        best = (direct or vnd or channels)[0]
        out.update(amount=best["amount"] if best["currency"] == "VND" else None, note=best["note"])
        for flag in ("set_by_province", "set_elsewhere"):
            if best.get(flag):
                out[flag] = True
        return out
    f = parse_fee_amount(raw)
    out.update(amount=f["amount"] if f["currency"] == "VND" else None, note=f["note"])
    for flag in ("set_by_province", "set_elsewhere"):
        if f.get(flag):
            out[flag] = True
    return out


# -- documents --------------------------------------------------------------------------

_QTY = re.compile(r"\((\d+) bản (chính|sao)(?:\s*,\s*(\d+) bản sao)?\)\s*$")
_HEADING = re.compile(r"^\[([^\]]*)\]\s*")
_FILE_EXT = re.compile(r"\.(docx?|pdf|xlsx?|rtf|odt|zip|rar)$", re.IGNORECASE)
_FORM_CODE = re.compile(r"\b[Mm]ẫu\s+(?:số\s+)?[A-ZĐ0-9][\w.\-/]*")
# "Giấy tờ phải xuất trình:", "Người yêu cầu chứng thực phải xuất trình…", "Xuất trình hoặc gửi bản chính…",
# "Giấy tờ phải xuất trình khi nộp hồ sơ…" (folded); "Giấy tờ phải nộp" is submit.
_SHOW_HEADING = re.compile(r"^(?:cac |giay to |nguoi yeu cau \w+ \w+ )*(?:phai )?xuat trinh")
_BULLET = re.compile(r"^(?:[-+•*–]\s*)+")  # "- ", "+ ", "* " bullets
_NOTE_HEADING = re.compile(r"^\W*lưu ý\b", re.IGNORECASE)

# A Vietnamese syllable (used to find where a form file name is glued to a word: "quy địnhvăn bản.docx").
_VI_SYLLABLE = re.compile(
    r"^(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnpqrstvx])?"
    r"[aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵ]{1,3}"
    r"(ch|ng|nh|[cmnpt])?$"
)


def _glue_after_punct(tail: str) -> int | None:
    """(The last) punctuation immediately followed by the name: "...TT-BCA).1.MuCT01.doc",
    "...nhà ở.phuluc.docx", "...hồ sơ giấy;PC21.docx", "...thường trú”Phụ lục.doc"."""
    punct = None
    for m in re.finditer(r"[.;)”\"](?=[^\W_])", tail):
        pos = m.end()
        if _FILE_EXT.fullmatch("." + tail[pos:]):
            continue  # the extension itself
        if tail[m.start()] == "." and m.start() > 0 and tail[m.start() - 1].isdigit():
            continue  # "40.2024", "Mẫu số 25.NT", "TT14.2024.BCA": part of a number or code
        punct = pos
    if punct is None:
        return None
    # keep a numbered file's "1." prefix: "...bản.1.MuCT01.doc" → "1.MuCT01.doc"
    j = punct
    while j > 0 and (tail[j - 1].isdigit() or tail[j - 1] == "."):
        j -= 1
    while j < punct and tail[j] == ".":
        j += 1
    return j if any(ch.isdigit() for ch in tail[j:punct]) else punct


def _glue_capital(tail: str) -> int | None:
    """A word glued to a capitalised one: "nhân dânMau 2.docx", "QĐ-TTgGiấy.pdf", "25/01/2026Mẫu số
    03.docx", or an all-capitals legal-number suffix glued to a capitalised word: "NĐ-CPMẫu số 01.docx"."""
    for i in range(1, len(tail) - 1):
        a, b, c = tail[i - 1], tail[i], tail[i + 1]
        if b.isupper() and ((a.islower() and a.isalpha()) or (a.isdigit() and c.islower())):
            return i
        if a.isupper() and b.isupper() and c.islower() and not (b == "T" and c == "g"):
            j = i - 1
            while j > 0 and (tail[j - 1].isupper() or tail[j - 1] == "-"):
                j -= 1
            if "-" in tail[j:i]:
                return i
    return None


def _glue_syllable(tail: str) -> int | None:
    """A glued word that is no Vietnamese syllable: "quy địnhvăn bản đề nghị.docx"."""
    words = list(re.finditer(r"\S+", tail))
    for m in words[:-1]:
        w = m.group(0).lower()
        if not w.isalpha() or _VI_SYLLABLE.match(w):
            continue
        for k in range(len(w) - 1, 0, -1):
            if _VI_SYLLABLE.match(w[:k]):
                return m.start() + k
    return None


def _glue_start(text: str) -> int | None:
    """Where a form file name glued onto the end of `text` (which ends with .doc etc.) begins."""
    # Only look at the last clause: file names do not contain ". " or "; ".
    clause_start = 0
    for m in re.finditer(r"[.;:]\s+", text):
        clause_start = m.end()
    tail = text[clause_start:]
    candidates = [c for c in (_glue_after_punct(tail), _glue_capital(tail)) if c is not None]
    if candidates:
        return clause_start + min(candidates)
    k = _glue_syllable(tail)
    return None if k is None else clause_start + k


def split_form_file(text: str) -> tuple[str, str]:
    """Pull a glued form file name off the end of a document row → (text, file)."""
    text = text.rstrip()
    if not _FILE_EXT.search(text):
        return text, ""
    start = _glue_start(text)
    if start is None:
        # only the last word can be taken safely
        head, _, last = text.rpartition(" ")
        return head.rstrip(" .;"), last
    return text[:start].rstrip(" ;"), text[start:].strip()


def parse_document(row: str) -> dict:
    """One portal document row → {kind: document|note, group, heading, text, originals, copies, form}."""
    row = row.strip()
    heading = ""
    m = _HEADING.match(row)
    if m:
        heading = _BULLET.sub("", clean(m.group(1)))
        row = row[m.end() :]
    originals = copies = None
    q = _QTY.search(row)
    if q:
        n1 = int(q.group(1))
        if q.group(2) == "chính":
            originals, copies = n1, int(q.group(3)) if q.group(3) else 0
        else:
            originals, copies = 0, n1
        row = row[: q.start()]
    text, form = split_form_file(row.strip())
    text = _BULLET.sub("", clean(text))
    hfold = fold(heading)
    group = "show" if _SHOW_HEADING.search(hfold) else "submit"
    is_note = (
        q is None
        or (originals == 0 and copies == 0)
        or bool(_NOTE_HEADING.match(heading))
        or bool(_NOTE_HEADING.match(text))
    )
    return {
        "kind": "note" if is_note else "document",
        "group": group,
        "heading": heading,
        "text": text,
        "originals": originals or 0,
        "copies": copies or 0,
        "form": clean(form),
    }


def split_documents(rows: list[str]) -> tuple[list[dict], list[str], list[dict]]:
    """Portal document rows → (documents, notes, forms).

    documents: [{group: submit|show, heading, text, originals, copies[, form]}];
    notes: the explanatory rows ("(0 bản chính)", "Lưu ý", step descriptions);
    forms: [{name, file}] for every form file glued into a row.
    """
    documents, notes, forms = [], [], []
    for row in rows:
        d = parse_document(row)
        if d["form"]:
            code = _FORM_CODE.search(d["text"])
            name = code.group(0).rstrip(".,;)") if code else d["text"]
            if not any(f["file"] == d["form"] for f in forms):
                forms.append({"name": name, "file": d["form"]})
        if d["kind"] == "note":
            if d["text"] and d["text"] not in notes:
                notes.append(d["text"])
            continue
        doc = {k: d[k] for k in ("group", "heading", "text", "originals", "copies")}
        if d["form"]:
            doc["form"] = d["form"]
        documents.append(doc)
    return documents, notes, forms


# -- legal basis ------------------------------------------------------------------------

_DOC_TYPES = (
    "Bộ luật",
    "Luật",
    "Nghị định",
    "Nghị quyết",
    "Thông tư liên tịch",
    "Thông tư liên tich",
    "Thông tư",
    "Quyết định",
    "Pháp lệnh",
    "Công văn",
    "Văn bản hợp nhất",
    "Chỉ thị",
    "NĐ",
)
_TYPE_LABEL = re.compile(
    r"^(?:" + "|".join(re.escape(t) for t in _DOC_TYPES) + r")(?:\s+số)?\s*$", re.IGNORECASE
)
_BRACKET_NO = re.compile(r"\[([^\[\]]*)\]\s*$")
# A legal document number: 68/2020/QH14, 118/2025/NĐ-CP, 90/QĐ-TTg, 18/2009/TTLT/BGDĐT-BTC, 66.7/2025/NQ-CP
_NUMBER = re.compile(
    r"(\d{1,10}(?:\.\d+|\.?[a-z])?)/(?:(\d{4})/)?([A-ZĐ][A-ZĐa-z]*(?:[-/][A-ZĐ][A-ZĐa-zƯ]*)*)"
)
_NUMBER_YEAR_ONLY = re.compile(r"(\d{1,10})/(\d{4})(?=[A-ZĐ]|$)")


def _number_suffix_end(text: str, start: int) -> int:
    """End of a number's capitals suffix, giving back a capital that begins a glued word ("NĐ-CLuật")."""
    i = start
    while i < len(text) and (
        text[i].isupper() or text[i] in "-/" or (text[i] == "g" and text[i - 2 : i] == "TT")
    ):
        i += 1
    if text[start:i].endswith("QH"):  # Quốc hội khóa: QH14, QH15
        while i < len(text) and text[i].isdigit() and i - start < 6:
            i += 1
    elif i < len(text) and text[i].islower() and i - 1 > start and text[i - 1].isupper():
        i -= 1
    while i > start and text[i - 1] in "-/":
        i -= 1
    return i


def _glued_numbers(text: str) -> list[tuple[int, int, str]]:
    """Numbers glued onto the preceding word ("…Cư trú 202068/2020/QH14…") → (start, end, number)."""
    out = []
    for m in re.finditer(r"(\d+[a-z]?(?:\.[0-9a-z]+)?)/(?:(\d{4})/)?(?=[A-ZĐ])", text):
        s = m.start()
        digits = m.group(1)
        if s > 0 and text[s - 1].isdigit():
            continue
        # a year (or date) glued in front: "2020" + "68/2020/QH14", "29/6/2024" + "43/2024/QH15"
        if re.match(r"(19|20)\d\d\d", digits) and len(digits.split(".")[0]) > 4:
            s += 4
        elif s == 0 or text[s - 1].isspace() or text[s - 1] in "([/":
            continue  # "Luật số 58/2024/QH15": a number inside a title, not glued
        elif not text[s - 1].isalpha() and text[s - 1] not in ".)":
            continue
        end = _number_suffix_end(text, m.end())
        if end == m.end():
            continue
        out.append((s, end, text[s:end]))
    return out


_OWN_NUMBER = re.compile(
    r"^(?:(?:Bộ luật|Luật|Nghị định|Nghị quyết|Thông tư liên tịch|Thông tư|Quyết định|Pháp lệnh)\s+(?:số\s+)?)?"
    r"(\d{1,4}(?:\.\d+)?[a-z]?/(?:\d{4}/)?(?:[A-ZĐ][A-ZĐ\-/]*)?(?:QH\d{2}|TTg|[A-ZĐ]))(?![\w/])"
)


def _title_number(title: str) -> str:
    """The document's own number written at the start of its title ("Nghị định số 123/2015/NĐ-CP ngày …").

    A number further inside ("Sửa đổi … của Thông tư số 02/2020/TT-BTP") names another
    document and is not used.
    """
    m = _OWN_NUMBER.match(title)
    return m.group(1) if m else ""


def parse_legal_basis(entries: list[str]) -> list[dict]:
    """Portal legal-basis strings ("title [number]") → [{title, number}].

    Splits the entries that run several documents together ("Luật Cư trú 202068/2020/QH14Thông tư
    [57/2021/TT-BCA]" → two documents), keeps a title without a number and a number without a
    title, drops what is no legal document at all (the crawl's "Cơ quan thực hiện…" spill-over),
    and removes duplicates by number.
    """
    out: list[dict] = []
    seen: set[str] = set()
    for entry in entries:
        for doc in _split_legal_entry(clean(entry)):
            key = doc["number"] or fold(doc["title"])
            if not key or key in seen:
                continue
            seen.add(key)
            out.append(doc)
    return out


def _final_number(entry: str) -> tuple[str, str]:
    """(entry without its bracketed final number, that number): "…[03/2023/TT-BTP]"."""
    m = _BRACKET_NO.search(entry)
    if m:
        return entry[: m.start()].rstrip(), m.group(1).strip()
    if entry.count("[") == 1 and entry.rfind("[") > entry.rfind("]"):
        # truncated "[03/2023" at the end of the text
        return entry[: entry.rfind("[")].rstrip(), entry[entry.rfind("[") + 1 :].strip()
    return entry, ""


def _legal_rest(rest: str, final_number: str, have_docs: bool) -> dict | None:
    """The last document of an entry, from the text after the last glued number."""
    if not (final_number or rest):
        return None
    # "…Bộ Tư phápThông tư số [03/2023/TT-BTP]": a type label glued after the title
    label = _trailing_type_label(rest)
    if label is not None and rest[: len(rest) - len(label)].strip() and final_number:
        rest = rest[: len(rest) - len(label)].strip(" ;,:-")
    if _TYPE_LABEL.match(rest or "") and not final_number and have_docs:
        rest = ""
    return {"title": rest, "number": final_number} if rest or final_number else None


def _clean_legal(d: dict) -> dict | None:
    """A legal document's title and number tidied; None when it is no legal document."""
    title = d["title"].strip(" ;,:")
    number = d["number"].strip() or _title_number(title)
    if not number and not re.search(r"\b(luật|nghị định|thông tư|quyết định|nghị quyết|pháp lệnh)\b", title, re.I):
        return None  # not a legal document (crawl spill-over such as "Cơ quan thực hiện…")
    if _TYPE_LABEL.match(title):
        title = title if not number else title.removesuffix(" số").strip()
    if title == number:
        title = ""
    return {"title": title, "number": number}


def _split_legal_entry(entry: str) -> list[dict]:
    if not entry:
        return []
    entry, final_number = _final_number(entry)
    # "…: Luật Đầu tư côngLuật số 58": a truncated repeat glued to the end
    for m in reversed(list(re.finditer(r"(?<=[a-zà-ỹđ])(?=(?:" + "|".join(_DOC_TYPES) + r")\b)", entry))):
        tail = entry[m.start() :]
        if fold(tail) and fold(tail) in fold(entry[: m.start()]) and not final_number:
            entry = entry[: m.start()]
    docs: list[dict] = []
    pos = 0
    for s, e, number in _glued_numbers(entry):
        docs.append({"title": entry[pos:s].strip(" ;,.:-"), "number": number})
        pos = e
    last = _legal_rest(entry[pos:].strip(" ;,:-"), final_number, bool(docs))
    if last:
        docs.append(last)
    cleaned = [c for c in (_clean_legal(d) for d in docs) if c]
    # "Luật số 58/2024/QH15 …Luật số 58": a truncated repeat of a title already there
    out: list[dict] = []
    for d in cleaned:
        if not d["number"] and any(o["title"].startswith(d["title"]) for o in out):
            continue
        out.append(d)
    return out


def _trailing_type_label(text: str) -> str | None:
    """ "…Bộ Tư phápThông tư số" → "Thông tư số" when a type label is glued to the end."""
    for t in sorted(_DOC_TYPES, key=len, reverse=True):
        for label in (t + " số", t):
            if text.endswith(label):
                before = text[: len(text) - len(label)]
                if not before or before[-1].islower() or before[-1] in ".):" or before.endswith(" "):
                    return label
    return None


# -- the whole record -------------------------------------------------------------------


def _text_or_empty(value: Any) -> str:
    text = clean(str(value or ""))
    return "" if text == NO_INFO else text


def clean_result(text: str) -> str:
    """The portal's result field with its "Mã: KQ…Từ khóa…Mô tả…" tail removed."""
    text = _text_or_empty(text)
    return re.split(r"Mã: KQ|Từ khóa|Mô tả", text)[0].strip() if text else ""


_PUBLICATION_TITLE = re.compile(r"^Công bố Danh mục\b", re.IGNORECASE)
_RESULT_DECISION = re.compile(r"^Quyết định (?:về việc |về )?(.+)$", re.IGNORECASE)


def name_from_result(official: str, result: str) -> str:
    """Display name for a record whose portal name is the title of a publication decision.

    Seven records carry "Công bố Danh mục và Quy trình nội bộ thủ tục hành chính … Hà Tĩnh …"
    as their name; their result ("Quyết định về việc giải quyết chế độ trợ cấp hàng tháng đối
    với thanh niên xung phong") says what the procedure is. Other names are left alone.
    """
    if not _PUBLICATION_TITLE.match(official):
        return display_name(official)
    m = _RESULT_DECISION.match(clean_result(result))
    return display_name(m.group(1)) if m else display_name(official)


def mark_crawl_duplicates(records: list[dict]) -> int:
    """Mark records that are the same portal page under another code; returns how many.

    The crawl stored one page under several codes (10 codes for "Hỗ trợ phát triển sản xuất
    cộng đồng.", 7 for the youth-volunteer allowance). The first code (in code order) stays;
    the others get `crawl_duplicate_of` and are not imported, so the kiosk does not list
    the same procedure ten times. Which code the portal really gives the page is unknown.
    """
    first: dict[str, str] = {}
    n = 0
    for r in sorted(records, key=lambda r: _code_order(r["code"])):
        url = r.get("portal_url") or ""
        if not url:
            continue
        if url in first:
            r["crawl_duplicate_of"] = first[url]
            n += 1
        else:
            first[url] = r["code"]
    return n


def _code_order(code: str) -> list:
    return [int(p) if p.isdigit() else p for p in code.split(".")]


def clean_portal_record(raw: dict) -> dict:
    """One raw portal record → one catalogue record (the national.jsonl format)."""
    official = clean(raw["name_vi"])
    documents, notes, forms = split_documents(raw.get("documents") or [])
    submission = []
    for s in raw.get("submission_methods") or []:
        submission.append(
            {k: clean(str(s.get(k) or "")) for k in ("channel", "time", "fee", "fee_note", "description")}
        )
    return {
        "code": raw["code"].strip(),
        "name": name_from_result(official, raw.get("result") or ""),
        "official_name": official,
        "field_id": field_id(raw["field_vi"]),
        "field_vi": clean(raw["field_vi"]),
        "level": clean(raw.get("level") or ""),
        "processing": parse_processing(raw.get("processing_time") or ""),
        "fee": parse_fee(raw.get("fee") or ""),
        "documents": documents,
        "notes": notes,
        "forms": forms,
        "legal_basis": parse_legal_basis(raw.get("legal_basis") or []),
        "submission": submission,
        "applicants": _text_or_empty(raw.get("applicants")),
        "result": clean_result(raw.get("result") or ""),
        "conditions": _text_or_empty(raw.get("conditions")),
        "agency": _text_or_empty(raw.get("agency")),
        "source": "portal:" + str(raw.get("source") or ""),
        "portal_url": str(raw.get("portal_url") or ""),
    }


def is_raw_portal_record(obj: Any) -> bool:
    """True for a record of the raw portal crawl (as opposed to a cleaned catalogue record)."""
    return isinstance(obj, dict) and "name_vi" in obj and "field_vi" in obj


def export_national(portal_file: Path, out_file: Path) -> int:
    """Clean the raw portal file and write national.jsonl (sorted by code); returns the count."""
    records = []
    for lineno, line in enumerate(_read(Path(portal_file)).splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CatalogueError(
                [Problem(str(portal_file), lineno, "", f"not valid JSON: {exc.msg}")]
            ) from exc
        except RecursionError:
            raise CatalogueError([Problem(str(portal_file), lineno, "", "not valid JSON: nested too deeply")]) from None
        records.append(clean_portal_record(raw))
    records.sort(key=lambda r: _code_order(r["code"]))
    mark_crawl_duplicates(records)
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(out_file)
    return len(records)


# =====================================================================================
# 2. Validated records
# =====================================================================================


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Duration(_Model):
    channel: str = ""
    value: float | None = None
    unit: Literal["working_days", "days", "hours", "same_day", "unknown"] = "unknown"
    text: str = ""
    assumed_unit: bool = False


class Processing(_Model):
    text: str = ""
    value: float | None = Field(None, ge=0)
    unit: Literal["working_days", "days", "hours", "same_day", "unknown"] = "unknown"
    assumed_unit: bool = False
    channels: list[Duration] = []


class FeeItem(_Model):
    channel: str = ""
    amount: int | None = Field(None, ge=0)
    currency: Literal["VND", "USD"] = "VND"
    note: str = ""
    text: str = ""
    set_by_province: bool = False
    set_elsewhere: bool = False


class Fee(_Model):
    text: str = ""
    amount: int | None = Field(None, ge=0, description="VND; 0 = free; None = unknown or set by the province")
    note: str = ""
    set_by_province: bool = False
    set_elsewhere: bool = False
    channels: list[FeeItem] = []


class Document(_Model):
    group: Literal["submit", "show"] = "submit"
    heading: str = ""
    text: str = Field(min_length=1)
    originals: int = Field(0, ge=0)
    copies: int = Field(0, ge=0)
    form: str = ""


class Form(_Model):
    name: str = Field(min_length=1)
    file: str = ""


class LegalDoc(_Model):
    title: str = ""
    number: str = ""


class Submission(_Model):
    channel: str = ""
    time: str = ""
    fee: str = ""
    fee_note: str = ""
    description: str = ""


class Aliases(_Model):
    vi: list[str] = []
    en: list[str] = []


def _guess_lang(alias: str) -> str:
    """Vietnamese when the alias has Vietnamese letters or every word of it can be a
    Vietnamese syllable ("giay khai sinh", typed without diacritics); else English."""
    if any(ord(ch) > 127 for ch in alias):
        return "vi"
    from centre.search import is_vietnamese_syllable  # lazy: centre.search is optional here

    words = [w for w in re.findall(r"[^\W_]+", fold(alias)) if not w.isdigit()]
    return "vi" if words and all(is_vietnamese_syllable(w) for w in words) else "en"


def _aliases(value: Any) -> Any:
    """Aliases may be a flat list (language guessed) or {vi: [...], en: [...]}."""
    if isinstance(value, list):
        out: dict[str, list] = {"vi": [], "en": []}
        for a in value:
            if not isinstance(a, str):
                raise ValueError("each alias must be text")
            out[_guess_lang(a)].append(a)
        return out
    return value


class ProcedureRecord(_Model):
    """One procedure as written in national.jsonl or manual.yaml."""

    key: str = ""
    code: str = Field("", pattern=r"^(\d\.\d{6}|)$", description="national code such as 1.000894, or ''")
    name: str = Field(min_length=1)
    official_name: str = ""
    name_en: str = ""
    field_id: str = Field(min_length=1, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    field_vi: str = ""
    level: str = ""
    processing: Processing = Processing()
    fee: Fee = Fee()
    documents: list[Document] = []
    notes: list[str] = []
    forms: list[Form] = []
    legal_basis: list[LegalDoc] = []
    steps: list[str] = []
    submission: list[Submission] = []
    applicants: str = ""
    result: str = ""
    conditions: str = ""
    agency: str = ""
    service: str = Field("", pattern=r"^[A-Z]?$")
    source: str = ""
    portal_url: str = ""
    crawl_duplicate_of: str = Field(
        "", description="code of the record that is the same portal page (not imported)"
    )
    aliases: Aliases = Aliases()

    _normalise_aliases = field_validator("aliases", mode="before")(classmethod(lambda cls, v: _aliases(v)))

    @field_validator("name", "official_name", "name_en")
    @classmethod
    def _clean_text(cls, v: str) -> str:
        return clean(v)


class ManualRecord(ProcedureRecord):
    """A hand-added procedure: the legal basis is required, the source is 'manual'."""

    legal_basis: list[LegalDoc] = Field(min_length=1)
    source: Literal["manual"] = "manual"


class FieldRecord(_Model):
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)
    icon: str = ""
    sort: int = 0


class EnrichmentRecord(_Model):
    name_en: str = ""
    aliases: Aliases = Aliases()
    service: str = Field("", pattern=r"^[A-Z]?$")

    _normalise_aliases = field_validator("aliases", mode="before")(classmethod(lambda cls, v: _aliases(v)))


# =====================================================================================
# 3. Reading the files (with line numbers)
# =====================================================================================


def _load_yaml(path: Path, text: str) -> tuple[Any, dict]:
    try:
        return load_with_lines(text)
    except YamlError as exc:
        raise CatalogueError([Problem(str(path), exc.line, exc.key, exc.message)]) from None


def _validation_problems(exc: ValidationError, file: str, prefix: tuple, line_for) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        problems.append(Problem(file, line_for(loc), dotted(prefix + loc), msg))
    return problems


@dataclass
class Source:
    """The catalogue files, read and validated, ready to import."""

    fields: dict[str, FieldRecord]
    procedures: list[ProcedureRecord]
    enrichment: dict[str, EnrichmentRecord]
    files: list[Path]
    digest: str
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # crawl duplicates, not imported


#: national.jsonl is ~3 MB: a catalogue file past this is refused before it is read (or parsed)
MAX_FILE_BYTES = 16 * 1024 * 1024


def _read(path: Path) -> str:
    try:
        return boundedread.read_text(path, MAX_FILE_BYTES)
    except boundedread.TextFileError as exc:
        where = f"column {exc.column}: " if exc.column else ""
        raise CatalogueError([Problem(str(path), exc.line, "", where + exc.reason)]) from None
    except OSError as exc:
        raise CatalogueError([Problem(str(path), None, "", f"cannot read: {exc.strerror or exc}")]) from None


def read_jsonl(path: Path, text: str | None = None) -> list[ProcedureRecord]:
    """national.jsonl (cleaned records) or the raw portal file (cleaned on the way)."""
    text = _read(path) if text is None else text
    problems: list[Problem] = []
    records: list[ProcedureRecord] = []
    cleaned: list[tuple[int, dict]] = []
    raw_mode = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), lineno, "", f"not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        except RecursionError:  # thousands of nested [ or {: the decoder recurses per level
            problems.append(Problem(str(path), lineno, "", "not valid JSON: lists or objects nested too deeply"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(str(path), lineno, "", "each line must be one JSON object"))
            continue
        if is_raw_portal_record(obj):
            raw_mode = True
            missing = [
                k
                for k in ("code", "name_vi", "field_vi")
                if not isinstance(obj.get(k), str) or not obj.get(k)
            ]
            if missing:
                problems.append(Problem(str(path), lineno, missing[0], "required key is missing or empty"))
                continue
            obj = clean_portal_record(obj)
        cleaned.append((lineno, obj))
    if raw_mode:
        mark_crawl_duplicates([obj for _, obj in cleaned])
    for lineno, obj in cleaned:
        try:
            records.append(ProcedureRecord.model_validate(obj))
        except ValidationError as exc:
            problems.extend(_validation_problems(exc, str(path), (), lambda loc, n=lineno: n))
        if len(problems) > 50:
            break
    if problems:
        raise CatalogueError(problems)
    return records


def read_manual(path: Path, text: str | None = None) -> list[ProcedureRecord]:
    """manual.yaml: a list `procedures:` of hand-added procedures."""
    text = _read(path) if text is None else text
    data, lines = _load_yaml(path, text)
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("procedures", []), list):
        raise CatalogueError(
            [Problem(str(path), 1, "procedures", "the file must be a mapping with a list `procedures:`")]
        )
    extra = [k for k in data if k != "procedures"]
    if extra:
        raise CatalogueError(
            [Problem(str(path), line_of(data, lines, (extra[0],)), str(extra[0]), "unknown key (misspelt?)")]
        )
    problems: list[Problem] = []
    records = []
    for i, item in enumerate(data.get("procedures") or []):
        try:
            rec = ManualRecord.model_validate(item)
        except ValidationError as exc:
            problems.extend(
                _validation_problems(
                    exc,
                    str(path),
                    ("procedures", i),
                    lambda loc, i=i: line_of(data, lines, ("procedures", i) + loc),
                )
            )
            continue
        if not rec.key:
            rec = rec.model_copy(update={"key": "m-" + slug(rec.name)})
        if not rec.official_name:
            rec = rec.model_copy(update={"official_name": rec.name})
        records.append(rec)
    if problems:
        raise CatalogueError(problems)
    return records


def read_fields(path: Path, text: str | None = None) -> dict[str, FieldRecord]:
    """fields.yaml: field id → {vi, en, icon, sort}."""
    text = _read(path) if text is None else text
    data, lines = _load_yaml(path, text)
    if not isinstance(data, dict):
        raise CatalogueError(
            [Problem(str(path), 1, "", "the file must map field ids to {vi, en, icon, sort}")]
        )
    problems, out = [], {}
    for fid, item in data.items():
        if not isinstance(fid, str) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", fid):
            problems.append(
                Problem(
                    str(path),
                    line_of(data, lines, (fid,)),
                    str(fid),
                    "a field id is lower-case words joined by '-'",
                )
            )
            continue
        try:
            out[fid] = FieldRecord.model_validate(item)
        except ValidationError as exc:
            problems.extend(
                _validation_problems(
                    exc, str(path), (fid,), lambda loc, f=fid: line_of(data, lines, (f,) + loc)
                )
            )
    if problems:
        raise CatalogueError(problems)
    return out


def read_enrichment(path: Path, text: str | None = None) -> dict[str, EnrichmentRecord]:
    """enrichment.yaml: national code → {name_en, aliases, service}."""
    text = _read(path) if text is None else text
    data, lines = _load_yaml(path, text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CatalogueError(
            [Problem(str(path), 1, "", "the file must map national codes to {name_en, aliases, service}")]
        )
    problems, out = [], {}
    for code, item in data.items():
        code_s = str(code)
        if not re.fullmatch(r"\d\.\d{6}", code_s):
            problems.append(
                Problem(
                    str(path),
                    line_of(data, lines, (code,)),
                    code_s,
                    'not a national code such as "1.000894" (quote it)',
                )
            )
            continue
        try:
            out[code_s] = EnrichmentRecord.model_validate(item or {})
        except ValidationError as exc:
            problems.extend(
                _validation_problems(
                    exc, str(path), (code_s,), lambda loc, c=code: line_of(data, lines, (c,) + loc)
                )
            )
    if problems:
        raise CatalogueError(problems)
    return out


def source_files(path: Path) -> dict[str, Path | None]:
    """The catalogue files of a source directory (fields.yaml may sit in it or its parent)."""
    path = Path(path)
    fields = path / FIELDS_FILE
    if not fields.exists():
        fields = path.parent / FIELDS_FILE
    return {
        "national": path / NATIONAL_FILE if (path / NATIONAL_FILE).exists() else None,
        "manual": path / MANUAL_FILE if (path / MANUAL_FILE).exists() else None,
        "enrichment": path / ENRICHMENT_FILE if (path / ENRICHMENT_FILE).exists() else None,
        "fields": fields if fields.exists() else None,
    }


def _source_file_set(path: Path, default_dir: Path | None) -> dict:
    """The part → file map of a catalogue source (see load_source)."""
    if path.is_dir():
        return source_files(path)
    files = source_files(default_dir if default_dir is not None else path.parent)
    if path.suffix == ".jsonl":
        files["national"] = path
    elif path.name in (MANUAL_FILE, ENRICHMENT_FILE, FIELDS_FILE):
        files[path.name.split(".")[0]] = path
    elif path.suffix in (".yaml", ".yml"):
        files["manual"] = path
    else:
        raise CatalogueError(
            [Problem(str(path), None, "", "expected a .jsonl or .yaml catalogue file, or a directory")]
        )
    return files


def load_source(path: Path, *, default_dir: Path | None = None) -> Source:
    """Read and validate a catalogue source.

    `path` is a directory (national.jsonl, manual.yaml, enrichment.yaml, fields.yaml there or
    in its parent) or one file that replaces its part of `default_dir`'s set: a .jsonl file
    (cleaned national.jsonl or the raw portal crawl) replaces national.jsonl; a .yaml file
    named like one of the parts replaces that part.
    """
    path = Path(path)
    if not path.exists():
        raise CatalogueError([Problem(str(path), None, "", "no such file or directory")])
    files = _source_file_set(path, default_dir)
    if files["fields"] is None:
        raise CatalogueError(
            [Problem(str(path), None, "", f"no {FIELDS_FILE} next to the catalogue (field names and icons)")]
        )
    if files["national"] is None and files["manual"] is None:
        raise CatalogueError(
            [Problem(str(path), None, "", f"neither {NATIONAL_FILE} nor {MANUAL_FILE} found")]
        )

    digest = hashlib.sha256()
    texts: dict[str, str] = {}
    for part, p in files.items():
        if p is not None:
            texts[part] = _read(p)
            digest.update(f"{part}\0".encode() + texts[part].encode("utf-8") + b"\0")

    problems: list[Problem] = []

    def attempt(fn, part, default):
        if not files[part]:
            return default
        try:
            return fn(files[part], texts[part])
        except CatalogueError as exc:
            problems.extend(exc.problems)
            return None

    fields = attempt(read_fields, "fields", {}) or {}
    national = attempt(read_jsonl, "national", [])
    manual = attempt(read_manual, "manual", [])
    enrichment = attempt(read_enrichment, "enrichment", {})
    if problems:
        raise CatalogueError(problems)

    check = _RecordCheck(files, texts, fields)
    for part, recs in (("national", national or []), ("manual", manual or [])):
        for i, rec in enumerate(recs):
            check.add(part, i, rec)
    warnings = [
        f"{files['enrichment']}: code {code} is not in the catalogue (ignored)"
        for code in enrichment or {}
        if code not in check.codes
    ]
    if check.problems:
        raise CatalogueError(check.problems)
    used = [p for p in files.values() if p is not None]
    return Source(fields, check.procedures, enrichment or {}, used, digest.hexdigest(), warnings, check.skipped)


class _RecordCheck:
    """Keys, codes and fields of the records read so far: duplicates and unknown fields are problems."""

    def __init__(self, files: dict, texts: dict, fields: dict):
        self.files, self.texts, self.fields = files, texts, fields
        self.problems: list[Problem] = []
        self.skipped: list[str] = []
        self.procedures: list[ProcedureRecord] = []
        self.seen: dict[str, str] = {}
        self.codes: dict[str, str] = {}

    def add(self, part: str, i: int, rec) -> None:
        file = str(self.files[part])
        where = _record_line(part, self.texts[part], i)
        key = rec.key or rec.code
        if not key:
            self.problems.append(Problem(file, where, "code", "a national record needs its code"))
            return
        if rec.key != key:
            rec = rec.model_copy(update={"key": key})
        if key in self.seen:
            self.problems.append(Problem(
                file, where, "key" if part == "manual" else "code",
                f"duplicate procedure {key!r} (also in {self.seen[key]})",
            ))
            return
        if rec.code and rec.code in self.codes:
            self.problems.append(
                Problem(file, where, "code", f"duplicate code {rec.code!r} (also in {self.codes[rec.code]})")
            )
            return
        self.seen[key] = f"{Path(file).name}:{where}"
        if rec.code:
            self.codes[rec.code] = f"{Path(file).name}:{where}"
        if rec.field_id not in self.fields:
            self.problems.append(Problem(
                file, where, "field_id", f"unknown field id {rec.field_id!r}: add it to {self.files['fields']}"
            ))
            return
        if rec.crawl_duplicate_of:
            self.skipped.append(f"{rec.code} (same portal page as {rec.crawl_duplicate_of})")
            return
        self.procedures.append(rec)


def _record_line(part: str, text: str, index: int) -> int | None:
    """Line of the index-th record of a part (jsonl: the index-th non-empty line; yaml: '- ' items)."""
    lines = _record_lines(part, text)
    return lines[index] if 0 <= index < len(lines) else None


@functools.lru_cache(maxsize=8)
def _record_lines(part: str, text: str) -> tuple[int, ...]:
    """Line numbers of every record of a part, computed once per file text."""
    if part == "national":
        return tuple(n for n, line in enumerate(text.splitlines(), 1) if line.strip())
    return tuple(
        n for n, line in enumerate(text.splitlines(), 1)
        if re.match(r"^\s{0,4}- ", line) and not line.lstrip().startswith("#")
    )


# =====================================================================================
# 4. The import: one transaction
# =====================================================================================


@dataclass
class ImportReport:
    """What an import did."""

    version: int
    fields: int
    procedures: int
    national: int
    manual: int
    aliases: int
    missing_en: list[str]
    files: list[str]
    digest: str
    search_index: bool
    warnings: list[str]
    skipped: list[str] = field(default_factory=list)
    unchanged: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        s = (
            f"catalogue version {self.version}: {self.procedures} procedures "
            f"({self.national} national, {self.manual} manual) in {self.fields} fields, {self.aliases} aliases"
        )
        if self.missing_en:
            s += f"; {len(self.missing_en)} without an English name"
        if self.skipped:
            s += f"; {len(self.skipped)} crawl duplicates skipped"
        return s


def _merged_aliases(rec: ProcedureRecord, enrich: EnrichmentRecord | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for source in (rec.aliases, enrich.aliases if enrich else None):
        if source is None:
            continue
        for lang in ("vi", "en"):
            for a in getattr(source, lang):
                a = clean(a)
                if not a or a in seen or fold(a) in (fold(rec.name), fold(rec.official_name)):
                    continue
                seen.add(a)
                out.append((a, lang))
    return out


def _row(rec: ProcedureRecord, enrich: EnrichmentRecord | None) -> dict:
    def dumps(obj) -> str:
        return json.dumps(obj, ensure_ascii=False)

    docs = [d.model_dump(exclude_defaults=False) for d in rec.documents]
    return {
        "key": rec.key,
        "code": rec.code,
        "name": rec.name,
        "official_name": rec.official_name or rec.name,
        "name_en": rec.name_en or (enrich.name_en if enrich else ""),
        "field_id": rec.field_id,
        "level": rec.level,
        "processing_text": rec.processing.text,
        "processing_value": rec.processing.value,
        "processing_unit": rec.processing.unit,
        "processing_json": dumps([c.model_dump() for c in rec.processing.channels]),
        "fee_text": rec.fee.text,
        "fee_amount": rec.fee.amount,
        "fee_note": rec.fee.note,
        "fee_json": dumps([c.model_dump() for c in rec.fee.channels]),
        "documents_json": dumps(docs),
        "notes_json": dumps(rec.notes),
        "forms_json": dumps([f.model_dump() for f in rec.forms]),
        "legal_basis_json": dumps([d.model_dump() for d in rec.legal_basis]),
        "steps_json": dumps(rec.steps),
        "submission_json": dumps([s.model_dump() for s in rec.submission]),
        "applicants": rec.applicants,
        "result": rec.result,
        "conditions": rec.conditions,
        "agency": rec.agency,
        "service": rec.service or (enrich.service if enrich else ""),
        "source": rec.source,
        "portal_url": rec.portal_url,
    }


def _prepare_search(rows: list[dict], alias_rows: list[tuple[str, str, str]]) -> None:
    """Embed the procedures' passages for the semantic ranker before the write transaction
    (slow: tens of milliseconds a passage), so that the index rebuild inside it finds them
    in the passage-vector cache and the database is not locked meanwhile."""
    try:
        from centre.search import semantic, textindex
    except ImportError:
        return
    aliases: dict[str, list[tuple[str, str]]] = {}
    for key, alias, lang in alias_rows:
        aliases.setdefault(key, []).append((alias, lang))
    texts = [t for r in rows for _, t in textindex.passages_of(r, sorted(aliases.get(r["key"], [])))]
    semantic.embed_passages(texts)


def _rebuild_search_index(conn) -> bool:
    """Call centre.search.rebuild_index(conn) when the search module provides it."""
    try:
        search = importlib.import_module("centre.search")
    except ModuleNotFoundError as exc:
        if exc.name == "centre.search":
            return False
        raise
    fn = getattr(search, "rebuild_index", None)
    if fn is None:
        return False
    fn(conn)
    return True


def import_catalogue(
    conn, path: Path, *, default_dir: Path | None = None, force: bool = True
) -> ImportReport:
    """Validate the catalogue at `path` and replace the catalogue tables with it, atomically.

    One BEGIN IMMEDIATE transaction deletes and re-inserts fields, procedures and aliases,
    bumps catalogue_meta.version, stores imported_at and the source hash, and rebuilds the
    search index. Readers on other connections (WAL) see the old catalogue until COMMIT.
    On any error nothing changes. `force=False` skips the import when the source hash is
    the one already imported.
    """
    raw_conn = conn.conn if isinstance(conn, sqlite_utils.Database) else conn
    src = load_source(path, default_dir=default_dir)
    ensure_schema(raw_conn)
    if not force and _meta(raw_conn, "source_hash") == src.digest:
        return _report(src, int(_meta(raw_conn, "version") or 0), 0, False, unchanged=True)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    n_alias = 0
    rows, alias_rows = [], []
    for rec in src.procedures:
        enrich = src.enrichment.get(rec.code) if rec.code else None
        rows.append(_row(rec, enrich))
        alias_rows.extend((rec.key, a, lang) for a, lang in _merged_aliases(rec, enrich))
    _prepare_search(rows, alias_rows)
    with transaction(raw_conn):
        raw_conn.execute("DELETE FROM aliases")
        raw_conn.execute("DELETE FROM procedures")
        raw_conn.execute("DELETE FROM fields")
        raw_conn.executemany(
            "INSERT INTO fields(id, name_vi, name_en, icon, sort) VALUES (?, ?, ?, ?, ?)",
            [(fid, f.vi, f.en, f.icon, f.sort) for fid, f in src.fields.items()],
        )
        cols = list(rows[0]) if rows else []
        if rows:
            raw_conn.executemany(
                f"INSERT INTO procedures({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [tuple(r[c] for c in cols) for r in rows],
            )
        raw_conn.executemany(
            "INSERT OR IGNORE INTO aliases(procedure_key, alias, lang) VALUES (?, ?, ?)", alias_rows
        )
        n_alias = raw_conn.execute("SELECT count(*) FROM aliases").fetchone()[0]
        version = int(_meta(raw_conn, "version") or 0) + 1
        meta = {
            "version": str(version),
            "imported_at": now,
            "source_hash": src.digest,
            "source": ", ".join(str(p) for p in src.files),
        }
        raw_conn.executemany(
            "INSERT INTO catalogue_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(meta.items()),
        )
        indexed = _rebuild_search_index(raw_conn)
    report = _report(src, version, n_alias, indexed)
    for w in src.warnings:
        log.warning(w)
    return report


def _report(src: Source, version: int, n_alias: int, indexed: bool, unchanged: bool = False) -> ImportReport:
    missing_en = [
        r.code or r.key
        for r in src.procedures
        if not (r.name_en or (r.code and src.enrichment.get(r.code) and src.enrichment[r.code].name_en))
    ]
    return ImportReport(
        version=version,
        fields=len(src.fields),
        procedures=len(src.procedures),
        national=sum(1 for r in src.procedures if r.source != "manual"),
        manual=sum(1 for r in src.procedures if r.source == "manual"),
        aliases=n_alias,
        missing_en=missing_en,
        files=[str(p) for p in src.files],
        digest=src.digest,
        search_index=indexed,
        warnings=list(src.warnings),
        skipped=list(src.skipped),
        unchanged=unchanged,
    )


def _meta(conn, key: str) -> str | None:
    row = conn.execute("SELECT value FROM catalogue_meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None
