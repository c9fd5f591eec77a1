"""'See also: where to go' beside answers (issue 12 item 5, extended), on the shipped catalogue.

A request that names something of the referral table (data/referrals.yaml) and still finds
procedures keeps them, and `SearchResult.see_also` says where that thing itself is handled
("ly hôn": the ward notes a divorce granted abroad; a divorce itself is filed at the court).
`referral` keeps its meaning: "no match", where to go instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from search_helpers import shipped_catalogue_db, shipped_config_file

from centre.search import Searcher
from kiosk.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def searcher(project_config):
    c = shipped_catalogue_db(project_config)
    yield Searcher.from_config(c, project_config)
    c.close()


@pytest.mark.parametrize("text", ["ly hôn", "ly hon", "tôi muốn ly hôn thì làm thế nào"])
def test_divorce_answers_with_procedures_and_the_court(searcher, text):
    r = searcher.search(text, 3)
    assert r.hits, text
    assert "ly hôn" in r.hits[0].name.lower()  # the ward's own procedure (a divorce abroad noted)
    assert r.referral is None  # an answer: no "no match"
    assert r.see_also is not None and r.see_also.id == "divorce"
    assert "Tòa án" in r.see_also.office_vi and "Court" in r.see_also.office_en
    assert r.see_also.advice_vi and r.see_also.advice_en
    assert r.to_dict()["see_also"]["id"] == "divorce"


def test_in_scope_request_has_no_see_also(searcher):
    for text in ("đăng ký khai sinh", "dang ky ket hon", "khai tử", "birth registration"):
        r = searcher.search(text, 3)
        assert r.hits, text
        assert r.see_also is None and r.referral is None, text
        assert r.to_dict()["see_also"] is None


def test_out_of_scope_request_is_no_match_with_referral_as_before(searcher):
    for text, ref in (("làm hộ chiếu", "passport"), ("đổi bằng lái xe", "driving_licence"), ("divorce", "divorce")):
        r = searcher.search(text, 3)
        assert r.hits == [], text
        assert r.referral is not None and r.referral.id == ref, text
        assert r.see_also is None, text


def test_only_the_request_counts_not_the_story(searcher):
    """A long question whose story mentions a divorce but asks for a birth certificate."""
    text = ("Vợ chồng tôi đã ly hôn từ năm ngoái và con ở với tôi. "
            "Bây giờ tôi muốn đăng ký khai sinh cho con thì cần giấy tờ gì?")
    e = searcher.explain(text)
    assert "ly hôn" not in e["request"].lower() and e["context"]  # the focus left the story out
    r = searcher.search(text, 3)
    assert r.hits and "khai sinh" in r.hits[0].name.lower()
    assert r.see_also is None


def test_a_long_question_gets_no_see_also(searcher):
    """A long question whose request names a divorce gets its procedure and no line: a long
    question's asking sentence names courts, hospitals, salaries as part of the situation (here
    the divorce is already done abroad; the court would be beside the point)."""
    text = ("Tôi lấy chồng người Hàn Quốc, sống bên đó mấy năm rồi về nước. Nay tôi muốn ghi vào sổ hộ "
            "tịch việc ly hôn đã giải quyết ở nước ngoài thì làm thế nào?")
    e = searcher.explain(text)
    assert "ly hôn" in e["request"] and e["context"]
    r = searcher.search(text, 3)
    assert r.hits and r.hits[0].key == "2.000554"  # Ghi vào Sổ hộ tịch việc ly hôn… ở nước ngoài
    assert r.see_also is None and e["see_also"] is None
    short = searcher.search("ghi chú ly hôn ở nước ngoài", 3)  # the same need, typed short: the line shows
    assert short.hits and short.see_also is not None and short.see_also.id == "divorce"


def test_procedure_code_and_empty_text_have_no_see_also(searcher):
    assert searcher.search("1.001193").see_also is None
    assert searcher.search("").see_also is None


def test_referral_stage_off_means_no_see_also(searcher):
    off = Searcher(searcher.conn, min_score=searcher.min_score, features_off=("referral",))
    r = off.search("ly hôn", 3)
    assert r.hits and r.see_also is None


@pytest.mark.parametrize("text", ["ly hôn", "mất hộ chiếu", "đăng ký khai sinh", "làm hộ chiếu", "passport", ""])
def test_explain_and_search_agree_on_see_also(searcher, text):
    r = searcher.search(text, 3)
    e = searcher.explain(text)
    assert e["see_also"] == (r.see_also.to_dict() if r.see_also else None)
    assert e["referral"] == (r.referral.to_dict() if r.referral else None) or r.hits


@pytest.fixture
def config_file(tmp_path) -> Path:
    """The shipped config.yaml with its database in a temporary folder (catalogue from the project)."""
    return shipped_config_file(tmp_path)


def test_cli_json_shape_unchanged_and_human_output_shows_see_also(config_file, capsys):
    assert main(["-c", str(config_file), "search", "--json", "--limit", "3", "ly hôn"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1  # one JSON array a line, as before
    rows = json.loads(out)
    assert isinstance(rows, list) and rows
    assert all(isinstance(h, dict) and {"code", "name", "official_name", "score"} <= set(h) for h in rows)
    assert "Tòa án" not in out  # the see-also is not part of the JSON rows
    assert main(["-c", str(config_file), "search", "--limit", "3", "ly hôn"]) == 0
    out = capsys.readouterr().out
    assert "see also" in out and "Tòa án nhân dân" in out
    assert main(["-c", str(config_file), "search", "đăng ký khai sinh"]) == 0
    assert "see also" not in capsys.readouterr().out
    assert main(["-c", str(config_file), "search", "--explain", "ly hôn"]) == 0
    assert json.loads(capsys.readouterr().out)["see_also"]["id"] == "divorce"
