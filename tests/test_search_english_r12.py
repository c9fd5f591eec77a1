"""Round 12 (English questions of foreigners, issue 12): the catalogue's English words.

- English aliases (data/procedures/enrichment.yaml) for the procedures foreigners use at a ward,
  in the words their letters and titles use: a death *reported*, a signature *notarized*, a copy
  *authenticated*, a will *notarized*, an inheritance *divided*, a foreign guest *registered with
  the police*. Before the round such a title scored under the English threshold: no answer.

Fast tests on the data file; slow ones on the shipped catalogue with real train questions
(tests/data/search_round11/english_train.yaml) that got no answer before this round.
"""

from pathlib import Path

import pytest
import yaml

from centre.search import Searcher

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "tests/data/search_round11/english_train.yaml"


def _aliases(code: str) -> list[str]:
    data = yaml.safe_load((ROOT / "data/procedures/enrichment.yaml").read_text(encoding="utf-8"))
    return [a.lower() for a in data[code]["aliases"]]


def test_english_aliases_of_the_procedures_foreigners_use():
    assert "notarize a signature" in _aliases("2.000884")
    assert "authenticate a copy" in _aliases("2.000815")
    assert "report a death" in _aliases("1.000656")
    assert "notarize a will" in _aliases("2.001019")
    assert "distribute an inheritance" in _aliases("2.001406")


def _question(start: str) -> dict:
    items = yaml.safe_load(TRAIN.read_text(encoding="utf-8"))["queries"]
    return next(it for it in items if it["q"].startswith(start))


@pytest.mark.slow
@pytest.mark.parametrize("start", [
    "Troubles in notarizing signatures",
    "Reporting and Documenting a Death",
    "Does the inheritance of a savings book",
])
def test_real_titles_without_an_answer_before_round_12(project_config, shipped_catalogue, start):
    it = _question(start)
    hits = Searcher.from_config(shipped_catalogue, project_config).search(it["q"], 3).hits
    assert hits and (hits[0].code or hits[0].key) in it["expect"], [h.code or h.key for h in hits]
