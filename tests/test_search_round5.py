"""Round 5 of issue 12's search quality (short requests and English): the general rules it added.

- English variant marks (words.yaml: variant_marks_en): an English request that says "foreign",
  "renewal", "replacement"… says the Vietnamese mark of the procedure's name (nước ngoài, gia
  hạn, lại…), so a variant it asks for no longer counts as unsaid (stage "english_marks");
- an English request's e5 similarity is read against the English passages (stage
  "english_passages"; tested in test_search_pipeline.py on the fixture catalogue).
"""

from __future__ import annotations

import pytest
from search_helpers import shipped_catalogue_db

from centre.search import STAGES, Searcher
from centre.search.lexical import _asked_markers, _QToken, english_marks
from centre.search.words import VARIANT_MARKS_EN


def _tokens(*words: str) -> list[_QToken]:
    return [_QToken(w, w, 1.0, {w: 1.0}, False, True, False) for w in words]


def test_english_marks_say_the_vietnamese_marks():
    assert english_marks(_tokens("marriage", "with", "a", "foreigner")) == {"nuoc", "ngoai"}
    assert english_marks(_tokens("passport", "renewal")) == {"gia", "han"}
    assert english_marks(_tokens("birth", "registration")) == frozenset()
    # a word the citizen typed asks for the variant; with the stage off it does not
    assert _asked_markers(_tokens("death", "registration", "foreign")) == {"nuoc", "ngoai"}
    assert _asked_markers(_tokens("death", "registration", "foreign"), english=False) == frozenset()
    # every English mark maps to folded Vietnamese words
    assert all(v and all(w.isascii() for w in v) for v in VARIANT_MARKS_EN.values())
    assert "english_marks" in STAGES


@pytest.fixture(scope="module")
def shipped(project_config):
    c = shipped_catalogue_db(project_config)
    yield c
    c.close()


def _factors(searcher: Searcher, text: str, code: str) -> dict:
    procs = searcher._current().procs
    for c in searcher.explain(text, n=30)["candidates"]:
        if procs[c["key"]]["code"] == code:
            return c["detail"].get("factors", {})
    raise AssertionError(f"{code} is not a candidate of {text!r}")


@pytest.mark.slow
def test_an_english_request_can_say_a_variant(shipped):
    text = "marriage registration with a foreigner"
    foreign, plain = "2.000806", "1.000894"  # kết hôn có yếu tố nước ngoài / kết hôn
    on = Searcher(shipped, min_score=0.46)
    off = Searcher(shipped, min_score=0.46, features_off=("english_marks",))
    assert "variant_unsaid" not in _factors(on, text, foreign)
    assert "variant_unsaid" in _factors(off, text, foreign)
    # the plain procedure lacks the variant the citizen asked for
    assert "variant_missing" in _factors(on, text, plain)
    assert "variant_missing" not in _factors(off, text, plain)
    assert [h.code for h in on.search(text, 1).hits] == [foreign]
