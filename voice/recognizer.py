"""Speech to procedure: the process's one Vosk model, the recogniser, grammar and snapping.

Public API (used by `voice.service`, the CLI and the benchmark):

- `inspect_model(path) -> ModelInfo`: checks the layout (am/, conf/, graph/ with HCLG.fst or
  HCLr.fst + Gr.fst) and says whether the model takes runtime grammars (lookahead models
  have HCLr.fst/Gr.fst) and which unknown-word token it uses. Raises `ModelError`.
- `shared_model(path) -> ModelLoader`: one loader (and one `vosk.Model`) per path per
  process. `loader.start()` loads in a background thread; `loader.subscribe(fn)` gets
  `ModelLoading(progress)`, `ModelReady(load_s)` or `ModelFailed(reason)`; `loader.wait()`.
- `VoiceEngine(cfg, conn_factory, loader)`: builds the grammar from the catalogue (rebuilt
  when `catalogue_meta.version` changes, applied only between utterances after `Reset()`:
  changing a Vosk grammar mid-utterance crashes it), and turns PCM into an `Interpretation`:
  `begin()`, `accept(pcm)`, `finish()`, or `recognize_pcm(pcm)` for a whole utterance.

An `Interpretation` is either understood (kind procedure/field/command, target key, the
snapped phrase, score) or not (then `candidates` holds the top phrases to offer as buttons),
with the recogniser's alternatives and timings in both cases.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from voice.events import ModelFailed, ModelLoading, ModelReady
from voice.grammar import (
    Grammar,
    PhraseBook,
    Snapper,
    build_grammar,
    catalogue_phrases,
    load_phrase_book,
    read_vocabulary,
)

log = logging.getLogger(__name__)

MAX_ALTERNATIVES = 10
_CHUNK = 8000  # bytes fed to Vosk at a time (0.25 s at 16 kHz)


class ModelError(Exception):
    """The voice model is missing, incomplete or could not be loaded."""


@dataclass(frozen=True)
class ModelInfo:
    """What a model directory holds."""

    path: Path
    lookahead: bool  # HCLr.fst + Gr.fst: the model accepts a grammar at run time
    unk: str | None  # the unknown-word token of its vocabulary ('<UNK>', '[unk]' …)
    size_mb: float


REQUIRED = ("am/final.mdl", "conf/model.conf")


def find_model_root(path: Path) -> Path:
    """The directory holding am/ (a zip often nests the model one level down)."""
    path = Path(path)
    if (path / "am").is_dir():
        return path
    if path.is_dir():
        subs = [p for p in path.iterdir() if p.is_dir() and (p / "am").is_dir()]
        if len(subs) == 1:
            return subs[0]
    return path


def inspect_model(path: Path) -> ModelInfo:
    """Check a Vosk model directory's layout; raise `ModelError` naming what is missing."""
    path = Path(path)
    if not path.exists():
        raise ModelError(
            f"no voice model at {path} — install one with `kiosk voice install-model FILE.zip` "
            "(for Vietnamese: vosk-model-small-vn-0.4)"
        )
    root = find_model_root(path)
    if not root.is_dir():
        raise ModelError(f"{path} is not a directory; a Vosk model is a folder with am/, conf/ and graph/")
    missing = [r for r in REQUIRED if not (root / r).is_file()]
    graph = root / "graph"
    has_hclg = (graph / "HCLG.fst").is_file() or (root / "HCLG.fst").is_file()
    has_lookahead = (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()
    if not (has_hclg or has_lookahead):
        missing.append("graph/HCLG.fst (or graph/HCLr.fst + graph/Gr.fst)")
    if missing:
        raise ModelError(f"{root} is not a complete Vosk model: missing {', '.join(missing)}")
    unk = None
    try:
        vocab = read_vocabulary(root)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{root}: cannot read the model's vocabulary: {exc}") from exc
    if vocab:
        for token in ("<UNK>", "[unk]", "<unk>"):
            if token in vocab:
                unk = token
                break
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
    return ModelInfo(root, has_lookahead and not has_hclg, unk, round(size, 1))


# -- one model per process ----------------------------------------------------------------------


class LoaderEvents:
    """A model loaded once in a background thread, and its subscribers (both engines' loaders).

    A subclass gives `THREAD_NAME` and `_build()` (which loads, or raises); `start()` runs it in
    the thread and `_load` turns its end into the state and the event subscribers hear."""

    THREAD_NAME = "voice-model-loader"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.state = "idle"  # idle | loading | ready | failed
        self.progress = 0.0
        self.error: str | None = None
        self.load_s: float | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._listeners: list[Callable] = []
        self._thread: threading.Thread | None = None

    def start(self):
        """Start loading in the background (once); returns at once."""
        with self._lock:
            if self._thread is not None:
                return self
            self.state = "loading"
            self._thread = threading.Thread(target=self._load, name=self.THREAD_NAME, daemon=True)
        self._thread.start()
        self._started()
        return self

    def _started(self) -> None:
        """Called once, after the loading thread started."""

    def _build(self) -> None:
        raise NotImplementedError

    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            self._build()
            self.load_s = time.perf_counter() - t0
            self.progress = 1.0
            self.state = "ready"
            log.info("voice model %s ready in %.1f s", self.path, self.load_s)
            self._done.set()
            self._emit(ModelReady(str(self.path), self.load_s))
        except Exception as exc:  # whatever goes wrong, voice is off and the kiosk carries on
            if not isinstance(exc, ModelError | OSError | ImportError):
                log.exception("voice model loading failed unexpectedly")
            self.error = str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
            self.state = "failed"
            log.warning("voice is off: %s", self.error)
            self._done.set()
            self._emit(ModelFailed(str(self.path), self.error))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loaded or failed; True when the model is ready."""
        self._done.wait(timeout)
        return self.state == "ready"

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def subscribe(self, fn: Callable) -> None:
        """Call `fn(event)` (from the loading thread) on progress, ready and failure.

        A subscriber added after the end hears the final event at once."""
        with self._lock:
            self._listeners.append(fn)
            state = self.state
        if state == "ready":
            fn(ModelReady(str(self.path), self.load_s or 0.0))
        elif state == "failed":
            fn(ModelFailed(str(self.path), self.error or "unknown error"))

    def unsubscribe(self, fn: Callable) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def _emit(self, event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn(event)
            except Exception:  # a broken listener must not stop the loading
                log.exception("voice model listener failed")


class ModelLoader(LoaderEvents):
    """Loads one Vosk model in a background thread and tells subscribers how it went."""

    THREAD_NAME = "vosk-model-loader"

    def __init__(self, path: Path):
        super().__init__(path)
        self.info: ModelInfo | None = None
        self.vocabulary: frozenset[str] | None = None
        self._model = None

    def _step(self, progress: float, stage: str) -> None:
        self.progress = progress
        self._emit(ModelLoading(str(self.path), progress, stage))

    def _build(self) -> None:
        self._step(0.05, "checking the model files")
        info = inspect_model(self.path)
        self.info = info
        self._step(0.15, "reading the vocabulary")
        self.vocabulary = read_vocabulary(info.path)
        self._step(0.3, "loading the acoustic model and graph")
        import vosk

        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(info.path))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise ModelError(f"Vosk could not load {info.path}: {exc}") from exc

    @property
    def model(self):
        if self.state != "ready":
            raise ModelError(self.error or f"the voice model is {self.state}, not ready")
        return self._model


_loaders: dict[Path, ModelLoader] = {}
_loaders_lock = threading.Lock()


def shared_model(path: Path) -> ModelLoader:
    """The process's loader for `path` (created once; call `.start()` to load)."""
    key = Path(path).resolve()
    with _loaders_lock:
        if key not in _loaders:
            _loaders[key] = ModelLoader(key)
        return _loaders[key]


# -- recognition ----------------------------------------------------------------------------------


@dataclass
class Transcript:
    """What Vosk heard: n-best alternatives [(text, log-likelihood)], best first."""

    alternatives: list[tuple[str, float]]
    audio_s: float
    decode_ms: float  # feeding audio (during speech, in a live kiosk)
    final_ms: float  # FinalResult(): from end of speech to the transcript

    @property
    def text(self) -> str:
        return self.alternatives[0][0] if self.alternatives else ""


class Recognizer:
    """A KaldiRecognizer with a grammar that can be swapped safely between utterances."""

    def __init__(self, model, sample_rate: int, grammar: Grammar | None, max_alternatives: int = MAX_ALTERNATIVES):
        self._model = model
        self.sample_rate = sample_rate
        self.max_alternatives = max_alternatives
        self.grammar = grammar
        self._lock = threading.RLock()
        self._rec = self._new(grammar)
        self._segments: list[str] = []
        self._bytes = 0
        self._decode_s = 0.0
        self.in_utterance = False

    def _new(self, grammar: Grammar | None):
        import vosk

        if grammar is not None:
            rec = vosk.KaldiRecognizer(self._model, self.sample_rate, grammar.to_json())
        else:
            rec = vosk.KaldiRecognizer(self._model, self.sample_rate)
        rec.SetMaxAlternatives(self.max_alternatives)
        return rec

    def set_grammar(self, grammar: Grammar | None) -> None:
        """Swap the grammar: Reset() first, never mid-utterance."""
        with self._lock:
            self._rec.Reset()
            self._segments, self._bytes, self._decode_s = [], 0, 0.0
            self.in_utterance = False
            if grammar is None or self.grammar is None:
                self._rec = self._new(grammar)
            else:
                self._rec.SetGrammar(grammar.to_json())
            self.grammar = grammar

    def reset(self) -> None:
        with self._lock:
            self._rec.Reset()
            self._segments, self._bytes, self._decode_s = [], 0, 0.0
            self.in_utterance = False

    def accept(self, pcm: bytes) -> None:
        with self._lock:
            self.in_utterance = True
            t0 = time.perf_counter()
            for i in range(0, len(pcm), _CHUNK):
                if self._rec.AcceptWaveform(pcm[i : i + _CHUNK]):
                    # Vosk found an endpoint inside the utterance: keep the segment's best text.
                    seg = _alternatives(self._rec.Result())
                    if seg and seg[0][0]:
                        self._segments.append(seg[0][0])
            self._decode_s += time.perf_counter() - t0
            self._bytes += len(pcm)

    def partial(self) -> str:
        """The words heard so far in this utterance (Vosk's PartialResult)."""
        with self._lock:
            try:
                text = json.loads(self._rec.PartialResult()).get("partial", "")
            except (ValueError, AttributeError):
                text = ""
            return " ".join(s for s in [*self._segments, text] if s)

    def final(self) -> Transcript:
        with self._lock:
            t0 = time.perf_counter()
            alts = _alternatives(self._rec.FinalResult())
            final_ms = (time.perf_counter() - t0) * 1000
            if self._segments:
                prefix = " ".join(self._segments)
                alts = [((prefix + " " + t).strip(), c) for t, c in alts] or [(prefix, 0.0)]
            tr = Transcript(alts or [("", 0.0)], self._bytes / (2 * self.sample_rate), self._decode_s * 1000, final_ms)
            self._segments, self._bytes, self._decode_s = [], 0, 0.0
            self.in_utterance = False
            return tr


def _alternatives(result_json: str) -> list[tuple[str, float]]:
    data = json.loads(result_json)
    if "alternatives" in data:
        return [(a.get("text", ""), float(a.get("confidence", 0.0))) for a in data["alternatives"]]
    return [(data.get("text", ""), 0.0)]


@dataclass
class Interpretation:
    """The answer to one utterance."""

    understood: bool
    kind: str | None  # procedure | field | command | None
    target: str | None  # procedure key, field id or command key
    text: str  # the recogniser's best transcript
    phrase: str | None  # the catalogue phrase it snapped to
    label: str | None  # what to show (the procedure's name)
    score: float
    via: str  # "grammar" (snapped), "free" (snapped after free decoding) or "search"
    alternatives: list[dict] = field(default_factory=list)  # [{text, confidence}]
    candidates: list[dict] = field(default_factory=list)  # top phrases [{text, kind, target, label, score}]
    timings: dict = field(default_factory=dict)  # audio_s, decode_ms, final_ms, snap_ms, end_to_answer_ms
    referral: dict | None = None  # not understood, but the search says where to go instead

    def to_dict(self) -> dict:
        return asdict(self)


class VoiceEngine:
    """Catalogue grammar + recogniser + snapping for one model (thread-safe).

    `conn_factory()` returns a new database connection; the engine closes it after reading the
    catalogue (when decoding freely, the search keeps one open for its index).
    """

    def __init__(self, cfg, conn_factory: Callable, loader: ModelLoader, lang: str | None = None,
                 use_grammar: bool | None = None, min_score: float | None = None):
        self.cfg = cfg
        self.conn_factory = conn_factory
        self.loader = loader
        self.lang = lang or cfg.voice.language
        self.use_grammar_setting = cfg.voice.use_grammar if use_grammar is None else use_grammar
        self.min_score = cfg.voice.snap_min_score if min_score is None else min_score
        self.book: PhraseBook = load_phrase_book(self.lang)
        self._lock = threading.RLock()
        self._version: str | None = None
        self._rec: Recognizer | None = None
        self.snapper: Snapper | None = None
        self.grammar: Grammar | None = None
        self.phrases = []
        self._pending_grammar = False
        self._searcher = None  # centre.search.Searcher, made on first use (free decoding only)

    # -- grammar ------------------------------------------------------------------------
    @property
    def uses_grammar(self) -> bool:
        info = self.loader.info
        return bool(self.use_grammar_setting and info is not None and info.lookahead)

    def _catalogue_version(self, conn) -> str:
        try:
            row = conn.execute("SELECT value FROM catalogue_meta WHERE key = 'version'").fetchone()
        except Exception:  # no catalogue tables yet
            return "none"
        counts = conn.execute("SELECT (SELECT count(*) FROM procedures), (SELECT count(*) FROM aliases)").fetchone()
        return f"{row[0] if row else 0}:{counts[0]}:{counts[1]}"

    def refresh(self, force: bool = False) -> bool:
        """Rebuild phrases and grammar if the catalogue changed; applied at the next `begin()`."""
        conn = self.conn_factory()
        try:
            version = self._catalogue_version(conn)
            if version == self._version and not force:
                return False
            try:
                phrases = catalogue_phrases(conn, self.lang, self.book)
            except Exception as exc:  # no catalogue tables yet: commands only
                log.warning("voice grammar without the catalogue: %s", exc)
                phrases = self.book.command_phrases()
        finally:
            conn.close()
        unk = self.loader.info.unk if self.loader.info else None
        grammar = build_grammar(phrases, self.loader.vocabulary, unk, self.book.extra_grammar)
        with self._lock:
            self.phrases = phrases
            self.grammar = grammar
            self.snapper = Snapper(phrases, self.book.fillers, unk)
            self._version = version
            self._pending_grammar = True
        if grammar.dropped_words:
            log.warning("voice grammar: %s", grammar.report())
        return True

    def _recognizer(self) -> Recognizer:
        if self._rec is None:
            self._rec = Recognizer(self.loader.model, self.cfg.voice.sample_rate,
                                   self.grammar if self.uses_grammar else None)
            self._pending_grammar = False
        return self._rec

    # -- one utterance ----------------------------------------------------------------------
    def begin(self) -> None:
        """Start an utterance: pick up catalogue changes, Reset() and (only now) swap the grammar."""
        self.refresh()
        with self._lock:
            rec = self._recognizer()
            if self._pending_grammar:
                rec.set_grammar(self.grammar if self.uses_grammar else None)
                self._pending_grammar = False
            else:
                rec.reset()

    def accept(self, pcm: bytes) -> None:
        with self._lock:
            self._recognizer().accept(pcm)

    def cancel(self) -> None:
        with self._lock:
            if self._rec is not None:
                self._rec.reset()

    def partial_text(self) -> str:
        """What has been heard so far (shown while the visitor speaks)."""
        with self._lock:
            return self._rec.partial() if self._rec is not None else ""

    def finish(self) -> Interpretation:
        """End of speech: the final transcript, snapped (and searched when decoding freely)."""
        t0 = time.perf_counter()
        with self._lock:
            tr = self._recognizer().final()
        return self.interpret(tr, t0)

    def recognize_pcm(self, pcm: bytes) -> Interpretation:
        """A whole utterance at once (files, tests, benchmark)."""
        self.begin()
        self.accept(pcm)
        return self.finish()

    # -- snapping --------------------------------------------------------------------------
    def interpret(self, tr: Transcript, t_end: float | None = None) -> Interpretation:
        t_end = t_end if t_end is not None else time.perf_counter()
        if self.snapper is None:
            self.refresh(force=True)
        t1 = time.perf_counter()
        snap = self.snapper.snap(tr.alternatives)
        snap_ms = (time.perf_counter() - t1) * 1000
        via = "grammar" if self.uses_grammar else "free"
        best = snap.best
        alts = [{"text": t, "confidence": round(c, 3)} for t, c in tr.alternatives]
        cands = [c.to_dict() for c in snap.candidates]
        timings = {"audio_s": round(tr.audio_s, 3), "decode_ms": round(tr.decode_ms, 1),
                   "final_ms": round(tr.final_ms, 1), "snap_ms": round(snap_ms, 2)}
        result = Interpretation(False, None, None, tr.text, None, None, best.score if best else 0.0, via,
                                alts, cands, timings)
        if best is not None and snap.text and best.score >= self.min_score:
            p = best.phrase
            result.understood, result.kind, result.target = True, p.kind, p.target
            result.phrase, result.label = p.text, p.label or p.text
        elif not self.uses_grammar and snap.text:
            self._search(result, snap.text)
        timings["end_to_answer_ms"] = round((time.perf_counter() - t_end) * 1000, 1)
        return result

    def _search(self, result: Interpretation, text: str) -> None:
        """Free decoding gave real words that snap to nothing: ask the catalogue search."""
        try:
            from centre.search import Searcher
        except ImportError:  # no search module: snapping alone decides
            return
        try:
            with self._lock:
                if self._searcher is None:
                    self._searcher = Searcher.from_config(self.conn_factory(), self.cfg)
                searcher = self._searcher
            res = searcher.search(text, limit=5)
        except Exception as exc:  # search is a help here, never a crash
            log.warning("voice → search failed: %s", exc)
            return
        if not res.hits:
            return
        # The search's hits become the suggestions; the top one is the answer only when it
        # clears the voice threshold too (a transcript is noisier than typed text).
        result.candidates = [{"text": h.matched_text, "kind": "procedure", "target": h.key, "label": h.name,
                              "score": round(float(h.score), 3)} for h in res.hits]
        top = res.hits[0]
        if float(top.score) >= self.min_score:
            result.understood, result.kind, result.target, result.via = True, "procedure", top.key, "search"
            result.phrase, result.label, result.score = top.matched_text, top.name, float(top.score)
