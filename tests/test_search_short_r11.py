"""Round 11 of short kiosk requests (docs/search.md, "Round 11: short requests"): the best related
sibling is offered among the first three (centre/search/siblings.py `offered_sibling`, stage
`sibling_offer` of `Searcher._decide`) when it is too weak to go first.

Fast tests: the offer on hand-made rankings (where it goes, when it does not move). Slow tests
search the shipped catalogue end to end: train requests whose right answer was not among the first
three before round 11, and the stage switched off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from centre.search import Searcher
from centre.search.siblings import MARK_CLASSES, offered_sibling

ROOT = Path(__file__).resolve().parents[1]

_NAMES = {
    "kh": "Đăng ký kết hôn",
    "kh-lai": "Đăng ký lại kết hôn",
    "copy": "Cấp bản sao Trích lục hộ tịch",
    "ks": "Đăng ký khai sinh",
    "xe-lai": "Cấp lại giấy chứng nhận đăng ký phương tiện",
    "cc": "Cấp thẻ căn cước",
    "cc-lai": "Cấp lại thẻ căn cước",
}
_FIELDS = {"kh": "ho-tich", "kh-lai": "ho-tich", "copy": "ho-tich", "ks": "ho-tich", "xe-lai": "xe",
           "cc": "cc", "cc-lai": "cc"}


def _offer(ranked, accepted: int, mark: str = "lost"):
    classes = [c for c in MARK_CLASSES if c.name == mark]
    return offered_sibling(
        ranked, accepted, classes, lambda k: _NAMES[k].lower().split(), _FIELDS.get, window=8, runners=3
    )


def test_a_weak_sibling_is_offered_after_the_answers():
    # one answer: the re-registration (far below the first) comes second
    assert _offer([("kh", 0.9), ("ks", 0.5), ("xe-lai", 0.45), ("kh-lai", 0.3)], 1) == (3, 1)
    # two answers: it comes third
    assert _offer([("kh", 0.9), ("ks", 0.7), ("xe-lai", 0.45), ("kh-lai", 0.3)], 2) == (3, 2)


def test_three_answers_the_third_gives_way_never_the_first():
    assert _offer([("kh", 0.9), ("ks", 0.8), ("cc", 0.7), ("kh-lai", 0.3)], 3) == (3, 2)


def test_a_sibling_already_offered_does_not_move():
    assert _offer([("kh", 0.9), ("kh-lai", 0.5), ("ks", 0.45)], 2) is None


def test_an_unrelated_re_issue_is_not_offered():
    # the vessel's re-issue says "lại" but is no sibling of a marriage (field, no shared name pair)
    assert _offer([("kh", 0.9), ("ks", 0.5), ("xe-lai", 0.45)], 1) is None


def test_the_best_tier_is_offered():
    # a copy request: the copy of the extract (first tier of "copy") before any other
    assert _offer([("kh", 0.9), ("ks", 0.5), ("copy", 0.2)], 1, "copy") == (2, 1)


def test_no_mark_nothing_offered():
    assert offered_sibling([("kh", 0.9), ("kh-lai", 0.3)], 1, [], lambda k: [], lambda k: None,
                           window=8, runners=3) is None


def test_train14_set_is_well_formed():
    """tests/data/search_short/train14.yaml (round 11's train set of chatbot-style short requests),
    none repeating a request of the earlier short train sets."""
    from test_search_short_r10 import check_short_train_set

    check_short_train_set("train14.yaml", ("train10.yaml", "train12.yaml"),
                          {"colloquial", "spoken", "no_diacritics", "out_of_scope"}, 70)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # train sets: the right answer is not among the first three without the stage; the first
        # answer stays what it was. (Round 12's English aliases put three earlier English examples'
        # answers first without it; these two are every train request the stage still decides.)
        ("extract of our marriage record", {"2.000635"}),
        ("Hướng dẫn thủ tục sửa Căn cước công dân sai ngày sinh", {"1.012564", "1.014063"}),
    ],
)
def test_round11_the_sibling_is_offered_among_three(project_config, shipped_catalogue, text, expect):
    s = Searcher.from_config(shipped_catalogue, project_config)
    off = Searcher(shipped_catalogue, min_score=s.min_score, limit=3, features_off=("sibling_offer",))
    hits = [h.code or h.key for h in s.search(text, 3).hits]
    before = [h.code or h.key for h in off.search(text, 3).hits]
    assert hits[0] == before[0], (text, hits, before)
    assert expect & set(hits[:3]) and not expect & set(before[:3]), (text, hits, before)
