"""Hall announcements: the chime and the spoken call ("Mời số A012 đến Quầy 3") as WAV files.

Speech is synthesised on the server, offline, with the kiosk's own TTS
(`voice.speech.Speaker.synthesize_wav`, espeak-ng's Vietnamese voice, cached on disk by text),
so the same call is synthesised once. The server's cache is its own folder, bounded to
`MAX_FILES` files and `MAX_BYTES` (oldest first out): calls of every number at every counter
would otherwise grow it without end. The chime is generated here (two soft bell tones).
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

from centre.config import Config
from voice.tones import sine, write_once

log = logging.getLogger("staff.announce")


class SpeechUnavailable(RuntimeError):
    """No text-to-speech engine could make the announcement (the display then shows it silently)."""


def announcement_text(code: str, counter_name_vi: str) -> str:
    """What the hall speaker says for a call: 'Mời số A012 đến Quầy 3.' (numbers read by the TTS layer)."""
    from voice.speech import call_text

    return call_text(code, counter_name_vi, "vi")


def chime_wav(path: Path, rate: int = 22050) -> Path:
    """Write the two-tone chime (E6 then C6, bell-like decay) once; return its path."""

    def samples():
        for freq, dur in ((1318.5, 0.45), (1046.5, 0.8)):
            for i in range(int(rate * dur)):
                t = i / rate
                env = math.exp(-4.0 * t) * min(1.0, i / (0.005 * rate))
                yield 0.5 * max(-1.0, min(1.0, env * (0.6 * sine(freq, t) + 0.25 * sine(2 * freq, t))))

    return write_once(path, samples(), rate)


MAX_FILES = 600
MAX_BYTES = 96 * 1024 * 1024


def prune(folder: Path, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES, keep: Path | None = None) -> int:
    """Delete the oldest WAVs of `folder` until it holds at most `max_files` and `max_bytes`; returns how many."""
    try:
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in folder.glob("*.wav")]
    except OSError:
        return 0
    files.sort()
    total = sum(f[1] for f in files)
    removed = 0
    for _mtime, size, path in files:
        if len(files) - removed <= max_files and total <= max_bytes:
            break
        if keep is not None and path == keep:
            continue
        try:
            path.unlink()
        except OSError:
            continue
        removed += 1
        total -= size
    return removed


class Announcer:
    """Makes the chime and the call WAVs; `synthesize(text, lang) -> Path` can be injected (tests)."""

    def __init__(self, cfg: Config, synthesize=None, *, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES):
        self.cfg = cfg
        self.dir = cfg.data_dir / "cache" / "announce"
        self._synth = synthesize
        self._lock = threading.Lock()
        self.max_files, self.max_bytes = max_files, max_bytes
        self._made = 0

    def chime(self) -> Path:
        return chime_wav(self.dir / "chime.wav")

    def _engine(self):
        if self._synth is None:
            from voice.speech import Speaker

            self._synth = Speaker(self.cfg, cache_dir=self.dir / "speech").synthesize_wav
        return self._synth

    def speech(self, text: str, lang: str = "vi") -> Path:
        """The WAV of `text` (cached by the TTS layer); SpeechUnavailable when it cannot be made."""
        if not self.cfg.speech.enabled:
            raise SpeechUnavailable("speech is switched off in config.yaml (speech.enabled)")
        with self._lock:  # one espeak-ng at a time on a small PC
            try:
                path = Path(self._engine()(text, lang))
            except Exception as exc:  # any engine failure: the display shows the call silently
                raise SpeechUnavailable(f"speech synthesis failed: {exc}") from exc
            self._made += 1
            if self._made % 20 == 1:  # a directory listing now and then, not on every call
                prune(path.parent, self.max_files, self.max_bytes, keep=path)
            return path
