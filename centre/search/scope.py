"""Out of scope: when an answer the ranking found gives way to the referral table.

The referral table (`referral.py`, `data/referrals.yaml`) names needs the ward centre does not
handle (passports, lawsuits, taxes, labour disputes…). `Searcher._decide` asks `vetoes` once
the threshold and the long-question rule have chosen an answer (docs/search.md, "Decision"):

- an answer accepted only by the long-question lead (below the threshold) gives way to any
  referral need the question names, in its request or in its story: the weakest acceptance yields
  to explicit evidence of an outside need. Not to a `mention` (round 11), in the request or the
  story: a document or a place a long question names in passing ("lĩnh lương hưu qua tài khoản
  ngân hàng", "nằm viện") is part of its situation, not a need, as it earns no "see also" line
  beside an answer; the lead is the question's own evidence (a short request's weak answer still
  gives way to a mention, by the next rule);
- an answer scoring below `REFERRAL_VETO` gives way to a referral the request itself names
  unless the procedure's display name holds the referral phrase's words and one of its names
  or aliases says the phrase word for word, in order ("mất hộ chiếu" is a procedure of the
  catalogue; "thẻ tạm trú" is not said by "Khai báo tạm trú cho người nước ngoài" although
  all its words occur there);
- an answer of any score gives way, on the same name test, to a referral the request names
  when every word of the request its phrase explains is a word of the referral phrase
  (`evidence_within`, round 5): the answer was found only by the referral's own words
  ("khiếu nại công ty" reaching "khiếu nại công an phường" by "khiếu nại công"), while the
  referral says more of the request. Not for a long question whose story names the answer
  at least as well as its request does (the story is then evidence of its own);
- an answer of any score to a long question gives way, on the same name test, to a need the
  asking sentence names (a `match` phrase, not a `mention`) when the story found the answer
  more than the asking sentence did (`story_led`, round 9): the story tells the situation in
  the ward's words (a birth, a plot of land, a household), the question asks another office
  ("… tôi có thể kiện ra Tòa án không?", "… khi công ty không trả tiền lương").

Everything here is pure except the per-index cache of each procedure's phrases.
"""

from __future__ import annotations

import weakref

from centre.search.lexical import analyze, tone_key
from centre.search.weights import REFERRAL_STORY_SHARE, REFERRAL_VETO

# _Index → {procedure key → its phrases (names, official names, heads, English names, aliases)},
# and {(key, toned) → (display-name words, phrases)}, folded or with tones: built per key on
# first use (the veto asks about a few procedures; a catalogue of 5,000 is not walked twice)
_BY_KEY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FORMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _names(idx, key: str, toned: bool) -> tuple[frozenset, tuple[tuple[str, ...], ...]]:
    forms = _FORMS.setdefault(idx, {})
    got = forms.get((key, toned))
    if got is None:
        by_key = _BY_KEY.get(idx)
        if by_key is None:
            by_key = {}
            for ph in idx.phrases.values():
                by_key.setdefault(ph.key, []).append(ph)
            _BY_KEY[idx] = by_key
        proc = idx.procs.get(key)
        pairs = analyze(proc["name"] or "") if proc is not None else []
        words = frozenset(tone_key(a) if toned else f for a, f in pairs)
        # a phrase written without diacritics (English) holds no Vietnamese tones
        phrases = tuple(
            tuple(tone_key(a) for a in ph.plain) if toned else tuple(ph.folded)
            for ph in by_key.get(key, ())
            if ph.accented or not toned
        )
        got = forms[(key, toned)] = (words, phrases)
    return got


def _holds_run(words: tuple[str, ...], run: tuple[str, ...]) -> bool:
    n = len(run)
    return n > 0 and any(words[i : i + n] == run for i in range(len(words) - n + 1))


def names_say(idx, key: str, phrase: str) -> bool:
    """Whether procedure `key`'s display name holds every word of `phrase` and one of its names
    or aliases says it word for word, in order. Both: an alias alone ("lost passport", "tài
    khoản ngân hàng") is no proof. A phrase with diacritics (the citizen typed them) is compared
    with its tones, as the referral table matched it ("thuế" is no "thuê" of "tiền thuê nhà");
    one without, folded as the index folds ("bhxh" is "bảo hiểm xã hội")."""
    pairs = analyze(phrase)
    toned = any(a != f for a, f in pairs)
    run = tuple(tone_key(a) if toned else f for a, f in pairs)
    words, phrases = _names(idx, key, toned)
    return set(run) <= words and any(_holds_run(p, run) for p in phrases)


def evidence_within(tokens, phrase, referral_phrase: str) -> bool:
    """Whether every word of the request (`tokens`, the lexical stage's query tokens) that the
    answer's best phrase explains is a word of `referral_phrase`: the answer rests on the
    referral's own words only. False when the phrase explains no word of the request (its
    evidence is the story or the procedure's text). Folded comparison: the referral phrase was
    matched with tones already; this only asks which request words the phrase shares. Pure."""
    if phrase is None:
        return False
    words = phrase.tokset
    explained = {
        q.folded
        for q in tokens
        if not q.stop and q.informative and (q.folded in words or not words.isdisjoint(q.variants))
    }
    return bool(explained) and explained <= {f for _, f in analyze(referral_phrase)}


def evidence_outside(tokens, phrase, referral_phrase: str) -> bool:
    """Whether the answer's best phrase explains a word of the request (`tokens`) that is not a
    word of `referral_phrase`: the answer rests on evidence of its own beside the thing the
    referral names ("công chứng học bạ": the certification found by "công chứng", the school
    record a `mention`). Folded comparison, as `evidence_within`. Pure (round 11)."""
    if phrase is None:
        return False
    words = phrase.tokset
    outside = {f for _, f in analyze(referral_phrase)}
    return any(
        not q.stop and q.informative and q.folded not in outside
        and (q.folded in words or not words.isdisjoint(q.variants))
        for q in tokens
    )


def story_led(has_story: bool, need: bool, lexical: float, context: float) -> bool:
    """Whether an answer to a long question (`has_story`: its text was cut into a request and a
    story) rests on the story rather than the asking sentence, which names a need of the
    referral table (`need`: a `match` phrase, not a `mention` said in passing): the answer's
    phrase score of the request (`lexical`) is below REFERRAL_STORY_SHARE of the whole
    question's (`context`). Pure."""
    return has_story and need and lexical < REFERRAL_STORY_SHARE * context


def vetoes(
    rule: str, best: float, asked: bool, said_by_names: bool, within: bool = False, story: bool = False,
    need: bool = True,
) -> bool:
    """Whether an accepted answer gives way to the referral the question names (pure).

    `rule`: how it was accepted (threshold | long_lead); `best`: its score; `asked`: the
    referral is named by the request itself (not only the story); `said_by_names`: the best
    procedure's names say the referral phrase (`names_say`); `within`: the answer's evidence
    in the request is the referral phrase's words (`evidence_within`), whatever its score;
    `story`: a long question's answer rests on its story while its request names a need
    (`story_led`), whatever its score; `need`: the referral phrase is a need of the table (a
    `match` phrase), not a `mention` (`Referral.see_also`): a mention does not overturn the
    long-question lead (round 11)."""
    if rule == "long_lead":
        return need
    return asked and (best < REFERRAL_VETO or within or story) and not said_by_names
