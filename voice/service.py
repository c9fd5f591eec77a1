"""`VoiceService`: the kiosk UI's thread-safe entry point to speech recognition.

    service = VoiceService(cfg, conn_factory, on_event)   # on_event(event) from worker threads
    service.start_loading()      # returns at once; ModelLoading… then ModelReady / ModelFailed
    service.ready                # True once the model and grammar are ready: show the mic button
    service.press(); service.release()   # push-to-talk: Reset on press, FinalResult on release
    service.listen()             # or: automatic end of speech (webrtcvad + silence timeout)
    service.cancel()             # drop the current utterance (no result event)

Every call returns at once; work happens in threads and results arrive as events from
`voice.events` (`Listening(level)`, `Thinking`, `Understood`, `NotUnderstood`, `VoiceError`).
The UI must marshal them to its own thread (Kivy: `Clock.schedule_once`). When the model is
missing or broken, or there is no microphone, `ready` stays False, `reason` says why, and
the kiosk simply hides the microphone button.

The microphone is made by `mic_factory(cfg)` (default: `voice.audio.make_source`); tests pass
one returning a `WavSource` (FakeMic).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from voice.audio import AudioError, Endpointer, level, make_source
from voice.engines import languages, make_engine, make_loader
from voice.events import Listening as ListeningEvent
from voice.events import (
    ModelFailed,
    ModelReady,
    NotUnderstood,
    Partial,
    Thinking,
    Understood,
    VoiceError,
)

log = logging.getLogger(__name__)


class VoiceService:
    """Model loading, capture and recognition for the kiosk; see the module docstring."""

    PARTIAL_EVERY = 5  # frames (150 ms) between looks at the partial transcript

    def __init__(self, cfg, conn_factory: Callable, on_event: Callable, mic_factory: Callable | None = None,
                 loader=None):
        self.cfg = cfg
        self.conn_factory = conn_factory
        self.on_event = on_event
        self.mic_factory = mic_factory or make_source
        self.loader = loader or make_loader(cfg)
        self.engine = None
        self.languages = languages(cfg)  # what the engine understands: the kiosk offers voice in these only
        self.reason: str | None = None if cfg.voice.enabled else "voice is disabled in config.yaml (voice.enabled)"
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._cancelled = threading.Event()
        self._subscribed = False

    # -- model -------------------------------------------------------------------------------
    def start_loading(self) -> None:
        """Load the model (shared by the process) and build the grammar, in the background."""
        if not self.cfg.voice.enabled:
            self._emit(ModelFailed(str(self.loader.path), self.reason))
            return
        with self._lock:
            if self._subscribed:
                return
            self._subscribed = True
        self.loader.subscribe(self._on_model_event)
        self.loader.start()

    def _on_model_event(self, event) -> None:
        if isinstance(event, ModelReady):
            if self._ready.is_set():
                return  # already heard (a subscriber added as loading ends may hear it twice)
            try:
                engine = make_engine(self.cfg, self.conn_factory, self.loader)
                engine.refresh(force=True)
                engine.begin()  # creates the recogniser with the grammar now, not on first press
            except Exception as exc:  # a broken phrase file or database must not kill the kiosk
                log.exception("voice grammar could not be built")
                self.reason = f"voice grammar could not be built: {exc}"
                self._emit(ModelFailed(event.path, self.reason))
                return
            self.engine = engine
            self.reason = None
            self._ready.set()
            self._emit(event)
        elif isinstance(event, ModelFailed):
            self.reason = event.reason
            self._emit(event)
        else:
            self._emit(event)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    # -- utterances ------------------------------------------------------------------------------
    def press(self) -> bool:
        """Push-to-talk pressed: start listening until `release()` (or the maximum length)."""
        return self._start("ptt")

    def release(self) -> None:
        """Push-to-talk released: finish the utterance and answer."""
        self._stop.set()

    def listen(self) -> bool:
        """Listen until the visitor stops talking (or nobody speaks, or the maximum length)."""
        return self._start("auto")

    def cancel(self) -> None:
        """Drop the current utterance; no Understood/NotUnderstood follows."""
        self._cancelled.set()
        self._stop.set()

    @property
    def busy(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def join(self, timeout: float | None = None) -> None:
        w = self._worker
        if w is not None:
            w.join(timeout)

    def _start(self, mode: str) -> bool:
        with self._lock:
            if not self.ready:
                self._emit(VoiceError(self.reason or "the voice model is still loading"))
                return False
            if self.busy:
                return False
            self._stop.clear()
            self._cancelled.clear()
            self._worker = threading.Thread(target=self._run, args=(mode,), name=f"voice-{mode}", daemon=True)
            self._worker.start()
            return True

    def _run(self, mode: str) -> None:
        v = self.cfg.voice
        engine = self.engine
        try:
            source = self.mic_factory(self.cfg)
        except AudioError as exc:
            self.reason = str(exc)
            self._emit(VoiceError(str(exc)))
            return
        try:
            engine.begin()
            ep = Endpointer(v.sample_rate, v.end_silence_s, v.max_utterance_s)
            status = self._capture(source, engine, ep, mode)
            if self._cancelled.is_set():
                engine.cancel()
                return
            if mode == "auto" and not ep.heard_speech:
                engine.cancel()
                self._emit(NotUnderstood("", "silence"))
                return
            self._emit(Thinking(round(ep.elapsed_s, 2)))
            result = engine.finish()
        except Exception as exc:  # recover into a known state: the next press works again
            log.exception("voice recognition failed")
            try:
                engine.cancel()
            except Exception:
                pass
            self._emit(VoiceError(f"recognition failed: {exc}"))
            return
        if result.understood:
            self._emit(Understood(result.kind, result.target, result.label or "", result.text, round(result.score, 3),
                                  result.alternatives, result.candidates, result.timings))
        else:
            reason = "silence" if not result.text.strip() else ("too_long" if status == "max" else "no_match")
            self._emit(NotUnderstood(result.text, reason, result.candidates, result.alternatives, result.timings,
                                     getattr(result, "referral", None)))

    def _capture(self, source, engine, ep, mode: str) -> str:
        """Read the microphone into the engine until the end of the utterance; the endpointer's last status."""
        status, shown, n = "waiting", "", 0
        with source:
            while not self._stop.is_set():
                frame = source.read()
                if not frame:
                    break
                engine.accept(frame)
                status = ep.feed(frame)
                self._emit(ListeningEvent(round(level(frame), 3), ep.heard_speech))
                n += 1
                if n % self.PARTIAL_EVERY == 0:
                    text = engine.partial_text()
                    if text and text != shown:
                        shown = text
                        self._emit(Partial(text))
                if status == "max" or (mode == "auto" and status in ("end", "silence")):
                    break
        return status

    def _emit(self, event) -> None:
        try:
            self.on_event(event)
        except Exception:
            log.exception("voice event handler failed on %s", type(event).__name__)


#: The name the kiosk contract uses (docs/voice.md): the listener is the voice service.
Listener = VoiceService
