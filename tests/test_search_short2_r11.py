"""Round 11 of short kiosk requests, second engineer (docs/search.md, "Round 11: short requests"):
a short request's weak answer no longer gives way to a referral `mention` (a document named, no
"see also" line) when the answer's phrase explains a request word outside the mention
(centre/search/scope.py `evidence_outside`, `Searcher._mention_aside`, stage `mention_aside` of
`Searcher._vetoed`): "công chứng học bạ" is a certified copy the ward makes, the school record
the paper it is made of.

Fast tests: `evidence_outside` on hand-made tokens and phrases. Slow tests search the shipped
catalogue end to end: a train request refused before, the stage switched off, and requests the
referral must still take (a need of the table, a mention said alone).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from centre.search import Searcher
from centre.search.scope import evidence_outside, evidence_within


def _tok(folded: str, stop: bool = False, informative: bool = True, variants=()):
    return SimpleNamespace(folded=folded, stop=stop, informative=informative, variants=frozenset(variants))


def _phrase(*words: str):
    return SimpleNamespace(tokset=frozenset(words))


_CERTIFY = _phrase("chung", "thuc", "ban", "sao")


def test_a_word_outside_the_mention_is_evidence_of_its_own():
    tokens = [_tok("cong"), _tok("chung"), _tok("hoc"), _tok("ba")]
    assert evidence_outside(tokens, _CERTIFY, "học bạ")
    assert not evidence_within(tokens, _CERTIFY, "học bạ")


def test_only_the_mention_s_words_explained_is_no_evidence():
    tokens = [_tok("cap"), _tok("hoc"), _tok("ba")]
    assert not evidence_outside(tokens, _phrase("hoc", "ba", "dien", "tu"), "học bạ")


def test_filler_and_uninformative_words_do_not_count():
    tokens = [_tok("chung", stop=True), _tok("thuc", informative=False), _tok("hoc"), _tok("ba")]
    assert not evidence_outside(tokens, _CERTIFY, "học bạ")


def test_a_corrected_reading_counts_by_its_variants():
    tokens = [_tok("chungg", variants=("chung",)), _tok("hoc"), _tok("ba")]
    assert evidence_outside(tokens, _CERTIFY, "học bạ")


def test_no_phrase_no_evidence():
    assert not evidence_outside([_tok("chung")], None, "học bạ")


@pytest.mark.slow
def test_round11_a_certified_copy_of_a_mentioned_paper_is_answered(project_config, shipped_catalogue):
    # short_train10 (train): refused before round 11 (the school referral's mention "học bạ")
    text = "công chứng học bạ"
    s = Searcher.from_config(shipped_catalogue, project_config)
    off = Searcher(shipped_catalogue, min_score=s.min_score, limit=3, features_off=("mention_aside",))
    hits = [h.code or h.key for h in s.search(text, 3).hits]
    before = off.search(text, 3)
    assert "2.000815" in hits[:3], hits
    assert not before.hits and before.referral is not None and before.referral.id == "school"


@pytest.mark.slow
@pytest.mark.parametrize("text", ["mất học bạ", "cấp lại học bạ", "học bạ"])
def test_round11_the_school_still_takes_its_own_needs(project_config, shipped_catalogue, text):
    res = Searcher.from_config(shipped_catalogue, project_config).search(text, 3)
    assert not res.hits, (text, [h.key for h in res.hits])
    assert res.referral is not None and res.referral.id == "school"
