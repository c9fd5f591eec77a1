"""Long questions as a crawler may hand them over (round 12, long engineer): as typed, lower-cased,
lower-cased with the sentence punctuation gone ("flat": no . ? ! ; : and no line breaks), and
lower-cased with only the question marks left ("sparse").

Prints ONE JSON line: per variant, per set group (train / dev long questions of the real sets),
per form: top-1 / top-3 of the in-scope long questions and refusal of the out-of-scope questions of
30 words or more. Dev sets: aggregates only. `--failures` prints the TRAIN failures (stderr).
`--per-set` adds each set's aggregate figures. `--train` measures the train sets only.
Run: `.venv/bin/python -P bench/search_long_forms.py [--variants full,-runon] [--forms flat] [--per-set]`.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search_ablation import SETS, _arg, load_set, log, real_database, variants  # noqa: E402

from centre.search import Searcher  # noqa: E402

TRAIN = ("real_train", "real_train2", "real_train3", "english_train11")
DEV = ("real_dev", "real_blind", "real_dev3", "real_blind2", "real_blind3", "real_blind4", "real_blind5",
       "real_blind6", "real_blind7", "real_blind8", "real_blind10")
_STOPS = re.compile(r"[.?!;:…]+|\s*\n\s*")
_PERIODS = re.compile(r"[.!;:…]+|\s*\n\s*")


def lower(q: str) -> str:
    return q.lower()


def flat(q: str) -> str:
    return re.sub(r"\s+", " ", _STOPS.sub(" ", q.lower())).strip()


def sparse(q: str) -> str:
    """Lower-cased, the full stops and line breaks gone, the question marks kept."""
    return re.sub(r"\s+", " ", _PERIODS.sub(" ", q.lower())).strip()


FORMS = {"typed": lambda q: q, "lower": lower, "flat": flat, "sparse": sparse}


def items(names) -> list[dict]:
    out = []
    for n in names:
        for it in load_set(SETS[n][0]):
            if it["kind"] == "long" or (it["expect"] is None and len(it["q"].split()) >= 30):
                out.append(dict(it, set=n))
    return out


def measure(s: Searcher, its: list[dict], form, fails: list | None, per_set: bool = False) -> dict:
    """top-1 / top-3 / refused of `its` in `form`; with `per_set`, also per set (aggregates)."""
    if per_set:
        names = dict.fromkeys(it["set"] for it in its)
        return {"all": measure(s, its, form, fails),
                **{n: measure(s, [it for it in its if it["set"] == n], form, None) for n in names}}
    n_in = t1 = t3 = n_out = ref = 0
    for it in its:
        ids = [h.code or h.key for h in s.search(form(it["q"]), 3).hits]
        if it["expect"] is None:
            n_out += 1
            ref += not ids
            ok = not ids
        else:
            n_in += 1
            t1 += bool(ids) and ids[0] in it["expect"]
            t3 += any(i in it["expect"] for i in ids[:3])
            ok = bool(ids) and ids[0] in it["expect"]
        if fails is not None and not ok:
            fails.append({"set": it["set"], "q": form(it["q"]), "expect": it["expect"], "got": ids})
    return {"top1": round(t1 / n_in, 4), "top3": round(t3 / n_in, 4), "n": n_in,
            "refused": round(ref / n_out, 4) if n_out else None, "n_out": n_out} if n_in else {
            "top1": None, "top3": None, "n": 0, "refused": round(ref / n_out, 4) if n_out else None, "n_out": n_out}


def main() -> int:
    forms = {k: v for k, v in FORMS.items() if k in (_arg("--forms") or FORMS)}
    groups = {"train": items(TRAIN), "dev": items(DEV)}
    if "--train" in sys.argv:
        groups.pop("dev")
    show = "--failures" in sys.argv
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-long-") as tmp:
        conn, cfg = real_database(Path(tmp))
        for name, (off, on) in variants(_arg("--variants") or ["full"]).items():
            t = time.perf_counter()
            s = Searcher(conn, min_score=cfg.search.min_score, limit=3, features_off=off, features_on=on)
            row = {}
            for g, its in groups.items():
                for fname, form in forms.items():
                    fails: list | None = [] if (show and g == "train") else None
                    row[f"{g}/{fname}"] = measure(s, its, form, fails, per_set="--per-set" in sys.argv)
                    for f in fails or ():
                        log(f"{name} {fname}: {json.dumps(f, ensure_ascii=False)}")
            result[name] = row
            log(f"{name}: {time.perf_counter() - t:.1f} s " + " ".join(
                f"{k}={v.get('all', v)['top1']}/{v.get('all', v)['top3']}/{v.get('all', v)['refused']}"
                for k, v in row.items()))
        conn.close()
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
