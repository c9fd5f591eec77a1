"""Round 10 of out-of-scope refusal (docs/search.md, "Round 10: out-of-scope refusal").

A request the search refuses and for which the referral table names no office, while it asks
for legal advice rather than a procedure (a dispute, a lawsuit, a penalty, who owns what, a
right, a complaint: the table's `advice` section), is told where to ask it: the state legal aid
centre or the ward's justice officer (`referral.advice_for`, read in `Searcher._decide` after the
decision). It never makes or vetoes an answer: in-scope requests in the same words ("có bị phạt
không", "hàng xóm lấn đất, muốn phường hòa giải") are still answered.

Fast tests read a table written here, the shipped table, or the five-procedure fixture catalogue;
the slow ones search the shipped catalogue with train questions (real_train, real_train3,
short_train10: the sets this round read).
"""

from __future__ import annotations

import pytest
from search_helpers import fixture_catalogue_db

from centre.search import Searcher, referral_for
from centre.search.referral import ReferralTable, advice_for

TABLE = """
referrals:
  - id: court
    match: [khởi kiện, tranh chấp thừa kế]
    office_vi: Tòa án nhân dân khu vực
    office_en: Regional People's Court
advice:
  match: [tranh chấp, bị phạt, là của ai, the right to]
  office_vi: Trung tâm trợ giúp pháp lý
  office_en: The legal aid centre
"""


@pytest.fixture
def table(tmp_path):
    p = tmp_path / "referrals.yaml"
    p.write_text(TABLE, encoding="utf-8")
    return ReferralTable.load(p)


def test_an_advice_phrase_is_found_only_as_advice(table):
    r = table.find_advice("anh em tôi tranh chấp mảnh đất bố mẹ để lại")
    assert r is not None and r.id == "legal_advice" and r.office_en == "The legal aid centre"
    assert r.matched == "tranh chấp" and not r.see_also  # never a "see also" line beside an answer
    assert table.find("anh em tôi tranh chấp mảnh đất bố mẹ để lại") is None  # no office of the table
    assert table.find_advice("đăng ký khai sinh cho con") is None


def test_advice_reads_like_the_table(table):
    assert table.find_advice("tranh chap dat dai voi hang xom").matched == "tranh chap"  # folded, two words
    assert table.find_advice("has the right to inherit the house").matched == "the right to"
    assert table.find_advice("đất không có tranh chấp") is None  # negated: a condition, not a dispute
    assert table.find_advice("đi trễ có bị phạt không") is not None


def test_the_table_office_is_no_advice(table):
    # "tranh chấp thừa kế" is the court's: the table names it, find() answers it
    assert table.find("tranh chấp thừa kế nhà đất").id == "court"


def test_a_table_without_advice_gives_none(tmp_path):
    p = tmp_path / "referrals.yaml"
    p.write_text(TABLE.split("advice:")[0], encoding="utf-8")
    t = ReferralTable.load(p)
    assert t.entries and t.find_advice("anh em tranh chấp") is None


def test_a_malformed_advice_section_is_ignored(tmp_path, caplog):
    p = tmp_path / "referrals.yaml"
    p.write_text(TABLE.split("advice:")[0] + "advice: [tranh chấp]\n", encoding="utf-8")
    t = ReferralTable.load(p)
    assert t.entries and t.find_advice("anh em tranh chấp") is None
    assert "advice section" in caplog.text


def test_the_shipped_advice_has_both_languages():
    a = ReferralTable.load().advice
    assert a is not None
    r = a.referral
    assert r.office_vi and r.office_en and r.office_vi != r.office_en
    assert r.advice_vi and r.advice_en and r.advice_vi != r.advice_en


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Kết hôn khi dưới 18 tuổi bị xử phạt bao nhiêu tiền?", "phạt bao nhiêu"),  # the longest phrase
        ("Bốc thăm chia thừa kế, pháp luật có thừa nhận?", "có thừa nhận"),
        ("Đất này theo luật là của ai?", "là của ai"),
        ("hàng xóm lấn chiếm lối đi chung", "lấn chiếm"),
        ("giờ mẹ kế và 4 anh em tôi đều muốn sở hữu thì giải quyết thế nào?", "giải quyết thế nào"),
        ("May I ask if he has the right to inherit the whole house", "the right to"),
    ],
)
def test_the_shipped_advice_reads_a_legal_advice_question(text, phrase):
    r = advice_for(text)
    assert r is not None and r.matched == phrase, (text, r)


@pytest.mark.parametrize(
    "text",
    [
        "điều kiện đăng ký thường trú",  # "kiện" alone is the "kiện" of "điều kiện"
        "tôi có được đăng ký tạm trú không",  # "có được … không" asks for procedures too
        "Xin chào Luật sư, thủ tục khai sinh cho con",  # the column a letter is addressed to
        "xác nhận đất không có tranh chấp",  # negated
        "chia di sản thừa kế",  # the ward certifies the division of an estate
    ],
)
def test_the_shipped_advice_leaves_requests_for_procedures(text):
    assert advice_for(text) is None, (text, advice_for(text))


@pytest.fixture(scope="module")
def fixture_searcher():
    conn = fixture_catalogue_db()
    yield Searcher(conn, min_score=0.46)
    conn.close()


def test_a_refused_legal_advice_question_is_told_where_to_ask(fixture_searcher):
    r = fixture_searcher.search("hàng xóm lấn chiếm lối đi chung thì giải quyết thế nào", 3)
    assert not r.hits and r.referral is not None and r.referral.id == "legal_advice", r.referral


def test_a_refused_request_the_table_knows_keeps_its_office(fixture_searcher):
    r = fixture_searcher.search("tranh chấp thừa kế giữa anh em", 3)
    assert not r.hits and r.referral is not None and r.referral.id == "court", r.referral
    assert referral_for("tranh chấp thừa kế giữa anh em").id == "court"


def test_an_answer_is_no_legal_advice(fixture_searcher):
    r = fixture_searcher.search("đăng ký khai sinh muộn có bị phạt không", 3)
    assert r.hits and r.referral is None and r.see_also is None, (r.hits[:1], r.referral)


def test_no_advice_with_the_referral_stage_off():
    conn = fixture_catalogue_db()
    try:
        s = Searcher(conn, min_score=0.46, features_off=("referral",))
        r = s.search("hàng xóm lấn chiếm lối đi chung thì giải quyết thế nào", 3)
        assert not r.hits and r.referral is None
    finally:
        conn.close()


# ---- the shipped catalogue, train questions (real_train, real_train3, short_train10)

# real_train: refused before this round with no office named (nothing of the table in it)
REFUSED_TRAIN = (
    "Trong địa bàn thôn xóm chúng tôi gần đây có một dự án xây dựng nhà máy sản xuất tinh bột sắn. Sau khi"
    " nhà máy đi vào hoạt động thì đã xả trực tiếp nước thải không qua xử lý vào kênh hồ làm nước đổi màu và"
    " hôi thối, tôm cá chết hàng loạt. Được biết kênh hồ này cung cấp nước sinh hoạt cho toàn thôn xóm. Nhiều"
    " lần cán bộ đã tới nói chuyện nhưng không thành. Vậy cho chúng tôi hỏi: 1, Trình tự, thủ tục để làm đơn"
    " tố cáo như thế nào, nộp đơn cho ai, cơ quan nào có trách nhiệm xử lý? 2, Chủ nhà máy có phải chịu trách"
    " nhiệm pháp lý không?"
)

# train questions for ward procedures in the words of legal advice: still answered, first hit right
ANSWERED_TRAIN = [
    ("Chậm làm thủ tục đăng ký khai tử có bị phạt không?", {"1.000656"}),  # real_train
    ("Chủ trọ không đăng ký tạm trú phạt bao nhiêu theo quy định mới?", {"1.004194"}),  # real_train2
    ("Cưới trước đăng ký kết hôn sau có hợp pháp không?", {"1.000894"}),  # real_train2
    ("Sổ đỏ sai thông tin phải xử lý như thế nào?", {"1.012796"}),  # real_train3
    ("hàng xóm lấn đất nhà tôi, tôi muốn phường hòa giải", {"1.012812", "1.013967"}),  # short_train10
    ("tranh chấp đất với hàng xóm", {"1.012812", "1.013967"}),  # short_train10
]


@pytest.fixture(scope="module")
def shipped_searcher(project_config, shipped_catalogue):
    return Searcher.from_config(shipped_catalogue, project_config)


@pytest.mark.slow
def test_a_refused_train_question_asking_legal_advice_is_told_where_to_ask(shipped_searcher):
    assert advice_for(REFUSED_TRAIN) is not None and referral_for(REFUSED_TRAIN) is None
    r = shipped_searcher.search(REFUSED_TRAIN, 3)
    assert not r.hits and r.referral is not None and r.referral.id == "legal_advice", (r.hits[:1], r.referral)


@pytest.mark.slow
@pytest.mark.parametrize(("text", "expect"), ANSWERED_TRAIN)
def test_a_procedure_asked_in_legal_words_is_still_answered(shipped_searcher, text, expect):
    assert advice_for(text) is not None  # the words of legal advice are there…
    r = shipped_searcher.search(text, 3)
    assert r.hits and (r.hits[0].code or r.hits[0].key) in expect, (text, [h.code for h in r.hits])
    assert r.referral is None  # …and no office elsewhere is named beside the answer
