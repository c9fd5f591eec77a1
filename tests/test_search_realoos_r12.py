"""Round 12 (real out-of-scope questions): a question that asks for a legal judgement.

Stage `judgement` (docs/search.md, "Round 12: what a real question asks"): a long question
accepted only by the long-question lead (below the threshold, the weakest acceptance) whose
request asks whether something is lawful, a violation or valid (`words.yaml: judgement_asks`,
`analysis.asks_judgement`) is refused and told where to ask for legal advice (the referral
table's `advice` section, `referral.legal_advice`). An answer at the threshold is kept: the sets
label such questions asked in a ward procedure's words with that procedure.

Fast tests: the pure reading, the decision's own test, the referral. Slow: train questions that
ask for a judgement at the threshold are still answered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from search_helpers import fixture_catalogue_db, train_question

from centre.search import Searcher
from centre.search.analysis import asks_judgement, focus
from centre.search.model import STAGES, Ranking
from centre.search.referral import legal_advice

ROOT = Path(__file__).resolve().parent.parent


# ---- what the question asks


@pytest.mark.parametrize("q", [
    "Trưng bày đao, kiếm trong nhà có vi phạm pháp luật?",
    "Cưới trước đăng ký kết hôn sau có hợp pháp không?",
    "Vậy việc phường thu tiền này có đúng không?",
    "Di chúc viết tay không công chứng có hiệu lực không?",
    "hop dong nay co vo hieu khong",  # unaccented
    "Is it legal to rent out a room without registering?",
])
def test_a_question_asking_for_a_legal_judgement(q):
    assert asks_judgement(q)


@pytest.mark.parametrize("q", [
    "Trong trường hợp này, tôi cần làm gì để bảo vệ quyền lợi hợp pháp của mình?",  # asks what to do
    "Thủ tục đăng ký kết hôn cần những giấy tờ gì?",
    "Chậm làm thủ tục đăng ký khai tử có bị phạt không?",  # a penalty: not a judgement (labelled in scope)
    "Mức trợ cấp thờ cúng liệt sĩ mỗi năm là bao nhiêu?",
    "",
])
def test_a_question_asking_for_something_else(q):
    assert not asks_judgement(q)


# ---- the decision


def _ranking(q: str, rule: str) -> Ranking:
    r = Ranking(q, focus(q), rule=rule, accepted=1)
    return r


LONG = ("Nhà tôi ở mặt phố, hàng xóm dựng rạp đám cưới chiếm hết lòng đường suốt ba ngày, xe cộ không đi "
        "được. Tôi muốn hỏi việc dựng rạp như vậy có vi phạm pháp luật không?")


def test_a_long_lead_answer_gives_way_to_a_judgement(fixture_searcher_3):
    assert "judgement" in STAGES
    assert fixture_searcher_3._judgement(_ranking(LONG, "long_lead"))


def test_a_threshold_answer_is_kept(fixture_searcher_3):
    assert not fixture_searcher_3._judgement(_ranking(LONG, "threshold"))


def test_a_long_lead_answer_to_a_procedure_question_is_kept(fixture_searcher_3):
    q = LONG.replace("có vi phạm pháp luật không", "phải xin phép ở đâu")
    assert not fixture_searcher_3._judgement(_ranking(q, "long_lead"))


def test_the_stage_switched_off():
    conn = fixture_catalogue_db()
    try:
        s = Searcher(conn, min_score=0.46, limit=3, features_off=("judgement",))
        assert not s._judgement(_ranking(LONG, "long_lead"))
    finally:
        conn.close()


def test_the_refusal_names_legal_aid():
    r = legal_advice()
    assert r is not None and r.id == "legal_advice" and not r.see_also
    assert r.office_vi and r.office_en and r.advice_vi and r.advice_en


# ---- the shipped catalogue, train questions (slow)


@pytest.mark.slow
def test_a_judgement_asked_in_a_procedures_words_is_still_answered(shipped_searcher):
    """real_train2: labelled with the marriage registration, answered at the threshold."""
    q = train_question("search_real/train2.yaml", "Cưới trước đăng ký kết hôn sau có hợp pháp không?")
    hits = shipped_searcher.search(q, 3).hits
    assert hits and hits[0].code == "1.000894", [h.code for h in hits]
