"""Record the viet-asr engine's outputs on a spoken-request set once, then replay decision
variants on them in seconds (the round-3 method, docs/voice.md "Measured").

    .venv/bin/python -P bench/voice_replay.py record tests/data/voice/requests-vi.yaml /tmp/r4/train.pkl
    .venv/bin/python -P bench/voice_replay.py replay /tmp/r4/train.pkl [--aggregate-only] [--lm | --no-lm]

A recording keeps, per clip (each request × espeak-ng's three voices at 150 wpm with room
tone, then the set's out-of-scope / noise clips, as `bench/voice.py` makes them): the three
sessions' transcripts, the search's hits on the main transcript, and the acoustic model's
log-posteriors at the three warps, collapsed to tone groups (float16). The replay runs the
engine's own `decide` and `AcousticScorer` on them, so a replay of the shipped code gives the
bench's answers. The domain-LM transcript (voice/lm.py, round 5) is decoded from the main
warp's recorded posteriors and searched here (the recordings predate it) when it is on: as
shipped (`LM_ENABLED`, off since round 5) unless `--lm` or `--no-lm` says otherwise.

A set used for choosing with aggregate figures only (the old blind set): record with
`--aggregate-only`; the request texts are then not stored, and `replay` prints only totals.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

import numpy as np  # noqa: E402

SAVE_EVERY = 10  # clips between two writes of a recording in progress


def _dump(out: Path, meta: dict, rows: list) -> None:
    tmp = out.with_suffix(out.suffix + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump({"meta": {**meta, "clips": len(rows)}, "rows": rows}, f)
    tmp.replace(out)


def record(requests: Path, out: Path, aggregate_only: bool, voices: tuple[str, ...] | None = None) -> None:
    """`voices`: only these of espeak-ng's Vietnamese voices (a subset on a busy machine); the
    recording so far is written every SAVE_EVERY clips, so a long one can be read before it ends."""
    from centre.catalogue import ensure_catalogue
    from centre.config import load_config
    from centre.db import connect
    from voice.testing import ROOM_TONE, VI_VOICES, load_vi_requests, reject_clips, vi_request
    from voice.vietasr_engine import VietAsrEngine, VietAsrLoader

    cfg = load_config()
    db = Path(tempfile.mkdtemp(prefix="voice-replay-")) / "centre.db"
    conn = connect(db)
    ensure_catalogue(conn)
    conn.close()
    loader = VietAsrLoader().start()
    loader.wait()
    engine = VietAsrEngine(cfg, lambda: connect(db), loader)
    engine.refresh(force=True)
    data = load_vi_requests(requests)
    clips = [(r["say"], v, list(r["expect"]), lambda r=r, v=v: vi_request(r["say"], v, 150, ROOM_TONE))
             for v in (voices or VI_VOICES) for r in data["requests"]]
    clips += [(label, None, None, lambda pcm=pcm: pcm) for label, pcm in reject_clips(data)]
    meta = {"requests": str(requests), "aggregate_only": aggregate_only, "voices": list(voices or VI_VOICES)}
    rows = []
    t0 = time.time()
    for i, (label, voice, expect, make) in enumerate(clips):
        pcm = make()
        engine.begin()
        for j in range(0, len(pcm), 960):
            engine.accept(pcm[j:j + 960])
        res = engine.finish(search_budget_s=None)
        search = engine._ahead["main"][1].result() if "main" in engine._ahead else None
        hits = [(h.key, float(h.score), h.matched_text, h.name) for h in (search.hits if search else [])]
        post = [loader.acoustic.groups.collapse(s.finish_output).astype(np.float16) for s in engine._streams]
        rows.append({"label": None if aggregate_only else label, "expect": expect, "voice": voice,
                     "hyps": [a["text"] for a in res.alternatives], "hits": hits,
                     "referral": getattr(search, "referral", None) is not None if search else False,
                     "post": post, "engine": (res.understood, res.target, res.via)})
        if i % SAVE_EVERY == 0:
            print(f"{i}/{len(clips)} {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
            _dump(out, meta, rows)
    _dump(out, meta, rows)
    print(json.dumps({"recorded": len(rows), "seconds": round(time.time() - t0)}))


def load(path: Path) -> dict:
    with open(path, "rb") as f:
        rec = pickle.load(f)
    if isinstance(rec, list):  # the round-3 recordings (/tmp/r3): rows only
        for row in rec:
            row.setdefault("engine", row.pop("base", None))
        rec = {"meta": {"aggregate_only": False}, "rows": rec}
    return rec


def search_of(row) -> SimpleNamespace:
    return SimpleNamespace(hits=[SimpleNamespace(key=k, score=s, matched_text=m, name=n) for k, s, m, n in row["hits"]],
                           referral=None)


def summary(rows, answers) -> dict:
    """right / wrong over the requests, reject over the out-of-scope clips."""
    req = [(r, a) for r, a in zip(rows, answers, strict=True) if r["expect"] is not None]
    oos = [(r, a) for r, a in zip(rows, answers, strict=True) if r["expect"] is None]
    right = sum(a.understood and a.target in r["expect"] for r, a in req)
    wrong = sum(a.understood and a.target not in r["expect"] for r, a in req)
    rejected = sum(not a.understood for _, a in oos)
    return {"right": round(right / max(1, len(req)), 3), "wrong": round(wrong / max(1, len(req)), 3),
            "reject": round(rejected / max(1, len(oos)), 3), "n_right": right, "n_wrong": wrong,
            "requests": len(req), "oos_answered": len(oos) - rejected}


class Replayer:
    """The engine's decision on a recording (scorer, closed set and decide as shipped)."""

    def __init__(self, rows, lm: bool | None = None):
        import sqlite3

        from centre.catalogue import ensure_catalogue
        from voice.acoustic import EmbeddedModel
        from voice.closedset import ClosedSet
        from voice.grammar import catalogue_phrases, load_phrase_book
        from voice.vietasr_engine import LM_ENABLED, agreement, background_phrases

        self.rows = rows
        self.book = load_phrase_book("vi")
        conn = sqlite3.connect(":memory:")
        conn.row_factory = sqlite3.Row
        ensure_catalogue(conn)
        self.phrases = catalogue_phrases(conn, "vi", self.book)
        self.model = EmbeddedModel.load()
        self.closed = ClosedSet(self.phrases + background_phrases(self.book), self.book.fillers)
        for row in rows:
            hyps = [h for h in row["hyps"] if h]
            row["ranking"] = self.closed.score(hyps) if hyps else None
            row["agree"] = agreement(row["hyps"])
        self.conn = conn
        self.lm = self.domain_lm() if (LM_ENABLED if lm is None else lm) else None
        self._searcher = None
        self._searches: dict[str, object] = {}

    def domain_lm(self, **options):
        from voice.lm import DomainLM

        return DomainLM.build(self.conn, self.model.groups, **options)

    def lm_hint(self, row, lm=None):
        """The engine's LmHint for a recorded clip: the main warp decoded, its text searched."""
        from voice.vietasr_engine import LmHint, _search_top

        lm = lm or self.lm
        if lm is None:
            return None
        decoded = lm.decoder.decode(row["post"][0].astype(np.float32))
        text = lm.text(decoded)
        if not text:
            return None
        return LmHint(text, decoded.gap, _search_top(self.search(text)))

    def search(self, text: str):
        if text not in self._searches:
            if self._searcher is None:
                from centre.config import load_config
                from centre.search import Searcher

                self._searcher = Searcher.from_config(self.conn, load_config())
            self._searches[text] = self._searcher.search(text, limit=5)
        return self._searches[text]

    def scorer(self):
        from voice.acoustic import AcousticScorer
        from voice.vietasr_engine import background_phrases

        return AcousticScorer(self.model, self.phrases + background_phrases(self.book), self.book.fillers)

    def heard(self, scorer, row):
        """The scorer's ranking from the recorded (already tone-collapsed) posteriors."""
        return scorer.rank_collapsed([p.astype(np.float32) for p in row["post"]])

    def run(self, scorer=None, decide=None):
        from voice.recognizer import Interpretation
        from voice.vietasr_engine import CLOSED_MIN
        from voice.vietasr_engine import decide as shipped

        scorer = scorer or self.scorer()
        answers = []
        for row in self.rows:
            out = Interpretation(False, None, None, row["hyps"][0], None, None, 0.0, "none", [], [], {})
            if any(row["hyps"]):
                heard = self.heard(scorer, row)
                lm = self.lm_hint(row) if self.lm is not None else None
                (decide or shipped)(out, search_of(row), row["ranking"], CLOSED_MIN, row["agree"], heard, lm)
                out.heard = heard
            answers.append(out)
        return answers


def replay(path: Path, aggregate_only: bool, lm: bool | None = None, confident: bool | None = None) -> None:
    from functools import partial

    from voice.vietasr_engine import decide

    rec = load(path)
    rows = rec["rows"]
    aggregate_only = aggregate_only or rec["meta"].get("aggregate_only", False)
    answers = Replayer(rows, lm).run(decide=partial(decide, confident=confident))
    out = summary(rows, answers)
    out["via_lm"] = sum(a.via == "lm" for a in answers)
    if "engine" in rows[0]:
        out["same_as_engine"] = sum((a.understood, a.target) == tuple(r["engine"][:2]) for r, a in zip(rows, answers, strict=True))
    print(json.dumps(out))
    if aggregate_only:
        return
    for r, a in zip(rows, answers, strict=True):
        if r["expect"] is not None and a.understood and a.target in r["expect"]:
            continue
        if r["expect"] is None and not a.understood:
            continue
        print(f"{r['voice']}: {r['label']} {r['expect']} -> {a.target} ({a.via}, {a.phrase})")


def fit(paths: list[Path], l2: float) -> None:
    """The confidence model (voice.confidence) fitted on recordings of train sets: every
    candidate of every clip where the sessions disagree, right or not; printed as the
    module's BIAS and WEIGHTS."""
    from voice import confidence
    from voice.vietasr_engine import TRUST_AGREEMENT

    data = []
    for path in paths:
        rows = load(path)["rows"]
        replayer = Replayer(rows, lm=False)
        scorer = replayer.scorer()
        for row in rows:
            if not any(row["hyps"]) or row["agree"] >= TRUST_AGREEMENT:
                continue
            heard, search = replayer.heard(scorer, row), search_of(row)
            for target in confidence.candidates(heard, search):
                feats = confidence.features(target, heard, search, row["ranking"], row["agree"])
                data.append((feats, row["expect"] is not None and target in row["expect"]))
    bias, weights = confidence.fit(data, l2)
    print(f"# {len(data)} candidates ({sum(ok for _, ok in data)} right) of {', '.join(p.name for p in paths)}")
    print(f"BIAS = {bias:.4f}")
    print("WEIGHTS = {" + ", ".join(f'"{k}": {v:.4f}' for k, v in weights.items()) + "}")


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    rp = sub.add_parser("record")
    rp.add_argument("requests", type=Path)
    rp.add_argument("out", type=Path)
    rp.add_argument("--aggregate-only", action="store_true", help="do not keep the request texts")
    rp.add_argument("--voices", nargs="+", help="only these espeak-ng voices (default: the three Vietnamese ones)")
    pp = sub.add_parser("replay")
    pp.add_argument("recording", type=Path)
    pp.add_argument("--aggregate-only", action="store_true")
    lm = pp.add_mutually_exclusive_group()  # neither: as shipped (voice.vietasr_engine.LM_ENABLED)
    lm.add_argument("--lm", dest="lm", action="store_const", const=True, help="with the domain-LM transcript")
    lm.add_argument("--no-lm", dest="lm", action="store_const", const=False, help="without it")
    conf = pp.add_mutually_exclusive_group()  # neither: as shipped (voice.vietasr_engine.CONFIDENCE_ENABLED, off)
    conf.add_argument("--confidence", dest="confident", action="store_const", const=True,
                      help="with the round-6 confidence check on answers from unclear speech")
    conf.add_argument("--no-confidence", dest="confident", action="store_const", const=False, help="without it")
    fp = sub.add_parser("fit", help="fit voice.confidence on recordings of train sets (prints its weights)")
    fp.add_argument("recordings", type=Path, nargs="+")
    fp.add_argument("--l2", type=float, default=1.0)
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    if args.cmd == "record":
        record(args.requests, args.out, args.aggregate_only, tuple(args.voices) if args.voices else None)
    elif args.cmd == "fit":
        fit(args.recordings, args.l2)
    else:
        replay(args.recording, args.aggregate_only, args.lm, args.confident)
    return 0


if __name__ == "__main__":
    sys.exit(main())
