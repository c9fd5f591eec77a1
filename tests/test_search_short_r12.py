"""Round 12 of short kiosk requests (docs/search.md, "Round 12: short requests"): a short
request's clear lead below the threshold is an answer when the e5 ranker puts it first too
(`Searcher._short_lead`, stage `short_lead`, centre/search/shortlead.py). Fast tests on
hand-made tokens and phrases; the whole path is measured by bench/search_ablation.py and
checked against explain() by tests/test_search_agreement.py."""

from __future__ import annotations

from types import SimpleNamespace

from centre.search import weights
from centre.search.model import STAGES
from centre.search.shortlead import exact_words


def _tok(folded: str, stop: bool = False, informative: bool = True, synonym: bool = False):
    return SimpleNamespace(folded=folded, stop=stop, informative=informative, synonym=synonym)


def _phrase(*words: str):
    return SimpleNamespace(tokset=frozenset(words))


def test_exact_words_count_typed_informative_words_once():
    tokens = [_tok("ghi"), _tok("chu"), _tok("ghi"), _tok("li"), _tok("hon", synonym=True), _tok("o", stop=True)]
    assert exact_words(tokens, _phrase("ghi", "chu", "ly", "hon", "o")) == 2


def test_uninformative_words_do_not_count():
    assert exact_words([_tok("dang", informative=False), _tok("ky")], _phrase("dang", "ky")) == 1


def test_no_phrase_holds_nothing():
    assert exact_words([_tok("a")], None) == 0


def test_the_stage_and_its_weights():
    assert "short_lead" in STAGES
    assert 0 < weights.SHORT_LEAD_MIN_SHARE < 1 and weights.SHORT_LEAD > 1 and weights.SHORT_LEAD_WORDS >= 1
