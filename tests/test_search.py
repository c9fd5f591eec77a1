"""centre.search: citizens' words reach the right procedure; nonsense and attacks get "no match".

Issue 3, item 6 and "Measured, and how". The catalogue is imported with the catalogue
module's own import (`ensure_catalogue`), exactly as the kiosk does.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from centre.catalogue import ensure_catalogue
from centre.db import connect, transaction
from centre.search import (
    MAX_QUERY_CHARS,
    Searcher,
    SearchResult,
    analyze,
    folded_key,
    has_diacritics,
    is_vietnamese_syllable,
    rebuild_index,
    shared_searcher,
    tone_key,
)

DEV = Path(__file__).parent / "data" / "search" / "dev.yaml"
CHECK = Path(__file__).parent / "data" / "search" / "check.yaml"
SPOKEN = Path(__file__).parent / "data" / "search" / "spoken.yaml"
TARGET_TOP1, TARGET_TOP3, TARGET_OOS = 0.92, 0.98, 0.85


@pytest.fixture(scope="module")
def conn(project_config):
    c = connect(None)
    ensure_catalogue(c, project_config)
    yield c
    c.close()


@pytest.fixture
def fresh(conn):
    """A private copy of the imported catalogue database (sqlite backup: no second import)."""
    def make(path=None):
        c = connect(path)
        conn.backup(c)
        return c

    return make


@pytest.fixture(scope="module")
def searcher(conn, project_config) -> Searcher:
    return Searcher.from_config(conn, project_config)


def dev_queries(path: Path = DEV) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["queries"]


def first(searcher: Searcher, text: str) -> str | None:
    r = searcher.search(text)
    return (r.hits[0].code or r.hits[0].key) if r.hits else None


def evaluate(searcher: Searcher, path: Path = DEV) -> dict:
    """Top-1 / top-3 accuracy on in-scope queries and rejection of out-of-scope ones."""
    top1 = top3 = n_in = rejected = n_out = 0
    for item in dev_queries(path):
        ids = [h.code or h.key for h in searcher.search(item["q"]).hits]
        if item["expect"] is None:
            n_out += 1
            rejected += not ids
        else:
            n_in += 1
            top1 += bool(ids) and ids[0] in item["expect"]
            top3 += any(i in item["expect"] for i in ids[:3])
    return {"top1": top1 / n_in, "top3": top3 / n_in, "oos_rejected": rejected / n_out}


# ------------------------------------------------------------------ the development set


def test_dev_set_is_big_and_varied(conn):
    items = dev_queries()
    assert len(items) >= 160
    styles = {i["style"] for i in items}
    assert {"formal", "colloquial", "nodiac", "typo", "spoken", "english", "oos"} <= styles
    assert sum(i["expect"] is None for i in items) >= 25
    known = {r[0] for r in conn.execute("SELECT code FROM procedures WHERE code != ''")}
    known |= {r[0] for r in conn.execute("SELECT key FROM procedures")}
    missing = {c for i in items for c in (i["expect"] or []) if c not in known}
    assert not missing, f"dev set expects procedures the catalogue lacks: {sorted(missing)}"
    assert len({i["q"] for i in items}) == len(items), "duplicate queries"


def test_dev_set_meets_the_targets(searcher):
    """Regression guard: the figures the issue sets must hold (top-1 92 %, top-3 98 %, OOS 85 %)."""
    m = evaluate(searcher)
    assert m["top1"] >= TARGET_TOP1, m
    assert m["top3"] >= TARGET_TOP3, m
    assert m["oos_rejected"] >= TARGET_OOS, m


def test_check_set_does_not_regress(searcher):
    """The later check set (long spoken questions, near-domain out-of-scope): floors below its
    figures when last measured (top-1 0.925, top-3 0.94, out-of-scope 0.925)."""
    m = evaluate(searcher, CHECK)
    assert m["top1"] >= 0.89 and m["top3"] >= 0.91 and m["oos_rejected"] >= 0.88, m


def test_spoken_set_does_not_regress(searcher):
    """The fifth set (62 spoken, colloquial, Telex-slip and near-domain questions, written before
    the spoken-question rules): floors below its figures when last measured (2026-11-25:
    top-1 0.86, top-3 0.88, out-of-scope 0.75; before those rules 0.42 / 0.50 / 0.667)."""
    m = evaluate(searcher, SPOKEN)
    assert m["top1"] >= 0.82 and m["top3"] >= 0.84 and m["oos_rejected"] >= 0.66, m


def test_raw_telex_in_the_plain_box_is_read(searcher):
    # tone and mark keys typed without the Telex keyboard switched on
    assert first(searcher, "tamj trus") == "1.004194"
    assert first(searcher, "ddawng kys khai sinh") == "1.001193"
    # an English query is not "decoded" (bus → bu)
    assert first(searcher, "bus pass for students") is None


def test_action_the_citizen_did_not_ask_for_is_rejected(searcher):
    # reporting a lost passport / authorising someone to collect a benefit are not what was asked
    assert first(searcher, "cấp hộ chiếu") is None
    assert first(searcher, "xin trợ cấp thất nghiệp") is None
    # said in the citizen's words, they are found
    assert first(searcher, "báo mất hộ chiếu") in {"1.010386", "1.010385"}
    assert first(searcher, "xóa tạm trú") == "1.010028"


def test_long_spoken_question_with_a_clear_leader_is_answered(searcher):
    assert first(searcher, "bà nội tôi vừa mất hôm qua, gia đình phải báo với phường thế nào") in {
        "1.000656",
        "m-lien-thong-khai-tu",
    }
    # a long chat about nothing the centre does still finds nothing
    assert first(searcher, "hôm nay trời đẹp quá tôi muốn đi chơi công viên với gia đình và bạn bè cuối tuần") is None


# ------------------------------------------------------------------ behaviour


def test_plain_procedure_beats_its_variants(searcher):
    # khai sinh has lưu động, foreign, re-registration and combined variants
    for q in ("đăng ký khai sinh", "dang ky khai sinh", "khai sinh"):
        assert first(searcher, q) == "1.001193", q
    assert first(searcher, "đăng ký kết hôn") == "1.000894"
    assert first(searcher, "đăng ký khai sinh lưu động") == "1.003583"
    assert first(searcher, "đăng ký lại khai sinh") == "1.004884"
    assert first(searcher, "kết hôn có yếu tố nước ngoài") == "2.000806"


def test_with_or_without_diacritics_and_d_stroke(searcher):
    assert first(searcher, "Đăng ký thường trú") == first(searcher, "dang ky thuong tru") == "1.004222"
    assert first(searcher, "ĐĂNG KÝ TẠM TRÚ") == "1.004194"
    assert first(searcher, "đăng kí tạm trú") == "1.004194"  # kí / ký spelling


def test_spoken_style_and_filler_words(searcher):
    assert first(searcher, "tôi muốn làm giấy khai sinh cho con") == "1.001193"
    assert first(searcher, "xin cái giấy độc thân") == "1.004873"
    assert first(searcher, "ơi cho em hỏi đăng ký kết hôn thì cần gì ạ") == "1.000894"


def test_typos_telex_and_run_together_words(searcher):
    assert first(searcher, "dang ky ket hon") == "1.000894"
    assert first(searcher, "dang ki khai snh") == "1.001193"  # a letter missing
    assert first(searcher, "ddang kys khai sinh") == "1.001193"  # raw Telex keys
    assert first(searcher, "khaisinh") in ("1.001193", "1.004772")  # space missing
    assert first(searcher, "đăng ký tạm chú") == "1.004194"  # tr/ch confusion
    assert first(searcher, "dang ky ket hn") == "1.000894"  # vowel left out of a short word
    assert first(searcher, "dagn ky ket hon") == "1.000894"  # two letters swapped
    assert first(searcher, "dangkytamtru") == "1.004194"  # no spaces at all


def test_english(searcher):
    assert first(searcher, "marriage registration") == "1.000894"
    assert first(searcher, "birth registration") == "1.001193"
    assert first(searcher, "register marriage") == "1.000894"  # register ~ registration


def test_live_typing_shows_results_at_each_keystroke(searcher):
    r = searcher.search("dang ky kh")
    assert r.hits, "a half-typed word must already show results"
    assert {"1.001193", "1.000656"} & {h.code for h in r.hits[:3]}
    assert first(searcher, "dang ky khai s") == "1.001193"
    assert first(searcher, "dang ky khai t") == "1.000656"
    assert first(searcher, "xac nhan tinh tr") == "1.004873"


@pytest.mark.parametrize(
    "text",
    ["mua vé máy bay", "thời tiết hôm nay", "how to cook pho", "giá vàng hôm nay", "asdfgh", "xin chào"],
)
def test_out_of_scope_gets_no_match_and_nearest_fields(searcher, text):
    r = searcher.search(text)
    assert r.hits == [], [(h.name, h.score) for h in r.hits]
    assert r.suggested_fields, "no match must still offer fields to browse"
    assert r.best_score < searcher.min_score


def test_hit_carries_what_the_ui_needs(searcher):
    r = searcher.search("giay khai sinh cho be moi sinh")
    h = r.hits[0]
    assert (h.code, h.name, h.field_id, h.field) == ("1.001193", "Đăng ký khai sinh", "ho-tich", "Hộ tịch")
    assert h.official_name.startswith("Thủ tục")
    assert h.name_en
    assert 0 < h.score <= 1
    assert h.matched in ("name", "official", "head", "en", "head_en", "alias", "alias_en")
    assert r.suggested_fields == []
    scores = [x.score for x in r.hits]
    assert scores == sorted(scores, reverse=True)
    assert set(r.to_dict()) == {"query", "hits", "suggested_fields", "best_score", "referral", "see_also"}


def test_procedure_code(searcher):
    r = searcher.search(" 1.001193 ")
    assert [h.code for h in r.hits] == ["1.001193"] and r.hits[0].score == 1.0 and r.hits[0].matched == "code"
    assert searcher.search("9.999999").hits == []  # unknown code: no random procedure


def test_limit(searcher):
    assert len(searcher.search("đăng ký", limit=3).hits) <= 3
    assert searcher.search("đăng ký khai sinh", limit=0).hits == []


HOSTILE = [
    "",
    " ",
    '"',
    '""""',
    "AND (",
    "OR",
    "NOT",
    "*",
    "khai*",
    "NEAR",
    "NEAR(khai sinh, 2)",
    "-",
    "-khai sinh",
    "^khai",
    "folded : khai",
    "{folded plain}: x",
    "khai sinh') OR 1=1 --",
    "'; DROP TABLE procedures; --",
    "x" * 10_000,
    "khai sinh " * 2_000,
    "😀🙏🏽 khai sinh 🎉",
    "\x00\x01\x02\x1b[31m khai sinh \x7f",
    "\ufeff\u200b\u202e khai sinh",
    "ﾃｽﾄ",
    "한국어 검색",
    "\u0301\u0303\u0309",
    "đ" * 50,
    "²³ ١٢٣ ½",  # digits that int() refuses (found by hypothesis)
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_never_raises(searcher, conn, text):
    r = searcher.search(text)
    assert isinstance(r, SearchResult)
    assert len(r.query) <= MAX_QUERY_CHARS
    assert all(0 <= h.score <= 1 for h in r.hits)
    assert conn.execute("SELECT count(*) FROM procedures").fetchone()[0] > 300  # nothing dropped


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=120) | st.text(alphabet='"*()-^:{}+ ANDORNEARanorear\'\\', max_size=40))
def test_any_text_gives_a_result_never_an_error(searcher, text):
    r = searcher.search(text)
    assert isinstance(r, SearchResult) and all(0 <= h.score <= 1 for h in r.hits)
    assert r.hits or r.suggested_fields


def test_hostile_input_around_real_words_still_finds_them(searcher):
    assert first(searcher, '"khai sinh" AND (') == "1.001193"
    assert first(searcher, "😀 đăng ký khai sinh 🎉") == "1.001193"
    assert first(searcher, "\x00đăng ký\x07 khai sinh\x1b") == "1.001193"
    assert first(searcher, "NEAR(đăng ký kết hôn)") == "1.000894"


def test_none_and_non_text(searcher):
    assert searcher.search(None).hits == []
    assert isinstance(searcher.search(12345), SearchResult)


# ------------------------------------------------------------------ index life cycle


def test_reimport_is_noticed_without_restart(fresh, project_config):
    c = fresh()
    s = Searcher(c)
    assert s.search("quokka xyzzy").hits == []
    # what an import does: change the tables, bump the version, rebuild the index, in one transaction
    with transaction(c):
        c.execute("INSERT INTO aliases(procedure_key, alias, lang) VALUES ('1.000894', 'quokka xyzzy', 'vi')")
        c.execute("UPDATE catalogue_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")
        rebuild_index(c)
    assert first(s, "quokka xyzzy") == "1.000894"
    # and the real import, run again from the files, takes the alias away again
    from centre.catalogue_import import import_catalogue

    import_catalogue(c, project_config.path(project_config.paths.catalogue))
    assert s.search("quokka xyzzy").hits == []
    assert first(s, "đăng ký kết hôn") == "1.000894"


def test_failed_import_leaves_the_index_as_it_was(fresh):
    c = fresh()
    before = c.execute("SELECT count(*) FROM search_phrases").fetchone()[0]
    with pytest.raises(RuntimeError):
        with transaction(c):
            c.execute("DELETE FROM aliases")
            rebuild_index(c)
            raise RuntimeError("import failed half-way")
    assert c.execute("SELECT count(*) FROM search_phrases").fetchone()[0] == before
    assert first(Searcher(c), "xin cái giấy độc thân") == "1.004873"


def test_index_missing_or_stale_is_rebuilt_on_first_search(fresh):
    c = fresh()
    c.execute("DELETE FROM search_phrases")
    c.execute("UPDATE search_meta SET value = 'stale' WHERE key = 'catalogue_version'")
    assert first(Searcher(c), "đăng ký khai tử") == "1.000656"


def test_read_only_database_searches_what_is_indexed(fresh, tmp_path):
    db = tmp_path / "centre.db"
    fresh(db).close()
    ro = connect(db, read_only=True)
    assert first(Searcher(ro), "đăng ký kết hôn") == "1.000894"
    # a stale index cannot be rebuilt read-only: the old one still answers, nothing raises
    rw = connect(db)
    rw.execute("UPDATE catalogue_meta SET value = 'newer' WHERE key = 'version'")
    assert first(Searcher(ro), "đăng ký kết hôn") == "1.000894"
    rw.execute("DROP TABLE search_phrases")
    assert Searcher(ro).search("đăng ký kết hôn").hits == []


def test_shared_searcher_is_one_per_database(fresh, tmp_path):
    db = tmp_path / "centre.db"
    fresh(db).close()
    a = shared_searcher(db, min_score=0.42)
    assert shared_searcher(str(db), min_score=0.42) is a
    assert shared_searcher(db, min_score=0.6) is not a
    assert first(a, "đăng ký kết hôn") == "1.000894"


def test_no_catalogue_finds_nothing_without_error():
    r = Searcher(connect(None)).search("đăng ký khai sinh")
    assert r.hits == [] and r.suggested_fields == []


def test_thread_safe_while_another_process_reimports(fresh, tmp_path):
    """The kiosk searches from worker threads on its connection; staff re-import on another."""
    db = tmp_path / "centre.db"
    kiosk = fresh(db)
    s = Searcher(kiosk)
    staff = connect(db)
    errors: list[BaseException] = []
    results: list[str | None] = []

    def worker():
        try:
            for _ in range(30):
                results.append(first(s, "đăng ký kết hôn"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(3):  # what an import does, in the import's own transaction
        with transaction(staff):
            staff.execute("UPDATE catalogue_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")
            rebuild_index(staff)
    for t in threads:
        t.join()
    assert not errors
    assert set(results) == {"1.000894"}
    assert s.search("x") is not None and s._index.version == staff.execute(
        "SELECT value FROM catalogue_meta WHERE key = 'version'"
    ).fetchone()[0]
    kiosk.close()
    staff.close()


# ------------------------------------------------------------------ text analysis


def test_analysis():
    assert [f for _, f in analyze("Đăng ký")] == ["dang", "ki"]
    assert [a for a, _ in analyze("Đăng ký")] == ["đăng", "kí"]
    assert folded_key("Cấp sổ BHXH") == "cap so bao hiem xa hoi"
    assert folded_key("mức độ 02, một lần") == "muc do 2 1 lan"
    assert folded_key("quý") == folded_key("quí")
    assert folded_key("thuỷ lợi") == folded_key("thủy lợi")  # old/new tone placement
    assert has_diacritics("khai sinh") is False and has_diacritics("khai sính") is True
    assert is_vietnamese_syllable("nghieng") and is_vietnamese_syllable("khai")
    assert not is_vietnamese_syllable("registration") and not is_vietnamese_syllable("birth")
    assert tone_key("hóa") == tone_key("hoá") != tone_key("hoà")  # old / new tone placement
    assert tone_key("thủy") == tone_key("thuỷ")


def test_plain_permit_beats_its_renewal_and_reissue(searcher):
    assert first(searcher, "giấy phép xây dựng nhà ở riêng lẻ") == "1.013225"
    assert first(searcher, "gia hạn giấy phép xây dựng") == "1.013227"
    assert first(searcher, "cấp lại giấy phép xây dựng") == "1.013228"


# ------------------------------------------------------------------ everyday words, ages, English


def test_lexicon_entries_reach_the_catalogue(conn):
    """Every administrative word the lexicon offers is a word of the catalogue (no dead entry)."""
    from centre.search import Lexicon, lexicon

    lex = lexicon()
    assert len(lex.folded) >= 60
    vocab = set(Searcher(conn).vocabulary)
    dead = sorted({f for readings in lex.folded.values() for r in readings for _, f in r if f not in vocab})
    assert dead == [], dead
    assert Lexicon.load(Path("/nonexistent/lexicon.yaml")).folded == {}  # unreadable: search without it


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("tiền chôn cất", "m-ho-tro-chi-phi-mai-tang"),  # chôn cất = mai táng
        ("đám cưới xong muốn đăng ký", "1.000894"),  # đám cưới = kết hôn
        ("căn cước hết hạn", "1.014063"),  # hết hạn → cấp đổi
        ("giấy báo tử cho bố", "1.000656"),  # báo tử = khai tử
        ("notarize a copy", "2.000815"),  # notarize = chứng thực
        ("get married", "1.000894"),  # married ~ marriage
        ("register a motorbike", "1.013067"),  # motorbike = vehicle
        # the action beats the document it acts on
        ("sửa năm sinh trong giấy khai sinh", "1.004859"),  # sửa → cải chính
        ("hết hạn tạm trú", "1.002755"),  # hết hạn → gia hạn
        ("căn cước bị hỏng", "1.014063"),  # hỏng → cấp đổi
    ],
)
def test_everyday_words_reach_the_administrative_ones(searcher, text, code):
    assert first(searcher, text) == code


def test_an_age_said_in_digits_chooses_the_age_bracket(searcher):
    assert first(searcher, "căn cước cho con 6 tuổi") == "1.014062"  # dưới 14 tuổi
    assert first(searcher, "cccd cho bé 5 tuổi") == "1.014062"
    assert first(searcher, "làm căn cước cho người 20 tuổi") == "1.014061"  # từ đủ 14 tuổi
    assert first(searcher, "id card for a 20 year old") == "1.014061"
    assert first(searcher, "cap the can cuoc cho tre em duoi 14 tuoi") == "1.014062"


def test_words_that_only_look_alike_are_not_evidence(searcher):
    # an English word is not a Vietnamese syllable without its marks (pho ≠ phổ)
    assert searcher.search("pho noodle soup").hits == []
    # a word typed with its tone is not "corrected" to a word with another tone (tiền ≠ tên)
    assert searcher.search("đổi tiền lẻ").hits == []
    # one shared syllable of another compound word (mật khẩu / hộ khẩu) is weak evidence
    assert searcher.search("đổi mật khẩu").hits == []


def test_explain_shows_the_lexicon_readings(searcher):
    out = searcher.explain("mất thẻ căn cước")
    assert out["readings"][0] == "mất thẻ căn cước"
    assert "cấp lại thẻ căn cước" in out["readings"]
    assert out["candidates"][0]["key"] == "1.014064"


def test_unaccented_vietnamese_alias_is_stored_as_vietnamese():
    from centre.catalogue_import import _guess_lang

    assert _guess_lang("giay khai sinh") == "vi"
    assert _guess_lang("giấy khai sinh") == "vi"
    assert _guess_lang("birth certificate") == "en"
    assert _guess_lang("ID card") == "en"


def test_side_of_the_family_is_not_foreign(searcher):
    # bà ngoại (maternal grandmother) is no "nước ngoài" (foreign)
    assert first(searcher, "đăng ký khai tử cho bà ngoại") == "1.000656"
    assert first(searcher, "khai tu cho ba ngoai") == "1.000656"


def test_a_situation_reaches_the_procedure_whose_text_covers_it(searcher):
    """Issue 12's example: the funeral support, not the monthly allowance whose name shares
    more words ("mai" of "mai táng" is no "tomorrow" here; the procedure's text covers it)."""
    r = searcher.search("mẹ tôi mất, đang hưởng trợ cấp hằng tháng, có được hỗ trợ mai táng không")
    assert r.hits and r.hits[0].key == "m-ho-tro-chi-phi-mai-tang"
    assert r.hits[0].answers == ["applicants"] and r.hits[0].passages["applicants"]


@pytest.mark.parametrize(("query", "office"), [
    ("làm hộ chiếu", "passport"), ("đóng thuế đất", "tax"), ("đổi bằng lái xe", "driving_licence"),
])
def test_out_of_scope_requests_are_referred(searcher, query, office):
    """Issue 12: these reached wrong procedures; now "no match" and where to go instead."""
    r = searcher.search(query)
    assert r.hits == [] and r.referral is not None and r.referral.id == office
