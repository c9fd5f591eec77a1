"""Benchmark of centre.search against a plain rapidfuzz scan (issue 3, "Measured, and how").

Prints ONE JSON line:
- real_p50_ms, real_p95_ms: latency of `Searcher.search` (warm, in-process) over every query
  of the development set (per query the median of five calls), on the shipped catalogue
  imported with the catalogue module's own import;
- synthetic5000_p95_ms: the same on a 5,000-procedure catalogue: the real procedures plus
  synthetic ones whose names, English names and aliases recombine halves of real ones
  (fixed seed), in a temporary database (see `synthetic_catalogue`);
- baseline_real_p95_ms, baseline_synthetic5000_p95_ms: `rapidfuzz.process.extract` with
  `fuzz.WRatio` (default processor, limit 10) over all display names, same queries;
- speedup_vs_baseline: baseline p95 / ours, on the 5,000 catalogue;
- dev_top1, dev_top3, dev_oos_rejected (ours, with config search.min_score),
  baseline_dev_top1 (first rapidfuzz result), and dev_top1_synthetic5000 (ours, with 4,637
  look-alike distractors); check_* the same figures on tests/data/search/check.yaml (written
  after the method; long spoken questions and near-domain out-of-scope ones).

Run: `.venv/bin/python bench/search.py` (about a minute on a busy 2-core machine).
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process, utils

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from centre.catalogue import ensure_catalogue  # noqa: E402
from centre.catalogue_import import import_catalogue  # noqa: E402
from centre.config import load_config  # noqa: E402
from centre.db import connect, transaction  # noqa: E402
from centre.search import Searcher, rebuild_index  # noqa: E402

DEV = ROOT / "tests" / "data" / "search" / "dev.yaml"
CHECK = ROOT / "tests" / "data" / "search" / "check.yaml"
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


def accuracy(searcher: Searcher, items: list[dict]) -> dict:
    top1 = top3 = n_in = rej = n_out = 0
    for it in items:
        ids = [h.code or h.key for h in searcher.search(it["q"]).hits]
        if it["expect"] is None:
            n_out += 1
            rej += not ids
        else:
            n_in += 1
            top1 += bool(ids) and ids[0] in it["expect"]
            top3 += any(i in it["expect"] for i in ids[:3])
    return {"top1": top1 / n_in, "top3": top3 / n_in, "oos": rej / n_out}


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
    procs = [dict(r) for r in big.execute("SELECT key, code, name, official_name, name_en, field_id FROM procedures")]
    aliases: dict[str, list[tuple[str, str]]] = {}
    for r in big.execute("SELECT procedure_key, alias, lang FROM aliases"):
        aliases.setdefault(r["procedure_key"], []).append((r["alias"], r["lang"]))
    with transaction(big):
        for i in range(total - len(procs)):
            a, b = rng.choice(procs), rng.choice(procs)
            name = _recombine(a["name"], b["name"])
            key = f"9.{i:06d}"
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
        rebuild_index(big)


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


def main() -> int:
    cfg = load_config()
    items = yaml.safe_load(DEV.read_text(encoding="utf-8"))["queries"]
    queries = [it["q"] for it in items]
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        tmp = Path(tmp)
        log("importing the shipped catalogue…")
        real = connect(tmp / "real.db")
        ensure_catalogue(real, cfg)
        ours = Searcher.from_config(real, cfg)
        ours.search("khởi động")  # load the in-memory index before timing
        base = Baseline(real)
        log(f"timing {len(queries)} queries × {ROUNDS} on {len(base.names)} procedures…")
        real_ms = timed(ours.search, queries)
        base_real_ms = timed(base.search, queries)
        acc = accuracy(ours, items)
        check = accuracy(ours, yaml.safe_load(CHECK.read_text(encoding="utf-8"))["queries"])
        base_top1 = base.top1(items)

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
        big_base = Baseline(big)
        log(f"timing on {n_big} procedures…")
        big_ms = timed(big_ours.search, queries)
        big_base_ms = timed(big_base.search, queries, rounds=1)  # ~80 ms a query: one call each
        big_acc = accuracy(big_ours, items)
        real.close()
        big.close()

    ours_big_p95 = pct(big_ms, 0.95)
    base_big_p95 = pct(big_base_ms, 0.95)
    out = {
        "real_p50_ms": round(statistics.median(real_ms), 3),
        "real_p95_ms": round(pct(real_ms, 0.95), 3),
        "synthetic5000_p95_ms": round(ours_big_p95, 3),
        "baseline_real_p95_ms": round(pct(base_real_ms, 0.95), 3),
        "baseline_synthetic5000_p95_ms": round(base_big_p95, 3),
        "speedup_vs_baseline": round(base_big_p95 / ours_big_p95, 2) if ours_big_p95 else None,
        "dev_top1": round(acc["top1"], 4),
        "dev_top3": round(acc["top3"], 4),
        "dev_oos_rejected": round(acc["oos"], 4),
        "baseline_dev_top1": round(base_top1, 4),
        "dev_top1_synthetic5000": round(big_acc["top1"], 4),
        "dev_top3_synthetic5000": round(big_acc["top3"], 4),
        "synthetic5000_p50_ms": round(statistics.median(big_ms), 3),
        "synthetic5000_procedures": n_big,
        "synthetic5000_import_s": import_s,
        "synthetic5000_index_load_s": round(load_s, 2),
        "check_top1": round(check["top1"], 4),
        "check_top3": round(check["top3"], 4),
        "check_oos_rejected": round(check["oos"], 4),
        "dev_queries": len(items),
        "min_score": cfg.search.min_score,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
