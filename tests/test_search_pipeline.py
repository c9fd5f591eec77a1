"""centre.search, stage by stage, on a tiny fixture catalogue (issue 12).

tests/data/search_fixture/ holds five procedures; the database is imported once for the module
with the catalogue module's own import (which also stores the passage vectors).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from centre.catalogue_import import import_catalogue
from centre.catalogue_schema import ensure_schema
from centre.db import connect
from centre.search import (
    STAGES,
    Searcher,
    analyze,
    asked_parts,
    combine,
    focus,
    folded_key,
    model,
    referral_for,
    semantic,
    tone_key,
)
from centre.search import weights as W
from centre.search.analysis import content_words, words_of
from centre.search.model import Scored, fused_runners
from centre.search.referral import ReferralTable
from centre.search.textindex import bm25_scores, match_expression

FIXTURE = Path(__file__).parent / "data" / "search_fixture"


@pytest.fixture(scope="module")
def conn():
    c = connect(None)
    ensure_schema(c)
    import_catalogue(c, FIXTURE)
    yield c
    c.close()


@pytest.fixture(scope="module")
def searcher(conn):
    return Searcher(conn, min_score=0.46, limit=3)


def keys(result) -> list[str]:
    return [h.key for h in result.hits]


# ---------------------------------------------------------------- analysis


def test_folding_keeps_d_bar_apart_from_nothing():
    # NFD does not decompose đ: it must still fold to d, and the catalogue side the same way
    assert folded_key("Đăng ký khai sinh") == "dang ki khai sinh"
    assert [f for _, f in analyze("ĐĂNG KÝ")] == ["dang", "ki"]


def test_tone_key_unifies_old_and_new_tone_placement():
    assert tone_key("hóa") == tone_key("hoá") == "hoa1"
    assert tone_key("thuế") != tone_key("thuê")


def test_telex_and_unaccented_reach_the_same_procedure(searcher):
    assert keys(searcher.search("ddawng kys khai sinh"))[:1] == ["t-khai-sinh"]
    assert keys(searcher.search("dang ky ket hon"))[:1] == ["t-ket-hon"]


def test_words_run_together_are_segmented(searcher):
    assert keys(searcher.search("khaisinh"))[:1] == ["t-khai-sinh"]


def test_focus_finds_the_request_inside_a_story():
    text = (
        "Mẹ tôi năm nay 80 tuổi, sống một mình ở quê, hằng tháng được nhận tiền của phường. "
        "Tháng trước mẹ tôi bị ngã và phải nằm viện hai tuần. "
        "Xin hỏi gia đình tôi phải làm thủ tục gì để đăng ký tạm trú cho mẹ ở nhà tôi?"
    )
    f = focus(text)
    assert f.long and "tạm trú" in f.request and "nằm viện" in f.context
    short = focus("đăng ký tạm trú")
    assert short.request == "đăng ký tạm trú" and short.context == "" and not short.long


def test_focus_widens_a_request_that_says_too_little():
    text = (
        "Con tôi mới sinh được hai tuần ở bệnh viện huyện, bố cháu đang đi làm xa chưa về được. "
        "Tôi muốn làm giấy khai sinh cho cháu. Vậy tôi phải làm thủ tục gì?"
    )
    f = focus(text)
    assert "khai sinh" in f.request and content_words(f.request) >= W.FOCUS_MIN_WORDS


def test_focus_joins_the_question_a_follow_up_asks_about():
    text = (
        "Tôi là sinh viên năm thứ ba, bố mẹ tôi có hộ khẩu ở tỉnh khác và mới mua một căn hộ ở Hà Nội. "
        "Vậy tôi có đủ điều kiện để đăng ký thường trú tại căn hộ đó không? "
        "Nếu đủ điều kiện thì hồ sơ, lệ phí và thời hạn giải quyết cần những gì?"
    )
    f = focus(text)
    assert "thường trú" in f.request and f.request.endswith("cần những gì?") and "sinh viên" in f.context
    # round 7: the last sentence only asks for parts (hồ sơ, lệ phí, thời hạn): it names too little
    # by itself (analysis.naming_words), so the asking sentence itself takes the question before
    assert f.embedded == f.request
    # e5 embeds the asking sentence alone (the block's questions would cost embedding time)
    asks = ("Nếu đủ điều kiện thì tôi phải chuẩn bị những giấy tờ nào, nộp hồ sơ tại công an phường hay "
            "công an quận?")
    f = focus(text.replace("Nếu đủ điều kiện thì hồ sơ, lệ phí và thời hạn giải quyết cần những gì?", asks))
    assert "thường trú" in f.request and f.request.endswith(asks) and f.embedded == asks
    assert focus("đăng ký tạm trú").embedded == "đăng ký tạm trú"
    # a statement before the request is context, however close; an English letter keeps one sentence
    told = "Tôi đã đăng ký thường trú ở quê từ lâu và nay chuyển lên thành phố làm việc. Thủ tục đăng ký tạm trú cho người thuê nhà trọ cần những gì?"
    assert "thường trú" not in focus(told).request
    english = (
        "My husband is American and we have been living in Da Nang for two years now. Is that a problem? "
        "If our baby is born in Da Nang next spring, how do we register the birth of our son?"
    )
    assert focus(english).request.startswith("If our baby")
    # the block stops at QUESTION_BLOCK_WORDS words
    many = " ".join(["Tôi có được làm việc này ở phường nơi tôi đang sống không?"] * 8) + " Thủ tục thế nào?"
    assert len(words_of(focus(many).request)) <= W.QUESTION_BLOCK_WORDS


def test_e5_embeds_the_asking_sentence_of_a_question_block(searcher, monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(semantic, "embed_query", lambda text: seen.append(text))  # no vector: words only
    monkeypatch.setattr(semantic, "prefetched", lambda text, long=False: contextlib.nullcontext())
    monkeypatch.setattr(model.Searcher, "_semantic_needed", lambda self, r, cands: "on")
    monkeypatch.setattr(semantic, "status", lambda: type("S", (), {"available": True})())
    text = (
        "Tôi là sinh viên năm thứ ba, bố mẹ tôi có hộ khẩu ở tỉnh khác và mới mua một căn hộ ở Hà Nội. "
        "Vậy tôi có đủ điều kiện để đăng ký tạm trú tại căn hộ đó không? "
        "Nếu đủ điều kiện thì tôi phải chuẩn bị những giấy tờ nào, nộp hồ sơ tại công an phường hay công an quận?"
    )
    r = searcher.rank(text)
    assert "đăng ký tạm trú" in r.focus.request  # the words read the block
    assert seen == ["Nếu đủ điều kiện thì tôi phải chuẩn bị những giấy tờ nào, nộp hồ sơ tại công an phường hay công an quận?"]


def test_a_long_question_offers_runners_up_from_a_lower_floor(conn):
    """Runners-up need RUNNER_SHARE of the threshold; a long question's, like its answer, LONG_MIN_SHARE of that."""
    story = "Mẹ tôi năm nay tám mươi tuổi và sống một mình ở quê. Xin hỏi tôi phải làm thủ tục gì cho mẹ?"
    assert focus(story).long and not focus("thủ tục cho mẹ").long

    def shown(text: str, off=()) -> int:
        s = Searcher(conn, min_score=0.5, limit=3, features_off=off)
        r = model.Ranking(text, focus(text))
        r.ranked = [Scored("a", score=0.6), Scored("b", score=0.25), Scored("c", score=0.2)]
        s._decide(s._current(), r)
        return r.accepted

    floor = W.RUNNER_SHARE * 0.5
    assert W.LONG_MIN_SHARE * floor <= 0.25 < floor  # b is a runner only for a long question
    assert shown("thủ tục cho mẹ") == 1
    assert shown(story) == 2
    assert shown(story, off=("long_runners",)) == 1


def test_asked_parts():
    assert asked_parts("đăng ký khai sinh cần giấy tờ gì") == ["documents"]
    assert asked_parts("lệ phí bao nhiêu, mất bao lâu") == ["fee", "time"]
    assert asked_parts("nộp ở đâu") == ["place"]
    assert asked_parts("đăng ký khai sinh") == []


# ---------------------------------------------------------------- candidates (FTS5, never raw text)


@pytest.mark.parametrize("text", ['"', "khai*", "NEAR(a b)", "a OR b AND", "-x", "{name}: x", "'; DROP TABLE x; --"])
def test_user_text_never_reaches_match_raw(searcher, text):
    searcher.search(text)  # never raises
    expr = match_expression([w for w in re.findall(r"\w+", text)])
    assert all(part.startswith('"') and part.endswith('"') for part in expr.split(" OR ") if part)


def test_text_index_reads_the_procedures_own_words(conn):
    # "mai táng" and "trợ cấp" are in the procedure's applicants text
    scores = bm25_scores(conn, ["mai", "tang", "tro", "cap"], 10)
    assert max(scores, key=scores.get) == "t-mai-tang"
    assert all(0 < s < 1 for s in scores.values())


def test_a_situation_reaches_the_procedure_whose_text_covers_it(searcher):
    # issue 12's example: the names share "trợ cấp hằng tháng" with the allowance, but the
    # funeral support's own text (applicants) covers the situation
    r = searcher.rank("mẹ tôi mất, đang hưởng trợ cấp hằng tháng, có được hỗ trợ mai táng không")
    by_key = {c.key: c for c in r.ranked}
    assert r.ranked[0].key == "t-mai-tang"
    assert by_key["t-mai-tang"].text > by_key["t-tro-cap"].text


# ---------------------------------------------------------------- one score, explain = search


def test_fused_runners_keep_the_first_and_reorder_the_others():
    # the score's order a..f; e5 and the text both prefer d to b and c
    ranked = [
        Scored("a", score=0.9, text=0.5, semantic=0.85),
        Scored("b", score=0.6, text=0.1, semantic=0.80),
        Scored("c", score=0.55, text=0.2, semantic=0.81),
        Scored("d", score=0.5, text=0.9, semantic=0.90),
        Scored("e", score=0.4, text=0.0, semantic=None),
        Scored("f", score=0.3, text=1.0, semantic=0.99),  # beyond FUSION_POOL: never moves
    ]
    out = fused_runners(ranked)
    assert [c.key for c in out][0] == "a" and [c.key for c in out][-1] == "f"
    assert [c.key for c in out][:3] == ["a", "d", "b"]
    assert sorted(c.key for c in out) == sorted(c.key for c in ranked)
    # when the rankers agree with the score, nothing moves; two candidates: nothing to fuse
    agree = [Scored(k, score=1 - i / 10, text=1 - i / 10, semantic=0.9 - i / 100) for i, k in enumerate("abcde")]
    assert [c.key for c in fused_runners(agree)] == list("abcde")
    assert [c.key for c in fused_runners(ranked[:2])] == ["a", "b"]


def test_combine_is_bounded_and_semantic_only_reorders():
    c = Scored("k", lexical=0.5, text=0.5, semantic=0.9)
    assert 0 <= combine(c, 0.9) <= 1
    assert combine(c, 0.9) == combine(Scored("k", lexical=0.5, text=0.5), None)  # the best similarity adds 0
    assert combine(Scored("k", lexical=0.5, text=0.5, semantic=0.8), 0.9) < combine(c, 0.9)


def test_explain_and_search_agree(searcher):
    for q in ("khai sinh", "đăng ký kết hôn cần giấy tờ gì", "tạm trú", "xyz", "hộ chiếu", "mai táng"):
        hits = keys(searcher.search(q, 3))
        e = searcher.explain(q, 10)
        assert [c["key"] for c in e["candidates"][: min(3, e["accepted"])]] == hits
        for h, c in zip(searcher.search(q, 3).hits, e["candidates"], strict=False):
            assert h.score == pytest.approx(c["score"], abs=1e-4)


def test_every_weight_is_named_with_a_comment():
    lines = Path(W.__file__).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_, ]* = ", line):
            commented = "#" in line or (i and lines[i - 1].lstrip().startswith("#"))
            assert commented, f"weights.py:{i + 1} has no comment: {line}"


# ---------------------------------------------------------------- answers and referrals


def test_hit_answers_name_the_part_asked_about(searcher):
    h = searcher.search("đăng ký khai sinh cần giấy tờ gì, lệ phí bao nhiêu").hits[0]
    assert h.key == "t-khai-sinh" and h.answers == ["documents", "fee"]
    assert "Giấy chứng sinh" in h.passages["documents"] and "Miễn" in h.passages["fee"]
    assert searcher.search("đăng ký khai sinh").hits[0].answers == []


def test_referral_reads_tones():
    assert referral_for("đóng thuế đất").id == "tax"
    assert referral_for("thuê đất") is None  # renting land is no tax
    assert referral_for("làm hộ chiếu").id == "passport"
    assert referral_for("đổi bằng lái xe").id == "driving_licence"
    assert referral_for("dong thue dat").id == "tax"  # unaccented: folded phrases of two words or more
    assert referral_for("điều kiện kết hôn") is None  # "kiện" inside "điều kiện" is no lawsuit


def test_no_match_carries_a_referral(searcher):
    r = searcher.search("làm hộ chiếu")
    assert r.hits == [] and r.referral is not None and r.referral.id == "passport"
    assert r.referral.office_vi and r.referral.office_en and "cán bộ" in r.referral.advice_vi
    assert r.to_dict()["referral"]["id"] == "passport"
    assert searcher.search("khai sinh").referral is None


def test_referral_table_is_data(tmp_path):
    f = tmp_path / "referrals.yaml"
    f.write_text(
        "referrals:\n  - {id: x, match: [giấy phép bắn pháo hoa], office_vi: Công an tỉnh, office_en: Police}\n",
        encoding="utf-8",
    )
    t = ReferralTable.load(f)
    r = t.find("xin giấy phép bắn pháo hoa")
    assert r.id == "x" and r.advice_vi  # default advice
    assert t.find("khai sinh") is None
    assert ReferralTable.load(tmp_path / "missing.yaml").find("x") is None


# ---------------------------------------------------------------- semantic ranker and its fallback


def test_cpu_without_avx2_is_detected(tmp_path):
    no = tmp_path / "cpuinfo"
    no.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx\n")
    yes = tmp_path / "cpuinfo2"
    yes.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma\n")
    assert semantic.cpu_has_avx2(str(no)) is False
    assert semantic.cpu_has_avx2(str(yes)) is True
    assert semantic.cpu_has_avx2(str(tmp_path / "none")) is None


def test_switched_off_semantic_falls_back_to_lexical(conn, monkeypatch):
    monkeypatch.setenv("WARD_SEARCH_SEMANTIC", "0")
    semantic.status.cache_clear()
    try:
        assert not semantic.status().available
        s = Searcher(conn, min_score=0.46)
        r = s.rank("đăng ký khai sinh")
        assert all(c.semantic is None for c in r.ranked)
        assert keys(s.search("đăng ký khai sinh"))[:1] == ["t-khai-sinh"]
    finally:
        monkeypatch.delenv("WARD_SEARCH_SEMANTIC")
        semantic.status.cache_clear()


@pytest.mark.skipif(not semantic.status().available, reason="semantic ranker unavailable here")
def test_passage_vectors_are_stored_at_import(conn, searcher, monkeypatch):
    n = conn.execute("SELECT count(*) FROM search_vectors").fetchone()[0]
    assert n >= 5
    monkeypatch.setattr(model, "SEMANTIC_DECISIVE", 10.0)  # never decisive: the ranker runs
    r = searcher.rank("register a birth for my baby")
    assert r.semantic == "on"
    assert any(c.semantic is not None for c in r.ranked)


@pytest.mark.skipif(not semantic.status().available, reason="semantic ranker unavailable here")
def test_an_english_request_is_compared_with_the_english_passages(conn, monkeypatch):
    """Round 5: like with like. An English request's e5 similarity is its cosine with each
    procedure's English passage (English name and aliases); a Vietnamese request's is the best
    of every passage; with the stage off, an English request's is the best of every passage too."""
    monkeypatch.setattr(model, "SEMANTIC_DECISIVE", 10.0)  # never decisive: the ranker runs
    rows = conn.execute("SELECT procedure_key, kind, vec FROM search_vectors").fetchall()
    mat = semantic.matrix([r[2] for r in rows])

    def cosines(text: str, kinds: set[str]) -> dict[str, float]:
        q = semantic.embed_query(text)
        out: dict[str, float] = {}
        for (key, kind, _), v in zip(rows, mat @ q, strict=True):
            if kind in kinds:
                out[key] = max(out.get(key, -1.0), float(v))
        return out

    def seen(s: Searcher, text: str) -> dict[str, float]:
        return {c.key: c.semantic for c in s.rank(text).ranked if c.semantic is not None}

    english = "register a birth for my baby"
    on, off = Searcher(conn, min_score=0.46), Searcher(conn, min_score=0.46, features_off=("english_passages",))
    got, want = seen(on, english), cosines(english, {"en"})
    assert got and all(got[k] == pytest.approx(want[k], abs=1e-6) for k in got)
    got, want = seen(off, english), cosines(english, {"vi", "en", "text"})
    assert got and all(got[k] == pytest.approx(want[k], abs=1e-6) for k in got)
    assert seen(on, english) != seen(off, english)
    vietnamese = "đăng ký khai sinh cho con"
    got, want = seen(on, vietnamese), cosines(vietnamese, {"vi", "en", "text"})
    assert got and all(got[k] == pytest.approx(want[k], abs=1e-6) for k in got)


def test_semantic_ranker_is_skipped_only_when_it_cannot_matter(searcher, monkeypatch):
    # a clear leader: the words decided, no embedding
    monkeypatch.setattr(model, "SEMANTIC_DECISIVE", 0.0)
    r = searcher.rank("đăng ký kết hôn")
    assert r.semantic == "skipped: decisive"
    assert all(c.semantic is None for c in r.ranked)
    assert searcher.explain("đăng ký kết hôn")["semantic"] == "skipped: decisive"
    # nothing reaches the threshold: the (≤ 0) semantic term cannot make an answer
    r = searcher.rank("xyzzy quux")
    assert r.semantic in ("skipped: no match", "off")
    assert r.accepted == 0
    # a candidate above the threshold without a lead: the ranker runs
    monkeypatch.setattr(model, "SEMANTIC_DECISIVE", 10.0)
    assert searcher.rank("đăng ký kết hôn").semantic == "on"


def test_every_stage_can_be_switched_off(conn):
    for stage in STAGES:
        s = Searcher(conn, min_score=0.46, features_off=(stage,))
        assert keys(s.search("đăng ký kết hôn"))[:1] == ["t-ket-hon"], stage
    with pytest.raises(ValueError):
        Searcher(conn, features_off=("nonsense",))


def test_query_vectors_are_cached_by_the_words_embedded(monkeypatch):
    if not semantic.status().available:
        pytest.skip(semantic.status().reason)
    monkeypatch.setattr(semantic, "QUERY_CACHE_SIZE", 2)
    semantic._QUERY_CACHE.clear()
    a = semantic.embed_query("đăng ký  khai sinh")
    assert semantic.embed_query("đăng ký khai sinh") is a  # same words: the cached vector
    semantic.embed_query("kết hôn")
    semantic.embed_query("tạm trú")  # the oldest entry goes
    assert list(semantic._QUERY_CACHE) == ["kết hôn", "tạm trú"]
    b = semantic.embed_query("đăng ký khai sinh")
    assert b is not a and float(b @ a) > 0.999  # recomputed, the same vector
    monkeypatch.setattr(semantic, "QUERY_CACHE_SIZE", 0)
    semantic._QUERY_CACHE.clear()
    semantic.embed_query("kết hôn")
    assert not semantic._QUERY_CACHE
