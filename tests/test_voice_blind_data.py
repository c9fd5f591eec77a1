"""Shape and hygiene of the blind sets of spoken kiosk requests
(tests/data/voice/requests-vi-blind.yaml and requests-vi-blind2.yaml). The sentences are never
printed: whoever tunes the voice matcher must not read them. The data is loaded inside the tests
(no fixture argument holding sentences, which pytest would show in a traceback; the parameter is
the set's name only) and every check collects the indices of the bad entries, so a failure names
entries by their index only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from voice_set_helpers import (
    VI_VOICES,
    VOICE_DATA,
    bad_requests,
    check_top_level,
    load_set,
    norm,
    out_of_scope_of,
    out_of_scope_ok,
    requests_of,
    rows_for,
    says,
)

HERE = VOICE_DATA
BLIND = HERE / "requests-vi-blind.yaml"
BLIND2 = HERE / "requests-vi-blind2.yaml"
TUNED = HERE / "requests-vi.yaml"
DEV = HERE / "requests-vi-dev.yaml"
VOICES = {"vi", "en", "fr", "de", "ko", "cmn"}  # espeak-ng voice names
VOICES2 = set(VI_VOICES) | {"en", "fr", "de", "es", "ja", "ko", "ru", "th", "cmn"}


@dataclass(frozen=True)
class Spec:
    path: Path
    min_requests: int
    min_procedures: int  # distinct first (best) answers
    min_out_of_scope: int
    voices: frozenset
    others: tuple  # sets it must not copy a sentence from


SETS = {
    "blind": Spec(BLIND, 60, 40, 20, frozenset(VOICES), (TUNED,)),
    "blind2": Spec(BLIND2, 80, 55, 25, frozenset(VOICES2), (TUNED, DEV, BLIND)),
}
NAMES = sorted(SETS)


def _requests(name: str = "blind") -> list:
    return requests_of(SETS[name].path)


def _out_of_scope(name: str = "blind") -> list:
    return out_of_scope_of(SETS[name].path)


def _catalogue_rows() -> dict:
    """key or code -> (field_id, level) for every code of these sets, from the shipped data."""
    return rows_for(SETS[name].path for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_top_level_keys(name):
    check_top_level(SETS[name].path)


@pytest.mark.parametrize("name", NAMES)
def test_requests_shape(name):
    requests = _requests(name)
    n = len(requests)  # pytest would show len()'s argument, the sentences
    assert n >= SETS[name].min_requests, n
    bad = bad_requests(requests)
    assert not bad, bad


@pytest.mark.parametrize("name", NAMES)
def test_requests_cover_many_procedures(name):
    firsts = {e["expect"][0] for e in _requests(name)}
    assert len(firsts) >= SETS[name].min_procedures, len(firsts)


@pytest.mark.parametrize("name", NAMES)
def test_out_of_scope_shape(name):
    spec = SETS[name]
    oos = _out_of_scope(name)
    n = len(oos)  # pytest would show len()'s argument, the sentences
    assert n >= spec.min_out_of_scope, n
    bad = [i for i, e in enumerate(oos) if not out_of_scope_ok(e, spec.voices)]
    assert not bad, bad


def test_blind_out_of_scope_voices():
    voices = [e["voice"] for e in _out_of_scope("blind")]
    assert voices.count("vi") >= 10
    assert len(set(voices) - {"vi"}) >= 3  # several other languages


def test_blind2_out_of_scope_voices():
    voices = [e["voice"] for e in _out_of_scope("blind2")]
    per_vi = {v: voices.count(v) for v in VI_VOICES}
    assert min(per_vi.values()) >= 5, per_vi  # the three Vietnamese voices, each well used
    assert sum(per_vi.values()) >= 18, per_vi
    others = [v for v in voices if v not in VI_VOICES]
    assert others.count("en") >= 3, others
    assert len(set(others) - {"en"}) >= 4, others  # a few more languages


@pytest.mark.parametrize("name", NAMES)
def test_every_code_is_in_the_shipped_catalogue(name):
    rows = _catalogue_rows()
    codes = {c for e in _requests(name) for c in e["expect"]}
    missing = sorted(c for c in codes if c not in rows)
    assert not missing, missing  # codes, not sentences


def test_blind2_best_answers_are_ward_procedures_over_many_fields():
    rows = _catalogue_rows()
    firsts = [e["expect"][0] for e in _requests("blind2")]
    not_ward = [i for i, c in enumerate(firsts) if "Cấp xã" not in rows.get(c, ("", ""))[1]]
    assert not not_ward, not_ward
    fields = {rows[c][0] for c in firsts if c in rows}
    assert len(fields) >= 15, len(fields)
    assert {"ho-tich", "dang-ky-quan-ly-cu-tru", "chung-thuc", "dat-dai", "bao-tro-xa-hoi"} <= fields


@pytest.mark.parametrize("name", NAMES)
def test_no_duplicates_within_the_set(name):
    mine = [norm(s) for s in says(load_set(SETS[name].path))]
    repeated = [i for i, s in enumerate(mine) if mine.index(s) != i]
    assert not repeated, repeated


@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_copied_from_the_other_sets(name):
    spec = SETS[name]
    for other in spec.others:
        seen = {norm(s) for s in says(load_set(other)) if isinstance(s, str)}
        n_seen = len(seen)
        assert n_seen > 0, other.name  # the other set was read
        clash = [i for i, s in enumerate(says(load_set(spec.path))) if norm(s) in seen]
        assert not clash, (other.name, clash)
