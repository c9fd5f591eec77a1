"""Citizens' journeys of round 12 on the real kiosk (slow UI tests under Xvfb, real viet-asr).

A citizen who cannot read uses only the microphone and the speaker: WAVs of espeak-ng's
Vietnamese voice are the microphone (as tests/test_voice_kiosk.py), the real Speaker synthesises
with espeak-ng into a sound card that finishes at once, and the checks read the text handed to
speech (never a transcript of the audio). One App for the module (Kivy allows one); each journey
starts from a fresh visit. Each test failed before its fix:
- a spoken request's answer (the procedure, the ticket, the way) is read without a tap;
- every screen says what can be said there;
- a command ("lấy số", "chỉ đường") is understood by the shipped engine (it never was);
- a command the engine was unsure of is offered by its words, and tapped it is done;
- a bare question about the page on screen ("lệ phí bao nhiêu") answers about that page;
- a dossier code scanned from a receipt's QR code as a web address is found.
"""

from __future__ import annotations

import os

import pytest
from kiosk_helpers import journey_kiosk, new_citizen, serving, t

from voice.vietasr_engine import vietasr_version

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(vietasr_version() is None, reason="viet-asr is not installed (make setup)"),
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display (run under xvfb-run)"),
]

BIRTH = "1.001193"  # Đăng ký khai sinh
CODE = "000.00.29.H29-260213-0001"
DOSSIER = {"code": CODE, "procedure_code": BIRTH, "procedure_name": "Đăng ký khai sinh",
           "applicant_name": "Nguyễn Văn An", "state": "ready", "received_at": "2026-11-20 09:00",
           "counter": "Quầy 1"}


class InstantPlayer:
    """A sound card that plays each WAV espeak-ng wrote at once."""

    command = ["null-sink"]

    def __init__(self):
        self.played = []

    def play(self, path):
        self.played.append(path)
        return True

    def stop(self):
        pass


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    from centre.db import connect
    from voice.audio import WavSource
    from voice.service import VoiceService
    from voice.speech import Speaker
    from voice.testing import spoken_request

    tmp = tmp_path_factory.mktemp("kiosk-journeys-r12")
    mic = {"pcm": b""}

    def voice_factory(cfg, on_event):
        svc = VoiceService(cfg, lambda: connect(cfg.database_path), on_event,
                           mic_factory=lambda cfg: WavSource(mic["pcm"]))  # the WAV is the microphone
        svc.start_loading()
        mic["service"] = svc
        return svc

    class HeardSpeaker(Speaker):
        """The real Speaker (espeak-ng), with the texts it was handed."""

        said: list = []

        def say(self, text, lang="vi", on_done=None):
            self.said.append((text, lang))
            super().say(text, lang, on_done)

    from kiosk.testing import kiosk_config

    cfg = kiosk_config(tmp / "speech", copy_data=False)
    speaker = HeardSpeaker(cfg, player=InstantPlayer(), cache_dir=tmp / "tts")
    drv = journey_kiosk(tmp, [DOSSIER], extra={'engine: "vosk"': 'engine: "vietasr"'}, speaker=speaker,
                        voice_factory=voice_factory)
    drv.mic, drv.say_pcm = mic, lambda text: spoken_request(text, "vi", 160, 50)
    drv.wait(lambda: drv.c.voice_ready, timeout=90, what="viet-asr ready")
    yield from serving(drv)


@pytest.fixture
def fresh(kiosk):
    yield from new_citizen(kiosk, 0.4)


def speak(d, text: str) -> None:
    """Hold the screen's "Giữ để nói" while the WAV of `text` plays into the microphone, then let go."""
    from kivy.tests.common import UnitTestTouch

    mic = next(w for w in d.visible() if getattr(w, "tag", "") in ("mic", f"{d.screen()}:mic")
               and not w.disabled and w.opacity > 0)
    d.mic["pcm"] = d.say_pcm(text)
    touch = UnitTestTouch(*mic.to_window(*mic.center))
    touch.touch_down()
    d.wait(lambda: d.c.visit.voice_state == "listening" and d.mic["service"].busy, what="listening")
    # held until the recogniser has heard the speech end (the silence after it), as a citizen lets go
    d.wait(lambda: not d.mic["service"].busy or d.c.visit.voice_state == "idle", timeout=60, what="end of speech")
    touch.touch_up()
    d.wait(lambda: d.c.visit.voice_state == "idle", timeout=30, what="the answer")
    d.pump(0.3)


def hold_and_hear(d, tag: str, event) -> None:
    """Hold `tag` ("Giữ để nói") with a listener that hears nothing, let go, and send `event` as the
    engine sends it for words espeak-ng's voice cannot make heard (the real engine was asked the
    same by hand: "đọc lại" in espeak-ng's voice is heard "đặc là đi", `repeat` its first candidate)."""
    from kivy.tests.common import UnitTestTouch
    from voice_fakes import ListeningVoice

    c = d.c
    real, c.voice = c.voice, ListeningVoice()
    try:
        mic = d.find(tag)
        touch = UnitTestTouch(*mic.to_window(*mic.center))
        touch.touch_down()
        d.wait(lambda: d.screen() == "search" and c.visit.voice_state == "listening", what="listening")
        touch.touch_up()
        c.on_voice_event(event)
        d.pump(0.3)
    finally:
        c.voice = real


def said_since(d, n: int) -> str:
    d.wait(lambda: len(d.speaker.said) > n, timeout=10, what="something read aloud")
    d.pump(0.2)
    return " ".join(text for text, _ in d.speaker.said[n:])


def test_a_citizen_who_cannot_read_by_voice_alone(fresh):
    """Home read → "tôi muốn đăng ký khai sinh cho con" → the procedure read → "lệ phí bao nhiêu"
    → "lấy số" → the ticket's number and counter read → "chỉ đường" → the way read. Before: the
    answers opened in silence, no screen but the empty search said what can be said, and "lấy
    số" / "chỉ đường" were "not understood" by the shipped engine (a "take_ticket" button)."""
    from voice.events import NotUnderstood, Understood

    d, c = fresh, fresh.c
    n = len(d.speaker.said)
    d.tap("home:read")
    home = said_since(d, n)
    assert t(d, "voice.say_home") in home and t(d, "home.ticket") in home, home

    n = len(d.speaker.said)
    speak(d, "tôi muốn đăng ký khai sinh cho con")
    d.wait(lambda: d.screen() == "detail" and c.visit.procedure["key"] == BIRTH, what="the procedure")
    page = said_since(d, n)
    assert c.visit.procedure["aloud"] in page, page  # read without a tap

    # a bare question about the page on screen: the engine's answer for a citizen's "lệ phí bao nhiêu"
    n = len(d.speaker.said)
    hold_and_hear(d, "detail:mic", NotUnderstood("lệ phí bao nhiêu", "no_match", [
        {"kind": "procedure", "target": "1.000894", "label": "Đăng ký kết hôn", "score": 0.4}]))
    d.wait(lambda: d.screen() == "detail" and c.visit.section == "fee", what="the fee on the same page")
    assert c.visit.procedure["key"] == BIRTH and not c.message
    assert c.visit.procedure["aloud"] in said_since(d, n)
    # "đọc lại" said there: the page, once (the spoken request's own reading did not also start, or stop it)
    n = len(d.speaker.said)
    hold_and_hear(d, "detail:mic", Understood("command", "repeat", "repeat", "đọc lại", 0.8))
    d.wait(lambda: d.screen() == "detail", what="the page spoken from")
    assert c.visit.procedure["aloud"] in said_since(d, n)
    d.pump(0.5)
    assert len(d.speaker.said) == n + 1, d.speaker.said[n:]

    n = len(d.speaker.said)
    speak(d, "lấy số")
    d.wait(lambda: d.screen() == "ticket" and c.visit.ticket, timeout=15, what="a ticket by voice")
    tk = c.visit.ticket
    ticket = said_since(d, n)
    assert tk["number"] in ticket and c.counter_names(tk) in ticket, ticket
    assert t(d, "voice.say_ticket") in ticket, ticket

    n = len(d.speaker.said)
    speak(d, "chỉ đường")
    d.wait(lambda: d.screen() == "directions" and c.visit.destination, timeout=15, what="the way by voice")
    way = said_since(d, n)
    assert c.destination_name() in way, way
    assert c.visit.ticket["number"] == tk["number"] and len(c.visit.tickets) == 1


def test_a_command_the_engine_was_unsure_of_is_offered_by_its_words(fresh):
    """"đọc lại" heard "đặc là đi": not understood, the command `repeat` first of the candidates
    (as the engine answered espeak-ng's "đọc lại"). Before: a button "repeat" (the command's key)
    that, tapped, searched "repeat"; "Đọc to" read "repeat" too. Now "Đọc lại", and tapped it
    reads the screen spoken from."""
    from voice.events import NotUnderstood

    d, c = fresh, fresh.c
    d.tap("home:ticket")
    d.wait(lambda: d.screen() == "service", what="service list")
    hold_and_hear(d, "service:mic", NotUnderstood("đặc là đi", "no_match", [
        {"kind": "command", "target": "repeat", "label": "repeat", "score": 0.54},
        {"kind": "procedure", "target": "2.000815", "label": "Chứng thực di chúc", "score": 0.5}]))
    assert d.screen() == "search" and c.visit.voice_candidates, c.visit.voice_candidates
    assert "repeat" not in c.visit.voice_candidates and "take_ticket" not in c.visit.voice_candidates
    label = t(d, "voice.cmd_repeat")
    assert label in c.visit.voice_candidates, c.visit.voice_candidates
    n = len(d.speaker.said)
    d.tap(f"voice:{label}")
    d.wait(lambda: d.screen() == "service", what="back to the screen spoken from")
    assert t(d, "speak.services") in said_since(d, n)


@pytest.mark.parametrize("scanned", [
    f"https://dichvucong.gov.vn/p/home/dvc-tra-cuu-ho-so.html?ma_ho_so={CODE}",
    f"  {CODE.lower().replace('-', ' - ')}  ",
])
def test_a_dossier_code_from_a_receipt_qr_or_typed_loosely(fresh, scanned):
    """A receipt's QR code holds the lookup page's address with the code in it; a scanner types it
    all. Before: "Không tìm thấy hồ sơ" for the address (the code with spaces and lower case was found)."""
    d, c = fresh, fresh.c
    d.tap("home:dossier")
    d.wait(lambda: d.screen() == "dossier", what="dossier screen")
    c.dossier_typed(scanned)  # what a scanner (a keyboard) types into the code box
    c.dossier_find()
    d.wait(lambda: c.visit.dossier_state not in ("", "searching"), what="the lookup")
    assert c.visit.dossier_state == "found" and c.visit.dossier["code"] == CODE, c.visit.dossier_state
