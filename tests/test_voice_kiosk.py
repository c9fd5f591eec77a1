"""The real kiosk app with Vietnamese voice out of the box (issue 13): viet-asr loads without a
model installed, the microphone button shows, holding it with a WAV as the microphone shows
the words as they are heard and lands on the procedure; 'Đọc to' reads the summary, Stop
silences it, Back stops it. Slow: real viet-asr, real espeak-ng, Kivy under Xvfb."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from voice_fakes import BlockingPlayer

from voice.vietasr_engine import vietasr_version

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(vietasr_version() is None, reason="viet-asr is not installed (make setup)"),
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display (run under xvfb-run)"),
]


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    from escpos.printer import Dummy

    from centre.clock import FixedClock
    from centre.db import connect
    from kiosk.backend import Backend
    from kiosk.testing import kiosk_config, start
    from voice.audio import WavSource
    from voice.service import VoiceService
    from voice.speech import Speaker
    from voice.testing import spoken_request

    tmp = tmp_path_factory.mktemp("kiosk-voice")
    cfg = kiosk_config(tmp, extra={'engine: "vosk"': 'engine: "vietasr"'})  # as shipped: viet-asr
    assert cfg.voice.engine == "vietasr"
    pcm = spoken_request("tôi muốn đăng ký khai sinh cho con", "vi", 160, 50)
    services = []

    def voice_factory(cfg, on_event):
        svc = VoiceService(cfg, lambda: connect(cfg.database_path), on_event,
                           mic_factory=lambda cfg: WavSource(pcm, realtime=True))  # the WAV is the microphone
        svc.start_loading()
        services.append(svc)
        return svc

    player = BlockingPlayer()
    speaker = Speaker(cfg, player=player, cache_dir=tmp / "tts")
    clock = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    drv = start(cfg, tmp, backend=Backend(cfg, printer=Dummy(), queue_clock=clock), voice_factory=voice_factory,
                speaker=speaker)
    drv.player, drv.services = player, services
    yield drv
    player.stop()
    drv.stop()


def test_hold_to_talk_shows_the_words_heard_and_opens_the_procedure(kiosk):
    d, c = kiosk, kiosk.c
    d.wait(lambda: c.voice_ready, timeout=60, what="viet-asr ready (no model installed by hand)")
    mic = d.app.screens["home"].ids.mic
    d.pump(0.2)
    assert not mic.disabled and mic.opacity == 1
    from kivy.tests.common import UnitTestTouch

    heard = []
    touch = UnitTestTouch(*mic.to_window(*mic.center))
    touch.touch_down()  # hold the button: the WAV plays into the microphone
    for _ in range(600):
        d.pump(0.05)
        if c.visit.voice_partial:
            heard.append(c.visit.voice_partial)
        if d.screen() == "detail" or (c.visit.voice_state == "listening" and d.services[0].busy is False):
            break
    touch.touch_up()  # let go
    d.wait(lambda: d.screen() == "detail", timeout=30, what="the procedure")
    assert heard, "no words were shown while the visitor spoke"
    assert d.screen() == "detail" and c.visit.procedure["key"] == "1.001193", c.visit.voice_state


def test_read_aloud_stop_and_back(kiosk):
    d, c = kiosk, kiosk.c
    if d.screen() != "detail":
        c.open_procedure("1.001193")
        d.wait(lambda: d.screen() == "detail")
    player = d.player
    read = d.find("detail:read")
    if c.visit.speaking:  # the page a spoken request opened is read at once (round 12): stop it first
        d.tap(read)
        d.wait(lambda: not c.visit.speaking, timeout=10, what="stopped")
    played = len(player.played)
    d.tap(read)
    d.wait(lambda: len(player.played) >= played + 1 and c.visit.speaking, timeout=20, what="speaking")
    assert d.app.speaking
    stops = player.stops
    d.tap(read)  # the same button now says Stop
    d.wait(lambda: not c.visit.speaking and player.stops > stops, timeout=10, what="stopped")
    d.tap(read)  # read again, then Back stops it
    d.wait(lambda: len(player.played) >= played + 2 and c.visit.speaking, timeout=20, what="speaking again")
    stops = player.stops
    c.back()
    d.wait(lambda: not c.visit.speaking and player.stops > stops, timeout=10, what="stopped by Back")
