"""Shape and hygiene of the second blind set of real citizens' questions
(tests/data/search_real/blind2.yaml). The questions are never printed: whoever tunes the search
must not read them; a failure names the entry by its index only."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from pathlib import Path

import pytest
import yaml

from centre.catalogue import Catalogue, ensure_catalogue

HERE = Path(__file__).resolve().parent / "data" / "search_real"
BLIND2 = HERE / "blind2.yaml"
OTHERS = ("train.yaml", "dev.yaml", "blind.yaml")
KINDS = {"long", "short", "unaccented", "english", "out_of_scope"}
VOICES = {"citizen", "site"}
KEYS = {"q", "expect", "out_of_scope", "refer_to", "kind", "voice", "source"}
LONG_WORDS = 30  # kind long = Vietnamese with diacritics, >= 30 words (README)


def _entries(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or []


def _norm(q: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", q)).strip().casefold()


def _page(url: str) -> str:
    url = re.sub(r"^https?://(www\.|m\.)?", "", url.strip())
    url = re.sub(r"[?&]showComment=\d+", "", url)
    return url.rstrip("/")


def _has_diacritics(text: str) -> bool:
    if "đ" in text.casefold():
        return True
    return any(unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", text))


@pytest.fixture(scope="module")
def blind2() -> list[dict]:
    return _entries(BLIND2)


@pytest.fixture(scope="module")
def others() -> list[dict]:
    return [e for name in OTHERS if (HERE / name).exists() for e in _entries(HERE / name)]


@pytest.fixture(scope="module")
def catalogue():
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.row_factory = sqlite3.Row
    ensure_catalogue(conn)  # the shipped data/procedures
    return Catalogue(conn)


def test_size_and_keys(blind2):
    assert len(blind2) >= 120
    for i, e in enumerate(blind2):
        assert isinstance(e, dict), i
        assert {"q", "expect", "kind", "voice", "source"} <= set(e), i
        assert set(e) <= KEYS, (i, sorted(set(e) - KEYS))
        has_text = isinstance(e["q"], str) and bool(e["q"].strip())
        assert has_text, i
        assert e["kind"] in KINDS, i
        assert e["voice"] in VOICES, i
        assert re.match(r"^https?://\S+$", e["source"]), i


def test_out_of_scope_entries_are_consistent(blind2):
    for i, e in enumerate(blind2):
        if e["expect"] is None:
            assert e.get("out_of_scope") is True, i
            assert isinstance(e.get("refer_to"), str) and e["refer_to"].strip(), i
            assert e["kind"] == "out_of_scope", i
        else:
            assert "out_of_scope" not in e and "refer_to" not in e, i
            assert e["kind"] != "out_of_scope", i
            codes = e["expect"]
            assert isinstance(codes, list) and 1 <= len(codes) <= 3, i
            assert all(isinstance(c, str) for c in codes), i  # quoted: 2.000635 is not a float
            assert len(set(codes)) == len(codes), i


def test_kinds_match_the_text(blind2):
    # booleans first, so that a failure shows the entry's index and never its text
    for i, e in enumerate(blind2):
        q, kind = e["q"], e["kind"]
        accented = _has_diacritics(q)
        if kind == "unaccented":
            assert accented is False, i
        elif kind in ("long", "short"):
            assert accented is True, i
            is_long = len(q.split()) >= LONG_WORDS
            assert is_long is (kind == "long"), i
        elif kind == "english":
            latin = re.search(r"[A-Za-z]{3}", q) is not None
            assert latin and not accented, i


def test_kind_mix(blind2):
    counts = {k: sum(e["kind"] == k for e in blind2) for k in KINDS}
    assert counts["long"] >= 40, counts
    assert counts["short"] >= 20, counts
    assert counts["english"] >= 8, counts
    assert counts["out_of_scope"] >= 20, counts
    assert counts["unaccented"] >= 10, counts


def test_every_code_is_in_the_shipped_catalogue(blind2, catalogue):
    missing = sorted({c for e in blind2 for c in (e["expect"] or []) if catalogue.get(c) is None})
    assert not missing


def test_no_duplicate_questions(blind2, others):
    mine = [_norm(e["q"]) for e in blind2]
    repeated = [i for i, q in enumerate(mine) if mine.index(q) != i]
    assert not repeated, repeated
    seen = {_norm(e["q"]) for e in others if isinstance(e, dict) and e.get("q")}
    clash = [i for i, q in enumerate(mine) if q in seen]
    assert not clash, clash


def test_no_page_of_the_other_sets_is_reused(blind2, others):
    used = {_page(e["source"]) for e in others if isinstance(e, dict) and e.get("source")}
    reused = [i for i, e in enumerate(blind2) if _page(e["source"]) in used]
    assert not reused, reused
