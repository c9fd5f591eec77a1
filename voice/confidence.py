"""How sure an answer from unclear speech is (round 6, pure): a small logistic model.

When the three sessions disagree (unclear speech: espeak-ng's flat tones, an accent, noise)
neither the transcript's search answer nor the acoustic scorer's cheapest procedure is
reliable alone; on requests in everyday words both were wrong about as often as right
(docs/voice.md, round 6). This module weighs the evidence for a candidate procedure:

- the acoustic scorer (`voice.acoustic`): the candidate's cost, its lead over the next
  procedure, its margin over the cheapest field / command / background phrase, whether it is
  the cheapest procedure, and how many of the three warps have it as their own cheapest;
- the main transcript's search: whether the candidate is its top hit, and the hit's score;
- the closed set over the transcripts (`voice.closedset`): the candidate's score, whether it
  is among the first three targets, and the best background phrase's score;
- how much the sessions agree.

`confidence(features)` is the logistic model's probability that the candidate is right. The
candidates are the acoustic scorer's three cheapest procedures and the search's first two
hits; `choose` returns the most probable one. The weights (`BIAS`, `WEIGHTS`) were fitted by
`fit` on the recorded train sets only (`bench/voice_replay.py fit`, which prints them in this
form); the thresholds that use it are in voice/vietasr_engine.py (CONFIDENCE_KEEP, and
CONFIDENCE_ADD, None: off), chosen on the choosing sets' aggregate figures; the check ships off
(CONFIDENCE_ENABLED: on requests-vi-blind2.yaml it withdrew two right answers for one wrong
one; docs/voice.md, round 6).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: what a missing acoustic cost counts as (costs of phrases that were heard run 0–8)
MISSING_COST = 9.0
FEATURES = ("cost", "lead", "margin", "cheapest", "warps", "search_top", "search_score", "closed", "closed_top3",
            "background", "agree")
#: fitted by `fit` (L2 1.0) on the recordings of the three train sets (requests-vi.yaml,
#: requests-vi-dev.yaml, requests-vi-dev2.yaml: 1,757 candidates of the clips where the
#: sessions disagree, 349 right); docs/voice.md round 6
BIAS = -0.0238
WEIGHTS = {"cost": -0.5515, "lead": 1.4169, "margin": 0.0814, "cheapest": -0.6308, "warps": 0.5209,
           "search_top": 4.3356, "search_score": -3.4842, "closed": 0.3635, "closed_top3": 0.4613,
           "background": 0.2852, "agree": -0.2052}
ACOUSTIC_CANDIDATES = 3
SEARCH_CANDIDATES = 2


def candidates(heard, search) -> list[str]:
    """Procedures worth weighing: the acoustic scorer's cheapest few and the search's first hits."""
    out: list[str] = []
    procedures = heard.procedures() if heard is not None else []
    out += [p.target for _, p in procedures[:ACOUSTIC_CANDIDATES]]
    out += [h.key for h in (getattr(search, "hits", None) or [])[:SEARCH_CANDIDATES]]
    return list(dict.fromkeys(out))


def _acoustic(target: str, heard) -> dict[str, float]:
    procedures = heard.procedures() if heard is not None else []
    cost = next((c for c, p in procedures if p.target == target), MISSING_COST)
    cost = min(cost, MISSING_COST)
    rival = min(next((c for c, p in procedures if p.target != target), MISSING_COST), MISSING_COST)
    other = min(heard.best_other() if heard is not None else MISSING_COST, MISSING_COST)
    warps = getattr(heard, "warp_best", ()) or ()
    return {"cost": cost, "lead": rival - cost, "margin": other - cost,
            "cheapest": float(bool(procedures) and procedures[0][1].target == target),
            "warps": float(sum(1 for w in warps if w == target))}


def features(target: str, heard, search, ranking, agree: float) -> dict[str, float]:
    """The evidence for `target` (see the module docstring)."""
    hits = getattr(search, "hits", None) or []
    ranked = ranking.ranked if ranking is not None else []
    closed = next((s.score for s in ranked if s.phrase.kind == "procedure" and s.phrase.target == target), 0.0)
    return {**_acoustic(target, heard),
            "search_top": float(bool(hits) and hits[0].key == target),
            "search_score": next((float(h.score) for h in hits if h.key == target), 0.0),
            "closed": closed,
            "closed_top3": float(any(s.phrase.target == target for s in ranked[:3])),
            "background": max((s.score for s in ranked if s.phrase.kind == "background"), default=0.0),
            "agree": agree}


def confidence(feats: dict[str, float], bias: float | None = None, weights: dict | None = None) -> float:
    """The probability that the candidate with these features is right (the shipped model
    unless `bias` and `weights` are given)."""
    bias = BIAS if bias is None else bias
    weights = WEIGHTS if weights is None else weights
    z = bias + sum(w * feats[name] for name, w in weights.items())
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def choose(heard, search, ranking, agree: float, bias: float | None = None,
           weights: dict | None = None) -> tuple[float, str] | None:
    """The most probable candidate procedure and its probability, or None without candidates."""
    best = None
    for target in candidates(heard, search):
        p = confidence(features(target, heard, search, ranking, agree), bias, weights)
        if best is None or p > best[0]:
            best = (p, target)
    return best


def fit(rows: Sequence[tuple[dict[str, float], bool]], l2: float = 1.0, iters: int = 30) -> tuple[float, dict]:
    """Logistic regression (Newton's method, L2 on standardised features) of candidates'
    features → right: (bias, weights) in the features' own units."""
    x = np.array([[f[n] for n in FEATURES] for f, _ in rows], dtype=np.float64)
    y = np.array([1.0 if ok else 0.0 for _, ok in rows])
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    w = np.zeros(z.shape[1])
    reg = l2 * np.diag(np.r_[0.0, np.ones(len(FEATURES))])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        grad = z.T @ (p - y) + reg @ w
        hess = (z * (p * (1 - p))[:, None]).T @ z + reg
        w -= np.linalg.solve(hess, grad)
    coef = w[1:] / sd
    return float(w[0] - (coef * mu).sum()), {n: float(c) for n, c in zip(FEATURES, coef, strict=True)}
