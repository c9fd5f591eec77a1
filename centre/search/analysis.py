"""Analysis of a question before it is matched: finding the request inside a narrative, and
what the question asks about.

Word-level analysis (folding with đ → d, tone keys, Telex, i/y, numerals, abbreviations,
syllable segmentation) is `lexical.analyze` and the query-token stage of `lexical.py`; this
module works on sentences. Everything here is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from centre.search.lexical import mostly_english
from centre.search.weights import FOCUS_MIN_WORDS, LONG_WORDS, QUESTION_BLOCK_WORDS, RUNON_WORDS
from centre.search.words import FRAME_WORDS, STOP_EN, STOP_VI, WORDS_PATH
from centre.text import fold

_DATA = yaml.safe_load(WORDS_PATH.read_text(encoding="utf-8"))
REQUEST_CUES = tuple(str(c).split() for c in _DATA.get("request_cues") or ())
ASKS = {part: tuple(str(c).split() for c in cues) for part, cues in (_DATA.get("asks") or {}).items()}
PARTS = tuple(ASKS)  # documents, fee, time, applicants, place
ASK_CUES = tuple(c for cues in ASKS.values() for c in cues)
JUDGEMENT_ASKS = tuple(str(c).split() for c in _DATA.get("judgement_asks") or ())
RUNON_OPENERS = tuple(tuple(str(c).lower().split()) for c in _DATA.get("runon_openers") or ())
RUNON_CLOSERS = tuple(tuple(str(c).lower().split()) for c in _DATA.get("runon_closers") or ())


def _by_first(phrases) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Phrases by their first word, longest first (one dict look-up a word: `_phrase_at`)."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for p in sorted(phrases, key=len, reverse=True):
        out.setdefault(p[0], []).append(p)
    return {k: tuple(v) for k, v in out.items()}


_RUNON_TYPED = (_by_first(RUNON_OPENERS), _by_first(RUNON_CLOSERS))
_RUNON_FOLDED = (_by_first(tuple(fold(w) for w in p) for p in RUNON_OPENERS),
                 _by_first(tuple(fold(w) for w in p) for p in RUNON_CLOSERS))

_FILLER_FOLDED = frozenset(fold(w) for w in STOP_VI) | STOP_EN | FRAME_WORDS
_SENTENCE = re.compile(r"(?<=[.?!;\n])\s+|\s*\n\s*")
_WORD = re.compile(r"[^\W_]+")


def words_of(text: str) -> list[str]:
    """Folded lower-case words (đ → d), punctuation dropped."""
    return [fold(w) for w in _WORD.findall((text or "").lower())]


def _has(words: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


@dataclass(frozen=True)
class Focus:
    """A question cut into the request (what is asked) and its context (the story)."""

    text: str
    request: str
    context: str
    words: int  # words in the whole text
    asking: str = ""  # the asking sentence(s) before the question block joined them ("" = the request)

    @property
    def embedded(self) -> str:
        """What the e5 ranker embeds: the asking sentence (the block's questions cost e5 time)."""
        return self.asking or self.request

    @property
    def long(self) -> bool:
        return self.words >= LONG_WORDS


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text or "") if s and s.strip()]


def _phrase_at(keys: list[str], i: int, phrases: dict) -> int:
    """The length of the longest of `phrases` (`_by_first`) starting at word `i` of `keys` (0: none)."""
    for p in phrases.get(keys[i], ()):
        if tuple(keys[i : i + len(p)]) == p:
            return len(p)
    return 0


def _runon_clauses(words: list[str], keys: list[str], openers, closers) -> list[str]:
    """A run of words without sentence punctuation cut into clauses: before an opener ("cho hỏi",
    "xin cảm ơn") and after a closer ("được không", "ở đâu"), the latter ending with "?"."""
    out: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(words):
        n = _phrase_at(keys, i, openers)
        if n:  # the opener's words go together ("xin cho biết" is not cut again before "cho biết")
            if cur:
                out.append(" ".join(cur) + ".")
            cur = list(words[i : i + n])
            i += n
            continue
        m = _phrase_at(keys, i, closers)
        step = max(m, 1)
        cur.extend(words[i : i + step])
        i += step
        if m:
            out.append(" ".join(cur) + "?")
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def punctuate(text: str) -> str:
    """`text` with the sentences of an unpunctuated run-on letter marked (round 12): a crawler
    lower-cases the letters and drops their "." and "?", so the asking sentence is found no more.
    Each sentence of RUNON_WORDS words or more that is not a question is cut into clauses
    (`_runon_clauses`, words.yaml: runon_openers / runon_closers); a letter with a "?" in it, or
    short, is returned as it is. Only the punctuation between words changes. Pure."""
    if "?" in (text or "") or len(_WORD.findall(text or "")) < RUNON_WORDS:
        return text
    out = []
    for s in sentences(text):
        words = s.split()
        if len(_WORD.findall(s)) < RUNON_WORDS:
            out.append(s)
            continue
        low = [w.lower().strip(",.;:!\"'()") for w in words]
        accented = any(fold(w) != w for w in low)
        keys = low if accented else [fold(w) for w in low]
        openers, closers = _RUNON_TYPED if accented else _RUNON_FOLDED
        out.append(" ".join(_runon_clauses(words, keys, openers, closers)))
    return "\n".join(out)


def _cue_score(sentence: str) -> int:
    w = words_of(sentence)
    return sum(_has(w, c) for c in REQUEST_CUES) + (2 if sentence.rstrip().endswith("?") else 0)


def content_words(text: str) -> int:
    """How many words of `text` are not filler or question frame."""
    words = _WORD.findall((text or "").lower())
    accented = any(fold(w) != w for w in words)  # then "định" is no "đang": compare as typed
    return sum(
        1 for w in words
        if not (w in STOP_VI if accented else fold(w) in _FILLER_FOLDED) and fold(w) not in FRAME_WORDS | STOP_EN
    )


def naming_words(text: str) -> int:
    """Content words of `text` left once the phrases saying which part of a procedure is asked
    (`words.yaml: asks`: "bao lâu", "lệ phí", "giấy tờ gì", "ở đâu", "có được"…) are taken out:
    "Và thời gian thực hiện là bao lâu?" asks about a procedure it does not name (round 7)."""
    words = _WORD.findall((text or "").lower())
    folded = [fold(w) for w in words]
    asked: set[int] = set()
    for cue in ASK_CUES:
        n = len(cue)
        asked.update(j for i in range(len(folded) - n + 1) if folded[i : i + n] == cue for j in range(i, i + n))
    return content_words(" ".join(w for i, w in enumerate(words) if i not in asked))


def _question_block(parts: list[str], first: int, last: int) -> int:
    """The first sentence of the run of questions that ends the request: a follow-up ("Nếu
    được thì thủ tục thế nào?") asks about the question before it ("…có được nhập khẩu cho
    con không?"), so the questions just before it join it, up to QUESTION_BLOCK_WORDS words."""
    while (
        first > 0 and parts[first - 1].rstrip().endswith("?")
        and len(words_of(" ".join(parts[first - 1 : last + 1]))) <= QUESTION_BLOCK_WORDS
    ):
        first -= 1
    return first


def focus(text: str, runon: bool = True) -> Focus:
    """The request of a question: for a short one, all of it; for a long one, the asking
    sentence (the last one with most cues), with the sentences before it while it says too
    little by itself (fewer than FOCUS_MIN_WORDS content words besides what it asks about:
    `naming_words`) ("Xin hỏi thủ tục thế nào?", "Và thời gian thực hiện là bao lâu?"),
    and the questions just before it (`_question_block`; not in an English letter)."""
    text = (text or "").strip()
    words = words_of(text)
    n = len(words)
    parts = sentences(punctuate(text) if runon else text) if n >= LONG_WORDS else []
    if len(parts) < 2:
        return Focus(text, text, "", n)
    scores = [_cue_score(s) for s in parts]
    best = max(range(len(parts)), key=lambda i: (scores[i], i))
    if scores[best] == 0:
        best = len(parts) - 1  # no cue: a question usually ends with what it asks
    first = best
    while first > 0 and naming_words(" ".join(parts[first : best + 1])) < FOCUS_MIN_WORDS:
        first -= 1
    asking = first
    if not mostly_english(words):  # an English letter's questions: one sentence measured better
        first = _question_block(parts, first, best)
    request = " ".join(parts[first : best + 1])
    context = " ".join(parts[:first] + parts[best + 1 :])
    return Focus(text, request, context, n, " ".join(parts[asking : best + 1]) if asking != first else "")


def asked_parts(text: str) -> list[str]:
    """The parts of a procedure the question asks about, in the order of PARTS."""
    w = words_of(text)
    return [part for part, cues in ASKS.items() if any(_has(w, c) for c in cues)]


def asks_judgement(text: str) -> bool:
    """Whether the question asks for a legal judgement ("… có vi phạm pháp luật không?", "… có
    hợp pháp không?", "… có đúng không?": `words.yaml: judgement_asks`), not for a procedure."""
    w = words_of(text)
    return any(_has(w, c) for c in JUDGEMENT_ASKS)
