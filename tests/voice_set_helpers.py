"""Checks used by the tests of the spoken-request sets (tests/test_voice_sets_data.py):
loading a set, the entry shape, normalised sentences, and the shipped catalogue's field and
level of each code. Nothing here prints a sentence."""

from __future__ import annotations

import functools
import re
import sqlite3
import unicodedata
from pathlib import Path

import yaml

from centre.catalogue import Catalogue, ensure_catalogue

VOICE_DATA = Path(__file__).resolve().parent / "data" / "voice"
VI_VOICES = ("vi", "vi-vn-x-central", "vi-vn-x-south")  # espeak-ng's Vietnamese voices
MIN_WORDS, MAX_WORDS = 3, 15


@functools.cache
def load_set(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@functools.cache
def catalogue_rows(codes: frozenset) -> dict:
    """code -> (field_id, level) for each of `codes` the shipped catalogue (data/procedures) holds."""
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    try:
        ensure_catalogue(conn)
        catalogue = Catalogue(conn)
        found = {c: catalogue.get(c) for c in sorted(codes)}
    finally:
        conn.close()
    return {c: (p.field_id, p.level) for c, p in found.items() if p is not None}


def norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def has_diacritics(text: str) -> bool:
    if "đ" in text.casefold():
        return True
    return any(unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", text))


def says(data) -> list:
    """Every sentence of a loaded set (requests, then out of scope)."""
    if not isinstance(data, dict):
        return []
    return [e.get("say") for key in ("requests", "out_of_scope") for e in (data.get(key) or [])]


def request_ok(e) -> bool:
    if not (isinstance(e, dict) and set(e) == {"say", "expect"} and isinstance(e["say"], str)):
        return False
    if not (MIN_WORDS <= len(e["say"].split()) <= MAX_WORDS and has_diacritics(e["say"])):
        return False
    codes = e["expect"]
    if not (isinstance(codes, list) and codes):
        return False
    # quoted in the YAML: 2.000635 unquoted would be a float
    return all(isinstance(c, str) and c for c in codes) and len(set(codes)) == len(codes)


def out_of_scope_ok(e, voices) -> bool:
    if not (isinstance(e, dict) and set(e) == {"say", "voice"}):
        return False
    return isinstance(e["say"], str) and bool(e["say"].strip()) and e["voice"] in voices


def requests_of(path: Path) -> list:
    return load_set(path)["requests"]


def out_of_scope_of(path: Path) -> list:
    return load_set(path)["out_of_scope"]


def rows_for(paths) -> dict:
    """`catalogue_rows` for every code the sets at `paths` name."""
    return catalogue_rows(frozenset(c for p in paths for e in requests_of(p) for c in e["expect"]))


def check_top_level(path: Path) -> None:
    data = load_set(path)
    is_dict = isinstance(data, dict)
    assert is_dict
    keys = sorted(data)  # a name, not the data, in a failing assertion
    assert keys == ["out_of_scope", "requests"]


def bad_requests(requests: list) -> list:
    """Indices of the entries that are not a well-formed request."""
    return [i for i, e in enumerate(requests) if not request_ok(e)]
