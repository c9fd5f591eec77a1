"""Near-copy check for requests-vi-blind5.yaml, written with it: prints, per other set, only the
indices (requests, then out of scope) of blind5's sentences whose difflib ratio against any `say`
of that set is >= 0.8 after lower-casing and stripping punctuation; never prints a sentence.
Run from the project root: .venv/bin/python tests/data/voice/near_copy_check_blind5.py"""

from __future__ import annotations

import difflib
import re
import unicodedata
from pathlib import Path

import yaml

HERE = Path(__file__).parent
MINE = HERE / "requests-vi-blind5.yaml"
LIMIT = 0.8


def norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def says(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [norm(e["say"]) for key in ("requests", "out_of_scope") for e in (data.get(key) or [])
            if isinstance(e.get("say"), str)]


def clashes(mine: list[str], seen: list[str]) -> list[int]:
    matcher = difflib.SequenceMatcher()
    out = []
    for i, s in enumerate(mine):
        matcher.set_seq2(s)
        for o in seen:
            matcher.set_seq1(o)
            if matcher.real_quick_ratio() >= LIMIT and matcher.ratio() >= LIMIT:
                out.append(i)
                break
    return out


def main() -> int:
    mine = says(MINE)
    total = 0
    for other in sorted(HERE.glob("*.yaml")):
        if other == MINE:
            continue
        found = clashes(mine, says(other))
        total += len(found)
        print(f"{other.name}: {len(found)} close: {found}")
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main())
