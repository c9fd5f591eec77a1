"""Round 11 (long questions and their refusal): what no longer vetoes an answer.

Two changes (docs/search.md, "Round 11: long questions and their refusal"):

- A long question accepted by the long-question lead (below the threshold) gives way to a need
  of the referral table, in its request or its story, but no longer to a `mention`: a document
  or a place named in passing ("lĩnh lương hưu qua tài khoản ngân hàng") is part of the story,
  not a need (`scope.vetoes`, `need`). A short request's weak answer still gives way to a mention
  it says (the rule below the lead's is unchanged).
- The referral table no longer names the bank for a bare "rút tiền" (citizens ask for the one-off
  social insurance payment as "rút tiền BHXH một lần", a ward procedure) nor the social insurance
  office for a bare English "pension" (authorising someone to collect a pension, a survivor's
  allowance are ward procedures); the bank's own withdrawals and the pension's amount and the
  retirement itself stay referred.

Fast tests: the pure rule, the decision's own call on the fixture catalogue, the shipped table.
Slow ones: the shipped catalogue with train questions (real_train, real_train2, spoken,
short_train10) that failed before, and out-of-scope ones still refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from search_helpers import train_question

from centre.search import referral_for
from centre.search.analysis import focus
from centre.search.model import Ranking, Scored
from centre.search.referral import Referral
from centre.search.scope import vetoes

ROOT = Path(__file__).resolve().parent.parent


# ---- the pure rule


def test_a_need_still_overturns_the_long_lead():
    assert vetoes("long_lead", 0.35, asked=False, said_by_names=False, need=True)
    assert vetoes("long_lead", 0.35, asked=True, said_by_names=True, need=True)  # the names do not save it


def test_a_mention_does_not_overturn_the_long_lead():
    assert not vetoes("long_lead", 0.35, asked=True, said_by_names=False, need=False)
    assert not vetoes("long_lead", 0.35, asked=False, said_by_names=False, need=False)


def test_a_mention_still_weighs_against_a_weak_answer_at_the_threshold():
    # a short request's weak answer (below REFERRAL_VETO) gives way to a mention it says (round 8)
    assert vetoes("threshold", 0.5, asked=True, said_by_names=False, need=False)
    assert not vetoes("threshold", 0.7, asked=True, said_by_names=False, need=False)


# ---- the decision passes the referral's kind


def _ranking(see_also: bool) -> tuple[Ranking, Scored]:
    q = "Mẹ tôi đã già yếu, đi lại khó khăn. Tôi muốn hỏi thủ tục lĩnh thay tiền qua tài khoản ngân hàng"
    r = Ranking(q, focus(q))
    r.referral = Referral("bank", "Chi nhánh ngân hàng", "A bank branch", "", "", "tài khoản ngân hàng", see_also)
    return r, Scored("any", lexical=0.3, context=0.3, score=0.33)


def test_the_decision_spares_a_long_lead_answer_from_a_mention(fixture_searcher_3):
    s = fixture_searcher_3
    idx = s._current()
    r, top = _ranking(see_also=False)
    assert not s._vetoed(idx, r, top, asked=True, rule="long_lead")
    r, top = _ranking(see_also=True)  # the same phrase as a need of the table: it vetoes
    assert s._vetoed(idx, r, top, asked=True, rule="long_lead")


# ---- the shipped table


def test_a_bare_withdrawal_is_no_bank_need():
    assert referral_for("Còn muốn rút tiền BHXH một lần thì cần những thủ tục gì?") is None
    assert referral_for("rút tiền bảo hiểm xã hội một lần") is None


def test_the_banks_own_withdrawals_are_still_referred():
    for q in ("rút tiền mặt ở cây ATM bị nuốt thẻ", "muốn rút tiền tiết kiệm trước hạn",
              "Sổ tiết kiệm đứng tên chồng, vợ muốn rút tiền phải làm thế nào?"):
        r = referral_for(q)
        assert r is not None and r.id == "bank", q


def test_a_bare_english_pension_is_no_referral():
    assert referral_for("Is it permissible to authorize someone else to receive pension benefits?") is None


def test_the_pension_amount_and_retirement_are_still_referred():
    for q in ("How is my pension amount calculated?", "What is the retirement age in Vietnam?",
              "Tôi muốn biết mức lương hưu của tôi"):
        r = referral_for(q)
        assert r is not None and r.id == "social_insurance_book", q


# ---- the shipped catalogue, train questions (slow)


@pytest.mark.slow
def test_a_long_question_asking_for_the_one_off_payment_is_answered(shipped_searcher):
    """real_train2: refused before round 11 (the bank's "rút tiền" vetoed 1.001613)."""
    q = train_question("search_real/train2.yaml", "Trước tôi làm ở một công ty và đóng BHXH được 11 tháng")
    hits = shipped_searcher.search(q, 3).hits
    assert hits and hits[0].code == "1.001613", [h.code for h in hits]


@pytest.mark.slow
def test_authorising_someone_to_collect_a_pension_is_answered(shipped_searcher):
    """real_train: refused before round 11 (English "pension" vetoed 1.001601)."""
    q = train_question("search_real/train.yaml", "Is it permissible to authorize someone else to receive pension")
    hits = shipped_searcher.search(q, 3).hits
    assert hits and hits[0].code == "1.001601", [h.code for h in hits]


@pytest.mark.slow
@pytest.mark.parametrize("q, office", [
    ("rut tien luong huu o buu dien", "social_insurance_book"),  # spoken: still refused, the pension named
    ("mở tài khoản ngân hàng", "bank"),  # short_train10
    ("Sổ tiết kiệm đứng tên chồng, vợ muốn rút tiền phải làm thế nào?", "bank"),  # real_train3
])
def test_out_of_scope_withdrawals_are_still_refused(shipped_searcher, q, office):
    res = shipped_searcher.search(q, 3)
    assert not res.hits and res.referral is not None and res.referral.id == office, [h.code for h in res.hits]
