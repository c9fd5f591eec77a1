"""Shape and hygiene of the held-out sets of spoken kiosk requests (issue 13), one spec table:
requests-vi-blind.yaml (round 2-3's blind set, now a dev set for aggregate figures),
requests-vi-blind2.yaml (round 4's blind set), requests-vi-dev2.yaml (round 5, dev; a train set
from round 6), requests-vi-blind3.yaml (round 5's blind set), requests-vi-blind4.yaml (written in round 6 for a
later round's measurement) and requests-vi-blind5.yaml (a fifth blind set, also for a later
round) and requests-vi-blind6.yaml (a sixth, written 2026-12-07), and requests-vi-train9.yaml (round 9's
train set of requests in everyday words, written by the voice engineer), all in tests/data/voice/.

Whoever tunes the voice matcher must not read the blind sets, so the sentences are never
printed: the data is loaded inside the tests (the parameter is the set's name only, never a
fixture holding sentences, which pytest would show in a traceback) and every check collects
the indices of the bad entries, so a failure names entries by index, codes or file names only."""

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

TUNED = VOICE_DATA / "requests-vi.yaml"
DEV = VOICE_DATA / "requests-vi-dev.yaml"
BLIND = VOICE_DATA / "requests-vi-blind.yaml"
OTHER_VOICES = frozenset({"en", "fr", "de", "es", "ja", "ko", "ru", "th", "cmn"})  # espeak-ng voice names
NEAR_COPY = 0.85  # difflib ratio of two normalised sentences at or above which one copies the other
# the most-asked ward fields; together they must hold most of a set's requests
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
    voices: frozenset  # espeak-ng voices an out-of-scope sentence may name
    exact: bool = False  # counts are exact (the set was written to them), else minimums
    others: tuple | None = None  # sets it must not copy a sentence from; None: every other set, near copies too
    min_fields: int = 0  # distinct fields of the best answers, all ward procedures (0: not checked)
    common_share: float = 0.0  # share of best answers in the COMMON_FIELDS
    min_per_vi_voice: int = 0  # out-of-scope sentences per Vietnamese voice
    min_vi_total: int = 0  # … in the three Vietnamese voices together
    min_english: int = 2  # out-of-scope sentences in English
    min_other_languages: int = 0  # languages besides English among the out-of-scope sentences
    vi_accented: bool = False  # out-of-scope sentences in a Vietnamese voice carry diacritics


SETS = {
    "blind": Spec(BLIND, 60, 40, 20, frozenset({"vi", "en", "fr", "de", "ko", "cmn"}), others=(TUNED,)),
    "blind2": Spec(VOICE_DATA / "requests-vi-blind2.yaml", 80, 55, 25, frozenset(VI_VOICES) | OTHER_VOICES,
                   others=(TUNED, DEV, BLIND), min_fields=15, min_per_vi_voice=5, min_vi_total=18, min_english=3,
                   min_other_languages=4),
    "dev2": Spec(VOICE_DATA / "requests-vi-dev2.yaml", 70, 60, 25, frozenset(VI_VOICES) | OTHER_VOICES, exact=True,
                 min_fields=12, common_share=0.6, min_per_vi_voice=5, min_other_languages=5, vi_accented=True),
    "blind3": Spec(VOICE_DATA / "requests-vi-blind3.yaml", 100, 80, 30, frozenset(VI_VOICES) | OTHER_VOICES,
                   exact=True, min_fields=15, common_share=0.6, min_per_vi_voice=6, min_other_languages=5,
                   vi_accented=True),
    "blind4": Spec(VOICE_DATA / "requests-vi-blind4.yaml", 80, 70, 25, frozenset(VI_VOICES) | OTHER_VOICES,
                   exact=True, min_fields=15, common_share=0.6, min_per_vi_voice=6, min_other_languages=3,
                   vi_accented=True),
    "blind5": Spec(VOICE_DATA / "requests-vi-blind5.yaml", 80, 70, 25, frozenset(VI_VOICES) | OTHER_VOICES,
                   exact=True, min_fields=15, common_share=0.6, min_per_vi_voice=6, min_other_languages=3,
                   vi_accented=True),
    "blind6": Spec(VOICE_DATA / "requests-vi-blind6.yaml", 80, 70, 25, frozenset(VI_VOICES) | OTHER_VOICES,
                   exact=True, min_fields=15, common_share=0.6, min_per_vi_voice=6, min_other_languages=3,
                   vi_accented=True),
    "train9": Spec(VOICE_DATA / "requests-vi-train9.yaml", 42, 40, 9, frozenset(VI_VOICES) | OTHER_VOICES,
                   exact=True, min_fields=10, common_share=0.6, min_per_vi_voice=2, min_other_languages=1,
                   vi_accented=True),
}
NAMES = sorted(SETS)
WARD_CHECKED = sorted(n for n, s in SETS.items() if s.min_fields)
VOICES_CHECKED = sorted(n for n, s in SETS.items() if s.min_per_vi_voice)


def _requests(name: str) -> list:
    return requests_of(SETS[name].path)


def _out_of_scope(name: str) -> list:
    return out_of_scope_of(SETS[name].path)


def _catalogue_rows() -> dict:
    """key or code -> (field_id, level) for every code of these sets, from the shipped data."""
    return rows_for(SETS[name].path for name in NAMES)


def _count_ok(n: int, want: int, exact: bool) -> bool:
    return n == want if exact else n >= want


@pytest.mark.parametrize("name", NAMES)
def test_top_level_keys(name):
    check_top_level(SETS[name].path)


@pytest.mark.parametrize("name", NAMES)
def test_requests_shape(name):
    spec = SETS[name]
    requests = _requests(name)
    n = len(requests)  # pytest would show len()'s argument, the sentences
    assert _count_ok(n, spec.n_requests, spec.exact), n
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


@pytest.mark.parametrize("name", WARD_CHECKED)
def test_best_answers_are_ward_procedures_over_many_fields(name):
    spec = SETS[name]
    rows = _catalogue_rows()
    firsts = [e["expect"][0] for e in _requests(name)]
    not_ward = [i for i, c in enumerate(firsts) if "Cấp xã" not in rows.get(c, ("", ""))[1]]
    assert not not_ward, not_ward
    fields = [rows[c][0] for c in firsts if c in rows]
    assert len(set(fields)) >= spec.min_fields, len(set(fields))
    assert MUST_FIELDS <= set(fields), sorted(MUST_FIELDS - set(fields))
    common = sum(f in COMMON_FIELDS for f in fields)
    assert common >= spec.common_share * len(firsts), (common, len(firsts))  # the most-asked ones weigh more


@pytest.mark.parametrize("name", NAMES)
def test_out_of_scope_shape(name):
    spec = SETS[name]
    oos = _out_of_scope(name)
    n = len(oos)  # pytest would show len()'s argument, the sentences
    assert _count_ok(n, spec.n_out_of_scope, spec.exact), n
    bad = [i for i, e in enumerate(oos) if not out_of_scope_ok(e, spec.voices)]
    assert not bad, bad
    if spec.vi_accented:
        not_vi = [i for i, e in enumerate(oos) if e["voice"] in VI_VOICES and not has_diacritics(e["say"])]
        assert not not_vi, not_vi


def test_blind_out_of_scope_voices():
    voices = [e["voice"] for e in _out_of_scope("blind")]
    assert voices.count("vi") >= 10
    assert len(set(voices) - {"vi"}) >= 3  # several other languages


@pytest.mark.parametrize("name", VOICES_CHECKED)
def test_out_of_scope_voices(name):
    spec = SETS[name]
    voices = [e["voice"] for e in _out_of_scope(name)]
    per_vi = {v: voices.count(v) for v in VI_VOICES}
    assert min(per_vi.values()) >= spec.min_per_vi_voice, per_vi  # the three Vietnamese voices, each well used
    assert sum(per_vi.values()) >= spec.min_vi_total, per_vi
    others = [v for v in voices if v not in VI_VOICES]
    assert others.count("en") >= spec.min_english, others
    assert len(set(others) - {"en"}) >= spec.min_other_languages, others  # a few more languages


@pytest.mark.parametrize("name", NAMES)
def test_no_duplicates_within_the_set(name):
    mine = [norm(s) for s in says(load_set(SETS[name].path))]
    repeated = [i for i, s in enumerate(mine) if mine.index(s) != i]
    assert not repeated, repeated


def _near_copies(mine: list[str], seen: list[str]) -> list[int]:
    """Indices of `mine` whose sentence is a near copy (difflib ratio ≥ NEAR_COPY) of one of `seen`."""
    matcher = difflib.SequenceMatcher()
    clash = []
    for i, s in enumerate(mine):
        matcher.set_seq2(s)
        for o in seen:
            matcher.set_seq1(o)
            if matcher.real_quick_ratio() >= NEAR_COPY and matcher.ratio() >= NEAR_COPY:
                clash.append(i)
                break
    return clash


@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_copied_from_another_set(name):
    """The older sets: no exact copy (after normalising) of the sets named in their spec; the
    round-5 sets and later: neither an exact nor a near copy of any other set's sentence."""
    spec = SETS[name]
    others = spec.others or tuple(p for p in sorted(VOICE_DATA.glob("*.yaml")) if p != spec.path)
    assert spec.others or len(others) >= 4, [p.name for p in others]  # the older sets were found
    mine = [norm(s) for s in says(load_set(spec.path))]
    for other in others:
        seen = [norm(s) for s in says(load_set(other)) if isinstance(s, str)]
        n_seen = len(seen)
        assert n_seen > 0, other.name  # the other set was read
        clash = _near_copies(mine, seen) if spec.others is None else [i for i, s in enumerate(mine) if s in set(seen)]
        assert not clash, (other.name, clash)
