"""Round 10 (long questions): an alias the citizen said word for word names its variant.

A procedure whose display name carries a variant mark ("Cấp lại …": lại) is scored down
(`VARIANT_UNSAID`) when the citizen said none of its marks. An alias in the citizen's own
words ("mất thẻ bảo hiểm y tế" of the re-issue) names that variant without the mark: said word
for word, it counts as asking for it, as it already counted for an action word
(`ACTION_UNSAID`, "cắt hộ khẩu"). Real long questions say "tôi làm mất thẻ bảo hiểm y tế" and
got the first issue before the re-issue (docs/search.md, "Round 10: long questions").

Fast tests on a two-procedure catalogue written here; the slow one on the shipped catalogue
with a real train question (tests/data/search_real/train3.yaml) that failed before.
"""

from pathlib import Path

import pytest
import yaml

from centre.catalogue_import import import_catalogue
from centre.catalogue_schema import ensure_schema
from centre.db import connect
from centre.search import Searcher
from centre.search import weights as W

ROOT = Path(__file__).resolve().parent.parent
FIELDS = {"bhyt": {"vi": "Bảo hiểm y tế", "en": "Health insurance", "icon": "hands-heart", "sort": 10}}


def _proc(key: str, name: str, aliases: list[str]) -> dict:
    return {
        "key": key,
        "name": name,
        "official_name": f"Thủ tục {name.lower()}",
        "name_en": key,
        "field_id": "bhyt",
        "legal_basis": [{"title": "Luật Bảo hiểm y tế", "number": "25/2008/QH12"}],
        "applicants": "Người tham gia bảo hiểm y tế",
        "result": "Thẻ bảo hiểm y tế",
        "aliases": {"vi": aliases},
    }


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    d = tmp_path_factory.mktemp("catalogue")
    (d / "fields.yaml").write_text(yaml.safe_dump(FIELDS, allow_unicode=True), encoding="utf-8")
    procs = [
        _proc("t-cap-the", "Cấp thẻ bảo hiểm y tế", ["làm thẻ bảo hiểm y tế"]),
        _proc("t-cap-lai-the", "Cấp lại thẻ bảo hiểm y tế", ["mất thẻ bảo hiểm y tế"]),
    ]
    (d / "manual.yaml").write_text(
        yaml.safe_dump({"procedures": procs}, allow_unicode=True), encoding="utf-8"
    )
    conn = connect(None)
    ensure_schema(conn)
    import_catalogue(conn, d)
    yield Searcher(conn, min_score=0.46, limit=3)
    conn.close()


def _candidate(explained: dict, key: str) -> dict:
    return next(c for c in explained["candidates"] if c["key"] == key)


def test_the_alias_said_word_for_word_names_the_variant(searcher):
    e = searcher.explain("tôi làm mất thẻ bảo hiểm y tế")
    reissue = _candidate(e, "t-cap-lai-the")
    assert reissue["detail"]["kind"] == "alias"
    assert "variant_unsaid" not in reissue["detail"]["factors"], reissue
    assert e["candidates"][0]["key"] == "t-cap-lai-the"


def test_without_the_alias_the_variant_is_still_unsaid(searcher):
    # no mark and no alias of the re-issue said: the plain first issue is meant
    e = searcher.explain("tôi muốn có thẻ bảo hiểm y tế")
    reissue = _candidate(e, "t-cap-lai-the")
    assert reissue["detail"]["factors"].get("variant_unsaid") == W.VARIANT_UNSAID, reissue
    assert e["candidates"][0]["key"] == "t-cap-the"


def test_part_of_the_alias_is_not_saying_it(searcher):
    # "thẻ bảo hiểm y tế" without "mất": the alias is not said word for word
    e = searcher.explain("thủ tục thẻ bảo hiểm y tế")
    assert _candidate(e, "t-cap-lai-the")["detail"]["factors"].get("variant_unsaid") == W.VARIANT_UNSAID


@pytest.mark.slow
def test_a_real_long_question_about_a_lost_card_gets_the_reissue_first(project_config, shipped_catalogue):
    """real_train3: failed before round 10 (the first issue first, the re-issue second)."""
    items = yaml.safe_load((ROOT / "tests/data/search_real/train3.yaml").read_text(encoding="utf-8"))
    items = items["queries"] if isinstance(items, dict) else items
    q = next(it["q"] for it in items if it["q"].startswith("Tôi đang tiến hành chữa bệnh tại Bệnh viện K."))
    hits = Searcher.from_config(shipped_catalogue, project_config).search(q, 3).hits
    assert hits and hits[0].code == "1.002759", [h.code for h in hits]
