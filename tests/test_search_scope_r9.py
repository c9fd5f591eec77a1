"""Round 9 of out-of-scope refusal (docs/search.md, "Round 9: out-of-scope refusal").

A long question whose story tells the situation in the ward's words (a marriage, a plot of land
with its certificate, a temporary residence) while its asking sentence names a need of another
office (a lawsuit, unpaid wages) gives way to the referral when the story, not the asking
sentence, found the answer (`scope.story_led`, `weights.REFERRAL_STORY_SHARE`). A `mention`
(a document or a place said in passing) is no such need.
"""

from __future__ import annotations

import pytest
from search_helpers import phrases_the_catalogue_says

from centre.search import Searcher, referral_for, scope
from centre.search.referral import ReferralTable
from centre.search.scope import story_led, vetoes
from centre.text import fold


def test_story_led_needs_a_story_a_need_and_the_story_ahead():
    assert story_led(True, True, 0.15, 0.6)
    assert not story_led(False, True, 0.15, 0.6)  # no story: a short request
    assert not story_led(True, False, 0.15, 0.6)  # a mention said in passing
    assert not story_led(True, True, 0.6, 0.6)  # the asking sentence finds it as well
    assert not story_led(True, True, 0.7, 0.3)


def test_a_story_led_answer_gives_way_whatever_its_score():
    assert vetoes("threshold", 0.9, asked=True, said_by_names=False, story=True)
    assert not vetoes("threshold", 0.9, asked=True, said_by_names=False, story=False)
    # its names say the phrase; only the story names it
    assert not vetoes("threshold", 0.9, asked=True, said_by_names=True, story=True)
    assert not vetoes("threshold", 0.9, asked=False, said_by_names=False, story=True)


# invented for this test (not from any query set): the story in the ward's words, the question another office's
QUESTIONS = [
    (
        "Gia đình tôi có mảnh đất ở đã được cấp giấy chứng nhận quyền sử dụng đất từ năm 2010. Năm ngoái"
        " nhà hàng xóm xây tường lấn sang đất nhà tôi gần một mét. Xin hỏi tôi có thể khởi kiện ra tòa án không?",
        "court",
    ),
    (
        "Tôi làm công nhân cho một công ty may ở phường đã 5 năm, có đăng ký tạm trú tại đây. Ba tháng nay"
        " công ty nợ lương không trả. Tôi muốn hỏi đòi lương ở đâu?",
        "labour_dispute",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("text", "office"), QUESTIONS)
def test_a_long_question_asking_another_office_is_referred(
    project_config, shipped_catalogue, monkeypatch, text, office
):
    s = Searcher.from_config(shipped_catalogue, project_config)
    r = s.search(text, 3)
    assert not r.hits and r.referral is not None and r.referral.id == office, (text, r.hits[:1], r.referral)
    monkeypatch.setattr(scope, "REFERRAL_STORY_SHARE", 0.0)  # the rule off: the story's procedure answers
    assert s.search(text, 3).hits, text


# ---- the referral table's round-9 entries: generic offices for professions and everyday needs

ROUND9 = {
    "professional_licence": [
        "chứng chỉ hành nghề",
        "cấp chứng chỉ hành nghề",
        "giấy phép hành nghề",
        "practising certificate",
        "practicing certificate",
        "practice licence",
        "practice license",
        "medical licence",
        "medical license",
    ],
    "bailiff": ["thừa phát lại", "văn phòng thừa phát lại", "lập vi bằng", "bailiff"],
    "lawyer": [
        "thuê luật sư",
        "mời luật sư",
        "tìm luật sư",
        "hire a lawyer",
        "find a lawyer",
        "need a lawyer",
    ],
    "securities": [
        "chứng khoán",
        "tài khoản chứng khoán",
        "mở tài khoản chứng khoán",
        "stock account",
        "securities account",
        "brokerage account",
        "stock market",
    ],
    "travel_tickets": [
        "vé máy bay",
        "đặt vé máy bay",
        "vé tàu",
        "vé tàu hỏa",
        "vé xe khách",
        "plane ticket",
        "flight ticket",
        "air ticket",
        "train ticket",
        "coach ticket",
    ],
    "post": [
        "gửi bưu phẩm",
        "gửi bưu kiện",
        "chuyển phát nhanh",
        "send a parcel",
        "send a package",
        "post a parcel",
        "post a letter",
        "send a letter abroad",
    ],
}


@pytest.mark.parametrize(("office", "phrase"), [(o, p) for o, ps in ROUND9.items() for p in ps])
def test_each_round9_phrase_refers_to_its_office(office, phrase):
    r = referral_for(f"tôi muốn hỏi về {phrase}" if fold(phrase) != phrase else f"question about {phrase}")
    assert r is not None and r.id == office, (phrase, r)


def test_round9_offices_have_both_languages():
    t = ReferralTable.load()
    got = {e.referral.id: e.referral for e in t.entries}
    for office in ROUND9:
        assert (
            got[office].office_vi and got[office].office_en and got[office].office_vi != got[office].office_en
        )


@pytest.mark.parametrize(
    "text",
    [
        "ủy quyền nhận thay bưu phẩm",  # an authorisation the ward certifies: no post office
        "tiền gửi hàng tháng",  # "gửi hàng" is no phrase of the table
    ],
)
def test_round9_words_said_otherwise_are_not_the_new_offices(text):
    r = referral_for(text)
    assert r is None or r.id not in ROUND9, (text, r)


@pytest.mark.slow
def test_no_catalogue_name_or_alias_says_a_round9_phrase(shipped_catalogue):
    said = phrases_the_catalogue_says(shipped_catalogue, [p for phrases in ROUND9.values() for p in phrases])
    assert said == []
