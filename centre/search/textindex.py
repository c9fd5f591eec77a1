"""Evidence from the whole procedure: a field-weighted BM25 over what the procedure says.

One FTS5 row a procedure (`search_text`), one column a part of it: name, official name,
aliases (with the English name), applicants, conditions, result, documents, field. Every
column holds folded syllables (`analysis`-style: no tone marks, đ → d), so typed and
unaccented queries read the same. FTS5's `bm25()` weighs each column with its own weight
(`weights.TEXT_COLUMN_WEIGHTS`). Queries reach `MATCH` only as quoted vocabulary words.

Also here: the passages embedded for the semantic ranker (`passages_of`) and the parts of a
procedure that answer a question about documents, fee, time, applicants or place
(`answer_passages`).
"""

from __future__ import annotations

import json
import math

from centre.search.weights import TEXT_BM25_HALF, TEXT_COLUMN_WEIGHTS, TEXT_MAX_TERMS

COLUMNS = ("name", "official", "aliases", "applicants", "conditions", "result", "documents", "field")

MIGRATION = f"""
CREATE VIRTUAL TABLE search_text USING fts5(
    {', '.join(COLUMNS)},
    procedure_key UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE VIRTUAL TABLE search_text_vocab USING fts5vocab(search_text, 'row');
CREATE TABLE search_vectors (
    procedure_key TEXT NOT NULL,
    kind TEXT NOT NULL,          -- vi | en | text: which passage of the procedure
    vec BLOB NOT NULL            -- float16 × 384, multilingual-e5-small passage vector
);
"""


def _documents(row) -> list[str]:
    try:
        docs = json.loads(row["documents_json"] or "[]")
    except (ValueError, TypeError):
        return []
    return [str(d.get("text", "")) for d in docs if isinstance(d, dict)]


def text_row(row, aliases: list[tuple[str, str]], field_name: str, fold_text) -> tuple:
    """The folded columns of one procedure (in COLUMNS order) and its key."""
    alias_text = " ; ".join([row["name_en"] or ""] + [a for a, _ in aliases])
    parts = (
        row["name"], row["official_name"], alias_text, row["applicants"], row["conditions"], row["result"],
        " ; ".join(_documents(row)), field_name,
    )
    return (*(fold_text(p or "") for p in parts), row["key"])


def passages_of(row, aliases: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(kind, text) passages of one procedure for the semantic ranker (short: embedding is slow)."""
    vi = [a for a, lang in aliases if lang != "en"][:8]
    en = [a for a, lang in aliases if lang == "en"][:6]
    out = [("vi", "; ".join([row["name"], *vi]))]
    if row["name_en"] or en:
        out.append(("en", "; ".join([row["name_en"] or "", *en]).strip("; ")))
    what = " ".join(x for x in ((row["applicants"] or "")[:160], (row["result"] or "")[:120]) if x)
    if what:
        out.append(("text", f"{row['name']}: {what}"))
    return out


def match_expression(terms: list[str]) -> str:
    """FTS5 query of vocabulary words: each quoted (never raw user text), OR-joined."""
    return " OR ".join('"' + t.replace('"', "") + '"' for t in terms[:TEXT_MAX_TERMS] if t)


def bm25_scores(conn, terms: list[str], limit: int, memory=None) -> dict[str, float]:
    """procedure key → saturated field-weighted BM25 in 0..1 (x / (x + TEXT_BM25_HALF)).

    `memory`: the index's `bm25.MemoryBM25` of this table (FTS5's ranking computed in memory,
    the same rows and scores); FTS5 answers when it is None or cannot.
    """
    expr = match_expression(terms)
    if not expr:
        return {}
    if memory is not None:
        ranked = memory.top([t.replace('"', "") for t in terms[:TEXT_MAX_TERMS] if t], limit)
        if ranked is not None:
            return {memory.labels[i]: x / (x + TEXT_BM25_HALF) for i, x in ranked if x > 0 and not math.isnan(x)}
    weights = ", ".join(str(TEXT_COLUMN_WEIGHTS[c]) for c in COLUMNS)
    rows = conn.execute(
        f"SELECT procedure_key, -bm25(search_text, {weights}) AS s FROM search_text "
        "WHERE search_text MATCH ? ORDER BY s DESC LIMIT ?",
        (expr, limit),
    ).fetchall()
    return {r[0]: r[1] / (r[1] + TEXT_BM25_HALF) for r in rows if r[1] > 0 and not math.isnan(r[1])}
