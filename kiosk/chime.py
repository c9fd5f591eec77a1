"""The idle warning's chime: a short two-tone WAV (made once in the data folder), played in the
background, then the warning spoken ("Ông/Bà còn dùng máy không? …").

The warning is also on screen and lasts at least 20 s (config kiosk.idle_warning_s); the
sound is for a visitor who looked away. No audio player or no sound card: nothing is played.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from voice.tones import sine, write_once

log = logging.getLogger("kiosk.chime")

RATE = 16000


def chime_wav(folder: Path) -> Path:
    """Two soft tones (660 Hz then 880 Hz, 0.25 s each) as a 16-bit mono WAV."""
    n = int(RATE * 0.25)

    def samples():
        for freq in (660.0, 880.0):
            for i in range(n):
                fade = min(1.0, i / 400, (n - i) / 400)
                yield 9000 / 32767 * fade * sine(freq, i / RATE)

    return write_once(folder / "idle-chime.wav", samples(), RATE)


def chime(cfg, speaker=None, then_say: tuple[str, str] | None = None) -> None:
    """Play the chime without blocking (through the speaker's player when there is one), then
    say `then_say` = (text, lang) with the speaker: the warning is heard by a visitor who cannot
    see or read it. It is not the visitor's activity: it does not hold the idle timer."""
    def play():
        try:
            path = chime_wav(cfg.data_dir / "cache")
            player = getattr(speaker, "player", None)
            if player is None:
                from voice.speech import SubprocessPlayer

                player = SubprocessPlayer()
            player.play(path)
        except Exception as exc:  # no sound card, no player: the warning is on screen anyway
            log.info("idle chime not played: %s", exc)
        if speaker is not None and then_say:
            try:
                speaker.say(then_say[0], lang=then_say[1])
            except Exception as exc:  # the warning is on screen anyway
                log.info("idle warning not spoken: %s", exc)

    threading.Thread(target=play, name="kiosk-chime", daemon=True).start()
