"""Stand-ins where the hardware or the other side cannot be here: the search's answer in the voice
decision tests (tests/test_voice_vietasr.py, tests/test_voice_confidence.py: `decide` reads only
these attributes of `centre.search` hits and results, so a test states the text search's answer
directly), a sound card (`BlockingPlayer`, tests/test_voice_kiosk.py, test_kiosk_aloud.py) and a microphone
held by the kiosk (`ListeningVoice`: the words then come as voice events)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass
class FakeHit:
    key: str
    name: str
    score: float
    matched_text: str = ""


@dataclass
class FakeSearch:
    hits: list
    referral: dict | None = None


class BlockingPlayer:
    """A sound card that 'plays' until stopped (a null sink): records each WAV it was given (the
    file espeak-ng wrote) and each stop."""

    command = ["null-sink"]

    def __init__(self):
        self.played: list[Path] = []
        self.stops = 0
        self._release = threading.Event()

    def play(self, path):
        self._release = threading.Event()
        self.played.append(Path(path))
        self._release.wait(30)
        return True

    def stop(self):
        self.stops += 1
        self._release.set()


class ListeningVoice:
    """The kiosk's listener with no microphone: press / release / cancel are recorded; a test
    sends the words as voice events (tests/test_kiosk_controller.py, test_kiosk_aloud.py)."""

    def __init__(self):
        self.calls: list[str] = []

    def press(self):
        self.calls.append("press")

    def release(self):
        self.calls.append("release")

    def cancel(self):
        self.calls.append("cancel")
