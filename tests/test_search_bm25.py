"""centre.search.bm25: FTS5's bm25() computed in memory gives FTS5's rows, order and scores.

The shipped catalogue is imported with the catalogue module's own import; every comparison is
against FTS5 itself on the same database (scores compared for equality, not closeness).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from search_helpers import shipped_catalogue_db

from centre.search import Searcher, folded_key, textindex
from centre.search.bm25 import MemoryBM25, _varints
from centre.search.weights import TEXT_COLUMN_WEIGHTS

DEV = Path(__file__).parent / "data" / "search" / "dev.yaml"
PHRASES_SQL = "SELECT rowid, -rank FROM search_phrases WHERE search_phrases MATCH ? ORDER BY rank LIMIT ?"
WEIGHTS = ", ".join(str(TEXT_COLUMN_WEIGHTS[c]) for c in textindex.COLUMNS)
TEXT_SQL = (
    f"SELECT rowid, -bm25(search_text, {WEIGHTS}) AS s FROM search_text "
    "WHERE search_text MATCH ? ORDER BY s DESC LIMIT ?"
)


@pytest.fixture(scope="module")
def conn(project_config):
    c = shipped_catalogue_db(project_config)
    yield c
    c.close()


@pytest.fixture(scope="module")
def engines(conn):
    phrases = MemoryBM25.load(conn, "search_phrases", ("folded", "plain"), only="folded")
    text = MemoryBM25.load(conn, "search_text", textindex.COLUMNS, TEXT_COLUMN_WEIGHTS, label="procedure_key")
    assert phrases is not None and text is not None
    return phrases, text


def queries() -> list[list[str]]:
    """The words of every dev query, plus common words (many rows, many ties)."""
    items = yaml.safe_load(DEV.read_text(encoding="utf-8"))
    items = items.get("queries", items) if isinstance(items, dict) else items
    out = [sorted(set(folded_key(it["q"]).split())) for it in items if folded_key(it["q"])]
    return out + [["dang", "ky"], ["cap"], ["giay", "chung", "nhan", "xac"], ["thu", "tuc", "cho"]]


def expression(words: list[str], column: str | None = None) -> str:
    expr = " OR ".join(f'"{w}"' for w in words)
    return f"{column} : ({expr})" if column else expr


def test_phrase_candidates_are_fts5s_own(conn, engines):
    phrases, _ = engines
    ties = 0
    for words in queries():
        for limit in (150, 40, 3):
            want = conn.execute(PHRASES_SQL, (expression(words, "folded"), limit)).fetchall()
            got = phrases.top(words, limit)
            assert got is not None
            assert [(int(phrases.rowids[i]), s) for i, s in got] == [(r[0], r[1]) for r in want], words
            ties += len({r[1] for r in want}) < len(want)
    assert ties > 50  # the comparison covered tied scores (the order FTS5 leaves them in)


def test_text_scores_are_fts5s_own(conn, engines):
    _, text = engines
    keys = dict(conn.execute("SELECT rowid, procedure_key FROM search_text").fetchall())
    for words in queries():
        for limit in (40, 5):
            want = conn.execute(TEXT_SQL, (expression(words), limit)).fetchall()
            got = text.top(words, limit)
            assert got is not None
            assert [(int(text.rowids[i]), s) for i, s in got] == [(r[0], r[1]) for r in want], words
            assert [text.labels[i] for i, _ in got] == [keys[r[0]] for r in want]
        assert textindex.bm25_scores(conn, words, 40, text) == textindex.bm25_scores(conn, words, 40)


def test_words_fts5_must_read_fall_back_to_it(conn, engines):
    phrases, text = engines
    assert phrases.top(["dang", "ký"], 10) is None  # not one plain folded token
    assert text.top(['"'], 10) is None
    assert phrases.top(["zzzzqqq"], 10) == []  # in no row: no row
    assert phrases.top(["dang"], 0) == []
    words = ['khai "sinh', "dang"]
    assert textindex.bm25_scores(conn, words, 40, text) == textindex.bm25_scores(conn, words, 40)


def test_the_searcher_ranks_in_memory(conn, project_config):
    s = Searcher.from_config(conn, project_config)
    assert s.search("đăng ký khai sinh").hits[0].code == "1.001193"
    idx = s._current()
    assert idx.phrase_bm25 is not None and idx.text_bm25 is not None
    assert idx.phrase_bm25.nrow == conn.execute("SELECT count(*) FROM search_phrases").fetchone()[0]


def test_a_broken_table_means_fts5_answers(conn):
    assert MemoryBM25.load(conn, "no_such_table", ("a",)) is None
    assert MemoryBM25.load(conn, "search_text; DROP", ("a",)) is None


def test_varints():
    assert _varints(bytes([0x05, 0x82, 0x5C, 0x81, 0x80, 0x00])) == [5, 348, 16384]
