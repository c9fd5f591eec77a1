"""Round 8 (ranking of long questions): the e5 ranker's share in a long question's runners-up.

Pure tests of `model.fused_runners` (docs/search.md, "Round 8: ranking"): the e5 place counts
FUSION_E5_WEIGHT (0.5) times, so e5 alone does not pass a runner-up that the score and the
text index both put after another. And the long-question lead (`LONG_LEAD`, 1.15) on the
five-procedure fixture catalogue (tests/data/search_fixture/).
"""

from types import SimpleNamespace

import pytest
from search_helpers import fixture_catalogue_db

from centre.search import Searcher, model
from centre.search import weights as W
from centre.search.analysis import focus
from centre.search.model import Scored, fused_runners
from centre.search.weights import FUSION_E5_WEIGHT, FUSION_SCORE_WEIGHT


def _pool():
    # the score's order a..e; b is second by the text index too, c is first by e5 alone
    return [
        Scored("a", score=0.9, text=0.9, semantic=0.86),
        Scored("b", score=0.6, text=0.8, semantic=0.80),
        Scored("c", score=0.55, text=0.1, semantic=0.90),
        Scored("d", score=0.5, text=0.3, semantic=0.83),
        Scored("e", score=0.4, text=0.2, semantic=0.84),
    ]


def test_e5_alone_does_not_pass_the_score_and_the_text():
    assert FUSION_E5_WEIGHT < 1.0 and FUSION_SCORE_WEIGHT == 2.0
    assert [c.key for c in fused_runners(_pool())][:3] == ["a", "b", "c"]


def test_e5_with_the_text_still_reorders():
    pool = _pool()
    pool[2].text = 0.85  # c: first by e5 and second by the text, third by the score
    assert [c.key for c in fused_runners(pool)][:3] == ["a", "c", "b"]


def test_the_first_never_moves_and_nothing_is_lost():
    pool = _pool()
    pool[0].semantic, pool[0].text = 0.5, 0.0  # last by e5 and text: still first
    out = fused_runners(pool)
    assert out[0].key == "a" and sorted(c.key for c in out) == list("abcde")


# ---------------------------------------------------------------- the long-question lead (LONG_LEAD)


@pytest.fixture(scope="module")
def conn():
    c = fixture_catalogue_db()
    yield c
    c.close()


def _accepted(conn, first: float, second: float, words: int = 12) -> str:
    """The hand decision for a question of `words` words whose first two candidates (two
    unrelated procedures) score `first` and `second`, both below the threshold."""
    s = Searcher(conn, min_score=0.46, limit=3)
    # a long question with a story (round 9: one without needs no lead, test_search_long_r9.py)
    text = "Mẹ tôi năm nay đã già yếu và ốm đau nhiều năm rồi. Xin hỏi thủ tục đăng ký khai sinh cho cháu nội thế nào?"
    token = SimpleNamespace(accented=True, folded="thu")  # a Vietnamese word typed with its tones
    r = model.Ranking(text, focus(text), tokens=[token] * words)
    r.ranked = [Scored("t-mai-tang", score=first), Scored("t-khai-sinh", score=second)]
    s._hand_accept(s._current(), r)
    return r.rule


def test_a_long_question_is_answered_below_the_threshold_on_a_clear_lead(conn):
    assert W.LONG_LEAD == 1.15
    floor = W.LONG_MIN_SHARE * 0.46
    assert _accepted(conn, 0.40, 0.40 / 1.2) == "long_lead"  # a lead of 1.2 (round 7 wanted 1.25)
    assert _accepted(conn, 0.40, 0.40 / 1.1) == "none"  # too close
    assert _accepted(conn, floor - 0.01, 0.0) == "none"  # below the long floor: no lead helps
    assert _accepted(conn, 0.40, 0.40 / 1.2, words=W.LONG_QUESTION - 1) == "none"  # not long
