"""Are a question file's pages new? Dedupe check used when collecting a round (blind7.yaml).

    python tests/data/search_real/check_pages_new.py blind7.yaml      # check a file, counts only
    printf '%s\\n' URL ... | python tests/data/search_real/check_pages_new.py - blind7.yaml

A page counts as already used when another file under tests/data/search*/ holds the same URL
(normalised: no #fragment, no trailing slash, http = https, no "www."), the same host + last path
segment (query kept except tracking keys; a 5+ digit article id stands for the segment), or the
same long slug (25+ characters) on any host. The file check also reports pages used twice inside
the file. It prints URLs and counts only, never questions, so it is safe to run on a blind file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

DATA = Path(__file__).resolve().parent.parent  # tests/data
SUFFIX = re.compile(r"(\.(html?|amp|ldo|epi|aspx|php|vn|chn))+$")
URL = re.compile(r"https?://[^\s'\"<>]+")
TRACKING = ("showcomment", "utm_", "fbclid", "lang=")


def _segments(url: str) -> list[str]:
    return [s for s in urlsplit(url.strip()).path.split("/") if s and s.lower() != "amp"]


def norm(url: str) -> str:
    return url.strip().split("#")[0].rstrip("/").replace("http://", "https://").replace("://www.", "://")


def key(url: str) -> tuple[str, str]:
    parts = urlsplit(url.strip().split("#")[0])
    host = parts.netloc.lower().removeprefix("www.").removeprefix("m.")
    segs = _segments(url)
    last = SUFFIX.sub("", segs[-1].lower()) if segs else ""
    ids = re.findall(r"\d{5,}", last)
    if ids:  # news sites: the article id decides
        last = "id" + max(ids, key=len)
    query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith(TRACKING))
    return host, last + ("?" + query if query else "")


def slug(url: str) -> str:
    segs = _segments(url)
    last = SUFFIX.sub("", segs[-1].lower()) if segs else ""
    return last if len(last) >= 25 else ""


def used_elsewhere(mine: str) -> set[str]:
    urls: set[str] = set()
    for path in DATA.glob("search*/**/*"):
        if path.is_file() and path.name != mine and path.suffix in {".yaml", ".yml", ".json", ".jsonl"}:
            urls |= set(URL.findall(path.read_text(encoding="utf-8")))
    return urls


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    from_stdin = argv[0] == "-"
    mine = Path(argv[1] if from_stdin else argv[0]).name
    others = used_elsewhere(mine)
    full, keys = {norm(u) for u in others}, {key(u) for u in others}
    slugs = {slug(u) for u in others} - {""}
    if from_stdin:
        urls = [line.strip() for line in sys.stdin if line.strip()]
    else:
        text = (DATA / "search_real" / mine).read_text(encoding="utf-8")
        urls = re.findall(r"^\s*source:\s*['\"]?(\S+?)['\"]?\s*$", text, re.M)
    shared, seen, twice = 0, set(), 0
    for url in urls:
        hit = norm(url) in full or key(url) in keys or slug(url) in slugs
        shared += hit
        twice += key(url) in seen
        seen.add(key(url))
        if from_stdin or hit:
            print("USED " if hit else "new  ", url)
    print(f"{len(urls)} pages, {shared} already used elsewhere, {twice} used twice in the file")
    return 1 if shared or twice else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
