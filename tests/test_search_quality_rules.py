"""Round 2 of issue 12's search quality: the general rules it added, one by one (pure, fast).

- a letter's filler phrases are left out of the words matched, whole phrases only;
- a long question's whole text stands in for a request that names little (`W_CONTEXT_ALONE`);
- a referral phrase denied just before it ("không có lương hưu") names no outside need;
- a filler word typed with diacritics joins a name only with its tones ("vậy" is no "vay");
- English words are not cut into Vietnamese syllables, and an unknown English word weighs little.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from search_helpers import fixture_catalogue_db

from centre.search import Searcher, combine, referral_for
from centre.search import weights as W
from centre.search.model import Scored, matched_words

FIXTURE = Path(__file__).parent / "data" / "search_fixture"


@pytest.fixture(scope="module")
def searcher():
    c = fixture_catalogue_db()
    yield Searcher(c, min_score=0.46, limit=3)
    c.close()


def test_letter_filler_phrases_are_not_matched():
    said = matched_words("Theo quy định của pháp luật hiện hành, mong luật sư tư vấn thủ tục khai sinh")
    assert said.split() == ["của", "mong", "thủ", "tục", "khai", "sinh"]
    # whole phrases only: the syllables stay where they are content words
    assert matched_words("xác định mức độ khuyết tật") == "xác định mức độ khuyết tật"
    assert matched_words("theo quy dinh phap luat dang ky ket hon") == "dang ky ket hon"  # folded too
    assert matched_words("luật sư") == "luật sư"  # nothing left: the text as it was


def test_the_request_keeps_its_last_words():
    words = [f"w{i}" for i in range(W.MAX_QUERY_TOKENS + 10)]
    assert matched_words(" ".join(words)).split() == words[-W.MAX_QUERY_TOKENS:]
    assert matched_words(" ".join(words), tail=False).split() == words[: W.MAX_QUERY_TOKENS]


def test_the_story_stands_in_for_a_request_that_names_little():
    vague = Scored("k", lexical=0.1, context=0.6)
    assert combine(vague) == pytest.approx(W.W_CONTEXT_ALONE * 0.6 + W.W_CONTEXT * 0.6)
    named = Scored("k", lexical=0.7, context=0.6)  # a request that names it keeps its own score
    assert combine(named) == pytest.approx(0.7 + W.W_CONTEXT * 0.6)
    assert combine(Scored("k", lexical=0.5)) == pytest.approx(0.5)  # short request: no context


def test_a_denied_referral_phrase_names_no_outside_need():
    assert referral_for("lương hưu của tôi").id == "social_insurance_book"
    assert referral_for("ông tôi không có lương hưu, xin trợ cấp được không") is None
    assert referral_for("chưa có hộ chiếu thì làm sao") is None
    assert referral_for("khong co luong huu") is None
    assert referral_for("tôi không biết, làm hộ chiếu ở đâu").id == "passport"  # denial of something else


def test_referral_table_knows_labour_and_land_registry():
    assert referral_for("công ty nợ lương hai tháng").id == "labour_dispute"
    assert referral_for("sổ đỏ bị mất thì xin cấp lại ở đâu").id == "land_registry"
    assert referral_for("xin cấp lại sổ bảo hiểm xã hội bị mất") is None  # a catalogue procedure


def test_filler_with_diacritics_joins_a_name_only_with_its_tones(searcher):
    idx = searcher._current()
    # folded, "đang ký" is "dang ky" of "Đăng ký khai sinh"; with its tones "đang" stays filler
    toks = {q.plain: q for q in searcher._query_tokens(idx, "tôi đang ký hợp đồng")}
    assert toks["đang"].stop
    toks = {q.plain: q for q in searcher._query_tokens(idx, "tôi muốn đăng ký khai sinh")}
    assert not toks["đăng"].stop


def test_english_words_are_not_cut_into_syllables(searcher):
    idx = searcher._current()
    plains = [q.plain for q in searcher._query_tokens(idx, "how do I register a birth to reside here")]
    assert "reside" in plains
    unknown = {q.plain: q.weight for q in searcher._query_tokens(idx, "register birth zzyzxq")}
    assert unknown["zzyzxq"] <= W.ENGLISH_UNKNOWN * idx.idf_max + 1e-9
