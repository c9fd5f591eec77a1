"""Out-of-scope refusal (centre/search/scope.py, issue 12 round 4): when an answer the ranking
found gives way to the referral table.

Pure rules and the phrase test on the five-procedure fixture catalogue; the two decisions on
the shipped catalogue (slow: the real catalogue and e5).
"""

from __future__ import annotations

import pytest
from search_helpers import fixture_catalogue_db, shipped_catalogue_db

from centre.search import Searcher
from centre.search import model as search_model
from centre.search import weights as W
from centre.search.scope import evidence_within, names_say, vetoes


@pytest.fixture(scope="module")
def fixture_searcher():
    c = fixture_catalogue_db()
    yield Searcher(c, min_score=0.46, limit=3)
    c.close()


def test_a_long_lead_answer_gives_way_to_any_referral_named():
    # accepted below the threshold: the referral wins whether the request or the story names it,
    # whatever the procedure's names say
    assert vetoes("long_lead", 0.35, asked=True, said_by_names=True)
    assert vetoes("long_lead", 0.35, asked=False, said_by_names=False)


def test_a_threshold_answer_gives_way_only_when_weak_and_asked_for_in_words_it_lacks():
    weak, strong = W.REFERRAL_VETO - 0.01, W.REFERRAL_VETO
    assert vetoes("threshold", weak, asked=True, said_by_names=False)
    assert not vetoes("threshold", weak, asked=True, said_by_names=True)  # "mất hộ chiếu" is a procedure
    assert not vetoes("threshold", weak, asked=False, said_by_names=False)  # only the story names it
    assert not vetoes("threshold", strong, asked=True, said_by_names=False)


def test_names_say_a_phrase_only_word_for_word_in_the_display_name_and_a_name(fixture_searcher):
    with fixture_searcher._lock:
        idx = fixture_searcher._current()
    assert names_say(idx, "t-tam-tru", "tạm trú")  # "Đăng ký tạm trú"
    assert names_say(idx, "t-tam-tru", "TAM TRU")  # folded as the index folds
    assert not names_say(idx, "t-tam-tru", "thẻ tạm trú")  # a residence card: "thẻ" is not in the name
    assert not names_say(idx, "t-tam-tru", "trú tạm")  # in order
    assert not names_say(idx, "t-tam-tru", "ở trọ")  # said by an alias only ("đăng ký ở trọ")
    assert not names_say(idx, "t-khai-sinh", "tạm trú")  # another procedure's words
    assert not names_say(idx, "no-such-key", "tạm trú")


def test_an_answer_found_only_by_the_referral_words_gives_way_whatever_its_score():
    # round 5: the answer's evidence in the request is the referral phrase's words
    strong = W.REFERRAL_VETO + 0.3
    assert vetoes("threshold", strong, asked=True, said_by_names=False, within=True)
    assert not vetoes("threshold", strong, asked=True, said_by_names=True, within=True)  # its names say it
    assert not vetoes("threshold", strong, asked=False, said_by_names=False, within=True)  # only the story
    assert not vetoes("threshold", strong, asked=True, said_by_names=False, within=False)


def test_evidence_within_reads_which_request_words_the_answer_explains(fixture_searcher):
    r = fixture_searcher.rank("thẻ tạm trú")
    top = r.ranked[0]
    assert top.key == "t-tam-tru" and evidence_within(r.tokens, top.phrase, "thẻ tạm trú")
    assert r.rule == "referral" and r.referral.id == "passport"
    r = fixture_searcher.rank("đăng ký tạm trú cho con")  # "đăng ký" is evidence beyond "tạm trú"
    assert not evidence_within(r.tokens, r.ranked[0].phrase, "tạm trú") and r.rule == "threshold"
    r = fixture_searcher.rank("khai sinh")
    assert not evidence_within(r.tokens, r.ranked[0].phrase, "thẻ tạm trú")  # no word of the phrase
    assert not evidence_within(r.tokens, None, "thẻ tạm trú")  # no phrase: the text or the story found it


@pytest.fixture(scope="module")
def real_searcher(project_config):
    c = shipped_catalogue_db(project_config)
    yield Searcher.from_config(c, project_config)
    c.close()


@pytest.mark.slow
def test_a_lawsuit_answered_only_by_the_long_rule_is_referred_to_the_court(real_searcher):
    q = "Muốn khởi kiện công ty để đòi tiền lương phải làm thế nào?"
    r = real_searcher.search(q)
    assert r.hits == [] and r.referral is not None and r.referral.id == "court"
    e = real_searcher.explain(q)
    assert e["rule"] == "referral" and e["candidates"][0]["score"] < real_searcher.min_score
    # the switch: without the referral stage the long-question rule answers it
    off = Searcher(real_searcher.conn, min_score=real_searcher.min_score, limit=3, features_off=("referral",))
    assert off.explain(q)["rule"] == "long_lead"


@pytest.mark.slow
def test_long_lead_answers_without_a_referral_and_procedures_named_by_a_referral_stay(real_searcher):
    # long-lead answers whose question names nothing of the referral table are kept
    assert [h.code for h in real_searcher.search("Đang mang dân tộc bố, có được đổi sang dân tộc của mẹ?").hits][:1] \
        == ["1.004859"]
    # the catalogue's own procedures whose names say a referral phrase are answers
    assert [h.code for h in real_searcher.search("mất hộ chiếu").hits][:1] == ["1.010386"]
    assert [h.code for h in real_searcher.search("ghi chú ly hôn ở nước ngoài").hits][:1] == ["2.000554"]


def test_military_service_deferral_is_referred_but_first_registration_is_not():
    from centre.search import referral_for

    assert referral_for("Thủ tục xin tạm hoãn nghĩa vụ quân sự").id == "military_service"
    assert referral_for("miễn nghĩa vụ quân sự cho con trai").id == "military_service"
    assert referral_for("đăng ký nghĩa vụ quân sự lần đầu") is None  # a procedure of the catalogue


def test_names_say_compares_tones_when_the_phrase_has_them(fixture_searcher):
    with fixture_searcher._lock:
        idx = fixture_searcher._current()
    # "Đăng ký tạm trú": typed with diacritics, tones count (as the referral table matches them)
    assert names_say(idx, "t-tam-tru", "tạm trú")
    assert not names_say(idx, "t-tam-tru", "tấm trụ")  # the same letters, other words
    assert names_say(idx, "t-tam-tru", "tam tru")  # typed without diacritics: folded


@pytest.mark.slow
def test_a_tax_question_is_no_rent_procedure(real_searcher):
    # "thuế" (tax) folds to "thue" like "thuê" (rent) of "miễn giảm tiền thuê nhà"
    r = real_searcher.search("Khi nào được miễn thuế nếu bán nhà?")
    assert r.hits == [] and r.referral is not None and r.referral.id == "tax"


@pytest.mark.slow
def test_a_strong_answer_found_only_by_the_referral_words_is_referred(real_searcher, monkeypatch):
    q = "Thủ tục xin tạm hoãn nghĩa vụ quân sự mới nhất 2025"  # "nghĩa vụ quân sự" found "Đăng ký NVQS lần đầu"
    r = real_searcher.search(q)
    assert r.hits == [] and r.referral is not None and r.referral.id == "military_service"
    assert real_searcher.explain(q)["rule"] == "referral"
    # answers with evidence beyond the referral's words stay ("lĩnh thay", "mua bán nhà")
    assert [h.code for h in real_searcher.search("lĩnh thay lương hưu").hits][:1] == ["1.001601"]
    assert real_searcher.search("công chứng hợp đồng mua bán nhà").hits
    # without the round-5 rule the procedure answers it (its score is above REFERRAL_VETO)
    monkeypatch.setattr(search_model, "evidence_within", lambda *a: False)
    e = real_searcher.explain(q)
    assert e["rule"] == "threshold" and e["candidates"][0]["score"] >= W.REFERRAL_VETO
