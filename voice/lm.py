"""A domain language model and a CTC decoder constrained by it (pure Python + numpy).

On unclear speech (espeak-ng's flat tones, an accent) the model's best guess per frame is
often the wrong syllable while the right one is close behind. A prefix beam search over the
same posteriors, restricted to the syllables people use at a ward centre and weighted by how
they follow each other there, pulls such speech toward the domain's words ("lùi muốn ký
khai sinh cho cho" → "tôi muôn đăng ky khai sinh cho tôi"); with its usual tone marks put
back (`Accents`: "tôi muốn đăng ký khai sinh cho tôi") the catalogue search reads it as if
it had been typed.

- `domain_sentences(conn)`: the LM's text — the catalogue's names, official names, aliases,
  field names and documents (the search's own index, `search_text`), the search lexicon's and
  word lists' everyday phrases (`centre/search/lexicon.yaml`, `words.yaml`), the voice phrase
  book, and the questions of the search's *train* sets (never a dev or blind set, never the
  voice request sets), as `bench/voice_lm_questions.py` copies them into the shipped
  `voice/phrases/vi-lm-questions.yaml`: product code never reads tests/, which an install may
  leave out. Everything is lower-cased and its tone marks removed (the posteriors are
  tone-collapsed, `voice.ctc.ToneGroups`), split at punctuation into runs of syllables.
  The files are read from the installed tree; one that is missing is left out.
- `NGramLM`: an interpolated Kneser-Ney word trigram over those runs (<s> … </s>).
- `LexiconDecoder`: CTC prefix beam search over tone groups whose words are the LM's words
  (each spelt as `voice.ctc.tokenize` spells it), scored acoustic log-probability
  + `alpha` × LM log-probability + `beta` per word. Per frame only the tokens within
  `prune` of the frame's best (at most `top_k`) are tried. `decode(logp)` returns the words,
  the path's acoustic log-probability and the free best path's (for a guard: an LM pulls
  noise toward domain words, and then the path it finds fits the sounds badly).
- `DomainLM.build(conn, groups)`: all of it, built when the engine loads the catalogue
  (0.5 s of CPU); nothing generated is shipped.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice.ctc import BLANK, WORD_START, ToneGroups, strip_tone, tokenize

ROOT = Path(__file__).resolve().parent.parent
WORD_FILES = ("centre/search/lexicon.yaml", "centre/search/words.yaml", "voice/phrases/vi.yaml")
#: the questions of the search's *train* sets (a list), written by bench/voice_lm_questions.py
QUESTIONS_FILE = "voice/phrases/vi-lm-questions.yaml"
BOS, EOS = "<s>", "</s>"
_SPLIT = re.compile(r"[.,;:!?()\[\]{}\"“”/\n\r\t]+|\s[-–—]\s")
_WORD = re.compile(r"^[^\W\d_]+$")
_NEG = -1e30
#: decoder settings (docs/voice.md, round 5: chosen on the train set's word error rate against
#: the requests as written — 0.87 greedy → 0.69 — and its decode time, ~5-45 ms per clip)
ALPHA = 0.8  # weight of the LM's log-probability
BETA = 5.0  # bonus per word (without it the LM prefers dropping words)
BEAM = 16
PRUNE = 12.0  # tokens this far below a frame's best are not tried
TOP_K = 16


def syllables_of(text: str) -> list[list[str]]:
    """Runs of tone-less lower-case syllables of `text` (split at punctuation and digits)."""
    return [[strip_tone(w) for w in run] for run in toned_runs(text)]


def toned_runs(text: str) -> list[list[str]]:
    """Runs of lower-case syllables of `text` as written (split at punctuation and digits)."""
    runs = []
    for part in _SPLIT.split(unicodedata.normalize("NFC", text).lower()):
        run: list[str] = []
        for word in part.split():
            if _WORD.match(word):
                run.append(word)
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
    return runs


def _yaml_strings(node) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _yaml_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _yaml_strings(v)


def file_texts(root: Path = ROOT) -> list[str]:
    """The word lists' phrases and the search train sets' questions (not English ones; from
    QUESTIONS_FILE, never from tests/)."""
    import yaml

    _LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # noqa: N806 (libyaml: 4× faster)
    out: list[str] = []
    for name in WORD_FILES:
        path = root / name
        if path.is_file():
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
            if isinstance(data, dict):  # the sections' contents, not their names; no English
                data = [v for k, v in data.items() if not str(k).endswith("_en") and k != "english_map"]
            out.extend(_yaml_strings(data))
    path = root / QUESTIONS_FILE
    if path.is_file():
        out.extend(str(q) for q in yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or [])
    return out


def catalogue_texts(conn) -> list[str]:
    """The catalogue's Vietnamese texts as the search indexes them."""
    out: list[str] = []
    try:
        rows = conn.execute("SELECT name, official, aliases, field, documents FROM search_text").fetchall()
    except Exception:
        rows = []
    for row in rows:
        out.extend(str(v) for v in row if v)
    for (name,) in conn.execute("SELECT name FROM procedures"):
        out.append(str(name))
    for (alias,) in conn.execute("SELECT alias FROM aliases WHERE lang != 'en'"):
        out.append(str(alias))
    return out


def domain_runs(conn, root: Path = ROOT) -> list[list[str]]:
    """The LM's text as runs of syllables with their tone marks (see the module docstring)."""
    return [run for text in catalogue_texts(conn) + file_texts(root) for run in toned_runs(text)]


def domain_sentences(conn, root: Path = ROOT) -> list[list[str]]:
    return toneless(domain_runs(conn, root))


def toneless(runs: Iterable[Sequence[str]], memo: dict | None = None) -> list[list[str]]:
    """The runs without tone marks (each distinct syllable stripped once)."""
    memo = {} if memo is None else memo
    out = []
    for run in runs:
        bare = []
        for w in run:
            b = memo.get(w)
            if b is None:
                b = memo[w] = strip_tone(w)
            bare.append(b)
        out.append(bare)
    return out


class Accents:
    """Tone marks put back on a tone-less transcript: each syllable's most frequent written
    form in the LM's text after the same previous syllable, else its most frequent form."""

    def __init__(self, runs: Sequence[Sequence[str]], bare_runs: Sequence[Sequence[str]] | None = None):
        pair: dict = defaultdict(Counter)
        one: dict = defaultdict(Counter)
        for run, bare_run in zip(runs, bare_runs if bare_runs is not None else toneless(runs), strict=True):
            prev = BOS
            for w, bare in zip(run, bare_run, strict=True):
                pair[(prev, bare)][w] += 1
                one[bare][w] += 1
                prev = bare
        self._pair = {k: c.most_common(1)[0][0] for k, c in pair.items()}
        self._one = {k: c.most_common(1)[0][0] for k, c in one.items()}

    def restore(self, words: Sequence[str]) -> list[str]:
        out, prev = [], BOS
        for w in words:
            out.append(self._pair.get((prev, w)) or self._one.get(w, w))
            prev = w
        return out


class NGramLM:
    """Interpolated Kneser-Ney trigram over words (natural-log probabilities)."""

    def __init__(self, sentences: Iterable[Sequence[str]], discount: float = 0.75):
        self.d = discount
        tri: Counter = Counter()
        for s in sentences:
            w = [BOS, BOS, *s, EOS]
            for i in range(2, len(w)):
                tri[(w[i - 2], w[i - 1], w[i])] += 1
        big: Counter = Counter()  # continuation counts: distinct u before (v, w)
        for (_, v, w) in tri:
            big[(v, w)] += 1
        self.vocab = sorted({w for (_, _, w) in tri} - {EOS})
        self._tri, self._ctx2 = tri, self._context(tri)
        self._big, self._ctx1 = big, self._context(big)
        uni: Counter = Counter(w for (_, w) in big)
        total = sum(uni.values())
        n = len(self.vocab) + 1
        self._uni = {w: 0.99 * c / total + 0.01 / n for w, c in uni.items()}
        self._floor = 0.01 / n
        self._cache: dict = {}

    @staticmethod
    def _context(counts: Counter) -> dict:
        """context → (total count, distinct followers)."""
        ctx: dict = defaultdict(lambda: [0, 0])
        for key, c in counts.items():
            entry = ctx[key[:-1]]
            entry[0] += c
            entry[1] += 1
        return dict(ctx)

    def _p2(self, v: str, w: str) -> float:
        total, kinds = self._ctx1.get((v,), (0, 0))
        low = self._uni.get(w, self._floor)
        if not total:
            return low
        return max(self._big.get((v, w), 0) - self.d, 0) / total + self.d * kinds / total * low

    def logp(self, u: str, v: str, w: str) -> float:
        """log P(w | u v)."""
        key = (u, v, w)
        hit = self._cache.get(key)
        if hit is None:
            total, kinds = self._ctx2.get((u, v), (0, 0))
            low = self._p2(v, w)
            p = low if not total else max(self._tri.get(key, 0) - self.d, 0) / total + self.d * kinds / total * low
            hit = self._cache[key] = math.log(p)
        return hit

    def score(self, words: Sequence[str]) -> float:
        """log P of a whole sentence, </s> included."""
        w = [BOS, BOS, *words, EOS]
        return sum(self.logp(w[i - 2], w[i - 1], w[i]) for i in range(2, len(w)))


@dataclass(frozen=True)
class Decoded:
    words: list[str]
    am: float  # the path's acoustic log-probability
    free: float  # the free best path's (every frame's best token)
    frames: int
    tokens: int  # tokens on the path

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def gap(self) -> float:
        """How much worse the LM's path fits the sounds than the free best path, per token."""
        return (self.free - self.am) / max(1, self.tokens)


class _Lexicon:
    """The words as a trie of tone-group tokens (node 0 is the root)."""

    def __init__(self, words: Sequence[str], groups: ToneGroups):
        self.children: list[dict[int, int]] = [{}]
        self.word: list[str | None] = [None]
        self.token: list[int] = [-1]
        self.depth: list[int] = [0]
        for w in words:
            seq = tokenize(w, groups)
            if not seq or not groups.names[seq[0]].startswith(WORD_START):
                continue
            node = 0
            for tok in seq:
                nxt = self.children[node].get(tok)
                if nxt is None:
                    nxt = len(self.word)
                    self.children[node][tok] = nxt
                    self.children.append({})
                    self.word.append(None)
                    self.token.append(tok)
                    self.depth.append(self.depth[node] + 1)
                node = nxt
            self.word[node] = w
        self.tokens = np.array(sorted({t for t in self.token if t >= 0}), dtype=np.int64)


class LexiconDecoder:
    """CTC prefix beam search over the LM's words (see the module docstring)."""

    def __init__(self, lm: NGramLM, groups: ToneGroups, alpha: float = ALPHA, beta: float = BETA,
                 beam: int = BEAM, prune: float = PRUNE, top_k: int = TOP_K):
        self.lm, self.groups = lm, groups
        self.alpha, self.beta, self.beam, self.prune, self.top_k = alpha, beta, beam, prune, top_k
        self.lex = _Lexicon(lm.vocab, groups)
        self.starts = {t for t in self.lex.children[0]}
        self._allowed = np.full(len(groups), False)
        self._allowed[self.lex.tokens] = True
        self._allowed[BLANK] = True

    def _lm(self, words: tuple, w: str) -> float:
        u = words[-2] if len(words) > 1 else BOS
        v = words[-1] if words else BOS
        return self.lm.logp(u, v, w)

    def _pending(self, words: tuple, node: int) -> float:
        """The LM's log-probability of the word at `node` if it ends there (0 at the root)."""
        w = self.lex.word[node]
        return self._lm(words, w) if w is not None else (0.0 if node == 0 else -5.0)

    def candidates(self, logp: np.ndarray) -> list[list[tuple[int, float]]]:
        """Per frame, the lexicon's tokens within `prune` of the frame's best, at most `top_k`."""
        masked = np.where(self._allowed, logp, _NEG)
        k = min(self.top_k, masked.shape[1] - 1)
        top = np.argpartition(-masked, k, axis=1)[:, :k]
        vals = np.take_along_axis(masked, top, axis=1)
        floor = logp.max(axis=1, keepdims=True) - self.prune
        out = []
        for t in range(len(logp)):
            keep = (vals[t] >= floor[t]) & (top[t] != BLANK)
            out.append(list(zip(top[t][keep].tolist(), vals[t][keep].tolist(), strict=True)))
        return out

    def decode(self, logp: np.ndarray) -> Decoded:
        """The best word sequence for (T, groups) log-probabilities."""
        state = self.start()
        self.advance(state, logp)
        return self.result(state)

    def start(self) -> dict:
        """A decoding state for frames that arrive in pieces (`advance`, then `result`)."""
        # (words, trie node) → (log p ending in blank, … in a token, LM of finished words, tokens)
        return {"beams": {((), 0): (0.0, _NEG, 0.0, 0)}, "free": 0.0, "frames": 0}

    def advance(self, state: dict, logp: np.ndarray) -> None:
        """Take in the next frames (T, groups) of the utterance."""
        logp = np.asarray(logp, dtype=np.float32)
        if not len(logp):
            return
        cands = self.candidates(logp)
        blank = logp[:, BLANK].tolist()
        beams = state["beams"]
        for t in range(len(logp)):
            beams = self._step(beams, cands[t], blank[t], logp[t])
        state["beams"] = beams
        state["free"] += float(logp.max(axis=1).sum())
        state["frames"] += len(logp)

    def result(self, state: dict) -> Decoded:
        """The best word sequence so far (the state is left as it is)."""
        if not state["frames"]:
            return Decoded([], 0.0, 0.0, 0, 0)
        return self._best(state["beams"], state["free"], state["frames"])

    def _step(self, beams: dict, cands, blank_lp: float, frame: np.ndarray) -> dict:
        lex, nxt = self.lex, {}

        def add(key, pb, pnb, lm, ntok):
            old = nxt.get(key)
            if old is None:
                nxt[key] = (pb, pnb, lm, ntok)
            else:
                nxt[key] = (_lse(old[0], pb), _lse(old[1], pnb), old[2], old[3])

        for (words, node), (pb, pnb, lm, ntok) in beams.items():
            total = _lse(pb, pnb)
            last = lex.token[node]
            add((words, node), total + blank_lp, pnb + float(frame[last]) if last >= 0 else _NEG, lm, ntok)
            for tok, lp in cands:
                if tok in self.starts:
                    w = lex.word[node]
                    if node and w is None:
                        continue
                    child, new_words = lex.children[0][tok], (words + (w,) if node else words)
                    new_lm = lm + (self._lm(words, w) if node else 0.0)
                else:
                    child = lex.children[node].get(tok) if node else None
                    if child is None:
                        continue
                    new_words, new_lm = words, lm
                p = (pb if tok == last else total) + lp
                add((new_words, child), _NEG, p, new_lm, ntok + 1)
        return dict(sorted(nxt.items(), key=lambda kv: -self._rank(kv[0], kv[1]))[: self.beam])

    def _rank(self, key, value) -> float:
        words, node = key
        pb, pnb, lm, _ = value
        n = len(words) + (1 if node else 0)
        return _lse(pb, pnb) + self.alpha * (lm + self._pending(words, node)) + self.beta * n

    def _best(self, beams: dict, free: float, frames: int) -> Decoded:
        best, best_score = None, _NEG
        for (words, node), (pb, pnb, _lm, ntok) in beams.items():
            w = self.lex.word[node]
            if node and w is None:
                continue
            full = words + (w,) if node else words
            score = _lse(pb, pnb) + self.alpha * self.lm.score(full) + self.beta * len(full)
            if score > best_score:
                best, best_score = (list(full), _lse(pb, pnb), ntok), score
        if best is None:
            return Decoded([], _NEG, free, frames, 0)
        return Decoded(best[0], best[1], free, frames, best[2])


def _lse(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b <= _NEG:
        return a
    return a + math.log1p(math.exp(b - a))


class DomainLM:
    """The domain LM, its tone restorer and a decoder for one model's tone groups, built from
    the catalogue (`build(conn)`: about a second) and kept with the engine's other scorers."""

    def __init__(self, runs: Sequence[Sequence[str]], groups: ToneGroups, **decoder_options):
        bare = toneless(runs)
        self.lm = NGramLM(bare)
        self.accents = Accents(runs, bare)
        self.decoder = LexiconDecoder(self.lm, groups, **decoder_options)

    @staticmethod
    def build(conn, groups: ToneGroups, root: Path = ROOT, **decoder_options) -> DomainLM:
        return DomainLM(domain_runs(conn, root), groups, **decoder_options)

    def text(self, decoded: Decoded) -> str:
        """The decoded words with their most likely tone marks (for the catalogue search)."""
        return " ".join(self.accents.restore(decoded.words))
