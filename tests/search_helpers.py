"""Databases for the search tests: the tiny fixture catalogue, or the shipped one (in memory)."""

from __future__ import annotations

from pathlib import Path

from centre.catalogue import ensure_catalogue
from centre.catalogue_import import import_catalogue
from centre.catalogue_schema import ensure_schema
from centre.db import connect

SEARCH_FIXTURE = Path(__file__).parent / "data" / "search_fixture"


def fixture_catalogue_db():
    """An in-memory centre database holding tests/data/search_fixture's procedures."""
    c = connect(None)
    ensure_schema(c)
    import_catalogue(c, SEARCH_FIXTURE)
    return c


def train_question(name: str, start: str) -> str:
    """The question of train set `tests/data/<name>` that starts with `start` (tests name train
    questions by their opening words; dev and blind sets are never read by tests)."""
    import yaml

    data = yaml.safe_load((SEARCH_FIXTURE.parent / name).read_text(encoding="utf-8"))
    items = data["queries"] if isinstance(data, dict) else data
    return next(it["q"] for it in items if it["q"].startswith(start))


def shipped_catalogue_db(cfg):
    """An in-memory centre database holding the shipped catalogue."""
    c = connect(None)
    ensure_catalogue(c, cfg)
    return c


def shipped_config_file(tmp_path: Path) -> Path:
    """The shipped config.yaml with its database in `tmp_path` (the catalogue from the project),
    for the `kiosk search` command line."""
    root = Path(__file__).resolve().parent.parent
    text = (root / "config.yaml").read_text(encoding="utf-8")
    for old, new in (
        ('data_dir: "var"', f'data_dir: "{tmp_path}/var"'),
        ('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"'),
        ('catalogue: "data/procedures"', f'catalogue: "{root}/data/procedures"'),
    ):
        assert old in text, f"config.yaml no longer has {old!r}: update tests/search_helpers.py"
        text = text.replace(old, new)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def folded_words(text: str) -> tuple[str, ...]:
    """A text's words, folded (no tones), as the referral table matches them."""
    from centre.search.referral import _words
    from centre.text import fold

    return tuple(fold(w) for w in _words(text))


def phrases_the_catalogue_says(conn, phrases) -> list[str]:
    """The phrases (of a referral table's entries) that a catalogue procedure's name, official
    name or alias says word for word, folded; a one-word accented phrase is left out (it matches
    with its tones only)."""
    from centre.text import fold

    texts = [r[0] for r in conn.execute("SELECT name FROM procedures UNION ALL SELECT official_name FROM procedures")]
    texts += [r[0] for r in conn.execute("SELECT alias FROM aliases")]
    runs = [folded_words(t or "") for t in texts]
    said = []
    for p in phrases:
        w = folded_words(p)
        if len(w) < 2 and fold(p) != p:
            continue
        if any(r[i : i + len(w)] == w for r in runs for i in range(len(r) - len(w) + 1)):
            said.append(p)
    return said


def imported_procedure_ids() -> set[str]:
    """What a query set may expect: the national codes the kiosk imports (crawl duplicates are
    not) and the manual procedures' keys (data/procedures)."""
    import json

    import yaml

    procs = Path(__file__).resolve().parents[1] / "data" / "procedures"
    ids = {
        rec["code"]
        for line in (procs / "national.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip() and not (rec := json.loads(line)).get("crawl_duplicate_of")
    }
    return ids | {p["key"] for p in yaml.safe_load((procs / "manual.yaml").read_text(encoding="utf-8"))["procedures"]}
