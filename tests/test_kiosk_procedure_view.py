"""The one procedure view model (centre/procedure_view.py) on the real catalogue, the phone page
(`/p/<key>` on the staff server, the QR of the kiosk's detail page) and `kiosk catalogue show`."""

from __future__ import annotations

import sqlite3

import pytest

from centre.catalogue import Catalogue, ensure_catalogue
from centre.procedure_view import ALOUD_WORDS, SUMMARY_BUDGET, FeeTable, render_text, view


@pytest.fixture(scope="module")
def catalogue(project_config):
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.row_factory = sqlite3.Row
    ensure_catalogue(conn, project_config)
    cat = Catalogue(conn)
    return [cat.get(p.key) for p in cat.procedures()]


@pytest.fixture(scope="module")
def fees(project_config):
    return FeeTable.load(project_config.path("data/fees.yaml"))


def test_summary_card_fits_on_every_procedure(catalogue, fees):
    """Issue 14: a citizen reads at most 12 lines before 'what to bring' is answered."""
    assert len(catalogue) >= 300
    worst = max(catalogue, key=lambda p: view(p, "vi", fees=fees).summary_lines())
    assert view(worst, "vi", fees=fees).summary_lines() <= SUMMARY_BUDGET
    # most procedures show every document everyone needs in the card itself
    complete = sum(view(p, "vi", fees=fees).card()["complete"] for p in catalogue)
    assert complete / len(catalogue) >= 0.9


def test_fee_is_never_the_legal_sentence(catalogue, fees):
    shown = [view(p, "vi", fees=fees) for p in catalogue]
    assert sum(v.fee_is_sentence for v in shown) == 0
    assert all(len(v.fee) <= 60 for v in shown), [v.fee for v in shown if len(v.fee) > 60][:3]
    # the centre's fee table gives the province's amount, with the resolution it comes from
    marriage = next(v for v in shown if v.code == "2.000806")
    assert marriage.fee == "1.000.000 đồng" and "Nghị quyết" in marriage.fee_source
    en = view(next(p for p in catalogue if p.code == "2.000806"), "en", fees=fees)
    assert en.fee == "1.000.000 VND"
    # without the table the page says to ask, not the sentence
    bare = view(next(p for p in catalogue if p.code == "2.000806"), "vi")
    assert bare.fee.startswith("Theo mức của tỉnh") and bare.fee_source == ""


def test_conditional_documents_are_grouped_and_e_forms_last(catalogue, fees):
    birth = view(next(p for p in catalogue if p.code == "1.001193"), "vi", fees=fees)
    assert [d.text.split(";")[0].split(" (")[0] for d in birth.everyone] == ["Giấy chứng sinh", "Tờ khai đăng ký khai sinh theo mẫu"]
    titles = [g.title for g in birth.conditional]
    assert "Nếu trẻ em bị bỏ rơi" in titles and titles[-1] == "Nếu nộp trực tuyến"
    assert all(t.startswith("Nếu ") for t in titles)
    assert birth.time == "1 ngày làm việc" and birth.fee == "Miễn phí" and birth.online
    # every document is in exactly one place of the checklist
    idx = [d.index for d in birth.everyone + birth.show] + [d.index for g in birth.conditional for d in g.items]
    assert len(idx) == len(set(idx))
    # in English the case is the catalogue's Vietnamese: said so, not "If trẻ em bị bỏ rơi"
    titles_en = [g.title for g in view(next(p for p in catalogue if p.code == "1.001193"), "en", fees=fees).conditional]
    assert "Case (in Vietnamese): trẻ em bị bỏ rơi" in titles_en and titles_en[-1] == "If you apply online"


def test_read_aloud_summary_is_short(catalogue, fees):
    for p in catalogue:
        for lang in ("vi", "en"):
            text = view(p, lang, fees=fees).aloud
            assert len(text.split()) <= ALOUD_WORDS + len(p.display_name(lang).split()), (p.code, text)


def test_catalogue_show_prints_the_same_view(catalogue, fees, project_config):
    from kiosk.commands.catalogue import _readable

    birth = next(p for p in catalogue if p.code == "1.001193")
    text = _readable(birth, "A", project_config, "vi")
    lines = text.splitlines()
    assert lines[0] == "Đăng ký khai sinh" and lines[1] == "  Lệ phí: Miễn phí"
    assert text.index("Cần mang theo") < text.index("Giấy tờ phải nộp") < text.index("Căn cứ pháp lý")
    assert "Quầy 1" in text
    assert render_text(view(birth, "en")).startswith("Birth registration\n  Fee: Free")


def test_phone_page_shows_the_detail(tmp_config, tmp_path):
    from staff_helpers import Centre

    centre = Centre(tmp_config, tmp_path / "c.db")
    from centre.catalogue import ensure_catalogue as ensure

    ensure(centre.conn, tmp_config)
    cl = centre.client()
    r = cl.get("/p/1.001193?lang=vi")
    assert r.status_code == 200
    html = r.text
    assert "Đăng ký khai sinh" in html and "Miễn phí" in html and "1 ngày làm việc" in html
    assert html.index("Cần mang theo") < html.index("Nếu trẻ em bị bỏ rơi") < html.index("Căn cứ pháp lý")
    r = cl.get("/p/2.000806?lang=en")
    assert "1.000.000 VND" in r.text and "in Vietnamese" in r.text
    assert cl.get("/p/no-such").status_code == 404
    assert cl.get("/p/..%2Fetc").status_code in (404, 422)
