"""Siblings: a short request that says what happened to a paper asks for the procedure that
re-issues, copies, corrects, changes or renews it, not for the paper's first issue (round 10).

"mất giấy hôn thú" names the marriage registration best, word for word, yet the citizen is
married already: the answer is a copy of the marriage extract or its re-registration, the
siblings of "Đăng ký kết hôn". The word knowledge is data (`words.yaml: sibling_marks`): classes
of marks a request says (mất, hư, sai, bản sao, hết hạn, lost, copy…) and the words of the
names of the procedures that answer each (lại, đổi, bản sao, trích lục, cải chính…).

`first_sibling` (stage `siblings` of `Searcher._decide`) reorders the answers only: when a short
request says a mark and the first answer's name says none of that class's words, the best
candidate among the first `SIBLING_WINDOW` whose name does (same field as the first, or sharing
two adjacent words of its name beyond the registering verbs, "thẻ BHYT") and that scores at
least `SIBLING_SHARE` of it goes first, the first second. Whether to answer is decided before,
and is never changed here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import yaml

from centre.search.words import NOT_MARKER_AFTER, WORDS_PATH
from centre.text import fold

_DATA = yaml.safe_load(WORDS_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class MarkClass:
    """One kind of thing that happened to a paper: the phrases saying it, the name words answering it."""

    name: str
    said: tuple[tuple[str, ...], ...]  # phrases as typed (lower case), one tuple of words each
    names: tuple[frozenset[tuple[str, ...]], ...]  # tiers of name phrases, the first preferred
    said_folded: tuple[tuple[str, ...], ...] = ()  # the same phrases folded (a request without accents)


def _words(phrase: str) -> tuple[str, ...]:
    return tuple(str(phrase).lower().split())


MARK_CLASSES: tuple[MarkClass, ...] = tuple(
    MarkClass(
        str(name),
        tuple(_words(p) for p in spec.get("said") or ()),
        tuple(frozenset(_words(p) for p in tier) for tier in spec.get("names") or ()),
        tuple(tuple(fold(w) for w in _words(p)) for p in spec.get("said") or ()),
    )
    for name, spec in (_DATA.get("sibling_marks") or {}).items()
)


def _word_table(key: str, also: dict | None = None) -> dict[bool, dict[str, frozenset[str]]]:
    """mark → the words around it that make it no mark, as typed (True) and folded (False)."""
    table = {str(k): [str(w) for w in v] for k, v in (_DATA.get(key) or {}).items()}
    for k, v in (also or {}).items():
        table.setdefault(str(k), []).extend(str(w) for w in v)
    return {
        True: {k: frozenset(v) for k, v in table.items()},
        False: {fold(k): frozenset(fold(w) for w in v) for k, v in table.items()},
    }


NOT_AFTER = _word_table("sibling_not_after", NOT_MARKER_AFTER)  # "vừa mất", "thay đổi", "xây lại"
NOT_BEFORE = _word_table("sibling_not_before")  # "mất rồi", "mất tuần trước"
# the verbs that open most names ("Đăng ký…", "Cấp…"): sharing one makes no sibling
_REGISTERING = frozenset({"dang", "ky", "cap", "giay", "chung", "nhan", "thu", "tuc", "cho", "va", "cua"})


def _holds(words: Sequence[str], phrase: tuple[str, ...]) -> list[int]:
    """Positions where `phrase` starts in `words`."""
    n = len(phrase)
    return [i for i in range(len(words) - n + 1) if tuple(words[i : i + n]) == phrase]


def _excluded(words: Sequence[str], i: int, phrase: tuple[str, ...], accented: bool) -> bool:
    """A one-word mark after a word that makes it something else ("thay đổi" is no exchange,
    "xây lại" no re-issue, "vừa mất" a death) or before one ("mất rồi", "mất tuần trước"), or
    "mất" as the last word."""
    if len(phrase) != 1:
        return False
    mark = phrase[0]
    if i and words[i - 1] in NOT_AFTER[accented].get(mark, ()):
        return True
    before = NOT_BEFORE[accented].get(mark)
    return before is not None and (i + 1 >= len(words) or words[i + 1] in before)


def said_classes(words: Sequence[str], accented: bool) -> list[MarkClass]:
    """The mark classes a request says, in data order. `words`: the request's words as typed
    (lower case); without accents they are compared folded."""
    seq = [w if accented else fold(w) for w in words]
    present = set(seq)
    out = []
    for mc in MARK_CLASSES:
        for p in mc.said if accented else mc.said_folded:
            if p[0] in present and any(not _excluded(seq, i, p, accented) for i in _holds(seq, p)):
                out.append(mc)
                break
    return out


def _pairs(words: Sequence[str]) -> set[tuple[str, str]]:
    """Adjacent word pairs of a name, folded, but those of registering verbs only ("đăng ký")."""
    f = [fold(w) for w in words]
    return {p for p in zip(f, f[1:], strict=False) if not set(p) <= _REGISTERING}


def _tier(name_words: Sequence[str], mc: MarkClass) -> int | None:
    """The first tier of `mc` whose phrases the name says, None when it says none."""
    for t, tier in enumerate(mc.names):
        if any(_holds(name_words, p) for p in tier):
            return t
    return None


def first_sibling(
    ranked: Sequence[tuple[str, float]],
    classes: Sequence[MarkClass],
    name_words: Callable[[str], Sequence[str]],
    field_of: Callable[[str], str | None],
    *,
    window: int,
    share: float,
    floor: float,
) -> int | None:
    """The position (in `ranked`, (key, score) best first) of the sibling to put first, or None.

    `name_words(key)`: the words of a procedure's display name, typed, lower case;
    `field_of(key)`: its field. A sibling is a candidate among the first `window` whose name says
    a word of the first class (in order) of which the first candidate's name says none, related to
    the first (same field, or a shared pair of adjacent name words beyond the registering verbs) and scoring at least
    `share` of the first and `floor`; the lowest tier, then the best score, wins."""
    if not ranked or not classes:
        return None
    top_key, top_score = ranked[0]
    top_words = list(name_words(top_key))
    top_pairs = _pairs(top_words)
    for mc in classes:
        if _tier(top_words, mc) is not None:
            continue  # the first answer already is such a procedure
        best: tuple[int, int] | None = None  # (tier, position)
        for pos, (key, score) in enumerate(ranked[1:window], start=1):
            if score < share * top_score or score < floor:
                continue
            words = list(name_words(key))
            t = _tier(words, mc)
            if t is None:
                continue
            related = field_of(key) == field_of(top_key) or bool(top_pairs & _pairs(words))
            if related and (best is None or t < best[0]):
                best = (t, pos)
        if best is not None:
            return best[1]
    return None


def offered_sibling(
    ranked: Sequence[tuple[str, float]],
    accepted: int,
    classes: Sequence[MarkClass],
    name_words: Callable[[str], Sequence[str]],
    field_of: Callable[[str], str | None],
    *,
    window: int,
    runners: int,
) -> tuple[int, int] | None:
    """(from, to): the best related sibling too weak to go first is at least offered among the
    first `runners` answers (round 11), or None.

    Called when `first_sibling` found none close enough to the first: the same choice without the
    share and floor (the lowest tier, then the best score, among the first `window`). When it is
    not among the `accepted` answers already, it moves to place `min(accepted, runners - 1)`:
    after the answers, never before the first, so whether and what is answered first never
    changes; only the answer it pushes out of the first `runners` is lost from the offer."""
    pos = first_sibling(ranked, classes, name_words, field_of, window=window, share=0.0, floor=0.0)
    if not pos or pos < accepted:
        return None
    return pos, min(accepted, runners - 1)
