"""Speech out: Vietnamese (and English) text to cached WAV files, and a player that stops at once.

Public API:

- `Speaker(cfg).synthesize_wav(text, lang="vi") -> Path`: a WAV file in
  `<data_dir>/tts-cache/` (same text, voice and rate → same file, made once). The staff
  server uses this for the hall display's calls.
- `Speaker(cfg).say(text, lang="vi")`: synthesise in a worker thread and play; returns at
  once. `stop()` kills the playing process at once (a new tap or the visitor speaking).
  With no audio output the failure is logged and `last_error` set; nothing raises.
- `to_speech(text, lang, read_ticket_as)`: what is synthesised: `centre.aloud.for_listening`
  (vietnormalizer) for Vietnamese, `speakable` for English. Every WAV (the kiosk's speech and
  the hall display's calls) goes through it.
- `Speaker.speaking` / `on_state(bool)`: speaking or not, for the kiosk's idle timer.
- `speakable(text, lang, read_ticket_as)`: ticket numbers and numbers the Vietnamese way:
  "A012" → "A không một hai" (`digits`) or "A mười hai" (`number`); "3" → "ba".
- `call_text(ticket, counter_name, lang)`: "Mời số A012 đến Quầy 3" (before `speakable`).

Synthesis calls espeak-ng directly (voice, words-per-minute and amplitude from config), not
pyttsx3: pyttsx3's espeak driver (2.99) prints "Audio saved to …" on stdout, which breaks
the one-JSON-line outputs of the CLI and the benchmark; its engine is a process-wide
singleton with a run loop that is not thread-safe; and a subprocess can be timed out and
killed. pyttsx3 reaches the same espeak-ng voices, so the sound is the same.
Playback uses the first of `aplay`, `paplay`, `play` (sox) found, as a subprocess.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


class SpeechError(Exception):
    """Speech could not be synthesised (no espeak-ng, bad voice, empty text)."""


# -- numbers the Vietnamese way ----------------------------------------------------------------

VI_DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]
EN_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_EN_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
             "eighteen", "nineteen"]
_EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _vi_below_100(n: int, inner: bool) -> str:
    tens, unit = divmod(n, 10)
    if tens == 0:
        return ("linh " + VI_DIGITS[unit]) if inner and unit else VI_DIGITS[unit] if unit or not inner else ""
    if tens == 1:
        head = "mười"
        tail = {0: "", 5: "lăm"}.get(unit, VI_DIGITS[unit])
    else:
        head = VI_DIGITS[tens] + " mươi"
        tail = {0: "", 1: "mốt", 4: "tư", 5: "lăm"}.get(unit, VI_DIGITS[unit])
    return f"{head} {tail}".strip()


def _vi_below_1000(n: int, full: bool) -> str:
    hundreds, rest = divmod(n, 100)
    if hundreds == 0 and not full:
        return _vi_below_100(rest, inner=False)
    head = VI_DIGITS[hundreds] + " trăm"
    if rest == 0:
        return head
    return f"{head} {_vi_below_100(rest, inner=True)}"


def vi_number(n: int) -> str:
    """A whole number in Vietnamese words: 12 → "mười hai", 105 → "một trăm linh năm"."""
    if n < 0:
        return "âm " + vi_number(-n)
    if n < 1000:
        return _vi_below_1000(n, full=False)
    groups = []
    while n:
        n, g = divmod(n, 1000)
        groups.append(g)
    names = ["", "nghìn", "triệu", "tỷ"]
    parts = []
    top = len(groups) - 1
    for i in range(top, -1, -1):
        g = groups[i]
        if g == 0:
            continue
        words = _vi_below_1000(g, full=i != top)
        parts.append(f"{words} {names[i] if i < len(names) else ''}".strip())
    return " ".join(parts)


def en_number(n: int) -> str:
    """A whole number below a million in English words."""
    if n < 10:
        return EN_DIGITS[n]
    if n < 20:
        return _EN_TEENS[n - 10]
    if n < 100:
        t, u = divmod(n, 10)
        return _EN_TENS[t] + (f"-{EN_DIGITS[u]}" if u else "")
    if n < 1000:
        h, r = divmod(n, 100)
        return f"{EN_DIGITS[h]} hundred" + (f" {en_number(r)}" if r else "")
    if n < 1_000_000:
        th, r = divmod(n, 1000)
        return f"{en_number(th)} thousand" + (f" {en_number(r)}" if r else "")
    return " ".join(EN_DIGITS[int(d)] for d in str(n))


def ticket_words(ticket: str, lang: str = "vi", read_as: str = "digits") -> str:
    """'A012' → 'A không một hai' (digits) or 'A mười hai' (number); English alike."""
    m = re.fullmatch(r"\s*([A-Za-z]*)\s*-?\s*(\d+)\s*", ticket)
    if not m:
        return ticket
    letters, digits = m.group(1).upper(), m.group(2)
    names = VI_DIGITS if lang != "en" else EN_DIGITS
    if read_as == "number":
        spoken = vi_number(int(digits)) if lang != "en" else en_number(int(digits))
    else:
        spoken = " ".join(names[int(d)] for d in digits)
    return f"{' '.join(letters)} {spoken}".strip()


_TICKET_RE = re.compile(r"\b([A-Z])[- ]?(\d{3})\b")
_NUMBER_RE = re.compile(r"\b\d+\b")


def speakable(text: str, lang: str = "vi", read_ticket_as: str = "digits") -> str:
    """Text with ticket numbers and plain numbers spelled out in words, ready for the synthesiser."""
    text = _TICKET_RE.sub(lambda m: ticket_words(m.group(1) + m.group(2), lang, read_ticket_as), text)
    to_words = vi_number if lang != "en" else en_number
    return _NUMBER_RE.sub(lambda m: to_words(int(m.group(0))) if len(m.group(0)) <= 9 else m.group(0), text)


def to_speech(text: str, lang: str = "vi", read_ticket_as: str = "digits") -> str:
    """Text as the synthesiser should read it: `centre.aloud.for_listening` (vietnormalizer for
    Vietnamese: numbers, dates, times, money, abbreviations), or `speakable` if that fails to load."""
    try:
        from centre.aloud import for_listening

        if lang == "vi":
            return for_listening(text, lang, read_ticket_as)
    except ImportError:  # vietnormalizer missing: our own number reading
        pass
    return speakable(text, lang, read_ticket_as)


def call_text(ticket: str, counter_name: str, lang: str = "vi") -> str:
    """The hall display's announcement: 'Mời số A012 đến Quầy 3.'"""
    if lang == "en":
        return f"Ticket {ticket}, please go to {counter_name}."
    return f"Mời số {ticket} đến {counter_name}."


# -- synthesis --------------------------------------------------------------------------------


class EspeakSynth:
    """Text → WAV with the espeak-ng command (voice, rate and volume from cfg.speech)."""

    def __init__(self, speech_cfg, binary: str | None = None, timeout_s: float = 30.0):
        self.cfg = speech_cfg
        self.binary = binary or shutil.which("espeak-ng") or shutil.which("espeak")
        self.timeout_s = timeout_s
        self._voices: set[str] | None = None

    @property
    def available(self) -> bool:
        return self.binary is not None

    def voice(self, lang: str) -> str:
        return self.cfg.voice_en if lang == "en" else self.cfg.voice_vi

    def voices(self) -> set[str]:
        """Names espeak-ng accepts for -v (languages, voice names and files), read once."""
        if self._voices is None:
            names: set[str] = set()
            try:
                out = subprocess.run([self.binary, "--voices"], capture_output=True, timeout=10).stdout
            except (OSError, subprocess.TimeoutExpired):
                out = b""
            for line in out.decode("utf-8", "replace").splitlines()[1:]:
                parts = line.split()
                if len(parts) >= 5:
                    names.update({parts[1], parts[3], parts[4], parts[4].rsplit("/", 1)[-1]})
            self._voices = names
        return self._voices

    def check_voice(self, lang: str) -> None:
        voice = self.voice(lang)
        known = self.voices()
        if known and voice.split("+", 1)[0] not in known:
            vi = sorted(v for v in known if v.startswith("vi"))
            raise SpeechError(f"espeak-ng has no voice {voice!r} (Vietnamese voices: {', '.join(vi) or 'none'}); "
                              "fix speech.voice_vi / speech.voice_en in config.yaml")

    def key(self, text: str, lang: str) -> str:
        return f"espeak-ng|{self.voice(lang)}|{self.cfg.rate}|{self.cfg.volume}|{text}"

    def synth(self, text: str, lang: str, out: Path) -> None:
        if not self.binary:
            raise SpeechError("espeak-ng is not installed (apt-get install espeak-ng): speech is off")
        self.check_voice(lang)
        amplitude = str(int(round(self.cfg.volume * 100)))
        cmd = [self.binary, "-v", self.voice(lang), "-s", str(self.cfg.rate), "-a", amplitude, "-w", str(out), "--", text]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise SpeechError(f"espeak-ng took longer than {self.timeout_s} s") from exc
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise SpeechError(f"espeak-ng failed for voice {self.voice(lang)!r}: {err or 'no audio written'}")


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


# -- playback ---------------------------------------------------------------------------------


class SubprocessPlayer:
    """Plays a WAV with aplay, paplay or sox's play; `stop()` kills it at once."""

    CANDIDATES = (["aplay", "-q"], ["paplay"], ["play", "-q"])

    def __init__(self, command: list[str] | None = None):
        self.command = command or self._find()
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    @classmethod
    def _find(cls) -> list[str] | None:
        for c in cls.CANDIDATES:
            if shutil.which(c[0]):
                return c
        return None

    def play(self, path: Path) -> bool:
        """Play to the end (blocking); False when it could not play (logged)."""
        if not self.command:
            log.warning("no audio player (aplay, paplay or play) installed: %s not played", path)
            return False
        with self._lock:
            try:
                # its own process group, so stop() also ends any child it spawned
                self._proc = subprocess.Popen(self.command + [str(path)], stdout=subprocess.DEVNULL,
                                              stderr=subprocess.PIPE, start_new_session=True)
            except OSError as exc:
                log.warning("audio player failed to start: %s", exc)
                return False
            proc = self._proc
        _, err = proc.communicate()
        with self._lock:
            self._proc = None
        if proc.returncode not in (0, -9, -15):
            log.warning("audio output failed (%s): %s", " ".join(self.command),
                        err.decode("utf-8", "replace").strip()[:300])
            return False
        return proc.returncode == 0

    def stop(self) -> None:
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()


class Speaker:
    """Cached synthesis and stoppable playback; one utterance at a time (a new `say` stops the old)."""

    def __init__(self, cfg, player: SubprocessPlayer | None = None, synth: EspeakSynth | None = None,
                 cache_dir: Path | None = None, on_state: Callable[[bool], None] | None = None):
        self.cfg = cfg
        self.on_state = on_state  # on_state(True) when speech starts, on_state(False) when it ends or stops
        self._speaking = False
        self.synth = synth or EspeakSynth(cfg.speech)
        self.player = player or SubprocessPlayer()
        self.cache_dir = Path(cache_dir) if cache_dir else cfg.data_dir / "tts-cache"
        self.last_error: str | None = None
        self._gen = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.first_audio_ms: float | None = None

    def synthesize_wav(self, text: str, lang: str = "vi") -> Path:
        """The WAV for `text` (numbers spoken per config), from the cache or made now."""
        spoken = to_speech(text, lang, self.cfg.speech.read_ticket_as).strip()
        if not spoken:
            raise SpeechError("nothing to say: the text is empty")
        digest = hashlib.sha1(self.synth.key(spoken, lang).encode("utf-8")).hexdigest()[:20]
        path = self.cache_dir / f"{lang}-{digest}.wav"
        if path.is_file() and path.stat().st_size > 44:
            return path
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".wav", dir=self.cache_dir)
        os.close(fd)
        try:
            self.synth.synth(spoken, lang, Path(tmp))
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    def say(self, text: str, lang: str = "vi", on_done: Callable[[bool], None] | None = None) -> None:
        """Speak `text` in the background (stops what is playing); `on_done(played)` afterwards."""
        if not self.cfg.speech.enabled:
            return
        self.stop()
        with self._lock:
            self._gen += 1
            gen = self._gen
        t0 = time.perf_counter()

        def work():
            played = False
            self._set_speaking(True, gen)
            try:
                path = self.synthesize_wav(text, lang)
                if gen == self._gen:
                    self.first_audio_ms = (time.perf_counter() - t0) * 1000
                    played = self.player.play(path)
            except SpeechError as exc:
                self.last_error = str(exc)
                log.warning("speech: %s", exc)
            except Exception as exc:  # never crash the kiosk for speech
                self.last_error = str(exc)
                log.exception("speech failed")
            self._set_speaking(False, gen)
            if on_done:
                on_done(played)

        self._thread = threading.Thread(target=work, name="speech", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop speaking at once (and drop a synthesis still running)."""
        with self._lock:
            self._gen += 1
            gen = self._gen
        self.player.stop()
        self._set_speaking(False, gen)

    @property
    def speaking(self) -> bool:
        """True from `say()` until the speech ends or is stopped (counts as activity for the idle timer)."""
        return self._speaking

    def _set_speaking(self, on: bool, gen: int) -> None:
        with self._lock:
            if gen != self._gen or on == self._speaking:
                return  # an older utterance ending after a newer one started says nothing
            self._speaking = on
        if self.on_state is not None:
            try:
                self.on_state(on)
            except Exception:
                log.exception("speech state listener failed")

    def wait(self, timeout: float | None = None) -> None:
        t = self._thread
        if t is not None:
            t.join(timeout)
