"""The kiosk's non-widget logic, without Kivy: Telex typing, the visit state machine, idle
timeout, stale search results, staff PIN, robot and voice events, routes, set-pin."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from voice_fakes import ListeningVoice

from kiosk.controller import (
    Backend,
    BackendError,
    Controller,
    EscortState,
    PinFormatError,
    PinGate,
    PinResult,
    RobotAdapter,
    Screen,
    contrast_ratio,
    hash_pin,
    route,
    verify_pin,
)
from kiosk.widgets.telex import TelexBuffer, compose

ROOT = Path(__file__).resolve().parent.parent


# -- Telex ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, word", [
    ("lamf", "làm"), ("giaays", "giấy"), ("khai", "khai"), ("sinh", "sinh"), ("ddaats", "đất"),
    ("dduwowngf", "đường"), ("nguwowif", "người"), ("truwowngf", "trường"), ("hoaf", "hòa"),
    ("thuyr", "thủy"), ("quyeenf", "quyền"), ("tieengs", "tiếng"), ("Vieetj", "Việt"), ("DDaats", "Đất"),
    ("chuwngs", "chứng"), ("thuwcj", "thực"), ("hooj", "hộ"), ("tichj", "tịch"), ("w", "ư"), ("tuwf", "từ"),
    ("nguyeenx", "nguyễn"), ("giaf", "già"), ("quar", "quả"),
    # typing a modifier twice undoes it, so every word can be typed
    ("ass", "as"), ("aaa", "aa"), ("lamfz", "lam"), ("lamz", "lamz"),
])
def test_telex_words(raw, word):
    assert compose(raw) == word


def test_telex_buffer_backspace_and_modes():
    b = TelexBuffer()
    for ch in "lamf giaays khai sinh":
        b.key(ch)
    assert b.text == "làm giấy khai sinh"
    b.backspace()  # removes the last key pressed, not a whole word
    assert b.text == "làm giấy khai sin"
    for _ in range(3):
        b.backspace()
    assert b.text == "làm giấy khai "
    for _ in range(5):
        b.backspace()
    assert b.text == "làm giấy "
    b.backspace()
    b.backspace()  # the 's' tone key of giaays: the tone goes, the letters stay
    assert b.text == "làm giây"
    b.telex = False  # plain mode: what is typed stays as typed
    b.key(" ")
    for ch in "ddi":
        b.key(ch)
    assert b.text == "làm giây ddi"
    assert b.clear() == ""
    b.set_text("đăng ký kết hôn")
    assert b.text == "đăng ký kết hôn"
    b.key("s")  # a finished word is not recomposed
    assert b.text == "đăng ký kết hôns"


# -- a controller on fakes ------------------------------------------------------------------------


class FakeBackend:
    def __init__(self):
        self.calls = []
        self.issued = []

    def fields(self):
        return [{"id": "ho-tich", "name": "Hộ tịch", "name_en": "Civil status", "count": 2}]

    def procedures(self, field_id):
        return [{"key": "1.001193", "code": "1.001193", "name": "Đăng ký khai sinh", "name_en": "Birth registration"}]

    def procedure(self, key, lang="vi"):
        if key == "gone":
            return None
        fee = "Miễn phí" if lang == "vi" else "Free"
        return {"key": key, "code": key, "name": "Đăng ký khai sinh" if lang == "vi" else "Birth registration",
                "everyone": [{"index": 0, "text": "Tờ khai", "originals": 1, "copies": 0}],
                "conditional": [], "show": [{"index": 1, "text": "Căn cước", "originals": 1, "copies": 0}],
                "fee": fee, "time": "1 ngày làm việc", "series": "A",
                "aloud": f"Đăng ký khai sinh. Cần mang: Tờ khai. Thời hạn: 1 ngày làm việc. Lệ phí: {fee}.",
                "destination": {"counter": 1, "counters": [1, 2], "waypoint": "counter_1", "series": "A"}}

    def search(self, text, limit):
        self.calls.append(text)
        return {"hits": [{"key": "1.001193", "name": text}], "suggestions": []}

    def service_for(self, key):
        if key == "gone":
            raise BackendError("gone", "error.procedure_gone")
        return "A"

    states = {"A": "open", "B": "closed", "C": "no_counter"}

    def service_states(self):
        return [{"series": s, "state": st, "can_issue": st in ("open", "paused"), "waiting": 2,
                 "opens_time": "07:30" if st == "closed" else "", "opens_date": "25/11",
                 "wait_text_vi": "khoảng 16 phút", "wait_text_en": "about 16 min"} for s, st in self.states.items()]

    def issue_ticket(self, series, priority, procedure_key, lang, idempotency_key=None):
        n = len(self.issued) + 1
        t = {"id": n, "number": f"{series}{n:03d}", "series": series, "priority": priority, "ahead": 0,
             "wait_min": 0, "wait_text_vi": "sắp đến lượt", "wait_text_en": "soon", "counters": [1, 2],
             "destination": {"counter": 1, "waypoint": "counter_1", "counters": [1]}, "key": idempotency_key}
        self.issued.append(t)
        return t

    def print_ticket(self, ticket):
        return False

    def printer_status(self):
        return {"ok": True, "detail": "dummy"}


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def ctl(project_config):
    clock = Clock()
    c = Controller(project_config, FakeBackend(), synchronous=True, clock=clock)
    c.clock_obj = clock
    topics = []
    c.subscribe(topics.append)
    c.topics = topics
    c.start()
    return c


def test_visit_from_search_to_ticket(ctl):
    ctl.open_search()
    ctl.search("khai sinh")
    assert ctl.visit.results[0]["key"] == "1.001193"
    ctl.open_procedure("1.001193")
    assert ctl.screen == Screen.DETAIL
    assert [d["text"] for d in ctl.visit.procedure["everyone"]] == ["Tờ khai"]
    assert [d["text"] for d in ctl.visit.procedure["show"]] == ["Căn cước"]
    ctl.toggle_doc(0)
    assert ctl.visit.checked_docs == {0}
    ctl.take_ticket_for_procedure()  # no priority question for everyone: the ticket at once
    assert ctl.screen == Screen.TICKET and ctl.visit.series == "A"
    assert ctl.visit.ticket["number"] == "A001" and ctl.visit.print_status == "failed"  # printer down → QR
    ctl.back()
    assert ctl.screen == Screen.DETAIL


def test_language_change_reloads_the_open_procedure(ctl):
    """An English visitor switching on the detail page got the Vietnamese page under English
    buttons (and 'Read aloud' spoke the Vietnamese summary): the page is reloaded in the new language."""
    ctl.open_procedure("1.001193", section="fee")
    ctl.toggle_doc(0)
    assert ctl.visit.procedure["fee"] == "Miễn phí"
    ctl.set_lang("en")
    p = ctl.visit.procedure
    assert p["name"] == "Birth registration" and p["fee"] == "Free" and "Free" in p["aloud"]
    assert ctl.screen == Screen.DETAIL and ctl.visit.section == "fee" and ctl.visit.checked_docs == {0}
    ctl.set_lang("vi")
    assert ctl.visit.procedure["fee"] == "Miễn phí"


def test_back_from_a_ticket_never_issues_a_second_one(ctl):
    """Issue 14: Back from the ticket and 'Lấy số' again shows the same ticket (same visit, same key)."""
    ctl.open_procedure("1.001193")
    ctl.take_ticket_for_procedure()
    first = ctl.visit.ticket
    ctl.back()
    ctl.take_ticket_for_procedure()
    ctl.back()
    ctl.open_ticket()
    ctl.choose_service("A")
    assert ctl.visit.ticket is first and len(ctl.backend.issued) == 1
    assert first["key"] == ctl.visit.ticket_key("A")
    ctl.reset()  # a new visitor gets a new ticket, with another key
    ctl.open_ticket()
    ctl.choose_service("A")
    assert len(ctl.backend.issued) == 2 and ctl.backend.issued[1]["key"] != first["key"]


def test_priority_is_asked_only_of_those_who_say_so(ctl):
    ctl.open_procedure("1.001193")
    ctl.take_ticket_for_procedure(priority_first=True)  # "Tôi thuộc diện ưu tiên"
    assert ctl.screen == Screen.PRIORITY
    ctl.choose_priority("elderly")
    assert ctl.screen == Screen.TICKET and ctl.visit.ticket["priority"] == "elderly"
    ctl.reset()
    ctl.open_ticket()
    ctl.open_priority()  # from the service list: the group first, then the service
    ctl.choose_priority("pregnant")
    assert ctl.screen == Screen.SERVICE and ctl.visit.priority == "pregnant"
    ctl.choose_service("A")
    assert ctl.visit.ticket["priority"] == "pregnant"


def test_closed_or_unattended_service_issues_nothing(ctl):
    ctl.open_ticket()
    ctl.choose_service("B")
    assert ctl.message == ("error.service_closed_until", {"time": "07:30", "date": "25/11"})
    ctl.choose_service("C")
    assert ctl.message == ("error.no_counter_for_service", {})
    assert ctl.backend.issued == [] and ctl.screen == Screen.SERVICE


def test_procedure_gone_after_reimport(ctl):
    ctl.open_procedure("gone")
    assert ctl.screen == Screen.HOME and ctl.message[0] == "error.procedure_gone"


def test_stale_search_results_are_dropped(project_config):
    posted = []
    c = Controller(project_config, FakeBackend(), synchronous=True, post=lambda fn, *a: posted.append((fn, a)))
    c.search("kha")
    c.search("khai")
    assert len(posted) == 2
    posted[1][0](*posted[1][1])  # the newer result arrives first
    assert c.visit.results[0]["name"] == "khai"
    posted[0][0](*posted[0][1])  # the older one is dropped
    assert c.visit.results[0]["name"] == "khai"


def test_typing_pause_follows_the_visitors_pace(ctl):
    """Live search waits for a pause in typing: at least kiosk.search_pause_s, and longer than the
    visitor's own gaps between keys (1.5 x, up to 1 s), so no search redraws the list between
    two keys of a steady typist."""
    c, clock = ctl, ctl.clock_obj

    def keys(every, n):
        out = []
        for _ in range(n):
            clock.t += every
            out.append(c.typing_pause(0.25))
        return out

    assert keys(0.4, 1) == [0.25]  # the first key: nothing known of the pace yet
    assert keys(0.4, 4)[-1] == pytest.approx(0.6)  # a key every 0.4 s: 0.6 s ends the typing
    assert keys(3.0, 1) == [0.25]  # after a long stop the pace is measured afresh
    assert keys(0.1, 4)[-1] == 0.25  # quick typing: the configured pause
    assert keys(0.9, 4)[-1] == 1.0  # a slow, steady typist: at most 1 s
    c.reset()
    assert keys(0.4, 1) == [0.25]  # a new visitor starts afresh


def test_idle_warning_then_reset(ctl, project_config):
    ctl.set_lang("en")
    ctl.open_search()
    ctl.search("khai sinh")
    clock = ctl.clock_obj
    assert project_config.kiosk.idle_warning_s >= 20  # WCAG 2.2.1: time to respond
    clock.t += project_config.kiosk.idle_timeout_s - project_config.kiosk.idle_warning_s - 1
    ctl.tick()
    assert not ctl.idle_warning
    clock.t += 2
    ctl.tick()
    assert ctl.idle_warning and ctl.screen == Screen.SEARCH and "idle_start" in ctl.topics
    ctl.activity()  # a touch: the visitor is still there
    assert not ctl.idle_warning
    clock.t += project_config.kiosk.idle_timeout_s + 1
    ctl.tick()
    assert ctl.screen == Screen.HOME
    assert (ctl.visit.lang, ctl.visit.query, ctl.visit.results) == ("vi", "", [])


def test_home_idle_is_quiet(ctl, project_config):
    n = len(ctl.topics)
    ctl.clock_obj.t += 10 * project_config.kiosk.idle_timeout_s
    ctl.tick()
    assert len(ctl.topics) == n  # nothing to clear, nothing redrawn


# -- staff PIN -----------------------------------------------------------------------------------


def test_pin_hash_and_verify():
    h = hash_pin("730591")
    assert h.startswith("scrypt$") and h != hash_pin("730591")  # salted
    assert verify_pin("730591", h) and not verify_pin("730592", h)
    assert not verify_pin("730591", None) and not verify_pin("730591", "garbage")
    # at least 6 digits, and not trivial
    for bad in ("2468", "abcdef", "1234567890123", "000000", "123456", "987654", "121212", "123123", "112112"):
        with pytest.raises(PinFormatError):
            hash_pin(bad)


def test_pin_lockout_persists_lengthens_and_is_audited(tmp_path):
    from centre import audit
    from centre.db import connect

    clock = Clock()
    h = hash_pin("730591")
    conn = connect(tmp_path / "c.db")
    gate = PinGate(h, conn, max_tries=5, lockout_s=300, clock=clock)
    assert [gate.check("000000") for _ in range(4)] == [PinResult.WRONG] * 4
    assert gate.check("000000") == PinResult.LOCKED
    assert gate.check("730591") == PinResult.LOCKED  # even the right PIN, while locked
    # a restart (a new gate on the same database) does not give fresh tries
    gate = PinGate(h, connect(tmp_path / "c.db"), max_tries=5, lockout_s=300, clock=clock)
    clock.t += 299
    assert gate.check("730591") == PinResult.LOCKED
    clock.t += 2
    assert [gate.check("111111") for _ in range(5)][-1] == PinResult.LOCKED
    assert 599 <= gate.locked_for() <= 600  # the second lockout is twice as long
    clock.t += 601
    assert gate.check("730591") == PinResult.OK
    assert [gate.check("000000") for _ in range(5)][-1] == PinResult.LOCKED
    assert gate.locked_for() <= 300  # a right PIN started the lengthening again
    actions = [e["action"] for e in audit.entries(conn, entity="pin")]
    assert actions.count("pin.failed") == 12 and actions.count("pin.locked") == 3
    assert "pin.refused_locked" in actions
    assert PinGate(None, conn).check("730591") == PinResult.NOT_SET


def test_set_pin_edits_only_that_line(tmp_path):
    from kiosk.commands.staffpin import set_pin_in_config

    src = (ROOT / "config.yaml").read_text(encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(src, encoding="utf-8")
    h = hash_pin("135792")
    set_pin_in_config(path, h)
    new = path.read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(src.splitlines(), new.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and "staff_pin_hash" in changed[0][1]
    from centre.config import load_config

    assert verify_pin("135792", load_config(path).kiosk.staff_pin_hash)


# -- robot and voice events -------------------------------------------------------------------------


class FakeManager:
    def __init__(self):
        self.listeners = []
        self.requests = []
        self.available = True

    def subscribe(self, fn):
        self.listeners.append(fn)
        return lambda: None

    def request_escort(self, counter_id=None, *, waypoint=None, ticket=None):
        self.requests.append((counter_id, waypoint, ticket))
        return 7

    def cancel(self, eid):
        self.requests.append(("cancel", eid))

    def emit(self, ev):
        for fn in self.listeners:
            fn(ev)


def test_robot_escort_events(ctl):
    from robot.escort import EscortArrived, EscortFailed, FollowRobot, RobotComing

    mgr = FakeManager()
    ctl.escort_mgr = RobotAdapter(mgr, ctl.on_robot_event)
    ctl.open_procedure("1.001193")
    ctl.guide_me()
    assert ctl.screen == Screen.DIRECTIONS and mgr.requests == [(1, None, None)]
    assert ctl.visit.escort_id == 7
    base = {"robot": "robot-1", "counter_id": 1, "waypoint": "counter_1", "ticket": None}
    mgr.emit(RobotComing(escort_id=7, distance_m=4.0, eta_s=6.0, **base))
    assert ctl.visit.escort == EscortState.COMING and ctl.visit.escort_reason == "robot.coming"
    mgr.emit(FollowRobot(escort_id=99, distance_m=3.0, eta_s=4.0, **base))  # another visitor's escort
    assert ctl.visit.escort == EscortState.COMING
    mgr.emit(FollowRobot(escort_id=7, distance_m=8.0, eta_s=10.0, **base))
    assert ctl.visit.escort == EscortState.GUIDING and ctl.visit.escort_reason == "robot.progress"
    mgr.emit(EscortArrived(escort_id=7, **base))
    assert ctl.visit.escort == EscortState.ARRIVED
    # a new visit: the robot blocked on the way
    ctl.reset()
    ctl.open_procedure("1.001193")
    ctl.guide_me()
    mgr.emit(EscortFailed(escort_id=7, reason="BLOCKED", **base))
    assert ctl.visit.escort == EscortState.FALLBACK and ctl.visit.escort_reason == "robot.aborted_blocked"
    assert ctl.route_points()[0] == (4.0, 3.0) and ctl.route_points()[-1] == (8.0, 11.0)


@pytest.mark.parametrize("reason, key", [("LINK_DOWN", "robot.down"), ("UNAVAILABLE", "robot.unavailable"),
                                         ("BUSY", "robot.busy"), ("LOW_BATTERY", "robot.aborted_low_battery"),
                                         ("SOMETHING_NEW", "robot.aborted")])
def test_robot_failure_reasons(ctl, reason, key):
    from robot.escort import EscortFailed

    mgr = FakeManager()
    ctl.escort_mgr = RobotAdapter(mgr, ctl.on_robot_event)
    ctl.open_procedure("1.001193")
    ctl.guide_me()
    mgr.emit(EscortFailed(escort_id=7, robot=None, counter_id=1, waypoint="counter_1", ticket=None, reason=reason))
    assert ctl.visit.escort_reason == key


def test_no_robot_shows_map(ctl):
    ctl.open_procedure("1.001193")
    ctl.guide_me()
    assert ctl.screen == Screen.DIRECTIONS and ctl.visit.escort_reason == "robot.absent"


def test_voice_events(ctl):
    from voice.events import ModelFailed, ModelReady, NotUnderstood, Understood

    feed(ctl, ModelFailed(path="/x", reason="no model at /x"))
    assert not ctl.voice_ready and ctl.voice_error == "no model at /x"
    feed(ctl, ModelReady(path="/x", load_s=1.0))
    assert ctl.voice_ready
    feed(ctl, Understood(kind="procedure", target="1.001193", label="Đăng ký khai sinh",
                         text="làm giấy khai sinh", score=0.9))
    assert ctl.screen == Screen.DETAIL and ctl.visit.procedure["key"] == "1.001193"
    feed(ctl, NotUnderstood(text="ờ", reason="no_match", candidates=["đăng ký khai sinh", "đăng ký kết hôn"]))
    assert ctl.screen == Screen.SEARCH and ctl.visit.voice_candidates == ["đăng ký khai sinh", "đăng ký kết hôn"]


def feed(ctl, ev):
    ctl.on_voice_event(ev)


def test_route_follows_the_corridor(project_config):
    pts = route(project_config, "kiosk", "counter_3")
    assert pts[0] == (4.0, 3.0) and pts[-1] == (16.0, 11.0)
    for (x1, y1), (x2, y2) in zip(pts, pts[1:], strict=False):
        assert x1 == x2 or y1 == y2  # straight legs only


def test_colours_meet_contrast():
    assert contrast_ratio((1, 1, 1), (0, 0, 0)) == pytest.approx(21.0)
    assert contrast_ratio((1, 1, 1), (0.043, 0.310, 0.541)) >= 4.5


# -- the real backend --------------------------------------------------------------------------------


def test_backend_closed_service_says_when_it_opens(tmp_config):
    from centre.clock import FixedClock

    night = FixedClock(datetime(2026, 11, 24, 14, 0, tzinfo=UTC))  # 21:00 in Vietnam
    b = Backend(tmp_config, queue_clock=night)
    b.prepare()
    with pytest.raises(BackendError) as exc:
        b.issue_ticket("A", None, None)
    assert exc.value.i18n_key == "error.service_closed_until"
    assert exc.value.i18n_kw["time"] == "07:30"
    day = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    b2 = Backend(tmp_config, queue_clock=day)
    t = b2.issue_ticket("A", "elderly", "1.001193", "en")
    assert t["number"] == "A001" and Path(t["png"]).exists() and Path(t["qr"]).exists()
    assert t["destination"]["waypoint"] == "counter_1"
    hits = b2.search("lam giay khai sinh", 5)["hits"]
    assert hits[0]["key"] == "1.001193"
    assert b2.search("xyzzy qwv", 5)["hits"] == []


class FakeSpeaker:
    """Records what would be said (STYLE item 8); `finish()` ends the current utterance."""

    def __init__(self):
        self.said = []
        self.stopped = 0
        self.on_done = None

    def say(self, text, lang="vi", on_done=None):
        self.said.append((lang, text))
        self.on_done = on_done

    def finish(self):
        self.on_done(True)

    def stop(self):
        self.stopped += 1


def test_read_aloud_procedure_and_ticket(ctl, project_config):
    sp = FakeSpeaker()
    ctl.speaker = sp
    ctl.open_procedure("1.001193")
    ctl.read_aloud()
    lang, text = sp.said[-1]
    assert lang == "vi" and "Đăng ký khai sinh" in text and "Tờ khai" in text and "1 ngày làm việc" in text
    assert ctl.visit.speaking  # the button now says "Dừng đọc"
    # listening counts as activity: the idle timer does not interrupt the reading
    ctl.clock_obj.t += project_config.kiosk.idle_timeout_s + 5
    ctl.tick()
    assert ctl.screen == Screen.DETAIL and not ctl.idle_warning
    ctl.read_aloud()  # "Dừng đọc"
    assert not ctl.visit.speaking and sp.stopped >= 2
    ctl.read_aloud()
    sp.finish()
    assert not ctl.visit.speaking
    ctl.take_ticket_for_procedure()
    ctl.set_lang("en")
    ctl.read_aloud()
    lang, text = sp.said[-1]
    assert lang == "en" and "A001" in text and "Counter 1" in text and "soon" in text
    stops = sp.stopped
    ctl.back()  # speech stops on Back (and Home, language change, reset)
    assert not ctl.visit.speaking and sp.stopped > stops
    ctl.speaker = None
    ctl.read_aloud()
    assert ctl.message[0] == "error.speech"


def test_push_to_talk(ctl):
    from voice.events import Listening, ModelReady, Thinking

    v = ListeningVoice()
    ctl.voice = v
    ctl.mic_down()  # not ready yet: nothing happens
    assert v.calls == [] and ctl.screen == Screen.HOME
    feed(ctl, ModelReady(path="/m", load_s=2.0))
    ctl.mic_down()
    assert v.calls == ["press"] and ctl.screen == Screen.SEARCH and ctl.visit.voice_state == "listening"
    feed(ctl, Listening(level=0.4, speech=True))
    assert ctl.voice_level == pytest.approx(0.4)
    ctl.mic_up()
    assert v.calls == ["press", "release"] and ctl.visit.voice_state == "thinking"
    feed(ctl, Thinking(audio_s=1.2))
    assert ctl.visit.voice_state == "thinking"


def test_voice_is_vietnamese_only_and_shows_the_words_heard(ctl, project_config):
    from voice.events import ModelReady, Partial, Understood

    v = ListeningVoice()
    ctl.voice = v
    feed(ctl, ModelReady(path="/m", load_s=1.0))
    ctl.set_lang("en")
    ctl.mic_down()
    assert v.calls == [] and ctl.message[0] == "voice.vi_only"
    ctl.set_lang("vi")
    ctl.mic_down()
    feed(ctl, Partial(text="làm giấy"))
    assert ctl.visit.voice_partial == "làm giấy"
    # listening counts as activity: no idle reset while the visitor speaks
    ctl.clock_obj.t += project_config.kiosk.idle_timeout_s + 5
    ctl.tick()
    assert ctl.screen == Screen.SEARCH and ctl.visit.voice_state == "listening"
    ctl.back()  # Back stops listening
    assert ctl.visit.voice_state == "idle"
    feed(ctl, Understood(kind="procedure", target="1.001193", label="Đăng ký khai sinh",
                         text="làm giấy khai sinh", score=0.9))
    assert ctl.screen == Screen.DETAIL


def test_robot_stall_visitor_lost_and_estop_are_shown(ctl):
    from robot.escort import EscortResumed, EscortStalled, FollowRobot, RobotAlert, RobotStatus, VisitorLost

    mgr = FakeManager()
    ctl.escort_mgr = RobotAdapter(mgr, ctl.on_robot_event)
    ctl.open_procedure("1.001193")
    ctl.guide_me()
    base = {"robot": "robot-1", "counter_id": 1, "waypoint": "counter_1", "ticket": None}
    mgr.emit(FollowRobot(escort_id=7, distance_m=8.0, eta_s=10.0, **base))
    mgr.emit(EscortStalled(escort_id=7, reason="OBSTACLE", stalled_s=8.0, **base))
    assert ctl.visit.escort == EscortState.GUIDING and ctl.visit.escort_reason == "robot.stalled"
    mgr.emit(EscortResumed(escort_id=7, cause="STALLED", **base))
    assert ctl.visit.escort_reason == "robot.guiding"
    mgr.emit(VisitorLost(escort_id=7, **base))
    assert ctl.visit.escort_reason == "robot.visitor_lost"
    mgr.emit(RobotAlert(robot="robot-1", alert="LOW_BATTERY", detail="12 %"))
    assert "robot-1: LOW_BATTERY 12 %" in ctl.robot_alerts
    mgr.emit(RobotStatus(robot="robot-1", available=False, link_up=True, state="ESTOP", battery=80,
                         reason="ESTOP_ACTIVE", estop=True))
    assert ctl.visit.escort == EscortState.FALLBACK and ctl.visit.escort_reason == "robot.aborted_estop"
    assert ctl.robot_status["estop"]


def test_dossier_code_by_its_distinctive_tail(tmp_path):
    from centre.db import connect
    from centre.dossiers import Dossiers
    from kiosk.backend import AMBIGUOUS, resolve_dossier_tail

    conn = connect(tmp_path / "d.db")
    assert resolve_dossier_tail(conn, "H29-260213-0001") is None  # no dossiers table yet
    reg = Dossiers(conn, None, tz=None)
    reg.upsert_many([(i, {"code": code, "received_at": "2026-02-13 08:00"}) for i, code in enumerate(
        ("000.00.29.H29-260213-0001", "000.00.29.H29-260213-0011", "000.00.30.H30-260213-0001"))], source="t")
    assert resolve_dossier_tail(conn, "h29-260213-0001") == "000.00.29.H29-260213-0001"
    # Copied from the receipt with spaces for the dashes (this was "not found" until round 10).
    assert resolve_dossier_tail(conn, "H29 260213-0011") == "000.00.29.H29-260213-0011"
    assert resolve_dossier_tail(conn, "h29 \u2013 260213 \u2013 0011") == "000.00.29.H29-260213-0011"
    assert resolve_dossier_tail(conn, "H29 260213-0012") is None  # a wrong digit is another code
    assert resolve_dossier_tail(conn, "260213-0001") is AMBIGUOUS  # two centres' dossiers end so
    assert resolve_dossier_tail(conn, "0001") is None  # too short to be distinctive
    assert resolve_dossier_tail(conn, "13-0001") is None
    assert resolve_dossier_tail(conn, "60213-0001") is None  # not at a boundary of the code


def test_dossier_lookup_failures_the_citizen_is_told_of_and_bugs_that_surface(project_config, caplog):
    """DossierFlow._lookup caught every exception around the English procedure name, so a bug
    there (a TypeError, a wrong key) showed the dossier as if nothing happened. Now only the
    failures a lookup really meets are handled: the database busy or being re-imported (the
    Vietnamese name still shows), the dossier store or the centre server unreachable (the
    citizen's "cannot look it up now" message); anything else is the worker's error, logged with
    its traceback, and the dossier is not shown as found."""
    import logging
    import sqlite3

    from centre.queue import QueueStorageError

    found = {"code": "000.00.29.H29-260213-0001", "procedure_code": "1.001193", "state": "processing"}
    backend = FakeBackend()
    ctl = Controller(project_config, backend, synchronous=True, dossier_lookup=lambda code: found)
    ctl.start()

    def look(name_in):
        backend.procedure_name = name_in
        ctl.open_dossiers()
        ctl.dossier_typed(found["code"])
        ctl.dossier_find()
        return ctl.visit.dossier_state, ctl.visit.dossier

    assert look(lambda code, lang: "Birth registration") == ("found", {**found, "procedure_name_en": "Birth registration"})

    def locked(code, lang):
        raise sqlite3.OperationalError("database is locked")

    assert look(locked) == ("found", found)  # the catalogue is being re-imported: Vietnamese name only

    def buggy(code, lang):
        return {}["name_en"]  # a programming error

    with caplog.at_level(logging.ERROR, logger="kiosk"):
        state, _ = look(buggy)
    assert state == "failed"
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records), caplog.records
    backend.procedure_name = lambda code, lang: ""
    for error in (sqlite3.OperationalError("unable to open database file"),
                  QueueStorageError("cannot reach the centre server")):
        def unreachable(code, error=error):
            raise error

        ctl.dossier_lookup = unreachable
        ctl.dossier_typed(found["code"])
        ctl.dossier_find()
        assert ctl.visit.dossier_state == "failed" and ctl.visit.dossier is None
    ctl.close()


def test_a_question_opens_the_detail_at_what_it_asked(ctl):
    """The search says which sections a question asked about (Hit.answers): the page opens there."""
    ctl.backend.search = lambda text, limit: {"hits": [{"key": "1.001193", "name": "Đăng ký khai sinh",
                                                        "answers": ["fee", "documents"]}], "suggestions": []}
    ctl.open_search()
    ctl.search("làm giấy khai sinh mất bao nhiêu tiền")
    ctl.open_hit("1.001193")
    assert ctl.screen == Screen.DETAIL and ctl.visit.section == "fee"
    ctl.backend.search = lambda text, limit: {"hits": [], "suggestions": [], "referral": {
        "office_vi": "Công an phường", "office_en": "Ward police", "advice_vi": "Mang căn cước.", "advice_en": "Bring ID."}}
    ctl.search("làm hộ chiếu")
    assert ctl.visit.referral["office_vi"] == "Công an phường"


def test_backend_same_key_same_ticket_and_service_states(tmp_config):
    """The real queue: a visit's key gives back its ticket; Home's states come from Queue.summary()."""
    from centre.clock import FixedClock

    day = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    b = Backend(tmp_config, queue_clock=day)
    b.prepare()
    first = b.issue_ticket("A", None, "1.001193", "vi", idempotency_key="kiosk-visit1-A")
    again = b.issue_ticket("A", None, "1.001193", "vi", idempotency_key="kiosk-visit1-A")
    other = b.issue_ticket("A", None, None, "vi", idempotency_key="kiosk-visit2-A")
    assert again["number"] == first["number"] == "A001" and other["number"] == "A002"
    assert first["wait_text_vi"] and first["wait_text_en"]
    states = {s["series"]: s for s in b.service_states()}
    assert states["A"]["state"] in ("open", "paused") and states["A"]["waiting"] == 2
    assert states["A"]["wait_text_vi"] and states["A"]["can_issue"]
    night = Backend(tmp_config, queue_clock=FixedClock(datetime(2026, 11, 24, 14, 0, tzinfo=UTC)))
    closed = {s["series"]: s for s in night.service_states()}
    assert closed["A"]["state"] == "closed" and closed["A"]["opens_time"] == "07:30" and not closed["A"]["can_issue"]
