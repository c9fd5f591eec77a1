"""The generated chimes: valid 16-bit mono WAVs of the right length, audible, written once."""

import wave

import numpy as np

from kiosk.chime import RATE, chime_wav
from staff.announce import chime_wav as hall_chime_wav


def _read(path):
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_idle_chime_is_half_a_second_of_two_tones(tmp_path):
    rate, pcm = _read(chime_wav(tmp_path))
    assert rate == RATE and len(pcm) == RATE // 2
    assert 8000 < np.abs(pcm).max() <= 9000  # soft, not clipped
    spectrum = [np.abs(np.fft.rfft(half)).argmax() * RATE / len(half) for half in (pcm[: RATE // 4], pcm[RATE // 4 :])]
    assert [round(f) for f in spectrum] == [660, 880]


def test_hall_chime_decays_and_is_reused(tmp_path):
    path = tmp_path / "chime.wav"
    rate, pcm = _read(hall_chime_wav(path))
    assert rate == 22050 and len(pcm) == int(22050 * 0.45) + int(22050 * 0.8)
    assert np.abs(pcm).max() <= 32767 // 2 + 1
    assert np.abs(pcm[:2000]).max() > 4 * np.abs(pcm[-2000:]).max()  # bell-like decay
    mtime = path.stat().st_mtime_ns
    hall_chime_wav(path)
    assert path.stat().st_mtime_ns == mtime and not list(tmp_path.glob(".*tmp"))
