"""Citizens' journeys through the real kiosk (issue 12), in Vietnamese and in English.

The real App under Xvfb, driven only by touches at the screen coordinates where things are
drawn: letters are typed by tapping the on-screen keyboard's keys (Vietnamese by Telex, as a
citizen types), results, rows and buttons are tapped at their centre. Each check reads what is
ON SCREEN (texts of visible widgets, the screen shown, whether a section lies inside the
scrolled viewport), not the controller's state alone. One App for the module (Kivy allows one);
the journeys run in file order on it, each starting from a fresh visit. Screenshots go to
tests/artifacts/journey-*.png for a person to look at.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from kiosk_helpers import (
    keyboard,
    new_citizen,
    results_shown,
    serving,
    t,
    type_keys,
    type_vietnamese,
)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("DISPLAY"),
                                 reason="needs a display: run under xvfb-run (make test does)")]

BIRTH = "1.001193"  # Đăng ký khai sinh
MARRIAGE = "1.000894"  # Đăng ký kết hôn
RESIDENCE = "1.004222"  # Đăng ký thường trú


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    from escpos.printer import Dummy

    from centre.clock import FixedClock
    from kiosk.backend import Backend
    from kiosk.testing import kiosk_config, sample_dossier_lookup, start

    tmp = tmp_path_factory.mktemp("kiosk-journeys")
    cfg = kiosk_config(tmp)
    clock = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # a Tuesday, 09:00 in Vietnam
    drv = start(cfg, tmp, backend=Backend(cfg, printer=Dummy(), queue_clock=clock),
                dossier_lookup=sample_dossier_lookup())
    drv.wait(lambda: drv.c.services and drv.c.fields, what="home data")
    # every error logged while the journeys run (a worker's exception, a failed callback)
    yield from serving(drv)


@pytest.fixture
def fresh(kiosk):
    """Each journey starts at Home with a fresh visit, in Vietnamese, landscape."""
    yield from new_citizen(kiosk, 0.2)


# -- typing as a citizen does: tests/kiosk_helpers.py ------------------------------------------

def texts(d) -> str:
    return d.texts()


def in_viewport(d, w) -> bool:
    """The widget's top part is inside the detail page's scrolled viewport."""
    scroll = d.app.screens["detail"].ids.scroll
    _, sy = scroll.to_window(*scroll.pos)
    _, wy = w.to_window(w.x, w.top)
    return sy < wy <= sy + scroll.height + 1


def at_top_of_view(d, w) -> bool:
    """The widget's top is in the top quarter of the detail page's view, or the page is at its end."""
    scroll = d.app.screens["detail"].ids.scroll
    _, sy = scroll.to_window(*scroll.pos)
    _, wy = w.to_window(w.x, w.top)
    return sy + 0.75 * scroll.height < wy <= sy + scroll.height + 1 or scroll.scroll_y < 0.001


def asked_section(d):
    """The widget the detail page highlights as the section the question asked about."""
    marks = [w for w in d.visible() if getattr(w, "asked", False)]
    assert len(marks) == 1, f"expected one highlighted section, found {len(marks)}"
    return marks[0]


def search_and_open_first(d, text: str, key: str):
    d.tap("search_box")
    assert d.screen() == "search"
    type_vietnamese(d, text)
    rows = results_shown(d)
    assert rows and rows[0].key == key, f"{text!r}: first result {[r.key for r in rows[:3]]}"
    d.tap(rows[0])
    d.wait(lambda: d.screen() == "detail" and d.c.visit.procedure, what="detail page")
    d.pump(0.3)
    assert d.c.visit.procedure["key"] == key


# -- 1. a question typed as a sentence opens the detail page where it asks -------------------------


def test_long_question_opens_the_documents_section(fresh, artifacts):
    d = fresh
    search_and_open_first(d, "con tôi mới sinh làm giấy khai sinh cần giấy tờ gì", BIRTH)
    mark = asked_section(d)
    assert mark.section == "documents"
    assert t(d, "detail.submit") in mark.text  # "Giấy tờ cần nộp"
    assert at_top_of_view(d, mark), "the documents section is not scrolled to the top of the view"
    # the documents themselves show under it
    docs = [w for w in d.visible() if type(w).__name__ == "DocRow" and in_viewport(d, w)]
    assert docs, "no document of the checklist in view"
    d.shot(artifacts, "journey-documents-vi", [t(d, "detail.asked"), "Đăng ký khai sinh"])


def test_fee_question_opens_at_the_fee(fresh, artifacts):
    d = fresh
    search_and_open_first(d, "đăng ký khai sinh hết bao nhiêu tiền", BIRTH)
    mark = asked_section(d)
    assert mark.section == "fee" and "Miễn phí" in mark.text
    assert in_viewport(d, mark)
    name = next(w for w in d.visible() if getattr(w, "text", "") == "Đăng ký khai sinh")
    assert in_viewport(d, name), "the fee is at the top of the page: the procedure's name stays in sight"
    d.shot(artifacts, "journey-fee-vi", [t(d, "detail.asked")])


@pytest.mark.parametrize("question, key, section", [
    ("đăng ký kết hôn nộp ở đâu", MARRIAGE, "place"),
    ("đăng ký thường trú mất bao lâu", RESIDENCE, "time"),
])
def test_where_and_how_long_open_at_their_section(fresh, question, key, section):
    d = fresh
    search_and_open_first(d, question, key)
    mark = asked_section(d)
    assert mark.section == section
    assert in_viewport(d, mark)
    word = {"place": t(d, "detail.where_line", counter="", service="").split(":")[0],
            "time": t(d, "detail.time_line", time="").split(":")[0]}[section]
    assert word in mark.text


@pytest.mark.parametrize("question, section, line", [
    ("how much does marriage registration cost", "fee", "Fee:"),
    ("where do i register a marriage", "place", "Submit at:"),
])
def test_english_question_opens_at_its_section(fresh, artifacts, question, section, line):
    d = fresh
    d.tap("lang")
    d.tap("search_box")
    type_keys(d, question)
    assert keyboard(d).text == question
    rows = results_shown(d)
    assert rows and rows[0].key == MARRIAGE and "Marriage registration" in rows[0].text
    d.tap(rows[0])
    d.wait(lambda: d.screen() == "detail" and d.c.visit.procedure, what="detail page")
    d.pump(0.3)
    mark = asked_section(d)
    assert mark.section == section and line in mark.text and t(d, "detail.asked", "en") in mark.text
    assert in_viewport(d, mark)
    assert "Marriage registration" in texts(d)
    if section == "fee":
        d.shot(artifacts, "journey-fee-en", [t(d, "detail.asked", "en")])


def test_a_name_alone_opens_at_the_top(fresh):
    """No question asked: nothing highlighted, the page at its top."""
    d = fresh
    search_and_open_first(d, "đăng ký kết hôn", MARRIAGE)
    assert not [w for w in d.visible() if getattr(w, "asked", False)]
    assert d.app.screens["detail"].ids.scroll.scroll_y > 0.99


# -- 2. out of scope: where to go instead ----------------------------------------------------------


def no_match_shown(d, office: str, lang: str):
    """The "no match" screen: the message, the referral office, "ask the help desk" — on screen."""
    assert not results_shown(d), "results shown for an out-of-scope request"
    shown = texts(d)
    assert t(d, "search.no_match", lang) in shown
    assert office in shown, f"referral {office!r} not on screen: {shown[:600]!r}"
    assert t(d, "search.ask_staff", lang) in shown
    fits_under_the_bar(d)
    return shown


def fits_under_the_bar(d):
    """Nothing of the search screen is drawn over its top bar or under the keyboard (a long
    referral pushed the query box over Back / language / Home: drawn over, still tappable)."""
    ids = d.app.screens["search"].ids
    bar_y = ids.bar.to_window(ids.bar.x, ids.bar.y)[1]
    query_top = ids.query.to_window(ids.query.x, ids.query.top)[1]
    assert query_top <= bar_y + 1, f"the query box ({query_top:.0f}) covers the top bar ({bar_y:.0f})"
    # the referral, "ask the help desk" and its number are in view above the keyboard at once
    ticket = d.find("nomatch:ticket")
    assert in_search_view(d, ticket, whole=True), "the help desk's number is out of view"
    ref = d.c.visit.referral
    if ref:
        office = ref[f"office_{d.c.visit.lang}"]
        label = next(w for w in d.visible() if office in str(getattr(w, "text", "")))
        assert in_search_view(d, label, whole=True), "the referral is out of view"


def in_search_view(d, w, whole=False) -> bool:
    """The widget (its centre, or all of it) lies inside the no-match box's visible part."""
    more = d.app.screens["search"].ids.more
    _, y0 = more.to_window(*more.pos)
    if whole:
        return y0 - 1 <= w.to_window(w.x, w.y)[1] and w.to_window(w.x, w.top)[1] <= y0 + more.height + 1
    return y0 <= w.to_window(*w.center)[1] <= y0 + more.height


@pytest.mark.parametrize("request_vi, office_vi, office_en", [
    ("làm hộ chiếu", "Phòng Quản lý xuất nhập cảnh", "Immigration Office"),
    ("đổi bằng lái xe", "Phòng Cảnh sát giao thông", "traffic police"),
])
def test_out_of_scope_shows_where_to_go_in_both_languages(fresh, artifacts, request_vi, office_vi, office_en):
    d = fresh
    d.tap("search_box")
    type_vietnamese(d, request_vi)
    shown = no_match_shown(d, office_vi, "vi")
    assert "hỏi cán bộ hướng dẫn" in shown
    slug = request_vi.split()[-1]
    d.shot(artifacts, f"journey-nomatch-{slug}-vi")
    # the same screen in English after the language switch: the same request, the office in English
    d.tap("bar:lang")
    d.wait(lambda: d.c.visit.lang == "en", what="English")
    d.pump(0.3)
    assert d.screen() == "search" and d.c.visit.query == request_vi
    shown = no_match_shown(d, office_en, "en")
    assert office_vi not in shown
    assert "ask" in shown.lower() and "staff" in shown.lower()
    d.shot(artifacts, f"journey-nomatch-{slug}-en")
    # a general number for the help desk, from here
    d.tap("nomatch:ticket")
    assert d.screen() == "service"
    assert t(d, "service.title", "en") in texts(d)
    d.tap("bar:back")
    assert d.screen() == "search" and d.c.visit.query == request_vi
    d.tap("bar:home")
    assert d.screen() == "home" and t(d, "home.lookup", "en") in texts(d)


def test_out_of_scope_typed_in_english(fresh):
    d = fresh
    d.tap("lang")
    assert d.c.visit.lang == "en"
    d.tap("search_box")
    kb = keyboard(d)
    assert not kb.telex, "English visitors type plain letters"
    type_keys(d, "passport")
    assert kb.text == "passport"
    no_match_shown(d, "Immigration Office", "en")
    # larger text: the referral, the help desk and its number still fit above the keyboard
    d.tap("bar:large")
    assert d.c.visit.large_text
    d.pump(0.3)
    no_match_shown(d, "Immigration Office", "en")
    d.tap("bar:large")
    d.tap("bar:back")
    assert d.screen() == "home"


# -- 3. typing as people type: no diacritics, typos, clearing, nothing ---------------------------------


def test_plain_letters_typos_clear_and_retype(fresh, artifacts):
    d = fresh
    d.tap("search_box")
    kb = keyboard(d)
    d.tap(kb.keys["key:mode"])  # "Gõ không dấu"
    assert not kb.telex and kb.keys["key:mode"].text == t(d, "search.plain")
    type_keys(d, "dang ky ket hon")
    rows = results_shown(d)
    assert rows and rows[0].key == MARRIAGE
    assert "Đăng ký kết hôn" in rows[0].text
    assert d.app.screens["search"].ids.query.text == "dang ky ket hon"
    # clear: the box shows its hint again, no results, no "no match"
    d.tap(kb.keys["key:clear"])
    assert results_shown(d) == []
    shown = texts(d)
    assert t(d, "search.hint") in shown and t(d, "search.no_match") not in shown
    # a typo and a missing tone mark
    type_keys(d, "dang ky khai sinnh")
    rows = results_shown(d)
    assert rows and rows[0].key == BIRTH, [r.key for r in rows[:3]]
    d.shot(artifacts, "journey-typo-vi", ["dang ky khai sinnh", "Đăng ký khai sinh"])
    # backspace to nothing, then an empty search (spaces only): nothing happens, nothing breaks
    for _ in range(len("dang ky khai sinnh") + 2):
        d.tap(kb.keys["key:backspace"], settle=0.02)
    assert kb.text == ""
    type_keys(d, "  ")
    assert results_shown(d) == []
    shown = texts(d)
    assert t(d, "search.no_match") not in shown and t(d, "search.referral", office="", advice="")[:10] not in shown
    assert d.c.message is None and d.screen() == "search"
    d.tap(kb.keys["key:clear"])
    d.tap("bar:home")
    assert d.screen() == "home"


# -- 4. a whole visit in English: browse, ticket, idle ------------------------------------------------


def visible_tagged(d, prefix):
    return [w for w in d.visible() if getattr(w, "tag", "").startswith(prefix)]


def test_english_ticket_journey_and_idle(fresh, artifacts):
    import re

    d, c = fresh, fresh.c
    d.tap("lang")
    assert t(d, "home.lookup", "en") in texts(d) and t(d, "home.lookup", "vi") not in texts(d)
    d.tap("home:lookup")
    d.wait(lambda: d.screen() == "fields" and visible_tagged(d, "field:"), what="fields")
    d.pump(0.3)
    field = next(w for w in visible_tagged(d, "field:") if w.tag == "field:ho-tich")
    assert "Civil status" in field.text
    d.tap(field)
    d.wait(lambda: d.screen() == "procedures" and visible_tagged(d, "proc:"), what="procedures")
    d.pump(0.3)
    rows = sorted(visible_tagged(d, "proc:"), key=lambda w: -w.to_window(*w.center)[1])
    first = rows[0]
    d.tap(first)
    d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="detail")
    d.pump(0.3)
    shown = texts(d)
    assert t(d, "detail.take_ticket", "en") in shown and t(d, "detail.bring", "en") in shown
    d.tap("detail:take")
    d.wait(lambda: d.screen() == "ticket" and c.visit.ticket and c.visit.print_status == "printed",
           what="the ticket")
    ids = d.app.screens["ticket"].ids
    assert re.fullmatch(r"[A-Z]\d{3}", ids.number.text), ids.number.text
    assert ids.counter.text.startswith("Served at: Counter")
    assert ids.wait.text.startswith("Expected wait: ") and len(ids.wait.text) > len("Expected wait: ")
    assert ids.qr.texture is not None and ids.qr.opacity > 0 and ids.qr.width >= 150
    d.shot(artifacts, "journey-ticket-en", [ids.number.text, t(d, "ticket.printed", "en"),
                                            t(d, "ticket.qr_hint", "en")])
    # the idle warning: English, a big button, at least 20 s to answer; "continue" keeps the place
    number = ids.number.text
    cfg = d.app.cfg.kiosk
    c.last_activity -= cfg.idle_timeout_s - cfg.idle_warning_s + 0.5
    d.wait(lambda: c.idle_warning and d.app.overlay.idle_text, what="idle warning")
    assert t(d, "idle.title", "en") in texts(d)
    seconds = int(re.search(r"\d+", d.app.overlay.idle_text).group())
    assert seconds >= 20, d.app.overlay.idle_text
    d.pump(1.0)
    assert d.screen() == "ticket" and c.idle_warning  # not gone after a second
    d.shot(artifacts, "journey-idle-en", [t(d, "idle.stay", "en")])
    d.tap("idle:stay")
    assert not c.idle_warning and not d.app.overlay.idle_text
    assert d.screen() == "ticket" and ids.number.text == number and c.visit.lang == "en"
    d.tap("bar:home")
    assert d.screen() == "home" and t(d, "home.ticket", "en") in texts(d)
    # no answer: home, in Vietnamese, the visit forgotten
    d.tap("home:lookup")
    c.last_activity -= cfg.idle_timeout_s + 1
    d.wait(lambda: d.screen() == "home", timeout=5, what="home after the timeout")
    d.pump(0.3)
    shown = texts(d)
    assert c.visit.lang == "vi" and t(d, "home.lookup", "vi") in shown and t(d, "home.lookup", "en") not in shown


def test_done_on_the_ticket_ends_the_visit(fresh):
    d, c = fresh, fresh.c
    d.tap("home:ticket")
    assert d.screen() == "service"
    svc = next(w for w in visible_tagged(d, "service:") if w.tag == "service:A")
    d.tap(svc)
    d.wait(lambda: d.screen() == "ticket" and c.visit.ticket, what="ticket")
    d.tap("ticket:done")
    assert d.screen() == "home" and c.visit.ticket is None


# -- 5. a dossier code nobody has -------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_unknown_dossier_code_says_so(fresh, artifacts, lang):
    d, c = fresh, fresh.c
    if lang == "en":
        d.tap("lang")
    d.tap("home:dossier")
    assert d.screen() == "dossier"
    d.tap("dossier:find")  # nothing typed yet: nothing happens
    assert d.screen() == "dossier" and c.visit.dossier_state == "" and c.message is None
    type_keys(d, "h29-999999-0001")
    d.tap("dossier:find")
    d.wait(lambda: c.visit.dossier_state == "not_found", what="lookup")
    d.pump(0.2)
    shown = texts(d)
    assert t(d, "dossier.not_found", lang) in shown
    assert d.screen() == "dossier" and c.message is None
    d.shot(artifacts, f"journey-dossier-unknown-{lang}")
    d.tap("dossier:edit")
    assert keyboard(d).text.upper().endswith("H29-999999-0001") or keyboard(d).text == ""
    d.tap("bar:home")
    assert d.screen() == "home"


def test_no_error_in_the_log_after_all_journeys(kiosk):
    """Last: nothing of the journeys above logged an error (a crash in a worker or a callback)."""
    assert kiosk.errors == []
