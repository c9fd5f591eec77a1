"""Round 6 of issue 12's search quality: English requests of foreigners living in a ward.

- the catalogue's English side (data/procedures/enrichment.yaml name_en and English aliases,
  manual.yaml `aliases.en`) says the plain words English speakers use (single status, no
  impediment, notarised copy, maternity pay…), each alias naming one procedure;
- `lexicon.yaml: english_map` maps everyday English to the words of those English names (red /
  pink book, spelled wrong, old people, visitors…), each target saying words the catalogue's
  English holds;
- English question frames ("what documents do I need…") are filler (`words.yaml:
  filler_phrases`), so the procedures about "papers and documents" do not take the request;
- English out-of-scope needs get their referral.

The requests below were written for this test (not taken from a query set); the slow-free
checks read the shipped files, the search ones use the shipped catalogue in memory.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from search_helpers import shipped_catalogue_db

from centre.search import Searcher, referral_for
from centre.search.lexical import analyze
from centre.search.model import matched_words
from centre.text import fold

ROOT = Path(__file__).resolve().parent.parent
ENRICHMENT = ROOT / "data" / "procedures" / "enrichment.yaml"
MANUAL = ROOT / "data" / "procedures" / "manual.yaml"
LEXICON = ROOT / "centre" / "search" / "lexicon.yaml"


def _english_aliases() -> dict[str, list[str]]:
    """code or key → English aliases of the shipped catalogue (enrichment and manual)."""
    out: dict[str, list[str]] = defaultdict(list)
    for code, entry in yaml.safe_load(ENRICHMENT.read_text(encoding="utf-8")).items():
        out[code] += [a for a in entry["aliases"] if _is_english(a)]
    for p in yaml.safe_load(MANUAL.read_text(encoding="utf-8"))["procedures"]:
        out[p["key"]] += list((p.get("aliases") or {}).get("en") or [])
    return out


def _is_english(alias: str) -> bool:
    from centre.catalogue_import import _guess_lang

    return _guess_lang(alias) == "en"


def _names_en() -> dict[str, str]:
    names = {c: e["name_en"] for c, e in yaml.safe_load(ENRICHMENT.read_text(encoding="utf-8")).items()}
    names.update({p["key"]: p["name_en"] for p in yaml.safe_load(MANUAL.read_text(encoding="utf-8"))["procedures"]})
    return names


def test_english_aliases_name_one_procedure_each():
    """No English alias (folded) is shared by procedures with different English names (the
    portal crawl's duplicate pages share everything, their names too)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for code, aliases in _english_aliases().items():
        for a in aliases:
            owners[fold(a)].add(code)
    names = _names_en()
    shared = {a: sorted(c) for a, c in owners.items() if len({names[x] for x in c}) > 1}
    assert not shared, shared


def test_plain_english_terms_are_in_the_catalogue():
    """The words a foreigner uses for the main civil-status, certification and residence needs
    are somewhere in the catalogue's English (names or aliases)."""
    english = " ; ".join(
        [*(a for al in _english_aliases().values() for a in al), *_names_en().values()]).lower()
    for term in ("single status", "no impediment", "certified copy", "authentication of a signature",
                 "maternity pay", "sick pay", "construction permit", "certificate of residence",
                 "landlord", "overnight guests", "testament"):
        assert term in english, term


def test_english_map_targets_are_catalogue_words():
    """Every English target of the round-6 English map says words of the catalogue's English:
    a target no name holds would be a reading that can never match."""
    data = yaml.safe_load(LEXICON.read_text(encoding="utf-8"))
    english = " ".join(
        [*(a for al in _english_aliases().values() for a in al), *_names_en().values()]).lower()
    vocab = {f for _, f in analyze(english)}
    missing = {}
    for key, targets in (data.get("english_map") or {}).items():
        for t in targets:
            words = [f for a, f in analyze(str(t)) if a.isascii()]
            if words and not any(w in vocab for w in words):
                missing[key] = t
    assert not missing, missing


def test_english_question_frames_are_filler():
    assert matched_words("what documents do I need to register a birth") == "do i need to register a birth"
    assert "papers" not in matched_words("Which papers do I need for a marriage with a foreigner?")
    # the words stay where they name something ("certify my documents")
    assert "documents" in matched_words("certify copies of my documents")


@pytest.fixture(scope="module")
def searcher(project_config):
    c = shipped_catalogue_db(project_config)
    yield Searcher(c, min_score=project_config.search.min_score, limit=3)
    c.close()


# plain English requests written for this test → acceptable answers (any of them in the top 3)
REQUESTS = [
    ("What documents do I need to register my baby's birth?", {"1.001193", "2.000528"}),
    ("My wife is Vietnamese and I am French, how do we register our baby's birth?", {"2.000528"}),
    ("certificate of no impediment to marriage", {"1.004873"}),
    ("I'm British and want to marry my Vietnamese fiancee", {"2.000806"}),
    ("my grandmother passed away at home, how do we register her death", {"1.000656", "m-lien-thong-khai-tu"}),
    ("notarised copies of my university diploma", {"2.000815"}),
    ("witness my signature on a letter", {"2.000884"}),
    ("temporary residence for a foreigner", {"1.000253"}),
    ("relatives visiting us for a week, do we notify anyone", {"2.001159"}),
    ("permit to build a house", {"1.013225"}),
    ("apply for a red book for my land", {"1.013978"}),
    ("maternity pay after my wife gave birth", {"2.000693"}),
    ("sick pay from social insurance", {"1.001667"}),
    ("my daughter's name is spelled wrong on her birth certificate", {"1.004859", "2.000748"}),
]


@pytest.mark.parametrize(("text", "codes"), REQUESTS)
def test_plain_english_request_reaches_its_procedure(searcher, text, codes):
    got = [h.code or h.key for h in searcher.search(text, 3).hits]
    assert codes & set(got[:3]), (text, got)


@pytest.mark.parametrize(("text", "office"), [
    ("how can I extend my tourist visa", "passport"),
    ("I need a work permit for my new job", "work_permit"),
    ("exchange my foreign driving licence", "driving_licence"),
    ("get a personal tax code", "tax"),
    ("how do I get a motorbike licence", "driving_licence"),
    ("certificate of good conduct for my employer", "criminal_record"),
])
def test_english_out_of_scope_request_gets_its_referral(searcher, text, office):
    r = searcher.search(text, 3)
    assert not r.hits, (text, [h.code for h in r.hits])
    ref = referral_for(text)
    assert ref is not None and ref.id == office, (text, ref)


def test_a_baby_born_in_hospital_is_no_hospital_referral(searcher):
    """English "hospital" alone names no need of its own (data/referrals.yaml, round 6)."""
    text = "our baby was born in hospital last week, where do we get the birth certificate"
    assert referral_for(text) is None or referral_for(text).id != "hospital"
    assert referral_for("where is the nearest hospital").id == "hospital"
