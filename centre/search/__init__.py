"""Finding a procedure from a citizen's own words (typed, spoken, English, or a long question).

The package is one ranking model (docs/search.md):

- `analysis`: the request inside a long question, and what a question asks about;
- `lexical`: syllables, folding, Telex, corrections, lexicon readings; the phrase index of
  names and aliases and its score;
- `textindex`: the field-weighted BM25 index of what each procedure says;
- `semantic`: multilingual-e5-small passage and query vectors (a second opinion);
- `model`: features → one score → answer, or "no match" with a referral (`referral`);
- `weights`: every weight, named; `words.yaml`, `lexicon.yaml`, `data/referrals.yaml`: word knowledge.
"""

from centre.search.analysis import Focus, asked_parts, focus
from centre.search.lexical import (
    FieldSuggestion,
    Hit,
    Lexicon,
    SearchError,
    SearchResult,
    analyze,
    ensure_tables,
    folded_key,
    has_diacritics,
    head_of,
    is_vietnamese_syllable,
    lexicon,
    rebuild_index,
    tone_key,
)
from centre.search.model import STAGES, Ranking, Scored, Searcher, combine, search, shared_searcher
from centre.search.referral import Referral, referral_for
from centre.search.weights import DEFAULT_MIN_SCORE, MAX_QUERY_CHARS

__all__ = [
    "DEFAULT_MIN_SCORE", "MAX_QUERY_CHARS", "STAGES", "FieldSuggestion", "Focus", "Hit", "Lexicon", "Ranking",
    "Referral", "Scored", "SearchError", "SearchResult", "Searcher", "analyze", "asked_parts", "combine",
    "ensure_tables", "focus", "folded_key", "has_diacritics", "head_of", "is_vietnamese_syllable", "lexicon",
    "rebuild_index", "referral_for", "search", "shared_searcher", "tone_key",
]
