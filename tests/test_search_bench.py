"""bench/search.py: one switch of the speed paths for --identical, --before and --ab; the earlier
rounds' policies live in the bench, not in the product (issue 12, speed review findings)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from search_helpers import fixture_catalogue_db

from centre.search import Searcher, e5kernel, semantic

BENCH = Path(__file__).resolve().parent.parent / "bench" / "search.py"

pytestmark = pytest.mark.skipif(not semantic.status().available, reason="e5 ranker unavailable here")


@pytest.fixture
def bench(monkeypatch):
    """bench/search.py as a module; the semantic settings it switches are restored afterwards."""
    for name in ("QUERY_THREADS", "PREFETCH", "core_idle", "job_policy", "QUERY_CACHE_SIZE"):
        monkeypatch.setattr(semantic, name, getattr(semantic, name))
    path = list(sys.path)
    spec = importlib.util.spec_from_file_location("bench_search_speed", BENCH)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path  # bench/ holds a queue.py: keep it off the tests' path
    semantic.warm_up()
    kernel = e5kernel.installed()
    yield module
    module._speed_paths("on")
    assert e5kernel.installed() == kernel


def test_product_holds_no_bench_switch():
    assert not hasattr(semantic, "PREFETCH_SHORT")


def test_modes_set_the_old_policies_and_restore_the_products(bench):
    product = semantic.job_policy
    bench._speed_paths("kernel_round")
    assert semantic.job_policy(False, True) is None and semantic.job_policy(True, True) == "thread"
    bench._speed_paths("before_kernel")
    assert semantic.job_policy(False, False) == "thread" and semantic.QUERY_THREADS == 1
    assert not e5kernel.installed()
    bench._speed_paths("forced")
    assert semantic.core_idle() is True and semantic.PREFETCH and semantic.job_policy is product
    bench._speed_paths("off")
    assert semantic.core_idle() is False and not semantic.PREFETCH and not e5kernel.installed()
    bench._speed_paths("on")
    assert semantic.job_policy is product and semantic.core_idle is bench._CORE_IDLE


def test_ab_times_each_mode_through_the_one_switch(bench, monkeypatch):
    seen = []
    switch = bench._speed_paths
    monkeypatch.setattr(bench, "_speed_paths", lambda mode: (seen.append(mode), switch(mode)))
    semantic.QUERY_CACHE_SIZE = 0
    conn = fixture_catalogue_db()
    try:
        out = bench._ab_times(Searcher(conn), ["đăng ký khai sinh", "trợ cấp"], 2, ("kernel_round", "on"))
    finally:
        conn.close()
    assert seen == ["kernel_round", "on", "on", "kernel_round"]  # rounds alternate: A B B A
    assert set(out) == {"kernel_round", "on"}
    for p50, p95, cpu in out.values():
        assert 0 < p50 <= p95 and cpu > 0
