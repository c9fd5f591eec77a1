"""The learned layer of the search (centre/search/learned.py, round 6 of issue 12).

Features on hand-made candidates, the model ordering and deciding as its weights say, the
weights file validated on load (a bad file: a clear error naming it, and the search falls back
to the hand model), the stages switched on and off in a Searcher on the tiny fixture
catalogue, and (slow) the training script reproducing the shipped weights file.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from search_helpers import fixture_catalogue_db

from centre.search import Searcher, learned
from centre.search.model import OFF_BY_DEFAULT, STAGES, Scored

ROOT = Path(__file__).resolve().parent.parent
C, Q = learned.CANDIDATE_FEATURES, learned.QUERY_FEATURES
LEARNED = ("learned_rank", "learned_refusal")


class _Phrase:
    def __init__(self, kind: str):
        self.kind = kind


def _cands() -> list[Scored]:
    return [
        Scored("a", lexical=0.7, text=0.2, semantic=0.85, score=0.72, phrase=_Phrase("name")),
        Scored("b", lexical=0.6, text=0.5, semantic=0.90, score=0.65, phrase=_Phrase("alias_en"), factor=0.9),
        Scored("c", lexical=0.0, context=0.4, text=0.6, semantic=None, score=0.30),
    ]


def _view(**kw) -> learned.QueryView:
    base = dict(threshold=0.46, hand_rule="threshold", leader=0.65, tokens=5, long=False, english=False,
                referral_request=False, referral_text=False, semantic="on")
    base.update(kw)
    return learned.QueryView(**base)


def _weights(rank: dict[str, float] | None = None, answer: dict[str, float] | None = None,
             refuse_below: float = 0.5, accept_from: float = 0.5, k: int = 10) -> dict:
    """A weights file: unit scales, zero means, the named weights."""
    return {
        "model": learned.MODEL_NAME, "format": learned.FORMAT_VERSION, "version": "test", "k": k,
        "rank": {"features": list(C), "mean": [0.0] * len(C), "scale": [1.0] * len(C),
                 "weights": [float((rank or {}).get(f, 0.0)) for f in C]},
        "answer": {"features": list(Q), "mean": [0.0] * len(Q), "scale": [1.0] * len(Q),
                   "weights": [float((answer or {}).get(f, 0.0)) for f in Q],
                   "refuse_below": refuse_below, "accept_from": accept_from},
    }


def _write(tmp_path: Path, data: dict, name: str = "learned.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data), encoding="utf-8")
    return p


# ---------------------------------------------------------------- features (pure)


def test_candidate_features_gaps_places_and_kinds():
    x = learned.candidate_features(_cands(), 10)
    assert x.shape == (3, len(C))
    col = {f: x[:, i] for i, f in enumerate(C)}
    assert list(col["score_gap"]) == pytest.approx([0.0, -0.07, -0.42])
    assert list(col["text_gap"]) == pytest.approx([-0.4, -0.1, 0.0])
    assert list(col["semantic_on"]) == [1, 1, 0]
    assert list(col["semantic_gap"]) == pytest.approx([-0.05, 0.0, 0.0])  # c has none: 0
    assert list(col["place_semantic"]) == pytest.approx([0.5, 1.0, 0.0])
    assert list(col["place_text"]) == pytest.approx([1 / 3, 0.5, 1.0])
    assert list(col["factor_low"]) == [0, 1, 0]
    assert list(col["phrase_name"]) == [1, 0, 0] and list(col["phrase_english"]) == [0, 1, 0]
    assert list(col["phrase_none"]) == [0, 0, 1]
    assert learned.candidate_features(_cands(), 2).shape == (2, len(C))  # the first k only
    assert learned.candidate_features([], 10).shape == (0, len(C))


def test_query_features_read_the_hand_decision_and_the_query():
    row = dict(zip(Q, learned.query_features(_cands(), _view()), strict=True))
    assert row["bias"] == 1 and row["hand_threshold"] == 1 and row["hand_long_lead"] == 0
    assert row["best"] == pytest.approx(0.72) and row["margin"] == pytest.approx(0.07)
    assert row["best_over_threshold"] == pytest.approx(0.72 / 0.46)
    assert row["e5_on"] == 1 and row["e5_best"] == pytest.approx(0.90)
    assert row["top_semantic_gap2"] == pytest.approx(-0.05) and row["top_phrase_name"] == 1
    row = dict(zip(Q, learned.query_features(_cands(), _view(
        hand_rule="long_lead", semantic="skipped: decisive", referral_text=True, english=True)), strict=True))
    assert row["hand_long_lead"] == 1 and row["e5_decisive"] == 1 and row["e5_on"] == 0
    assert row["referral_text"] == 1 and row["referral_request"] == 0 and row["english"] == 1
    assert learned.query_features([], _view()).shape == (len(Q),)


# ---------------------------------------------------------------- the model does what its weights say


def test_reranker_orders_as_its_weights_say():
    x = learned.candidate_features(_cands(), 10)
    by_text = learned.parse(_weights(rank={"text": 1.0}))
    assert by_text.order(x) == [2, 1, 0]
    by_score = learned.parse(_weights(rank={"score": 1.0}))
    assert by_score.order(x) == [0, 1, 2]
    by_e5 = learned.parse(_weights(rank={"place_semantic": 2.0, "score": 0.1}))
    assert by_e5.order(x) == [1, 0, 2]
    assert learned.parse(_weights()).order(x) == [0, 1, 2]  # ties keep the hand order


def test_answer_classifier_and_its_two_thresholds():
    row = learned.query_features(_cands(), _view())
    m = learned.parse(_weights(answer={"bias": 0.0}, refuse_below=0.3, accept_from=0.8))
    assert m.answer(row) == pytest.approx(0.5)
    assert m.accepts(True, 0.5) and not m.accepts(False, 0.5)
    assert not m.accepts(True, 0.2) and m.accepts(False, 0.85)
    m = learned.parse(_weights(answer={"bias": 2.0, "best": -4.0}))
    assert m.answer(row) == pytest.approx(1 / (1 + np.exp(-(2.0 - 4.0 * 0.72))))


# ---------------------------------------------------------------- the weights file, validated


@pytest.mark.parametrize("spoil, message", [
    (lambda d: d.update(model="other"), "not a ward-search-learned"),
    (lambda d: d.update(format=99), "format 99"),
    (lambda d: d["rank"]["features"].pop(), "rank.features differ"),
    (lambda d: d["answer"]["weights"].pop(), "answer.weights must be a list"),
    (lambda d: d["rank"]["scale"].__setitem__(0, 0.0), "scale is not positive"),
    (lambda d: d["answer"].update(refuse_below="high"), "answer.refuse_below"),
    (lambda d: d.update(k=1), "k must be"),
])
def test_a_bad_weights_file_is_a_clear_error_naming_it(tmp_path, spoil, message):
    data = _weights()
    spoil(data)
    path = _write(tmp_path, data, "spoilt.json")
    with pytest.raises(learned.LearnedModelError, match=message) as e:
        learned.load(path)
    assert str(path) in str(e.value)


def test_unreadable_weights_files(tmp_path):
    with pytest.raises(learned.LearnedModelError, match="cannot read") as e:
        learned.load(tmp_path / "missing.json")
    assert "missing.json" in str(e.value)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(learned.LearnedModelError, match="not valid JSON"):
        learned.load(bad)


def test_the_shipped_weights_file_loads():
    m = learned.load()
    assert m.k >= 2 and m.version.startswith("r6-")
    assert len(m.rank_weights) == len(C) and len(m.answer_weights) == len(Q)


# ---------------------------------------------------------------- in the Searcher (fixture catalogue)


@pytest.fixture(scope="module")
def conn():
    c = fixture_catalogue_db()
    yield c
    c.close()


QUERIES = ["đăng ký khai sinh", "dang ky", "đăng ký tạm trú cho con", "hỗ trợ mai táng", "trợ cấp",
           "làm hộ chiếu", "xin chào", "đăng ký kết hôn với người nước ngoài"]


def _hits(s: Searcher, q: str) -> list[tuple[str, float]]:
    return [(h.key, h.score) for h in s.search(q, 3).hits]


def test_learned_stages_ship_off_and_switch_on(conn, tmp_path):
    assert set(LEARNED) <= set(STAGES) and set(LEARNED) == OFF_BY_DEFAULT
    assert set(LEARNED) <= Searcher(conn).off
    assert not set(LEARNED) & Searcher(conn, features_on=LEARNED).off
    assert "learned_rank" in Searcher(conn, features_on=LEARNED, features_off=("learned_rank",)).off
    with pytest.raises(ValueError, match="unknown search stages"):
        Searcher(conn, features_on=("learned_nonsense",))


def test_learned_rank_reverses_the_order_when_its_weights_say_so(conn, tmp_path):
    path = _write(tmp_path, _weights(rank={"score": -1.0}, k=3))
    hand = Searcher(conn, min_score=0.46, limit=3)
    flipped = Searcher(conn, min_score=0.46, limit=3, features_on=("learned_rank",), learned_weights=path)
    q = next(q for q in QUERIES if hand.search(q, 3).hits and len(hand.rank(q).ranked) >= 3)
    h, f = hand.rank(q).ranked, flipped.rank(q).ranked
    assert [c.key for c in f[:3]] == [c.key for c in h[:3]][::-1]  # the first k, lowest hand score first
    assert [c.key for c in f[3:]] == [c.key for c in h[3:]]  # the others stay
    got = _hits(flipped, q)
    assert got and got[0][0] == h[2].key
    e = flipped.explain(q, 3)
    assert [(c["key"], c["score"]) for c in e["candidates"][: min(3, e["accepted"])]] == got
    assert e["learned"] == {"version": "test", "reordered": True}
    assert hand.explain(q, 3)["learned"] == {}  # shipped: the learned stages are off


def test_learned_refusal_decides_as_its_bias_says(conn, tmp_path):
    never = _write(tmp_path, _weights(answer={"bias": -10.0}), "never.json")
    always = _write(tmp_path, _weights(answer={"bias": 10.0}), "always.json")
    hand = Searcher(conn, min_score=0.46, limit=3)
    no = Searcher(conn, min_score=0.46, limit=3, features_on=("learned_refusal",), learned_weights=never)
    yes = Searcher(conn, min_score=0.46, limit=3, features_on=("learned_refusal",), learned_weights=always)
    answered = [q for q in QUERIES if hand.search(q, 3).hits]
    assert answered and all(not no.search(q, 3).hits for q in answered)
    e = no.explain(answered[0])
    assert e["rule"] == "learned_refusal" and e["learned"]["answer_p"] == pytest.approx(1 / (1 + np.exp(10)), abs=1e-4)
    # "always" answers every query with a candidate, unless the referral veto refuses it
    r = yes.rank("dang ky")
    assert r.rule == "learned" and yes.search("dang ky", 3).hits
    assert yes.rank("làm hộ chiếu").rule in ("referral", "learned", "none")


def test_search_and_explain_agree_with_the_learned_stages_on(conn, tmp_path):
    path = _write(tmp_path, _weights(rank={"text": 1.0, "score": 0.5}, answer={"bias": 1.0, "best": 2.0}))
    s = Searcher(conn, min_score=0.46, limit=3, features_on=LEARNED, learned_weights=path)
    for q in QUERIES:
        e = s.explain(q, 3)
        shown = e["candidates"][: min(3, e["accepted"])]
        assert _hits(s, q) == [(c["key"], c["score"]) for c in shown], q


def test_a_bad_weights_file_falls_back_to_the_hand_model_and_logs_it(conn, tmp_path, caplog):
    path = tmp_path / "broken.json"
    path.write_text('{"model": "ward-search-learned", "format": 1', encoding="utf-8")
    hand = Searcher(conn, min_score=0.46, limit=3)
    with caplog.at_level(logging.WARNING, logger="centre.search.model"):
        s = Searcher(conn, min_score=0.46, limit=3, features_on=LEARNED, learned_weights=path)
        got = {q: _hits(s, q) for q in QUERIES}
    assert got == {q: _hits(hand, q) for q in QUERIES}
    warned = [r.getMessage() for r in caplog.records if "broken.json" in r.getMessage()]
    assert len(warned) == 1 and "hand-tuned" in warned[0]  # logged once, naming the file


def test_the_learned_layer_costs_well_under_half_a_millisecond():
    m = learned.load()
    cands = _cands() * 4  # 12 candidates, k of them scored
    view = _view()
    n = 300
    t = time.perf_counter()
    for _ in range(n):
        m.order(learned.candidate_features(cands, m.k))
        m.accepts(True, m.answer(learned.query_features(cands, view)))
    per_query = (time.perf_counter() - t) / n
    assert per_query < 0.5e-3, per_query


# ---------------------------------------------------------------- the training script (slow: the real catalogue)


@pytest.mark.slow
def test_training_script_reproduces_the_shipped_weights(tmp_path):
    out = tmp_path / "learned.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "search_train.py"), "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["weights"] == str(out)
    got, shipped = (json.loads(p.read_text(encoding="utf-8")) for p in (out, learned.WEIGHTS_PATH))
    retrain = "retrain: .venv/bin/python bench/search_train.py (the search or a train set changed)"
    assert got["trained_on"] == shipped["trained_on"], retrain
    for part in ("rank", "answer"):
        assert {k: v for k, v in got[part].items() if not isinstance(v, list) or k == "features"} == \
            {k: v for k, v in shipped[part].items() if not isinstance(v, list) or k == "features"}, retrain
        for key in ("mean", "scale", "weights"):
            assert np.allclose(got[part][key], shipped[part][key], atol=1e-4), (part, key, retrain)
