"""Round 12 (long questions, long engineer): a run-on letter without "?" is cut into clauses.

A crawler hands some letters over lower-cased and without their "." and "?" (real_blind14): the
whole letter was then one sentence, read as the request with no story. `analysis.punctuate` (stage
`runon`) cuts each sentence of RUNON_WORDS words or more of a letter without "?" before an opener
("cho hỏi", "xin cảm ơn") and after a closer ("được không", "ở đâu"), which then ends with "?", so
`focus` finds the asking sentence again. Fast tests only (pure functions and the stage switch).
"""

from __future__ import annotations

from centre.search import STAGES
from centre.search.analysis import focus, punctuate, sentences, words_of
from centre.search.weights import RUNON_WORDS

FLAT = ("hiện tôi có hộ khẩu thường trú tại thành phố lào cai, hộ khẩu thường trú của vợ tôi ở phú thọ, con trai "
        "tôi 6 tuổi ở cùng ông bà nội bộ công an cho tôi hỏi nếu tôi muốn nhập khẩu cho con tôi vào hộ khẩu của "
        "cô ruột tôi có được không nếu được tôi cần làm những thủ tục gì xin cảm ơn")


def test_runon_is_a_stage():
    assert "runon" in STAGES


def test_a_flat_letter_is_cut_at_its_openers_and_closers():
    parts = sentences(punctuate(FLAT))
    assert parts[0].endswith("phú thọ, con trai tôi 6 tuổi ở cùng ông bà nội bộ công an.")
    assert parts[1].startswith("cho tôi hỏi") and parts[1].endswith("có được không?")
    assert parts[-1] == "xin cảm ơn"


def test_only_the_punctuation_changes():
    assert words_of(punctuate(FLAT)) == words_of(FLAT)


def test_focus_finds_the_asking_sentence_of_a_flat_letter():
    f = focus(FLAT)
    assert "nhập khẩu" in f.request and "lào cai" in f.context
    assert f.request != FLAT
    off = focus(FLAT, runon=False)  # the stage switched off: the whole letter is the request
    assert off.request == FLAT and off.context == ""


def test_unaccented_letter_uses_folded_phrases():
    text = ("toi sinh nam 1990 o ha noi nay chuyen vao sai gon lam viec va thue nha o quan 3 da duoc hai nam "
            "xin hoi toi muon dang ky tam tru thi nop ho so o dau can giay to gi xin cam on")
    parts = sentences(punctuate(text))
    assert any(p.startswith("xin hoi") and p.endswith("o dau?") for p in parts)


def test_a_letter_with_a_question_mark_or_a_short_one_is_left_as_it_is():
    asked = FLAT.replace("có được không", "có được không?")
    assert punctuate(asked) == asked
    short = " ".join(FLAT.split()[: RUNON_WORDS - 1])
    assert punctuate(short) == short


def test_openers_are_not_cut_twice():
    text = ("mẹ tôi mất năm ngoái ở quê nhà gia đình tôi đã làm đám tang xong và chôn cất ở nghĩa trang của xã "
            "xin cho biết thủ tục khai tử cho mẹ tôi làm ở đâu")
    parts = sentences(punctuate(text))
    assert any(p.startswith("xin cho biết") for p in parts)
    assert not any(p == "xin." for p in parts)
