"""The domain language model and the CTC decoder constrained by it (voice/lm.py), on a tiny
vocabulary and synthetic posteriors: fast, no model."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import yaml

from voice.ctc import ToneGroups, Vocabulary, greedy
from voice.lm import (
    QUESTIONS_FILE,
    WORD_FILES,
    Accents,
    DomainLM,
    LexiconDecoder,
    NGramLM,
    domain_runs,
    file_texts,
    syllables_of,
)

ROOT = Path(__file__).resolve().parent.parent
TOKENS = ("<blk>", "▁tôi", "▁muốn", "▁đăng", "▁ký", "▁ki", "▁khai", "▁sinh", "▁cho", "▁con", "▁kết", "▁hôn",
          "▁ốt", "▁xyz", "▁ng", "uyên")
CORPUS = ["tôi muốn đăng ký khai sinh cho con", "đăng ký kết hôn", "đăng ký khai sinh", "ki ốt",
          "cho con đăng ký khai sinh", "nguyên hôn"]


def _groups() -> ToneGroups:
    return ToneGroups(Vocabulary(TOKENS), len(TOKENS))


def _posteriors(groups: ToneGroups, frames: list[dict[str, float]]) -> np.ndarray:
    """(T, groups) log-probabilities: each frame's named tokens get their probability, the
    rest of the mass goes to the blank."""
    out = np.full((len(frames), len(groups)), 1e-6)
    for t, frame in enumerate(frames):
        for name, p in frame.items():
            out[t, groups.index[name]] = p
        out[t, 0] = max(1e-6, 1.0 - sum(frame.values()))
    return np.log(out / out.sum(axis=1, keepdims=True))


def _spoken(groups, words: list[dict[str, float]]) -> np.ndarray:
    frames = []
    for w in words:
        frames += [{}, w, {}]
    return _posteriors(groups, frames)


def _lm() -> NGramLM:
    return NGramLM([w for text in CORPUS for w in syllables_of(text)])


def test_lm_prefers_what_follows_in_the_domain():
    lm = _lm()
    assert lm.logp("<s>", "đăng", "ky") > lm.logp("<s>", "đăng", "ki")  # words are tone-less
    assert lm.logp("đăng", "ky", "khai") > lm.logp("đăng", "ky", "kêt")  # "khai" follows "đăng ký" three times
    assert lm.score(["đăng", "ky", "khai", "sinh"]) > lm.score(["sinh", "khai", "ky", "đăng"])
    total = sum(math.exp(lm.logp("đăng", "ky", w)) for w in [*lm.vocab, "</s>"])
    assert total == pytest.approx(1.0, abs=0.02)  # a distribution over the vocabulary


def test_decoder_pulls_an_unclear_syllable_toward_the_domain_word():
    groups = _groups()
    # "đăng ?? khai sinh": the model slightly prefers "ki" to "ký"; greedy writes "ki"
    logp = _spoken(groups, [{"▁đăng": 0.9}, {"▁ki": 0.5, "▁ky": 0.4}, {"▁khai": 0.9}, {"▁sinh": 0.9}])
    assert greedy(logp, Vocabulary(tuple(groups.names))) == "đăng ki khai sinh"
    decoded = LexiconDecoder(_lm(), groups).decode(logp)
    assert decoded.words == ["đăng", "ky", "khai", "sinh"]
    assert decoded.gap > 0  # the LM's path is a little worse acoustically than the free one
    # … and with no LM weight, the sounds alone decide
    assert LexiconDecoder(_lm(), groups, alpha=0.0, beta=0.0).decode(logp).words == ["đăng", "ki", "khai", "sinh"]


def test_decoder_never_writes_a_word_outside_the_lm():
    groups = _groups()
    logp = _spoken(groups, [{"▁đăng": 0.9}, {"▁ky": 0.9}, {"▁xyz": 0.95}])
    decoded = LexiconDecoder(_lm(), groups).decode(logp)
    assert "xyz" not in decoded.words and decoded.words[:2] == ["đăng", "ky"]
    assert decoded.gap > 1.0  # "xyz" was heard clearly: whatever replaced it fits badly


def test_decoder_spells_multi_piece_words_and_streams():
    groups = _groups()
    logp = _spoken(groups, [{"▁ng": 0.9}, {"uyên": 0.9}, {"▁hôn": 0.9}])
    dec = LexiconDecoder(_lm(), groups)
    whole = dec.decode(logp)
    assert whole.words == ["nguyên", "hôn"] and whole.tokens == 3
    state = dec.start()
    dec.advance(state, logp[:4])
    dec.advance(state, logp[4:])
    part = dec.result(state)  # chunk by chunk = all at once
    assert (part.words, part.tokens) == (whole.words, whole.tokens)
    assert (part.am, part.free) == pytest.approx((whole.am, whole.free), abs=1e-4)
    assert dec.decode(logp[:0]).words == []


def test_accents_put_the_usual_tone_marks_back():
    acc = Accents([text.split() for text in CORPUS])
    assert acc.restore(["tôi", "muôn", "đăng", "ky", "khai", "sinh"]) == ["tôi", "muốn", "đăng", "ký", "khai", "sinh"]
    assert acc.restore(["zzz"]) == ["zzz"]


def _questions_script():
    """bench/voice_lm_questions.py, which copies the train sets' questions into QUESTIONS_FILE."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("voice_lm_questions", ROOT / "bench" / "voice_lm_questions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lm_text_comes_from_train_sets_only():
    script = _questions_script()
    assert all("train" in name for name in script.TRAIN_SETS)
    sources = script.TRAIN_SETS + WORD_FILES + (QUESTIONS_FILE,)
    assert not any("dev" in name or "blind" in name or "voice/requests" in name for name in sources)
    texts = file_texts()
    assert any("Làm tạm trú cần những giấy tờ gì" in t for t in texts)  # a train question
    assert "synonyms" not in texts and "baby" not in texts  # sections' names and English are not
    shipped = yaml.safe_load((ROOT / QUESTIONS_FILE).read_text(encoding="utf-8"))
    assert shipped == script.questions()  # the train sets' questions, nothing else


def test_the_shipped_questions_file_is_up_to_date_with_the_train_sets():
    """Rewrite it with `python bench/voice_lm_questions.py` after a train set changes."""
    assert (ROOT / QUESTIONS_FILE).read_text(encoding="utf-8") == _questions_script().render()


def test_the_lm_reads_nothing_under_tests(tmp_path):
    """An install without tests/ builds the same LM text: only shipped files are read."""
    import shutil

    for name in (*WORD_FILES, QUESTIONS_FILE):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    assert not (tmp_path / "tests").exists()
    assert file_texts(tmp_path) == file_texts()


def test_domain_lm_from_the_catalogue():
    from centre.catalogue import ensure_catalogue

    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    ensure_catalogue(conn)
    runs = domain_runs(conn)
    lm = DomainLM(runs, _groups())
    assert {"khai", "sinh", "tam", "tru", "kêt", "hôn"} <= set(lm.lm.vocab)
    assert lm.lm.logp("<s>", "khai", "sinh") > lm.lm.logp("<s>", "khai", "hôn")


@pytest.mark.slow
def test_the_lm_transcript_of_real_espeak_speech_is_closer_to_the_request():
    """viet-asr's embedded model on espeak-ng "tôi muốn đăng ký khai sinh cho con" (flat tones:
    its best path writes "lùi muốn ký khai sinh cho cho"): the LM transcript, decoded chunk by
    chunk as the engine does, is nearer the request than the best path."""
    import shutil

    from rapidfuzz.distance import Levenshtein

    from centre.catalogue import ensure_catalogue
    from voice.acoustic import AcousticModelError, AcousticStream, EmbeddedModel
    from voice.ctc import strip_tone
    from voice.testing import vi_request

    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed")
    try:
        model = EmbeddedModel.load()
    except (AcousticModelError, ImportError, OSError) as exc:
        pytest.skip(f"viet-asr's embedded model: {exc}")
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    ensure_catalogue(conn)
    lm = DomainLM.build(conn, model.groups)
    said = [w for run in syllables_of("tôi muốn đăng ký khai sinh cho con") for w in run]
    stream = AcousticStream(model, 1.0, None, lm.decoder)
    pcm = vi_request("tôi muốn đăng ký khai sinh cho con", "vi", 150)
    for i in range(0, len(pcm), 960):
        stream.accept(pcm[i:i + 960])
    best_path = strip_tone(greedy(stream.finish(), model.vocab)).split()
    decoded = stream.decoded()
    assert Levenshtein.distance(said, decoded.words) < Levenshtein.distance(said, best_path), (decoded.words, best_path)
    assert {"khai", "sinh"} <= set(decoded.words)
    assert "sinh" in lm.text(decoded) and "ký" in lm.text(decoded)  # tone marks back for the search
