"""Scoring kiosk phrases against CTC posteriors (pure numpy): how well the sounds the model
heard fit each phrase, whatever it wrote.

A transcript keeps only the model's best guess per moment. On unclear speech (espeak-ng's
flat tones, an accent, noise) that guess is often wrong while the right syllable is still
the second or third most likely; scoring the phrase against the posteriors themselves keeps
that evidence.

- `Vocabulary`: the model's sub-word tokens ("▁đăng", "▁ký", …; ▁ starts a word).
- `ToneGroups`: tokens that differ only by their tone mark form one group ("▁ký", "▁kỷ",
  "▁kỳ" …); `collapse(logp)` sums their probabilities. Synthetic voices and accents get the
  tone wrong far more often than the syllable, and the kiosk's phrases are told apart by
  their syllables (measured on the espeak-ng requests: accepted answers at ≤ 4 % wrong rose
  from 44 to 55 of 144 with groups).
- `tokenize(text, groups)`: a phrase as group ids (whole syllables, else longest pieces).
- `PhraseScorer(sequences)`: keyword spotting for many phrases at once — for each phrase the
  cheapest CTC path that says the phrase somewhere in the utterance (the speech before and
  after it is free), where a frame's cost is how far below the frame's best token the
  path's token is (0 when the model's best guess is the phrase's token). `costs(logp)` is
  that cost divided by the phrase's token count raised to `length_power` (1.0: per token;
  the kiosk uses 1.25, which favours the longer of two phrases that fit alike: a short
  phrase fits pieces of unrelated speech far more easily): 0 = heard exactly, larger = worse.
- `greedy(logp, vocab)`: the best-path transcript.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BLANK = 0
WORD_START = "▁"
_TONE_MARKS = {"\u0301", "\u0300", "\u0303", "\u0309", "\u0323"}
_INF = 1e9


def strip_tone(text: str) -> str:
    """Lower-case `text` without tone marks (vowel quality marks and đ stay): "Kỷ" → "ky"."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_MARKS))


@dataclass(frozen=True)
class Vocabulary:
    """Token id → text (id 0 is the CTC blank)."""

    tokens: tuple[str, ...]

    @staticmethod
    def parse(text: str) -> Vocabulary:
        """From "token id" lines (viet-asr's embedded vocabulary)."""
        pairs = {}
        for line in text.splitlines():
            token, _, ident = line.rstrip("\n").rpartition(" ")
            if token and ident.isdigit():
                pairs[int(ident)] = token
        if not pairs:
            raise ValueError("empty vocabulary")
        return Vocabulary(tuple(pairs.get(i, "") for i in range(max(pairs) + 1)))

    def __len__(self) -> int:
        return len(self.tokens)


class ToneGroups:
    """Tokens merged by their tone-less spelling; the blank and special tokens stay alone."""

    def __init__(self, vocab: Vocabulary, size: int):
        self.size = size  # the model's output width (may be shorter than the vocabulary)
        names: list[str] = []
        index: dict[str, int] = {}
        member = np.zeros(size, dtype=np.int64)
        for i in range(size):
            token = vocab.tokens[i] if i < len(vocab) else f"<{i}>"
            key = token if i == BLANK or token.startswith("<") else strip_tone(token)
            if key not in index:
                index[key] = len(names)
                names.append(key)
            member[i] = index[key]
        self.names, self.index, self.member = names, index, member
        # columns sorted by group, so that a group's probabilities are one contiguous slice
        self._order = np.argsort(member, kind="stable")
        self._starts = np.searchsorted(member[self._order], np.arange(len(names)))

    def __len__(self) -> int:
        return len(self.names)

    def collapse(self, logp: np.ndarray) -> np.ndarray:
        """(T, size) log-probabilities → (T, groups): log of the summed probabilities."""
        top = logp.max(axis=1, keepdims=True)
        summed = np.add.reduceat(np.exp(logp - top)[:, self._order], self._starts, axis=1)
        return np.log(np.maximum(summed, 1e-30)) + top


#: Sounds that Vietnamese regions (and espeak-ng's regional voices) say alike, for
#: `regional_key`: southern speech makes the onsets v, d, gi and r one sound (and tr/ch, s/x
#: are merged by many speakers), and says final -n as -ng and final -t as -c. Onsets: spelling
#: → the spelling it is merged with; finals likewise.
REGIONAL_ONSETS = {"v": "d", "gi": "d", "r": "d", "tr": "ch", "x": "s"}
REGIONAL_FINALS = {"n": "ng", "t": "c"}


def regional_key(name: str, onsets: dict[str, str] = REGIONAL_ONSETS,
                 finals: dict[str, str] = REGIONAL_FINALS) -> str:
    """A whole-word tone group's spelling as its regional sound ("▁vao" → "▁dao", "▁can" →
    "▁cang", "▁trut" → "▁chuc"); pieces that do not start a word are left as they are."""
    if not name.startswith(WORD_START) or len(name) < 3:
        return name
    word = name[1:]
    for onset in sorted(onsets, key=len, reverse=True):
        if word.startswith(onset) and len(word) > len(onset):
            word = onsets[onset] + word[len(onset):]
            break
    for final, merged in finals.items():
        if len(word) > 1 and word.endswith(final) and word[-len(final) - 1] in "aăâeêioôơuưy":
            word = word[: -len(final)] + merged
            break
    return WORD_START + word


class SoundGroups:
    """Tone groups merged further by a key of their spelling (`regional_key`): `collapse` sums
    the probabilities of tone-collapsed posteriors, `index` maps every tone group's spelling to
    its sound group (so `tokenize` spells phrases in sound groups)."""

    def __init__(self, groups: ToneGroups, key=regional_key):
        names: list[str] = []
        own: dict[str, int] = {}
        member = np.zeros(len(groups), dtype=np.int64)
        for i, name in enumerate(groups.names):
            k = name if i == BLANK or name.startswith("<") else key(name)
            if k not in own:
                own[k] = len(names)
                names.append(k)
            member[i] = own[k]
        self.names, self.member = names, member
        self.index = {name: int(member[i]) for i, name in enumerate(groups.names)}
        self._order = np.argsort(member, kind="stable")
        self._starts = np.searchsorted(member[self._order], np.arange(len(names)))

    def __len__(self) -> int:
        return len(self.names)

    def collapse(self, collapsed: np.ndarray) -> np.ndarray:
        """(T, tone groups) log-probabilities → (T, sound groups)."""
        top = collapsed.max(axis=1, keepdims=True)
        summed = np.add.reduceat(np.exp(collapsed - top)[:, self._order], self._starts, axis=1)
        return np.log(np.maximum(summed, 1e-30)) + top


def tokenize(text: str, groups: ToneGroups | SoundGroups) -> list[int]:
    """Group ids of a phrase: each word as one token when the model has it, else the longest
    pieces from the left (as the model's sentencepiece would spell it)."""
    ids: list[int] = []
    for word in re.findall(r"\w+", strip_tone(unicodedata.normalize("NFC", text))):
        piece = WORD_START + word
        if piece in groups.index:
            ids.append(groups.index[piece])
            continue
        ids.extend(_pieces(piece, groups.index))
    return ids


def _pieces(word: str, index: dict[str, int]) -> list[int]:
    out, i = [], 0
    while i < len(word):
        for j in range(len(word), i, -1):
            if word[i:j] in index:
                out.append(index[word[i:j]])
                i = j
                break
        else:
            i += 1  # a character the model cannot spell: skipped
    return out


class PhraseScorer:
    """Keyword-spotting costs of many token sequences at once (see the module docstring)."""

    def __init__(self, sequences: Sequence[Sequence[int]], length_power: float = 1.0):
        if not sequences or any(len(s) == 0 for s in sequences):
            raise ValueError("every phrase needs at least one token")
        n, states = len(sequences), 2 * max(len(s) for s in sequences) + 1
        self.labels = np.zeros((n, states), dtype=np.int64)  # blank between and around tokens
        self.valid = np.zeros((n, states), dtype=bool)
        self.skip = np.zeros((n, states), dtype=bool)  # may jump over the blank before it
        self.final = np.zeros(n, dtype=np.int64)
        self.lengths = np.array([len(s) for s in sequences], dtype=np.float64)
        self.divisor = self.lengths ** length_power
        for i, seq in enumerate(sequences):
            for k, tok in enumerate(seq):
                self.labels[i, 2 * k + 1] = tok
                self.skip[i, 2 * k + 1] = k > 0 and seq[k - 1] != tok
            self.valid[i, : 2 * len(seq) + 1] = True
            self.final[i] = 2 * len(seq) - 1

    def __len__(self) -> int:
        return len(self.final)

    def costs(self, logp: np.ndarray) -> np.ndarray:
        """Per phrase: the cheapest path's cost divided by its token count ** length_power."""
        state = self.start()
        self.advance(state, logp)
        return self.result(state)

    def start(self) -> dict:
        """A scoring state for frames that arrive in pieces (`advance`, then `result`)."""
        return {"alpha": np.full(self.labels.shape, _INF), "best": np.full(len(self), _INF)}

    def advance(self, state: dict, logp: np.ndarray) -> None:
        """Take in the next frames (T, tokens) of the utterance."""
        frame_cost = logp.max(axis=1, keepdims=True) - logp  # 0 for each frame's best token
        alpha, best = state["alpha"], state["best"]
        rows = np.arange(len(self))
        for t in range(frame_cost.shape[0]):
            prev = alpha
            step = prev.copy()
            np.minimum(step[:, 1:], prev[:, :-1], out=step[:, 1:])
            jump = np.full_like(prev, _INF)
            jump[:, 2:] = prev[:, :-2]
            step = np.where(self.skip, np.minimum(step, jump), step)
            step[:, :2] = np.minimum(step[:, :2], 0.0)  # the phrase may start here: what came before is free
            alpha = np.where(self.valid, step + frame_cost[t][self.labels], _INF)
            best = np.minimum(best, alpha[rows, self.final])  # … and end here: what follows is free
        state["alpha"], state["best"] = alpha, best

    def result(self, state: dict) -> np.ndarray:
        return state["best"] / self.divisor


def spot_span(logp: np.ndarray, seq: Sequence[int]) -> tuple[float, int, int]:
    """Keyword spotting of one token sequence with where it was heard: (cost, first frame,
    last frame) of the cheapest path (the `PhraseScorer` cost, not divided by its length);
    (inf, 0, -1) when there are no frames. Plain Python over the few states: an utterance
    has ~25 frames a second."""
    if not len(seq) or len(logp) == 0:
        return float("inf"), 0, -1
    n = 2 * len(seq) + 1
    labels = [BLANK if k % 2 == 0 else seq[k // 2] for k in range(n)]
    skip = [k % 2 == 1 and k > 1 and seq[k // 2 - 1] != seq[k // 2] for k in range(n)]
    costs = (logp.max(axis=1, keepdims=True) - logp[:, labels]).tolist()
    alpha, start = [_INF] * n, [0] * n
    best = (float("inf"), 0, -1)
    for t, fc in enumerate(costs):
        new_a, new_s = [0.0] * n, [0] * n
        for k in range(n):
            a, o = alpha[k], start[k]
            if k > 0 and alpha[k - 1] < a:
                a, o = alpha[k - 1], start[k - 1]
            if skip[k] and alpha[k - 2] < a:
                a, o = alpha[k - 2], start[k - 2]
            if k < 2 and a > 0.0:  # the phrase may start here: what came before is free
                a, o = 0.0, t
            new_a[k], new_s[k] = a + fc[k], o
        alpha, start = new_a, new_s
        if alpha[n - 2] < best[0]:
            best = (alpha[n - 2], start[n - 2], t)
    return best


def spot_outside(logp: np.ndarray, seq: Sequence[int], span: tuple[int, int]) -> float:
    """The cheapest keyword-spotting cost of `seq` before or after the frames `span` (first,
    last): where another phrase was heard, it cannot also be heard."""
    first, last = span
    parts = [logp[:max(0, first)], logp[last + 1:]]
    return min((spot_span(p, seq)[0] for p in parts if len(p)), default=float("inf"))


def greedy(logp: np.ndarray, vocab: Vocabulary) -> str:
    """Best-path transcript: each frame's best token, repeats merged, blanks dropped."""
    out, prev = [], -1
    for tok in logp.argmax(axis=1):
        if tok != prev and tok != BLANK and tok < len(vocab):
            out.append(vocab.tokens[tok])
        prev = tok
    return "".join(out).replace(WORD_START, " ").strip()
