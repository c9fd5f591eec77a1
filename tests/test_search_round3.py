"""Round 3 of issue 12's search quality: the general rules it added (pure, fast).

- runners-up: once the first candidate is an answer, the next ones above a share of the
  threshold are offered too (top-3), never when nothing was accepted;
- the English word map (lexicon.yaml: english_map), switched off by the stage "english_map";
- English filler counts its plural forms, and English function words that are also Vietnamese
  syllables ("on", "my" → "mi") tell an English request.
"""

from __future__ import annotations

import pytest
from search_helpers import fixture_catalogue_db

from centre.search import STAGES, Searcher
from centre.search import weights as W
from centre.search.lexical import Lexicon, lexicon, mostly_english
from centre.search.model import runners_up
from centre.search.words import STOP_EN


@pytest.fixture(scope="module")
def conn():
    c = fixture_catalogue_db()
    yield c
    c.close()


def test_runners_up_follow_an_answer_only():
    floor = W.RUNNER_SHARE * 0.46
    assert runners_up(0, [0.45, 0.44, 0.43], floor) == 0  # nothing accepted: nothing offered
    assert runners_up(1, [0.7, 0.40, 0.31, 0.30], floor) == 3  # up to RUNNERS hits in all
    assert runners_up(1, [0.7, 0.25, 0.24], floor) == 1  # below the floor: not offered
    assert runners_up(4, [0.9, 0.8, 0.7, 0.6, 0.2], floor) == 4  # never fewer than accepted
    assert runners_up(1, [0.7], floor) == 1


def test_runners_stage_switches_it_off(conn):
    assert "runners" in STAGES and "english_map" in STAGES
    on = Searcher(conn, min_score=0.46, limit=3)
    off = Searcher(conn, min_score=0.46, limit=3, features_off=("runners",))
    for q in ("đăng ký khai sinh cho con", "tạm trú", "trợ cấp mai táng"):
        a, b = on.rank(q), off.rank(q)
        assert a.accepted >= b.accepted
        if b.accepted:
            assert a.accepted <= max(b.accepted, W.RUNNERS)
            extra = a.ranked[b.accepted : a.accepted]
            assert all(c.score >= W.RUNNER_SHARE * 0.46 for c in extra)


def test_english_map_is_its_own_section():
    with_map, without = Lexicon.load(), Lexicon.load(english_map=False)
    assert ("unmarried",) in with_map.folded and ("unmarried",) not in without.folded
    assert ("wedding",) in without.folded  # the older English entries stay in `synonyms`
    assert lexicon(False).folded == without.folded


def test_english_map_reading_reaches_the_catalogue_words(conn):
    on = Searcher(conn, min_score=0.46, limit=3)
    off = Searcher(conn, min_score=0.46, limit=3, features_off=("english_map",))
    q = "we have a new baby how do we register"
    assert any("birth" in r.split() for r in on.rank(q).readings)
    assert not any("birth" in r.split() for r in off.rank(q).readings)


def test_english_filler_has_its_plural_forms():
    assert {"agency", "agencies", "procedures", "authorities", "needs"} <= STOP_EN


def test_english_function_words_tell_an_english_request():
    # "cut down a tree on the street in front of my house": folded, "on", "in", "mi" are syllables
    words = ["cut", "down", "a", "tree", "on", "the", "street", "in", "front", "of", "mi", "house"]
    assert mostly_english(words)
    assert not mostly_english(["giay", "to", "can", "nhung", "gi"])  # unaccented Vietnamese
    assert not mostly_english(["dang", "ky", "tam", "tru", "cho", "con", "o", "dau"])


def test_spoken_numerals_become_digits():
    from centre.search.lexical import analyze, query_age

    said = lambda t: " ".join(a for a, _ in analyze(t))  # noqa: E731
    assert said("ông cháu năm nay tám mươi lăm tuổi") == "ông cháu năm nay 85 tuổi"
    assert said("con tôi mười bốn tuổi") == "con tôi 14 tuổi"
    assert said("hai mươi mốt tuổi") == "21 tuổi"
    assert said("ba mươi tuổi") == "30 tuổi"  # "ba" is a number before "mươi" only
    assert said("hai mươi năm trước") == "20 năm trước"  # twenty years, not 25
    assert said("mười năm") == "10 năm"
    assert said("ba tôi năm nay") == "ba tôi năm nay"
    assert query_age([f for _, f in analyze("bé nhà tôi mười ba tuổi")]) == (13, 13)


def test_an_english_request_needs_a_share_of_the_threshold(conn):
    s = Searcher(conn, min_score=0.46, limit=3)
    off = Searcher(conn, min_score=0.46, limit=3, features_off=("english_threshold",))
    english, vietnamese = s.rank("the baby birth paper"), s.rank("giấy tờ cho em bé")
    assert s._threshold(english) == pytest.approx(W.ENGLISH_MIN_SHARE * 0.46)
    assert s._threshold(vietnamese) == 0.46
    assert off._threshold(off.rank("the baby birth paper")) == 0.46
    # what it accepts (runners-up aside) is what scores over its threshold, no more
    plain = Searcher(conn, min_score=0.46, limit=3, features_off=("runners",)).rank("the baby birth paper")
    assert plain.accepted == sum(1 for c in plain.ranked if c.score >= W.ENGLISH_MIN_SHARE * 0.46)
