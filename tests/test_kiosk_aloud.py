"""'Đọc to' on every screen (issue 13 item 4): what each screen reads, in Vietnamese and English.

A real controller on the real backend (SQLite database with the shipped catalogue, the real
queue and search), no Kivy. Each screen's text must be short as heard (≤ 60 words after the
Speaker's own normaliser, `voice.speech.to_speech`: vietnormalizer for Vietnamese), leave no
digit for the synthesiser to spell, be in the visitor's language, say what the screen shows
(the services' states and the wait as the queue words it, the counts and first names, the
referral and the help desk, the dossier's next step) and never the applicant's data.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from voice_fakes import BlockingPlayer, ListeningVoice

from kiosk.aloud import MAX_WORDS, heard, heard_words, screen_lang
from kiosk.visit import Screen

DAY = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)     # a Tuesday, 09:00 in Vietnam: every service open
NIGHT = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 21:00: closed until 07:30 tomorrow
APPLICANT = "N*** V*** A"
CODE_TAIL = "H29-260213-0001"


def _controller(tmp: Path, when: datetime):
    from centre.clock import FixedClock
    from kiosk.backend import Backend
    from kiosk.controller import Controller
    from kiosk.testing import kiosk_config, sample_dossier_lookup

    cfg = kiosk_config(tmp)
    backend = Backend(cfg, queue_clock=FixedClock(when))
    backend.prepare()
    c = Controller(cfg, backend, synchronous=True, dossier_lookup=sample_dossier_lookup())
    c.start(warm_up=False)
    return c


@pytest.fixture(scope="module")
def ctl(tmp_path_factory):
    c = _controller(tmp_path_factory.mktemp("aloud-day"), DAY)
    yield c
    c.close()


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    c = _controller(tmp_path_factory.mktemp("aloud-night"), NIGHT)
    yield c
    c.close()


def _visit(c, lang: str):
    c.reset()
    c.set_lang(lang)
    assert c.visit.lang == lang


# each screen: how to get there (on a fresh visit in the language), and what must be heard
TOUR = {
    "home": lambda c: None,
    "fields": lambda c: c.open_fields(),
    "procedures": lambda c: (c.open_fields(), c.open_field("ho-tich")),
    "detail": lambda c: c.open_procedure("1.001193"),
    "search": lambda c: c.open_search("giay khai sinh"),
    "search-empty": lambda c: c.open_search(),
    "no-match": lambda c: c.open_search("lam ho chieu"),
    "no-match-fields": lambda c: c.open_search("xyz qwv"),
    "service": lambda c: c.open_ticket(),
    "priority": lambda c: (c.open_ticket(), c.open_priority()),
    "ticket": lambda c: (c.open_ticket(), c.choose_service("B")),
    "directions": lambda c: c.open_directions(),
    "route": lambda c: (c.open_directions(), c.pick_place("counter_3")),
    "dossier": lambda c: c.open_dossiers(),
    "dossier-found": lambda c: (c.open_dossiers(), c.dossier_typed(CODE_TAIL), c.dossier_find()),
    "dossier-unknown": lambda c: (c.open_dossiers(), c.dossier_typed("X-0000"), c.dossier_find()),
}


def _text(c, screen: str, lang: str) -> str:
    _visit(c, lang)
    TOUR[screen](c)
    return c.aloud_text()


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("screen", list(TOUR))
def test_every_screen_reads_something_short_in_the_visitors_language(ctl, screen, lang):
    text = _text(ctl, screen, lang)
    assert text.strip(), f"{screen}/{lang}: nothing to read"
    said = heard(text, lang)
    assert heard_words(text, lang) <= MAX_WORDS, f"{screen}/{lang}: {len(said.split())} words: {said}"
    # every number, date and time went through the normaliser: nothing left to spell digit by digit
    assert not re.search(r"\d", said), f"{screen}/{lang}: digits left for the synthesiser: {said}"
    assert APPLICANT not in text and "H29" not in text and "260213" not in text, f"{screen}: personal data: {text}"
    if lang == "en" and screen != "detail":
        assert "Ông/Bà" not in text and "Mời" not in text, f"{screen}: Vietnamese in English: {text}"
    if lang == "vi" and screen not in ("detail", "search-empty", "dossier-unknown"):
        assert "Ông/Bà" in text, f"{screen}: not the respectful register: {text}"


def test_home_says_what_the_kiosk_does_and_each_services_state(ctl):
    for series in ("A", "A", "C"):  # people waiting in two services: their wait as the queue says it
        ctl.backend.issue_ticket(series, None, None, "vi")
    ctl.refresh_home()
    _visit(ctl, "vi")
    text = ctl.aloud_text()
    for key in ("home.lookup", "home.ticket", "home.dossier", "home.directions"):
        assert ctl.t(key) in text
    states = ctl.services
    assert states["A"]["waiting"] == 2 and states["A"]["wait_text_vi"] in text  # one wait wording
    assert states["C"]["wait_text_vi"] in text
    for svc in ctl.cfg.services:  # each by the first part of its name ("Hộ tịch, chứng thực": "Hộ tịch")
        assert svc.name.get("vi").split(",")[0] in text, f"{svc.series} not read: {text}"
    assert "·" not in text and "khác trên màn hình" not in text  # the screen's separator is read as a pause
    _visit(ctl, "en")
    text = ctl.aloud_text()
    wait_en = states["A"]["wait_text_en"]
    assert wait_en.endswith(" min") and text.startswith("Welcome.") and f"{wait_en}utes" in text  # said in full
    assert all(svc.name.get("en").split(",")[0] in text for svc in ctl.cfg.services)


def test_a_closed_service_says_when_it_opens_in_words(night):
    _visit(night, "vi")
    said = heard(night.aloud_text(), "vi")
    assert "mở lại lúc bảy giờ ba mươi" in said and "hai mươi lăm tháng mười một" in said, said
    _visit(night, "en")
    text = night.aloud_text()
    assert "opens at 7:30 on 25 November" in text, text
    assert "seven" in heard(text, "en")
    night.open_ticket()
    assert "opens at 7:30 on 25 November" in night.aloud_text()


def test_lists_are_read_briefly_with_the_count_and_the_first_names(ctl):
    text = _text(ctl, "fields", "vi")
    assert f"Có {len(ctl.fields)} lĩnh vực" in text and ctl.fields[0]["name"] in text
    assert "khác trên màn hình" in text  # not all 60-odd names
    text = _text(ctl, "procedures", "vi")
    assert ctl.visit.procedures and ctl.visit.field_name["name"] in text
    text = _text(ctl, "search", "vi")
    assert f"Tìm thấy {len(ctl.visit.results)} thủ tục" in text and "Đăng ký khai sinh" in text
    text = _text(ctl, "search", "en")
    assert f"Procedures found: {len(ctl.visit.results)}." in text and "Birth registration" in text


def test_no_match_says_where_to_go_instead_and_to_ask_the_help_desk(ctl):
    text = _text(ctl, "no-match", "vi")
    ref = ctl.visit.referral
    assert ref and ref["office_vi"] in text and "hỏi cán bộ" in text and "quầy hướng dẫn" in text, text
    text = _text(ctl, "no-match", "en")
    assert ctl.visit.referral["office_en"] in text and "help desk" in text, text
    text = _text(ctl, "no-match-fields", "vi")
    assert not ctl.visit.referral and ctl.name_of(ctl.visit.suggestions[0]) in text and "hỏi cán bộ" in text


def test_dossier_result_says_state_next_step_counter_and_missing_documents_only(ctl):
    text = _text(ctl, "dossier-found", "vi")
    assert ctl.visit.dossier_state == "found"
    for part in ("Cần bổ sung giấy tờ", "Quầy 2", "Tờ khai đăng ký khai sinh", "Hẹn trả kết quả 20/02/2026"):
        assert part in text, text
    assert "Người nộp" not in text and "Đăng ký khai sinh" not in text.replace("Tờ khai đăng ký khai sinh", "")
    text = _text(ctl, "dossier-found", "en")
    assert "Counter 2" in text and "20 February 2026" in text and "Applicant" not in text
    # the English voice never reads the Vietnamese documents' names: it says how many, and where
    assert "Documents still needed: 1." in text and "Tờ khai" not in text and "in Vietnamese" in text, text


def test_directions_say_which_counter_how_far_and_the_robot(ctl):
    text = _text(ctl, "route", "vi")
    assert "Quầy 3" in text and "mét" in text and ctl.t("robot.absent") in text, text
    text = _text(ctl, "directions", "en")
    assert text.startswith("Where would you like to go?") and "Counter 1" in text


def test_ticket_reads_the_number_counter_and_wait(ctl):
    text = _text(ctl, "ticket", "vi")
    tk = ctl.visit.ticket
    assert tk["number"] in text and "Quầy 3" in text and tk["wait_text_vi"] in text
    assert "B không không" in heard(text, "vi") or "b không không" in heard(text, "vi")


def test_staff_screens_read_nothing(ctl):
    _visit(ctl, "vi")
    ctl.open_staff()
    assert ctl.screen == Screen.PIN and ctl.aloud_text() == ""


def test_a_detail_page_opened_in_vietnamese_is_read_with_the_vietnamese_voice(ctl):
    _visit(ctl, "vi")
    ctl.open_procedure("1.001193")
    ctl.visit.lang = "en"  # the page keeps the texts it was opened with
    assert screen_lang(ctl) == "vi" and "Đăng ký khai sinh" in ctl.aloud_text()


class RecordingSpeaker:
    """Records what the kiosk asks to be said and each stop (the voice flow's speaker contract)."""

    def __init__(self):
        self.said, self.stops = [], 0

    def say(self, text, lang="vi", on_done=None):
        self.said.append((lang, text))

    def stop(self):
        self.stops += 1


def test_reading_stops_on_any_new_screen_back_home_and_language(ctl):
    sp = RecordingSpeaker()
    ctl.speaker = sp
    try:
        _visit(ctl, "vi")
        ctl.read_aloud()
        assert ctl.visit.speaking and sp.said[-1] == ("vi", ctl.aloud_text())
        ctl.open_ticket()  # a tile tapped while reading: the old screen's text stops
        assert not ctl.visit.speaking
        ctl.read_aloud()
        assert sp.said[-1][1].startswith("Các dịch vụ hôm nay.")
        stops = sp.stops
        ctl.back()
        assert not ctl.visit.speaking and sp.stops > stops
        ctl.read_aloud()
        ctl.set_lang("en")
        assert not ctl.visit.speaking
        ctl.read_aloud()
        assert sp.said[-1][0] == "en" and sp.said[-1][1].startswith("Welcome.")
        ctl.open_fields()
        ctl.read_aloud()
        ctl.home()
        assert not ctl.visit.speaking
    finally:
        ctl.speaker = None


def test_a_ticket_first_in_line_says_nobody_is_waiting(ctl):
    _visit(ctl, "vi")
    ctl.open_ticket()
    ctl.choose_service("D")  # nobody waits for D in this module
    assert ctl.visit.ticket["ahead"] == 0
    text = ctl.aloud_text()
    assert "Không có ai chờ trước Ông/Bà" in text and "Có 0" not in text, text
    ctl.set_lang("en")
    assert "Nobody is waiting before you" in ctl.aloud_text()


def test_fit_never_goes_over_the_limit_as_heard(ctl):
    from kiosk.aloud import fit

    _visit(ctl, "vi")
    text = fit(ctl, lambda shown, left: "Có 15 người chờ. " * 20, ["a", "b"])  # too long even alone
    assert text and heard_words(text, "vi") <= MAX_WORDS and len(text.split()) < MAX_WORDS


def test_repeat_by_voice_reads_the_screen_the_visitor_asked_from(ctl):
    from voice.events import Understood

    sp, ctl.voice = RecordingSpeaker(), ListeningVoice()
    ctl.speaker, ctl.voice_ready = sp, True
    try:
        _visit(ctl, "vi")
        ctl.open_ticket()
        ctl.mic_down()  # holding the microphone shows the search screen
        assert ctl.screen == Screen.SEARCH
        ctl.mic_up()
        ctl.on_voice_event(Understood(kind="command", target="repeat", label="nhắc lại", text="nhắc lại", score=1.0))
        assert ctl.screen == Screen.SERVICE and sp.said[-1][1].startswith("Các dịch vụ hôm nay."), sp.said
    finally:
        ctl.speaker, ctl.voice, ctl.voice_ready = None, None, False


# -- the real App under Xvfb, by touch (slow) ----------------------------------------------------

needs_display = pytest.mark.skipif(not __import__("os").environ.get("DISPLAY"),
                                   reason="needs a display: run under xvfb-run (make test does)")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from escpos.printer import Dummy

    from centre.clock import FixedClock
    from kiosk.backend import Backend
    from kiosk.testing import kiosk_config, sample_dossier_lookup, start
    from voice.speech import Speaker

    tmp = tmp_path_factory.mktemp("kiosk-aloud")
    cfg = kiosk_config(tmp)
    player = BlockingPlayer()
    speaker = Speaker(cfg, player=player, cache_dir=tmp / "tts")  # real espeak-ng, into the null player
    asked = []
    real_say = speaker.say

    def say(text, lang="vi", on_done=None):
        asked.append((lang, text))
        real_say(text, lang, on_done=on_done)

    speaker.say = say
    drv = start(cfg, tmp, backend=Backend(cfg, printer=Dummy(), queue_clock=FixedClock(DAY)), speaker=speaker,
                dossier_lookup=sample_dossier_lookup())
    drv.wait(lambda: drv.c.services and drv.c.fields, what="home data")
    drv.player, drv.asked = player, asked
    yield drv
    player.stop()
    drv.stop()


def _read_here(d, tag: str, lang: str, starts: str) -> str:
    """Tap the screen's "Đọc to" and check what the speaker was asked to say, and that espeak-ng made it."""
    from kiosk.aloud import screen_text

    button = d.find(tag)
    assert button.height >= 64 and button.width >= 64, f"{tag}: {button.size} is too small to touch"
    assert button.text == d.app.tr("detail.read", lang)
    expected = screen_text(d.c)
    asked, played = len(d.asked), len(d.player.played)
    d.tap(button)
    d.wait(lambda: len(d.asked) > asked and len(d.player.played) > played and d.c.visit.speaking,
           timeout=30, what=f"{tag} speaking")
    said_lang, text = d.asked[-1]
    assert (said_lang, text) == (lang, expected) and text.startswith(starts), text
    wav = d.player.played[-1]
    assert wav.is_file() and wav.stat().st_size > 8000, "espeak-ng wrote no audio"
    d.pump(0.1)
    assert button.text == d.app.tr("detail.stop", lang)  # the same button now stops
    return text


def _stopped_by(d, tag: str, what: str) -> None:
    stops = d.player.stops
    d.tap(tag)
    d.wait(lambda: not d.c.visit.speaking and d.player.stops > stops, timeout=10, what=f"stopped by {what}")


def _type(d, keys: str) -> None:
    kb = d.app.screens[d.screen()].ids.keyboard
    for ch in keys:
        d.tap(kb.keys["key:space" if ch == " " else f"key:{ch}"], settle=0.02)


@pytest.mark.slow
@needs_display
def test_read_aloud_by_touch_on_every_kind_of_screen_and_back_stops_it(app):
    d, c = app, app.c
    c.reset()
    d.pump(0.2)
    text = _read_here(d, "home:read", "vi", "Kính chào Ông/Bà.")
    assert "Hộ tịch" in text
    _stopped_by(d, "home:read", "Dừng đọc")
    assert d.find("home:read").text == "Đọc to"

    d.tap("home:lookup")
    d.wait(lambda: d.screen() == "fields")
    _read_here(d, "fields:read", "vi", f"Có {len(c.fields)} lĩnh vực")
    _stopped_by(d, "bar:back", "Back")
    assert d.screen() == "home"

    d.tap("search_box")
    d.wait(lambda: d.screen() == "search")
    _type(d, "lam ho chieu")  # a passport: not done here
    d.wait(lambda: not c.visit.searching and c.visit.query == "lam ho chieu" and not c.visit.results, timeout=20)
    d.pump(0.3)
    text = _read_here(d, "search:read", "vi", "Không tìm thấy thủ tục")
    assert c.visit.referral["office_vi"] in text and "hỏi cán bộ" in text
    _stopped_by(d, "bar:back", "Back")

    d.tap("home:dossier")
    d.wait(lambda: d.screen() == "dossier")
    _type(d, CODE_TAIL.lower())
    d.tap("dossier:find")
    d.wait(lambda: c.visit.dossier_state == "found", what="dossier found")
    text = _read_here(d, "dossier:read", "vi", "Cần bổ sung giấy tờ.")
    assert "Quầy 2" in text and APPLICANT not in text and CODE_TAIL not in text
    _stopped_by(d, "bar:home", "Home")

    d.tap("home:directions")
    d.wait(lambda: d.screen() == "directions")
    d.tap("place:counter_3")
    d.wait(lambda: c.visit.destination)
    _read_here(d, "directions:read", "vi", "Đường đến Quầy 3")
    _stopped_by(d, "bar:lang", "a language change")  # the language changes, the reading stops

    # in English: the service list, read with the English voice; Back stops it
    assert c.visit.lang == "en"
    _stopped = d.player.stops
    d.tap("bar:home")
    d.tap("home:ticket")
    d.wait(lambda: d.screen() == "service")
    text = _read_here(d, "service:read", "en", "The services today.")
    assert "minutes" in text or "nobody waiting" in text
    _stopped_by(d, "bar:back", "Back")
    d.tap("home:ticket")
    d.wait(lambda: d.screen() == "service")
    d.tap("service:B")
    d.wait(lambda: d.screen() == "ticket" and c.visit.ticket, what="ticket")
    _read_here(d, "ticket:read", "en", f"Your number is {c.visit.ticket['number']}")
    _stopped_by(d, "ticket:done", "the end of the visit")
    assert c.visit.lang == "vi" and d.player.stops > _stopped


#: the read-aloud button of each screen of the tap audit's tour, and whether the microphone is beside it
READ_AND_MIC = {
    "home": ("home:read", "mic"), "fields": ("fields:read", "fields:mic"),
    "procedures": ("procedures:read", "procedures:mic"), "detail": ("detail:read", "detail:mic"),
    "detail-open": ("detail:read", "detail:mic"), "search": ("search:read", "search:mic"),
    "search-see-also": ("search:read", "search:mic"), "search-nomatch": ("search:read", "search:mic"),
    "service": ("service:read", "service:mic"), "priority": ("priority:read", "priority:mic"),
    "ticket": ("ticket:read", "ticket:mic"), "directions": ("directions:read", "directions:mic"),
    "directions-route": ("directions:read", "directions:mic"), "dossier": ("dossier:read", None),
    "dossier-found": ("dossier:read", None), "pin": (None, None), "staff": (None, None),
}


@pytest.mark.slow
@needs_display
@pytest.mark.parametrize("orientation, lang", [("landscape", "en"), ("portrait", "vi")])
def test_read_and_microphone_buttons_act_where_drawn_in_larger_text(app, orientation, lang):
    """With the voice model ready (the tap audit runs without one): on every screen of the tour, in
    larger text, "Đọc to" and the microphone are there, ≥ 64 px, and every button acts at its centre."""
    from kiosk.testing import screens_tour

    d, c = app, app.c
    d.app.set_orientation(orientation)
    d.pump(0.3)
    c.reset()
    c.set_lang(lang)
    c.toggle_large_text()
    c.voice_ready = True
    c._emit("voice")
    dead = []
    try:
        for name, go, ready in screens_tour(d):
            go()
            d.wait(ready, what=f"{name} ready")
            c.show_message(None)
            d.pump(0.25)
            read, mic = READ_AND_MIC.get(name, (None, None))
            for tag in (read, mic):
                if tag:
                    w = d.find(tag)
                    assert min(w.size) >= 64, f"{orientation}/{name}: {tag} is {w.size}"
            report = d.audit()
            dead += [f"{name}: {b}" for b in report.dead]
    finally:
        c.voice_ready = False
        c.reset()
        c._emit("voice")
        d.app.set_orientation("landscape")
        d.pump(0.3)
    assert not dead, f"buttons that did nothing when tapped at their centre: {dead}"


@pytest.mark.slow
@needs_display
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_idle_warning_is_chimed_then_spoken_and_stops_when_answered(app, lang):
    """A visitor who cannot see the warning hears it: the chime, then "Ông/Bà còn dùng máy không?
    … chạm vào màn hình …" in their language; the speech does not hold the idle timer, and
    "Tôi vẫn đang dùng" keeps the place and silences it."""
    d, c = app, app.c
    c.reset()
    c.set_lang(lang)
    c.open_fields()
    d.wait(lambda: d.screen() == "fields", what="fields")
    asked, played, stops = len(d.asked), len(d.player.played), d.player.stops
    c.last_activity -= d.app.cfg.kiosk.idle_timeout_s - d.app.cfg.kiosk.idle_warning_s + 1
    d.wait(lambda: c.idle_warning and len(d.player.played) > played, what="idle warning chimed")
    assert d.player.played[played].name == "idle-chime.wav"
    d.player.stop()  # the null player holds every sound until stopped: let the chime end
    d.wait(lambda: len(d.asked) > asked, timeout=30, what="idle warning spoken")
    said_lang, text = d.asked[-1]
    expected = d.app.tr("speak.idle", lang).split("{")[0]
    assert said_lang == lang and text.startswith(expected), text
    assert not c.visit.speaking and c.idle_warning  # not the visitor's activity: the timer runs on
    d.wait(lambda: len(d.player.played) > played + 1, timeout=30, what="warning played")
    stops = d.player.stops
    d.tap("idle:stay")  # over the list of fields: the touch answers the warning, it opens no field
    d.wait(lambda: d.player.stops > stops, what="warning silenced")
    assert not c.idle_warning and d.screen() == "fields"
    c.reset()
