"""Events the voice adapter sends to the kiosk UI (plain dataclasses with `to_dict`).

They are delivered by callback from worker threads; the UI marshals them to its own thread
(Kivy: `Clock.schedule_once`). Order for one utterance: `Listening` (repeated, with the
level for the meter), `Partial(text)` whenever the words heard so far change → `Thinking` → `Understood` or `NotUnderstood` (or `VoiceError`).
Model loading: `ModelLoading` (repeated) → `ModelReady` or `ModelFailed`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class _Event:
    def to_dict(self) -> dict:
        return {"type": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class ModelLoading(_Event):
    """The model is being loaded; `progress` 0..1 by stage (Vosk gives no finer progress)."""

    path: str
    progress: float
    stage: str


@dataclass(frozen=True)
class ModelReady(_Event):
    """The model is loaded: show the microphone button."""

    path: str
    load_s: float


@dataclass(frozen=True)
class ModelFailed(_Event):
    """No voice: the model is missing or broken (`reason` says what to do); the kiosk runs on."""

    path: str
    reason: str


@dataclass(frozen=True)
class Listening(_Event):
    """Capturing; `level` 0..1 for the meter, `speech` once the visitor has started talking."""

    level: float
    speech: bool = False


@dataclass(frozen=True)
class Partial(_Event):
    """The words heard so far, while the visitor is still speaking (shown as they come)."""

    text: str


@dataclass(frozen=True)
class Thinking(_Event):
    """End of speech: the recogniser is finishing."""

    audio_s: float


@dataclass(frozen=True)
class Understood(_Event):
    """The visitor asked for a procedure, a field or a command."""

    kind: str  # procedure | field | command
    target: str  # procedure key, field id or command key (take_ticket, guide, back, repeat, english …)
    label: str
    text: str
    score: float
    alternatives: list = field(default_factory=list)
    candidates: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NotUnderstood(_Event):
    """Nothing matched well enough; offer `candidates` (best first) as buttons."""

    text: str
    reason: str  # silence | no_match | too_long
    candidates: list = field(default_factory=list)
    alternatives: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    referral: dict | None = None  # the search's "where to go instead" for a need the centre does not serve


@dataclass(frozen=True)
class VoiceError(_Event):
    """Listening failed (microphone gone, model not ready…); `message` for the log and staff."""

    message: str
