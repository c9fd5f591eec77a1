"""Capture logic without a microphone (issue 6): a FakeMic replays WAVs into the endpointer,
the level meter, and the service's behaviour when there is no model or no microphone."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from voice.audio import FRAME_MS, AudioError, Endpointer, WavSource, check_input, level
from voice.events import ModelFailed, ModelLoading, VoiceError
from voice.recognizer import ModelError, ModelLoader, inspect_model
from voice.service import VoiceService
from voice.testing import spoken_request, tools_available, write_wav

RATE = 16000


def tone(seconds: float, amp: float, freq: float = 440.0) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amp * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16).tobytes()


def silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(seconds * RATE)


def run(endpointer: Endpointer, source: WavSource) -> list[tuple[float, str]]:
    """Feed every frame; (time, status) at each change of status."""
    changes, last = [], None
    while frame := source.read():
        st = endpointer.feed(frame)
        if st != last:
            changes.append((round(endpointer.elapsed_s, 2), st))
            last = st
        if st in ("end", "silence", "max"):
            break
    return changes


def test_level_meter():
    assert level(silence(0.03)) == 0.0
    assert level(b"") == 0.0
    loud = level(tone(0.03, 1.0))
    quiet = level(tone(0.03, 0.03))  # about −33 dBFS
    assert 0.9 < loud <= 1.0
    assert 0.35 < quiet < 0.55


@pytest.mark.skipif(not tools_available(), reason="espeak-ng and sox are needed")
def test_end_of_speech_after_the_silence_timeout(tmp_path):
    pcm = spoken_request("đăng ký khai sinh cho con", voice="vi", speed=150, noise=None, lead_s=1.0, tail_s=0.0)
    speech_end = len(pcm) / 2 / RATE
    wav = write_wav(tmp_path / "req.wav", pcm)
    ep = Endpointer(RATE, end_silence_s=0.8, max_utterance_s=20)
    changes = run(ep, WavSource(wav, tail_s=3.0))
    statuses = [s for _, s in changes]
    assert statuses[0] == "waiting" and "speech" in statuses and statuses[-1] == "end"
    start = next(t for t, s in changes if s == "speech")
    assert 0.9 <= start <= 1.4  # speech begins after the 1 s lead-in
    end = changes[-1][0]
    # 0.8 s of silence after the last voiced frame (espeak's last syllable fades before the file ends)
    assert speech_end + 0.3 <= end <= speech_end + 1.3, (end, speech_end)


def test_nobody_speaks():
    ep = Endpointer(RATE, end_silence_s=0.8, max_utterance_s=20, no_speech_s=2.0)
    changes = run(ep, WavSource(silence(5.0)))
    assert changes[-1][1] == "silence" and 1.95 <= changes[-1][0] <= 2.1
    assert not ep.heard_speech


@pytest.mark.skipif(not tools_available(), reason="espeak-ng and sox are needed")
def test_maximum_utterance_length():
    """Someone talks on and on: the utterance is cut at max_utterance_s."""
    text = "tôi muốn hỏi về thủ tục đăng ký khai sinh cho con và đăng ký thường trú cho cả gia đình"
    pcm = spoken_request(text, voice="vi", speed=150, noise=None, lead_s=0.2)
    ep = Endpointer(RATE, end_silence_s=0.8, max_utterance_s=3.0)
    changes = run(ep, WavSource(pcm))
    assert changes[-1][1] == "max" and 2.95 <= changes[-1][0] <= 3.1


def test_fake_mic_frames_and_formats(tmp_path):
    src = WavSource(silence(0.1), tail_s=0.0)
    frames = []
    while f := src.read():
        frames.append(f)
    assert all(len(f) == RATE * FRAME_MS // 1000 * 2 for f in frames) and len(frames) == 4
    stereo = tmp_path / "stereo.wav"
    import wave

    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\x00" * 400)
    with pytest.raises(AudioError, match="need 16000 Hz mono 16-bit.*sox"):
        WavSource(stereo)


def test_no_microphone_is_reported_with_a_reason(tmp_config):
    ok, msg = check_input(tmp_config)
    # this machine has no sound card; on a kiosk with a microphone the same call says "ready"
    assert isinstance(ok, bool) and msg
    if not ok:
        assert "voice input is off" in msg or "cannot record" in msg


def test_bad_model_folders_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="no voice model at .*install-model"):
        inspect_model(tmp_path / "missing")
    (tmp_path / "m" / "am").mkdir(parents=True)
    with pytest.raises(ModelError, match="missing am/final.mdl, conf/model.conf, graph/HCLG.fst"):
        inspect_model(tmp_path / "m")
    f = tmp_path / "file.zip"
    f.write_bytes(b"PK")
    with pytest.raises(ModelError, match="not a directory"):
        inspect_model(f)


def test_missing_model_switches_voice_off_and_the_kiosk_carries_on(tmp_config, tmp_path):
    events = []
    got = threading.Event()

    def on_event(e):
        events.append(e)
        if isinstance(e, ModelFailed):
            got.set()

    svc = VoiceService(tmp_config, lambda: None, on_event, loader=ModelLoader(tmp_path / "no-model"))
    svc.start_loading()
    assert got.wait(10)
    assert not svc.ready
    assert "no voice model" in svc.reason and "install-model" in svc.reason
    assert any(isinstance(e, ModelLoading) for e in events)
    assert svc.press() is False and isinstance(events[-1], VoiceError)


def test_voice_disabled_in_config(tmp_config):
    cfg = tmp_config.model_copy(update={"voice": tmp_config.voice.model_copy(update={"enabled": False})})
    events = []
    svc = VoiceService(cfg, lambda: None, events.append)
    svc.start_loading()
    assert isinstance(events[0], ModelFailed) and "voice.enabled" in events[0].reason
    assert not svc.ready and not svc.listen()


def test_an_unexpected_loading_error_still_ends_in_model_failed(tmp_path, monkeypatch):
    """Regression: an exception other than ModelError in the loading thread used to leave
    wait() blocked for ever (seen when bench/queue.py shadowed the stdlib queue module)."""
    import voice.recognizer as rec

    def boom(path):
        raise AttributeError("module 'queue' has no attribute 'LifoQueue'")

    monkeypatch.setattr(rec, "inspect_model", boom)
    events = []
    loader = ModelLoader(tmp_path)
    loader.subscribe(events.append)
    loader.start()
    assert loader.wait(5) is False
    assert loader.state == "failed" and "AttributeError" in loader.error
    assert isinstance(events[-1], ModelFailed)
