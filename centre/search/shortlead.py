"""A short request's clear lead accepted below the threshold when the e5 ranker agrees (round
12, stage `short_lead`; docs/search.md "Round 12: short requests").

A short request ("e muốn hỏi đăng ký tạm trú cho con", "hàng xóm chặn lối đi chung") is refused
when its score is a little under the threshold, often with the right procedure first: a word or
two the phrase does not explain dilutes it. `Searcher._short_lead` accepts the first candidate
from `SHORT_LEAD_MIN_SHARE` of the threshold when it leads the next one that is not a variant of
it by `SHORT_LEAD`, its phrase holds at least `SHORT_LEAD_WORDS` request words as typed
(`exact_words`), and the e5 ranker, which runs for these requests, puts it first as well: the
words alone let out-of-scope requests through ("đăng ký hiến máu" → "đăng ký mẫu dấu": check
refusal 96.2 → 88.7 % without e5), the two rankers agreeing did not on the dev sets.
"""

from __future__ import annotations


def exact_words(tokens, phrase) -> int:
    """How many informative request words (the lexical stage's query tokens, not a lexicon
    reading's) the phrase holds as typed, folded. Pure."""
    if phrase is None:
        return 0
    words = phrase.tokset
    return len({q.folded for q in tokens if not q.stop and q.informative and not q.synonym and q.folded in words})
