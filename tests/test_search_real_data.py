"""Shape and labels of the real-question sets in tests/data/search_real/ (see its README.md).

Checks only the data: every entry is well formed, kinds agree with the text, no page is split
across train/dev/blind, and every labelled code or key exists in the imported catalogue.
It does not run the search.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from centre.catalogue import Catalogue, ensure_catalogue
from centre.db import connect

DATA = Path(__file__).parent / "data" / "search_real"
SPLITS = ("train", "dev", "blind", "blind2", "blind3")  # blind2, blind3: checked here, never printed by a bench
KINDS = {"long", "short", "unaccented", "english", "out_of_scope"}
VOICES = {"citizen", "site"}
KEYS = {"q", "expect", "out_of_scope", "refer_to", "kind", "voice", "source"}
VI_MARKS = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I)
MIN_TOTAL = 300


def _load(name: str) -> list[dict]:
    entries = yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(entries, list) and entries, f"{name}.yaml is empty"
    return entries


@pytest.fixture(scope="module")
def sets() -> dict[str, list[dict]]:
    return {name: _load(name) for name in SPLITS}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory, project_config):
    conn = connect(tmp_path_factory.mktemp("real") / "centre.db")
    ensure_catalogue(conn, project_config)
    yield Catalogue(conn)
    conn.close()


def _check_entry(entry: dict, where: str) -> None:
    assert set(entry) <= KEYS and {"q", "expect", "kind", "voice", "source"} <= set(entry), where
    assert isinstance(entry["q"], str) and len(entry["q"].strip()) >= 8, where
    assert entry["kind"] in KINDS and entry["voice"] in VOICES, where
    assert re.match(r"https?://", entry["source"]), where
    if entry.get("out_of_scope"):
        assert entry["expect"] is None and entry["kind"] == "out_of_scope", where
        assert isinstance(entry.get("refer_to"), str) and entry["refer_to"].strip(), where
        return
    assert entry["kind"] != "out_of_scope" and "refer_to" not in entry, where
    codes = entry["expect"]
    assert isinstance(codes, list) and 1 <= len(codes) <= 3 and len(set(codes)) == len(codes), where
    accented = bool(VI_MARKS.search(entry["q"]))
    if entry["kind"] in {"long", "short"}:
        assert accented, where
    if entry["kind"] == "unaccented":
        assert not accented, where
    if entry["kind"] == "english":  # a Vietnamese place name may keep its marks
        tokens = entry["q"].split()
        assert sum(bool(VI_MARKS.search(t)) for t in tokens) * 10 < len(tokens), where
    if entry["kind"] == "long":
        assert len(entry["q"].split()) >= 30, where


def test_entries_are_well_formed(sets):
    for name, entries in sets.items():
        for i, entry in enumerate(entries):
            _check_entry(entry, f"{name}.yaml entry {i}: {entry.get('q', '')[:60]!r}")


def test_no_question_or_page_in_two_splits(sets):
    pages: dict[str, str] = {}
    questions: Counter[str] = Counter()
    for name, entries in sets.items():
        for entry in entries:
            questions[" ".join(entry["q"].lower().split())] += 1
            page = entry["source"].split("#")[0].rstrip("/")
            assert pages.setdefault(page, name) == name, f"{page} is in {pages[page]} and {name}"
    assert [q for q, n in questions.items() if n > 1] == []


def test_size_and_mix(sets):
    entries = [e for split in sets.values() for e in split]
    assert len(entries) >= MIN_TOTAL
    kinds = Counter(e["kind"] for e in entries)
    assert set(kinds) <= KINDS  # no unaccented posts were found (see README)
    assert 0.15 <= kinds["out_of_scope"] / len(entries) <= 0.30
    assert kinds["long"] >= 0.2 * len(entries) and kinds["english"] >= 0.05 * len(entries)
    voices = Counter(e["voice"] for e in entries)
    assert voices["citizen"] >= 0.4 * len(entries)
    for name, split in sets.items():  # five splits of 100-134 questions each
        assert 0.12 <= len(split) / len(entries) <= 0.35, name
        assert any(e["kind"] == "out_of_scope" for e in split), name


def test_every_label_is_in_the_catalogue(sets, catalogue):
    missing = sorted(
        {code for split in sets.values() for e in split for code in (e["expect"] or []) if catalogue.get(code) is None}
    )
    assert missing == []
