"""The real kiosk App under a display (Xvfb), driven through its event loop by simulated touches.

One App per process (Kivy allows one): a module-scoped fixture starts it embedded and the
tests run in file order on it — the visitor journey first, then screenshots of every screen
in both languages and both orientations, then failures (printer down, robot down, voice
model missing, catalogue re-import while a visitor browses) and the staff screen.
Screenshots go to tests/artifacts/kiosk/ for a person to look at.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("DISPLAY"),
                                reason="needs a display: run under xvfb-run (make test does)")

ROOT = Path(__file__).resolve().parent.parent
PIN = "730591"


class FailingPrinter:
    """A printer that is switched off: opening it fails as python-escpos does for a missing device."""

    def open(self, *a, **kw):
        raise OSError("printer is offline")

    def __getattr__(self, name):
        raise OSError("printer is offline")


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    from escpos.printer import Dummy

    from centre.clock import FixedClock
    from kiosk.backend import Backend
    from kiosk.devices import RobotAdapter
    from kiosk.testing import kiosk_config, start

    tmp = tmp_path_factory.mktemp("kiosk")
    cfg = kiosk_config(tmp, pin=PIN)  # the catalogue copied: edits of data/ during the run do not matter
    assert cfg.kiosk.staff_pin_hash
    # a Tuesday, 09:00 in Vietnam: the centre is open
    clock = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    managers = []

    def escort_factory(cfg, on_event):
        from robot.escort import EscortManager

        mgr = EscortManager(cfg, sim_options={"speed_mps": 12.0}, follow_pause_s=0.1, arrive_pause_s=0.1).start()
        managers.append(mgr)
        return RobotAdapter(mgr, on_event)

    drv = start(cfg, tmp, backend=Backend(cfg, printer=Dummy(), queue_clock=clock), escort_factory=escort_factory)
    drv.managers = managers
    yield drv
    drv.stop()
    for m in managers:
        m.close()


@pytest.fixture(scope="module")
def shots(artifacts):
    folder = artifacts / "kiosk"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def t(drv, key, lang=None, **kw):
    return drv.app.tr(key, lang or drv.c.visit.lang, **kw)


# -- the journey ----------------------------------------------------------------------------


def test_journey_search_detail_ticket_guide_idle(kiosk, shots):
    d, c = kiosk, kiosk.c
    assert d.screen() == "home"
    d.wait(lambda: c.services, what="service states")
    d.shot(shots, "00-home-vi", [t(d, "home.greeting"), t(d, "home.lookup"), t(d, "home.ticket"),
                                 t(d, "home.directions"), d.app.cfg.centre.name.vi, t(d, "home.waiting_title")])

    # 1. tap the search box, type "lam giay khai sinh" on the on-screen keyboard
    d.tap("search_box")
    assert d.screen() == "search"
    for ch in "lam giay khai sinh":
        d.tap("key:space" if ch == " " else f"key:{ch}")
    d.wait(lambda: c.visit.results and not c.visit.searching, what="search results")
    assert c.visit.query == "lam giay khai sinh"
    assert c.visit.results[0]["key"] == "1.001193"  # Đăng ký khai sinh
    d.shot(shots, "01-search-results-vi", ["lam giay khai sinh", "Đăng ký khai sinh"])

    # 2. the first result → detail
    row = d.row("hit:", d.app.screens["search"].ids.results)
    assert row.key == "1.001193"
    d.tap(row)
    d.wait(lambda: d.screen() == "detail", what="detail screen")
    assert c.visit.procedure["key"] == "1.001193"
    d.shot(shots, "02-detail-vi", ["Đăng ký khai sinh", t(d, "detail.submit"), t(d, "detail.bring"),
                                   t(d, "detail.fee_line", fee="Miễn phí"), t(d, "detail.take_ticket"),
                                   t(d, "detail.guide")])
    # tick a document of the checklist
    scroll = d.app.screens["detail"].ids.scroll
    sx, sy = scroll.to_window(*scroll.pos)
    doc = next(w for w in d.visible() if type(w).__name__ == "DocRow"
               and sy < w.to_window(*w.center)[1] < sy + scroll.height)
    d.tap(doc)
    assert c.visit.checked_docs == {doc.index} and doc.checked

    # 3. take a number: service A receives it; nobody is asked about priority
    assert d.db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0
    d.tap("detail:take")
    d.wait(lambda: d.screen() == "ticket" and c.visit.print_status == "printed", what="printed ticket")

    # 4. the ticket: in the database and on screen
    rows = d.db.execute("SELECT * FROM tickets").fetchall()
    assert len(rows) == 1
    tk = rows[0]
    assert (tk["series"], tk["number"], tk["state"], tk["procedure_key"], tk["priority"]) == ("A", 1, "waiting", "1.001193", None)
    assert c.visit.ticket["number"] == "A001"
    d.shot(shots, "04-ticket-vi", ["A001", t(d, "ticket.printed"), t(d, "ticket.ahead", ahead=0),
                                   t(d, "ticket.counter", counter="Quầy 1, Quầy 2")])
    jobs = d.db.execute("SELECT ok FROM print_jobs").fetchall()
    assert [j["ok"] for j in jobs] == [1]

    # 5. guide me: the simulated robot comes, leads, arrives
    d.tap("ticket:guide")
    assert d.screen() == "directions"
    d.wait(lambda: c.visit.escort.value in ("coming", "guiding"), timeout=10, what="robot coming")
    d.shot(shots, "05-directions-robot-vi", [t(d, "directions.route_to", place="Quầy 1")])
    d.wait(lambda: c.visit.escort.value == "arrived", timeout=30, what="robot arrived")
    assert t(d, "robot.arrived") in d.texts()

    # 6. idle: warning first, then back to Home with everything cleared
    c.last_activity -= d.app.cfg.kiosk.idle_timeout_s - d.app.cfg.kiosk.idle_warning_s + 1
    d.pump(1.2)
    assert c.idle_warning and d.app.overlay.idle_text
    d.shot(shots, "06-idle-warning-vi", [t(d, "idle.title"), t(d, "idle.stay")])
    d.tap("idle:stay")
    assert not c.idle_warning and d.screen() == "directions"
    c.last_activity -= d.app.cfg.kiosk.idle_timeout_s + 1
    d.pump(1.2)
    assert d.screen() == "home"
    v = c.visit
    assert (v.query, v.results, v.procedure, v.ticket, v.lang, v.history) == ("", [], None, None, "vi", [])
    assert d.db.execute("SELECT count(*) FROM tickets WHERE state='waiting'").fetchone()[0] == 1
    # the search screen forgot the previous visitor's text too
    d.tap("search_box")
    assert d.app.screens["search"].ids.keyboard.text == ""
    c.home()
    d.pump(0.1)


def test_home_to_ticket_in_four_taps(kiosk):
    """Accessibility: Home → ticket for a found procedure: search box, result, Lấy số, priority."""
    d, c = kiosk, kiosk.c
    taps = 0
    d.tap("search_box")
    taps += 1
    d.app.screens["search"].ids.keyboard.type_string("khai sinh")  # typing is not tapping an action
    d.wait(lambda: c.visit.results and not c.visit.searching)
    d.tap(d.row("hit:", d.app.screens["search"].ids.results))
    taps += 1
    d.wait(lambda: d.screen() == "detail")
    d.tap("detail:priority")  # "Tôi thuộc diện ưu tiên"
    taps += 1
    d.wait(lambda: d.screen() == "priority")
    d.tap("priority:elderly")
    taps += 1
    d.wait(lambda: d.screen() == "ticket" and c.visit.ticket)
    assert taps <= 4
    tk = d.db.execute("SELECT * FROM tickets ORDER BY id DESC LIMIT 1").fetchone()
    assert tk["priority"] == "elderly" and tk["number"] == 2
    c.reset()
    d.pump(0.1)


def test_accessibility_targets_text_and_contrast(kiosk):
    """Every visible button ≥ 64 px both ways; every label ≥ 28 px; colours ≥ 4.5:1."""
    d, c = kiosk, kiosk.c
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    def check(screen_name):
        small_buttons, small_text = [], []
        for w in d.visible():
            if w.opacity == 0 or w.width < 1 or w.height < 1:
                continue
            if isinstance(w, Button) and getattr(w, "tag", ""):
                if w.width < 64 or w.height < 64:
                    small_buttons.append((w.tag, w.size))
            elif isinstance(w, Label) and not isinstance(w, Button) and w.text and w.font_size < 28:
                small_text.append((w.text[:30], w.font_size))
        assert not small_buttons, f"{screen_name}: touch targets under 64 px: {small_buttons}"
        assert not small_text, f"{screen_name}: text under 28 px: {small_text}"

    for go in (c.reset, c.open_fields, lambda: c.open_search("khai sinh"), c.open_ticket, c.open_directions,
               c.open_staff):
        go()
        d.pump(0.4)
        check(d.screen())
    c.reset()
    from kiosk.controller import contrast_ratio

    pairs = {"text on background": ((0.10, 0.11, 0.13), (0.957, 0.965, 0.973)),
             "muted text on white": ((0.27, 0.30, 0.35), (1, 1, 1)),
             "white on primary": ((1, 1, 1), (0.043, 0.310, 0.541)),
             "white on pressed": ((1, 1, 1), (0.02, 0.20, 0.38)),
             "white on accent": ((1, 1, 1), (0.60, 0.11, 0.09)),
             "white on green": ((1, 1, 1), (0.05, 0.40, 0.18)),
             "text on warning": ((0.10, 0.11, 0.13), (1.0, 0.93, 0.70)),
             "primary on white": ((0.043, 0.310, 0.541), (1, 1, 1))}
    for name, (fg, bg) in pairs.items():
        assert contrast_ratio(fg, bg) >= 4.5, name


# -- every screen, both languages, both orientations --------------------------------------------


# Screenshots of every screen in both languages, orientations and text sizes are taken by
# tests/test_kiosk_taps.py while it taps every button.


def test_diacritics_render_without_tofu(kiosk):
    """Every Vietnamese letter with every tone renders as its own glyph with the kiosk's font."""
    from kivy.core.text import Label as CoreLabel

    from centre.tickets import vietnamese_letters

    def pixels(ch):
        lab = CoreLabel(text=ch, font_size=40)
        lab.refresh()
        return bytes(lab.texture.pixels)

    tofu = pixels("\ue000")  # a private-use code point no font has: the missing-glyph box
    bad = [ch for ch in vietnamese_letters() if pixels(ch) == tofu]
    assert not bad, f"missing glyphs: {bad}"
    # and marks are really drawn: a toned letter differs from its base
    assert pixels("ệ") != pixels("e") and pixels("Đ") != pixels("D")


# -- failures -----------------------------------------------------------------------------------


def test_printer_down_shows_qr_and_keeps_ticket(kiosk, shots):
    d, c = kiosk, kiosk.c
    backend = c.backend
    saved = backend._printer
    backend._printer = FailingPrinter()
    try:
        c.reset()
        n0 = d.db.execute("SELECT count(*) FROM tickets").fetchone()[0]
        d.tap("home:ticket")
        d.tap("service:D")
        d.wait(lambda: c.visit.print_status == "failed", what="print failure")
        assert d.screen() == "ticket"
        assert d.db.execute("SELECT count(*) FROM tickets").fetchone()[0] == n0 + 1
        assert d.app.screens["ticket"].ids.qr.source.endswith(".png")
        d.shot(shots, "10-printer-down-vi", [t(d, "ticket.print_failed"), c.visit.ticket["number"]])
        last = d.db.execute("SELECT ok, message FROM print_jobs ORDER BY id DESC LIMIT 1").fetchone()
        assert last["ok"] == 0 and last["message"]
    finally:
        backend._printer = saved
        c.reset()


def test_robot_down_falls_back_to_map(kiosk, shots):
    d, c = kiosk, kiosk.c
    from kiosk.controller import RobotAdapter
    from robot.escort import EscortManager

    good = c.escort_mgr
    mgr = EscortManager(d.app.cfg, ports={"robot-1": str(d.tmp / "no-such-port")}, start_simulators=False).start()
    c.escort_mgr = RobotAdapter(mgr, d.app.robot_listener)
    try:
        c.reset()
        c.open_procedure("1.001193")
        d.wait(lambda: d.screen() == "detail")
        d.tap("detail:guide")
        d.wait(lambda: c.visit.escort.value == "fallback", timeout=5, what="map fallback")
        assert d.screen() == "directions"
        assert c.visit.escort_reason in ("robot.unavailable", "robot.down")
        assert d.app.screens["directions"].ids.map.route  # the route is drawn
        d.shot(shots, "11-robot-down-vi", [t(d, c.visit.escort_reason)])
    finally:
        c.escort_mgr.close()
        c.escort_mgr = good
        c.reset()


def test_voice_model_missing_hides_microphone(kiosk, shots):
    d, c = kiosk, kiosk.c
    d.wait(lambda: c.voice_error, timeout=10, what="voice status")
    assert not c.voice_ready and not d.app.voice_ready
    c.reset()
    d.pump(0.1)
    mic = d.app.screens["home"].ids.mic
    assert mic.disabled and mic.opacity == 0 and mic.width == 0
    assert "no-model" in c.voice_error or "model" in c.voice_error


def test_catalogue_reimport_while_visitor_browses(kiosk):
    d, c = kiosk, kiosk.c
    from centre.catalogue_import import import_catalogue
    from centre.db import connect

    c.reset()
    c.open_search("khai sinh")
    d.wait(lambda: c.visit.results and not c.visit.searching)
    c.open_procedure(c.visit.results[0]["key"])
    d.wait(lambda: d.screen() == "detail")
    v0 = d.db.execute("SELECT value FROM catalogue_meta WHERE key='version'").fetchone()[0]
    # the staff console (another connection) re-imports while the visitor reads the detail
    done = threading.Event()

    def staff():
        conn = connect(d.app.cfg.database_path)
        import_catalogue(conn, d.app.cfg.path(d.app.cfg.paths.catalogue))
        conn.close()
        done.set()

    th = threading.Thread(target=staff)
    th.start()
    # the visitor keeps scrolling and searching meanwhile; the UI never blocks
    for q in ("khai", "khai sinh", "ket hon"):
        c.search(q)
        d.pump(0.1)
    th.join(60)
    assert done.is_set()
    assert d.db.execute("SELECT value FROM catalogue_meta WHERE key='version'").fetchone()[0] != v0
    c.open_search("dang ky ket hon")
    d.wait(lambda: c.visit.results and not c.visit.searching and c.visit.query == "dang ky ket hon")
    assert c.visit.results[0]["key"] == "1.000894"
    c.open_procedure("1.001193")
    d.wait(lambda: c.visit.procedure and c.visit.procedure["key"] == "1.001193")
    d.tap("detail:take")
    d.wait(lambda: d.screen() == "ticket" and c.visit.ticket, what="ticket after re-import")
    c.reset()


def test_staff_pin_lockout_and_actions(kiosk, shots):
    d, c = kiosk, kiosk.c

    def enter(pin):
        n = d.db.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        for k in pin:
            d.tap(f"pin:{k}")
        d.tap("pin:ok")
        d.wait(lambda: not c.pin_checking and (
            d.screen() == "staff" or d.db.execute("SELECT count(*) FROM audit_log").fetchone()[0] > n),
            what="PIN checked")
        d.pump(0.1)

    c.reset()
    d.tap("staff")
    assert d.screen() == "pin"
    for _ in range(4):
        enter("111111")
        assert d.screen() == "pin"
    assert d.app.overlay.message == t(d, "staff.pin_wrong", tries=1)
    enter("111111")
    assert d.app.overlay.message == t(d, "staff.pin_locked", minutes=5)
    d.shot(shots, "12-pin-locked-vi", [t(d, "staff.pin_locked", minutes=5)])
    enter(PIN)  # the right PIN is refused while locked
    assert d.screen() == "pin"
    actions = [r[0] for r in d.db.execute("SELECT action FROM audit_log WHERE entity = 'pin'")]
    assert actions.count("pin.failed") == 4 and "pin.locked" in actions  # audited
    # five minutes later (the lockout is kept in the database: a restart would not lift it)
    d.db.execute("UPDATE pin_lockout SET locked_until = 0")
    enter(PIN)
    assert d.screen() == "staff"
    d.wait(lambda: c.staff_counters, what="counters")
    d.tap("counter:3:paused")
    d.wait(lambda: any(x["id"] == 3 and x["state"] == "paused" for x in c.staff_counters), what="counter paused")
    from centre.queue import Queue

    assert Queue(d.db, d.app.cfg).counter(3).state == "paused"  # in the database, for the counters' consoles
    d.tap("staff:test_print")
    d.wait(lambda: c.message and c.message[0] == "staff.test_print_ok", what="test print")
    d.shot(shots, "13-staff-vi", [t(d, "staff.title"), t(d, "staff.state_paused"), t(d, "staff.test_print_ok"),
                                  t(d, "staff.voice_no_model", path=c.voice_error)])
    d.tap("staff:reimport")
    d.wait(lambda: c.message and c.message[0] == "staff.reimported", timeout=60, what="re-import")
    d.tap("counter:3:open")
    d.wait(lambda: any(x["id"] == 3 and x["state"] == "open" for x in c.staff_counters))
    stopped = []
    d.app.stop, saved = (lambda: stopped.append(1)), d.app.stop
    try:
        d.tap("staff:leave")
    finally:
        d.app.stop = saved
    assert stopped == [1]
    c.reset()


def test_dossier_lookup_by_typed_code(kiosk, shots):
    """Tra cứu hồ sơ: a receipt code typed on the keyboard → state, next step, masked applicant only."""
    d, c = kiosk, kiosk.c
    from centre.dossiers import Dossiers

    conn = d.db
    dos = Dossiers.from_config(conn, d.app.cfg)
    rep = dos.upsert_many([(1, {"code": "000.00.40.H40-261120-0007", "procedure_code": "1.001193",
                                "applicant_name": "Nguyễn Thị Hoa", "applicant_phone": "0912345678",
                                "received_at": "2026-11-20 09:00", "state": "ready", "counter": "Quầy 2"})],
                          source="test")
    assert rep.inserted == 1
    c.reset()
    d.tap("home:dossier")
    assert d.screen() == "dossier"
    for ch in "h40-261120-0007":  # the distinctive tail of the code is enough
        d.tap(f"key:{ch}")
    assert c.visit.dossier_code == "H40-261120-0007"
    d.tap("dossier:find")
    d.wait(lambda: c.visit.dossier_state == "found", what="dossier")
    assert d.app.screens["dossier"].ids.keyboard.opacity == 0  # the keyboard hides: the whole result shows
    shown = d.texts()
    assert t(d, "dossier.code", code="000.00.40.H40-261120-0007") in shown
    assert t(d, "dossier.state_ready") in shown
    assert t(d, "dossier.next_pickup", counter="Quầy 2") in shown
    assert "Nguyễn Thị Hoa" not in shown and "0912345678" not in shown  # masked
    d.shot(shots, "14-dossier-found-vi", [t(d, "dossier.state_ready")])
    d.tap("dossier:edit")
    d.tap("key:backspace")  # a mistyped code: a clear "not found", nobody else's dossier
    d.tap("dossier:find")
    d.wait(lambda: c.visit.dossier_state == "not_found", what="not found")
    assert t(d, "dossier.not_found") in d.texts()
    c.reset()


def test_english_visitor_types_plain_letters(kiosk):
    """QA: in English the search keyboard stayed in Telex: "birth" became "bỉth" and found nothing."""
    d, c = kiosk, kiosk.c
    c.reset()
    d.tap("search_box")
    assert d.screen() == "search"
    d.tap("bar:lang")
    assert c.visit.lang == "en"
    for ch in "birth":
        d.tap(f"key:{ch}")
    assert c.visit.query == "birth"
    assert d.app.screens["search"].ids.keyboard.keys["key:mode"].text == t(d, "search.plain")
    d.tap("bar:lang")  # back to Vietnamese: Telex again
    kb = d.app.screens["search"].ids.keyboard
    assert kb.telex and kb.keys["key:mode"].text == t(d, "search.telex")
    d.tap("key:space")
    for ch in "ddaas":
        d.tap(f"key:{ch}")
    assert c.visit.query == "birth đấ"
    c.reset()


def test_plain_mode_does_not_carry_over_to_the_next_visit(kiosk):
    """A visitor who chose "Gõ không dấu" leaves; the next Vietnamese visitor types in Telex again."""
    d, c = kiosk, kiosk.c
    c.reset()
    d.tap("search_box")
    kb = d.app.screens["search"].ids.keyboard
    d.tap("key:mode")
    assert not kb.telex and kb.keys["key:mode"].text == t(d, "search.plain")
    for ch in "hon":
        d.tap(f"key:{ch}")
    c.reset()  # the idle timeout's reset: a new visit
    d.tap("search_box")
    assert kb.text == "" and kb.telex and kb.keys["key:mode"].text == t(d, "search.telex")
    for ch in "ddaas":
        d.tap(f"key:{ch}")
    assert c.visit.query == "đấ"
    c.reset()


def test_hardware_keyboard_types_in_search(kiosk):
    """QA: a USB keyboard typed on the dossier screen but not in search."""
    from kivy.core.window import Window

    d, c = kiosk, kiosk.c
    c.reset()
    d.tap("search_box")
    assert d.screen() == "search"
    Window.dispatch("on_textinput", "Ho chieux")
    Window.dispatch("on_key_down", 8, 0, None, [])  # backspace
    d.pump(0.1)
    assert c.visit.query == "ho chieu"
    c.reset()
    d.pump(0.1)
    Window.dispatch("on_textinput", "x")  # not on the search screen: nothing typed there
    assert c.visit.query == ""


def test_larger_text(kiosk, shots):
    d, c = kiosk, kiosk.c
    c.reset()
    d.tap("large")
    assert c.visit.large_text and d.app.scale == d.app.cfg.kiosk.large_text_scale
    d.shot(shots, "15-home-large-vi", [t(d, "app.normal_text"), t(d, "home.lookup")])
    c.open_procedure("1.001193")
    d.wait(lambda: d.screen() == "detail")
    d.shot(shots, "16-detail-large-vi", [t(d, "detail.take_ticket")])
    c.open_search("khai sinh")
    d.wait(lambda: c.visit.results and not c.visit.searching)
    d.shot(shots, "17-search-large-vi", [t(d, "search.results", count=len(c.visit.results))])
    c.reset()
    assert not c.visit.large_text and d.app.scale == 1.0


def test_typing_shows_each_letter_and_searches_after_a_pause(kiosk):
    """Issue 14 (speed): each key shows its letter at once; the live search waits for a pause
    (kiosk.search_pause_s) and runs only for the text the visitor stopped at."""
    d, c = kiosk, kiosk.c
    c.reset()
    d.tap("search_box")
    assert d.screen() == "search"
    scr = d.app.screens["search"]
    searched: list[str] = []
    real = c.backend.search

    def recording(text, limit):
        searched.append(text)
        return real(text, limit)

    c.backend.search = recording
    try:
        for ch in "khai sinh":  # quicker than the pause: no search while typing
            scr.ids.keyboard.press(ch)
            assert scr.ids.query.text == scr.ids.keyboard.text == c.visit.query  # the letter, before any search
        assert c.visit.searching and searched == []
        d.wait(lambda: not c.visit.searching and c.visit.results, what="results after the pause")
        assert searched == ["khai sinh"]
        assert any("khai sinh" in h["name"].lower() for h in c.visit.results)
    finally:
        c.backend.search = real
    c.reset()


def test_page_background_is_painted(kiosk, shots):
    """The screens no longer draw a full-screen background rectangle (one software-GL pass a
    frame); the root clears to the page colour instead, on the window and in screenshots."""
    from PIL import Image

    d, c = kiosk, kiosk.c
    c.reset()
    c.open_search()
    d.wait(lambda: d.screen() == "search")
    path = d.shot(shots, "18-search-empty-vi")
    img = Image.open(path).convert("RGB")
    w, h = img.size
    page = (round(0.957 * 255), round(0.965 * 255), round(0.973 * 255))
    for xy in ((3, h - 4), (w - 4, h - 4)):  # the screen's outer padding, below the keyboard
        assert all(abs(a - b) <= 2 for a, b in zip(img.getpixel(xy), page, strict=True)), (xy, img.getpixel(xy))
    # the window's own frame: cleared by the window alone (the root's clear is for images only)
    from kivy.core.window import Window
    from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glReadPixels

    Window.dispatch("on_draw")
    for x in (3, Window.width - 4):  # bottom row, in OpenGL's coordinates
        px = tuple(glReadPixels(x, 3, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE))[:3]
        assert all(abs(a - b) <= 2 for a, b in zip(px, page, strict=True)), (x, px)
    Window.dispatch("on_flip")
    c.reset()


def test_frames_draw_less_and_labels_keep_no_second_copy(kiosk):
    """Issue 14 (memory, keystroke): the screen manager clips with the scissor test, not two
    stencil passes over the whole window in every frame; a label keeps only its texture, not
    also the SDL surface it was rendered into."""
    from kivy.graphics import ScissorPush, StencilPush
    from kivy.uix.label import Label

    d, c = kiosk, kiosk.c
    c.reset()
    assert not any(isinstance(i, StencilPush) for i in d.app.sm.canvas.before.children)
    assert any(isinstance(i, ScissorPush) for i in d.app.sm.canvas.before.children)
    c.open_fields()
    d.wait(lambda: d.screen() == "fields" and c.fields)
    d.pump(0.3)  # drawn: the textures are filled when a frame binds them
    labels = [w for w in d.visible() if isinstance(w, Label) and w.text and w.texture is not None]
    assert len(labels) > 10
    assert all(getattr(w._label, "_surface", None) is None for w in labels)
    c.reset()


def test_text_textures_as_wide_as_their_text(kiosk):
    """Issue 14 (keystroke, memory): a row's or a button's text texture is as wide as its text,
    not as its box (every texture pixel is drawn and kept), and it is drawn where the box-wide
    texture put it: left-aligned rows at the box's left edge, button labels centred."""
    from kivy.graphics import Rectangle

    from kiosk.widgets.common import KButton, ListRow

    d, c = kiosk, kiosk.c
    c.reset()
    c.open_fields()
    d.wait(lambda: d.screen() == "fields" and c.fields)
    d.pump(0.3)

    def drawn_at(w):
        rect = next(i for i in w.canvas.children if isinstance(i, Rectangle) and i.texture is w.texture)
        return rect.pos

    rows = [w for w in d.visible() if isinstance(w, ListRow) and w.text]
    assert len(rows) >= 5
    for w in rows:
        assert w.halign == "left" and w.texture_size[0] < w.text_size[0] * 0.8, (w.text, w.texture_size, w.text_size)
        assert drawn_at(w)[0] == int(w.center_x - w.text_size[0] / 2)
    home = d.find("bar:home")
    assert isinstance(home, KButton) and home.texture_size[0] < home.text_size[0]
    assert abs(drawn_at(home)[0] + home.texture_size[0] / 2 - home.center_x) <= 1
    c.reset()


def test_a_real_touch_is_handled_in_the_loop_turn_that_reads_it(kiosk):
    """Issue 14 (tap pick-up): a touch is read from the window in the clock's tick, after the
    loop's sleep, and handled in that same turn. Kivy read the window's events only after
    drawing, and its widgets got them one sleep later (the embedded driver never read them)."""
    import time

    from kivy.core.window import Window

    from kiosk.testing import XTouch

    d, c = kiosk, kiosk.c
    c.reset()
    d.pump(0.3)
    x, y = d.find("home:lookup").to_window(*d.find("home:lookup").center)
    xt = XTouch()
    try:
        xt.tap(Window.left + x, Window.top + Window.height - y, hold=0.05)
        time.sleep(0.3)  # the X server has passed the events on to the kiosk's connection
        d.loop.idle()  # one turn of the event loop: sleep, read the window, dispatch the touch
    finally:
        xt.close()
    assert c.screen.value == "fields" and d.screen() == "fields"
    c.reset()
