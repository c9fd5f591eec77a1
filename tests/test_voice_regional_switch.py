"""Round 12: the dead module switch voice.acoustic.REGIONAL_SOUNDS (nothing set it, and the
round-10 sound groups it chose were tried and not kept) is gone; the experiment stays reachable
only as the scorer's explicit `regional=True` (replays), and the shipped scorer uses tone groups."""

from __future__ import annotations

import numpy as np

from voice import acoustic
from voice.acoustic import AcousticScorer
from voice.ctc import SoundGroups, ToneGroups, Vocabulary
from voice.grammar import Phrase

VOCAB = Vocabulary(("<blank>", "<unk>", "▁đăng", "▁ký", "▁tạm", "▁trú", "▁vào", "▁dao", "▁sổ", "▁xổ"))


class _Model:
    def __init__(self):
        self.vocab = VOCAB
        self.groups = ToneGroups(VOCAB, len(VOCAB))


PHRASES = [Phrase("đăng ký tạm trú", "procedure", "residence"), Phrase("vào sổ đăng ký", "procedure", "book")]


def test_there_is_no_module_switch_for_regional_sounds():
    assert not hasattr(acoustic, "REGIONAL_SOUNDS")


def test_the_shipped_scorer_uses_tone_groups_and_a_replay_may_ask_for_sound_groups():
    shipped = AcousticScorer(_Model(), PHRASES)
    assert shipped.sounds is None
    regional = AcousticScorer(_Model(), PHRASES, regional=True)
    assert isinstance(regional.sounds, SoundGroups)
    # "vào" and "dao" are one sound group for the regional scorer, two tone groups for the shipped one
    assert regional.sequences[1] != shipped.sequences[1]
    state = regional.start()
    regional.advance_collapsed(state, np.zeros((3, len(_Model().groups.names)), dtype=np.float32))
    assert state["heard"][0].shape[1] == len(regional.sounds.names)
