"""data/procedures/enrichment.yaml: English names and citizens' aliases for the national catalogue.

The file is hand-written; these tests keep it well-formed and in step with the portal data
(data/procedures/national.jsonl, committed by the catalogue import). The coverage tests skip
only while national.jsonl does not exist yet.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from centre.config import load_config
from centre.text import fold

ROOT = Path(__file__).resolve().parent.parent
ENRICHMENT = ROOT / "data" / "procedures" / "enrichment.yaml"
NATIONAL = ROOT / "data" / "procedures" / "national.jsonl"
CODE = re.compile(r"^\d\.\d{6}$")


@pytest.fixture(scope="module")
def text() -> str:
    return ENRICHMENT.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def entries(text) -> dict:
    data = yaml.safe_load(text)
    assert isinstance(data, dict), "enrichment.yaml must be a mapping keyed by code"
    return data


@pytest.fixture(scope="module")
def national() -> list[dict]:
    """Portal procedures (those with a national code) in file order."""
    if not NATIONAL.exists():
        pytest.skip("data/procedures/national.jsonl not committed yet (catalogue import)")
    rows = []
    with NATIONAL.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if row.get("code"):
                    rows.append(row)
    assert rows, "national.jsonl holds no procedure with a code"
    return rows


def _name_vi(row: dict) -> str:
    return " ".join(str(row.get("official_name") or row.get("name_vi") or row.get("name") or "").split())


def test_keys_are_quoted_national_codes(text, entries):
    for code in entries:
        assert isinstance(code, str) and CODE.match(code), f"bad key {code!r}"
    # Quoted in the source, so YAML never reads 1.001193 as a float.
    keys = re.findall(r"^([^#\s][^:\n]*):\s*$", text, flags=re.M)
    assert len(keys) == len(entries)
    assert all(k.startswith('"') and k.endswith('"') for k in keys), [k for k in keys if k[0] != '"'][:5]


def test_every_entry_has_a_comment_line_above_it(text):
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r'^"\d\.\d{6}":', line):
            assert lines[i - 1].startswith("# "), f"no Vietnamese name comment above {line}"


def test_entry_shape(entries):
    services = {s.series for s in load_config(ROOT / "config.yaml").services}
    for code, entry in entries.items():
        assert isinstance(entry, dict), code
        assert set(entry) <= {"name_en", "aliases", "service"}, (code, set(entry))
        name = entry.get("name_en")
        assert isinstance(name, str) and name.strip() == name and name, code
        assert not name.lower().startswith(("procedure", "thủ tục")), code
        aliases = entry.get("aliases")
        # at most 8 phrasings a language, so an entry stays reviewable (round 12 gave the procedures
        # foreigners use up to 12 English ones: each won on a dev set, docs/search.md)
        assert isinstance(aliases, list) and len(aliases) >= 2, (code, aliases)
        assert sum(not a.isascii() for a in aliases) <= 8, (code, aliases)
        assert sum(a.isascii() for a in aliases) <= 12, (code, aliases)
        for alias in aliases:
            assert isinstance(alias, str) and alias.strip() == alias and fold(alias), (code, alias)
            assert unicodedata.normalize("NFC", alias) == alias, f"{code}: {alias!r} is not NFC"
        folded = [fold(a) for a in aliases]
        assert len(set(folded)) == len(folded), f"{code}: an alias repeats (after folding)"
        # Vietnamese phrasings (with diacritics) and at least one English one.
        assert any(not a.isascii() for a in aliases), f"{code}: no Vietnamese alias"
        assert any(a.isascii() for a in aliases), f"{code}: no English alias"
        if "service" in entry:
            assert entry["service"] in services, (code, entry["service"])


def test_no_alias_points_at_two_procedures(entries):
    """An alias names one procedure. The only exception: codes that the portal crawl gave the very
    same page (identical English name here, identical Vietnamese name in the data)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for code, entry in entries.items():
        for alias in entry["aliases"]:
            owners[fold(alias)].add(code)
    shared = {a: codes for a, codes in owners.items() if len(codes) > 1}
    bad = {a: sorted(c) for a, c in shared.items() if len({entries[x]["name_en"] for x in c}) > 1}
    assert not bad, f"aliases shared by different procedures: {bad}"


def test_english_names_are_distinct_except_crawl_duplicates(entries, national):
    by_code = {r["code"]: _name_vi(r) for r in national}
    groups: dict[str, list[str]] = defaultdict(list)
    for code, entry in entries.items():
        groups[entry["name_en"]].append(code)
    for name, codes in groups.items():
        if len(codes) > 1:
            assert len({by_code[c] for c in codes}) == 1, f"{name!r} given to different procedures {codes}"


def test_every_national_code_is_enriched_and_nothing_else(entries, national):
    codes = [r["code"] for r in national]
    missing = [c for c in codes if c not in entries]
    unknown = [c for c in entries if c not in set(codes)]
    assert not missing, f"{len(missing)} codes without enrichment, e.g. {missing[:5]}"
    assert not unknown, f"codes not in national.jsonl: {unknown}"


def test_entries_are_grouped_by_field_for_review(entries, national):
    """Portal order: one block per field (lĩnh vực), codes ascending inside a block."""
    field = {r["code"]: r.get("field_id") or r.get("field_vi") for r in national}
    blocks: list[tuple[str, list[str]]] = []
    for code in entries:
        if blocks and blocks[-1][0] == field[code]:
            blocks[-1][1].append(code)
        else:
            blocks.append((field[code], [code]))
    names = [f for f, _ in blocks]
    assert len(names) == len(set(names)), f"a field is split into several blocks: {names}"
    for f, codes in blocks:
        assert codes == sorted(codes), f"codes of {f} out of order"


def test_comment_names_the_procedure(text, national):
    """The review comment above each entry is that procedure's Vietnamese name."""
    names = {r["code"]: fold(_name_vi(r)) for r in national}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r'^"(\d\.\d{6})":', line)
        if m and m.group(1) in names:
            comment = fold(lines[i - 1][2:])
            assert comment and comment in names[m.group(1)], (m.group(1), lines[i - 1])
