"""Citizens' journeys of round 10 on the real kiosk by touch (slow UI tests under Xvfb).

The real App, driven by touches at the screen coordinates where things are drawn; what the
recogniser hears comes in as the voice service emits it (its typed events through the app's
`voice_listener`, from another thread). Each check reads what is on screen: a spoken question
about the documents or the fee opens the detail page at that section; a spoken need the centre
does not serve ("làm hộ chiếu") shows where to go instead, in Vietnamese and in English; a
dossier whose result was handed over, or that is still being processed, offers no way to a
counter (one ready for pickup does); a whole receipt code typed in larger text in portrait
stays inside its box. One App for the module (Kivy allows one); each journey starts from a
fresh visit.
"""

from __future__ import annotations

import os

import pytest
from kiosk_helpers import journey_kiosk, new_citizen, serving, t, type_keys
from test_kiosk_journeys_r8 import asked

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run (make test does)"
    ),
]

BIRTH = "1.001193"  # Đăng ký khai sinh
MARRIAGE = "1.000894"  # Đăng ký kết hôn
#: receipt codes of three dossiers of the same procedure at the same counter, in three states
RETURNED, PROCESSING, READY = "H40-261120-0009", "H40-261121-0010", "H40-261122-0011"


def _dossier(tail: str, state: str) -> dict:
    return {
        "code": f"000.00.40.{tail}",
        "procedure_code": BIRTH,
        "applicant_name": "Lê Văn Nam",
        "received_at": "2026-11-20 09:00",
        "state": state,
        "counter": "Quầy 2",
    }


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    dossiers = [_dossier(RETURNED, "returned"), _dossier(PROCESSING, "processing"), _dossier(READY, "ready")]
    drv = journey_kiosk(tmp_path_factory.mktemp("kiosk-journeys-r10"), dossiers)
    yield from serving(drv)


@pytest.fixture
def fresh(kiosk):
    """A new citizen at Home, Vietnamese, landscape, normal text (more than the double-tap guard
    after the last touch)."""
    kiosk.app.set_orientation("landscape")
    yield from new_citizen(kiosk, 0.6)
    kiosk.app.set_orientation("landscape")
    kiosk.pump(0.2)


def heard(d, event) -> None:
    """The voice service emits `event` (from its own thread, as it does) and the app takes it."""
    import threading

    worker = threading.Thread(target=d.app.voice_listener, args=(event,))
    worker.start()
    worker.join()
    d.pump(0.1)


asked_section = asked  # the one highlighted section (test_kiosk_journeys_r8)


def in_view(d, w) -> bool:
    """The widget's top is inside the detail page's scrolled viewport."""
    scroll = d.app.screens["detail"].ids.scroll
    _, sy = scroll.to_window(*scroll.pos)
    _, wy = w.to_window(w.x, w.top)
    return sy < wy <= sy + scroll.height + 1


# -- 1. a spoken question opens the detail page at the section it asks about ------------------------


@pytest.mark.parametrize(
    "said, key, section",
    [
        ("làm giấy khai sinh cần giấy tờ gì", BIRTH, "documents"),
        ("đăng ký kết hôn mất bao nhiêu tiền", MARRIAGE, "fee"),
    ],
)
def test_spoken_question_opens_the_detail_at_its_section(fresh, said, key, section):
    """Before: the page opened at its top with nothing marked (the section a typed question opens
    at was never looked for in the words heard)."""
    from voice import events as e

    d, c = fresh, fresh.c
    heard(d, e.Understood("procedure", key, "", said, 0.9))
    d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="the detail page")
    d.pump(0.5)
    assert c.visit.procedure["key"] == key
    mark = asked_section(d)
    assert mark.section == section and t(d, "detail.asked") in mark.text
    assert in_view(d, mark), f"the {section} section is out of view"
    # the citizen listens, then takes a number for it, by touch
    d.speaker.said.clear()
    d.tap("detail:read")
    d.wait(lambda: d.speaker.said, what="read aloud")
    d.tap("detail:take")
    d.wait(lambda: d.screen() == "ticket" and c.visit.ticket, what="the ticket")


def test_a_spoken_name_alone_opens_at_the_top(fresh):
    from voice import events as e

    d, c = fresh, fresh.c
    heard(d, e.Understood("procedure", BIRTH, "Đăng ký khai sinh", "đăng ký khai sinh", 0.9))
    d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="the detail page")
    d.pump(0.3)
    assert not [w for w in d.visible() if getattr(w, "asked", False)]


# -- 2. a spoken need the centre does not serve: where to go instead ------------------------------------


@pytest.mark.parametrize(
    "said, office_vi, office_en",
    [
        ("làm hộ chiếu", "Phòng Quản lý xuất nhập cảnh", "Immigration Office"),
        ("đổi bằng lái xe", "Phòng Cảnh sát giao thông", "traffic police"),
    ],
)
def test_spoken_out_of_scope_says_where_to_go(fresh, said, office_vi, office_en):
    """Before: "Xin lỗi, chưa nghe rõ…" (not understood) and nothing else: the referral the
    recogniser passed on (the search's, as for the same words typed) was dropped."""
    from voice import events as e

    d, c = fresh, fresh.c
    referral = c.backend.search(said, 5)["referral"]  # what the recogniser's search passes on
    assert referral and office_vi in referral["office_vi"]
    heard(d, e.NotUnderstood(said, "no_match", [], [], {}, referral))
    d.wait(lambda: d.screen() == "search", what="the search screen")
    d.pump(0.3)
    shown = d.texts()
    assert office_vi in shown, shown[:600]
    assert t(d, "search.ask_staff") in shown and said in shown
    assert t(d, "voice.not_understood") not in shown
    assert c.visit.query == said and not c.visit.results
    # the citizen who spoke listens: "Đọc to" says where to go
    d.speaker.said.clear()
    d.tap("search:read")
    d.wait(lambda: d.speaker.said, what="read aloud")
    assert office_vi in d.speaker.said[-1][0], d.speaker.said[-1]
    # in English, by touch: the same office in English
    d.tap("bar:lang")
    d.wait(lambda: c.visit.lang == "en", what="English")
    d.pump(0.3)
    shown = d.texts()
    assert office_en in shown and office_vi not in shown, shown[:600]
    # a number for the help desk from there
    d.tap("nomatch:ticket")
    assert d.screen() == "service"


# -- 3. a dossier with no errand at a counter offers no way to one ---------------------------------


def look_up(d, tail: str) -> None:
    d.tap("home:dossier")
    if d.app.screens["dossier"].ids.keyboard.opacity == 0:
        d.tap("dossier:edit")
    type_keys(d, tail.lower())
    d.tap("dossier:find")
    d.wait(lambda: d.c.visit.dossier_state not in ("", "searching"), what="dossier answer")
    d.pump(0.3)
    assert d.c.visit.dossier_state == "found", (d.c.visit.dossier_code, d.c.visit.dossier_state)


def guide_shown(d) -> bool:
    return any(getattr(w, "tag", "") == "dossier:guide" for w in d.visible())


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_finished_or_waiting_dossier_offers_no_way_to_a_counter(fresh, lang):
    """Before: "Kết quả đã được trả." (handed over) or "please wait until the due date" under a
    big green "Đưa tôi đến quầy" that took the citizen to counter 2 for nothing."""
    d, c = fresh, fresh.c
    if lang == "en":
        d.tap("lang")
    cases = (
        (RETURNED, "returned", "done", False),
        (PROCESSING, "processing", "wait", False),
        (READY, "ready", "pickup", True),
    )
    for tail, state, step, guided in cases:
        look_up(d, tail)
        assert c.visit.dossier["next_action"] == step
        assert t(d, f"dossier.state_{state}") in d.texts()
        assert guide_shown(d) is guided, f"{tail} ({step}): guide button shown={guide_shown(d)}"
        d.tap("bar:back", settle=0.6)
        assert d.screen() == "home"


# -- 4. a whole receipt code in larger text, portrait: inside its box ---------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_whole_receipt_code_in_larger_text_stays_in_its_box(fresh, lang):
    """Before: in portrait with larger text the 25-character code took two lines (134 px) in a
    110 px box, drawn over the hint above and the result below."""
    d, c = fresh, fresh.c
    d.app.set_orientation("portrait")
    d.pump(0.3)
    if lang == "en":
        d.tap("lang")
    d.tap("large")
    assert c.visit.large_text
    d.tap("home:dossier")
    type_keys(d, f"000.00.40.{RETURNED.lower()}")
    ids = d.app.screens["dossier"].ids
    for when in ("typed", "found"):
        if when == "found":
            d.tap("dossier:find")
            d.wait(lambda: c.visit.dossier_state == "found", what="dossier found")
        d.pump(0.3)
        code = ids.code
        code.texture_update()
        assert code.text == f"000.00.40.{RETURNED}"
        assert code.texture_size[1] <= code.height, (
            f"{when}: {code.texture_size[1]} px of text in {code.height} px"
        )
        hint_row = ids.hint.parent
        assert code.top <= hint_row.y + 1, "the code box overlaps the hint above it"


# -- 5. a second dossier in the same visit ---------------------------------------------------------


def test_second_dossier_in_one_visit_starts_from_an_empty_code(fresh):
    """Before: Back, then "Tra cứu hồ sơ" again showed an empty code box, but the keyboard kept
    the keys of the first code: the next key made "H40-261120-0009H…" and the second dossier was
    "not found"."""
    d, c = fresh, fresh.c
    look_up(d, RETURNED)
    d.tap("bar:back", settle=0.6)
    d.tap("home:dossier")
    assert d.app.screens["dossier"].ids.code.text == ""
    type_keys(d, "h")
    assert d.app.screens["dossier"].ids.code.text == "H"
    type_keys(d, READY[1:].lower())
    d.tap("dossier:find")
    d.wait(lambda: c.visit.dossier_state not in ("", "searching"), what="dossier answer")
    assert c.visit.dossier_state == "found" and c.visit.dossier["code"].endswith(READY)
    # "Gõ mã khác" (edit) keeps the code to correct it
    d.tap("dossier:edit")
    type_keys(d, "1")
    assert d.app.screens["dossier"].ids.code.text == READY + "1"


# -- 6. Home tapped while the number is being taken --------------------------------------------------


def tickets_issued(d) -> int:
    return d.db.execute("SELECT count(*) FROM tickets").fetchone()[0]


def print_jobs(d) -> list:
    from centre.printing import ensure_schema

    ensure_schema(d.db)
    return d.db.execute("SELECT ok, ticket_id FROM print_jobs ORDER BY id").fetchall()


def test_home_tapped_while_the_number_is_taken_still_prints_it(fresh):
    """Before: the queue (slow: a remote server, a busy database) issued the number after the
    citizen had tapped "Về trang đầu"; the kiosk dropped it unprinted and the counter later called
    a number nobody held."""
    import time

    d, c = fresh, fresh.c
    backend = c.backend
    real = backend.issue_ticket

    def slow(*a, **kw):
        time.sleep(1.0)
        return real(*a, **kw)

    backend.issue_ticket = slow
    try:
        n0, p0 = tickets_issued(d), len(print_jobs(d))
        d.tap("home:ticket")
        d.wait(lambda: d.screen() == "service", what="services")
        d.tap("service:B")
        assert c.visit.print_status == "issuing"
        d.tap("bar:home")
        assert d.screen() == "home" and not c.visit.ticket
        d.wait(lambda: tickets_issued(d) == n0 + 1, what="the number issued")
        d.wait(lambda: len(print_jobs(d)) == p0 + 1, what="the number printed")
        ok, ticket_id = print_jobs(d)[-1]
        assert ok == 1 and ticket_id is not None
        d.pump(0.3)
        assert d.screen() == "home" and not c.visit.ticket, "the next citizen's visit holds no ticket"
    finally:
        del backend.issue_ticket


# -- 7. two receipts scanned one after the other ------------------------------------------------------


def scan(d, code: str) -> None:
    """A USB barcode scanner reads `code`: a key per character through the window, then Enter."""
    from kivy.core.window import Window

    for ch in code:
        Window.dispatch("on_textinput", ch)
        d.pump(0.01)
    Window.dispatch("on_key_down", 13, 40, "\r", [])
    d.wait(lambda: d.c.visit.dossier_state not in ("", "searching"), what="dossier answer")
    d.pump(0.3)


def test_second_receipt_scanned_under_the_answer_is_a_new_code(fresh):
    """Before: the second scan was added to the first code under the answer
    ("…H40-261122-0011000.00.40.H40-261120-0009"): not found."""
    d, c = fresh, fresh.c
    d.tap("home:dossier")
    scan(d, f"000.00.40.{READY}")
    assert c.visit.dossier_state == "found" and t(d, "dossier.state_ready") in d.texts()
    scan(d, f"000.00.40.{RETURNED}")
    assert c.visit.dossier_state == "found", (c.visit.dossier_code, c.visit.dossier_state)
    assert c.visit.dossier["code"] == f"000.00.40.{RETURNED}"
    assert t(d, "dossier.state_returned") in d.texts()
    assert d.app.screens["dossier"].ids.code.text == f"000.00.40.{RETURNED}"


# -- 8. the referral reads as a sentence with any office -----------------------------------------------


def referral_line(d) -> tuple[str, str]:
    office = d.c.visit.referral[f"office_{d.c.visit.lang}"]
    line = next((ln for ln in d.texts().split("\n") if office in ln), "")
    assert line, f"{office!r} not on screen"
    return line, office


@pytest.mark.parametrize("request_vi", ["gọi cấp cứu", "đóng thuế đất"])
def test_referral_names_the_office_as_written(fresh, request_vi):
    """Before: "Việc này do Gọi 115 (cấp cứu y tế) giải quyết." and "This is handled by Call 115
    (medical emergency)." / "… by The local tax office.": the offices are written as labels
    (capitalised, some an instruction) and were put inside a sentence, on screen and aloud."""
    from kiosk_helpers import results_shown, type_vietnamese

    d, c = fresh, fresh.c
    d.tap("search_box")
    type_vietnamese(d, request_vi)
    assert not results_shown(d) and c.visit.referral
    for lang in ("vi", "en"):
        if lang == "en":
            d.tap("bar:lang")
            d.wait(lambda: c.visit.lang == "en", what="English")
            d.pump(0.3)
        line, office = referral_line(d)
        before = line.split(office, 1)[0]
        assert before == "" or before.endswith(": "), f"{lang}: the office inside a sentence: {line!r}"
        d.speaker.said.clear()
        d.tap("search:read")
        d.wait(lambda: d.speaker.said, what="read aloud")
        said = d.speaker.said[-1][0]
        assert office in said and said.split(office, 1)[0].endswith(": "), said


# -- 9. an elderly citizen opens a "Nếu…" case near the bottom of the view ----------------------------


def from_view_top(d, w) -> float:
    scroll = d.app.screens["detail"].ids.scroll
    return scroll.to_window(scroll.x, scroll.top)[1] - w.to_window(w.x, w.top)[1]


@pytest.mark.parametrize("orientation, large", [("landscape", False), ("portrait", True)])
def test_a_case_opened_near_the_bottom_shows_its_documents(fresh, orientation, large):
    """Before: the page kept its scroll fraction when a group opened, so a longer page moved under
    the finger: a "▸ Nếu…" header tapped low in the view stayed at the bottom with what opened
    below the screen, or (the legal basis, at the page's end) rose 640 px above the view."""
    from kiosk_helpers import results_shown, type_vietnamese
    from kivy.tests.common import UnitTestTouch

    d, c = fresh, fresh.c
    d.app.set_orientation(orientation)
    d.pump(0.3)
    if large:
        d.tap("large")
    d.tap("search_box")
    type_vietnamese(d, "đăng ký khai sinh")
    rows = results_shown(d)
    assert rows[0].key == BIRTH
    d.tap(rows[0])
    d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="the detail page")
    d.pump(0.8)
    scroll = d.app.screens["detail"].ids.scroll
    view = scroll.height
    for name in ("case0", "legal"):
        # the citizen drags the page up until the group's header is in the lower part of the view
        for _ in range(12):
            head = d.find(f"detail:group:{name}")
            if 0.55 * view < from_view_top(d, head) < view - head.height:
                break
            x, y = scroll.to_window(scroll.center_x, scroll.y + view * 0.2)
            step = 30 if from_view_top(d, head) > view - head.height else -30
            touch = UnitTestTouch(x, y)
            touch.touch_down()
            for i in range(1, 6):
                d.pump(0.02)
                touch.touch_move(x, y + step * i)
            touch.touch_up()
            d.pump(1.0)
        before = from_view_top(d, head)
        assert 0.55 * view < before < view - head.height, f"{name}: header at {before:.0f} of {view:.0f}"
        d.tap(head, settle=1.0)
        assert name in c.visit.open_groups
        head = d.find(f"detail:group:{name}")
        after = from_view_top(d, head)
        assert 0 <= after <= 0.5 * view, f"{name}: header {before:.0f} -> {after:.0f} px below the view's top"
        assert head.text.startswith("▾")
