"""FTS5's `bm25()` computed in memory: the same rows, the same scores, without a query that
ranks every row holding a common word.

A search asks FTS5 twice for its best rows (`lexical`: the phrases of names and aliases,
best 150; `textindex`: the procedures' own text, best 40). FTS5 computes `bm25()` for every
row that holds any of the words, then sorts: at 5,000 procedures that was ~12 ms a query.
`MemoryBM25` loads a table's postings once per catalogue version (from FTS5 itself: the
`fts5vocab` instance table, the doc-size and averages records, so the words are cut exactly
as FTS5 cut them) and computes FTS5's formula (`fts5Bm25Function` in SQLite's fts5_aux.c:
k1 = 1.2, b = 0.75, IDF = log((N − n + 0.5) / (n + 0.5)) floored at 1e-6, a phrase's frequency
the sum of its instances' column weights, in instance order) with the same double-precision
operations in the same order: the scores are bit-identical, so the rows, their order and
their ties are FTS5's (ties go to the lower rowid, as FTS5's sorter leaves them).

Anything it cannot reproduce exactly (a word that is not one plain token, a table it cannot
read) makes `load` return None or `top` return None, and the caller asks FTS5 as before.
"""

from __future__ import annotations

import math
import re
import sqlite3

import numpy as np

K1, B = 1.2, 0.75  # fts5_aux.c: fts5Bm25Function
_PLAIN = re.compile(r"[a-z0-9]+")  # a term FTS5's unicode61 tokenizer keeps as one token, unchanged


def _varints(blob: bytes) -> list[int]:
    """SQLite varints (1-9 bytes, 7 bits a byte big-endian, the 9th byte whole) of a blob."""
    out = []
    i, n = 0, len(blob)
    while i < n:
        v = 0
        for k in range(9):
            b = blob[i]
            i += 1
            if k == 8:
                v = (v << 8) | b
                break
            v = (v << 7) | (b & 0x7F)
            if b < 0x80:
                break
        out.append(v)
    return out


class MemoryBM25:
    """One FTS5 table's bm25() for OR-queries of single words, in memory.

    `columns`: the table's indexed columns in order; `weights`: the bm25() column weights
    (missing = 1.0); `only`: the column a `col : (…)` filter restricts matching to, or None;
    `label`: an UNINDEXED column read with each row (`labels`, in row order).
    """

    def __init__(self, rowids: np.ndarray, doclen: np.ndarray, nrow: int, avgdl: float,
                 postings: dict[str, tuple[np.ndarray, np.ndarray]], labels: list | None = None):
        self.rowids = rowids
        self.labels = labels or []
        self.nrow = nrow
        # K1 * (1 - B + B * D / avgdl) per row, evaluated as fts5Bm25Function does
        self.norm = K1 * ((1 - B) + (B * doclen) / avgdl)
        self.postings = postings

    @classmethod
    def load(cls, conn, table: str, columns: tuple[str, ...], weights: dict[str, float] | None = None,
             only: str | None = None, label: str | None = None) -> MemoryBM25 | None:
        try:
            return cls._load(conn, table, columns, weights or {}, only, label)
        except (sqlite3.Error, ValueError, IndexError) as exc:
            import logging

            logging.getLogger(__name__).warning("in-memory bm25 of %s unavailable (%s): FTS5 ranks", table, exc)
            return None

    @classmethod
    def _load(cls, conn, table, columns, weights, only, label):
        if not all(re.fullmatch(r"\w+", c) for c in (table, *columns, label or "x")):
            raise ValueError(f"bad table or column name in {table!r}")
        avg = conn.execute(f"SELECT block FROM {table}_data WHERE id = 1").fetchone()
        if avg is None:
            raise ValueError("no averages record")
        head = _varints(avg[0])
        nrow, total = head[0], sum(head[1 : 1 + len(columns)])
        sizes = {r[0]: _varints(r[1]) for r in conn.execute(f"SELECT id, sz FROM {table}_docsize")}
        extra = f", {label}" if label else ""
        content = conn.execute(f"SELECT rowid, {', '.join(columns)}{extra} FROM {table} ORDER BY rowid").fetchall()
        if nrow != len(content) or len(sizes) != nrow:
            raise ValueError(f"averages say {nrow} rows, the table has {len(content)}")
        rowids = np.array([r[0] for r in content], dtype=np.int64)
        doclen = np.array([float(sum(sizes[r[0]])) for r in content], dtype=np.float64)
        labels = [r[-1] for r in content] if label else None
        if not nrow:
            return cls(rowids, doclen, 0, 1.0, {}, labels)
        matched = [i for i, c in enumerate(columns) if only is None or c == only]
        col_weight = [float(weights.get(c, 1.0)) for c in columns]
        sums: dict[tuple[float, int, int], float] = {}  # (f, column, count) -> f + w + w + … (count times)
        grouped: dict[str, tuple[list[int], list[float]]] = {}
        for pos, row in enumerate(content):
            size = sizes[row[0]]
            freq: dict[str, float] = {}
            for ci in matched:
                words = (row[ci + 1] or "").split()
                # FTS5 cut this column into as many tokens: the same words (checked: see below)
                if len(words) != size[ci]:
                    raise ValueError(f"row {row[0]}: {len(words)} words, FTS5 counted {size[ci]}")
                counts: dict[str, int] = {}
                for w in words:
                    counts[w] = counts.get(w, 0) + 1
                for w, n in counts.items():
                    f = freq.get(w, 0.0)
                    key = (f, ci, n)
                    g = sums.get(key)
                    if g is None:
                        g = f
                        for _ in range(n):
                            g += col_weight[ci]  # aFreq[ip] += w, instance by instance, columns in order
                        sums[key] = g
                    freq[w] = g
            for w, f in freq.items():
                docs, fs = grouped.setdefault(w, ([], []))
                docs.append(pos)
                fs.append(f)
        postings = {
            t: (np.array(d, dtype=np.int64), np.array(f, dtype=np.float64))
            for t, (d, f) in grouped.items()
            if _PLAIN.fullmatch(t)  # other words are FTS5's to read (`scores` returns None for them)
        }
        return cls(rowids, doclen, nrow, float(total) / float(nrow), postings, labels)

    def scores(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """(row positions, score) of every row holding a term; score = −bm25 (higher is better).
        None when a term is not a plain token (FTS5 must read it)."""
        if any(not _PLAIN.fullmatch(t) for t in terms):
            return None
        score = np.zeros(len(self.rowids), dtype=np.float64)
        hit = np.zeros(len(self.rowids), dtype=bool)
        k1p1 = K1 + 1.0
        for t in terms:  # phrase order: the order of the OR-expression
            p = self.postings.get(t)
            n_hit = 0 if p is None else len(p[0])
            if p is None:
                continue  # no row holds it: it adds 0.0 to every row
            idf = math.log((self.nrow - n_hit + 0.5) / (n_hit + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            docs, f = p
            score[docs] += idf * ((f * k1p1) / (f + self.norm[docs]))
            hit[docs] = True
        where = np.flatnonzero(hit)
        return where, score[where]

    def top(self, terms: list[str], limit: int) -> list[tuple[int, float]] | None:
        """The best `limit` rows for the OR of `terms`, as FTS5 orders them: (row position,
        −bm25), best first, ties by rowid (`rowids[pos]`, `labels[pos]`). None when FTS5 must
        answer (see `scores`)."""
        got = self.scores(terms)
        if got is None:
            return None
        where, s = got
        if limit <= 0 or not len(where):
            return []
        if len(where) > limit:
            cut = np.argpartition(-s, limit - 1)[:limit]
            # every row tying with the last one kept competes for its place by rowid
            edge = s[cut].min()
            cut = np.union1d(cut, np.flatnonzero(s == edge))
            where, s = where[cut], s[cut]
        order = np.lexsort((self.rowids[where], -s))[:limit]
        return [(int(where[i]), float(s[i])) for i in order]
