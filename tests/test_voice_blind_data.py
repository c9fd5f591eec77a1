"""Shape and hygiene of the blind set of spoken kiosk requests
(tests/data/voice/requests-vi-blind.yaml). The sentences are never printed: whoever tunes the
voice matcher must not read them. The data is loaded inside the tests (no fixture argument, which
pytest would show in a traceback) and every check collects the indices of the bad entries, so a
failure names entries by their index only."""

from __future__ import annotations

import functools
import re
import sqlite3
import unicodedata
from pathlib import Path

import yaml

from centre.catalogue import Catalogue, ensure_catalogue

HERE = Path(__file__).resolve().parent / "data" / "voice"
BLIND = HERE / "requests-vi-blind.yaml"
TUNED = HERE / "requests-vi.yaml"
VOICES = {"vi", "en", "fr", "de", "ko", "cmn"}  # espeak-ng voice names
MIN_WORDS, MAX_WORDS = 3, 15


@functools.cache
def _load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _requests() -> list:
    return _load(BLIND)["requests"]


def _out_of_scope() -> list:
    return _load(BLIND)["out_of_scope"]


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _has_diacritics(text: str) -> bool:
    if "đ" in text.casefold():
        return True
    return any(unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", text))


def _says(data) -> list:
    if not isinstance(data, dict):
        return []
    return [e.get("say") for key in ("requests", "out_of_scope") for e in (data.get(key) or [])]


def _request_ok(e) -> bool:
    if not (isinstance(e, dict) and set(e) == {"say", "expect"} and isinstance(e["say"], str)):
        return False
    if not (MIN_WORDS <= len(e["say"].split()) <= MAX_WORDS and _has_diacritics(e["say"])):
        return False
    codes = e["expect"]
    if not (isinstance(codes, list) and codes):
        return False
    # quoted in the YAML: 2.000635 unquoted would be a float
    return all(isinstance(c, str) and c for c in codes) and len(set(codes)) == len(codes)


def _out_of_scope_ok(e) -> bool:
    if not (isinstance(e, dict) and set(e) == {"say", "voice"}):
        return False
    return isinstance(e["say"], str) and bool(e["say"].strip()) and e["voice"] in VOICES


def test_top_level_keys():
    data = _load(BLIND)
    is_dict = isinstance(data, dict)
    assert is_dict
    assert sorted(data) == ["out_of_scope", "requests"]


def test_requests_shape():
    requests = _requests()
    assert len(requests) >= 60
    bad = [i for i, e in enumerate(requests) if not _request_ok(e)]
    assert not bad, bad


def test_requests_cover_many_procedures():
    firsts = {e["expect"][0] for e in _requests()}
    assert len(firsts) >= 40, len(firsts)


def test_out_of_scope_shape():
    oos = _out_of_scope()
    assert len(oos) >= 20
    bad = [i for i, e in enumerate(oos) if not _out_of_scope_ok(e)]
    assert not bad, bad
    voices = [e["voice"] for e in oos]
    assert voices.count("vi") >= 10
    assert len(set(voices) - {"vi"}) >= 3  # several other languages


def test_every_code_is_in_the_shipped_catalogue():
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    try:
        ensure_catalogue(conn)  # the shipped data/procedures
        catalogue = Catalogue(conn)
        codes = {c for e in _requests() for c in e["expect"]}
        missing = sorted(c for c in codes if catalogue.get(c) is None)
    finally:
        conn.close()
    assert not missing, missing  # codes, not sentences


def test_no_duplicates_within_the_set():
    mine = [_norm(s) for s in _says(_load(BLIND))]
    repeated = [i for i, s in enumerate(mine) if mine.index(s) != i]
    assert not repeated, repeated


def test_nothing_is_copied_from_the_tuned_set():
    seen = {_norm(s) for s in _says(_load(TUNED)) if isinstance(s, str)}
    n_seen = len(seen)
    assert n_seen > 0  # the tuned set was read
    clash = [i for i, s in enumerate(_says(_load(BLIND))) if _norm(s) in seen]
    assert not clash, clash
