"""Copy the search's TRAIN question sets into the file the voice domain LM ships with.

The domain LM (voice/lm.py) reads, besides the catalogue and the word lists, how citizens
put their questions: the search's *train* question sets (`TRAIN_SETS`; never a dev or blind
set, never the voice request sets), their English questions left out. Product code must not
read tests/ (a centre's install may ship without it), so this script writes those questions,
in the same order, to `voice/phrases/vi-lm-questions.yaml`, which voice/lm.py reads.
tests/test_voice_lm.py fails when the file is not what this script would write now.

Run: `.venv/bin/python bench/voice_lm_questions.py [--check]` (`--check`: compare with the
shipped file instead of writing it; exit 1 if they differ). Fast (a second); no figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: the search's *train* question sets (their headers say so); dev and blind sets never go in
TRAIN_SETS = (
    "tests/data/search_real/train.yaml",
    "tests/data/search_real/train2.yaml",
    "tests/data/search_round3/train.yaml",
)
OUT = "voice/phrases/vi-lm-questions.yaml"
HEADER = (
    "# Questions of the search's TRAIN sets ({sets}), English ones left out: the voice domain LM's\n"
    "# everyday wording (voice/lm.py). Written by bench/voice_lm_questions.py: do not edit by hand;\n"
    "# tests/test_voice_lm.py checks it is up to date with those sets.\n"
)


def question_texts(data) -> Iterable[str]:
    """The questions of one set (not the English ones)."""
    entries = data.get("queries", []) if isinstance(data, dict) else data or []
    for e in entries:
        if isinstance(e, dict) and e.get("q") and e.get("kind") != "english":
            yield str(e["q"])


def questions(root: Path = ROOT) -> list[str]:
    """Every train set's questions, set after set, in the sets' order."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: list[str] = []
    for name in TRAIN_SETS:
        out.extend(question_texts(yaml.load((root / name).read_text(encoding="utf-8"), Loader=loader)))
    return out


def render(root: Path = ROOT) -> str:
    """The file's text as this script writes it."""
    body = yaml.safe_dump(questions(root), allow_unicode=True, default_flow_style=False, width=10**6)
    return HEADER.format(sets=", ".join(TRAIN_SETS)) + body


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--check", action="store_true", help="compare with the shipped file; exit 1 if it differs"
    )
    args = ap.parse_args(argv)
    text, path = render(), ROOT / OUT
    if args.check:
        same = path.is_file() and path.read_text(encoding="utf-8") == text
        print(f"{OUT}: {'up to date' if same else 'OUT OF DATE: run bench/voice_lm_questions.py'}")
        return 0 if same else 1
    path.write_text(text, encoding="utf-8")
    print(f"{OUT}: {len(questions())} questions from {len(TRAIN_SETS)} train sets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
