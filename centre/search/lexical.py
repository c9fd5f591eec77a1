"""The lexical stage of the search: words, the phrase index of names and aliases, its score.

1. **Words** (`analyze`, `LexicalRanker._query_tokens`): syllables as typed and folded
   (`centre.text.fold`: no tone marks, đ → d), kí/ký, numerals and abbreviations unified on
   both sides; raw Telex read, words run together split, unknown words corrected, filler,
   kinship and everyday words weighed little (`words.yaml`), the rest by rarity (IDF).
   **Lexicon readings** (`lexicon.yaml`): the query is also scored with everyday words
   replaced by administrative ones.
2. **Index** (`rebuild_index`): every name of a procedure (display, official, head, English,
   English head) and each alias is one row of the FTS5 table `search_phrases`; the same
   rebuild fills the procedure-text index and the passage vectors (`textindex`, `semantic`).
3. **Candidates**: FTS5 `MATCH` of quoted folded vocabulary words only, rarest first.
4. **Phrase score** (`phrase_score`): recall × (recall share + precision + word order),
   containment for long questions, × the procedure-level factors (variant marks, actions,
   ages). A procedure scores as its best phrase over every reading (`lexical`).

`model.Searcher` combines this with the other features; weights are in `weights.py`.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import re
import sqlite3
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import yaml
from rapidfuzz import process
from rapidfuzz.distance import OSA

from centre.db import migrate, transaction
from centre.search import semantic, textindex
from centre.search.bm25 import MemoryBM25
from centre.search.referral import Referral
from centre.search.weights import (
    ACCENT_MISMATCH,
    ACTION_UNSAID,
    AGE_CONFLICT,
    AGE_MATCH,
    CANDIDATE_BUDGET,
    CANDIDATE_LIMIT,
    CONTAIN_BONUS,
    CONTAIN_SHARE,
    CONTEXT_CREDIT,
    DEFAULT_MIN_SCORE,
    EDIT1,
    EDIT2,
    ENGLISH_FOLD,
    ENGLISH_UNKNOWN,
    EVIDENCE_PRIOR,
    EXACT,
    GENERIC_MAX,
    HEAD_PRECISION,
    INDEX_FORMAT,
    KINSHIP_WEIGHT,
    MARKER_WEIGHT,
    MAX_QUERY_TOKENS,
    MAX_READINGS,
    ORDER_SHARE,
    PHONETIC,
    PRECISION_SHARE,
    PREFIX,
    READING_CANDIDATES,
    RECALL_SHARE,
    SINGLE_MATCH,
    SPECIFIC_WEIGHT,
    STEM,
    STOP_WEIGHT,
    SUGGEST_MIN,
    SYNONYM,
    TELEX,
    TEXT_COLUMN_WEIGHTS,
    UNEXPLAINED,
    UNKNOWN_WEIGHT,
    VARIANT_MISSING,
    VARIANT_UNSAID,
)
from centre.search.words import (
    ABBREVIATIONS,
    ACTION_LEADS,
    AGE_WORDS,
    FRAME_WORDS,
    GENERIC_EN,
    GENERIC_VI,
    KIN_SIDE,
    KIN_SIDE_AFTER,
    KINSHIP_EN,
    KINSHIP_VI,
    NOT_MARKER_AFTER,
    NUMBER_WORDS,
    QUALIFIERS_EN,
    QUALIFIERS_VI,
    STOP_EN,
    STOP_VI,
    VARIANT_MARKERS,
    VARIANT_MARKS_EN,
    VARIANT_SCOPES,
)
from centre.text import fold

log = logging.getLogger(__name__)

MIGRATIONS = [
    """
    CREATE VIRTUAL TABLE search_phrases USING fts5(
        folded,                      -- folded syllables (no diacritics, đ → d), what MATCH reads
        plain,                       -- the phrase as written, lower-case, diacritics kept
        procedure_key UNINDEXED,
        kind UNINDEXED,              -- name | official | head | en | alias | alias_en
        tokenize = 'unicode61 remove_diacritics 0'
    );
    CREATE TABLE search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    textindex.MIGRATION,
]


_WORD = re.compile(r"[^\W_]+")
_FTS_WORD = re.compile(r"[^\W_]+")
_CODE = re.compile(r"\d\.\d{6}")
_PARENTHESES = re.compile(r"\([^()]*\)")
_Y_SYLLABLE = re.compile(r"^(qu|[bcdđghklmnprstvx]{1,3})([yýỳỷỹỵ])$")
_Y_TO_I = str.maketrans("yýỳỷỹỵ", "iíìỉĩị")
_TELEX_PAIRS = (("dd", "d"), ("aa", "a"), ("ee", "e"), ("oo", "o"), ("aw", "a"), ("ow", "o"), ("uw", "u"))




class SearchError(RuntimeError):
    """The search index cannot be built or read (no catalogue tables, broken database)."""


# --------------------------------------------------------------------------- analysis


def _canon(token: str) -> str:
    """Unify the i/y spelling variants of one syllable (kỹ/kĩ, lý/lí, quý/quí)."""
    m = _Y_SYLLABLE.match(token)
    if m:
        return m.group(1) + m.group(2).translate(_Y_TO_I)
    return token


# The stop lists in the form `analyze` gives (i/y unified: English "my" arrives as "mi").
_STOP_TYPED = frozenset(_canon(w) for w in STOP_VI | STOP_EN)
_STOP_EN = frozenset(_canon(w) for w in STOP_EN)
_STOP_FOLDED_VI = frozenset(_canon(fold(w)) for w in STOP_VI)
_STOP_FOLDED = _STOP_FOLDED_VI | _STOP_EN
_KINSHIP_TYPED = frozenset(_canon(w) for w in KINSHIP_VI | KINSHIP_EN)
_KINSHIP_FOLDED = frozenset({_canon(fold(w)) for w in KINSHIP_VI} | KINSHIP_EN)
_GENERIC_TYPED = frozenset(_canon(w) for w in GENERIC_VI | GENERIC_EN)
_GENERIC_FOLDED = frozenset({_canon(fold(w)) for w in GENERIC_VI} | GENERIC_EN)


_TONES = {"\u0300": "2", "\u0301": "1", "\u0309": "3", "\u0303": "4", "\u0323": "5"}


@lru_cache(maxsize=65536)
def tone_key(word: str) -> str:
    """A typed syllable with its tone moved to the end: "hóa" and "hoá" (old and new tone
    placement) both give "hoa1"; "hoà" gives "hoa2". Vowel marks (â, ơ, ư…) and đ stay."""
    decomposed = unicodedata.normalize("NFD", word)
    tone = "".join(_TONES[ch] for ch in decomposed if ch in _TONES)
    base = "".join(ch for ch in decomposed if ch not in _TONES)
    return unicodedata.normalize("NFC", base) + tone


def _tone_of(word: str) -> str:
    """The tone digit of a typed syllable ("" for level tone)."""
    return "".join(_TONES[ch] for ch in unicodedata.normalize("NFD", word) if ch in _TONES)


def impossible_tone(plain: str, folded: str) -> bool:
    """A syllable ending in p, t, c or ch takes the sắc or nặng tone only: "mât", "kêt" are
    misspellings (of mất, kết) whatever else the word could be."""
    return folded.endswith(("p", "t", "c", "ch")) and _tone_of(plain) not in ("1", "5")


def _split_plain(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text).lower()
    return _WORD.findall(text)




def _number(word: str) -> str | None:
    """Digits for a numeral: '02' → '2', 'một' → '1' (only with its diacritics: 'ba' stays)."""
    if word.isdecimal() and word.isascii():
        return str(int(word)) if len(word) < 6 else word
    if word in NUMBER_WORDS and word not in ("ba", "tư", "năm"):  # also father / fourth / year
        return NUMBER_WORDS[word]
    return None


# Spoken numerals (voice transcripts, spoken questions): "tám mươi lăm" → 85, "mười bốn" → 14.
# After "mươi"/"mười" "năm" stays a year ("hai mươi năm" is twenty years), "lăm" is five.
_DIGIT_WORDS = {**{k: int(v) for k, v in NUMBER_WORDS.items()}, "mốt": 1, "lăm": 5, "nhăm": 5}
_UNITS_AFTER_TENS = frozenset({"một", "mốt", "hai", "ba", "bốn", "tư", "lăm", "nhăm", "sáu", "bảy", "bẩy", "tám", "chín"})


def _spoken_numbers(words: list[str]) -> list[str]:
    """Compound numerals written as words, as digits: "ba mươi" → "30", "mười lăm" → "15"."""
    if "mươi" not in words and "mười" not in words:
        return words
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        value = None
        if nxt == "mươi" and 2 <= _DIGIT_WORDS.get(w, 0) <= 9:
            value, i = 10 * _DIGIT_WORDS[w], i + 2
        elif w == "mười" and nxt in _UNITS_AFTER_TENS:
            value, i = 10, i + 1
        if value is None:
            out.append(w)
            i += 1
            continue
        if i < len(words) and words[i] in _UNITS_AFTER_TENS:
            value += _DIGIT_WORDS[words[i]]
            i += 1
        out.append(str(value))
    return out


@lru_cache(maxsize=65536)
def _fold_word(word: str) -> str:
    return fold(word)


def analyze(text: str) -> list[tuple[str, str]]:
    """(as typed, folded) syllable pairs of `text`, abbreviations spelled out, i/y unified.

    Both forms are lower-case; the first keeps diacritics. Used for the catalogue's
    phrases and for queries alike, so both sides are cut the same way.
    """
    out: list[tuple[str, str]] = []
    for word in _spoken_numbers(_split_plain(text or "")):
        expansion = ABBREVIATIONS.get(word)
        words = _split_plain(expansion) if expansion else [word]
        for w in words:
            num = _number(w)
            if num is not None:
                out.append((num, num))
                continue
            f = _fold_word(w)
            if not f:
                continue
            parts = f.split()
            if len(parts) != 1:  # odd characters inside the word: keep the folded parts
                out.extend((p, p) for p in parts)
                continue
            out.append((_canon(w), _canon(f)))
    return out


def folded_key(text: str) -> str:
    """The folded, i/y-unified form of `text` as the index stores it (for voice snapping)."""
    return " ".join(f for _, f in analyze(text))


def has_diacritics(text: str) -> bool:
    """True when `text` carries Vietnamese marks (so the typist used them on purpose)."""
    return any(a != f for a, f in analyze(text))


_SYLLABLE = re.compile(r"^(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?[aeiouy]{1,3}(ch|ng|nh|[cmnpt])?$")


def is_vietnamese_syllable(folded: str) -> bool:
    """True when a folded token can be a Vietnamese syllable (so it is not an English word)."""
    return bool(_SYLLABLE.match(folded))


def _phonetic(token: str) -> str:
    """A key that merges spelling confusions common in speech: tr/ch, s/x, r/d/gi, l/n, final n/ng, c/t."""
    t = token
    for a, b in (("ngh", "ng"), ("gh", "g"), ("tr", "ch"), ("gi", "d"), ("r", "d"), ("s", "x"), ("l", "n")):
        if t.startswith(a):
            t = b + t[len(a) :]
            break
    for a, b in (("nh", "n"), ("ng", "n"), ("ch", "t"), ("c", "t")):
        if t.endswith(a) and len(t) > len(a):
            t = t[: -len(a)] + b
            break
    return t


def _telex_variants(token: str) -> list[str]:
    """Plausible folded words under raw Telex typing (ddang → dang, kys → ky, vieejt → viet)."""
    out = set()
    t = token
    for a, b in _TELEX_PAIRS:
        t = t.replace(a, b)
    out.add(t)
    if len(t) > 2 and t[-1] in "sfrxj":
        out.add(t[:-1])
    # a tone key typed inside the word ("vieejt" → "viejt" → "viet")
    stripped = re.sub(r"(?<=[aeiouy])[sfrxj](?=[a-z])", "", t)
    out.add(stripped)
    if len(stripped) > 2 and stripped[-1] in "sfrxj":
        out.add(stripped[:-1])
    out.discard(token)
    return [_canon(v) for v in out if v]


LEXICON_PATH = Path(__file__).with_name("lexicon.yaml")
LEXICON_MAX_WORDS = 4


@dataclass(frozen=True)
class Lexicon:
    """Everyday words → administrative words (`search_lexicon.yaml`), keyed both ways:
    by the typed tone keys (a query with diacritics) and by folded words (one without)."""

    typed: dict
    folded: dict
    vietnamese: frozenset = frozenset()  # folded keys written with diacritics (Vietnamese words)

    @classmethod
    def load(cls, path: Path = LEXICON_PATH, english_map: bool = True) -> Lexicon:
        """`english_map`: also the `english_map` section (everyday English → the catalogue's
        words); the ablation bench switches it off."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            log.error("search lexicon %s unreadable (%s): searching without it", path, exc)
            return cls({}, {})
        typed: dict = {}
        folded: dict = {}
        vietnamese: set = set()
        entries = list((data.get("synonyms") or {}).items())
        if english_map:
            entries += list((data.get("english_map") or {}).items())
        for key, targets in entries:
            kp = analyze(str(key))
            if not kp or len(kp) > LEXICON_MAX_WORDS or not isinstance(targets, list):
                log.warning("search lexicon %s: entry %r ignored", path, key)
                continue
            readings = tuple(tuple(analyze(str(t))) for t in targets if analyze(str(t)))
            typed.setdefault(tuple(tone_key(a) for a, _ in kp), readings)
            folded.setdefault(tuple(f for _, f in kp), readings)
            if any(a != f for a, f in kp):
                vietnamese.add(tuple(f for _, f in kp))
        return cls(typed, folded, frozenset(vietnamese))


@lru_cache(maxsize=2)
def lexicon(english_map: bool = True) -> Lexicon:
    """The shipped lexicon, loaded once (with or without its English word map)."""
    return Lexicon.load(english_map=english_map)




def query_age(folded: list[str]) -> tuple[int, int] | None:
    """The ages the citizen speaks of: "8 tuổi" → (8, 8), "dưới 14 tuổi" → (0, 13), "10 year old"."""
    for i, (a, b) in enumerate(zip(folded, folded[1:], strict=False)):
        if a.isdigit() and b in AGE_WORDS and len(a) < 4:
            n = int(a)
            before = folded[i - 1] if i else ""
            if before in ("duoi", "under"):
                return (0, n - 1)
            if before in ("tren", "over"):
                return (n + 1, 999)
            if before in ("du", "tu"):
                return (n, 999)
            return (n, n)
    return None


def age_range(folded: tuple[str, ...]) -> tuple[int, int] | None:
    """The ages a procedure name is for: "dưới 14 tuổi" → (0, 13); "từ đủ 14 tuổi" → (14, 999)."""
    for i in range(1, len(folded) - 1):
        n, after = folded[i], folded[i + 1]
        if n.isdigit() and after == "tuoi":
            before = folded[i - 1]
            if before == "duoi":
                return (0, int(n) - 1)
            if before in ("du", "tren", "tu"):
                return (int(n) + (before == "tren"), 999)
    return None


# --------------------------------------------------------------------------- index


def ensure_tables(conn) -> None:
    """Create or upgrade the search tables (works inside or outside an open transaction)."""
    conn = getattr(conn, "conn", conn)
    if not conn.in_transaction:
        migrate(conn, "search", MIGRATIONS)
        return
    # Inside the catalogue import's transaction: apply the same migrations without BEGIN.
    conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_versions WHERE module = 'search'").fetchone()
    have = row[0] if row else 0
    if have >= len(MIGRATIONS):
        return
    from centre.db import _split

    for sql in MIGRATIONS[have:]:
        for statement in _split(sql):
            conn.execute(statement)
    conn.execute(
        "INSERT INTO schema_versions(module, version) VALUES ('search', ?) "
        "ON CONFLICT(module) DO UPDATE SET version = excluded.version",
        (len(MIGRATIONS),),
    )


def _catalogue_version(conn) -> str:
    try:
        row = conn.execute("SELECT value FROM catalogue_meta WHERE key = 'version'").fetchone()
    except sqlite3.OperationalError:
        return ""
    return str(row[0]) if row else ""


def _has_catalogue(conn) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('procedures', 'aliases', 'fields')"
    ).fetchone()
    return row[0] == 3






def _variant_markers(typed: tuple[str, ...], folded: tuple[str, ...]) -> frozenset:
    out: set[str] = set()
    for i in range(len(typed)):
        for m in VARIANT_MARKERS:
            if tuple(typed[i : i + len(m)]) == m:
                if i and typed[i - 1] in NOT_MARKER_AFTER.get(m[0], ()):
                    continue
                out.update(folded[i : i + len(m)])
    return frozenset(out)


def head_of(name: str) -> str:
    """The head of a procedure name: what it does, without the clause saying for whom or where.

    "Cấp thẻ căn cước cho người từ đủ 14 tuổi trở lên" → "Cấp thẻ căn cước". Empty when the
    name has no qualifier or the head would be a single word.
    """
    m = QUALIFIERS_VI.search(name or "")
    if not m:
        return ""
    head = name[: m.start()].strip(" ,.")
    return head if len(head.split()) >= 2 else ""




def head_of_en(name: str) -> str:
    """The head of an English procedure name: "Issuance of an identity card to a person under
    14" → "Issuance of an identity card". Empty when there is no qualifier or one word is left."""
    m = QUALIFIERS_EN.search(name or "")
    if not m:
        return ""
    head = name[: m.start()].strip(" ,.")
    return head if len(head.split()) >= 2 else ""


def _phrases_of(row) -> Iterable[tuple[str, str]]:
    """(kind, text) of every name of one procedure row, duplicates (by folded form) dropped."""
    seen: set[str] = set()
    name = row["name"] or ""
    short = _PARENTHESES.sub(" ", name).strip(" :;,.")
    texts = (
        ("name", name),
        ("official", row["official_name"]),
        ("name", short),
        ("head", head_of(name)),
        ("en", row["name_en"]),
        ("head_en", head_of_en(row["name_en"] or "")),
    )
    for kind, text in texts:
        key = folded_key(text or "")
        # the official name is usually "Thủ tục " + the name: nothing more to find in it
        if key.startswith("thu tuc ") and key[len("thu tuc ") :] in seen:
            continue
        if key and key not in seen:
            seen.add(key)
            yield kind, text


def rebuild_index(conn) -> int:
    """(Re)build the search index from `procedures` and `aliases`; returns the number of phrases.

    Runs in the caller's transaction when one is open (the catalogue import calls it after
    filling the tables, so a failed import rolls the index back too); otherwise in its own.
    """
    conn = getattr(conn, "conn", conn)
    ensure_tables(conn)
    if conn.in_transaction:
        return _rebuild(conn)
    with transaction(conn):
        return _rebuild(conn)


_FROZEN = threading.Event()


def freeze_memory(again: bool = False) -> int:
    """After start-up (index and e5 engine loaded): collect, then move every object alive into
    the garbage collector's permanent generation (`gc.freeze`), so that its full collections no
    longer walk the index. A full collection walked ~48,000 objects in ~20 ms with the shipped
    catalogue and ~235,000 in ~200–270 ms at 5,000 procedures, and one could fall inside any
    search. Results are unchanged; objects frozen are still freed by reference counting (the
    index holds no reference cycles), but a cycle frozen is never collected: so once per
    process (a kiosk starts once; a test process may start many apps) unless `again`.
    Returns how many objects are frozen."""
    import gc

    if _FROZEN.is_set() and not again:
        return gc.get_freeze_count()
    _FROZEN.set()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _rebuild(conn) -> int:
    try:
        procs = conn.execute("SELECT key, name, official_name, name_en FROM procedures ORDER BY key").fetchall()
        aliases = conn.execute("SELECT procedure_key, alias, lang FROM aliases ORDER BY procedure_key, alias").fetchall()
    except sqlite3.OperationalError as exc:
        raise SearchError(f"catalogue tables missing or unreadable: {exc}") from exc
    rows: list[tuple[str, str, str, str]] = []
    seen: dict[str, set[str]] = defaultdict(set)
    for p in procs:
        for kind, text in _phrases_of(p):
            key = folded_key(text)
            seen[p["key"]].add(key)
            rows.append((key, " ".join(a for a, _ in analyze(text)), p["key"], kind))
    for a in aliases:
        key = folded_key(a["alias"] or "")
        if not key or key in seen[a["procedure_key"]]:
            continue
        seen[a["procedure_key"]].add(key)
        kind = "alias_en" if (a["lang"] or "vi") == "en" else "alias"
        rows.append((key, " ".join(x for x, _ in analyze(a["alias"])), a["procedure_key"], kind))
    conn.execute("DELETE FROM search_phrases")
    conn.executemany("INSERT INTO search_phrases(folded, plain, procedure_key, kind) VALUES (?, ?, ?, ?)", rows)
    _rebuild_text(conn)
    conn.execute(
        "INSERT INTO search_meta(key, value) VALUES ('catalogue_version', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (_catalogue_version(conn) + INDEX_FORMAT,),
    )
    return len(rows)


def _rebuild_text(conn) -> None:
    """The procedure-text index (textindex) and the passage vectors (semantic) of every procedure."""
    procs = conn.execute(
        "SELECT p.*, f.name_vi AS field_vi FROM procedures p LEFT JOIN fields f ON f.id = p.field_id ORDER BY p.key"
    ).fetchall()
    aliases: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for a in conn.execute("SELECT procedure_key, alias, lang FROM aliases ORDER BY procedure_key, alias"):
        aliases[a["procedure_key"]].append((a["alias"], a["lang"] or "vi"))
    conn.execute("DELETE FROM search_text")
    conn.executemany(
        f"INSERT INTO search_text({', '.join(textindex.COLUMNS)}, procedure_key) "
        f"VALUES ({', '.join('?' * (len(textindex.COLUMNS) + 1))})",
        [textindex.text_row(p, aliases[p["key"]], p["field_vi"] or "", folded_key) for p in procs],
    )
    conn.execute("DELETE FROM search_vectors")
    passages = [(p["key"], kind, text) for p in procs for kind, text in textindex.passages_of(p, aliases[p["key"]])]
    vecs = semantic.embed_passages([t for _, _, t in passages])
    if vecs is not None:
        conn.executemany(
            "INSERT INTO search_vectors(procedure_key, kind, vec) VALUES (?, ?, ?)",
            [(k, kind, v) for (k, kind, _), v in zip(passages, vecs, strict=True)],
        )


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Hit:
    """One procedure found, with its score (0..1) and what matched."""

    key: str
    code: str
    name: str
    official_name: str
    name_en: str
    field_id: str
    field: str
    field_en: str
    score: float
    matched: str  # name | official | head | en | head_en | alias | alias_en | code | text
    matched_text: str  # the phrase that matched, as written in the catalogue
    # the parts of the procedure the question asked about (documents, fee, time, applicants,
    # place), in the order asked, and for each the passage of the procedure that answers it
    answers: list[str] = field(default_factory=list)
    passages: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FieldSuggestion:
    """A field (lĩnh vực) offered when no procedure passes the threshold."""

    id: str
    name: str
    name_en: str
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SearchResult:
    """Hits best first; when none passes the threshold, `hits == []` and `suggested_fields`."""

    query: str
    hits: list[Hit]
    suggested_fields: list[FieldSuggestion] = field(default_factory=list)
    best_score: float = 0.0  # best score seen, even below the threshold
    # on "no match": where to go instead (referrals.yaml), or None when the table has no entry
    referral: Referral | None = None
    # with hits: the request also names something handled elsewhere ("ly hôn": the court), or None
    see_also: Referral | None = None

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "hits": [h.to_dict() for h in self.hits],
            "suggested_fields": [f.to_dict() for f in self.suggested_fields],
            "best_score": self.best_score,
            "referral": self.referral.to_dict() if self.referral else None,
            "see_also": self.see_also.to_dict() if self.see_also else None,
        }


# --------------------------------------------------------------------------- searcher


@dataclass
class _Phrase:
    key: str
    kind: str
    text: str
    folded: tuple[str, ...]
    plain: tuple[str, ...]
    accented: bool
    weight: float = 0.0  # sum of the weights of its distinct tokens
    pairs: frozenset = frozenset()  # adjacent word pairs (also with filler words skipped)
    adjacent: frozenset = frozenset()  # adjacent word pairs as written
    tokset: frozenset = frozenset()
    markers: frozenset = frozenset()  # folded words that make this a variant procedure (lại, lưu động…)
    typed_set: frozenset = frozenset()


@dataclass
class _QToken:
    plain: str
    folded: str
    weight: float
    variants: dict[str, float]  # folded vocabulary token -> credit
    stop: bool
    informative: bool
    accented: bool  # the query was typed with diacritics
    synonym: bool = False  # put in by a lexicon reading, not typed
    keyed: bool = False  # a lexicon word the citizen said (sửa, mất, hết hạn…): meaningful, never mere context
    repeat_weight: float = 0.0  # a repeated word weighs 0; this is its weight once the first is gone
    vset: frozenset = frozenset()
    best: float = 0.0
    tone: str = ""

    def __post_init__(self) -> None:
        self.tone = tone_key(self.plain)
        self.vset = frozenset(self.variants)
        self.best = max(self.variants.values(), default=0.0)


class _Index:
    """Everything the searcher keeps in memory for one catalogue version."""

    @classmethod
    def empty(cls, version: str) -> _Index:
        """The index of a database without a catalogue: finds nothing."""
        return cls(None, version)

    def __init__(self, conn, version: str):
        self.version = version
        self.phrases: dict[int, _Phrase] = {}
        self.procs: dict[str, sqlite3.Row] = {}
        self.fields: dict[str, sqlite3.Row] = {}
        self.context: dict[str, frozenset[str]] = {}
        doc_tokens: dict[str, set[str]] = defaultdict(set)
        def rows(sql: str) -> list:
            return conn.execute(sql).fetchall() if conn is not None else []

        for row in rows("SELECT rowid, folded, plain, procedure_key, kind FROM search_phrases"):
            folded = tuple(row["folded"].split())
            plain = tuple(row["plain"].split())
            if len(plain) != len(folded):
                plain = folded
            text = row["plain"]
            ph = _Phrase(row["procedure_key"], row["kind"], text, folded, plain, plain != folded)
            self.phrases[row["rowid"]] = ph
            doc_tokens[ph.key].update(folded)
        for row in rows(
            "SELECT p.key, p.code, p.name, p.official_name, p.name_en, p.field_id, "
            "f.name_vi AS field_vi, f.name_en AS field_en, f.sort AS field_sort "
            "FROM procedures p LEFT JOIN fields f ON f.id = p.field_id"
        ):
            self.procs[row["key"]] = row
        for row in rows("SELECT id, name_vi, name_en, sort FROM fields ORDER BY sort, id"):
            self.fields[row["id"]] = row
        field_tokens = {
            fid: {f for _, f in analyze(f"{r['name_vi']} {r['name_en']}")} for fid, r in self.fields.items()
        }
        for key, toks in doc_tokens.items():
            proc = self.procs.get(key)
            extra = field_tokens.get(proc["field_id"], set()) if proc else set()
            self.context[key] = frozenset(toks | extra)
        # document frequency over procedures (field names count too: they are context)
        df: Counter[str] = Counter()
        for toks in self.context.values():
            df.update(toks)
        self.n_docs = max(1, len(self.context))
        self.idf = {t: math.log(1 + self.n_docs / c) for t, c in df.items()}
        self.idf_max = math.log(1 + self.n_docs)
        self.tw = {t: self.token_weight(t) for t in df}
        for ph in self.phrases.values():
            ph.tokset = frozenset(ph.folded)
            ph.typed_set = frozenset(tone_key(a) for a in ph.plain)
            ph.markers = _variant_markers(ph.plain, ph.folded)
            ph.weight = sum(self.token_weight(t) * (MARKER_WEIGHT if t in ph.markers else 1) for t in ph.tokset)
            content = [t for t in ph.folded if t not in _STOP_FOLDED]
            ph.adjacent = frozenset(zip(ph.folded, ph.folded[1:], strict=False))
            ph.pairs = ph.adjacent | frozenset(
                zip(content, content[1:], strict=False)
            )
        # Without diacritics "dang" may be đang (filler) or đăng (đăng ký): a folded filler word
        # stays filler only when the catalogue hardly uses it as a content word.
        content_df: Counter[str] = Counter()
        for ph_list in self._by_key().values():
            content_df.update({f for ph in ph_list for a, f in zip(ph.plain, ph.folded, strict=False)
                               if a not in STOP_VI and a not in STOP_EN and a != f})
        self.stop_folded = frozenset(t for t in _STOP_FOLDED if content_df[t] <= max(3, 0.01 * self.n_docs))
        self.pairs = frozenset(
            pair for ph in self.phrases.values() for pair in zip(ph.folded, ph.folded[1:], strict=False)
        )
        # pairs of the official wording only (aliases may hold spoken filler: "tôi muốn đăng ký")
        self.name_pairs = frozenset(
            pair
            for ph in self.phrases.values()
            if not ph.kind.startswith("alias")
            for pair in zip(ph.folded, ph.folded[1:], strict=False)
        )
        # … with their diacritics (tone-keyed): "vậy" next to "hội" is no "vay" of "xã hội vay vốn"
        self.name_pairs_typed = frozenset(
            pair
            for ph in self.phrases.values()
            if not ph.kind.startswith("alias")
            for pair in zip(map(tone_key, ph.plain), map(tone_key, ph.plain[1:]), strict=False)
        )
        self.vocab = sorted(df)
        self.vocab_set = set(self.vocab)
        self.df = df
        self._spelling_tables()
        self._procedure_facts()
        # FTS5's bm25 ranking of both indexes, in memory (same rows, same scores: bm25.py)
        self.phrase_bm25 = self.text_bm25 = None
        if conn is not None and self.phrases:
            self.phrase_bm25 = MemoryBM25.load(conn, "search_phrases", ("folded", "plain"), only="folded")
            self.text_bm25 = MemoryBM25.load(
                conn, "search_text", textindex.COLUMNS, TEXT_COLUMN_WEIGHTS, label="procedure_key"
            )

    def _spelling_tables(self) -> None:
        """Sound-alike, length, English and tone tables of the vocabulary (for corrections)."""
        self.by_phonetic: dict[str, list[str]] = defaultdict(list)
        self.by_phonetic_typed: dict[str, set[str]] = defaultdict(set)
        for ph in self.phrases.values():
            if ph.accented:
                for a, f in zip(ph.plain, ph.folded, strict=False):
                    self.by_phonetic_typed[_phonetic(tone_key(a))].add(f)
        self.by_len: dict[int, list[str]] = defaultdict(list)
        for t in self.vocab:
            self.by_phonetic[_phonetic(t)].append(t)
            self.by_len[len(t)].append(t)
        # words of the English names and aliases: an English query reaches Vietnamese-only
        # words only through a different spelling (pho is not phổ)
        self.en_vocab = frozenset(t for ph in self.phrases.values() if ph.kind in ("en", "head_en", "alias_en") for t in ph.folded)
        # tones each folded word carries in the catalogue (a word typed with diacritics keeps its tone)
        self.tones: dict[str, set[str]] = defaultdict(set)
        for ph in self.phrases.values():
            if ph.accented:
                for a, f in zip(ph.plain, ph.folded, strict=False):
                    self.tones[f].add(_tone_of(a))

    def _procedure_facts(self) -> None:
        """Ages, variant marks, name words and action words of each procedure; phrase counts."""
        # ages a procedure is for, from its official wording ("dưới 14 tuổi")
        self.ages: dict[str, tuple[int, int]] = {}
        for ph in self.phrases.values():
            if ph.kind in ("name", "official") and ph.key not in self.ages:
                r = age_range(ph.folded)
                if r:
                    self.ages[ph.key] = r
        # words that make a procedure a variant of a plainer one, from its display name up to
        # the first comma: "Thay đổi, cải chính, bổ sung…, xác định lại dân tộc" lists
        # actions, it is no variant of anything; "Cấp lại, đổi… thẻ BHYT" is
        self.proc_markers: dict[str, frozenset] = {}
        self.proc_words: dict[str, frozenset] = {}  # folded words of each display name
        self.proc_actions: dict[str, frozenset] = {}  # ACTION_LEADS opening a procedure's name
        for key, p in self.procs.items():
            pairs = analyze((p["name"] or "").split(",")[0])
            markers = _variant_markers(tuple(a for a, _ in pairs), tuple(f for _, f in pairs))
            if markers:
                self.proc_markers[key] = markers
            self.proc_words[key] = frozenset(f for _, f in analyze(p["name"] or ""))
            typed = tuple(a for a, _ in pairs)
            for lead in ACTION_LEADS:
                if typed[: len(lead)] == lead:
                    self.proc_actions[key] = frozenset(f for _, f in pairs[: len(lead)])
                    break
        self.pdf: Counter[str] = Counter()  # phrases holding each word (FTS doclist sizes)
        for ph in self.phrases.values():
            self.pdf.update(ph.tokset)

    def _by_key(self) -> dict[str, list[_Phrase]]:
        out: dict[str, list[_Phrase]] = defaultdict(list)
        for ph in self.phrases.values():
            out[ph.key].append(ph)
        return out

    def token_weight(self, t: str) -> float:
        """Weight of a phrase's word in precision: its IDF, little for filler words."""
        w = self.idf.get(t, self.idf_max)
        return 0.2 * w if t in _STOP_FOLDED else w

    # ---- query side

    def corrections(self, token: str, typed: str | None = None) -> dict[str, float]:
        """Vocabulary words a token not in the vocabulary probably meant, with credits.

        Tried in order of likelihood, stopping at the first kind that finds something:
        raw Telex keys, then speech-like spelling confusions, then edit distance.
        """
        found: dict[str, float] = {}

        def add(t: str, credit: float) -> None:
            if t in self.vocab_set and t not in self.stop_folded and credit > found.get(t, 0):
                found[t] = credit

        for v in _telex_variants(token):
            add(v, TELEX)
        if not found and len(token) >= 3:
            # typed with diacritics: the tone is right, only the consonants may be confused
            table, key = (
                (self.by_phonetic_typed, _phonetic(tone_key(typed))) if typed else (self.by_phonetic, _phonetic(token))
            )
            for t in table.get(key, ()):
                add(t, PHONETIC)
        if not found and len(token) >= 3:
            max_d = 1 if len(token) < 7 else 2
            pool = [t for n in range(len(token) - max_d, len(token) + max_d + 1) for t in self.by_len.get(n, ())]
            for cand, dist, _ in process.extract(
                token, pool, scorer=OSA.distance, score_cutoff=max_d, limit=8
            ):
                add(cand, EDIT1 if dist <= 1 else EDIT2)
        # keep the few best, preferring frequent words among equals
        best = sorted(found.items(), key=lambda kv: (-kv[1], -self.df.get(kv[0], 0)))[:4]
        # several equally plausible readings: each is less likely to be the one meant
        share = 1 / math.sqrt(len(best)) if best else 1
        return {t: c * share for t, c in best}

    def context_fixes(
        self, prev: str, typed: str | None, token: str, nxt: str, sound_only: bool = False
    ) -> dict[str, float]:
        """Words that, unlike `token`, form a catalogue pair with a neighbour ("tạm chú" → trú).

        Only sound-alike spellings (tr/ch, s/x, r/d/gi…, the typed tone kept) or one edit away.
        """
        if len(token) < 2 or not (prev or nxt):
            return {}
        cands: dict[str, float] = {}
        key_table = (
            (self.by_phonetic_typed, _phonetic(tone_key(typed))) if typed else (self.by_phonetic, _phonetic(token))
        )
        for t in key_table[0].get(key_table[1], ()):
            cands.setdefault(t, PHONETIC)
        # one edit (a swap of two letters counts as one); two-letter words only grow ("hn" → hôn).
        # A filler word is only ever a sound-alike slip ("tạm chú"), never a typo of another word.
        if sound_only:
            lengths: tuple[int, ...] = ()
        elif len(token) == 2:
            lengths = (3,)
        else:
            lengths = (len(token) - 1, len(token), len(token) + 1)
        pool = [t for n in lengths for t in self.by_len.get(n, ())]
        for t, _, _ in process.extract(token, pool, scorer=OSA.distance, score_cutoff=1, limit=None):
            cands.setdefault(t, EDIT1)
        # typed with diacritics: the tone was typed on purpose ("đổi tiền" is not "đổi tên")
        tone = _tone_of(typed) if typed else None
        return {
            t: c
            for t, c in cands.items()
            if t != token
            # a filler word only where a procedure name pairs it ("bản sao", not "sao?")
            and (t not in self.stop_folded or (prev, t) in self.name_pairs or (t, nxt) in self.name_pairs)
            and ((prev, t) in self.pairs or (t, nxt) in self.pairs)
            and (tone is None or tone in self.tones.get(t, ()))
        }

    def english_relatives(self, token: str) -> dict[str, float]:
        """English words of the index sharing a long stem with `token` (register ~ registration)."""
        if len(token) < 4 or is_vietnamese_syllable(token):
            return {}
        out: dict[str, float] = {}
        head = token[:4]
        i = bisect.bisect_left(self.vocab, head)
        while i < len(self.vocab) and self.vocab[i].startswith(head):
            t = self.vocab[i]
            i += 1
            if t == token or is_vietnamese_syllable(t):
                continue
            common = len(os.path.commonprefix([t, token]))
            if common >= max(4, math.ceil(0.7 * min(len(t), len(token)))):
                out[t] = STEM
        return out

    def split_words(self, token: str, max_parts: int = 8) -> tuple[str, ...] | None:
        """Vocabulary words typed without spaces ("khaisinh", "dangkytamtru"), if the whole
        token splits into them; fewest pieces first, then the most common words."""
        n = len(token)
        if n < 4:
            return None
        # best[i] = (pieces, -rarity, words) for token[:i]
        best: list[tuple | None] = [None] * (n + 1)
        best[0] = (0, 0, ())
        for i in range(n):
            if best[i] is None or best[i][0] >= max_parts:
                continue
            for j in range(i + 1, min(n, i + 8) + 1):
                piece = _canon(token[i:j])
                # Vietnamese typed without spaces: the pieces are syllables ("motorbike" is no "motor bi ke")
                if piece not in self.vocab_set or not (piece.isdigit() or is_vietnamese_syllable(piece)):
                    continue
                cand = (best[i][0] + 1, best[i][1] - self.df[piece], best[i][2] + (piece,))
                if best[j] is None or cand[:2] < best[j][:2]:
                    best[j] = cand
        done = best[n]
        return done[2] if done and done[0] > 1 else None

    def prefix_expansions(self, token: str, limit: int = 40, vietnamese_only: bool = False) -> list[str]:
        """Words of the index that start with `token` (the word being typed), most frequent first."""
        i = bisect.bisect_left(self.vocab, token)
        out = []
        while i < len(self.vocab) and self.vocab[i].startswith(token):
            t = self.vocab[i]
            if t != token and (not vietnamese_only or is_vietnamese_syllable(t)):
                out.append(t)
            i += 1
        out.sort(key=lambda t: -self.df[t])
        return out[:limit]


def _content_words(qtokens: list[_QToken]) -> list[_QToken]:
    """The query's content words (informative, weighed, not numbers)."""
    return [q for q in qtokens if q.informative and q.weight > 0 and not q.folded.isdigit()]


# Spoken questions end in a frame asking which papers or steps ("giờ phải làm giấy tờ gì",
# "cần những thủ tục gì", "mang theo hồ sơ gì"): its words ask, they say nothing of which
# procedure. Folded; read backwards from "gì" while the words belong to the frame.


def _question_frame(qtokens: list[_QToken]) -> list[_QToken]:
    """The query with the words of a "…làm giấy tờ gì" question frame made filler."""
    n = len(qtokens)
    frame: set[int] = set()
    for i, q in enumerate(qtokens):
        if q.folded != "gi" or i == 0:
            continue
        j = i - 1
        while j >= 0 and qtokens[j].folded in FRAME_WORDS and not qtokens[j].keyed:
            frame.add(j)
            j -= 1
    if not frame or len(frame) >= n - 1:
        return qtokens  # the frame is all there is ("giấy tờ gì"): leave it as it is
    out = []
    for i, q in enumerate(qtokens):
        if i in frame and not q.stop:
            q = _QToken(q.plain, q.folded, STOP_WEIGHT, q.variants, True, False, q.accented)
        out.append(q)
    return out


_MARKERS_PLAIN = tuple(
    tuple(fold(w) for w in m) for m in VARIANT_MARKERS if len(m) > 1 or fold(m[0]) in ("xoa", "huy")
)


def english_marks(qtokens: list[_QToken]) -> frozenset:
    """The Vietnamese variant marks (folded) that English words of the request say
    ("foreign" → nuoc, ngoai; words.yaml: variant_marks_en), so that an English request can
    say a variant as a Vietnamese one does (stage `english_marks` of the model)."""
    return frozenset(w for q in qtokens for w in VARIANT_MARKS_EN.get(q.folded, ()))


def _asked_markers(qtokens: list[_QToken], english: bool = True) -> frozenset:
    """Variant marks the citizen said (folded): "xóa tạm trú" asks for the removal, not the registration."""
    toks = [q for q in qtokens if not q.synonym]
    if not toks:
        return frozenset()
    if toks[0].accented:
        return _variant_markers(tuple(q.plain for q in toks), tuple(q.folded for q in toks))
    folded = tuple(q.folded for q in toks)
    out: set[str] = set(english_marks(toks)) if english else set()
    for i in range(len(folded)):
        for m in _MARKERS_PLAIN:
            if folded[i : i + len(m)] == m:
                out.update(m)
    return frozenset(out)


def _telex_decoded(idx: _Index, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The query with raw Telex keys read as the syllables meant ("tamj trus" → tam tru).

    Kiosk keyboards type Telex, and people type it in the plain box too. Only in a query
    without diacritics, only words the catalogue does not know whose Telex reading it does,
    and only when every word of the result is a Vietnamese syllable (an English "bus pass"
    stays English).
    """
    if any(a != f for a, f in pairs):
        return pairs
    out = []
    changed = False
    for plain, folded in pairs:
        if folded not in idx.vocab_set and not folded.isdigit():
            known = [v for v in _telex_variants(folded) if v in idx.vocab_set and is_vietnamese_syllable(v)]
            if known:
                best = max(known, key=lambda v: (len(v), idx.df.get(v, 0)))
                out.append((best, best))
                changed = True
                continue
        out.append((plain, folded))
    if not changed or not all(is_vietnamese_syllable(f) or f.isdigit() for _, f in out):
        return pairs
    return out


# English function words that are also Vietnamese syllables folded ("a", "on", "the", "my" →
# "mi"): counted as English when telling an English request (ENGLISH_FILLER_DETECTION).
_EN_SYLLABLES = frozenset(w for w in _STOP_EN if is_vietnamese_syllable(w)) - _STOP_FOLDED_VI


def mostly_english(folded: list[str]) -> bool:
    """More than two words in three are not Vietnamese syllables (numbers aside); an English
    function word that is also a syllable ("the", "on") does not count as a syllable."""
    n_syllables = sum(1 for f in folded if is_vietnamese_syllable(f) and f not in _EN_SYLLABLES)
    return sum(1 for f in folded if not f.isdigit()) > 2 * n_syllables


def _query_pairs(qtokens: list[_QToken]) -> frozenset:
    """Adjacent word pairs of the query, over every reading of each word."""
    out: set[tuple[str, str]] = set()
    for a, b in zip(qtokens, qtokens[1:], strict=False):
        for x in a.variants:
            for y in b.variants:
                out.add((x, y))
    return frozenset(out)


class _QueryMode(NamedTuple):
    """How a query was typed: with diacritics, all Vietnamese syllables, mostly English."""

    accented: bool
    vietnamese: bool
    english: bool


class _Plan:
    """Per reading, what every phrase scored for it needs to know about the query's words, so
    that scoring one phrase visits only the query words that meet it (a long question has 40
    words; a phrase shares a few): which tokens can hit each word, each token's rank among the
    informative ones, the content and lexicon-keyed tokens, the query's total weight, and (per
    procedure, filled as phrases are scored) the informative tokens its context holds."""

    __slots__ = ("by_term", "rank", "n_informative", "content", "n_content", "keyed", "total", "terms",
                 "context_hits")

    def __init__(self, reading: list[_QToken]):
        self.by_term: dict[str, list[int]] = {}
        self.rank: list[int] = []  # rank among the informative tokens, -1 for the others
        self.total = 0.0
        n = 0
        for i, q in enumerate(reading):
            self.total += q.weight  # the same sum, in the same order, as a scan of the tokens
            for t in q.vset:
                self.by_term.setdefault(t, []).append(i)
            self.rank.append(n if q.informative else -1)
            n += q.informative
        self.n_informative = n
        self.content = frozenset(i for i, q in enumerate(reading) if _content_words([q]))
        self.n_content = len(self.content)
        self.keyed = frozenset(i for i, q in enumerate(reading) if q.keyed)
        self.terms = frozenset(t for q in reading if q.informative for t in q.vset)
        self.context_hits: dict[str, frozenset[int]] = {}

    def context_tokens(self, idx: _Index, reading: list[_QToken], key: str) -> frozenset[int]:
        """Informative tokens that share a word with the procedure's context (its names, field)."""
        got = self.context_hits.get(key)
        if got is None:
            common = self.terms & idx.context.get(key, frozenset())
            got = frozenset(i for t in common for i in self.by_term[t] if reading[i].informative)
            self.context_hits[key] = got
        return got


@dataclass(frozen=True)
class _ReadingContext:
    """What one reading of the query says, shared by every phrase scored for it."""

    qpairs: frozenset
    said: frozenset
    asked: frozenset
    content: list
    age: tuple[int, int] | None
    reading: int  # 0 = as typed; 1… = through the lexicon
    plan: _Plan | None = None  # built from the reading when None


class LexicalRanker:
    """The lexical stage over the catalogue in `conn`; reloads itself after a re-import. Thread-safe.

    `min_score`: below it a procedure is not offered (config `search.min_score`).
    """

    def __init__(self, conn, *, min_score: float = DEFAULT_MIN_SCORE, limit: int = 10):
        self.conn = getattr(conn, "conn", conn)
        self.min_score = min_score
        self.limit = limit
        self._lock = threading.RLock()
        self._index: _Index | None = None

    @classmethod
    def from_config(cls, conn, cfg):
        return cls(conn, min_score=cfg.search.min_score, limit=cfg.search.limit)

    # ---- loading

    def _current(self) -> _Index:
        version = _catalogue_version(self.conn)
        idx = self._index
        if idx is not None and idx.version == version:
            return idx
        if not _has_catalogue(self.conn):
            self._index = _Index.empty(version)
            return self._index
        built = self._index_version()
        if built != version + INDEX_FORMAT:
            log.info("search index is for catalogue %r, catalogue is %r: rebuilding", built, version)
            try:
                rebuild_index(self.conn)
            except sqlite3.Error as exc:  # e.g. a read-only connection: search what is there
                log.warning("cannot rebuild the search index (%s); using the one in the database", exc)
        try:
            self._index = _Index(self.conn, version)
        except sqlite3.Error as exc:
            log.error("no usable search index (%s): run `kiosk catalogue import`", exc)
            self._index = _Index.empty(version)
        return self._index

    def _index_version(self) -> str | None:
        try:
            row = self.conn.execute("SELECT value FROM search_meta WHERE key = 'catalogue_version'").fetchone()
        except sqlite3.OperationalError:
            return None
        return row[0] if row else None

    def reload(self) -> None:
        """Forget the in-memory index (the next search reloads it)."""
        with self._lock:
            self._index = None

    @property
    def vocabulary(self) -> list[str]:
        """Folded words of the index (for voice grammars)."""
        with self._lock:
            return list(self._current().vocab)

    # ---- searching

    def lexical(self, idx: _Index, raw: str, detail: bool = False, use_lexicon: bool = True,
                english_map: bool = True, english_variants: bool = True,
                age: tuple[int, int] | None = None, story_marks: frozenset = frozenset()) -> tuple[dict, list, list]:
        """Lexical evidence for `raw`: procedure key → (score, best phrase, detail), the
        query tokens, and the readings scored (as typed, then through the lexicon). Each procedure keeps its best phrase over the query as typed and its
        readings through the lexicon; the phrase score is `phrase_score` (one path). `age`: the
        age a long question's story speaks of, when `raw` (its request) says none (round 7).
        `story_marks`: variant marks (folded) the story of an English letter says of who is asking
        ("I am a foreigner": nước ngoài), said and asked as if the request said them (round 11)."""
        qtokens = self._query_tokens(idx, raw)
        readings = self._readings(idx, qtokens, english_map) if use_lexicon else []
        # numbers alone ("14", "9.999999") name no procedure: they only qualify words
        said = [" ".join(q.plain for q in r) for r in [qtokens, *readings]]
        if not any(q.informative and not q.folded.isdigit() for r in [qtokens, *readings] for q in r):
            return {}, qtokens, said
        age = query_age([q.folded for q in qtokens]) or age
        best: dict[str, tuple] = {}  # procedure key -> (score, phrase, context, raw numbers of its detail)
        for n, reading in enumerate([qtokens, *readings]):
            ctx = _ReadingContext(
                qpairs=_query_pairs(reading),
                said=frozenset(t for q in reading for t in q.variants)
                | (english_marks(reading) if english_variants else frozenset()) | story_marks,
                asked=_asked_markers(reading, english_variants) | story_marks,
                content=_content_words(reading),
                age=age,
                reading=n,
                plan=_Plan(reading),
            )
            # a reading can only raise phrases that hold one of its new words
            wanted = reading if n == 0 else [q for q in reading if q.synonym]
            for rowid in self._candidates(idx, wanted, CANDIDATE_LIMIT if n == 0 else READING_CANDIDATES):
                ph = idx.phrases.get(rowid)
                if ph is None:
                    continue
                s, raw = self._phrase_score(idx, reading, ph, ctx)
                if s > best.get(ph.key, (0.0,))[0]:
                    best[ph.key] = (s, ph, ctx, raw)
        # the detail of each procedure's best phrase only (what explain() shows); without `detail`
        # only its `factor` (for the model): the rounded numbers cost ~4 % of a search
        if detail:
            per_proc = {key: (s, ph, self._detail(ph, ctx, raw)) for key, (s, ph, ctx, raw) in best.items()}
        else:
            per_proc = {key: (s, ph, {"factor": raw[5]}) for key, (s, ph, ctx, raw) in best.items()}
        return per_proc, qtokens, said

    def phrase_score(self, idx: _Index, reading: list[_QToken], ph: _Phrase, ctx: _ReadingContext,
                     detail: dict | None = None) -> float:
        """The lexical score of one phrase for one reading, with the procedure-level factors
        (variant marks, action words, ages) applied here, so every caller sees the same number."""
        if ctx.plan is None:
            ctx = replace(ctx, plan=_Plan(reading))
        s, raw = self._phrase_score(idx, reading, ph, ctx)
        if detail is not None:
            detail.update(self._detail(ph, ctx, raw))
        return s

    @staticmethod
    def _detail(ph: _Phrase, ctx: _ReadingContext, raw: tuple) -> dict:
        recall, precision, order, contain, factors, factor = raw
        out: dict = {}
        if recall is not None:
            out.update(recall=round(recall, 3), precision=round(precision, 3), order=round(order, 3),
                       contain=round(contain, 3))
        out.update(factors=factors, factor=factor, reading=ctx.reading, phrase=ph.text, kind=ph.kind)
        return out

    def _phrase_score(self, idx: _Index, reading: list[_QToken], ph: _Phrase, ctx: _ReadingContext) -> tuple:
        """(score, raw numbers of its detail: recall, precision, order, contain, factors, factor)."""
        s, recall, precision, order, contain = self._score(idx, reading, ph, ctx.plan, ctx.qpairs)
        factors = {}
        markers = idx.proc_markers.get(ph.key)
        actions = idx.proc_actions.get(ph.key)
        # an alias the citizen said word for word names the variant ("mất thẻ bảo hiểm y tế" is the
        # re-issue, round 10) and the action ("cắt hộ khẩu") in their words; asked only when needed.
        # A mark narrowing who or where ("nước ngoài") is unsaid whatever other mark or alias was said.
        said_alias = (markers or actions) and ph.kind.startswith("alias") and ph.tokset <= ctx.said
        scope_unsaid = markers and any(g <= markers and g.isdisjoint(ctx.said) for g in VARIANT_SCOPES)
        if markers and (scope_unsaid or (markers.isdisjoint(ctx.said) and not said_alias)):
            factors["variant_unsaid"] = VARIANT_UNSAID  # a variant (nước ngoài, cấp lại…) not asked for
        if ctx.asked and not ctx.asked <= idx.proc_words.get(ph.key, ph.tokset):
            factors["variant_missing"] = VARIANT_MISSING  # the citizen asked for a variant this is not
        if actions and actions.isdisjoint(ctx.said) and not said_alias:
            factors["action_unsaid"] = ACTION_UNSAID  # reports, revokes, delegates: not what was asked
        ages = idx.ages.get(ph.key) if ctx.age is not None else None
        if ages:
            inside = ages[0] <= ctx.age[0] and ctx.age[1] <= ages[1]
            disjoint = ctx.age[1] < ages[0] or ages[1] < ctx.age[0]
            if inside or disjoint:
                factors["age"] = AGE_MATCH if inside else AGE_CONFLICT
        factor = math.prod(factors.values())
        s = min(1.0, s * factor)
        return s, (recall, precision, order, contain, factors, factor)

    def lexical_leader(self, idx: _Index, ranked: list[tuple[str, float]]) -> float:
        """The best score among procedures after the first that are not a variant of it
        (whose name does not hold every word of the first's): how clearly the first leads."""
        if not ranked:
            return 0.0
        top = idx.proc_words.get(ranked[0][0], frozenset())
        return next((s for k, s in ranked[1:] if not top <= idx.proc_words.get(k, frozenset())), 0.0)

    def code_hits(self, idx: _Index, raw: str) -> list[Hit]:
        """A procedure code typed by staff or read off a form (1.001193): its procedure."""
        code = _CODE.fullmatch(raw.strip())
        if not code:
            return []
        return [self._code_hit(p) for p in idx.procs.values() if p["code"] == code.group(0)]

    def _query_tokens(self, idx: _Index, raw: str) -> list[_QToken]:
        pairs = analyze(raw)[:MAX_QUERY_TOKENS]
        if not pairs:
            return []
        pairs = _telex_decoded(idx, pairs)
        accented = any(a != f for a, f in pairs)
        vietnamese = accented or all(is_vietnamese_syllable(f) or f.isdigit() for _, f in pairs)
        # an English word is not Vietnamese syllables run together ("reside" is no "re si de")
        english_words = not accented and len(pairs) > 2 and mostly_english([f for _, f in pairs])
        expanded = self._segmented(idx, pairs, bool(raw) and raw[-1].isalnum(), run_together=not english_words)
        # mostly English words, no diacritics: its words that look like Vietnamese syllables
        # are English too ("recipe for pho")
        english = not accented and mostly_english([f for _, f, _ in expanded])
        mode = _QueryMode(accented, vietnamese, english)
        out: list[_QToken] = []
        seen: set[str] = set()
        for i in range(len(expanded)):
            folded = expanded[i][1]
            out.append(self._token(idx, expanded, i, mode, repeat=folded in seen))  # a repeat counts once
            seen.add(folded)
        return _question_frame(out)

    @staticmethod
    def _segmented(idx: _Index, pairs: list[tuple[str, str]], typing_last: bool,
                   run_together: bool = True) -> list[tuple[str, str, bool]]:
        """(as typed, folded, still being typed) per word, words run together split."""
        # two words run together ("khaisinh") become two tokens before anything else
        expanded: list[tuple[str, str, bool]] = []
        for i, (plain, folded) in enumerate(pairs):
            last = i == len(pairs) - 1
            split = None
            # a word that is itself a Vietnamese syllable ("tuần") is one word the catalogue lacks,
            # not two run together ("tu an")
            if (
                run_together
                and folded not in idx.vocab_set
                and not is_vietnamese_syllable(folded)
                and not (last and typing_last and idx.prefix_expansions(folded, 1))
            ):
                split = idx.split_words(folded)
            if split:
                expanded.extend((part, part, False) for part in split)
            else:
                expanded.append((plain, folded, last and typing_last))
        return expanded

    @staticmethod
    def _is_filler(idx: _Index, expanded: list, j: int, accented: bool) -> bool:
        p, f, _ = expanded[j]
        return (p in _STOP_TYPED) if accented else (f in idx.stop_folded)

    def _is_stop(self, idx: _Index, expanded: list, i: int, mode: _QueryMode) -> bool:
        """A filler word, unless it is part of a procedure name here ("bản sao" is not "sao?")."""
        plain, folded, _ = expanded[i]
        accented, vietnamese, english = mode
        if accented:
            stop = plain in _STOP_TYPED
        else:
            stop = folded in idx.stop_folded or (not vietnamese and folded in _STOP_EN)
        if not stop or (english and folded in _STOP_EN):
            return stop
        prev = expanded[i - 1][1] if i else ""
        nxt = expanded[i + 1][1] if i + 1 < len(expanded) else ""
        pairs = idx.name_pairs
        if accented:  # compare as typed: tones count
            pairs = idx.name_pairs_typed
            prev = tone_key(expanded[i - 1][0]) if i else ""
            nxt = tone_key(expanded[i + 1][0]) if i + 1 < len(expanded) else ""
            folded = tone_key(plain)
        # (a pair of two filler words, "mà chưa", stays filler)
        in_name = ((prev, folded) in pairs and not self._is_filler(idx, expanded, i - 1, accented)) or (
            (folded, nxt) in pairs and not self._is_filler(idx, expanded, i + 1, accented)
        )
        return not in_name

    @staticmethod
    def _weighed(idx: _Index, plain: str, folded: str, typing: bool, known: bool, weight: float,
                 accented: bool, generic: bool) -> float:
        """The weight of a word: unknown words weigh much, kinship, numbers and everyday words little."""
        if not known:
            # a word the catalogue cannot explain (nor complete, if it is still being typed)
            weight = UNKNOWN_WEIGHT * idx.idf_max
        elif typing and folded not in idx.vocab_set and len(folded) < 3:
            weight *= 0.5  # two letters typed so far: weak evidence either way
        if (plain in _KINSHIP_TYPED) if accented else (folded in _KINSHIP_FOLDED):
            return weight * KINSHIP_WEIGHT
        if folded.isdigit() or generic:
            return min(GENERIC_MAX, weight * KINSHIP_WEIGHT)
        return weight

    @staticmethod
    def _corrected(idx: _Index, plain: str, folded: str, variants: dict, weight: float, mode: _QueryMode) -> float:
        """Spelling corrections of an unknown word added to `variants`; the word's weight."""
        fixes = idx.corrections(folded, plain if mode.accented else None)
        if mode.english and not is_vietnamese_syllable(folded):  # an English word's typo is English
            fixes = {t: c for t, c in fixes.items() if not is_vietnamese_syllable(t)}
        variants.update(fixes)
        return max(idx.idf.get(t, 0.0) for t in variants) if variants else weight

    @staticmethod
    def _completed(idx: _Index, folded: str, variants: dict, weight: float, vietnamese: bool) -> float:
        """Completions of the word being typed added to `variants` (common words are the likelier
        ones); the word's weight, which becomes their mean rarity when it is no word itself."""
        completions = idx.prefix_expansions(folded, vietnamese_only=vietnamese)
        top = max((idx.df[t] for t in completions), default=1)
        for t in completions:
            variants.setdefault(t, PREFIX * (0.6 + 0.4 * idx.df[t] / top))
        pref = [idx.idf[t] for t in completions]
        if pref and folded not in idx.vocab_set and not any(c > PREFIX for c in variants.values()):
            return sum(pref) / len(pref)
        return weight

    def _token(self, idx: _Index, expanded: list, i: int, mode: _QueryMode, repeat: bool) -> _QToken:
        """One query word: filler or not, its readings (exact, corrected, completed) and weight."""
        plain, folded, typing = expanded[i]
        accented, vietnamese, english = mode
        prev = expanded[i - 1][1] if i else ""
        nxt = expanded[i + 1][1] if i + 1 < len(expanded) else ""
        stop = self._is_stop(idx, expanded, i, mode)
        in_context = (prev, folded) in idx.pairs or (folded, nxt) in idx.pairs
        fixes = {} if in_context else idx.context_fixes(prev, plain if accented else None, folded, nxt, stop)
        if fixes:  # a real word, but the neighbours say another was meant ("tạm chú" → trú)
            stop = False
        variants: dict[str, float] = {}
        weight = idx.idf.get(folded, 0.0)
        if folded in idx.vocab_set:
            variants[folded] = EXACT
        variants.update(fixes)
        if fixes:
            weight = max(idx.idf.get(t, 0.0) for t in fixes)
        if stop:
            return _QToken(plain, folded, STOP_WEIGHT, variants, True, False, accented)
        if folded in KIN_SIDE and prev in KIN_SIDE_AFTER:
            # "bà ngoại", "ông nội", "em trai": which side or sex, not "nước ngoài" / "nội dung"
            return _QToken(plain, folded, STOP_WEIGHT, {}, True, False, accented)
        for t, c in idx.english_relatives(folded).items():
            variants.setdefault(t, c)
        if variants and not weight:  # reached only through its stem (married ~ marriage)
            weight = max(idx.idf.get(t, 0.0) for t in variants)
        generic = (plain in _GENERIC_TYPED) if accented else (folded in _GENERIC_FOLDED)
        if generic and ((prev, folded) in idx.name_pairs or (folded, nxt) in idx.name_pairs):
            generic = False  # part of a procedure name here, as for filler: "mai táng" is no "tomorrow"
        if not variants and not generic:  # an everyday word is no typo of a catalogue word
            weight = self._corrected(idx, plain, folded, variants, weight, mode)
        if typing and len(folded) >= 2:
            weight = self._completed(idx, folded, variants, weight, vietnamese)
        if typing and len(folded) < 2:
            # one letter of a word still being typed: only breaks ties ("khai s" → sinh)
            completions = idx.prefix_expansions(folded, limit=200, vietnamese_only=vietnamese)
            return _QToken(plain, folded, STOP_WEIGHT, dict.fromkeys(completions, PREFIX), False, False, accented)
        weight = self._weighed(idx, plain, folded, typing, bool(variants), weight, accented, generic)
        if english and not variants:  # the catalogue's English is its names only: an unknown word says less
            weight = min(weight, ENGLISH_UNKNOWN * idx.idf_max)
        if english and is_vietnamese_syllable(folded):
            variants = {t: c * (1.0 if t in idx.en_vocab else ENGLISH_FOLD) for t, c in variants.items()}
        full = weight
        if repeat:
            weight = 0.0
        tok = _QToken(plain, folded, weight, variants, False, bool(variants), accented)
        tok.repeat_weight = full if repeat else 0.0
        return tok

    @staticmethod
    def _lexicon_targets(lex: Lexicon, seq: list[_QToken], english: bool) -> tuple | None:
        """The readings of the lexicon key `seq` says, if it is one: with its diacritics as typed,
        or by its letters (folded) when typed without them — or when one of its words, typed with
        diacritics, has a tone its syllable cannot take (a misspelt tone: "bị mât" → mất)."""
        if seq[0].accented:
            targets = lex.typed.get(tuple(q.tone for q in seq))
            if targets or not any(impossible_tone(q.plain, q.folded) for q in seq):
                return targets
        key = tuple(q.folded for q in seq)
        if english and key in lex.vietnamese:
            return None
        return lex.folded.get(key)

    @staticmethod
    def _lexicon_spans(qtokens: list[_QToken], english_map: bool = True) -> list[tuple[int, int, tuple]]:
        """(start, end, targets) of every lexicon key the query says, longest first, whole words."""
        lex = lexicon(english_map)
        n = len(qtokens)
        # an English query reaches only English keys ("my" is not Mỹ)
        english = not qtokens[0].accented and mostly_english([q.folded for q in qtokens]) if qtokens else False
        spans: list[tuple[int, int, tuple]] = []
        i = 0
        while i < n:
            for size in range(min(LEXICON_MAX_WORDS, n - i), 0, -1):
                seq = qtokens[i : i + size]
                targets = LexicalRanker._lexicon_targets(lex, seq, english)
                if targets:
                    spans.append((i, i + size, targets))
                    for q in seq:
                        q.keyed = True  # said by the citizen, and the lexicon knows it matters
                    i += size
                    break
            else:
                i += 1
        return spans

    @staticmethod
    def _replaced(idx: _Index, span: list[_QToken], target) -> list[_QToken]:
        """The words of a lexicon target standing for `span` (or `span` itself if none is known)."""
        words = [(a, f) for a, f in target if f in idx.vocab_set]
        rarity = sum(idx.idf[f] for _, f in words)
        # the words replaced weigh at least as much as as many typical words of the
        # replacement: "qua đời" (qua is also an everyday word) weighs like "khai tử"
        span_weight = sum(q.weight for q in span)
        if words:
            span_weight = max(span_weight, max(len(span), len(words)) * rarity / len(words))
        if not words or span_weight <= 0 or rarity <= 0:
            return list(span)
        accented = span[0].accented
        return [
            _QToken(a, f, span_weight * idx.idf[f] / rarity, {f: SYNONYM}, False, True, accented, synonym=True)
            for a, f in words
        ]

    def _readings(self, idx: _Index, qtokens: list[_QToken], english_map: bool = True) -> list[list[_QToken]]:
        """The query with its everyday words replaced by administrative ones (the lexicon).

        Each lexicon key found (longest first, whole words) is replaced by one of its
        targets; the new words weigh as much as the words they replace, shared by rarity,
        and earn SYNONYM credit. At most MAX_READINGS readings, first targets preferred.
        """
        spans = self._lexicon_spans(qtokens, english_map)
        if not spans:
            return []
        # choices: one target per span; vary one span at a time from the all-first reading
        choices = [[0] * len(spans)]
        for k, (_, _, targets) in enumerate(spans):
            for j in range(1, len(targets)):
                c = [0] * len(spans)
                c[k] = j
                choices.append(c)
        out = []
        for choice in choices[:MAX_READINGS]:
            reading: list[_QToken] = []
            pos = 0
            for (start, end, targets), j in zip(spans, choice, strict=True):
                reading.extend(qtokens[pos:start])
                reading.extend(self._replaced(idx, qtokens[start:end], targets[j]))
                pos = end
            reading.extend(qtokens[pos:])
            # a word said twice counts once: if a replaced span held its first occurrence,
            # the next one counts again
            present: set[str] = set()
            for k, q in enumerate(reading):
                if q.repeat_weight and q.folded not in present:
                    reading[k] = replace(q, weight=q.repeat_weight, repeat_weight=0.0)
                present.add(q.folded)
            out.append(reading)
        return out

    def _candidates(self, idx: _Index, qtokens: list[_QToken], limit: int = CANDIDATE_LIMIT) -> list[int]:
        """Phrase rowids worth scoring: FTS5 MATCH on the query's rarest words, best BM25 first.

        Words are taken rarest first until their phrases exceed CANDIDATE_BUDGET: a phrase
        holding none of the rare words cannot score well (they carry most of the weight),
        and leaving common words out keeps BM25 from ranking half the catalogue.
        """
        informative = sorted(
            (q for q in qtokens if q.informative),
            key=lambda q: sum(idx.pdf.get(t, 0) for t in q.variants),
        )
        terms: set[str] = set()
        reach = 0
        for q in informative:
            cost = sum(idx.pdf.get(t, 0) for t in q.variants)
            if terms and reach + cost > CANDIDATE_BUDGET:
                break
            terms.update(q.variants)
            reach += cost
        words = sorted(t for t in terms if _FTS_WORD.fullmatch(t))
        if not words:
            return []
        ranked = idx.phrase_bm25.top(words, limit) if idx.phrase_bm25 is not None else None
        if ranked is not None:  # FTS5's own ranking, computed in memory (bm25.py)
            return [int(idx.phrase_bm25.rowids[i]) for i, _ in ranked]
        # each word quoted: nothing the citizen typed is ever FTS5 syntax
        expr = " OR ".join(f'"{t}"' for t in words)
        sql = "SELECT rowid FROM search_phrases WHERE search_phrases MATCH ? ORDER BY rank LIMIT ?"
        try:
            rows = self.conn.execute(sql, (f"folded : ({expr})", limit)).fetchall()
        except sqlite3.OperationalError as exc:  # must not happen: tokens are quoted words
            log.error("FTS query failed for %r: %s", expr, exc)
            return []
        return [r[0] for r in rows]

    @staticmethod
    def _coverage(
        idx: _Index, qtokens: list[_QToken], ph: _Phrase, plan: _Plan
    ) -> tuple[dict, list, float, float, float, frozenset]:
        """How the query's words meet a phrase: covered phrase words and their credit, (rank,
        phrase word) of each informative query word that hit one (in order), the weight
        explained, the query's total weight, the weight of lexicon words left unexplained, and
        the tokens that share a word with the phrase.

        Only the tokens that meet the phrase, its procedure's context, or are lexicon-keyed are
        visited, in query order: the others add exactly 0.0 to the sums (as a scan of every
        token did), so the numbers are the same.
        """
        ptoks = ph.tokset
        by_term = plan.by_term
        hit: set[int] = set()
        for t in ptoks:
            ix = by_term.get(t)
            if ix:
                hit.update(ix)
        near = plan.context_tokens(idx, qtokens, ph.key)
        covered: dict[str, float] = {}
        positions: list[tuple[int, str]] = []  # (informative rank, phrase token) of each hit
        got = keyed_miss = 0.0
        rank = plan.rank
        for i in sorted(hit.union(near, plan.keyed)):
            q = qtokens[i]
            credit = 0.0
            hit_token = None
            if i in hit:
                for t in q.vset & ptoks:  # a set: ties go to the first word in sorted order, so
                    c = q.variants[t]      # every process scores alike (PYTHONHASHSEED)
                    if c > credit or (c == credit and hit_token is not None and t < hit_token):
                        credit, hit_token = c, t
                # typed with diacritics: a different tone on the same letters is another word
                if q.accented and ph.accented and hit_token == q.folded and q.tone not in ph.typed_set:
                    credit *= ACCENT_MISMATCH
                if credit > covered.get(hit_token, 0.0):
                    covered[hit_token] = credit
                if hit_token is not None and rank[i] >= 0:
                    positions.append((rank[i], hit_token))
            elif i in near:
                credit = CONTEXT_CREDIT * q.best
            got += q.weight * credit
            if q.keyed:
                keyed_miss += q.weight * (1 - credit)
        return covered, positions, got, plan.total, keyed_miss, frozenset(hit)

    @staticmethod
    def _contained(idx: _Index, ph: _Phrase, qpairs: frozenset, covered: dict) -> float:
        """A long spoken question may hold a whole specific name or alias ("…làm cái giấy khai
        sinh cho thằng cu nhà em"): the heaviest run of phrase words said in the same order,
        word for word, as a containment score (0 when there is none)."""
        if len(covered) <= 1 or not ph.weight or qpairs.isdisjoint(ph.adjacent):
            return 0.0
        tw = idx.tw
        best = run = 0.0
        folded = ph.folded
        for i in range(len(folded) - 1):
            if (folded[i], folded[i + 1]) in qpairs:
                if not run:
                    run = tw.get(folded[i], 0.0) * covered.get(folded[i], 0.0)
                run += tw.get(folded[i + 1], 0.0) * covered.get(folded[i + 1], 0.0)
                best = max(best, run)
            else:
                run = 0.0
        if not best:
            return 0.0
        return CONTAIN_SHARE * min(1.0, best / ph.weight) * min(1.0, best / SPECIFIC_WEIGHT)

    def _score(self, idx: _Index, qtokens: list[_QToken], ph: _Phrase, plan: _Plan, qpairs: frozenset) -> tuple:
        """The lexical score of one phrase: recall × (recall share + precision + word order),
        lifted towards containment for a long question, lowered for a single shared word.
        Returns (score, recall, precision, order, contain)."""
        covered, positions, got, total, keyed_miss, hit = self._coverage(idx, qtokens, ph, plan)
        if total <= 0 or not covered:
            return 0.0, None, None, None, None
        # a lexicon word left unexplained (sửa, mất, hết hạn, sổ đỏ…) is no context: it counts in full
        recall = got / (got + UNEXPLAINED * (total - got - keyed_miss) + keyed_miss + EVIDENCE_PRIOR)
        # several content words said, only one of them in this phrase: a word shared by chance
        # (đổi tiền / thay đổi, mật khẩu / hộ khẩu) is weak evidence
        single = plan.n_content >= 2 and len(hit & plan.content) == 1
        tw = idx.tw
        markers = ph.markers
        pw = sum(tw.get(t, 0.0) * c * (MARKER_WEIGHT if t in markers else 1) for t, c in covered.items())
        precision = pw / ph.weight if ph.weight else 0.0
        if ph.kind in ("head", "head_en"):
            precision *= HEAD_PRECISION  # the full name says more than its head: it wins ties
        order = precision  # a single word: no order to check, judge by how much of the phrase it is
        if plan.n_informative > 1:
            # adjacent informative words that hit adjacent words of the phrase
            pairs = ph.pairs
            hits = sum(
                1 for (ra, a), (rb, b) in zip(positions, positions[1:], strict=False) if rb == ra + 1 and (a, b) in pairs
            )
            order = hits / (plan.n_informative - 1)
        score = recall * (RECALL_SHARE + PRECISION_SHARE * precision + ORDER_SHARE * order)
        contain = self._contained(idx, ph, qpairs, covered)
        if contain > score:  # halfway up: lifts long questions, keeps the ranking of plain ones
            score += CONTAIN_BONUS * (contain - score)
        if single:
            score *= SINGLE_MATCH
        return max(0.0, min(1.0, score)), recall, precision, order, contain

    def _hit(self, idx: _Index, key: str, score: float, ph: _Phrase) -> Hit:
        p = idx.procs.get(key)
        if p is None:
            return Hit(key, "", ph.text, ph.text, "", "", "", "", round(score, 4), ph.kind, ph.text)
        return Hit(
            key=key,
            code=p["code"] or "",
            name=p["name"],
            official_name=p["official_name"],
            name_en=p["name_en"] or "",
            field_id=p["field_id"],
            field=p["field_vi"] or "",
            field_en=p["field_en"] or "",
            score=round(score, 4),
            matched=ph.kind,
            matched_text=self._original_text(p, ph),
        )

    @staticmethod
    def _code_hit(p) -> Hit:
        return Hit(
            key=p["key"], code=p["code"], name=p["name"], official_name=p["official_name"],
            name_en=p["name_en"] or "", field_id=p["field_id"], field=p["field_vi"] or "",
            field_en=p["field_en"] or "", score=1.0, matched="code", matched_text=p["code"],
        )

    @staticmethod
    def _original_text(p, ph: _Phrase) -> str:
        if ph.kind in ("name", "head"):
            return p["name"]
        if ph.kind == "official":
            return p["official_name"]
        if ph.kind in ("en", "head_en"):
            return p["name_en"] or ""
        return ph.text

    def _suggest(self, idx: _Index, per_proc: dict, qtokens: list[_QToken], n: int = 3) -> list[FieldSuggestion]:
        """Nearest fields: those of the best sub-threshold candidates, then field-name matches."""
        scores: dict[str, float] = defaultdict(float)
        for key, (s, _) in per_proc.items():
            p = idx.procs.get(key)
            if p is not None:
                scores[p["field_id"]] = max(scores[p["field_id"]], s)
        words = {t for q in qtokens if q.informative for t in q.variants}
        if words:
            for fid, f in idx.fields.items():
                ftoks = {x for _, x in analyze(f"{f['name_vi']} {f['name_en']}")}
                share = len(words & ftoks) / len(words)
                if share:
                    scores[fid] = max(scores[fid], 0.5 * share)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], idx.fields[kv[0]]["sort"] if kv[0] in idx.fields else 0))
        # weak evidence (a stray word in a long name) says less than the catalogue's own order
        out = [
            FieldSuggestion(fid, idx.fields[fid]["name_vi"], idx.fields[fid]["name_en"], round(s, 4))
            for fid, s in ranked
            if fid in idx.fields and s >= SUGGEST_MIN
        ][:n]
        if len(out) < n:  # pad with the fields listed first in the catalogue (the most used)
            have = {f.id for f in out}
            for fid, f in idx.fields.items():
                if len(out) >= n:
                    break
                if fid not in have:
                    out.append(FieldSuggestion(fid, f["name_vi"], f["name_en"], 0.0))
        return out
