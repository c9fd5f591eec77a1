"""Microphone capture, end-of-speech detection and the level meter.

- A *source* yields 30 ms frames of 16 kHz mono int16 PCM: `SoundDeviceSource` (a
  sounddevice `RawInputStream` on the configured device) or `WavSource` (the FakeMic of the
  tests: it replays a WAV file or PCM bytes, then trailing silence). Sources are made by a
  factory (`make_source(cfg)` by default) so tests and benchmarks inject their own.
- `Endpointer` (pure) decides from webrtcvad's speech/non-speech flags when the visitor has
  started, when they stopped (`end_silence_s` of non-speech after speech), when nobody
  spoke (`no_speech_s`) and when the utterance is too long (`max_utterance_s`).
- `level(frame)` is the meter value 0..1 (RMS from −60 dBFS to 0 dBFS).
- `check_input(cfg)` says whether a microphone is there, and if not, why (for `kiosk doctor`).
"""

from __future__ import annotations

import logging
import math
import time
import wave
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FRAME_MS = 30


class AudioError(Exception):
    """The microphone could not be opened or read."""


def frame_bytes(sample_rate: int) -> int:
    return sample_rate * FRAME_MS // 1000 * 2


def level(frame: bytes) -> float:
    """Meter value 0..1 of one frame (RMS in dBFS, −60 dB → 0, 0 dB → 1)."""
    if not frame:
        return 0.0
    a = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
    rms = math.sqrt(float(np.mean(a * a))) if a.size else 0.0
    if rms < 1.0:
        return 0.0
    db = 20 * math.log10(rms / 32768.0)
    return max(0.0, min(1.0, (db + 60.0) / 60.0))


class Endpointer:
    """End-of-speech detection from webrtcvad frame decisions (feed 10/20/30 ms frames)."""

    def __init__(self, sample_rate: int = 16000, end_silence_s: float = 0.8, max_utterance_s: float = 8.0,
                 no_speech_s: float = 5.0, start_frames: int = 3, aggressiveness: int = 2, vad=None):
        import webrtcvad

        self.sample_rate = sample_rate
        self.end_silence_s = end_silence_s
        self.max_utterance_s = max_utterance_s
        self.no_speech_s = no_speech_s
        self.start_frames = start_frames
        self.vad = vad or webrtcvad.Vad(aggressiveness)
        self.elapsed_s = 0.0
        self.in_speech = False
        self.heard_speech = False
        self._voiced_run = 0
        self._silence_s = 0.0

    def feed(self, frame: bytes) -> str:
        """'waiting', 'speech', 'end' (speech then silence), 'silence' (nobody spoke) or 'max'."""
        dur = len(frame) / 2 / self.sample_rate
        self.elapsed_s += dur
        try:
            voiced = self.vad.is_speech(frame, self.sample_rate)
        except Exception:  # a short last frame: treat as silence
            voiced = False
        if voiced:
            self._voiced_run += 1
            self._silence_s = 0.0
            if self._voiced_run >= self.start_frames:
                self.in_speech = self.heard_speech = True
        else:
            self._voiced_run = 0
            self._silence_s += dur
            if self.in_speech and self._silence_s >= self.end_silence_s:
                self.in_speech = False
                return "end"
        if self.elapsed_s >= self.max_utterance_s:
            return "max"
        if not self.heard_speech and self.elapsed_s >= self.no_speech_s:
            return "silence"
        return "speech" if self.heard_speech else "waiting"


class WavSource:
    """FakeMic: replays a WAV file (16-bit mono at the configured rate) or PCM bytes frame by frame.

    After the audio it gives `tail_s` of silence (so end of speech can be detected), then b''.
    `realtime=True` paces frames like a real microphone."""

    def __init__(self, wav: Path | bytes, sample_rate: int = 16000, tail_s: float = 1.5, realtime: bool = False):
        if isinstance(wav, bytes | bytearray):
            self.pcm = bytes(wav)
        else:
            with wave.open(str(wav), "rb") as w:
                if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != sample_rate:
                    raise AudioError(
                        f"{wav}: need {sample_rate} Hz mono 16-bit PCM, got {w.getframerate()} Hz, "
                        f"{w.getnchannels()} channel(s), {8 * w.getsampwidth()}-bit "
                        f"(convert with: sox IN.wav -r {sample_rate} -c 1 -b 16 OUT.wav)"
                    )
                self.pcm = w.readframes(w.getnframes())
        self.pcm += b"\x00\x00" * int(tail_s * sample_rate)
        self.sample_rate = sample_rate
        self.realtime = realtime
        self._pos = 0
        self._n = frame_bytes(sample_rate)
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read(self) -> bytes:
        if self.closed or self._pos >= len(self.pcm):
            return b""
        frame = self.pcm[self._pos : self._pos + self._n]
        self._pos += self._n
        if len(frame) < self._n:
            frame += b"\x00" * (self._n - len(frame))
        if self.realtime:
            time.sleep(FRAME_MS / 1000)
        return frame

    def close(self) -> None:
        self.closed = True


class SoundDeviceSource:
    """The microphone: sounddevice RawInputStream, 16 kHz mono int16, 30 ms blocks."""

    def __init__(self, device=None, sample_rate: int = 16000):
        try:
            import sounddevice as sd
        except OSError as exc:  # libportaudio missing
            raise AudioError(f"PortAudio is not available: {exc}") from exc
        self.sample_rate = sample_rate
        self._frames = sample_rate * FRAME_MS // 1000
        try:
            self.stream = sd.RawInputStream(samplerate=sample_rate, blocksize=self._frames, device=device,
                                            channels=1, dtype="int16")
            self.stream.start()
        except Exception as exc:  # sounddevice.PortAudioError and ValueError for a bad device
            raise AudioError(f"cannot open the microphone {device if device is not None else '(default)'}: {exc}") from exc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read(self) -> bytes:
        data, overflowed = self.stream.read(self._frames)
        if overflowed:
            log.debug("microphone overflow")
        return bytes(data)

    def close(self) -> None:
        try:
            self.stream.stop()
            self.stream.close()
        except Exception:
            pass


def make_source(cfg):
    """The default source factory: the configured microphone."""
    return SoundDeviceSource(cfg.voice.input_device, cfg.voice.sample_rate)


def input_devices() -> list[dict]:
    """Audio devices with input channels: [{index, name, channels, default_rate, default}]."""
    try:
        import sounddevice as sd

        devices = sd.query_devices()
        default_in = sd.default.device[0] if sd.default.device else -1
    except Exception as exc:  # no PortAudio, no ALSA
        raise AudioError(f"cannot list audio devices: {exc}") from exc
    out = []
    for i, d in enumerate(devices):
        out.append({"index": i, "name": d["name"], "inputs": d["max_input_channels"],
                    "outputs": d["max_output_channels"], "default_rate": d["default_samplerate"],
                    "default_input": i == default_in})
    return out


def check_input(cfg) -> tuple[bool, str]:
    """(ok, message): is there a microphone that opens at the configured rate?"""
    try:
        devices = input_devices()
    except AudioError as exc:
        return False, f"{exc} — voice input is off"
    inputs = [d for d in devices if d["inputs"] > 0]
    if not inputs:
        return False, "no microphone found (no audio input device) — voice input is off; plug in a USB microphone"
    try:
        import sounddevice as sd

        sd.check_input_settings(device=cfg.voice.input_device, channels=1, dtype="int16",
                                samplerate=cfg.voice.sample_rate)
    except Exception as exc:
        return False, f"microphone {cfg.voice.input_device!r} cannot record {cfg.voice.sample_rate} Hz mono: {exc}"
    name = cfg.voice.input_device if cfg.voice.input_device is not None else "default"
    return True, f"microphone {name} ready ({len(inputs)} input device(s))"


def check_output() -> tuple[bool, str]:
    """(ok, message): is there an audio output device for speech?"""
    try:
        devices = input_devices()
    except AudioError as exc:
        return False, f"{exc} — speech will be synthesised but not played"
    outs = [d for d in devices if d["outputs"] > 0]
    if not outs:
        return False, "no speaker found (no audio output device) — speech is synthesised but not played"
    return True, f"{len(outs)} audio output device(s)"
