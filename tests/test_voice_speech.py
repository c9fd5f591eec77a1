"""Text-to-speech (issue 6): Vietnamese numbers, espeak-ng WAVs of the expected length, the
cache, a player that stops at once, and no crash without an audio device."""

from __future__ import annotations

import shutil
import threading
import time
import wave

import numpy as np
import pytest

from voice.speech import (
    EspeakSynth,
    Speaker,
    SpeechError,
    SubprocessPlayer,
    call_text,
    en_number,
    speakable,
    ticket_words,
    vi_number,
    wav_duration,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "không"), (5, "năm"), (10, "mười"), (11, "mười một"), (15, "mười lăm"), (20, "hai mươi"),
        (21, "hai mươi mốt"), (24, "hai mươi tư"), (25, "hai mươi lăm"), (100, "một trăm"),
        (101, "một trăm linh một"), (105, "một trăm linh năm"), (110, "một trăm mười"),
        (115, "một trăm mười lăm"), (999, "chín trăm chín mươi chín"), (1000, "một nghìn"),
        (1005, "một nghìn không trăm linh năm"), (2024, "hai nghìn không trăm hai mươi tư"),
        (15000, "mười lăm nghìn"), (1_000_000, "một triệu"),
    ],
)
def test_vietnamese_numbers(n, words):
    assert vi_number(n) == words


def test_ticket_numbers_read_the_vietnamese_way():
    assert ticket_words("A012") == "A không một hai"
    assert ticket_words("A012", read_as="number") == "A mười hai"
    assert ticket_words("B105", read_as="number") == "B một trăm linh năm"
    assert ticket_words("C100", "en") == "C one zero zero"
    assert ticket_words("C115", "en", "number") == "C one hundred fifteen"
    assert ticket_words("not a ticket") == "not a ticket"
    assert en_number(42) == "forty-two"


def test_speakable_spells_tickets_and_numbers():
    assert speakable(call_text("A012", "Quầy 3")) == "Mời số A không một hai đến Quầy ba."
    assert speakable(call_text("A012", "Quầy 3"), read_ticket_as="number") == "Mời số A mười hai đến Quầy ba."
    assert speakable(call_text("D007", "Counter 4", "en"), "en") == "Ticket D zero zero seven, please go to Counter four."


@pytest.fixture
def speaker(tmp_config, tmp_path):
    return Speaker(tmp_config, player=SubprocessPlayer(["true"]), cache_dir=tmp_path / "tts")


def _rms(path) -> float:
    with wave.open(str(path), "rb") as w:
        a = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)
    return float(np.sqrt(np.mean(a * a)))


@needs_espeak
def test_vietnamese_wav_is_speech_of_the_expected_length(speaker, tmp_config):
    text = "Mời số A012 đến quầy 3"  # → "Mời số A không một hai đến quầy ba": 9 syllables
    path = speaker.synthesize_wav(text, "vi")
    dur = wav_duration(path)
    words = len(speakable(text).split())
    expected = words / tmp_config.speech.rate * 60  # espeak-ng rate is words per minute
    assert 0.5 * expected < dur < 2.0 * expected + 0.5, (dur, expected)
    assert _rms(path) > 300  # not silence
    long = speaker.synthesize_wav(text + ", xin cảm ơn quý khách đã chờ đợi", "vi")
    assert wav_duration(long) > dur + 0.8


@needs_espeak
def test_rate_from_config_changes_the_length(tmp_config, tmp_path):
    fast_cfg = tmp_config.model_copy(update={"speech": tmp_config.speech.model_copy(update={"rate": 300})})
    slow = Speaker(tmp_config, cache_dir=tmp_path / "a").synthesize_wav("thủ tục đăng ký khai sinh", "vi")
    fast = Speaker(fast_cfg, cache_dir=tmp_path / "b").synthesize_wav("thủ tục đăng ký khai sinh", "vi")
    assert wav_duration(fast) < 0.75 * wav_duration(slow)


@needs_espeak
def test_english_voice(speaker):
    assert wav_duration(speaker.synthesize_wav("Ticket A012, please go to counter 3", "en")) > 1.0


@needs_espeak
def test_cache_synthesises_each_phrase_once(speaker, monkeypatch):
    calls = []
    real = speaker.synth.synth
    monkeypatch.setattr(speaker.synth, "synth", lambda *a: (calls.append(a), real(*a))[1])
    a = speaker.synthesize_wav("Quầy 2", "vi")
    b = speaker.synthesize_wav("Quầy 2", "vi")
    c = speaker.synthesize_wav("Quầy 2", "en")
    assert a == b and a != c and len(calls) == 2
    assert not list(speaker.cache_dir.glob("*.wav.tmp")) and len(list(speaker.cache_dir.glob("*.wav"))) == 2


def test_empty_text_and_missing_espeak_are_clear_errors(tmp_config, tmp_path):
    sp = Speaker(tmp_config, cache_dir=tmp_path)
    with pytest.raises(SpeechError, match="empty"):
        sp.synthesize_wav("  ", "vi")
    sp = Speaker(tmp_config, synth=EspeakSynth(tmp_config.speech), cache_dir=tmp_path)
    sp.synth.binary = None
    with pytest.raises(SpeechError, match="espeak-ng is not installed"):
        sp.synthesize_wav("xin chào", "vi")
    done = threading.Event()
    sp.say("xin chào", on_done=lambda played: done.set())  # logged, never raised
    assert done.wait(5) and "espeak-ng" in sp.last_error


@needs_espeak
def test_bad_voice_is_a_clear_error(tmp_config, tmp_path):
    cfg = tmp_config.model_copy(update={"speech": tmp_config.speech.model_copy(update={"voice_vi": "no-such-voice"})})
    with pytest.raises(SpeechError, match="no-such-voice"):
        Speaker(cfg, cache_dir=tmp_path).synthesize_wav("xin chào", "vi")


@needs_espeak
def test_stop_interrupts_playback_at_once(tmp_config, tmp_path):
    # a "player" that would play for 30 s
    player = SubprocessPlayer(["sh", "-c", "sleep 30", "player"])
    sp = Speaker(tmp_config, player=player, cache_dir=tmp_path)
    finished = threading.Event()
    sp.say("Mời số A012 đến quầy 3", on_done=lambda played: finished.set())
    deadline = time.monotonic() + 5
    while player._proc is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert player._proc is not None
    t0 = time.monotonic()
    sp.stop()
    assert finished.wait(2)
    assert time.monotonic() - t0 < 1.0


@needs_espeak
def test_a_new_say_stops_the_old_one(tmp_config, tmp_path):
    player = SubprocessPlayer(["sh", "-c", "sleep 30", "player"])
    sp = Speaker(tmp_config, player=player, cache_dir=tmp_path)
    results = []
    sp.say("một", on_done=results.append)
    time.sleep(0.5)
    sp.say("hai", on_done=results.append)
    time.sleep(0.5)
    sp.stop()
    sp.wait(2)
    assert results and results[0] is False  # the first was killed, not played to the end


@needs_espeak
def test_no_audio_device_is_logged_not_raised(tmp_config, tmp_path, caplog):
    """This machine has no sound card: the real player fails, the speaker logs and carries on."""
    sp = Speaker(tmp_config, cache_dir=tmp_path)
    done = threading.Event()
    played = []
    sp.say("xin chào", on_done=lambda p: (played.append(p), done.set()))
    assert done.wait(20)
    assert sp.last_error is None  # synthesis worked
    from voice.audio import check_output

    if not check_output()[0]:  # no sound card (as on the CI machine): not played, and logged
        assert played == [False]
        assert "audio output failed" in caplog.text or "no audio player" in caplog.text


def test_no_player_installed(tmp_path, caplog):
    p = SubprocessPlayer()
    p.command = None
    assert p.play(tmp_path / "x.wav") is False
    assert "no audio player" in caplog.text


def test_speech_disabled_says_nothing(tmp_config, tmp_path):
    cfg = tmp_config.model_copy(update={"speech": tmp_config.speech.model_copy(update={"enabled": False})})
    sp = Speaker(cfg, cache_dir=tmp_path)
    sp.say("xin chào")
    assert sp._thread is None
