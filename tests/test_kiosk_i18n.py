"""Every citizen-facing text of the kiosk is in vi and en, used somewhere, and no sentence is hard-coded."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from kiosk.controller import ABORT_REASONS, I18n

KIOSK = Path(__file__).resolve().parent.parent / "kiosk"
SOURCES = [p for p in KIOSK.rglob("*") if p.suffix in (".py", ".kv") and "commands" not in p.parts
           and p.name != "cli.py" and p.name != "__main__.py"]

# keys built at run time from a prefix and a value: every value is listed here
DYNAMIC = (
    {f"robot.aborted_{r}" for r in ABORT_REASONS}
    | {f"home.{a}" for a in ("lookup", "ticket", "dossier", "directions")}
    | {f"home.{a}_hint" for a in ("lookup", "ticket", "dossier", "directions")}
    | {f"staff.state_{s}" for s in ("open", "paused", "closed")}
    | {f"dossier.{s}" for s in ("searching", "not_found", "failed", "ambiguous")}
    | {f"dossier.state_{s}" for s in ("received", "processing", "supplement_requested", "ready", "returned", "rejected")}
    | {f"dossier.next_{s}" for s in ("wait", "supplement", "pickup", "done", "contact")}
)
KEY_RE = re.compile(r"""['"]([a-z_]+\.[a-z_]+)['"]""")


@pytest.fixture(scope="module")
def i18n():
    return I18n(strict=True)


def _used_keys(known: set[str]) -> set[str]:
    used = set()
    for path in SOURCES:
        for m in KEY_RE.finditer(path.read_text(encoding="utf-8")):
            if not m.group(1).endswith("_"):
                used.add(m.group(1))
    return used


def test_same_keys_in_both_languages(i18n):
    vi, en = i18n.keys("vi"), i18n.keys("en")
    assert vi - en == set(), f"missing in en.yaml: {sorted(vi - en)}"
    assert en - vi == set(), f"missing in vi.yaml: {sorted(en - vi)}"


def test_no_empty_text_and_same_placeholders(i18n):
    fmt = string.Formatter()
    for key in i18n.keys("vi"):
        vi, en = i18n.texts["vi"][key], i18n.texts["en"][key]
        assert vi.strip() and en.strip(), key
        ph_vi = {f for _, f, _, _ in fmt.parse(vi) if f}
        ph_en = {f for _, f, _, _ in fmt.parse(en) if f}
        assert ph_vi == ph_en, f"{key}: placeholders differ: {ph_vi} vs {ph_en}"


def test_every_key_used_in_code_exists(i18n):
    known = i18n.keys("vi")
    used = _used_keys(known)
    # only strings that look like our keys (a known top-level group)
    groups = {k.split(".")[0] for k in known}
    used = {k for k in used if k.split(".")[0] in groups}
    missing = used - known
    assert not missing, f"keys used in code but not in vi.yaml: {sorted(missing)}"
    assert DYNAMIC <= known, f"dynamic keys missing: {sorted(DYNAMIC - known)}"


def test_no_unused_keys(i18n):
    known = i18n.keys("vi")
    used = _used_keys(known) | DYNAMIC
    unused = known - used
    assert not unused, f"keys in vi.yaml that nothing uses: {sorted(unused)}"


def test_vietnamese_texts_have_diacritics(i18n):
    """A Vietnamese file without tone marks would be a bug (typed without Telex)."""
    plain = [k for k, v in i18n.texts["vi"].items() if len(v) > 25 and v.isascii() and not k.startswith("app.lang")]
    assert not plain, f"Vietnamese texts without diacritics: {plain}"


def test_no_sentences_hard_coded_in_widgets():
    """text: '...' literals in .kv and text=\"...\" in screen code are i18n calls, not sentences."""
    offenders = []
    for path in SOURCES:
        src = path.read_text(encoding="utf-8")
        for m in re.finditer(r"""\btext\s*[:=]\s*(['"])([^'"]{4,})\1""", src):
            literal = m.group(2)
            if re.search(r"[A-Za-zÀ-ỹ]{3,}\s+[A-Za-zÀ-ỹ]{3,}", literal):
                offenders.append(f"{path.name}: {literal}")
    assert not offenders, offenders


def test_a_waiting_ticket_does_not_send_the_citizen_to_the_counter(i18n):
    """QA: the issued ticket said "Mời đến: Quầy 1, Quầy 2" (go to) before the number was called,
    unlike the printed ticket ("Quầy phục vụ"); citizens are called by the hall display."""
    for key in ("ticket.counter", "speak.ticket"):
        assert "Mời đến" not in i18n.t(key, "vi", counter="Quầy 1", number="A001", ahead=2, wait=5)
        assert "go to" not in i18n.t(key, "en", counter="Counter 1", number="A001", ahead=2, wait=5)


def test_missing_key_is_an_error_in_strict_mode(i18n):
    with pytest.raises(KeyError):
        i18n.t("home.no_such_key")
    lenient = I18n()
    assert lenient.t("home.no_such_key", "en") == "home.no_such_key"
    assert lenient.t("ticket.ahead", "en", ahead=3) == "People waiting before you: 3"
    assert lenient.t("ticket.ahead", "vi", ahead=3) == "Số người đang chờ trước: 3"


def test_public_service_vietnamese(i18n):
    """Issue 14: respectful address (Ông/Bà, never "bạn"), no "dịch vụ A", acronyms spelled out,
    no Telex cheat line; English complete (no "(s)" plurals, no "1 procedures")."""
    for key, text in i18n.texts["vi"].items():
        words = re.findall(r"[\wÀ-ỹ]+", text.lower())
        assert "bạn" not in words, f"{key}: {text}"
        assert not re.search(r"dịch vụ [A-Z]\b", text), f"{key}: {text}"
        assert not re.search(r"\b(BHXH|BHYT|BHTN|UBND|HĐND)\b", text), f"{key}: {text}"
        assert "aa→â" not in text, key
    for key, text in i18n.texts["en"].items():
        assert "(s)" not in text and "(ies)" not in text, f"{key}: {text}"
        assert not re.search(r"\{count\} procedures|\{n\} [a-z]+s\b", text) or key in (
            "detail.more_docs",), f"{key}: {text}"  # n ≥ 2 there
