"""Data checks for the blind sets of short kiosk requests, tests/data/search_short/blind9.yaml, blind11.yaml, blind13.yaml, blind15.yaml, blind17.yaml.

The set is blind: it is measured once per round (aggregate figures only) and never read by whoever
tunes the search. So these checks never print a query: failures name counts, positions and codes only.
They check that the file loads, that every expected code is a procedure the kiosk imports
(data/procedures/national.jsonl codes that are not crawl duplicates, and manual.yaml keys/codes),
the minimum mix (size, in scope, distinct procedures, out of scope, each kind, wording that follows a real
source: a page or a public repository file, both named by an http(s) address),
the length of each request (1-15 words) and that no two requests are the same text once folded
(case, diacritics, punctuation), so an unaccented copy of another request does not count twice,
neither within a set nor across the sets.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SET_DIR = ROOT / "tests" / "data" / "search_short"
SET_FILES = [
    SET_DIR / "blind9.yaml",
    SET_DIR / "blind11.yaml",
    SET_DIR / "blind13.yaml",
    SET_DIR / "blind15.yaml",
    SET_DIR / "blind17.yaml",
]
PROCEDURES = ROOT / "data" / "procedures"

KINDS = {"short", "colloquial", "no_diacritics", "typo", "english", "spoken", "out_of_scope"}
MIN_TOTAL = 160
MIN_IN_SCOPE = 110
MIN_DISTINCT_PROCEDURES = 60
MIN_OUT_OF_SCOPE = 45
MIN_PAGE_SHARE = 0.25


def _procedure_ids() -> set[str]:
    """Identifiers a request may expect: imported national codes and manual keys (and manual codes)."""
    ids: set[str] = set()
    for line in (PROCEDURES / "national.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if not rec.get("crawl_duplicate_of"):  # crawl duplicates are not imported
            ids.add(rec["code"])
    manual = yaml.safe_load((PROCEDURES / "manual.yaml").read_text(encoding="utf-8")) or {}
    for rec in manual.get("procedures", []):
        if rec.get("key"):
            ids.add(rec["key"])
        if rec.get("code"):
            ids.add(rec["code"])
    return ids


def _fold(text: str) -> str:
    """Lower case, no diacritics (đ -> d), letters and digits only, single spaces."""
    text = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


def _load(path: Path) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("queries"), list), (
        f"{path.name}: expected a mapping with a 'queries' list"
    )
    return data["queries"]


@pytest.fixture(scope="module", params=SET_FILES, ids=lambda p: p.stem)
def items(request) -> list[dict]:
    return _load(request.param)


def test_entries_are_well_formed(items):
    bad = []
    for i, it in enumerate(items):
        ok = (
            isinstance(it, dict)
            and set(it) == {"q", "expect", "kind", "source"}
            and isinstance(it["q"], str)
            and it["q"].strip() == it["q"]
            and 1 <= len(it["q"].split()) <= 15
            and it["kind"] in KINDS
            and isinstance(it["source"], str)
            and (it["source"] == "written" or it["source"].startswith(("http://", "https://")))
            and (it["expect"] is None or (isinstance(it["expect"], list) and it["expect"]))
        )
        if not ok:
            bad.append(i)
    assert not bad, f"malformed entries at positions {bad}"


def test_kind_matches_scope(items):
    bad = [i for i, it in enumerate(items) if (it["expect"] is None) != (it["kind"] == "out_of_scope")]
    assert not bad, f"kind out_of_scope must go with expect: null and only with it; positions {bad}"


def test_every_code_is_an_imported_procedure(items):
    known = _procedure_ids()
    assert len(known) > 300
    unknown = sorted({c for it in items for c in (it["expect"] or []) if str(c) not in known})
    assert not unknown, f"unknown procedure codes: {unknown}"
    repeated = [
        i for i, it in enumerate(items) if it["expect"] and len(set(it["expect"])) != len(it["expect"])
    ]
    assert not repeated, f"a code listed twice in one entry at positions {repeated}"


def test_minimum_mix(items):
    in_scope = [it for it in items if it["expect"]]
    out = [it for it in items if it["expect"] is None]
    distinct = {c for it in in_scope for c in it["expect"]}
    assert len(items) >= MIN_TOTAL, f"{len(items)} requests, want {MIN_TOTAL}"
    assert len(in_scope) >= MIN_IN_SCOPE, f"{len(in_scope)} in scope, want {MIN_IN_SCOPE}"
    assert len(distinct) >= MIN_DISTINCT_PROCEDURES, (
        f"{len(distinct)} procedures, want {MIN_DISTINCT_PROCEDURES}"
    )
    assert len(out) >= MIN_OUT_OF_SCOPE, f"{len(out)} out of scope, want {MIN_OUT_OF_SCOPE}"
    kinds = Counter(it["kind"] for it in items)
    missing = sorted(KINDS - set(kinds))
    assert not missing, f"kinds missing: {missing}"
    pages = sum(1 for it in items if it["source"] != "written")
    assert pages >= MIN_PAGE_SHARE * len(items), f"{pages} of {len(items)} from real sources, want a quarter"


def test_no_duplicate_requests(items):
    seen: dict[str, int] = {}
    dups = []
    for i, it in enumerate(items):
        key = _fold(it["q"])
        if key in seen:
            dups.append((seen[key], i))
        seen.setdefault(key, i)
    assert not dups, f"duplicate requests (after folding) at positions {dups}"


def test_sets_do_not_repeat_each_other():
    first: dict[str, tuple[str, int]] = {}
    repeats = []
    for path in SET_FILES:
        for i, it in enumerate(_load(path)):
            key = _fold(it["q"])
            if key in first and first[key][0] != path.stem:
                repeats.append((first[key], (path.stem, i)))
            first.setdefault(key, (path.stem, i))
    assert not repeats, f"the same request (after folding) in two sets at positions {repeats}"
