"""The learned layer of the ranking (round 6, docs/search.md): a reranker of the first
candidates and an answer / no-answer classifier, both linear models over what the pipeline
already computed (`Scored` features, the hand decision), with their weights in a data file
(`learned.json`, written by `bench/search_train.py`).

- `candidate_features(ranked, k)`: one row per candidate of the first `k` (hand-score order):
  its features, their gaps to the best of each ranker and its places by each ranker. Pure.
- `query_features(q)`: one row per query (`QueryView`: the hand decision, length, English,
  referral named, e5 state) and the first candidate's features. Pure.
- `LearnedModel.order(rows)`: the reranked order of the first candidates (a softmax over
  them was trained; the arg-sort of its logits is the order). `LearnedModel.answer(row)`:
  the probability that the query is one the centre handles; `LearnedModel.accepts(hand, p)`:
  an answer the hand decision took stays below `refuse_below` only when p reaches it, a
  "no match" of the hand decision becomes an answer from `accept_from`.
- `load(path)`: the weights file, validated (`LearnedModelError` names the file).

The model never scores a candidate the pipeline did not find, and the referral veto stays
after its decision (model.Searcher._decide).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS_PATH = Path(__file__).resolve().parent / "learned.json"
MODEL_NAME = "ward-search-learned"
FORMAT_VERSION = 1

# phrase kinds of the lexical index (lexical._Phrase.kind) by what they are
_NAME_KINDS = frozenset({"name", "official", "head"})
_ALIAS_KINDS = frozenset({"alias"})
_ENGLISH_KINDS = frozenset({"en", "head_en", "alias_en"})

CANDIDATE_FEATURES = (
    "score",  # the hand model's one score (model.combine)
    "score_gap",  # … minus the first candidate's (≤ 0)
    "lexical",  # phrase score of the request
    "lexical_gap",  # … minus the best lexical among the first k
    "context",  # phrase score of the whole question (long questions)
    "context_gap",
    "text",  # field-weighted BM25 of the procedure text, 0..1
    "text_gap",
    "semantic_on",  # 1 when e5 scored this candidate
    "semantic_gap",  # e5 cosine minus the best among the first k (0 when not scored)
    "factor",  # procedure-level factors of its best phrase (variants, actions, ages)
    "factor_low",  # 1 when that factor is below 1 (a variant unsaid, a mark missing…)
    "place_score",  # 1 / (1 + place by the hand score)
    "place_lexical",  # 1 / (1 + place by the lexical score)
    "place_text",  # 1 / (1 + place by the text score)
    "place_semantic",  # 1 / (1 + place by e5; 0 when not scored)
    "phrase_name",  # its best phrase is a name (display, official, head)
    "phrase_alias",  # … a Vietnamese alias
    "phrase_english",  # … an English name or alias
    "phrase_none",  # found by the procedure text or the story only
)

QUERY_FEATURES = (
    "bias",
    "hand_threshold",  # the hand decision accepted the first candidate on the threshold
    "hand_long_lead",  # … on the long-question lead
    "best",  # the first candidate's score
    "best_over_threshold",  # … divided by the threshold the query needs
    "margin",  # first minus second score
    "lexical_leader_ratio",  # first score / best score of a non-variant after it (capped at 3)
    "tokens_log",  # log(1 + words of the request as tokenised)
    "long",  # read as request + context (analysis.focus)
    "english",  # an English request
    "referral_request",  # the request names something of the referral table
    "referral_text",  # … only the whole question does
    "e5_on",  # the e5 ranker ran
    "e5_decisive",  # skipped: the words decided
    "e5_no_match",  # skipped: no candidate could reach the floor
    "e5_best",  # best e5 cosine among the candidates (0 when not run)
    "candidates_log",  # log(1 + candidates found)
    "top_lexical",
    "top_context",
    "top_text",
    "top_factor",
    "top_phrase_name",
    "top_phrase_alias",
    "top_phrase_english",
    "top_phrase_none",
    "top_semantic_gap2",  # first candidate's e5 cosine minus the second's (0 when not run)
)


class LearnedModelError(ValueError):
    """The weights file is missing, unreadable or inconsistent (its message names the file)."""


@dataclass
class QueryView:
    """What the learned decision reads of one query, besides its candidates (model.Ranking)."""

    threshold: float
    hand_rule: str  # threshold | long_lead | none
    leader: float  # best score of a non-variant after the first (lexical_leader)
    tokens: int
    long: bool
    english: bool
    referral_request: bool
    referral_text: bool
    semantic: str  # Ranking.semantic


def _gaps(values: list[float]) -> list[float]:
    best = max(values) if values else 0.0
    return [v - best for v in values]


def _places(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: -values[i])  # stable: hand order on ties
    out = [0.0] * len(values)
    for p, i in enumerate(order):
        out[i] = 1.0 / (1 + p)
    return out


def _kind(c) -> str:
    return getattr(c.phrase, "kind", "") if c.phrase is not None else ""


def candidate_features(ranked: list, k: int) -> np.ndarray:
    """Rows of CANDIDATE_FEATURES for the first `k` of `ranked` (model.Scored, hand order). Pure."""
    top = ranked[:k]
    if not top:
        return np.zeros((0, len(CANDIDATE_FEATURES)))
    score = [c.score for c in top]
    lex = [c.lexical for c in top]
    ctx = [c.context for c in top]
    txt = [c.text for c in top]
    on = [c.semantic is not None for c in top]
    sem = [c.semantic if c.semantic is not None else -2.0 for c in top]
    sem_best = max((s for s, o in zip(sem, on, strict=True) if o), default=0.0)
    sem_places = _places(sem)
    cols = [
        score, _gaps(score), lex, _gaps(lex), ctx, _gaps(ctx), txt, _gaps(txt),
        [float(o) for o in on], [s - sem_best if o else 0.0 for s, o in zip(sem, on, strict=True)],
        [c.factor for c in top], [float(c.factor < 1.0) for c in top],
        _places(score), _places(lex), _places(txt), [p if o else 0.0 for p, o in zip(sem_places, on, strict=True)],
        [float(_kind(c) in _NAME_KINDS) for c in top], [float(_kind(c) in _ALIAS_KINDS) for c in top],
        [float(_kind(c) in _ENGLISH_KINDS) for c in top], [float(c.phrase is None) for c in top],
    ]
    return np.array(cols, dtype=float).T


def query_features(ranked: list, q: QueryView) -> np.ndarray:
    """One row of QUERY_FEATURES (`ranked` in hand order). Pure."""
    first = ranked[0] if ranked else None
    best = first.score if first else 0.0
    second = ranked[1] if len(ranked) > 1 else None
    sims = [c.semantic for c in ranked if c.semantic is not None]
    kind = _kind(first) if first else ""
    gap2 = 0.0
    if first is not None and second is not None and first.semantic is not None and second.semantic is not None:
        gap2 = first.semantic - second.semantic
    row = [
        1.0, float(q.hand_rule == "threshold"), float(q.hand_rule == "long_lead"), best,
        best / q.threshold if q.threshold else 0.0, best - (second.score if second else 0.0),
        min(3.0, best / q.leader) if q.leader > 0 else 3.0, math.log1p(q.tokens), float(q.long), float(q.english),
        float(q.referral_request), float(q.referral_text and not q.referral_request),
        float(q.semantic == "on"), float(q.semantic == "skipped: decisive"), float(q.semantic == "skipped: no match"),
        max(sims) if sims else 0.0, math.log1p(len(ranked)),
        first.lexical if first else 0.0, first.context if first else 0.0, first.text if first else 0.0,
        first.factor if first else 1.0,
        float(kind in _NAME_KINDS), float(kind in _ALIAS_KINDS), float(kind in _ENGLISH_KINDS),
        float(first is not None and first.phrase is None), gap2,
    ]
    return np.array(row, dtype=float)


@dataclass
class LearnedModel:
    """Weights of both learned parts (standardised features: (x − mean) / scale)."""

    k: int
    rank_mean: np.ndarray
    rank_scale: np.ndarray
    rank_weights: np.ndarray
    answer_mean: np.ndarray
    answer_scale: np.ndarray
    answer_weights: np.ndarray
    refuse_below: float  # a hand answer is refused when p is below this
    accept_from: float  # a hand "no match" is answered when p reaches this
    source: str = ""
    version: str = ""

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return ((rows - self.rank_mean) / self.rank_scale) @ self.rank_weights

    def order(self, rows: np.ndarray) -> list[int]:
        """The candidates' new order (indices into `rows`), best first; ties keep the hand order."""
        z = self.logits(rows)
        return sorted(range(len(z)), key=lambda i: (-z[i], i))

    def answer(self, row: np.ndarray) -> float:
        """Probability that the query is one the centre handles (logistic)."""
        z = float(((row - self.answer_mean) / self.answer_scale) @ self.answer_weights)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def accepts(self, hand: bool, p: float) -> bool:
        """Whether the first candidate is an answer: `hand`, the hand decision's; `p`, answer()."""
        return p >= self.refuse_below if hand else p >= self.accept_from


def _vector(data: dict, part: str, name: str, n: int, path: Path) -> np.ndarray:
    value = data.get(part, {}).get(name)
    if not isinstance(value, list) or len(value) != n or not all(isinstance(x, int | float) for x in value):
        raise LearnedModelError(f"{path}: {part}.{name} must be a list of {n} numbers")
    arr = np.array(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise LearnedModelError(f"{path}: {part}.{name} holds a non-finite number")
    return arr


def parse(data: object, path: Path | str = WEIGHTS_PATH) -> LearnedModel:
    """A LearnedModel from the weights file's JSON; LearnedModelError naming `path` if it is not one."""
    path = Path(path)
    if not isinstance(data, dict) or data.get("model") != MODEL_NAME:
        raise LearnedModelError(f"{path}: not a {MODEL_NAME} weights file")
    if data.get("format") != FORMAT_VERSION:
        raise LearnedModelError(f"{path}: format {data.get('format')!r}, this code reads {FORMAT_VERSION}")
    if tuple(data.get("rank", {}).get("features") or ()) != CANDIDATE_FEATURES:
        raise LearnedModelError(f"{path}: rank.features differ from learned.CANDIDATE_FEATURES (retrain)")
    if tuple(data.get("answer", {}).get("features") or ()) != QUERY_FEATURES:
        raise LearnedModelError(f"{path}: answer.features differ from learned.QUERY_FEATURES (retrain)")
    k = data.get("k")
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise LearnedModelError(f"{path}: k must be an integer ≥ 2")
    bounds = {}
    for name in ("refuse_below", "accept_from"):
        value = data.get("answer", {}).get(name)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.01:
            raise LearnedModelError(f"{path}: answer.{name} must be a number in 0..1.01")
        bounds[name] = float(value)
    nc, nq = len(CANDIDATE_FEATURES), len(QUERY_FEATURES)
    scales = [_vector(data, "rank", "scale", nc, path), _vector(data, "answer", "scale", nq, path)]
    if any(np.any(s <= 0) for s in scales):
        raise LearnedModelError(f"{path}: a feature scale is not positive")
    return LearnedModel(
        k=k, rank_mean=_vector(data, "rank", "mean", nc, path), rank_scale=scales[0],
        rank_weights=_vector(data, "rank", "weights", nc, path),
        answer_mean=_vector(data, "answer", "mean", nq, path), answer_scale=scales[1],
        answer_weights=_vector(data, "answer", "weights", nq, path), source=str(path),
        version=str(data.get("version", "")), **bounds,
    )


def load(path: Path | str = WEIGHTS_PATH) -> LearnedModel:
    """The weights file at `path`, validated; LearnedModelError (naming the file) otherwise."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise LearnedModelError(f"{path}: cannot read the learned weights ({e.strerror or e})") from e
    except ValueError as e:
        raise LearnedModelError(f"{path}: not valid JSON ({e})") from e
    return parse(data, path)
