"""Shape and hygiene of the round-5 sets of spoken kiosk requests (issue 13):
tests/data/voice/requests-vi-dev2.yaml (a dev set, for choosing by aggregate figures) and
requests-vi-blind3.yaml (a blind set: whoever tunes the voice matcher must not read it).
The sentences are never printed: the data is loaded inside the tests (the parameter is the set's
name only) and every check collects the indices of the bad entries, so a failure names entries by
index, codes or file names only. Sibling of tests/test_voice_blind_data.py (blind, blind2)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import pytest
from voice_set_helpers import (
    VI_VOICES,
    VOICE_DATA,
    bad_requests,
    check_top_level,
    has_diacritics,
    load_set,
    norm,
    out_of_scope_of,
    out_of_scope_ok,
    requests_of,
    rows_for,
    says,
)

HERE = VOICE_DATA
OTHER_VOICES = {"en", "fr", "de", "es", "ja", "ko", "ru", "th", "cmn"}  # espeak-ng voice names
NEAR_COPY = 0.85  # difflib ratio of two normalised sentences at or above which one copies the other
# the most-asked ward fields; together they must hold most of the requests
COMMON_FIELDS = {
    "ho-tich",
    "dang-ky-quan-ly-cu-tru",
    "chung-thuc",
    "bao-tro-xa-hoi",
    "giam-ngheo",
    "dat-dai",
    "cap-quan-ly-can-cuoc",
    "thu-bhxh-bhyt-bhtn-bh-tai-nan-lao-dong-bnn",
    "cap-so-bhxh-the-bhyt",
    "thanh-lap-va-hoat-dong-doanh-nghiep-ho-kinh-doanh",
}
MUST_FIELDS = {"ho-tich", "dang-ky-quan-ly-cu-tru", "chung-thuc", "dat-dai", "bao-tro-xa-hoi"}


@dataclass(frozen=True)
class Spec:
    path: Path
    n_requests: int
    min_procedures: int  # distinct first (best) answers
    n_out_of_scope: int
    min_per_vi_voice: int  # out-of-scope sentences per Vietnamese voice
    min_fields: int  # distinct fields of the best answers


SETS = {
    "dev2": Spec(HERE / "requests-vi-dev2.yaml", 70, 60, 25, 5, 12),
    "blind3": Spec(HERE / "requests-vi-blind3.yaml", 100, 80, 30, 6, 15),
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
    assert n == SETS[name].n_requests, n
    bad = bad_requests(requests)
    assert not bad, bad


@pytest.mark.parametrize("name", NAMES)
def test_requests_cover_many_procedures(name):
    firsts = {e["expect"][0] for e in _requests(name)}
    assert len(firsts) >= SETS[name].min_procedures, len(firsts)


@pytest.mark.parametrize("name", NAMES)
def test_every_code_is_in_the_shipped_catalogue(name):
    rows = _catalogue_rows()
    codes = {c for e in _requests(name) for c in e["expect"]}
    missing = sorted(c for c in codes if c not in rows)
    assert not missing, missing  # codes, not sentences


@pytest.mark.parametrize("name", NAMES)
def test_best_answers_are_ward_procedures_weighted_to_the_common_ones(name):
    rows = _catalogue_rows()
    firsts = [e["expect"][0] for e in _requests(name)]
    not_ward = [i for i, c in enumerate(firsts) if "Cấp xã" not in rows.get(c, ("", ""))[1]]
    assert not not_ward, not_ward
    fields = [rows[c][0] for c in firsts if c in rows]
    assert len(set(fields)) >= SETS[name].min_fields, len(set(fields))
    assert MUST_FIELDS <= set(fields), sorted(MUST_FIELDS - set(fields))
    common = sum(f in COMMON_FIELDS for f in fields)
    assert common >= 0.6 * len(firsts), (common, len(firsts))  # the most-asked ones weigh more


@pytest.mark.parametrize("name", NAMES)
def test_out_of_scope_shape_and_voices(name):
    spec = SETS[name]
    oos = _out_of_scope(name)
    n = len(oos)  # pytest would show len()'s argument, the sentences
    assert n == spec.n_out_of_scope, n
    bad = [i for i, e in enumerate(oos) if not out_of_scope_ok(e, set(VI_VOICES) | OTHER_VOICES)]
    assert not bad, bad
    voices = [e["voice"] for e in oos]
    per_vi = {v: voices.count(v) for v in VI_VOICES}
    assert min(per_vi.values()) >= spec.min_per_vi_voice, per_vi
    others = [v for v in voices if v not in VI_VOICES]
    assert others.count("en") >= 2, others
    assert len(set(others) - {"en"}) >= 5, others  # several more languages
    not_vi = [i for i, e in enumerate(oos) if e["voice"] in VI_VOICES and not has_diacritics(e["say"])]
    assert not not_vi, not_vi


@pytest.mark.parametrize("name", NAMES)
def test_no_duplicates_within_the_set(name):
    mine = [norm(s) for s in says(load_set(SETS[name].path))]
    repeated = [i for i, s in enumerate(mine) if mine.index(s) != i]
    assert not repeated, repeated


def _other_files(name: str) -> list:
    mine = SETS[name].path
    return [p for p in sorted(HERE.glob("*.yaml")) if p != mine]


@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_copied_from_another_set(name):
    """Neither an exact copy (after normalising) nor a near copy of any other set's sentence."""
    others = _other_files(name)
    assert len(others) >= 4, [p.name for p in others]  # the older sets were found
    mine = [norm(s) for s in says(load_set(SETS[name].path))]
    for other in others:
        seen = [norm(s) for s in says(load_set(other)) if isinstance(s, str)]
        n_seen = len(seen)
        assert n_seen > 0, other.name  # the other set was read
        matcher = difflib.SequenceMatcher()
        clash = []
        for i, s in enumerate(mine):
            matcher.set_seq2(s)
            for o in seen:
                matcher.set_seq1(o)
                if matcher.real_quick_ratio() >= NEAR_COPY and matcher.ratio() >= NEAR_COPY:
                    clash.append(i)
                    break
        assert not clash, (other.name, clash)
