"""Round 9 (long questions): the lead a long question needs to be answered below the threshold.

A long question (`LONG_WORDS` words or more) with no story — every sentence of it the request,
`Focus.context` empty — is accepted from the long floor (`LONG_MIN_SHARE` of the threshold)
with the lead `LONG_LEAD_NO_STORY` (1.0: being first is enough) instead of `LONG_LEAD` (1.15);
one with a story still needs `LONG_LEAD` (docs/search.md, "Round 9: long questions"). On the
five-procedure fixture catalogue (tests/data/search_fixture/).
"""

from types import SimpleNamespace

import pytest
from search_helpers import fixture_catalogue_db

from centre.search import Searcher, model
from centre.search import weights as W
from centre.search.analysis import focus
from centre.search.model import Scored

# every sentence asks (a run of questions): no story
NO_STORY = (
    "Xin hỏi thủ tục đăng ký khai sinh cho cháu nội của tôi thế nào? "
    "Lệ phí là bao nhiêu và làm ở đâu, mất bao lâu thì xong?"
)
# the same request after a sentence of story
STORY = (
    "Mẹ tôi năm nay đã già yếu và ốm đau nhiều năm rồi. "
    "Xin hỏi thủ tục đăng ký khai sinh cho cháu nội của tôi thế nào?"
)


@pytest.fixture(scope="module")
def conn():
    c = fixture_catalogue_db()
    yield c
    c.close()


def _rule(conn, text: str, first: float, second: float) -> str:
    """The hand decision for `text` when its first two candidates (two unrelated procedures)
    score `first` and `second`, both below the threshold."""
    s = Searcher(conn, min_score=0.46, limit=3)
    token = SimpleNamespace(accented=True, folded="thu")  # a Vietnamese word typed with its tones
    r = model.Ranking(text, focus(text), tokens=[token] * W.LONG_QUESTION)
    r.ranked = [Scored("t-mai-tang", score=first), Scored("t-khai-sinh", score=second)]
    s._hand_accept(s._current(), r)
    return r.rule


def test_the_texts_are_long_with_and_without_a_story():
    assert focus(NO_STORY).long and focus(NO_STORY).context == ""
    assert focus(STORY).long and focus(STORY).context


def test_a_long_question_without_a_story_needs_no_lead(conn):
    assert W.LONG_LEAD_NO_STORY < W.LONG_LEAD
    assert _rule(conn, NO_STORY, 0.40, 0.40 / 1.05) == "long_lead"  # close, and still answered
    assert _rule(conn, NO_STORY, 0.40, 0.40) == "long_lead"  # a tie: the first by the score's order


def test_a_long_question_with_a_story_still_needs_the_lead(conn):
    assert _rule(conn, STORY, 0.40, 0.40 / 1.05) == "none"
    assert _rule(conn, STORY, 0.40, 0.40 / 1.2) == "long_lead"


def test_the_long_floor_still_holds_without_a_story(conn):
    floor = W.LONG_MIN_SHARE * 0.46
    assert _rule(conn, NO_STORY, floor - 0.01, 0.0) == "none"


def test_a_question_that_is_not_long_keeps_the_lead(conn):
    short = "Xin hỏi thủ tục đăng ký khai sinh cho cháu nội thế nào?"  # fewer than LONG_WORDS words
    assert not focus(short).long
    assert _rule(conn, short, 0.40, 0.40 / 1.05) == "none"
