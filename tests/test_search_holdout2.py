"""Held-out set 2 for the procedure search: issue 3's targets on queries written blind.

tests/data/search_holdout2/queries.yaml was written from the procedure list only (the portal
crawl and data/procedures/manual.yaml), without looking at the search, its aliases or the other
query sets. The shipped catalogue is imported into a temporary database and searched with the
shipped config. Measured:

- top-1: the first hit's code or key is one of `expect` (in-scope queries);
- top-3: one of the first three hits is;
- out-of-scope rejection: a query with `expect: null` gets no hits at all.

Run with `-s` to see the figures per kind and every failing query.

History: on 751505e (13:06 UTC 2026-11-25) 90.5 / 95.0 / 83.0 % (xfail). Its failures were then
read to find kinds of weakness (long spoken questions, raw Telex, unasked actions, variants),
fixed by general rules and lexicon entries checked on four other sets; measured 13:25 UTC the
same day: top-1 94.6 % (229/242), top-3 98.3 % (238/242), out-of-scope rejected 88.7 % (47/53).
Since that round this set is no longer blind: a fresh blind set is the real check.

Issue 12 (2026-12-06) replaced those rules by one ranking model (centre/search/); this set is
one of its dev sets (bench/search_ablation.py): 95.0 / 97.9 / 96.2 %; after round 2 (quality on
real citizens' questions, 2026-12-06 16:47 UTC) 95.9 / 97.9 / 96.2 %.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from centre.catalogue_import import import_catalogue
from centre.config import load_config
from centre.db import connect
from centre.search import Searcher

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "tests" / "data" / "search_holdout2" / "queries.yaml"
KINDS = {"formal", "colloquial", "no_diacritics", "typo", "spoken", "english", "out_of_scope"}

# Issue 3, "Measured, and how". Never lower these.
TARGET_TOP1 = 0.92
TARGET_TOP3 = 0.98
TARGET_OOS = 0.85


@dataclass(frozen=True)
class Outcome:
    """One query and what the search answered (codes or keys of the first hits)."""

    q: str
    kind: str
    expect: tuple[str, ...] | None
    got: tuple[str, ...]

    @property
    def in_scope(self) -> bool:
        return self.expect is not None

    def _hit(self, n: int) -> bool:
        return any(g in self.expect for g in self.got[:n])

    @property
    def top1(self) -> bool:
        return self.in_scope and self._hit(1)

    @property
    def top3(self) -> bool:
        return self.in_scope and self._hit(3)

    @property
    def rejected(self) -> bool:
        return not self.got


def _load_queries() -> list[dict]:
    return yaml.safe_load(QUERIES.read_text(encoding="utf-8"))


def _ident(hit) -> str:
    """A hit's national code, or its key for hand-added procedures without one."""
    return hit.code or hit.key


def _rate(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def _report(outcomes: list[Outcome], names: dict[str, str]) -> str:
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.kind].append(o)
    inscope = [o for o in outcomes if o.in_scope]
    oos = [o for o in outcomes if not o.in_scope]
    lines = [
        f"held-out set 2: {len(outcomes)} queries ({len(inscope)} in scope, {len(oos)} out of scope)",
        f"  top-1 {_rate([o.top1 for o in inscope]):.1%}   top-3 {_rate([o.top3 for o in inscope]):.1%}"
        f"   out-of-scope rejected {_rate([o.rejected for o in oos]):.1%}",
    ]
    for kind in sorted(by_kind):
        group = by_kind[kind]
        if kind == "out_of_scope":
            lines.append(f"  {kind:14s} n={len(group):3d}  rejected {_rate([o.rejected for o in group]):.1%}")
        else:
            lines.append(
                f"  {kind:14s} n={len(group):3d}  top-1 {_rate([o.top1 for o in group]):.1%}"
                f"  top-3 {_rate([o.top3 for o in group]):.1%}"
            )
    lines.append("failing queries (first hit shown):")
    for o in outcomes:
        if o.in_scope and o.top1:
            continue
        if not o.in_scope and o.rejected:
            continue
        first = o.got[0] if o.got else "(no match)"
        label = names.get(first, "")[:70]
        if o.in_scope:
            tag = "top-3 only" if o.top3 else "MISS"
            lines.append(f"  [{o.kind}] {tag}: {o.q!r} expect {list(o.expect)} got {first} {label}")
        else:
            lines.append(f"  [{o.kind}] NOT REJECTED: {o.q!r} got {first} {label}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def catalogue_db(tmp_path_factory):
    """The shipped catalogue imported into a temporary database."""
    conn = connect(tmp_path_factory.mktemp("holdout2") / "centre.db")
    import_catalogue(conn, ROOT / "data" / "procedures")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def outcomes(catalogue_db) -> list[Outcome]:
    """Every query searched once; prints the figures and failures (visible with -s)."""
    searcher = Searcher.from_config(catalogue_db, load_config())
    result = []
    for row in _load_queries():
        hits = searcher.search(row["q"]).hits
        expect = tuple(row["expect"]) if row["expect"] is not None else None
        result.append(Outcome(row["q"], row["kind"], expect, tuple(_ident(h) for h in hits[:3])))
    names = {
        (r["code"] or r["key"]): r["name"]
        for r in catalogue_db.execute("SELECT key, code, name FROM procedures")
    }
    print("\n" + _report(result, names))
    return result


def test_query_file_is_well_formed_and_every_expected_procedure_exists(catalogue_db):
    rows = _load_queries()
    assert len(rows) >= 200
    known = set()
    for r in catalogue_db.execute("SELECT key, code FROM procedures"):
        known.add(r["key"])
        if r["code"]:
            known.add(r["code"])
    seen = set()
    for row in rows:
        assert set(row) == {"q", "expect", "kind"}, row
        assert row["kind"] in KINDS, row
        assert row["q"].strip() and row["q"] not in seen, row
        seen.add(row["q"])
        if row["kind"] == "out_of_scope":
            assert row["expect"] is None, row
        else:
            assert row["expect"], row
            missing = [e for e in row["expect"] if e not in known]
            assert not missing, f"{row['q']!r}: not in the catalogue: {missing}"
    kinds = {row["kind"] for row in rows}
    assert kinds == KINDS


def test_top1_accuracy_meets_target(outcomes):
    inscope = [o for o in outcomes if o.in_scope]
    assert _rate([o.top1 for o in inscope]) >= TARGET_TOP1


TOP3_FLOOR = 0.97  # issue 12's model measured 97.9 % (237/242) on 2026-12-06: one query below the target


def test_top3_accuracy_does_not_regress(outcomes):
    inscope = [o for o in outcomes if o.in_scope]
    assert _rate([o.top3 for o in inscope]) >= TOP3_FLOOR


def test_top3_accuracy_meets_target(outcomes):
    inscope = [o for o in outcomes if o.in_scope]
    assert _rate([o.top3 for o in inscope]) >= TARGET_TOP3


def test_out_of_scope_queries_are_rejected(outcomes):
    oos = [o for o in outcomes if not o.in_scope]
    assert _rate([o.rejected for o in oos]) >= TARGET_OOS
