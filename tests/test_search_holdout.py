"""Held-out accuracy of the procedure search (issue 3, "Measured, and how").

tests/data/search_holdout/holdout.yaml was written from the procedure list alone, without
looking at the search code, its aliases or its development set, to estimate how the search
does on citizen queries nobody tuned it for. The catalogue is imported fresh into a
temporary database (`ensure_catalogue`) and searched with the shipped settings
(`Searcher.from_config`).

Figures: top-1 / top-3 (the first / any of the first three results is one of `expect`)
over in-scope queries; out-of-scope rejection (no result at all) over `expect: null` ones.
Floors are the measured figures minus a small margin; an issue target not yet reached is
its own test, marked xfail (strict=False) with the measured value. Run with `-s` to see
per-kind figures and every failing query.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from centre.catalogue import ensure_catalogue
from centre.db import connect
from centre.search import Searcher

HOLDOUT = Path(__file__).resolve().parent / "data" / "search_holdout" / "holdout.yaml"
KINDS = {"formal", "colloquial", "nodiac", "typo", "spoken", "english", "oos"}

# Measured 2026-11-25 12:20 UTC on commit d9178e8 (min_score 0.42): top-1 83.3 %, top-3 87.6 %,
# out-of-scope 81.2 %. Re-measured 2026-11-25 12:45 UTC after the method changes of
# docs/search.md (lexicon readings, half-weight context words, min_score 0.46; no query of
# this file was added anywhere): top-1 93.5 % (174/186), top-3 96.8 % (180/186),
# out-of-scope 90.6 % (29/32). Re-measured 2026-11-25 13:23 UTC after the spoken-question,
# Telex and unasked-action rules (docs/search.md; no query of this file was added anywhere):
# top-1 94.1 % (175/186), top-3 96.8 % (180/186), out-of-scope 93.8 % (30/32).
# Floors at measured minus a margin; the issue's targets are 92 / 98 / 85 %: top-3 is still
# below its target.
TOP1_FLOOR = 0.92
TOP3_FLOOR = 0.95
OOS_FLOOR = 0.90
TARGET_TOP3 = 0.98
TOP3_MEASURED = "top-3 96.8 % (180/186) on 2026-11-25; 98.4 % since round 5 (2026-12-07, English passages)"


@dataclass
class Outcome:
    """Figures of one run over the held-out set."""

    in_scope: int = 0
    top1: int = 0
    top3: int = 0
    oos: int = 0
    rejected: int = 0
    by_kind: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # kind -> [ok, n]
    failures: list = field(default_factory=list)

    def rate(self, name: str) -> float:
        if name == "oos":
            return self.rejected / self.oos
        return getattr(self, name) / self.in_scope

    def report(self) -> str:
        lines = [
            f"top-1 {self.top1}/{self.in_scope} = {self.rate('top1'):.1%}, "
            f"top-3 {self.top3}/{self.in_scope} = {self.rate('top3'):.1%}, "
            f"out-of-scope rejected {self.rejected}/{self.oos} = {self.rate('oos'):.1%}",
            "by kind (top-1, or rejection for oos): "
            + ", ".join(f"{k} {ok}/{n}" for k, (ok, n) in sorted(self.by_kind.items())),
        ]
        lines += [f"  FAIL {f}" for f in self.failures]
        return "\n".join(lines)


def load_items() -> list[dict]:
    items = yaml.safe_load(HOLDOUT.read_text(encoding="utf-8"))
    assert isinstance(items, list), f"{HOLDOUT}: expected a list of {{q, expect, kind}}"
    return items


@pytest.fixture(scope="module")
def catalogue_conn(tmp_path_factory, project_config):
    conn = connect(tmp_path_factory.mktemp("holdout") / "centre.db")
    ensure_catalogue(conn, project_config)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def outcome(catalogue_conn, project_config) -> Outcome:
    searcher = Searcher.from_config(catalogue_conn, project_config)
    out = Outcome()
    for item in load_items():
        q, expect, kind = item["q"], item["expect"], item["kind"]
        hits = searcher.search(q, limit=3).hits
        first = (
            f"{hits[0].code or hits[0].key} {hits[0].name[:60]!r} ({hits[0].score:.2f})"
            if hits
            else "no result"
        )
        if expect is None:
            out.oos += 1
            ok = not hits
            out.rejected += ok
            if not ok:
                out.failures.append(f"[oos] {q!r} -> {first}")
        else:
            wanted = set(expect)
            ids = [{h.key, h.code} for h in hits]
            ok = bool(ids) and bool(ids[0] & wanted)
            in3 = any(i & wanted for i in ids)
            out.in_scope += 1
            out.top1 += ok
            out.top3 += in3
            if not ok:
                where = "in top-3" if in3 else "not in top-3"
                out.failures.append(f"[{kind}] {q!r} -> {first}; expected {expect} ({where})")
        out.by_kind[kind][0] += ok
        out.by_kind[kind][1] += 1
    print("\n" + out.report())
    return out


def test_holdout_file_is_well_formed():
    items = load_items()
    assert len(items) >= 180
    seen = set()
    for i, item in enumerate(items):
        assert set(item) == {"q", "expect", "kind"}, f"item {i}: keys {sorted(item)}"
        assert isinstance(item["q"], str) and item["q"].strip(), f"item {i}: empty q"
        assert item["kind"] in KINDS, f"item {i}: kind {item['kind']!r}"
        assert (item["expect"] is None) == (item["kind"] == "oos"), f"item {i}: oos iff expect is null"
        if item["expect"] is not None:
            assert isinstance(item["expect"], list) and item["expect"], (
                f"item {i}: expect must be a non-empty list"
            )
        assert item["q"] not in seen, f"item {i}: duplicate query {item['q']!r}"
        seen.add(item["q"])
    counts = Counter(item["kind"] for item in items)
    for kind in KINDS:  # roughly the proportions of real walk-in queries; none left out
        assert counts[kind] >= 0.08 * len(items), f"too few {kind} queries: {counts[kind]}"


def test_every_expected_procedure_is_in_the_catalogue(catalogue_conn):
    known = set()
    for key, code in catalogue_conn.execute("SELECT key, code FROM procedures"):
        known.add(key)
        if code:
            known.add(code)
    missing = sorted(
        {(c, item["q"]) for item in load_items() for c in (item["expect"] or []) if c not in known}
    )
    assert not missing, f"expected procedures missing from the catalogue: {missing}"


def test_holdout_top1(outcome):
    assert outcome.rate("top1") >= TOP1_FLOOR, outcome.report()


def test_holdout_top3(outcome):
    assert outcome.rate("top3") >= TOP3_FLOOR, outcome.report()


def test_holdout_top3_reaches_the_issue_target(outcome):  # TOP3_MEASURED: it was an xfail until round 5
    assert outcome.rate("top3") >= TARGET_TOP3, outcome.report()


def test_holdout_out_of_scope_rejected(outcome):
    assert outcome.rate("oos") >= OOS_FLOOR, outcome.report()
