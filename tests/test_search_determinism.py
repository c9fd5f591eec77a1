"""The search scores a question alike in every process: nothing it computes may depend on the
order Python iterates a set of strings, which changes with PYTHONHASHSEED from one process to
the next (a tie between two words of a question once went to whichever the set gave first, and
about one long question in thirty scored differently after a restart)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import json, sys, yaml
sys.path.insert(0, {tests!r})
from search_helpers import shipped_catalogue_db
from centre.config import load_config
from centre.search import Searcher
conn = shipped_catalogue_db(load_config())
s = Searcher(conn)
qs = [e["q"] for e in yaml.safe_load(open({data!r}, encoding="utf-8"))]
print(json.dumps({{q: [(c.key, round(c.score, 6)) for c in s.rank(q).ranked[:5]] for q in qs}}))
"""


def _scores(seed: str) -> dict:
    code = SCRIPT.format(tests=str(ROOT / "tests"), data=str(ROOT / "tests" / "data" / "search_real" / "train.yaml"))
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_processes_with_different_hash_seeds_score_every_question_alike():
    a, b = _scores("1"), _scores("2")
    assert len(a) >= 100
    differ = [q[:60] for q in a if a[q] != b.get(q)]
    assert not differ, differ
