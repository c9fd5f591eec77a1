"""Real citizens' questions (tests/data/search_real, train and dev splits): floors (issue 12).

The questions were collected from public Q&A pages by a teammate who did not read the search
method; `train` and `train2` were used to tune, `dev` to choose between variants (bench/search_ablation.py).
The round-1 blind split, read since, is a dev set; the round-2 blind set is never read here.
Floors are the figures measured on 2026-12-06 minus a margin of about five points; the issue's
targets (long questions top-1 75 %, top-3 90 %, out-of-scope 80 %) are not all met: see
docs/search.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from centre.catalogue import ensure_catalogue
from centre.db import connect
from centre.search import Searcher

ROOT = Path(__file__).resolve().parent.parent
# bench/ is loaded by file, never put on sys.path: its voice.py, queue.py, robot.py would hide
# the project packages (and the standard queue module) for every later test.
_spec = importlib.util.spec_from_file_location(
    "bench_search_ablation", Path(__file__).resolve().parent.parent / "bench" / "search_ablation.py"
)
_ablation = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ablation)
SETS = _ablation.SETS
evaluate = _ablation.evaluate
load_set = _ablation.load_set

# measured 2026-12-06 23:00 UTC (round 4): train 83.5 / 91.3 / 67.7 %, train2 (round 4's new
# train set) 74.6 / 87.3 / 71.4 %, dev 73.8 / 79.8 / 82.3 %, the round-1 blind split (read since,
# now dev) 78.7 / 90.7 / 84.0 %; floors about 5 points below
FLOORS = {
    "real_train": (0.78, 0.86, 0.62),
    "real_train2": (0.69, 0.82, 0.66),
    "real_dev": (0.68, 0.74, 0.77),
    "real_blind": (0.73, 0.85, 0.78),
}


@pytest.fixture(scope="module")
def searcher(project_config):
    c = connect(None)
    ensure_catalogue(c, project_config)
    yield Searcher.from_config(c, project_config)
    c.close()


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_real_questions_do_not_regress(searcher, name):
    path = SETS[name][0]
    if not path.exists():
        pytest.skip(f"{path} not there yet")
    m = evaluate(searcher, load_set(path))["all"]
    top1, top3, refused = FLOORS[name]
    assert m["top1"] >= top1 and m["top3"] >= top3, m
    assert m["refused"] is None or m["refused"] >= refused, m


def test_no_blind_set_is_read_here():
    # the round-1 blind split was measured once and read afterwards: it is a dev set now; the
    # worn blind sets 2-4 choose on aggregates from round 8, 5-6 from round 9, 7 from round 10, 8 and
    # short 9 from round 11, 10 and short 11 from round 12; the newer ones are
    # measured only with `--blind` (aggregates), never by the search's tests
    assert SETS["real_blind"][1] == "dev"
    assert all(SETS[f"real_blind{n}"][1] == "dev" for n in (2, 3, 4, 5, 6, 7, 8))
    assert all(SETS[f"short_blind{n}"][1] == "dev" for n in (9, 11))
    assert SETS["real_blind10"][1] == "dev"
    blind = ("real_blind12", "real_blind14", "real_blind16", "short_blind13", "short_blind15", "short_blind17")
    assert all(SETS[name][1] == "blind" for name in blind)
    assert not any(SETS[name][1] == "blind" for name in FLOORS)
    assert not any(name in _ablation.available_sets(blind=False) for name in blind)
