"""Closed-set rescoring (pure): which kiosk phrase best explains what the recogniser wrote.

viet-asr's public API gives text only (`Result.text` of a streaming `Session`: no n-best,
no scores, no grammar). When the speech is unclear (a flat synthetic voice, an accent,
noise) that text is often wrong word for word yet close in *sound*: "và ký cái hôm" for
"đăng ký kết hôn". This module scores every phrase the kiosk can answer against one or more
transcripts by sound:

- `Syllable.parse("kết")`: onset class (c/k/q → k, d/gi/r → z, ch/tr → c, s/x → s, g/gh,
  ng/ngh), rhyme with and without its vowel marks (ê, ô, ơ…), tone (0–5).
- `syllable_similarity(a, b)` in 0..1: 0.3 onset + 0.55 rhyme + 0.15 tone, with partial
  credit for near onsets (v/z, n/l, b/m…) and near rhymes (edit distance).
- `ClosedSet(phrases, fillers)`: a numpy table of every phrase syllable; `score(hyps)`
  aligns each hypothesis (a list of syllables) with the best phrases in order (a weighted
  longest common subsequence), and gives per target the F-measure of how much of the phrase
  was heard (recall) and how much of what was heard the phrase explains (precision; filler
  words count little). Several hypotheses (the same audio decoded at slightly different
  sample rates: see `voice.vietasr_engine`) vote: a target's score is the mean of its best
  and its average score over the hypotheses.

Phrases of kind "background" (everyday words outside the kiosk's scope) compete like the
others: when one of them wins, the answer is "not understood".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from rapidfuzz.distance import Levenshtein

from voice.grammar import Phrase

_TONES = {"\u0301": 1, "\u0300": 2, "\u0303": 3, "\u0309": 4, "\u0323": 5}
_ONSETS = ("ngh", "ng", "nh", "ch", "tr", "gh", "gi", "kh", "ph", "th", "qu",
           "b", "c", "d", "đ", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x", "f", "j", "w", "z")
_ONSET_CLASS = {"c": "k", "k": "k", "qu": "k", "g": "g", "gh": "g", "ng": "ŋ", "ngh": "ŋ", "d": "z", "gi": "z",
                "r": "z", "ch": "c", "tr": "c", "s": "s", "x": "s", "f": "ph", "j": "z", "z": "z", "w": "v"}
# Onset classes a recogniser (or a dialect) confuses: partial credit.
_NEAR_ONSETS = {frozenset(p) for p in [("v", "z"), ("n", "l"), ("b", "m"), ("b", "v"), ("đ", "t"), ("đ", "z"),
                                       ("th", "t"), ("h", ""), ("kh", "k"), ("kh", "h"), ("ph", "p"), ("ph", "v"),
                                       ("k", "g"), ("s", "c"), ("nh", "n"), ("ŋ", "n"), ("ŋ", ""), ("c", "z"),
                                       ("t", "c"), ("k", "")]}
_QUALITY = str.maketrans("âăêôơư", "aaeoou")
_VOWELS = set("aăâeêioôơuưy")


@dataclass(frozen=True)
class Syllable:
    """One written syllable: onset class, rhyme (vowel marks kept and folded), tone 0..5."""

    text: str
    onset: str
    rhyme: str
    rhyme_folded: str
    tone: int

    @staticmethod
    @lru_cache(maxsize=20000)
    def parse(word: str) -> Syllable:
        word = unicodedata.normalize("NFC", word.lower())
        tone = 0
        base = []
        for ch in unicodedata.normalize("NFD", word):
            if ch in _TONES:
                tone = _TONES[ch]
            else:
                base.append(ch)
        plain = unicodedata.normalize("NFC", "".join(base))
        onset = ""
        for o in _ONSETS:
            if plain.startswith(o) and (len(plain) > len(o) or o == "gi"):
                # "gi" before a consonant is g + i ("gìn" is rare; "gì" is gi + i)
                if o == "gi" and len(plain) > 2 and plain[2] not in _VOWELS:
                    continue
                onset = o
                break
        rhyme = plain[len(onset):] if onset != "gi" or len(plain) > 2 else "i"
        if onset == "qu":
            rhyme = "u" + rhyme
        return Syllable(word, _ONSET_CLASS.get(onset, onset), rhyme, rhyme.translate(_QUALITY), tone)


def _onset_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    return 0.5 if frozenset((a, b)) in _NEAR_ONSETS else 0.0


def _rhyme_similarity(a: Syllable, b: Syllable) -> float:
    if a.rhyme == b.rhyme:
        return 1.0
    if a.rhyme_folded == b.rhyme_folded:
        return 0.85
    return 0.8 * Levenshtein.normalized_similarity(a.rhyme_folded, b.rhyme_folded)


def syllable_similarity(a: Syllable, b: Syllable) -> float:
    """How alike two syllables sound, 0..1."""
    tone = 1.0 if a.tone == b.tone else 0.4
    return 0.3 * _onset_similarity(a.onset, b.onset) + 0.55 * _rhyme_similarity(a, b) + 0.15 * tone


def syllables(text: str) -> list[str]:
    """Lower-case words of `text` (letters only; digits and punctuation split words)."""
    out, cur = [], []
    for ch in unicodedata.normalize("NFC", text.lower()):
        if ch.isalpha():
            cur.append(ch)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


@dataclass(frozen=True)
class Scored:
    """A phrase's score against the hypotheses (0..1), with its recall and precision."""

    phrase: Phrase
    score: float
    recall: float = 0.0
    precision: float = 0.0

    def to_dict(self) -> dict:
        return {**self.phrase.to_dict(), "score": round(self.score, 3)}


@dataclass
class Ranking:
    """Best phrase per target (background included), best first."""

    ranked: list[Scored] = field(default_factory=list)

    @property
    def best(self) -> Scored | None:
        return self.ranked[0] if self.ranked else None

    def runner_up(self) -> Scored | None:
        """The best phrase of another target than the best one."""
        return self.ranked[1] if len(self.ranked) > 1 else None


class ClosedSet:
    """Scores a fixed list of phrases against transcripts by sound (see the module docstring)."""

    FILLER_WEIGHT = 0.25
    GATE = 0.3  # an aligned pair must sound at least this alike
    SHORTLIST = 40

    def __init__(self, phrases: Iterable[Phrase], fillers: Iterable[str] = (), max_syllables: int = 14,
                 min_syllables: int = 2):
        self.phrases: list[Phrase] = []
        self._fillers = {w for f in fillers for w in syllables(f)}
        vocab: dict[str, int] = {}
        rows = []
        for p in phrases:
            words = syllables(p.text)
            if len(words) < min_syllables or len(words) > max_syllables:
                # official names of 15+ syllables are never said whole (their aliases are); one
                # syllable ("thôi", "hủy") sounds like half the language: left to the search
                continue
            rows.append([vocab.setdefault(w, len(vocab)) for w in words])
            self.phrases.append(p)
        self._vocab = [Syllable.parse(w) for w in vocab]
        self._onsets = sorted({v.onset for v in self._vocab})
        self._rhymes = sorted({v.rhyme for v in self._vocab})
        self._v_onset = np.array([self._onsets.index(v.onset) for v in self._vocab], dtype=np.int32)
        rhyme_ix = {r: i for i, r in enumerate(self._rhymes)}
        self._v_rhyme = np.array([rhyme_ix[v.rhyme] for v in self._vocab], dtype=np.int32)
        self._v_tone = np.array([v.tone for v in self._vocab], dtype=np.int32)
        self._rhyme_syl = [Syllable("", "", r, r.translate(_QUALITY), 0) for r in self._rhymes]
        self._width = max((len(r) for r in rows), default=1)
        self._table = np.full((len(rows), self._width), -1, dtype=np.int32)
        for i, r in enumerate(rows):
            self._table[i, : len(r)] = r
        self._lengths = np.array([len(r) for r in rows], dtype=np.float32)
        self._sim_cache: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.phrases)

    def _row(self, word: str) -> np.ndarray:
        """Similarity of `word` to every vocabulary syllable (cached)."""
        row = self._sim_cache.get(word)
        if row is None:
            s = Syllable.parse(word)
            onset = np.array([_onset_similarity(s.onset, o) for o in self._onsets], dtype=np.float32)
            rhyme = np.array([_rhyme_similarity(s, r) for r in self._rhyme_syl], dtype=np.float32)
            tone = np.where(self._v_tone == s.tone, 1.0, 0.4).astype(np.float32)
            row = 0.3 * onset[self._v_onset] + 0.55 * rhyme[self._v_rhyme] + 0.15 * tone
            if len(self._sim_cache) > 5000:
                self._sim_cache.clear()
            self._sim_cache[word] = row
        return row

    def _align(self, sim: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
        """Weighted LCS of a phrase (rows) and a hypothesis (columns): (recall, precision)."""
        n, m = sim.shape
        best = np.zeros((n + 1, m + 1), dtype=np.float32)
        wsum = np.zeros((n + 1, m + 1), dtype=np.float32)
        for i in range(1, n + 1):
            for j in range(1, m + 1):
                diag = best[i - 1, j - 1] + sim[i - 1, j - 1]
                if diag >= best[i - 1, j] and diag >= best[i, j - 1] and sim[i - 1, j - 1] > self.GATE:
                    best[i, j] = diag
                    wsum[i, j] = wsum[i - 1, j - 1] + sim[i - 1, j - 1] * weights[j - 1]
                elif best[i - 1, j] >= best[i, j - 1]:
                    best[i, j], wsum[i, j] = best[i - 1, j], wsum[i - 1, j]
                else:
                    best[i, j], wsum[i, j] = best[i, j - 1], wsum[i, j - 1]
        return float(best[n, m]) / n, float(wsum[n, m]) / max(float(weights.sum()), 1e-6)

    def score_one(self, words: Sequence[str]) -> dict[int, Scored]:
        """Scores of the shortlisted phrases for one hypothesis: {phrase index: Scored}."""
        words = [w for w in words if w]
        if not words or not self.phrases:
            return {}
        weights = np.array([self.FILLER_WEIGHT if w in self._fillers else 1.0 for w in words], dtype=np.float32)
        if weights.sum() < 0.99:  # only filler words: nothing was asked
            return {}
        sim = np.stack([self._row(w) for w in words])  # (T, V)
        sim_pad = np.concatenate([sim, np.zeros((len(words), 1), dtype=np.float32)], axis=1)
        per = sim_pad[:, self._table].max(axis=0)  # (N, width): each phrase syllable's best match
        bag = per.sum(axis=1) / self._lengths
        short = np.argsort(-bag, kind="stable")[: self.SHORTLIST]
        out = {}
        for i in short:
            idx = self._table[i, : int(self._lengths[i])]
            recall, precision = self._align(sim[:, idx].T, weights)
            f = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
            out[int(i)] = Scored(self.phrases[int(i)], f, recall, precision)
        return out

    def score(self, hypotheses: Sequence[str], limit: int = 5) -> Ranking:
        """Rank targets against several transcripts of the same audio (first = the main one)."""
        per_hyp = [self.score_one(syllables(h)) for h in hypotheses]
        per_hyp = [h for h in per_hyp if h] or per_hyp[:0]
        if not per_hyp:
            return Ranking([])
        targets: dict[tuple[str, str], list[Scored | None]] = {}
        for k, scores in enumerate(per_hyp):
            best_here: dict[tuple[str, str], Scored] = {}
            for s in scores.values():
                key = (s.phrase.kind, s.phrase.target)
                if key not in best_here or s.score > best_here[key].score:
                    best_here[key] = s
            for key, s in best_here.items():
                targets.setdefault(key, [None] * len(per_hyp))[k] = s
        combined = []
        for seq in targets.values():
            vals = [s.score if s else 0.0 for s in seq]
            top = max((s for s in seq if s), key=lambda s: s.score)
            score = 0.5 * max(vals) + 0.5 * sum(vals) / len(vals)
            combined.append(Scored(top.phrase, score, top.recall, top.precision))
        combined.sort(key=lambda s: -s.score)
        return Ranking(combined[:limit])
