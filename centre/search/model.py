"""The ranking model: one path from a citizen's words to an answer (docs/search.md).

    analysis (analysis.focus: the request inside a long question; lexical: syllables,
    folding, Telex, corrections, lexicon readings)
      → candidates (FTS5 over names and aliases; FTS5 over the procedure's own text)
      → features (lexical phrase score of the request, of the whole question; field-weighted
        BM25 of the procedure text; semantic similarity, multilingual-e5-small)
      → one score (`combine`, weights in weights.py)
      → answer (hits, with the parts of the procedure a question asked about), or "no match"
        with the nearest fields and where to go instead (referral.py).

`Searcher.rank()` is that path; `search()` and `explain()` both read its result, so they
agree by construction. `features_off` switches stages off for the ablation bench.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from centre.search import learned, semantic
from centre.search.analysis import Focus, asked_parts, asks_judgement, focus, words_of
from centre.search.lexical import (
    Hit,
    LexicalRanker,
    SearchResult,
    _Index,
    analyze,
    mostly_english,
    query_age,
)
from centre.search.longfill import named_in_three
from centre.search.referral import Referral, advice_for, legal_advice, referral_for
from centre.search.scope import evidence_outside, evidence_within, names_say, story_led, vetoes
from centre.search.shortlead import exact_words
from centre.search.siblings import first_sibling, offered_sibling, said_classes
from centre.search.textindex import bm25_scores
from centre.search.weights import (
    DEFAULT_MIN_SCORE,
    ENGLISH_MIN_SHARE,
    FUSION_E5_WEIGHT,
    FUSION_K,
    FUSION_POOL,
    FUSION_SCORE_WEIGHT,
    LEARNED_K,
    LONG_LEAD,
    LONG_LEAD_NO_STORY,
    LONG_MIN_SHARE,
    LONG_QUESTION,
    MAX_QUERY_CHARS,
    MAX_QUERY_TOKENS,
    REFERRAL_VETO,
    RUNNER_SHARE,
    RUNNERS,
    SEMANTIC_CANDIDATES,
    SEMANTIC_DECISIVE,
    SHORT_LEAD,
    SHORT_LEAD_MIN_SHARE,
    SHORT_LEAD_WORDS,
    SIBLING_OFFER_WINDOW,
    SIBLING_SHARE,
    SIBLING_WINDOW,
    TEXT_CANDIDATES,
    TEXT_MAX_TERMS,
    W_CONTEXT,
    W_CONTEXT_ALONE,
    W_SEMANTIC,
    W_TEXT,
)
from centre.search.words import FOREIGN_PARTY_EN, VARIANT_MARKS_EN, WORDS_PATH
from centre.text import fold

log = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W_]+")
# Phrases of Q&A-column letters and legal talk (words.yaml: filler_phrases), as typed and folded.
_FILLER_TYPED = frozenset(
    tuple(str(p).lower().split())
    for p in yaml.safe_load(WORDS_PATH.read_text(encoding="utf-8")).get("filler_phrases") or ()
)
_FILLER_FOLDED = frozenset(tuple(fold(w) for w in p) for p in _FILLER_TYPED)
_FILLER_LONGEST = max((len(p) for p in _FILLER_TYPED), default=0)


def matched_words(text: str, tail: bool = True) -> str:
    """The request as the lexical stage reads it: the filler phrases of a letter left out
    ("theo quy định của pháp luật", "mong luật sư tư vấn"), and of a request longer than
    MAX_QUERY_TOKENS words its last ones (a long sentence asks at its end). Pure."""
    words = _WORD.findall((text or "").lower())
    if not words:
        return text or ""
    accented = any(fold(w) != w for w in words)
    table = _FILLER_TYPED if accented else _FILLER_FOLDED
    keys = words if accented else [fold(w) for w in words]
    keep: list[str] = []
    i = 0
    while i < len(words):
        n = next((n for n in range(_FILLER_LONGEST, 1, -1) if tuple(keys[i : i + n]) in table), 0)
        if n:
            i += n
            continue
        keep.append(words[i])
        i += 1
    if not keep:
        return text
    return " ".join(keep[-MAX_QUERY_TOKENS:] if tail else keep[:MAX_QUERY_TOKENS])


# Stages the ablation bench can switch off (each falls back to "feature absent").
STAGES = ("focus", "runon", "context", "text", "semantic", "long_rule", "referral", "lexicon", "english_map", "english_threshold", "runners",
          "fusion", "long_runners", "english_passages", "english_marks", "story_marks", "learned_rank", "learned_refusal",
          "siblings", "sibling_offer", "long_fill", "mention_aside", "judgement", "short_lead")
# Stages that ship switched off (`features_on` switches them on): the learned reranker and
# answer classifier (learned.py) won on no dev set as a whole (round 6, docs/search.md).
OFF_BY_DEFAULT = frozenset({"learned_rank", "learned_refusal"})


@dataclass
class Scored:
    """One candidate procedure with its features and its one score."""

    key: str
    lexical: float = 0.0  # best phrase score of the request (lexical.phrase_score)
    context: float = 0.0  # … of the whole question (long questions only)
    text: float = 0.0  # field-weighted BM25 of the procedure text, saturated to 0..1
    semantic: float | None = None  # cosine with the best passage of the procedure
    score: float = 0.0
    phrase: object | None = None  # the best lexical phrase (lexical._Phrase)
    factor: float = 1.0  # the procedure-level factors of that phrase (variant marks, actions, ages)
    detail: dict | None = None


def combine(c: Scored, semantic_top: float | None = None) -> float:
    """The one score of a candidate, in 0..1 (weights in weights.py).

    The semantic similarity counts relative to the best candidate's (`semantic_top`): it
    reorders candidates the words found, and never lifts a query over the threshold alone.
    """
    # the lexical score carries the procedure-level factors already; the other evidence gets them too
    # a request that says little ("tôi có được hưởng chế độ gì không?") leaves the naming to
    # its story: the whole question's own phrase score, discounted, stands in for it
    s = max(c.lexical, W_CONTEXT_ALONE * c.factor * c.context) + c.factor * (W_CONTEXT * c.context + W_TEXT * c.text)
    if c.semantic is not None and semantic_top is not None:
        s += W_SEMANTIC * (c.semantic - semantic_top)
    return max(0.0, min(1.0, s))


@functools.lru_cache(maxsize=2048)
def _name_words(name: str) -> tuple[str, ...]:
    """The words of a procedure name as typed, lower case (siblings: names are read once)."""
    return tuple(a for a, _ in analyze(name))


def runners_up(accepted: int, scores: list[float], floor: float) -> int:
    """How many candidates to show once the first is an answer: those above the threshold,
    and the next ones (up to RUNNERS in all) scoring at least `floor` (a share of the
    threshold): a long or unusual question's right procedure is often second or third,
    and the kiosk shows the best first anyway. Nothing is shown when nothing was accepted."""
    if not accepted:
        return 0
    extra = accepted
    while extra < min(RUNNERS, len(scores)) and scores[extra] >= floor:
        extra += 1
    return max(accepted, extra)


def fused_runners(ranked: list[Scored]) -> list[Scored]:
    """A long question's first FUSION_POOL candidates with the first kept and the others
    ordered by reciprocal-rank fusion of the three rankers: the one score (counted
    FUSION_SCORE_WEIGHT times), the e5 similarity (counted FUSION_E5_WEIGHT times) and the
    text BM25. The first decides
    whether and what to answer; the runners-up only say what else to offer, and there the
    rankers that disagree with the score often know better (its top-3 gain, docs/search.md).
    Ties keep the score's order. Pure."""
    pool = ranked[:FUSION_POOL]
    if len(pool) < 3:
        return list(ranked)

    def places(value) -> dict[int, int]:
        order = sorted(range(len(pool)), key=lambda i: -value(pool[i]))  # stable: score order on ties
        return {i: p for p, i in enumerate(order)}

    by_e5 = places(lambda c: -2.0 if c.semantic is None else c.semantic)
    by_text = places(lambda c: c.text)
    fused = {i: FUSION_SCORE_WEIGHT / (FUSION_K + i) + FUSION_E5_WEIGHT / (FUSION_K + by_e5[i])
             + 1 / (FUSION_K + by_text[i]) for i in range(1, len(pool))}
    runners = sorted(range(1, len(pool)), key=lambda i: (-fused[i], i))
    return [pool[0], *(pool[i] for i in runners), *ranked[FUSION_POOL:]]


@dataclass
class Ranking:
    """Everything `search` and `explain` report, computed once."""

    query: str
    focus: Focus
    ranked: list[Scored] = field(default_factory=list)
    accepted: int = 0  # how many of `ranked` are answers (the rest are below the threshold)
    rule: str = ""  # why the answer was accepted or refused: threshold | long_lead | referral | judgement | code
    referral: Referral | None = None
    see_also: Referral | None = None  # an answer, and the request also names an office elsewhere (see_also)
    asked: list[str] = field(default_factory=list)
    tokens: list = field(default_factory=list)
    readings: list[str] = field(default_factory=list)  # the request as typed, then through the lexicon
    code_hits: list = field(default_factory=list)
    semantic: str = "off"  # the e5 ranker: "on", "skipped: no match", "skipped: decisive", "off"
    learned: dict = field(default_factory=dict)  # what the learned stages did (when on): version, answer_p, reordered

    @property
    def best(self) -> float:
        return self.ranked[0].score if self.ranked else 0.0


class Searcher(LexicalRanker):
    """Searches the catalogue in `conn`; reloads after a re-import. Thread-safe.

    `min_score`: below it a procedure is not offered (config `search.min_score`).
    `features_off`: stages switched off (STAGES), for the ablation bench; `features_on`: stages
    that ship off (OFF_BY_DEFAULT) switched on. `learned_weights`: the learned layer's weights
    file (learned.WEIGHTS_PATH); a bad file is logged and the hand model decides.
    """

    def __init__(self, conn, *, min_score: float = DEFAULT_MIN_SCORE, limit: int = 10, features_off=(),
                 features_on=(), learned_weights: Path | str | None = None):
        super().__init__(conn, min_score=min_score, limit=limit)
        unknown = (set(features_off) | set(features_on)) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown search stages: {sorted(unknown)}")
        self.off = frozenset((OFF_BY_DEFAULT - set(features_on)) | set(features_off))
        self._vectors: tuple[str, dict, np.ndarray, dict] | None = None  # version, rows by key, matrix, English rows
        self._vec_keys: list[str] = []
        self._text_df: tuple[str, dict[str, int]] | None = None
        self._learned_path = Path(learned_weights) if learned_weights else learned.WEIGHTS_PATH
        self._learned: learned.LearnedModel | bool | None = None  # False: the file was bad (logged)

    # ---- public API

    def search(self, text: str | None, limit: int | None = None) -> SearchResult:
        """Procedures matching `text`, best first; never raises for any text."""
        limit = self.limit if limit is None else max(0, int(limit))
        r = self.rank(text)
        with self._lock:
            idx = self._current()
            if r.rule == "code":
                return SearchResult(r.query, r.code_hits[:limit], [], 1.0)
            hits = [self._scored_hit(idx, c, r.asked) for c in r.ranked[: min(limit, r.accepted)]]
            suggested = [] if hits else self._suggest(
                idx, {c.key: (c.score, c.phrase) for c in r.ranked}, r.tokens
            )
        return SearchResult(r.query, hits, suggested, round(r.best, 4), None if hits else r.referral,
                            r.see_also if hits else None)

    def explain(self, text: str, n: int = 5) -> dict:
        """How `text` was understood and scored (`kiosk search --explain`): the same ranking
        `search` reads, with every feature of the first `n` candidates."""
        r = self.rank(text, detail=True)
        if r.rule == "code":  # a procedure code: its procedure, as `search` answers
            r.ranked = [Scored(h.key, lexical=1.0, score=1.0) for h in r.code_hits]
            r.accepted = len(r.ranked)
        return {
            "request": r.focus.request,
            "context": r.focus.context,
            "asked": r.asked,
            "tokens": [
                {"typed": q.plain, "weight": round(q.weight, 3), "stop": q.stop,
                 "variants": {k: round(v, 2) for k, v in q.variants.items()}}
                for q in r.tokens
            ],
            "readings": r.readings,
            "rule": r.rule,
            "semantic": r.semantic,
            "learned": r.learned,
            "accepted": r.accepted,
            "min_score": self.min_score,
            "referral": r.referral.to_dict() if r.referral else None,
            "see_also": r.see_also.to_dict() if r.see_also else None,
            "candidates": [
                {"key": c.key, "score": round(c.score, 4), "lexical": round(c.lexical, 4),
                 "context": round(c.context, 4), "text": round(c.text, 4),
                 "semantic": None if c.semantic is None else round(c.semantic, 4),
                 "phrase": getattr(c.phrase, "text", ""), "detail": c.detail or {}}
                for c in r.ranked[:n]
            ],
        }

    # ---- the one path

    def rank(self, text: str | None, detail: bool = False, capture: dict | None = None) -> Ranking:
        """The one path (see the module's docstring). `capture`, for bench/search_train.py only:
        filled with what the learned layer reads, before it decides."""
        raw = text if isinstance(text, str) else ("" if text is None else str(text))
        raw = raw[:MAX_QUERY_CHARS]
        with self._lock:
            idx = self._current()
            code_hits = self.code_hits(idx, raw)
            if code_hits:
                return Ranking(raw, focus(raw), rule="code", code_hits=code_hits)
            foc = focus(raw, "runon" not in self.off) if "focus" not in self.off else Focus(raw, raw, "", len(words_of(raw)))
            r = Ranking(raw, foc, asked=asked_parts(foc.request))
            ranker_on = "semantic" not in self.off and W_SEMANTIC
            with semantic.prefetched(foc.embedded if ranker_on else "", long=foc.long):  # e5 ahead of need meanwhile (semantic.job_policy)
                cands = self._features(idx, r, detail)
            sims = [c.semantic for c in cands.values() if c.semantic is not None]
            top = max(sims) if sims else None
            for c in cands.values():
                c.score = combine(c, top)
            r.ranked = sorted(cands.values(), key=lambda c: (-c.score, -c.lexical, c.key))
            self._decide(idx, r, capture)
            r.see_also = self._see_also(r)
            if "fusion" not in self.off and foc.long and r.accepted > 1 and r.semantic == "on":
                r.ranked = fused_runners(r.ranked)  # the runners-up of a long question (places 2..)
            if "long_fill" not in self.off and foc.long and r.accepted:  # what its request, its story name best (longfill.py)
                r.ranked, r.accepted = named_in_three(r.ranked, r.accepted, self._runner_floor(r),
                                                      (lambda c: c.lexical, lambda c: c.context), lambda c: c.score)
            return r

    def _features(self, idx: _Index, r: Ranking, detail: bool) -> dict[str, Scored]:
        lexicon_off = "lexicon" in self.off
        # the age a long question's story speaks of ("Tôi có con trai 4 tuổi. … làm căn cước cho con")
        story_age = query_age([f for _, f in analyze(r.focus.text)]) if r.focus.context else None
        per_req, r.tokens, r.readings = self._lexical_off_aware(idx, matched_words(r.focus.request), detail, lexicon_off,
                                                                story_age, self._story_marks(r))
        cands: dict[str, Scored] = {}
        for key, v in per_req.items():
            cands[key] = Scored(key, lexical=v[0], phrase=v[1], detail=v[2] if detail else None,
                                factor=v[2].get("factor", 1.0))
        if r.focus.context and "context" not in self.off and W_CONTEXT:
            per_all, _, _ = self._lexical_off_aware(idx, matched_words(r.focus.text, tail=False), False, lexicon_off)
            for key, v in per_all.items():
                c = cands.setdefault(key, Scored(key, phrase=v[1]))
                c.context = v[0]
        if "text" not in self.off and W_TEXT:
            terms = self._text_terms(idx, r)
            for key, t in bm25_scores(self.conn, terms, TEXT_CANDIDATES, idx.text_bm25).items():
                cands.setdefault(key, Scored(key)).text = t
        if "semantic" not in self.off and W_SEMANTIC and cands:
            r.semantic = self._semantic_needed(r, cands)
            if r.semantic == "on":
                self._semantic(idx, r, cands)
        return cands

    def _semantic_needed(self, r: Ranking, cands: dict[str, Scored]) -> str:
        """Whether the e5 ranker can still change the answer: "on", or why it is skipped.

        Its term is ≤ 0, so when no candidate reaches the lowest score the decision accepts
        (the threshold, or the long-question floor) it cannot change a "no match". When the
        first candidate leads the second and the threshold by SEMANTIC_DECISIVE, the words
        have decided (thresholds chosen on the train sets, docs/search.md).
        """
        pre = sorted((combine(c) for c in cands.values()), reverse=True)
        floor = self._threshold(r)
        if "long_rule" not in self.off and len(r.tokens) >= LONG_QUESTION:
            floor *= LONG_MIN_SHARE
        elif "short_lead" not in self.off and not r.focus.long:
            floor *= SHORT_LEAD_MIN_SHARE  # e5 must agree with a short request's lead (_short_lead)
        if pre[0] < floor:
            return "skipped: no match"
        second = pre[1] if len(pre) > 1 else 0.0
        if pre[0] - max(second, self._threshold(r)) >= SEMANTIC_DECISIVE:
            return "skipped: decisive"
        return "on"

    def _lexical_off_aware(self, idx, raw, detail, lexicon_off, age=None, story_marks=frozenset()):
        return self.lexical(idx, raw, detail, use_lexicon=not lexicon_off, english_map="english_map" not in self.off,
                            english_variants="english_marks" not in self.off, age=age, story_marks=story_marks)

    def _story_marks(self, r: Ranking) -> frozenset:
        """The foreign party an English letter's story names ("I am a foreigner married to a
        Vietnamese woman … What are … the procedures for legalizing it?"): the mark nước ngoài
        (folded), which its request then says too (stage `story_marks`, round 11)."""
        if "story_marks" in self.off or "english_marks" in self.off or not r.focus.context:
            return frozenset()
        story = [fold(w) for w in words_of(r.focus.context)]
        if not mostly_english(story) or FOREIGN_PARTY_EN.isdisjoint(story):
            return frozenset()
        return frozenset(VARIANT_MARKS_EN["foreign"])

    def _text_terms(self, idx: _Index, r: Ranking) -> list[str]:
        """Words for the text index: the request's words (as corrected), then the context's,
        rarest first; never raw text (textindex.match_expression quotes each word)."""
        terms: list[str] = []
        for q in r.tokens:
            if q.informative and not q.stop:
                terms.extend(t for t in q.variants if t not in terms)
                if q.folded not in terms and q.folded.isalnum():
                    terms.append(q.folded)
        stop = idx.stop_folded
        if r.focus.context and "context" not in self.off:
            terms.extend(w for w in words_of(r.focus.context) if w not in stop and w not in terms and len(w) > 1)
        df = self._text_vocab(idx)
        terms = [t for t in terms if t in df]
        terms.sort(key=lambda t: df.get(t, 0))
        return terms[:TEXT_MAX_TERMS]

    def _text_vocab(self, idx: _Index) -> dict[str, int]:
        """Words of the procedure-text index and in how many procedures each occurs."""
        if self._text_df is None or self._text_df[0] != idx.version:
            try:
                rows = self.conn.execute("SELECT term, doc FROM search_text_vocab").fetchall()
            except sqlite3.OperationalError:
                rows = []
            self._text_df = (idx.version, {r[0]: r[1] for r in rows})
        return self._text_df[1]

    def _semantic(self, idx: _Index, r: Ranking, cands: dict[str, Scored]) -> None:
        vec = self._vector_index(idx)
        if vec is None:
            return
        keys, mat = vec
        if "english_passages" not in self.off and self._english(r):
            # like with like: an English request against the procedures' English passage (the
            # English name and aliases), not against the Vietnamese ones (round 5, docs/search.md)
            keys = self._vectors[3]
        top = sorted(cands.values(), key=lambda c: -combine(c))[:SEMANTIC_CANDIDATES]
        rows = [i for c in top for i in keys.get(c.key, ())]
        if not rows:
            return
        q = semantic.embed_query(r.focus.embedded)
        if q is None:
            return
        sims = mat[rows] @ q
        best: dict[str, float] = {}
        for i, s in zip(rows, sims, strict=True):
            k = self._vec_keys[i]
            best[k] = max(best.get(k, -1.0), float(s))
        for c in top:
            if c.key in best:
                c.semantic = best[c.key]

    def _vector_index(self, idx: _Index):
        """procedure key → row numbers, and the passage matrix (loaded once per catalogue version)."""
        if not semantic.status().available:
            return None
        if self._vectors is None or self._vectors[0] != idx.version:
            try:
                rows = self.conn.execute("SELECT procedure_key, vec, kind FROM search_vectors").fetchall()
            except sqlite3.OperationalError:
                rows = []
            keys: dict[str, list[int]] = {}
            english: dict[str, list[int]] = {}  # the English passage of each procedure
            for i, row in enumerate(rows):
                keys.setdefault(row[0], []).append(i)
                if row[2] == "en":
                    english.setdefault(row[0], []).append(i)
            english = {k: english.get(k) or v for k, v in keys.items()}  # none: its every passage
            self._vec_keys = [row[0] for row in rows]
            self._vectors = (idx.version, keys, semantic.matrix([row[1] for row in rows]), english)
        _, keys, mat, _ = self._vectors
        return (keys, mat) if len(mat) else None

    @staticmethod
    def _english(r: Ranking) -> bool:
        """Whether the request is English (typed without diacritics, mostly English words)."""
        return bool(r.tokens) and not r.tokens[0].accented and mostly_english([q.folded for q in r.tokens])

    def _threshold(self, r: Ranking) -> float:
        """The score an answer needs: an English request, matched against the catalogue's
        English names only, needs ENGLISH_MIN_SHARE of it."""
        if "english_threshold" not in self.off and self._english(r):
            return ENGLISH_MIN_SHARE * self.min_score
        return self.min_score

    def _decide(self, idx: _Index, r: Ranking, capture: dict | None = None) -> None:
        """Answer or no answer: the threshold and the long-question lead (or the learned
        classifier), the runners-up, the learned order of the first candidates, the referral veto."""
        self._hand_accept(idx, r)
        asked_for = None
        if "referral" not in self.off:
            asked_for = referral_for(r.focus.request)  # what the request itself names, not the story
            r.referral = asked_for or (referral_for(r.focus.text) if r.focus.context else None)
        model = self._learned_model()
        view = None
        if capture is not None or model is not None:
            view = self._query_view(idx, r, asked_for is not None)
        if capture is not None:
            capture.update(view=view, ranked=list(r.ranked), accepted=r.accepted, rule=r.rule,
                           floor=self._runner_floor(r),
                           vetoes=self._veto_table(idx, r, asked_for is not None, capture.get("k", LEARNED_K)))
        if model is not None and "learned_refusal" not in self.off:
            self._learned_answer(r, model, view)
        if "runners" not in self.off:
            r.accepted = runners_up(r.accepted, [c.score for c in r.ranked], self._runner_floor(r))
        if model is not None and "learned_rank" not in self.off and r.accepted:
            order = model.order(learned.candidate_features(r.ranked, model.k))
            r.learned.update(version=model.version, reordered=order != sorted(order))
            r.ranked = [r.ranked[i] for i in order] + r.ranked[len(order):]
        if r.accepted and r.referral:  # scope.py: when an answer gives way to the referral
            if self._vetoed(idx, r, r.ranked[0], asked_for is not None, self._veto_rule(r)):
                r.accepted, r.rule = 0, "referral"
        if r.accepted and self._judgement(r):
            r.accepted, r.rule = 0, "judgement"
            if r.referral is None and "referral" not in self.off:
                r.referral = legal_advice()
        if r.accepted and "siblings" not in self.off and not r.focus.long:
            self._sibling_first(idx, r)

        if not r.accepted and r.referral is None and "referral" not in self.off:
            r.referral = advice_for(r.focus.text)  # refused, no office named: a legal-advice question's (round 10)

    def _judgement(self, r: Ranking) -> bool:
        """An answer accepted only by the long-question lead (below the threshold: the weakest
        acceptance) to a question whose request asks for a legal judgement ("… có vi phạm pháp
        luật không?", "… có hợp pháp không?", `analysis.asks_judgement`) rather than for a
        procedure gives way: the ward cannot answer it with a procedure (stage `judgement`,
        round 12). At the threshold such questions are mostly labelled with the procedure whose
        words they use ("Cưới trước đăng ký kết hôn sau có hợp pháp không?"), so only the lead."""
        return "judgement" not in self.off and self._veto_rule(r) == "long_lead" and asks_judgement(r.focus.request)

    def _sibling_first(self, idx: _Index, r: Ranking) -> None:
        """A short request saying what happened to a paper (lost, damaged, wrong, a copy,
        expired): the procedure that re-issues, copies, corrects or renews it goes first when
        the first answer is the paper's first issue (siblings.py, stage `siblings`, round 10).
        Only the order of the answers changes; the sibling passed the runners-up floor."""
        typed = [q for q in r.tokens if not q.synonym]
        classes = said_classes([q.plain for q in typed], any(q.accented for q in typed))
        if not classes:
            return

        def name_words(key: str) -> tuple[str, ...]:
            p = idx.procs.get(key)
            return _name_words((p["name"] if p else "") or "")

        def field_of(key: str) -> str | None:
            p = idx.procs.get(key)
            return p["field_id"] if p else None

        ranked = [(c.key, c.score) for c in r.ranked]
        pos = first_sibling(ranked, classes, name_words, field_of,
                            window=SIBLING_WINDOW, share=SIBLING_SHARE, floor=self._runner_floor(r))
        if pos:
            r.ranked.insert(0, r.ranked.pop(pos))
            r.accepted = min(max(r.accepted, 2), RUNNERS)
        elif "sibling_offer" not in self.off:
            # none close enough to go first: the best related one is at least offered among the
            # first RUNNERS, after the answers (it never displaces the first; round 11)
            move = offered_sibling(ranked, r.accepted, classes, name_words, field_of,
                                   window=SIBLING_OFFER_WINDOW, runners=RUNNERS)
            if move:
                r.ranked.insert(move[1], r.ranked.pop(move[0]))
                r.accepted = min(r.accepted + 1, RUNNERS)

    def _see_also(self, r: Ranking) -> Referral | None:
        """"See also: where to go": the request itself (not a long question's story) names
        something of the referral table and procedures are still the answer ("ly hôn" → the
        ward's note of a divorce abroad, and the court for a divorce itself)."""
        if not r.accepted or r.referral is None or "referral" in self.off:
            return None  # _decide found nothing of the table in the request or the story: no second look-up
        if r.focus.long:
            # a long question's asking sentence names courts, hospitals, salaries as part of the
            # situation ("… công ty không trả tiền lương, tôi muốn khiếu nại"): on the train sets
            # most of the 7 long questions that got a line were beside the point
            return None
        ref = r.referral if not r.focus.context else referral_for(r.focus.request)
        return ref if ref is not None and ref.see_also else None  # a `mention` (a document, a place): no line

    def _hand_accept(self, idx: _Index, r: Ranking) -> None:
        """The hand decision: candidates at the threshold, else a long question's clear lead."""
        ranked = r.ranked
        r.accepted = sum(1 for c in ranked if c.score >= self._threshold(r))
        r.rule = "threshold" if r.accepted else "none"
        if (
            not r.accepted and ranked and "long_rule" not in self.off
            and len(r.tokens) >= LONG_QUESTION and r.best >= LONG_MIN_SHARE * self.min_score
            and r.best >= self._long_lead(r) * self.lexical_leader(idx, [(c.key, c.score) for c in ranked])
        ):
            # A long question dilutes its few telling words with a story: its best procedure is
            # accepted on a lower score when it clearly leads the next one that is not a variant.
            r.accepted, r.rule = 1, "long_lead"
        elif not r.accepted and ranked and self._short_lead(idx, r):
            r.accepted, r.rule = 1, "long_lead"  # weighed as the long lead: any referral need vetoes it

    def _short_lead(self, idx: _Index, r: Ranking) -> bool:
        """A short request's clear lead below the threshold that the e5 ranker puts first too
        and whose phrase holds request words as typed (shortlead.py, stage `short_lead`, round 12). The e5 ranker runs for a short request
        from SHORT_LEAD_MIN_SHARE of the threshold (`_semantic_needed`)."""
        if "short_lead" in self.off or r.focus.long or len(r.tokens) >= LONG_QUESTION:
            return False
        top = r.ranked[0]
        if top.semantic is None or any(c.semantic is not None and c.semantic > top.semantic for c in r.ranked[1:]):
            return False  # e5 did not run, or another candidate is closer in meaning
        return (
            r.best >= SHORT_LEAD_MIN_SHARE * self._threshold(r)
            and r.best >= SHORT_LEAD * self.lexical_leader(idx, [(c.key, c.score) for c in r.ranked])
            and exact_words(r.tokens, top.phrase) >= SHORT_LEAD_WORDS
        )

    @staticmethod
    def _long_lead(r: Ranking) -> float:
        """The lead over the next procedure that is not a variant of it with which a long
        question's best procedure is accepted below the threshold: LONG_LEAD, and
        LONG_LEAD_NO_STORY for a long question (LONG_WORDS) with no story, all of it the
        request (a run of questions: "Sổ đỏ bị sai thông tin có được cấp lại không? Phải bỏ ra
        bao nhiêu tiền?"). The lead guards against a story's words lifting some procedure
        through the whole question's score and the text index; a question without one has none
        (round 9, docs/search.md)."""
        return LONG_LEAD_NO_STORY if r.focus.long and not r.focus.context else LONG_LEAD

    def _runner_floor(self, r: Ranking) -> float:
        # a long question's scores are diluted by its story: its runners-up, like its
        # answer (LONG_MIN_SHARE), are offered from a lower floor (stage long_runners)
        floor = RUNNER_SHARE * self.min_score
        if r.focus.long and "long_runners" not in self.off:
            floor *= LONG_MIN_SHARE
        return floor

    def _veto_rule(self, r: Ranking) -> str:
        """The acceptance the referral veto weighs: an answer the learned classifier took
        below the threshold counts as the weakest one (like the long-question lead)."""
        if r.rule == "learned":
            return "threshold" if r.best >= self._threshold(r) else "long_lead"
        return r.rule

    def _vetoed(self, idx: _Index, r: Ranking, top: Scored, asked: bool, rule: str) -> bool:
        """Whether the answer `top` gives way to the referral (scope.vetoes)."""
        weak = top.score < REFERRAL_VETO
        # found only by the referral's own words (a long question's story naming it as well aside)
        within = asked and not weak and not (r.focus.long and top.context >= top.lexical) \
            and evidence_within(r.tokens, top.phrase, r.referral.matched)
        # a long question's story found it while its asking sentence names an outside need (round 9)
        story = asked and story_led(bool(r.focus.context), r.referral.see_also, top.lexical, top.context)
        said = (weak or within or story) and asked and names_say(idx, top.key, r.referral.matched)
        if weak and not within and rule == "threshold" and self._mention_aside(r, top):
            return False
        return vetoes(rule, top.score, asked, said, within, story, r.referral.see_also)

    def _mention_aside(self, r: Ranking, top: Scored) -> bool:
        """A short request's weak answer does not give way to a `mention` (a document named, no
        "see also" line) when the answer's phrase explains a request word outside it: the
        document is what the ward's procedure acts on ("công chứng học bạ", stage
        `mention_aside`, round 11)."""
        return ("mention_aside" not in self.off and not r.focus.long and not r.referral.see_also
                and evidence_outside(r.tokens, top.phrase, r.referral.matched))

    def _veto_table(self, idx: _Index, r: Ranking, asked: bool, k: int) -> list[tuple[bool, bool]]:
        """For the training script: would each of the first candidates, as the answer, give way
        to the referral when accepted on the threshold, and when accepted below it."""
        if not r.referral:
            return [(False, False)] * len(r.ranked[:k])
        return [(self._vetoed(idx, r, c, asked, "threshold"), self._vetoed(idx, r, c, asked, "long_lead"))
                for c in r.ranked[:k]]

    # ---- the learned layer (learned.py; stages learned_rank, learned_refusal)

    def _learned_model(self) -> learned.LearnedModel | None:
        """The learned weights when a learned stage is on (loaded once; a bad file is logged
        and the hand model decides alone)."""
        if {"learned_rank", "learned_refusal"} <= self.off:
            return None
        if self._learned is None:
            try:
                self._learned = learned.load(self._learned_path)
            except learned.LearnedModelError as e:
                log.warning("search: %s; the hand-tuned ranking and decision are used", e)
                self._learned = False
        return self._learned or None

    def _query_view(self, idx: _Index, r: Ranking, asked: bool) -> learned.QueryView:
        leader = self.lexical_leader(idx, [(c.key, c.score) for c in r.ranked]) if r.ranked else 0.0
        return learned.QueryView(
            threshold=self._threshold(r), hand_rule=r.rule, leader=leader, tokens=len(r.tokens),
            long=r.focus.long, english=self._english(r), referral_request=asked,
            referral_text=r.referral is not None, semantic=r.semantic,
        )

    @staticmethod
    def _learned_answer(r: Ranking, model: learned.LearnedModel, view: learned.QueryView) -> None:
        """The classifier decides whether the first candidate is an answer (the number of
        candidates at the threshold still counts for the runners-up)."""
        if not r.ranked:
            return
        hand = r.accepted
        p = model.answer(learned.query_features(r.ranked, view))
        r.learned.update(version=model.version, answer_p=round(p, 4))
        if model.accepts(hand > 0, p):
            r.accepted, r.rule = max(1, hand if r.rule == "threshold" else 1), "learned"
        else:
            r.accepted, r.rule = 0, ("learned_refusal" if hand else "none")

    # ---- hits

    def _scored_hit(self, idx: _Index, c: Scored, asked: list[str]) -> Hit:
        if c.phrase is not None:
            hit = self._hit(idx, c.key, c.score, c.phrase)
        else:
            p = idx.procs[c.key]
            hit = Hit(
                key=c.key, code=p["code"] or "", name=p["name"], official_name=p["official_name"],
                name_en=p["name_en"] or "", field_id=p["field_id"], field=p["field_vi"] or "",
                field_en=p["field_en"] or "", score=round(c.score, 4), matched="text", matched_text=p["name"],
            )
        if not asked:
            return hit
        passages = self._answer_passages(c.key, asked)
        return replace(hit, answers=[a for a in asked if a in passages or a in ALWAYS_ANSWERED], passages=passages)

    def _answer_passages(self, key: str, asked: list[str]) -> dict[str, str]:
        row = self.conn.execute(
            "SELECT documents_json, fee_text, processing_text, applicants, conditions, agency "
            "FROM procedures WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return {}
        try:
            docs = [str(d.get("text", "")) for d in json.loads(row[0] or "[]") if isinstance(d, dict)]
        except (ValueError, TypeError):
            docs = []
        texts = {
            "documents": "; ".join(docs[:6]),
            "fee": row[1] or "",
            "time": row[2] or "",
            "applicants": row[3] or row[4] or "",
            "place": row[5] or "",
        }
        return {a: texts[a] for a in asked if texts.get(a)}


# Parts every procedure answers at the centre, whatever its text says: "where?" is answered by
# the counter that serves it (the procedure view's destination), even when the catalogue names
# no agency ("đăng ký khai sinh ở đâu" opens the detail page at its counter line).
ALWAYS_ANSWERED = frozenset({"place"})

_SHARED: dict[tuple, Searcher] = {}
_SHARED_LOCK = threading.Lock()


def shared_searcher(database, *, min_score: float = DEFAULT_MIN_SCORE, limit: int = 10) -> Searcher:
    """The process's one `Searcher` for a database file and settings (its index loads once).

    For callers that would otherwise build a Searcher per request (voice, web handlers):
    it has its own connection and is thread-safe.
    """
    from centre.db import connect

    key = (str(Path(database).resolve()), float(min_score), int(limit))
    with _SHARED_LOCK:
        searcher = _SHARED.get(key)
        if searcher is None:
            searcher = _SHARED[key] = Searcher(connect(database), min_score=min_score, limit=limit)
        return searcher


def search(conn, text: str, *, min_score: float = DEFAULT_MIN_SCORE, limit: int = 10) -> SearchResult:
    """One-off search (builds a Searcher each call; long-running callers keep a `Searcher`)."""
    return Searcher(conn, min_score=min_score, limit=limit).search(text, limit)
