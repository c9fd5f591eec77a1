"""Citizens' journeys the earlier journey tests did not walk (round 8), on the real kiosk by touch.

The real App under Xvfb, driven by touches at the screen coordinates where things are drawn
(words typed on the on-screen keys, Vietnamese by Telex), each check reading what is on
screen: a long question with a "see also" line, then a ticket; a double tap on "Lấy số", on a
Home tile, on "English" and "Chữ to"; the detail page back in landscape after portrait; the
printer out of paper (the ticket kept, the citizen told plainly, "Đọc to" says it too); the
language switched on every screen (nothing left in the other language, every button ≥ 64 px);
a dossier code typed in lower case, wrong, empty, and read in English; the robot busy or
offline; the idle warning over a message; the documents question asked in English; the detail
page scrolled to the question's section once, and never snapped back once the visitor scrolls.
One App for the module (Kivy allows one); each journey starts from a fresh visit.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from kiosk_helpers import (
    SpeakerRecorder,
    journey_kiosk,
    keyboard,
    new_citizen,
    results_shown,
    serving,
    t,
    type_keys,
    type_vietnamese,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run (make test does)"
    ),
]

BIRTH = "1.001193"  # Đăng ký khai sinh
DOSSIER = "000.00.40.H40-261120-0007"


class NoPaperPrinter:
    """A receipt printer out of paper: every print fails."""

    def __getattr__(self, name):
        def fail(*a, **kw):
            raise OSError("paper out")

        return fail


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    drv = journey_kiosk(tmp_path_factory.mktemp("kiosk-journeys-r8"), [
        {
            "code": DOSSIER,
            "procedure_code": BIRTH,
            "applicant_name": "Nguyễn Thị Hoa",
            "applicant_phone": "0912345678",
            "received_at": "2026-11-20 09:00",
            "state": "supplement_requested",
            "counter": "Quầy 2",
            "missing_documents": ["Giấy chứng sinh"],
        },
        {
            "code": "000.00.29.H29-260213-0001",
            "procedure_code": BIRTH,  # the tour's
            "applicant_name": "Trần Văn Bình",
            "received_at": "2026-02-13 08:00",
            "state": "received",
            "counter": "Quầy 1",
        },
    ])
    yield from serving(drv)


@pytest.fixture
def fresh(kiosk):
    """Each journey starts at Home with a fresh visit, in Vietnamese, landscape (a new citizen: more
    than BOUNCE_S after the last touch, which a first tap at its place would otherwise repeat)."""
    yield from new_citizen(kiosk, 0.6)


def tickets_today(d) -> int:
    return d.db.execute("SELECT count(*) FROM tickets").fetchone()[0]


def print_jobs(d) -> list:
    from centre.printing import ensure_schema

    ensure_schema(d.db)
    return d.db.execute("SELECT ok, message FROM print_jobs ORDER BY id").fetchall()


def plain(text: str) -> str:
    """Screen text without Kivy markup."""
    return re.sub(r"\[/?[a-z]+[^\]]*\]", "", text)


# -- 1. a long question with a "see also" line, then a ticket ------------------------------------


def test_long_question_with_see_also_then_a_ticket(fresh, artifacts):
    d, c = fresh, fresh.c
    n0, jobs0 = tickets_today(d), len(print_jobs(d))
    d.tap("search_box")
    type_vietnamese(d, "tôi muốn đăng ký khai sinh cho con và làm hộ chiếu cho con")
    rows = results_shown(d)
    assert rows and rows[0].key == BIRTH, [r.key for r in rows[:3]]
    also = d.find("search:see_also")
    assert "hộ chiếu" in also.text and "Phòng Quản lý xuất nhập cảnh" in plain(also.text)
    d.shot(artifacts, "journey-r8-see-also-vi", ["Đăng ký khai sinh"])
    d.tap(rows[0])
    d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="detail page")
    d.pump(0.3)
    d.tap("detail:take")
    d.wait(lambda: d.screen() == "ticket" and c.visit.print_status == "printed", what="printed ticket")
    ids = d.app.screens["ticket"].ids
    assert re.fullmatch(r"[A-Z]\d{3}", ids.number.text)
    assert t(d, "ticket.printed") in d.texts()
    assert tickets_today(d) == n0 + 1 and len(print_jobs(d)) == jobs0 + 1
    # Back to the procedure and "Lấy số" again: the same ticket, nothing printed twice
    d.tap("bar:back")
    assert d.screen() == "detail"
    d.tap("detail:take")
    d.wait(lambda: d.screen() == "ticket", what="the same ticket")
    assert ids.number.text == c.visit.ticket["number"] and tickets_today(d) == n0 + 1
    d.pump(0.3)
    assert len(print_jobs(d)) == jobs0 + 1


def test_language_switched_on_the_procedure_prints_the_ticket_in_that_language(fresh):
    """Vietnamese first, English on the procedure's page, then "Lấy số": the ticket is issued and
    printed in English (its service, counters and procedure), and the screen says it in English."""
    from centre import tickets

    d, c = fresh, fresh.c
    c.open_procedure(BIRTH)
    d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="detail")
    d.pump(0.3)
    d.tap("bar:lang")
    d.wait(
        lambda: c.visit.procedure.get("card", {}).get("name") == "Birth registration", what="page in English"
    )
    d.tap("detail:take")
    d.wait(lambda: d.screen() == "ticket" and c.visit.print_status == "printed", what="printed ticket")
    row = d.db.execute("SELECT * FROM tickets ORDER BY id DESC LIMIT 1").fetchone()
    assert row["lang"] == "en" and row["procedure_key"] == BIRTH
    q = c.backend.queue
    content = tickets.ticket_content(q, q.get(row["id"]), procedure_name="Birth registration")
    assert content.lang == "en" and content.service_name == "Civil status and certification"
    assert all(name.startswith("Counter") for name in content.counters), content.counters
    shown = d.texts()
    assert t(d, "ticket.printed", "en") in shown and t(d, "ticket.printed", "vi") not in shown


# -- 2. a double tap on "Lấy số" and on a service ----------------------------------------------------


def double_tap(d, w, gap: float) -> None:
    """Two touches at the widget's centre `gap` seconds apart, as a trembling finger does."""
    from kivy.tests.common import UnitTestTouch

    x, y = w.to_window(*w.center)
    for i in range(2):
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        d.pump(0.03)
        touch.touch_up()
        d.pump(gap if i == 0 else 0.5)


def seen_on_purpose(d) -> None:
    """Wait until what the last tap opened has been on the screen for the double-tap window: a
    deliberate tap comes after the citizen has seen the screen. On a loaded machine the frame
    that shows it comes late, and a fixed pause after the tap then still fell inside the window
    (the tap was taken for the same finger again)."""
    from kiosk.kioskapp import BOUNCE_S

    def seen() -> bool:
        lifted = d.app._lifted
        return lifted is None or (lifted[0] is not None and time.time() - lifted[0] > BOUNCE_S + 0.05)

    d.wait(seen, what="the new screen seen for the double-tap window")


@pytest.mark.parametrize("gap", [0.02, 0.2])
def test_double_tap_takes_exactly_one_ticket(fresh, gap):
    d, c = fresh, fresh.c
    n0, jobs0 = tickets_today(d), len(print_jobs(d))
    c.open_procedure(BIRTH)
    d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="detail")
    d.pump(0.3)
    double_tap(d, d.find("detail:take"), gap)
    d.wait(lambda: d.screen() == "ticket" and c.visit.print_status == "printed", what="ticket")
    assert tickets_today(d) == n0 + 1 and len(print_jobs(d)) == jobs0 + 1
    number = c.visit.ticket["number"]
    # a service tapped twice on the service list of the next visitor: one ticket too
    d.tap("ticket:done")
    assert d.screen() == "home" and c.visit.ticket is None
    d.tap("home:ticket")
    double_tap(d, d.find("service:A"), gap)
    d.wait(lambda: d.screen() == "ticket" and c.visit.print_status == "printed", what="ticket")
    assert tickets_today(d) == n0 + 2 and len(print_jobs(d)) == jobs0 + 2
    assert c.visit.ticket["number"] != number


@pytest.mark.parametrize("orientation", ["landscape", "portrait"])
def test_double_tap_on_a_home_tile_does_not_tap_the_next_screen(fresh, orientation):
    """The second touch of a double tap on a Home tile landed on the screen the first one opened:
    on "Lấy số thứ tự" it took a number for the service drawn under the tile, on "Tra cứu thủ tục"
    it opened a field. Now it is taken as the same finger again; a tap a moment later acts."""
    d, c = fresh, fresh.c
    try:
        d.app.set_orientation(orientation)
        d.pump(0.3)
        c.reset()
        d.pump(0.2)
        n0 = tickets_today(d)
        double_tap(d, d.find("home:ticket"), 0.15)
        assert d.screen() == "service" and c.visit.ticket is None and c.visit.print_status == ""
        assert tickets_today(d) == n0, "a double tap on the tile took a number"
        d.tap("bar:home")
        double_tap(d, d.find("home:lookup"), 0.15)
        assert d.screen() == "fields", "a double tap on the tile opened a field"
        # a deliberate tap, a moment later, acts
        seen_on_purpose(d)
        row = d.row("field:", d.app.screens["fields"].ids.list)
        d.tap(row)
        d.wait(lambda: d.screen() == "procedures", what="the field's procedures")
    finally:
        c.reset()
        d.app.set_orientation("landscape")
        d.pump(0.3)


def test_double_tap_on_english_or_larger_text_keeps_what_was_chosen(fresh):
    """A double tap on "English" switched to English and straight back to Vietnamese (the same
    for "Chữ to"): the citizen saw nothing change."""
    d, c = fresh, fresh.c
    double_tap(d, d.find("lang"), 0.15)
    assert c.visit.lang == "en" and t(d, "home.lookup", "en") in d.texts()
    d.tap("home:lookup")
    double_tap(d, d.find("bar:large"), 0.15)
    assert c.visit.large_text
    seen_on_purpose(d)  # a deliberate second tap, a moment later, switches back
    d.tap("bar:large")
    assert not c.visit.large_text


def test_double_tap_during_a_slow_frame_is_still_one_tap(fresh):
    """The double-tap window counted from the lift: when the frame that drew the new language
    took longer than the window (a loaded PC), the second touch switched back. It counts from the
    frame that showed the new look: nobody taps on purpose what they have not seen."""
    from kivy.clock import Clock
    from kivy.tests.common import UnitTestTouch

    d, c = fresh, fresh.c
    x, y = d.find("lang").to_window(*d.find("lang").center)
    for i in range(2):
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        d.pump(0.03)
        touch.touch_up()
        if i == 0:  # the frame that draws English stalls, as on a loaded PC
            Clock.schedule_once(lambda dt: time.sleep(0.8), 0)
        d.pump(0.15)
    assert c.visit.lang == "en"
    seen_on_purpose(d)  # seen, then tapped on purpose: switches back
    d.tap("lang")
    assert c.visit.lang == "vi"


def test_a_bounce_handled_late_is_still_a_bounce(fresh):
    """CI, round 10: the second touch of a double tap on "Lấy số thứ tự" took a number. It came
    0.18 s after the first, but a slow frame (a screen being built on a loaded PC) handled it
    more than the window after the service list was shown, and the window was measured when the
    touch was handled. It is measured at the touch's own time now (`MotionEvent.time_start`)."""
    from kivy.tests.common import UnitTestTouch

    d, c = fresh, fresh.c
    n0 = tickets_today(d)
    w = d.find("home:ticket")
    x, y = w.to_window(*w.center)
    first = UnitTestTouch(x, y)
    first.touch_down()
    d.pump(0.03)
    first.touch_up()
    d.wait(lambda: d.app._lifted is not None and d.app._lifted[0] is not None, what="the list shown")
    assert d.screen() == "service"
    second = UnitTestTouch(x, y)  # the finger again, at once: stamped now
    time.sleep(0.8)  # ... and handled only after a slow frame
    second.touch_down()
    d.pump(0.03)
    second.touch_up()
    d.pump(0.5)
    assert d.screen() == "service" and c.visit.ticket is None, "a bounce handled late took a number"
    assert tickets_today(d) == n0


def test_detail_page_keeps_its_width_after_the_screen_turned(fresh):
    """Back in landscape after portrait, the detail page's action column kept portrait's full
    width (a constant kv width is applied once): the page was squeezed to 788 px, its group
    headers with it (0 px wide in one run)."""
    d, c = fresh, fresh.c

    def page_width():
        c.reset()
        c.open_procedure(BIRTH)
        d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="detail")
        d.pump(0.4)
        heads = [w for w in d.visible() if getattr(w, "tag", "").startswith("detail:group:")]
        assert heads
        return d.app.screens["detail"].ids.scroll.width, min(w.width for w in heads)

    try:
        before = page_width()
        d.app.set_orientation("portrait")
        d.pump(0.3)
        page_width()
        d.app.set_orientation("landscape")
        d.pump(0.3)
        assert page_width() == before
    finally:
        c.reset()
        d.app.set_orientation("landscape")
        d.pump(0.3)


# -- 3. the printer out of paper ------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_printer_out_of_paper_keeps_the_ticket_and_says_so(fresh, artifacts, lang):
    d, c = fresh, fresh.c
    backend = c.backend
    saved, backend._printer = backend._printer, NoPaperPrinter()
    try:
        if lang == "en":
            d.tap("lang")
        n0 = tickets_today(d)
        d.tap("home:ticket")
        d.tap("service:B")
        d.wait(lambda: c.visit.print_status == "failed", what="the print failure")
        assert d.screen() == "ticket" and tickets_today(d) == n0 + 1
        ids = d.app.screens["ticket"].ids
        number = c.visit.ticket["number"]
        assert ids.number.text == number
        assert ids.qr.texture is not None and ids.qr.opacity > 0 and ids.qr.width >= 150
        told = t(d, "ticket.print_failed")
        assert ids.print_status.text == told and told in d.texts()
        d.shot(artifacts, f"journey-r8-no-paper-{lang}", [number, told])
        # a citizen who cannot read hears it: "Đọc to" says the number AND that nothing was printed
        d.speaker.said.clear()
        d.tap("ticket:read")
        d.wait(lambda: d.speaker.said, what="read aloud")
        said, said_lang = d.speaker.said[-1]
        assert said_lang == lang and number in said
        assert t(d, "speak.print_failed", number=number) in said
        from kiosk.aloud import heard_words

        assert heard_words(said, lang) <= 60, said
        # the language switched on the ticket: the failure is said in the other language too
        d.tap("bar:lang")
        other = "en" if lang == "vi" else "vi"
        assert ids.print_status.text == t(d, "ticket.print_failed", other)
        last = print_jobs(d)[-1]
        assert last["ok"] == 0 and last["message"]
    finally:
        backend._printer = saved


# -- 4. the language switched on every screen -------------------------------------------------------


def ui_phrases(d, lang: str) -> dict[str, str]:
    """Phrases (≥ 12 characters) of the kiosk's own texts in `lang` that the other language
    does not share, each with its key: none may stay on screen after a switch away from `lang`."""
    texts, other = d.app.i18n.texts[lang], d.app.i18n.texts["en" if lang == "vi" else "vi"]
    shared = {p for text in other.values() for p in _phrases(text)}
    out = {}
    for key, text in texts.items():
        for p in _phrases(text):
            if p not in shared:
                out[p] = key
    return out


def _phrases(text: str) -> list[str]:
    parts = re.split(r"\{[^}]*\}|\[/?[a-z]+[^\]]*\]|\n", str(text))
    return [p.strip(' .:·,()“”"…') for p in parts if len(p.strip(' .:·,()“”"…')) >= 12]


def small_buttons(d) -> list[str]:
    """Visible, enabled buttons (anything tagged that takes a tap) smaller than 64 px."""
    from kivy.uix.behaviors import ButtonBehavior

    return [
        f"{w.tag} {w.width:.0f}×{w.height:.0f}"
        for w in d.visible()
        if isinstance(w, ButtonBehavior)
        and getattr(w, "tag", "")
        and not w.disabled
        and (w.width < 64 or w.height < 64)
    ]


def switch_language_by_touch(d) -> None:
    lang = d.c.visit.lang
    d.tap("lang" if d.screen() == "home" else "bar:lang")
    d.wait(lambda: d.c.visit.lang != lang, what="the language switched")
    d.pump(0.4)


@pytest.mark.parametrize("orientation, large, start", [("landscape", False, "vi"), ("portrait", True, "en")])
def test_language_switched_on_every_screen_leaves_nothing_behind(fresh, orientation, large, start):
    from kiosk.testing import screens_tour

    d, c = fresh, fresh.c
    after = "en" if start == "vi" else "vi"
    left_over = ui_phrases(d, start)
    problems = []
    try:
        d.app.set_orientation(orientation)
        d.pump(0.3)
        for name, go, ready in screens_tour(d):
            if name in ("pin", "staff"):
                continue  # staff screens: no language button (the staff work in Vietnamese)
            c.set_lang(start)
            if c.visit.large_text != large:
                c.toggle_large_text()
            go()
            d.wait(ready, what=f"{name} ready")
            c.show_message("error.ticket")  # a message open when the language changes
            d.pump(0.3)
            switch_language_by_touch(d)
            assert c.visit.lang == after and c.message
            shown = plain(d.texts())
            problems += [f"{name}: {p!r} ({key})" for p, key in left_over.items() if p in shown]
            assert t(d, "error.ticket") in shown, f"{name}: the message was not switched"
            problems += [f"{name}: small {b}" for b in small_buttons(d)]
            c.show_message(None)
    finally:
        c.reset()
        d.app.set_orientation("landscape")
        d.pump(0.3)
    assert not problems, "\n".join(problems)


# -- 5. a dossier code as citizens type it ------------------------------------------------------------


def look_up(d, keys: str, state: str):
    c = d.c
    if d.app.screens["dossier"].ids.keyboard.opacity == 0:
        d.tap("dossier:edit")
    kb = keyboard(d)
    d.tap(kb.keys["key:clear"])
    type_keys(d, keys)
    d.tap("dossier:find")
    d.wait(lambda: c.visit.dossier_state == state, what=f"{keys!r}: {state}")
    d.pump(0.2)


def test_dossier_codes_as_typed_by_citizens(fresh, artifacts):
    d, c = fresh, fresh.c
    d.tap("home:dossier")
    assert d.screen() == "dossier"
    # nothing typed: the button does nothing, the hint stays
    d.tap("dossier:find")
    assert c.visit.dossier_state == "" and t(d, "dossier.hint") in d.texts()
    # the tail in lower case; the whole code in lower case
    look_up(d, "h40-261120-0007", "found")
    assert t(d, "dossier.state_supplement_requested") in d.texts()
    look_up(d, DOSSIER.lower(), "found")
    shown = d.texts()
    assert t(d, "dossier.code", code=DOSSIER) in shown and "Nguyễn Thị Hoa" not in shown
    # a wrong code, and one too short to tell: "not found", nobody else's dossier
    look_up(d, "h40-261120-0008", "not_found")
    assert t(d, "dossier.not_found") in d.texts() and DOSSIER not in d.texts()
    look_up(d, "0007", "not_found")
    d.tap("bar:home")
    assert d.screen() == "home"


def test_dossier_read_in_english_says_what_is_vietnamese(fresh, artifacts):
    d = fresh
    d.tap("lang")
    d.tap("home:dossier")
    look_up(d, "h40-261120-0007", "found")
    shown = d.texts()
    assert t(d, "dossier.procedure", name="Birth registration") in shown, shown
    assert "Đăng ký khai sinh" not in shown
    missing = t(d, "dossier.missing")
    assert missing in shown and t(d, "detail.vi_only").strip("()") in missing
    d.shot(artifacts, "journey-r8-dossier-en", [missing])
    # back to Vietnamese: the Vietnamese name
    d.tap("bar:lang")
    assert t(d, "dossier.procedure", name="Đăng ký khai sinh") in d.texts()


# -- 6. the robot busy or offline when the citizen asks to be guided ------------------------------------


class RobotRefuses:
    """An escort manager whose robot cannot come (`reason`: busy, link_down), as the real one says it."""

    def __init__(self, d, reason: str):
        self.d, self.reason, self.requests = d, reason, []

    def request(self, waypoint, *, counter=None, ticket=None):
        from robot import escort as e

        self.requests.append((waypoint, counter, ticket))
        ev = e.EscortFailed(
            escort_id=7,
            robot="robot-1",
            counter_id=counter,
            waypoint=waypoint,
            ticket=ticket,
            reason=self.reason,
        )
        self.d.app.robot_listener(ev)
        return 7

    def cancel(self, eid):
        pass


@pytest.mark.parametrize("reason, key", [("busy", "robot.busy"), ("link_down", "robot.down")])
def test_robot_busy_or_offline_shows_the_way_on_the_map(fresh, artifacts, reason, key):
    d, c = fresh, fresh.c
    saved = c.escort_mgr
    c.escort_mgr = robot = RobotRefuses(d, reason)
    try:
        c.open_procedure(BIRTH)
        d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="detail")
        d.pump(0.3)
        d.tap("detail:guide")
        d.wait(lambda: c.visit.escort_reason == key, what=f"the robot {reason}")
        d.pump(0.3)
        assert d.screen() == "directions" and robot.requests
        assert d.app.screens["directions"].ids.map.route, "no route drawn"
        assert t(d, key) in d.texts()
        d.tap("bar:lang")
        assert t(d, key, "en") in d.texts() and t(d, key, "vi") not in d.texts()
        d.shot(artifacts, f"journey-r8-robot-{reason}-en", [t(d, key, "en")])
        d.tap("bar:back")
        assert d.screen() == "detail"
    finally:
        c.escort_mgr = saved


# -- 7. the idle warning over a message ---------------------------------------------------------------


def test_idle_warning_over_a_message_then_continue(fresh):
    d, c = fresh, fresh.c
    d.tap("home:ticket")
    c.show_message("error.ticket")
    d.pump(0.2)
    cfg = d.app.cfg.kiosk
    c.last_activity -= cfg.idle_timeout_s - cfg.idle_warning_s + 0.5
    d.wait(lambda: c.idle_warning and d.app.overlay.idle_text, what="idle warning")
    seconds = int(re.search(r"\d+", d.app.overlay.idle_text).group())
    assert seconds >= 20
    # the warning lies over the message's "Đóng": a touch there answers the warning only
    close = d.find("message:close")
    stay = d.find("idle:stay")
    assert stay.height >= 150
    d.tap(close)
    assert not c.idle_warning and c.message, "the touch went through the warning to the message"
    d.tap("message:close")
    assert c.message is None and d.screen() == "service"


class StuckSpeaker(SpeakerRecorder):
    """A sound card that never finishes: the reading never reports its end."""

    def say(self, text, lang="vi", on_done=None):
        self.said.append((text, lang))


def test_a_reading_that_never_ends_does_not_keep_the_visit_open(fresh, monkeypatch):
    """The citizen taps "Đọc to" on their ticket and walks away; the sound card hangs. Reading
    held the idle timer off for ever: the ticket stayed on screen for the next person."""
    import kiosk.flows.voice as voice_flow

    d, c = fresh, fresh.c
    monkeypatch.setattr(voice_flow, "BUSY_MAX_S", 2.0)  # (90 s in the kiosk)
    saved, c.speaker = c.speaker, StuckSpeaker()
    try:
        d.tap("home:ticket")
        d.tap("service:C")
        d.wait(lambda: d.screen() == "ticket" and c.visit.ticket, what="ticket")
        d.tap("ticket:read")
        d.wait(lambda: c.speaker.said and c.visit.speaking, what="reading")
        d.pump(1.0)
        assert c.visit.speaking and not c.idle_warning  # reading: the visitor is still here
        d.pump(2.5)
        cfg = d.app.cfg.kiosk
        c.last_activity -= cfg.idle_timeout_s - cfg.idle_warning_s + 0.5
        d.wait(lambda: c.idle_warning and d.app.overlay.idle_text, timeout=5, what="the idle warning")
        c.last_activity -= cfg.idle_warning_s + 1
        d.wait(lambda: d.screen() == "home", timeout=5, what="home after the timeout")
        assert c.visit.ticket is None and not c.visit.speaking
    finally:
        c.speaker = saved


# -- 8. the documents question in English, and the scroll to it ---------------------------------------


def asked(d):
    marks = [w for w in d.visible() if getattr(w, "asked", False)]
    assert len(marks) == 1, f"expected one highlighted section, found {len(marks)}"
    return marks[0]


def view_top_of(d, w) -> float:
    """How far (px) the widget's top lies below the top of the detail page's view."""
    scroll = d.app.screens["detail"].ids.scroll
    _, sy = scroll.to_window(*scroll.pos)
    return sy + scroll.height - w.to_window(w.x, w.top)[1]


def test_documents_question_in_english_opens_at_the_documents(fresh, artifacts):
    d, c = fresh, fresh.c
    d.tap("lang")
    d.tap("search_box")
    type_keys(d, "what documents do i need to register a birth")
    rows = results_shown(d)
    assert rows and rows[0].key == BIRTH
    d.tap(rows[0])
    d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="detail page")
    d.pump(0.5)
    mark = asked(d)
    assert mark.section == "documents" and t(d, "detail.submit", "en") in mark.text
    assert t(d, "detail.asked", "en") in mark.text
    assert 0 <= view_top_of(d, mark) < 0.25 * d.app.screens["detail"].ids.scroll.height
    d.shot(artifacts, "journey-r8-documents-en", [t(d, "detail.asked", "en")])


def test_detail_page_scrolls_to_the_section_once_and_leaves_the_visitor_scrolling(fresh):
    """The detail page scrolls to the question's section once its layout settles (one trigger, not
    two blind timers per build), and a page the visitor has begun to scroll is never snapped back."""
    from kiosk.screens.browse import DetailScreen

    d, c = fresh, fresh.c
    screen = d.app.screens["detail"]
    calls = []
    real = DetailScreen._scroll_to_section

    def counted(self):
        target = self._anchors.get(c.visit.section)
        calls.append((self.ids.body.height, target.y if target is not None else None))
        real(self)

    DetailScreen._scroll_to_section = counted
    try:
        c.open_search("con tôi mới sinh làm giấy khai sinh cần giấy tờ gì")
        d.wait(lambda: c.visit.results and not c.visit.searching, what="results")
        c.open_hit(c.visit.results[0]["key"])
        d.wait(lambda: d.screen() == "detail" and c.visit.procedure, what="detail")
        d.pump(1.0)
        # the section at the top of the view (the effect of the page before, the English one, moved it back)
        scroll = screen.ids.scroll
        assert 0 <= view_top_of(d, asked(d)) < 0.25 * scroll.height, (
            calls,
            scroll.scroll_y,
            screen.ids.body.height,
        )
        # one scroll per layout the page took (its height, the section's place): never twice for one
        assert calls and len(calls) == len(set(calls)), calls
        # the visitor drags the page up at once: it stays where the finger left it
        from kivy.tests.common import UnitTestTouch

        x, y = scroll.to_window(scroll.center_x, scroll.y + scroll.height * 0.3)
        before = scroll.scroll_y
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        for i in range(1, 8):
            d.pump(0.02)
            touch.touch_move(x, y - 40 * i)
        touch.touch_up()
        d.pump(1.5)  # the page glides on a little after the finger lifts
        moved = scroll.scroll_y
        assert moved > before + 0.01, (before, moved)
        n = len(calls)
        c.toggle_doc(0)  # a later change of the page (a tick) moves nothing
        d.pump(1.0)
        assert len(calls) == n and abs(scroll.scroll_y - moved) < 0.01
        # a language change rebuilds the page: the section is brought back to the top once more
        d.tap("bar:lang")
        d.pump(1.0)
        assert len(calls) > n and 0 <= view_top_of(d, asked(d)) < 0.25 * scroll.height
    finally:
        DetailScreen._scroll_to_section = real


def test_no_error_in_the_log_after_all_journeys(kiosk):
    """Last: nothing of the journeys above logged an error except the printer's own failures."""
    assert [e for e in kiosk.errors if "NOT printed" not in e] == []
