"""Where to go instead: the referral table (`data/referrals.yaml`, edited by the centre).

`referral_for(text)` gives the office for a request the centre does not handle (passports,
driving licences, divorce, taxes…) or None. Matching is by whole words in order: with
diacritics when the citizen typed them (tones count: "thuế đất" is a tax, "thuê đất" is not),
folded when they did not (then only phrases of two words or more, or English ones). Both
sides are compared in the spelling the lexical stage unifies (round 7): the old and new tone
placement ("hoà" = "hòa", "khoẻ" = "khỏe") and the i/y variants ("lí lịch" = "lý lịch",
"kỉ luật" = "kỷ luật").

An entry's `mention` phrases (round 8) name the thing rather than the need — a document or a
place ("hộ chiếu", "ngân hàng", "bệnh viện"): they refer like `match` phrases on "no match" and
against a weak answer, but a request that says only them while the ward still answers gets no
"see also" line (`Referral.see_also` False): "certified copy of my passport", "lĩnh lương hưu qua
tài khoản ngân hàng", "nằm viện" are in-scope needs that name the passport, the bank, the hospital
in passing. Where both kinds of phrase are said, the longest phrase decides, a `match` one on ties.

The table's `advice` section (round 10) holds the phrases of a question that asks for legal advice
rather than a procedure — a dispute, a lawsuit, a penalty, a right, a complaint ("tranh chấp",
"bị phạt bao nhiêu", "là của ai", "có quyền", "giải quyết thế nào") — and where to ask such a
question (the state legal aid centre, the ward's justice officer). `advice_for(text)` is read only
once the search has refused a request for which the table names no office (`Searcher._decide`): it
never makes or vetoes an answer (as a veto it lost in-scope answers on every real dev set: real
citizens ask for ward procedures in the same words, "chậm khai tử có bị phạt không"), it only says
where to ask instead of nothing. Same matching as the table's phrases.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from centre.text import fold

log = logging.getLogger(__name__)

REFERRALS_PATH = Path(__file__).resolve().parents[2] / "data" / "referrals.yaml"


@dataclass(frozen=True)
class Referral:
    """An office to send the citizen to, in Vietnamese and English, and what to say."""

    id: str
    office_vi: str
    office_en: str
    advice_vi: str
    advice_en: str
    matched: str = ""  # the phrase of the table the request matched
    # False when the phrase matched is one of the entry's `mention` phrases (a document or a
    # place named, not the need): no "see also" line next to an answer (not in to_dict)
    see_also: bool = True

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["see_also"]
        return d


# typographic apostrophes (web pages, phone keyboards) read as the ASCII one: "driver’s licence"
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'"})


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text or "").lower().translate(_APOSTROPHES)
    return "".join(ch if ch.isalnum() or ch == "'" else " " for ch in text).split()


@lru_cache(maxsize=8192)
def _key(word: str, accented: bool) -> str:
    """A word as the table compares it: with its tone moved to the end (`lexical.tone_key`)
    when the text was typed with diacritics, folded when not; i/y unified (`lexical._canon`)."""
    from centre.search.lexical import _canon, tone_key  # lexical imports this module: at first use

    return tone_key(_canon(word)) if accented else _canon(fold(word))


def _keys(words, accented: bool) -> tuple[str, ...]:
    return tuple(_key(w, accented) for w in words)


def _accented(words: list[str]) -> bool:
    return any(fold(w) != w for w in words)


def _ngrams(words: list[str], longest: int) -> set[tuple[str, ...]]:
    """Every run of 1..`longest` consecutive words of `words`."""
    return {tuple(words[i : i + n]) for n in range(1, longest + 1) for i in range(len(words) - n + 1)}


# Words that deny what follows within two words: "không có lương hưu" asks for no pension.
_NEGATIONS = frozenset({"không", "chưa", "chẳng", "khong", "chua", "chang", "no", "not", "without", "never"})


def _said(seq: list[str], phrase: tuple[str, ...], words: list[str]) -> bool:
    """Whether `phrase` occurs in `seq` (the compared forms of `words`) at least once without a
    negation just before it."""
    n = len(phrase)
    for i in range(len(seq) - n + 1):
        if tuple(seq[i : i + n]) == phrase and not _NEGATIONS.intersection(words[max(0, i - 2) : i]):
            return True
    return False


@dataclass(frozen=True)
class _Entry:
    referral: Referral
    typed: tuple[tuple[str, ...], ...]  # compared forms (`_key`) of the phrases as written
    folded: tuple[tuple[str, ...], ...]  # … of those usable for an unaccented query
    # compared form → what `Referral.matched` reports: the phrase as written (typed), folded
    # (unaccented query: scope.names_say then compares it folded, as the query was typed)
    written: dict
    mentions: frozenset = frozenset()  # compared forms of the `mention` phrases (both spellings)


class ReferralTable:
    """The loaded table; `find(text)` is pure."""

    def __init__(self, entries: list[_Entry], advice: _Entry | None = None):
        self.entries = entries
        self.advice = advice  # the `advice` section: a legal-advice question and where to ask it
        self.longest = max(
            (len(p) for e in [*entries, *([advice] if advice else [])] for p in e.typed), default=0
        )

    @classmethod
    def load(cls, path: Path = REFERRALS_PATH) -> ReferralTable:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            log.error("referral table %s unreadable (%s): no referrals", path, exc)
            return cls([])
        adv_vi = str(data.get("default_advice_vi") or "Xin hỏi cán bộ hướng dẫn.")
        adv_en = str(data.get("default_advice_en") or "Please ask the officer at the help desk.")
        entries = []
        for e in data.get("referrals") or []:
            if not isinstance(e, dict) or not e.get("match") or not e.get("office_vi"):
                log.warning("referral table %s: entry %r ignored", path, e)
                continue
            entries.append(_entry(e, adv_vi, adv_en))
        advice = data.get("advice")
        if advice is not None and not (
            isinstance(advice, dict) and advice.get("match") and advice.get("office_vi")
        ):
            log.warning("referral table %s: advice section %r ignored", path, advice)
            advice = None
        return cls(entries, _entry({"id": "legal_advice", **advice}, adv_vi, adv_en) if advice else None)

    def find(self, text: str) -> Referral | None:
        """The first entry (longest phrase wins among entries) whose phrase `text` says."""
        return self._find(text, self.entries)

    def find_advice(self, text: str) -> Referral | None:
        """The `advice` section when `text` says one of its phrases (a legal-advice question),
        else None. Its `see_also` is False: it names no office beside an answer."""
        if self.advice is None:
            return None
        r = self._find(text, [self.advice])
        return None if r is None else replace(r, see_also=False)

    def _find(self, text: str, entries: list[_Entry]) -> Referral | None:
        words = _words(text)
        if not words:
            return None
        accented = _accented(words)
        seq = list(_keys(words, accented))
        grams = _ngrams(seq, self.longest)  # every run of words: a phrase test is one set look-up
        best: tuple[tuple[int, bool], _Entry, tuple[str, ...]] | None = None
        for e in entries:
            for p in e.typed if accented else e.folded:
                rank = (len(p), p not in e.mentions)  # the longest phrase; a need before a mention
                if p in grams and (best is None or rank > best[0]) and _said(seq, p, words):
                    best = (rank, e, p)
        if best is None:
            return None
        r, p = best[1].referral, best[2]
        return Referral(
            r.id,
            r.office_vi,
            r.office_en,
            r.advice_vi,
            r.advice_en,
            " ".join(best[1].written[p]),
            p not in best[1].mentions,
        )


def _entry(e: dict, adv_vi: str, adv_en: str) -> _Entry:
    """One entry of the table (or its `advice` section) as `find` compares it."""
    ref = Referral(
        str(e.get("id") or ""),
        str(e["office_vi"]),
        str(e.get("office_en") or e["office_vi"]),
        str(e.get("advice_vi") or adv_vi),
        str(e.get("advice_en") or adv_en),
    )
    mention = [tuple(_words(str(m))) for m in e.get("mention") or [] if _words(str(m))]
    phrases = [tuple(_words(str(m))) for m in e["match"] if _words(str(m))] + mention
    written: dict = {}
    for p in phrases:
        written.setdefault(_keys(p, True), p)
        written.setdefault(_keys(p, False), tuple(fold(w) for w in p))
    typed = tuple(_keys(p, True) for p in phrases)
    folded = tuple(_keys(p, False) for p in phrases if len(p) > 1 or not _accented(list(p)))
    mentions = frozenset(k for p in mention for k in (_keys(p, True), _keys(p, False)))
    return _Entry(ref, typed, folded, written, mentions)


_TABLE: tuple[float, ReferralTable] | None = None
_LOCK = threading.Lock()


def table(path: Path = REFERRALS_PATH) -> ReferralTable:
    """The shipped table, reloaded when the file changes (a centre edits it)."""
    global _TABLE
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    with _LOCK:
        if _TABLE is None or _TABLE[0] != mtime:
            _TABLE = (mtime, ReferralTable.load(path))
        return _TABLE[1]


def referral_for(text: str) -> Referral | None:
    """Where to send a request the centre does not handle (None when the table has no entry)."""
    return table().find(text or "")


def advice_for(text: str) -> Referral | None:
    """Where to ask a legal-advice question (a dispute, a penalty, a right) the centre refused and
    the table names no office for (the table's `advice` section), or None. Read only after a
    refusal: it never decides whether the search answers."""
    return table().find_advice(text or "")


def legal_advice() -> Referral | None:
    """The `advice` section's referral (legal aid) whatever the text says: for a question the
    search refused because it asks for a legal judgement (stage `judgement`), or None."""
    adv = table().advice
    return None if adv is None else replace(adv.referral, see_also=False)
