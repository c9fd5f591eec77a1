"""The search's word knowledge, read from `words.yaml` (fillers, kinship, everyday words,
abbreviations, variant marks, action words, question frame, name qualifiers, numerals).

Nothing here decides a ranking: the lists are data, the weights are in `weights.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from centre.text import fold as _fold

WORDS_PATH = Path(__file__).with_name("words.yaml")
_DATA = yaml.safe_load(WORDS_PATH.read_text(encoding="utf-8"))


def _set(key: str) -> frozenset[str]:
    return frozenset(str(_DATA.get(key) or "").split())


def _phrases(key: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(str(p).split()) for p in _DATA.get(key) or ())


STOP_VI = _set("stop_vi")
def _english_forms(words: frozenset[str]) -> frozenset[str]:
    """English filler with its plural / third-person forms (agency → agencies, need → needs):
    Vietnamese syllables never end in s, so the forms added are English only."""
    out = set(words)
    for w in words:
        if len(w) > 2 and w.isalpha():
            out.add(w[:-1] + "ies" if w.endswith("y") and w[-2] not in "aeiou" else w + ("es" if w.endswith(("s", "sh", "ch", "x")) else "s"))
    return frozenset(out)


STOP_EN = _english_forms(_set("stop_en"))
KINSHIP_VI = _set("kinship_vi")
KINSHIP_EN = _set("kinship_en")
KIN_SIDE = _set("kin_side")
KIN_SIDE_AFTER = _set("kin_side_after")
GENERIC_VI = _set("generic_vi")
GENERIC_EN = _set("generic_en")
ABBREVIATIONS: dict[str, str] = {str(k): str(v) for k, v in (_DATA.get("abbreviations") or {}).items()}
NUMBER_WORDS: dict[str, str] = {str(k): str(v) for k, v in (_DATA.get("numbers") or {}).items()}
VARIANT_MARKERS = _phrases("variant_marks")
# marks that narrow who or where ("nước ngoài"), folded: each must be said (round 10)
VARIANT_SCOPES: tuple[frozenset[str], ...] = tuple(
    frozenset(_fold(w) for w in m) for m in _phrases("variant_scopes")
)
NOT_MARKER_AFTER: dict[str, set[str]] = {k: set(v) for k, v in (_DATA.get("not_a_mark_after") or {}).items()}
# an English mark (folded) → the folded words of its Vietnamese mark ("foreign" → nuoc, ngoai)
VARIANT_MARKS_EN: dict[str, tuple[str, ...]] = {
    str(k).lower(): tuple(_fold(w) for w in str(v).split()) for k, v in (_DATA.get("variant_marks_en") or {}).items()
}
# (round 11) the English words that name a foreign party ("foreign", "foreigner"…, folded): the story
# of an English letter says them ("I am a foreigner married to …") while its question does not
FOREIGN_PARTY_EN = frozenset(w for w, m in VARIANT_MARKS_EN.items() if m == VARIANT_MARKS_EN.get("foreign"))
ACTION_LEADS = _phrases("action_leads")
FRAME_WORDS = _set("question_frame")
AGE_WORDS = frozenset(_DATA.get("age_words") or ())


def _alternation(words) -> str:
    return "|".join(re.escape(str(w)) for w in sorted(words, key=len, reverse=True))


QUALIFIERS_VI = re.compile(rf"\s(?:{_alternation(_DATA.get('qualifiers_vi') or ())})\s|[(;:]", re.IGNORECASE)
QUALIFIERS_EN = re.compile(rf"\s(?:{_alternation(_DATA.get('qualifiers_en') or ())})\s|[(;:,]", re.IGNORECASE)
