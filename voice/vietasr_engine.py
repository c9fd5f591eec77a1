"""The viet-asr engine: Vietnamese speech → procedure, with nothing to install by hand.

viet-asr (`pip install viet-asr==0.1.0.dev11`, import `vietasr`, Apache-2.0) carries a
streaming Conformer-CTC model inside its wheel. For transcripts this module uses **only its documented
public API** (the README of the wheel): `vietasr.__version__`, `Pipeline.preset("transcribe")`,
`Pipeline.stream(sample_rate)` → `Session` with `accept(pcm)`, `partial()`, `final()`,
`reset()`, and `Result.text`. `tests/test_voice_vietasr.py::test_public_api_we_rely_on`
fails loudly if any of that changes. The acoustic phrase scorer (`voice.acoustic`) reads the
model the wheel embeds through undocumented C symbols; it checks them at load and
`tests/test_voice_acoustic.py` fails loudly when they change; without them, transcripts alone decide.

- `VietAsrLoader`: loads the pipeline in a background thread, with the same interface as
  `voice.recognizer.ModelLoader` (`start`, `wait`, `subscribe`, `state`, `error`, `load_s`).
  `shared_vietasr()` gives the process's one loader.
- `VietAsrEngine(cfg, conn_factory, loader)`: `begin()`, `accept(pcm)`, `partial_text()`,
  `finish() -> Interpretation`, `cancel()`, `recognize_pcm(pcm)`, like `VoiceEngine`.

How a transcript becomes an answer (`interpret`):

1. The audio is decoded by three streaming sessions at once: the real sample rate and two
   *declared* rates a little off (14.5 and 17.5 kHz: the model hears the same speech a
   little lower/slower and higher/faster). Their transcripts differ where the speech is
   unclear; they are the n-best list the public API does not give. The first is the
   transcript shown to the visitor.
2. The catalogue search (`centre.search.Searcher`, the same as typing) reads the main
   transcript: a clear request is answered as if typed.
3. Closed-set rescoring (`voice.closedset`): every catalogue phrase (names, aliases, field
   names, commands) and the background phrases of `voice/phrases/vi.yaml` are scored by
   sound against the three transcripts.
4. Acoustic phrase scoring (`voice.acoustic`, when viet-asr's embedded model can be read):
   the same audio at three warps runs through the model itself, and every catalogue phrase
   of three tokens or more is scored against the posteriors (what was heard, not what was
   written), while the visitor speaks.
5. Domain-LM transcript (`voice.lm`, round 5): the main warp's posteriors decoded with a
   prefix beam search over the catalogue's words weighted by a domain trigram, searched too.
6. Decision (`decide`): the search's answer when the sessions agree (clear speech) or the
   closed set backs it (its target among the closed set's first three), and the closed set
   does not contradict it strongly; otherwise the acoustic scorer's best target when it is
   sure (cost per token and lead over the next target); otherwise the closed set's best
   target when it is sure enough (score and lead over the next target; only without the
   acoustic scorer); otherwise the LM transcript's search answer when it is the acoustic
   scorer's cheapest procedure and the LM's path fits the sounds; otherwise "not understood". A background phrase winning, or only
   filler words, is "not understood". Silence (no words in any transcript) is "not
   understood" with reason silence.
7. Confidence (round 6, `voice.confidence`; off as shipped, CONFIDENCE_ENABLED): when the sessions disagree, a small logistic
   model weighs the evidence for a procedure (acoustic cost, lead and margin, how many warps
   agree, the search's and the closed set's view); an answer of the rules it gives less than
   CONFIDENCE_KEEP is withdrawn. Answering where the rules refused (CONFIDENCE_ADD) is off
   (None): it did not win.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from voice import confidence
from voice.acoustic import WARPS, AcousticRanking, AcousticScorer, AcousticStream
from voice.closedset import ClosedSet, Ranking, syllables
from voice.events import ModelLoading
from voice.grammar import Phrase, catalogue_phrases, load_phrase_book
from voice.recognizer import Interpretation, LoaderEvents, ModelError

log = logging.getLogger(__name__)

ENGINE_NAME = "viet-asr"
PINNED_VERSION = "0.1.0.dev11"
PRESET = "transcribe"
#: longest wait at process exit for a pipeline still loading (it loads in about a second)
EXIT_WAIT_S = 15.0
#: Declared sample-rate factors of the extra sessions (1.0 = the main transcript).
RATE_FACTORS = (1.0, 0.90625, 1.09375)
#: Closed-set thresholds (chosen on the espeak-ng dev voices; docs/voice.md).
CLOSED_MIN = 0.5
CLOSED_LEAD = 0.05
SHORT_EXTRA = 0.15
SEARCH_OVERRIDE = 0.75
TRUST_AGREEMENT = 0.75  # sessions agreeing this much: the transcript is clear, the search alone decides
CORROBORATE = 3
#: Clear speech (the sessions agree): a search answer whose procedure the closed set does not
#: rank at all (none of its phrases sounds like what was said) needs at least this search score.
#: Human everyday sentences ("nuôi con theo phong cách Do Thái …", "bạn cầm khúc cây và ném vào
#: bãi cỏ xanh …") were answered by the search on their topic (scores 0.44, 0.31); round 10.
CLEAR_SEARCH_MIN = 0.5
#: Acoustic phrase scoring (voice.acoustic): the cheapest procedure is taken when its cost is
#: at most ACOUSTIC_MAX_COST, the next procedure costs ACOUSTIC_LEAD more, and no field,
#: command or background phrase costs ACOUSTIC_OTHER_MARGIN less (tuned on the espeak-ng
#: requests of tests/data/voice/requests-vi.yaml, chosen on requests-vi-dev.yaml; costs are
#: per token ** 1.25, so about 0.67 × the per-token figures of round 2; docs/voice.md).
ACOUSTIC_MAX_COST = 4.0
ACOUSTIC_LEAD = 0.67
ACOUSTIC_OTHER_MARGIN = 0.33
#: Domain-LM transcript (voice.lm, round 5): the main warp's posteriors decoded with a prefix
#: beam search over the catalogue's words and a trigram of how citizens put them together; its
#: search answer is taken, where nothing else answered and the sessions disagree, only when it
#: is the acoustic scorer's cheapest procedure (unsure as that was) and the LM's path fits the
#: sounds within LM_MAX_GAP per token of the free best path (tuned on the train set, chosen on
#: dev and the old blind set; docs/voice.md round 5). Off: on the newer dev set of everyday
#: requests (requests-vi-dev2.yaml, untuned) its answers were wrong more often than right
#: (5 right, 7 wrong of 210 requests), and a wrong procedure is worse than "not understood".
#: `VietAsrEngine(use_lm=True)` (bench: --lm) turns it on.
LM_ENABLED = False
LM_MAX_GAP = 2.5
#: Unclear speech (the sessions disagree), round 6: the confidence model (voice.confidence)
#: checks the rules' answer, kept when at least CONFIDENCE_KEEP (chosen on the old blind set's
#: totals: wrong 14 -> 12 of 213, right unchanged). It could answer where they refused, taking its
#: most probable candidate when at least CONFIDENCE_ADD; that is off (None, the model is not even
#: asked): the answers it added were as often wrong as right on the old blind set (0.8: +0
#: right, +1 wrong). The check ships OFF: on the second choosing set
#: (requests-vi-blind2.yaml, aggregates) it withdrew 2 right answers for 1 wrong one (56 / 18 ->
#: 54 / 17 of 354), which the round's rule (fewer wrong without fewer right) does not allow;
#: `VietAsrEngine(use_confidence=True)`, `decide(confident=True)` turn it on; docs/voice.md round 6.
CONFIDENCE_ENABLED = False
CONFIDENCE_KEEP = 0.4
CONFIDENCE_ADD: float | None = None
WARM_UP = "đăng ký khai sinh"
#: At the end of speech, wait at most this long (from the end of speech) for the search of
#: the final words; usually it ran while the visitor spoke. Past it, the closed set decides.
SEARCH_BUDGET_S = 0.35  # a closed-set score this high wins over a disagreeing search hit


#: What viet-asr's native library prints to file descriptor 2 while it loads ("[vietasr][INFO]
#: [vietasr] vocab loaded: 4972 tokens", "... engine loaded (onnx) ..."): progress, not news.
NATIVE_NOISE = re.compile(rb"^\[vietasr\]\[(INFO|DEBUG)\]")
_quiet_lock = threading.Lock()


def _forward(read_fd: int, out_fd: int) -> None:
    """Pass what arrives on `read_fd` to `out_fd` line by line, without the library's noise;
    close both at the end of input."""
    pending = b""
    try:
        while chunk := os.read(read_fd, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not NATIVE_NOISE.match(line))
            if kept:
                os.write(out_fd, kept)
        if pending and not NATIVE_NOISE.match(pending):
            os.write(out_fd, pending)
    except OSError:
        pass
    finally:
        os.close(read_fd)
        os.close(out_fd)


@contextlib.contextmanager
def quiet_native_load():
    """While viet-asr's native library loads: file descriptor 2 goes through a pipe that drops
    the library's INFO/DEBUG lines (`NATIVE_NOISE`) and passes on everything else as it comes
    (the library's warnings and errors, other threads' messages); fd 2 is restored afterwards.
    Our own failures are reported after, by our own messages (`VietAsrLoader.error`, the log)."""
    with _quiet_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no fd 2 at all: nothing to keep clean
            yield
            return
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        forward = threading.Thread(target=_forward, args=(read_fd, os.dup(saved)), name="vietasr-stderr",
                                   daemon=True)
        forward.start()
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)  # the pipe's last writer gone: the forwarder drains it and ends
            os.close(saved)
            forward.join(2.0)  # a child started meanwhile keeps the pipe: the forwarder goes on for it


def vietasr_version() -> str | None:
    """The installed viet-asr version, or None when it is not installed."""
    try:
        import vietasr
    except (ImportError, OSError):
        return None
    return getattr(vietasr, "__version__", "unknown")


class VietAsrLoader(LoaderEvents):
    """Loads the viet-asr pipeline once, in the background (the `ModelLoader` interface)."""

    THREAD_NAME = "vietasr-loader"

    def __init__(self, preset: str = PRESET):
        super().__init__(Path(f"vietasr:{preset}"))
        self.preset = preset
        self.info = None  # a Vosk ModelInfo for the Vosk loader; nothing to inspect here
        self.vocabulary = None
        self.acoustic = None  # voice.acoustic.EmbeddedModel, or None (acoustic_error says why)
        self.acoustic_error: str | None = None
        self.version: str | None = None
        self._pipeline = None

    def _started(self) -> None:
        # A process that ends while the native library is still building its pipeline crashed with
        # SIGSEGV at interpreter shutdown (a kiosk stopped in its first second): let the load finish.
        atexit.register(self._thread.join, EXIT_WAIT_S)

    def _build(self) -> None:
        """The pipeline and the acoustic scorer's model (ModelError when the pipeline fails)."""
        self._emit(ModelLoading(str(self.path), 0.1, "loading viet-asr"))
        with quiet_native_load():  # the native library's progress lines stay off the terminal
            self._build_pipeline()

    def _build_pipeline(self) -> None:
        try:
            import vietasr
        except (ImportError, OSError) as exc:
            raise ModelError(f"viet-asr is not installed ({exc}): run `make setup` "
                             f"(pip install viet-asr=={PINNED_VERSION})") from exc
        self.version = getattr(vietasr, "__version__", "unknown")
        try:
            self._pipeline = vietasr.Pipeline.preset(self.preset)
        except Exception as exc:
            raise ModelError(f"viet-asr {self.version} could not build the {self.preset!r} pipeline: {exc}") from exc
        self._emit(ModelLoading(str(self.path), 0.6, "loading the acoustic scorer"))
        self._load_acoustic()

    def _load_acoustic(self) -> None:
        """The phrase scorer's model (voice.acoustic); without it, transcripts alone decide."""
        from voice.acoustic import AcousticModelError, EmbeddedModel

        try:
            self.acoustic = EmbeddedModel.load()
        except Exception as exc:  # an alpha's internals: any failure leaves voice working on transcripts
            if not isinstance(exc, AcousticModelError):
                exc = AcousticModelError(f"{type(exc).__name__}: {exc}")
            self.acoustic_error = str(exc)
            log.warning("voice: acoustic phrase scoring is off (%s); transcripts alone decide", exc)

    @property
    def model(self):
        if self.state != "ready":
            raise ModelError(self.error or f"viet-asr is {self.state}, not ready")
        return self._pipeline


_shared: VietAsrLoader | None = None
_shared_lock = threading.Lock()


def shared_vietasr() -> VietAsrLoader:
    """The process's one viet-asr loader (call `.start()` to load)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = VietAsrLoader()
        return _shared


def background_phrases(book) -> list[Phrase]:
    """The phrase book's background words as phrases that answer nothing."""
    return [Phrase(b, "background", f"background:{b}", b) for b in book.background]


class VietAsrEngine:
    """Three streaming sessions + catalogue search + closed-set rescoring (thread-safe)."""

    name = ENGINE_NAME

    def __init__(self, cfg, conn_factory: Callable, loader: VietAsrLoader, lang: str | None = None,
                 min_score: float | None = None, rate_factors=RATE_FACTORS, use_lm: bool | None = None,
                 use_confidence: bool | None = None):
        self.cfg = cfg
        self.conn_factory = conn_factory
        self.loader = loader
        self.lang = lang or "vi"
        self.min_score = CLOSED_MIN if min_score is None else min_score
        self.rate_factors = tuple(rate_factors)
        self.use_lm = LM_ENABLED if use_lm is None else use_lm
        self.use_confidence = CONFIDENCE_ENABLED if use_confidence is None else use_confidence
        self.book = load_phrase_book(self.lang)
        self.phrases: list[Phrase] = []
        self.closed: ClosedSet | None = None
        self.grammar = None  # no grammar with this engine (kept for the CLI's report)
        self.uses_grammar = False
        self._lock = threading.RLock()
        self._sessions: list | None = None
        self._version: str | None = None
        self._searcher = None
        # One thread runs every search (its SQLite connection stays in that thread); while the
        # visitor speaks, the words heard so far are searched ahead, so that at the end of speech
        # the answer is usually ready (the search takes 0.2-0.6 s on a busy 2-core machine).
        self._search_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voice-search")
        self._ahead: dict[str, tuple[str, Future]] = {}  # slot ("main", "lm") → (text, its search)
        self._audio_bytes = 0
        self._decode_s = 0.0
        self.acoustic: AcousticScorer | None = None
        self.lm = None  # voice.lm.DomainLM (with the acoustic model), built with the catalogue's phrases
        self._streams: list[AcousticStream] | None = None

    # -- catalogue ----------------------------------------------------------------------
    def _catalogue_version(self, conn) -> str:
        try:
            row = conn.execute("SELECT value FROM catalogue_meta WHERE key = 'version'").fetchone()
            n = conn.execute("SELECT count(*) FROM procedures").fetchone()[0]
        except Exception:
            return "none"
        return f"{row[0] if row else 0}:{n}"

    def refresh(self, force: bool = False) -> bool:
        """Rebuild the closed set when the catalogue changed."""
        conn = self.conn_factory()
        try:
            version = self._catalogue_version(conn)
            if version == self._version and not force:
                return False
            try:
                phrases = catalogue_phrases(conn, self.lang, self.book)
            except Exception as exc:
                log.warning("voice phrases without the catalogue: %s", exc)
                phrases = self.book.command_phrases()
        finally:
            conn.close()
        closed = ClosedSet(phrases + background_phrases(self.book), self.book.fillers)
        acoustic = self._acoustic_scorer(phrases)
        lm = self._domain_lm() if acoustic is not None else None
        with self._lock:
            self.phrases, self.closed, self._version = phrases, closed, version
            self.acoustic, self.lm = acoustic, lm
        if self._searcher is None:
            self.search_async(WARM_UP)  # load the search's index (and its models) before the first visitor
        return True

    def _acoustic_scorer(self, phrases: list[Phrase]) -> AcousticScorer | None:
        if self.loader.acoustic is None:
            return None
        return AcousticScorer(self.loader.acoustic, phrases + background_phrases(self.book), self.book.fillers)

    def _domain_lm(self):
        """The domain LM and its decoder (voice.lm; about a second), or None when off or failing."""
        if not self.use_lm:
            return None
        from voice.lm import DomainLM

        conn = self.conn_factory()
        try:
            return DomainLM.build(conn, self.loader.acoustic.groups)
        except Exception as exc:  # a help, never a crash: the engine answers without it
            log.warning("voice: no domain-LM transcript (%s)", exc)
            return None
        finally:
            conn.close()

    def search_async(self, text: str, slot: str = "main") -> Future:
        """The search of `text` in the search thread; the same future when already asked (latest
        wins within a slot: the main transcript's and the LM transcript's searches are kept apart)."""
        with self._lock:
            ahead = self._ahead.get(slot)
            if ahead is not None and ahead[0] == text:
                return ahead[1]
            if ahead is not None:
                ahead[1].cancel()  # not started yet: a newer text replaces it
            fut = self._search_pool.submit(self._search, text)
            self._ahead[slot] = (text, fut)
            return fut

    def _search(self, text: str):
        try:
            from centre.search import Searcher
        except ImportError:
            return None
        try:
            with self._lock:
                if self._searcher is None:
                    self._searcher = Searcher.from_config(self.conn_factory(), self.cfg)
                searcher = self._searcher
            return searcher.search(text, limit=5)
        except Exception as exc:  # the search is a help here, never a crash
            log.warning("voice → search failed: %s", exc)
            return None

    # -- one utterance ----------------------------------------------------------------------
    def _ensure_sessions(self) -> list:
        if self._sessions is None:
            pipe = self.loader.model
            rate = self.cfg.voice.sample_rate
            self._sessions = [pipe.stream(sample_rate=float(rate * f)) for f in self.rate_factors]
        if self._streams is None and self.loader.acoustic is not None:
            self._streams = [AcousticStream(self.loader.acoustic, w) for w in WARPS]  # WARPS[0] is 1.0
        return self._sessions

    def begin(self) -> None:
        self.refresh()
        with self._lock:
            sessions = self._ensure_sessions()
            for s in sessions:
                s.reset()
            for i, a in enumerate(self._streams or []):
                a.use(self.acoustic, self.lm.decoder if self.lm is not None and i == 0 else None)
                a.reset()
            self._audio_bytes, self._decode_s = 0, 0.0

    def accept(self, pcm: bytes) -> None:
        with self._lock:
            t0 = time.perf_counter()
            for s in self._ensure_sessions():
                s.accept(pcm)
            for a in self._streams or []:
                a.accept(pcm)
            self._decode_s += time.perf_counter() - t0
            self._audio_bytes += len(pcm)

    def partial_text(self) -> str:
        """What the main session has heard so far (for the screen while the visitor speaks)."""
        with self._lock:
            if not self._sessions:
                return ""
            text = self._sessions[0].partial().text
        if text.strip():
            self.search_async(text.strip())
        # The LM transcript is not searched ahead: sharing the search thread delayed the main
        # transcript's search (A/B, round 5: p50 +114 ms); it is searched at the end, only when needed.
        return text

    def cancel(self) -> None:
        with self._lock:
            for s in self._sessions or []:
                s.reset()
            for a in self._streams or []:
                a.reset()

    def finish(self, search_budget_s: float | None = SEARCH_BUDGET_S) -> Interpretation:
        """End of speech: the answer. `search_budget_s`: how long (from now) the search of the
        final words may still take; None waits for it (files, tests)."""
        t0 = time.perf_counter()
        with self._lock:
            sessions = self._ensure_sessions()
            # Only the main session is flushed (final() decodes the last, incomplete chunk:
            # ~100 ms each); the others' partial text is the same once the speech has been
            # followed by a little silence (measured: 36/36 espeak clips with 0.3 s of tail),
            # and costs nothing.
            hyps = [sessions[0].final().text.strip()] + [s.partial().text.strip() for s in sessions[1:]]
            streams = self._streams or []
            for a in streams:
                a.finish()
            final_ms = (time.perf_counter() - t0) * 1000
            audio_s = self._audio_bytes / (2 * self.cfg.voice.sample_rate)
            decode_ms = self._decode_s * 1000
            for s in self._sessions:
                s.reset()
            scorer = self.acoustic
            decoded = streams[0].decoded() if streams and self.lm is not None else None
            lm_text = self.lm.text(decoded) if decoded is not None else ""
        ranking = scorer.rank_streams(streams) if scorer is not None and streams else None
        result = self.interpret(hyps, t0, search_budget_s, ranking, (lm_text, decoded) if lm_text else None)
        if ranking is not None and ranking.best is not None:
            result.timings.update({"acoustic_cost": _finite(ranking.best[0]), "acoustic_lead": _finite(ranking.lead()),
                                   "acoustic_target": ranking.best[1].target})
        result.timings.update({"audio_s": round(audio_s, 3), "decode_ms": round(decode_ms, 1),
                               "final_ms": round(final_ms, 1)})
        return result

    def recognize_pcm(self, pcm: bytes) -> Interpretation:
        """A whole recording at once (files, tests): waits for the search however long it takes."""
        self.begin()
        self.accept(pcm)
        return self.finish(search_budget_s=None)

    # -- understanding ------------------------------------------------------------------------
    def interpret(self, hypotheses: list[str], t_end: float | None = None,
                  search_budget_s: float | None = None, heard: AcousticRanking | None = None,
                  lm: tuple | None = None) -> Interpretation:
        """`lm`: (the domain-LM transcript, its `voice.lm.Decoded`), or None."""
        t_end = t_end if t_end is not None else time.perf_counter()
        if self.closed is None:
            self.refresh(force=True)
        text = hypotheses[0] if hypotheses else ""
        alts = [{"text": h, "confidence": 0.0} for h in hypotheses]
        result = Interpretation(False, None, None, text, None, None, 0.0, "none", alts, [], {})
        if not any(h for h in hypotheses):
            result.timings["end_to_answer_ms"] = round((time.perf_counter() - t_end) * 1000, 1)
            return result
        t1 = time.perf_counter()
        search = None
        if text:
            fut = self.search_async(text)
            try:
                wait = None if search_budget_s is None else max(0.0, search_budget_s - (time.perf_counter() - t_end))
                search = fut.result(timeout=wait)
            except FutureTimeout:  # a busy machine: answer by sound alone rather than keep the visitor waiting
                result.timings["search_late"] = True
        ranking = self.closed.score([h for h in hypotheses if h])
        agree = agreement(hypotheses)
        decide(result, search, ranking, self.min_score, agree, heard, confident=self.use_confidence)
        if not result.understood and lm is not None and agree < TRUST_AGREEMENT and lm[1].gap <= LM_MAX_GAP:
            # only now is the LM transcript's search waited for (it usually ran while the visitor spoke)
            hint = self._lm_hint(lm, t_end, search_budget_s, result)
            if lm_choice(hint, heard, agree) is not None:
                result.referral = None
                decide(result, search, ranking, self.min_score, agree, heard, hint, confident=self.use_confidence)
        if lm is not None:
            result.timings.update({"lm_text": lm[0], "lm_gap": _finite(lm[1].gap)})
        result.timings["agreement"] = round(agree, 3)
        result.timings["match_ms"] = round((time.perf_counter() - t1) * 1000, 1)
        result.timings["end_to_answer_ms"] = round((time.perf_counter() - t_end) * 1000, 1)
        return result

    def _lm_hint(self, lm: tuple, t_end: float, search_budget_s: float | None,
                 result: Interpretation) -> LmHint | None:
        """The LM transcript's search answer (within what is left of the search budget)."""
        text, decoded = lm
        fut = self.search_async(text, "lm")
        try:
            wait = None if search_budget_s is None else max(0.0, search_budget_s - (time.perf_counter() - t_end))
            search = fut.result(timeout=wait)
        except FutureTimeout:
            result.timings["lm_search_late"] = True
            return None
        return LmHint(text, decoded.gap, _search_top(search))


class LmHint:
    """The domain-LM transcript, how well its path fits the sounds, and its search's top hit."""

    def __init__(self, text: str, gap: float, hit):
        self.text, self.gap, self.hit = text, gap, hit


def _finite(value: float) -> float | None:
    """A figure for JSON: rounded, or None when it is infinite (a lone target has no lead)."""
    return round(value, 3) if math.isfinite(value) else None


def _search_top(search, min_score: float = 0.0):
    if search is None or not getattr(search, "hits", None):
        return None
    top = search.hits[0]
    return top if float(top.score) >= min_score else None


def _required(best, min_score: float) -> float:
    """A two-syllable phrase ("tiếng anh", "tòa án") is matched by chance far more often than a
    long one: it needs SHORT_EXTRA more."""
    return min_score + (SHORT_EXTRA if len(syllables(best.phrase.text)) <= 2 else 0.0)


def agreement(hypotheses: list[str]) -> float:
    """How much the sessions' transcripts agree, 0..1 (word-level similarity of the main one
    with the others): clear speech decodes alike at every rate, unclear speech does not."""
    main = syllables(hypotheses[0]) if hypotheses else []
    others = [syllables(h) for h in hypotheses[1:]]
    if not main or not others:
        return 1.0 if main else 0.0
    return sum(Levenshtein.normalized_similarity(main, o) for o in others) / len(others)


def acoustic_choice(heard: AcousticRanking | None) -> tuple[float, Phrase] | None:
    """The procedure the acoustic scorer is sure of, or None: the cheapest procedure, cheap
    enough, clearly ahead of the next procedure, and no field, command or background phrase
    clearly cheaper. Commands and fields are left to the transcript (round 2: the acoustic
    answers that were commands or fields were all wrong); but a field or command that merely
    fits a little better ("Nuôi con nuôi" the field, "đăng ký nuôi con nuôi" the procedure)
    no longer silences the procedure (round 3, dev set: right 0.393 -> 0.458, wrong 0.030 -> 0.036)."""
    procedures = heard.procedures() if heard is not None else []
    if not procedures:
        return None
    cost, phrase = procedures[0]
    runner_up = procedures[1][0] if len(procedures) > 1 else math.inf
    if cost > ACOUSTIC_MAX_COST or runner_up - cost < ACOUSTIC_LEAD:
        return None
    if cost - heard.best_other() > ACOUSTIC_OTHER_MARGIN:
        return None
    return cost, phrase


def _answer(result: Interpretation, phrase: Phrase, score: float, via: str) -> Interpretation:
    result.understood, result.kind, result.target, result.via = True, phrase.kind, phrase.target, via
    result.phrase, result.label, result.score = phrase.text, phrase.label or phrase.text, round(score, 3)
    return result


def lm_choice(lm: LmHint | None, heard: AcousticRanking | None, agree: float) -> str | None:
    """The procedure of the LM transcript's search answer when it may be taken: the speech was
    unclear (the transcript is not trusted alone), the answer is the acoustic scorer's
    cheapest procedure, and the LM's path fits the sounds (round 5)."""
    if lm is None or lm.hit is None or agree >= TRUST_AGREEMENT or lm.gap > LM_MAX_GAP:
        return None
    procedures = heard.procedures() if heard is not None else []
    if not procedures or procedures[0][1].target != lm.hit.key:
        return None
    return lm.hit.key


def decide(result: Interpretation, search, ranking: Ranking, min_score: float = CLOSED_MIN,
           agree: float = 1.0, heard: AcousticRanking | None = None, lm: LmHint | None = None,
           confident: bool | None = None) -> Interpretation:
    """Fill `result` from the search's answer and the closed-set ranking (see the module docstring).

    `agree`: the sessions' agreement. When they disagree (< TRUST_AGREEMENT) the transcript
    is unreliable, and the search's answer counts only if the closed set also ranks its
    target among its first CORROBORATE targets. Then (round 6, with the acoustic scorer, unless
    `confident` is False or CONFIDENCE_ENABLED off) the confidence model checks the answer
    of unclear speech, or finds one where the rules refused (`_confidence_check`)."""
    _decide_rules(result, search, ranking, min_score, agree, heard, lm)
    if heard is not None and agree < TRUST_AGREEMENT and (CONFIDENCE_ENABLED if confident is None else confident):
        _confidence_check(result, search, ranking, agree, heard)
    return result


def _decide_rules(result: Interpretation, search, ranking: Ranking, min_score: float, agree: float,
                  heard: AcousticRanking | None, lm: LmHint | None) -> Interpretation:
    """Round 5's decision (the search, the acoustic scorer's sure answer, the LM transcript, the
    closed set; see the module docstring)."""
    best, second = ranking.best, ranking.runner_up()
    hit = _search_top(search)
    if hit is not None and agree < TRUST_AGREEMENT:
        top = {s.phrase.target for s in ranking.ranked[:CORROBORATE]}
        if hit.key not in top:
            hit = None
    elif hit is not None and float(hit.score) < CLEAR_SEARCH_MIN and hit.key not in {s.phrase.target for s in ranking.ranked}:
        hit = None  # clear everyday speech that merely touches a procedure's topic (round 10)
    result.candidates = [s.to_dict() for s in ranking.ranked if s.phrase.kind != "background"]
    if hit is not None:
        result.candidates = [{"text": h.matched_text, "kind": "procedure", "target": h.key, "label": h.name,
                              "score": round(float(h.score), 3)} for h in search.hits] + result.candidates
    closed_sure = (best is not None and best.phrase.kind != "background" and best.score >= _required(best, min_score)
                   and (second is None or best.score - second.score >= CLOSED_LEAD))
    if hit is not None and not (closed_sure and best.phrase.target != hit.key and best.score >= SEARCH_OVERRIDE):
        if best is not None and best.phrase.kind == "background" and best.score >= SEARCH_OVERRIDE:
            return _referral(result, search)
        result.understood, result.kind, result.target, result.via = True, "procedure", hit.key, "search"
        result.phrase, result.label, result.score = hit.matched_text, hit.name, round(float(hit.score), 3)
        return result
    chosen = acoustic_choice(heard)
    if chosen is not None:
        cost, phrase = chosen
        return _answer(result, phrase, max(0.0, 1.0 - cost / (2 * ACOUSTIC_MAX_COST)), "acoustic")
    if lm_choice(lm, heard, agree) is not None:
        result.understood, result.kind, result.target, result.via = True, "procedure", lm.hit.key, "lm"
        result.phrase, result.label, result.score = lm.text, lm.hit.name, round(float(lm.hit.score), 3)
        return result
    # The closed set over transcripts answers alone only when there is no acoustic scorer: with
    # one, its lone answers were right 1 time in 4 on the espeak-ng set (the acoustic scorer
    # had already taken the ones it could tell).
    if closed_sure and heard is None:
        return _answer(result, best.phrase, best.score, "closed-set")
    # Commands are left to the transcript: one the closed set surely matches to a command is
    # that command when the speech was clear (the sessions agree), the sounds agree (the
    # acoustic scorer's cheapest target of all is the same command) or the main transcript is
    # the command's phrase word for word. Round 12: with the
    # acoustic scorer on, "chỉ đường" heard word for word was "not understood": no command
    # could be said to the shipped engine.
    if closed_sure and best.phrase.kind == "command" and (
            agree >= TRUST_AGREEMENT or _sounds_like(heard, best) or _said_as_is(result.text, best)):
        return _answer(result, best.phrase, best.score, "closed-set")
    result.score = round(best.score, 3) if best else 0.0
    return _referral(result, search)


def _sounds_like(heard: AcousticRanking | None, best) -> bool:
    """Whether the acoustic scorer's cheapest target of all is `best`'s (a closed-set match)."""
    top = heard.best if heard is not None else None
    return top is not None and top[1].kind == best.phrase.kind and top[1].target == best.phrase.target


def _said_as_is(text: str, best) -> bool:
    """Whether the main transcript is `best`'s phrase word for word (case aside)."""
    return syllables(text or "") == syllables(best.phrase.text)


def _confidence_check(result: Interpretation, search, ranking: Ranking, agree: float,
                      heard: AcousticRanking) -> Interpretation:
    """Unclear speech (the sessions disagree), round 6: an answer the rules gave stands only if
    the confidence model (voice.confidence) gives it at least CONFIDENCE_KEEP; where they
    refused, the candidate the model finds most probably right — among the acoustic scorer's
    cheapest procedures and the search's first hits — is taken when at least CONFIDENCE_ADD
    (None: off, the rules' refusal stands). A background phrase the closed set clearly prefers
    stays "not understood"."""
    if result.understood:
        if result.kind != "procedure":
            return result
        p = confidence.confidence(confidence.features(result.target, heard, search, ranking, agree))
        result.timings["confidence"] = round(p, 3)
        if p >= CONFIDENCE_KEEP:
            return result
        result.understood, result.kind, result.target, result.via = False, None, None, "none"
        result.phrase, result.label = None, None
        return _referral(result, search)
    best = ranking.best
    if CONFIDENCE_ADD is None or (best is not None and best.phrase.kind == "background"
                                  and best.score >= SEARCH_OVERRIDE):
        return result
    chosen = confidence.choose(heard, search, ranking, agree)
    if chosen is None:
        return result
    p, target = chosen
    result.timings["confidence"] = round(p, 3)
    if p < CONFIDENCE_ADD:
        return result
    result.referral = None
    phrase = next((ph for _, ph in heard.procedures() if ph.target == target), None)
    hit = next((h for h in (getattr(search, "hits", None) or []) if h.key == target), None)
    if hit is not None and (phrase is None or hit is search.hits[0]):
        result.understood, result.kind, result.target, result.via = True, "procedure", hit.key, "search"
        result.phrase, result.label, result.score = hit.matched_text, hit.name, round(p, 3)
        return result
    return _answer(result, phrase, p, "acoustic")


def _referral(result: Interpretation, search) -> Interpretation:
    """Not understood; keep the search's referral (where to go instead) when it offers one."""
    referral = getattr(search, "referral", None) if search is not None else None
    if referral:
        result.referral = referral.to_dict() if hasattr(referral, "to_dict") else referral
    return result
