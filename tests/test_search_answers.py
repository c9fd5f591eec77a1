"""What a question asks, on the shipped catalogue: the part it asks about (`Hit.answers`) and
words that only frame the question ("mất bao lâu": how long it takes, not a lost paper).
Found by driving the real kiosk through citizens' journeys (tests/test_kiosk_journeys.py)."""

from __future__ import annotations

import pytest
from search_helpers import shipped_catalogue_db

from centre.config import load_config
from centre.search import Searcher
from centre.search.model import ALWAYS_ANSWERED

BIRTH, BIRTH_AGAIN = "1.001193", "1.004884"
MARRIAGE, MARRIAGE_AGAIN = "1.000894", "1.004746"


@pytest.fixture(scope="module")
def searcher():
    conn = shipped_catalogue_db(load_config())
    yield Searcher(conn)
    conn.close()


def _first(searcher, q):
    hits = searcher.search(q, limit=3).hits
    assert hits, q
    return hits[0]


@pytest.mark.parametrize("q", ["đăng ký khai sinh ở đâu", "làm giấy khai sinh nộp ở đâu", "dang ky ket hon o dau"])
def test_where_is_answered_by_the_counter_even_without_an_agency_text(searcher, q):
    hit = _first(searcher, q)
    assert hit.code in (BIRTH, MARRIAGE), (q, hit.code)
    assert "place" in hit.answers, (q, hit.answers)


def test_place_is_the_only_part_answered_without_a_passage(searcher):
    assert ALWAYS_ANSWERED == {"place"}
    hit = _first(searcher, "đăng ký khai sinh hết bao nhiêu tiền")
    assert hit.answers == ["fee"] and hit.passages.get("fee"), (hit.answers, hit.passages)


@pytest.mark.parametrize(("q", "code", "part"), [
    ("đăng ký khai sinh mất bao lâu", BIRTH, "time"),
    ("đăng ký kết hôn mất bao lâu", MARRIAGE, "time"),
    ("đăng ký kết hôn có mất phí không", MARRIAGE, "fee"),
])
def test_mat_that_frames_a_question_is_not_a_lost_paper(searcher, q, code, part):
    hit = _first(searcher, q)
    assert hit.code == code, (q, hit.code, hit.name)
    assert part in hit.answers, (q, hit.answers)


@pytest.mark.parametrize(("q", "plain"), [("làm lại giấy khai sinh bị mất", BIRTH), ("bị mất giấy đăng ký kết hôn", MARRIAGE)])
def test_a_lost_paper_still_reads_as_lost(searcher, q, plain):
    assert _first(searcher, q).code != plain, q
