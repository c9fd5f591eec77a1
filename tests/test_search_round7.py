"""Search round 7 (issue 12): ranking short and long requests (docs/search.md, "Round 7").

- a long question's request that only asks about a part of a procedure ("Và thời gian thực
  hiện là bao lâu?") names no procedure: the sentence before it joins it (`analysis.naming_words`);
- the age a long question's story speaks of ("Tôi có con trai 4 tuổi.") counts for its request
  when the request says none (`lexical.query_age` via `Searcher._features`).
"""

from __future__ import annotations

import pytest
from search_helpers import shipped_catalogue_db

from centre.config import load_config
from centre.search import Searcher, focus
from centre.search import weights as W
from centre.search.analysis import content_words, naming_words


def test_words_asking_for_a_part_name_no_procedure():
    # "thời gian … bao lâu" asks about the time: five content words, four once the asked part is out
    q = "Và thời gian thực hiện là bao lâu?"
    assert content_words(q) >= W.FOCUS_MIN_WORDS
    assert naming_words(q) < W.FOCUS_MIN_WORDS
    # a sentence that names the procedure keeps its words
    assert naming_words("Tôi muốn đăng ký tạm trú cho mẹ tôi ở cùng gia đình tôi") >= W.FOCUS_MIN_WORDS
    assert naming_words("") == 0


def test_a_request_asking_only_for_a_part_takes_the_sentence_before():
    text = ("Năm nay mẹ tôi về ở cùng gia đình tôi tại phường. Tôi được biết hiện nay có thể làm thủ tục "
            "đăng ký tạm trú qua mạng cho mẹ tôi. Và thời gian thực hiện là bao lâu?")
    f = focus(text)
    assert f.long
    assert "đăng ký tạm trú" in f.request and f.request.endswith("bao lâu?")
    assert "Năm nay mẹ tôi" in f.context


@pytest.fixture(scope="module")
def searcher():
    cfg = load_config()
    conn = shipped_catalogue_db(cfg)
    yield Searcher(conn, min_score=cfg.search.min_score, limit=3)
    conn.close()


def _first(searcher, text: str) -> str:
    """The code of the first candidate the ranking puts first (accepted or not: the order is tested)."""
    r = searcher.rank(text)
    return searcher._current().procs[r.ranked[0].key]["code"]


STORY = ("Tôi có con trai {age} tuổi. Tuần trước tổ trưởng dân phố báo cho gia đình tôi sắp xếp thời gian "
         "đưa cháu ra công an phường. Vậy xin hỏi, tôi có phải làm căn cước cho con không?")


@pytest.mark.parametrize(("age", "code", "other"), [("4", "1.014062", "1.014061"), ("16", "1.014061", "1.014062")])
def test_the_age_told_in_the_story_counts_for_the_request(searcher, age, code, other):
    # under 14: "Cấp thẻ căn cước cho người dưới 14 tuổi"; from 14: "… từ đủ 14 tuổi trở lên"
    text = STORY.format(age=age)
    f = focus(text)
    assert f.long and f"{age} tuổi" not in f.request  # the age is in the story only
    assert _first(searcher, text) == code
    factors = {c["key"]: c["detail"]["factors"].get("age") for c in searcher.explain(text)["candidates"]}
    idx = searcher._current()
    by_code = {idx.procs[k]["code"]: v for k, v in factors.items()}
    assert by_code[code] == W.AGE_MATCH and by_code[other] == W.AGE_CONFLICT


def test_the_request_s_own_age_wins_over_the_story_s(searcher):
    text = ("Gia đình tôi có hai con, cháu lớn 16 tuổi đã có căn cước. Tuần trước tổ trưởng dân phố báo cho "
            "gia đình tôi sắp xếp thời gian. Vậy xin hỏi, tôi có phải làm căn cước cho cháu nhỏ 4 tuổi không?")
    assert _first(searcher, text) == "1.014062"


def test_a_short_request_reads_no_story_age(searcher):
    # nothing but the request: no age, so the two identity-card procedures keep their plain order
    r = searcher.rank("làm căn cước cho con")
    assert not r.focus.context
    top = searcher.explain("làm căn cước cho con")["candidates"][0]
    assert "age" not in top["detail"]["factors"]
