"""Round 8 of out-of-scope refusal and of the word knowledge (docs/search.md, "Round 8: out-of-scope
refusal, English and unaccented requests"): the referral table's new entries (an ambulance, other
company forms, utility connections, home internet, emergency care), the bank's loan said whole
("loan" alone is also the syllable of "Đài Loan" and the purpose of an in-scope mortgage), and the
lexicon's land types (thổ cư, đất vườn) and English words (café, last name, died).

Fast tests read the shipped table and lexicon; the slow ones check the new phrases against the
shipped catalogue's names and aliases and one search end to end.
"""

from __future__ import annotations

import pytest
from search_helpers import phrases_the_catalogue_says

from centre.search import Searcher, referral_for
from centre.search.lexical import Lexicon
from centre.text import fold

# the phrases round 8 added, by the entry that now holds them
ROUND8 = {
    "emergency": [
        "gọi cấp cứu",
        "xe cấp cứu",
        "gọi xe cấp cứu",
        "cấp cứu 115",
        "call an ambulance",
        "ambulance",
    ],
    "hospital": ["cấp cứu", "emergency room"],
    "company": [
        "doanh nghiệp tư nhân",
        "công ty trách nhiệm hữu hạn",
        "công ty hợp danh",
        "start a company",
        "open a company",
        "limited liability company",
        "joint stock company",
        "private enterprise",
    ],
    "utilities": [
        "điện lực",
        "lắp điện",
        "lắp đặt điện",
        "cắt điện",
        "đồng hồ nước",
        "lắp đồng hồ nước",
        "power outage",
        "power cut",
        "electricity connection",
        "water connection",
        "công tơ điện",
        "công tơ nước",
        "giá điện",
        "giá nước",
        "electricity meter",
        "water meter",
    ],
    "telecom": ["lắp mạng", "lắp internet", "lắp wifi", "cáp quang", "internet connection"],
    "passport": ["miễn thị thực", "thị thực điện tử", "visa điện tử", "e-visa", "evisa", "visa on arrival"],
    "bank": [
        "bank loan",
        "take out a loan",
        "apply for a loan",
        "personal loan",
        "loan from a bank",
        "loan from the bank",
    ],
}


@pytest.mark.parametrize(("office", "phrase"), [(o, p) for o, ps in ROUND8.items() for p in ps])
def test_each_round8_phrase_refers_to_its_office(office, phrase):
    r = referral_for(f"tôi muốn hỏi về {phrase}" if fold(phrase) != phrase else f"please help, {phrase}")
    assert r is not None and r.id == office, (phrase, r)


@pytest.mark.parametrize(
    ("text", "office"),
    [
        ("Nhà tôi có người bị ngất, gọi xe cấp cứu ở đâu?", "emergency"),
        ("Thành lập doanh nghiệp tư nhân cần giấy tờ gì?", "company"),
        ("how do I start a company in Vietnam", "company"),
        ("Nhà mới xây, làm sao để lắp đồng hồ nước?", "utilities"),
        ("Khu tôi bị cắt điện cả ngày, phản ánh ở đâu?", "utilities"),
        ("muốn lắp internet cáp quang cho nhà mới", "telecom"),
        ("can I get a bank loan as a foreigner", "bank"),
    ],
)
def test_questions_of_the_round8_needs_find_their_office(text, office):
    r = referral_for(text)
    assert r is not None and r.id == office, (text, r)


@pytest.mark.parametrize(
    "text",
    [
        "mortgage my land to get a loan",  # the mortgage is registered here; the loan is its purpose
        "Bạn tôi là người Đài Loan muốn kết hôn với tôi",  # "loan" is a Vietnamese syllable too
        "Chị Loan nhờ tôi hỏi thủ tục khai sinh",
        "đăng ký thành lập hộ kinh doanh quán cà phê",  # a household business is the ward's
    ],
)
def test_round8_in_scope_needs_are_no_referral(text):
    assert referral_for(text) is None, text


def test_round8_offices_have_both_languages():
    r = referral_for("gọi xe cấp cứu")
    assert r.office_vi and r.office_en and r.advice_vi and r.advice_en
    assert "115" in r.office_vi and "115" in r.office_en


@pytest.mark.parametrize(
    ("key", "target"),
    [
        (("tho", "cu"), ("đất", "ở")),
        (("dat", "tho", "cu"), ("đất", "ở")),
        (("dat", "vuon"), ("đất", "nông", "nghiệp")),
        (("cafe",), ("household", "business")),
        (("last", "name"), ("name",)),
        (("died",), ("death",)),
        (("proof", "of", "address"), ("confirmation", "of", "residence")),
        (("residence", "certificate"), ("confirmation", "of", "residence")),
    ],
)
def test_round8_lexicon_readings(key, target):
    readings = Lexicon.load().folded.get(key)
    assert readings, key
    assert any(tuple(a for a, _ in r) == target for r in readings), (key, readings)



@pytest.mark.slow
def test_no_catalogue_name_or_alias_says_a_round8_phrase(shipped_catalogue):
    said = phrases_the_catalogue_says(shipped_catalogue, [p for phrases in ROUND8.values() for p in phrases])
    assert said == []


@pytest.mark.slow
def test_a_mortgage_for_a_loan_is_answered_not_sent_to_the_bank(project_config, shipped_catalogue):
    s = Searcher.from_config(shipped_catalogue, project_config)
    r = s.search("mortgage my land to get a loan")
    assert r.referral is None
    assert r.hits and r.hits[0].code == "1.011441"


# ---- `mention` phrases (a document or a place named in passing): a referral, but no "see also"


@pytest.mark.parametrize(
    ("text", "office"),
    [
        ("certified copy of my passport", "passport"),
        ("chứng thực bản sao hộ chiếu", "passport"),
        ("lĩnh lương hưu qua tài khoản ngân hàng", "bank"),
        ("ốm nằm viện có được hưởng chế độ ốm đau không", "hospital"),
        ("công chứng bản photo bằng tốt nghiệp", "school"),
        ("confirmation of where I live for a bank", "bank"),
        ("có cần khai báo tạm vắng khi xuất cảnh không", "passport"),
        ("thanh toán chi phí khám chữa bệnh bảo hiểm y tế", "hospital"),
    ],
)
def test_a_mention_still_refers_but_is_no_see_also(text, office):
    r = referral_for(text)
    assert r is not None and r.id == office, (text, r)
    assert r.see_also is False, text
    assert "see_also" not in r.to_dict()  # the kiosk's JSON is unchanged


@pytest.mark.parametrize(
    ("text", "office"),
    [
        ("mất hộ chiếu", "passport"),  # the report here, a new passport at immigration
        ("làm hộ chiếu", "passport"),
        ("mở tài khoản ngân hàng", "bank"),
        ("open a bank account", "bank"),
        ("cấp lại bằng tốt nghiệp", "school"),
        ("where is the nearest hospital", "hospital"),
        ("thủ tục xuất cảnh", "passport"),
    ],
)
def test_a_need_is_a_see_also(text, office):
    r = referral_for(text)
    assert r is not None and r.id == office and r.see_also is True, (text, r)


def test_a_need_wins_a_tie_with_a_mention(tmp_path):
    from centre.search.referral import ReferralTable

    p = tmp_path / "referrals.yaml"
    p.write_text(
        "referrals:\n"
        "  - {id: a, match: [x y], mention: [y z], office_vi: A}\n"
        "  - {id: b, match: [y z], office_vi: B}\n",
        encoding="utf-8",
    )
    t = ReferralTable.load(p)
    assert t.find("x y").see_also and t.find("x y").id == "a"
    r = t.find("y z")
    assert r.id == "b" and r.see_also  # the same length: the need (b) before the mention (a)
    r = t.find("w y z")
    assert r.id == "b"


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        "certified copy of my passport",
        "lĩnh lương hưu qua tài khoản ngân hàng",
        "công chứng bản photo bằng tốt nghiệp",
    ],
)
def test_an_answer_naming_a_document_in_passing_has_no_see_also(project_config, shipped_catalogue, text):
    s = Searcher.from_config(shipped_catalogue, project_config)
    r = s.search(text, 3)
    assert r.hits, text
    assert r.see_also is None and s.explain(text)["see_also"] is None, text


@pytest.mark.parametrize(
    "text",
    [
        "converting a foreign driver’s license to a Vietnamese one",  # U+2019, as web pages and phones type it
        "converting a foreign driver‘s license",
        "converting a foreign driverʼs license",
    ],
)
def test_typographic_apostrophes_read_as_the_ascii_one(text):
    r = referral_for(text)
    assert r is not None and r.id == "driving_licence" and r.matched == "driver's license", (text, r)
