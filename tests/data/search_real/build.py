"""Split a pool of collected real questions into train/dev/blind (see README.md).

Usage: python tests/data/search_real/build.py POOL.yaml [POOL2.yaml ...]

A pool entry has `q`, `source` and either `expect` (list of codes/keys) or
`out_of_scope: true` + `refer_to`; optional `voice` (citizen | site; pool files named *site* default to site).
The kind is derived from the text; the split is by source page with a fixed seed,
so questions from one page never straddle two splits; the split of a page\nis a stable hash of its URL, so adding entries never moves earlier ones.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path
from urllib.parse import urldefrag

import yaml

HERE = Path(__file__).resolve().parent
SEED = 20261206
SHARES = (("train", 0.4), ("dev", 0.3), ("blind", 0.3))
VI_MARKS = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I)
EN_WORDS = {"the", "is", "to", "my", "i", "how", "what", "do", "does", "in", "of", "and", "for", "or",
            "should", "are", "it", "when", "where", "you", "we", "a", "an", "be", "with", "have"}
VI_BARE_WORDS = {"toi", "cho", "hoi", "khong", "ko", "lam", "duoc", "nhu", "nao", "gi", "giay", "thu",
                 "tuc", "minh", "em", "anh", "chi", "dau", "xin", "ban", "con", "cua", "va", "ve"}
LONG_WORDS = 30

HEADER = """\
# Real citizens' questions for the procedure search: {name} split ({count} entries).
# Collected from public Q&A pages (see README.md); each q is the asker's text, trimmed
# only of greetings/signatures; `source` is the page it came from.
# Keys: q, expect (codes or manual keys that are correct answers; null = no ward
# procedure), out_of_scope + refer_to (who handles it instead), kind
# (long | short | unaccented | english | out_of_scope), voice (citizen = the asker's
# words; site = a question written by the site: a page title or an FAQ item), source.
{warning}"""
BLIND_WARNING = "# BLIND SET: whoever tunes the search must not read this file.\n"


def kind_of(entry: dict) -> str:
    if entry.get("out_of_scope"):
        return "out_of_scope"
    text = entry["q"]
    tokens = text.lower().split()
    marked = sum(bool(VI_MARKS.search(t)) for t in tokens)
    words = re.findall(r"[a-z]+", text.lower())
    english = sum(w in EN_WORDS for w in words)
    if english >= 3 and marked * 10 < len(tokens):  # English, maybe with a Vietnamese place name
        return "english"
    if not marked:
        bare_vietnamese = sum(w in VI_BARE_WORDS for w in words)
        return "english" if english > bare_vietnamese else "unaccented"
    return "long" if len(tokens) >= LONG_WORDS else "short"


def normalise(entry: dict) -> dict:
    out = {"q": " ".join(entry["q"].split())}
    if entry.get("out_of_scope"):
        out["expect"] = None
        out["out_of_scope"] = True
        out["refer_to"] = entry["refer_to"]
    else:
        out["expect"] = _Flow(str(code) for code in entry["expect"])
    out["kind"] = kind_of(entry)
    out["voice"] = entry.get("voice", "citizen")
    out["source"] = entry["source"]
    return out


def group_key(url: str) -> str:
    return urldefrag(url)[0].rstrip("/")


def _hash(page: str) -> int:
    return int(hashlib.sha256(f"{SEED}:{page}".encode()).hexdigest(), 16)


def existing_assignment() -> dict[str, str]:
    """page -> split, from the files already written: a page never moves once assigned."""
    pages: dict[str, str] = {}
    for name, _ in SHARES:
        path = HERE / f"{name}.yaml"
        if path.exists():
            for e in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
                pages[group_key(e["source"])] = name
    return pages


def split(entries: list[dict]) -> dict[str, list[dict]]:
    """Keep earlier pages where they are; give each new page (in hash order) to the split
    furthest below its share of entries."""
    groups: dict[str, list[dict]] = {}
    for e in entries:
        groups.setdefault(group_key(e["source"]), []).append(e)
    assigned = existing_assignment()
    result: dict[str, list[dict]] = {name: [] for name, _ in SHARES}
    for page, members in groups.items():
        if page in assigned:
            result[assigned[page]].extend(members)
    total = len(entries)
    for page in sorted((p for p in groups if p not in assigned), key=_hash):
        name = max(result, key=lambda n: dict(SHARES)[n] * total - len(result[n]))
        result[name].extend(groups[page])
    return result


class _Flow(list):
    """A list dumped on one line: expect: ['1.001193', '2.000635']."""


yaml.SafeDumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)


def dump(name: str, entries: list[dict]) -> None:
    warning = BLIND_WARNING if name == "blind" else ""
    body = yaml.safe_dump(entries, allow_unicode=True, sort_keys=False, width=100)
    text = HEADER.format(name=name, count=len(entries), warning=warning) + "\n" + body
    (HERE / f"{name}.yaml").write_text(text, encoding="utf-8")


def main(paths: list[str]) -> None:
    pool: list[dict] = []
    for path in paths:
        voice = "site" if "site" in Path(path).name else "citizen"
        for e in yaml.safe_load(Path(path).read_text(encoding="utf-8")):
            e.setdefault("voice", voice)
            pool.append(normalise(e))
    seen: set[str] = set()
    unique = []
    for e in pool:
        if e["q"] not in seen:
            seen.add(e["q"])
            unique.append(e)
    for name, entries in split(unique).items():
        dump(name, entries)
        print(name, len(entries))


if __name__ == "__main__":
    main(sys.argv[1:])
